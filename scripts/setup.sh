#!/usr/bin/env bash
# Set up a fresh machine for ipctop: a venv in .venv with ipctop and its test tools, and the
# POSIX message queue filesystem mounted at /dev/mqueue (needed to list queues).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    if ! "$PY" -m venv .venv 2>/dev/null; then
        # Debian's python3 ships venv (and the headers to build wheels) separately.
        rm -rf .venv
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            apt-get update -qq
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv python3-dev gcc >/dev/null
        fi
        "$PY" -m venv .venv
    fi
fi
# Install (again) only when pyproject.toml changed since the last successful install.
stamp=.venv/.ipctop-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    log=.venv/pip-install.log
    {
        .venv/bin/python -m pip install --upgrade pip || true
        # compat mode: a plain .pth entry; the default editable finder costs ~20 ms at every
        # start. Fall back to the default mode if this setuptools no longer offers compat.
        .venv/bin/python -m pip install -e '.[test]' --config-settings editable_mode=compat \
            || .venv/bin/python -m pip install -e '.[test]'
    } >"$log" 2>&1 || { cat "$log" >&2; echo "setup: pip install failed (log: $log)" >&2; exit 1; }
    echo "$want" >"$stamp"
fi
if [ ! -d /dev/mqueue ] || ! grep -qs ' /dev/mqueue mqueue ' /proc/mounts; then
    if [ "$(id -u)" = 0 ]; then
        mkdir -p /dev/mqueue && mount -t mqueue none /dev/mqueue \
            || echo "setup: could not mount /dev/mqueue; POSIX queues will not be listed" >&2
    else
        echo "setup: /dev/mqueue is not mounted; as root: mkdir -p /dev/mqueue && mount -t mqueue none /dev/mqueue" >&2
    fi
fi
