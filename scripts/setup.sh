#!/usr/bin/env bash
# Set up a fresh machine for ipctop: a venv in .venv with ipctop and its test tools, and the
# POSIX message queue filesystem mounted at /dev/mqueue (needed to list queues).
#
# It installs only what is missing and needed, and says what and why:
# - Debian's python3 ships venv's ensurepip separately: python3.X-venv, only if `venv` lacks it;
# - a C compiler and Python's headers only when pip has to build a dependency from source
#   because no binary wheel exists for this Python (e.g. posix_ipc on a brand-new Python).
# On the path that works it prints one line while it installs, and nothing otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

say() { echo "setup: $*" >&2; }

can_apt() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; }

apt_updated=
apt_update_once() {
    if [ -z "$apt_updated" ]; then
        apt-get update -qq >/dev/null
        apt_updated=1
    fi
}

apt_install() {  # apt_install WHY PACKAGE...
    local why=$1
    shift
    say "installing $* with apt-get: $why"
    apt_update_once
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" \
        >/dev/null
}

# The Debian package of this interpreter's version, e.g. python3.13-venv; python3-SUFFIX if
# apt does not know the versioned name. Call apt_update_once first (not here: a subshell).
deb_package() {  # deb_package SUFFIX
    local ver
    ver=$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    if apt-cache show "python$ver-$1" >/dev/null 2>&1; then
        echo "python$ver-$1"
    else
        echo "python3-$1"
    fi
}

if ! command -v "$PY" >/dev/null; then
    say "$PY not found; install Python 3.11 or newer (Debian: apt-get install python3)"
    exit 1
fi
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    say "ipctop needs Python 3.11 or newer; $PY is $("$PY" -V 2>&1)"
    exit 1
fi

if [ ! -x .venv/bin/python ]; then
    rm -rf .venv  # a half-made venv from an interrupted run
    if ! "$PY" -c 'import venv, ensurepip' 2>/dev/null; then
        if can_apt; then
            apt_update_once
            apt_install "python3 -m venv needs ensurepip, which Debian packages separately" \
                "$(deb_package venv)"
        else
            say "python3 -m venv cannot work here (no ensurepip); as root: apt-get install python3-venv"
            exit 1
        fi
    fi
    "$PY" -m venv .venv
fi

# Install (again) only when pyproject.toml changed since the last successful install.
stamp=.venv/.ipctop-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
log=.venv/pip-install.log

pip_install() {
    {
        .venv/bin/python -m pip install --upgrade pip || true
        # compat mode: a plain .pth entry; the default editable finder costs ~20 ms at every
        # start. Fall back to the default mode if this setuptools no longer offers compat.
        .venv/bin/python -m pip install -e '.[test]' --config-settings editable_mode=compat \
            || .venv/bin/python -m pip install -e '.[test]'
    } >"$log" 2>&1
}

# A C build failed for lack of a compiler or of Python.h (no wheel for this Python).
needs_compiler() {
    grep -qE "No such file or directory: '[^']*cc'|command '[^']*(gcc|cc)' failed|error: command '[^']*' failed: No such file|Python\.h: No such file|gcc: not found|cc: not found|unable to execute '[^']*gcc" "$log"
}

if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    say "installing ipctop, its dependencies and test tools into .venv (log: $log)"
    if ! pip_install; then
        # Which projects failed to build: "Failed building wheel for X", "Failed to build X".
        built=$(grep -oE "Failed (building wheel for|to build) '?[A-Za-z0-9_.-]+" "$log" \
                | awk '{print $NF}' | tr -d "'" | sort -u | tr '\n' ' ' || true)
        if needs_compiler && can_apt; then
            apt_update_once
            apt_install "no binary wheel of ${built:-a dependency }for $("$PY" -V 2>&1): pip builds it from source" \
                gcc libc6-dev "$(deb_package dev)"
            pip_install || { cat "$log" >&2; say "pip install failed (log: $log)"; exit 1; }
        else
            cat "$log" >&2
            if needs_compiler; then
                say "pip must build ${built:-a dependency }from source: install a C compiler and Python's headers (Debian: apt-get install gcc python3-dev)"
            fi
            say "pip install failed (log: $log)"
            exit 1
        fi
    fi
    echo "$want" >"$stamp"
fi

if [ ! -d /dev/mqueue ] || ! grep -qs ' /dev/mqueue mqueue ' /proc/mounts; then
    if [ "$(id -u)" = 0 ]; then
        { mkdir -p /dev/mqueue && mount -t mqueue none /dev/mqueue; } \
            || say "could not mount /dev/mqueue; POSIX queues will not be listed"
    else
        say "/dev/mqueue is not mounted; as root: mkdir -p /dev/mqueue && mount -t mqueue none /dev/mqueue"
    fi
fi
