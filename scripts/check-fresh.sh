#!/usr/bin/env bash
# Prove the README's promise on a fresh Debian: build a minimal Debian tree (13 "trixie" by
# default) with debootstrap, install only git and python3 there, clone this repository into it
# and run the README's two commands, as a new user would:
#   ./scripts/test.sh                    must pass fully (ruff, mypy, the whole pytest suite);
#   ./scripts/run.sh snapshot --json     must print a valid ipctop.snapshot/1 document;
#   ./scripts/run.sh                     the TUI, in a tmux window on this host, must start and
#                                        show a new /dev/shm object at once (the inotify watch:
#                                        its poll interval is set to 10 minutes), then quit on q.
# Prints PASS or FAIL (exit 0 or 1; 2 for bad usage or a machine that cannot run it). Mounts
# are undone and the chroot removed on every exit.
#
# Usage (as root): scripts/check-fresh.sh [--ref REF] [--suite SUITE] [--mirror URL]
#                                         [--no-cache] [--keep] [-- PYTEST_ARGS...]
#   --ref REF     commit, branch or tag of this repository to test (default HEAD; uncommitted
#                 changes are not part of it)
#   --suite S     Debian suite (default trixie)
#   --no-cache    debootstrap afresh; by default the base system (debootstrap + git + python3,
#                 nothing of ipctop) is cached as a tarball in $IPCTOP_FRESH_CACHE
#                 (/var/cache/ipctop-check-fresh) and rebuilt when older than 7 days
#   --keep        leave the chroot in place after the run (mounts are undone anyway)
set -euo pipefail

ref=HEAD
suite=trixie
mirror=  # debootstrap's default mirror unless --mirror is given
use_cache=1
keep=
pytest_args=()
while [ $# -gt 0 ]; do
    case $1 in
        --ref) ref=${2:?--ref needs a value}; shift 2 ;;
        --suite) suite=${2:?--suite needs a value}; shift 2 ;;
        --mirror) mirror=${2:?--mirror needs a value}; shift 2 ;;
        --no-cache) use_cache=; shift ;;
        --keep) keep=1; shift ;;
        --) shift; pytest_args=("$@"); break ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "check-fresh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

say() { echo "check-fresh: $*" >&2; }
die() { say "$*"; exit 2; }

[ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot, mounts)"
src=$(cd "$(dirname "$0")/.." && pwd)
sha=$(git -C "$src" rev-parse --verify --quiet "$ref^{commit}") || die "unknown ref $ref"
for tool in chroot mount umount findmnt; do
    command -v "$tool" >/dev/null || die "$tool is missing"
done
missing=()
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v tmux >/dev/null || missing+=(tmux)
if [ ${#missing[@]} -gt 0 ]; then
    command -v apt-get >/dev/null || die "install ${missing[*]} first"
    say "installing ${missing[*]} with apt-get (debootstrap builds the chroot, tmux runs the TUI)"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

started=$(date +%s)
work=$(mktemp -d "${TMPDIR:-/var/tmp}/ipctop-fresh.XXXXXX")
root=$work/root
session=ipctop-fresh-$$
tag=ipctop-fresh-$$-$RANDOM
mkdir -p "$root"

# Every mount point under the chroot, deepest first.
mounts_under_root() {
    findmnt -rn -o TARGET | awk -v r="$root/" 'index($0, r) == 1' | sort -r
}

cleanup() {
    local rc=$?
    tmux kill-session -t "$session" 2>/dev/null || true
    rm -f "/dev/shm/$tag"
    local m
    for _ in 1 2 3; do
        for m in $(mounts_under_root); do
            umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
        done
        [ -z "$(mounts_under_root)" ] && break
        sleep 1
    done
    if [ -n "$(mounts_under_root)" ]; then
        say "could not unmount everything under $root; left it in place:"
        mounts_under_root >&2
    elif [ -n "$keep" ]; then
        say "kept the chroot in $root"
    else
        rm -rf --one-file-system "$work"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the base system: debootstrap minbase, then only git and python3 ---------------------------
cache_dir=${IPCTOP_FRESH_CACHE:-/var/cache/ipctop-check-fresh}
tarball=$cache_dir/$suite-minbase-git-python3.tar
t0=$(date +%s)
if [ -n "$use_cache" ] && [ -n "$(find "$tarball" -mtime -7 2>/dev/null)" ]; then
    tar -xpf "$tarball" -C "$root"
    base_from="cached $tarball"
else
    say "debootstrap $suite (minbase)${mirror:+ from $mirror}"
    debootstrap --variant=minbase "$suite" "$root" ${mirror:+"$mirror"} >"$work/debootstrap.log" 2>&1 \
        || { tail -20 "$work/debootstrap.log" >&2; die "debootstrap failed"; }
    cp /etc/resolv.conf "$root/etc/resolv.conf"
    mount -t proc proc "$root/proc"
    chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
        sh -c 'apt-get update -qq && apt-get install -y -qq git python3' >"$work/apt.log" 2>&1 \
        || { tail -20 "$work/apt.log" >&2; die "apt-get install git python3 failed"; }
    umount "$root/proc"
    chroot "$root" apt-get clean
    if [ -n "$use_cache" ]; then
        mkdir -p "$cache_dir"
        tar -cpf "$tarball.tmp" -C "$root" . && mv "$tarball.tmp" "$tarball"
    fi
    base_from="debootstrap"
fi
t_base=$(( $(date +%s) - t0 ))
cp /etc/resolv.conf "$root/etc/resolv.conf"
python=$(chroot "$root" python3 -V 2>&1)
say "base system ($suite, $python) from $base_from in ${t_base}s"

# --- the clone: the chosen commit, nothing else of this checkout -------------------------------
git clone -q --no-checkout "$src" "$root/root/ipctop"
git -C "$src" push -q "$root/root/ipctop" "$sha:refs/heads/check-fresh"
chroot "$root" git -C /root/ipctop checkout -q check-fresh

# --- the fresh system as root: its own mount namespace, pivot_root, what a booted Debian mounts -
# A chroot is not enough: the kernel refuses user namespaces to a chrooted process, and "/" must
# be a mount point (the namespace tests need both). Each command runs in a private mount
# namespace made for it, so its mounts (and the /dev/mqueue that setup.sh mounts) vanish with it
# and nothing reaches the host.
envs="HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8"
envs="$envs TERM=xterm-256color"
# A host behind a TLS-intercepting proxy trusts an extra CA that a fresh system lacks: hand
# pip the host's bundle (only then), so the check tests ipctop and not this network.
host_ca=${PIP_CERT:-${SSL_CERT_FILE:-}}
if [ -n "$host_ca" ] && [ -f "$host_ca" ]; then
    cp "$host_ca" "$root/etc/check-fresh-host-ca.pem"
    envs="$envs PIP_CERT=/etc/check-fresh-host-ca.pem"
    say "pip in the fresh system trusts this host's CA bundle ($host_ca)"
fi
cat >"$work/enter.sh" <<ENTER
#!/bin/sh
# enter.sh COMMAND: run COMMAND in /root/ipctop of the fresh system, as its root.
set -e
mount --bind "$root" "$root"
mount -t proc proc "$root/proc"
mount -t sysfs sysfs "$root/sys"
for d in dev dev/pts dev/shm; do mount --bind "/\$d" "$root/\$d"; done
mkdir -p "$root/.oldroot"
cd "$root"
pivot_root . .oldroot
exec /usr/bin/env -i $envs /bin/bash -c "umount -l /.oldroot && rmdir /.oldroot && cd /root/ipctop && \$1"
ENTER
chmod +x "$work/enter.sh"
in_root() {  # in_root COMMAND: run a shell command in the clone, in the fresh system
    unshare --mount --propagation private --fork -- "$work/enter.sh" "$1"
}

failures=()

# --- 1. ./scripts/test.sh ----------------------------------------------------------------------
say "running ./scripts/test.sh in the fresh system"
t0=$(date +%s)
quoted=$(printf ' %q' "${pytest_args[@]+"${pytest_args[@]}"}")
if in_root "./scripts/test.sh -p no:cacheprovider$quoted" >"$work/test.log" 2>&1; then
    test_rc=0
else
    test_rc=$?
    failures+=("./scripts/test.sh exited $test_rc")
fi
t_test=$(( $(date +%s) - t0 ))
# The setup's own lines (what it installed and why) and pytest's summary.
grep -E '^setup: ' "$work/test.log" >&2 || true
summary=$(grep -E '^(=+ )?[0-9]+ (passed|failed)|^FAILED|^ERROR' "$work/test.log" | tail -30 || true)
[ -n "$summary" ] && echo "$summary" >&2
if [ "$test_rc" != 0 ]; then
    tail -40 "$work/test.log" >&2
fi

# --- 2. ./scripts/run.sh snapshot --json -------------------------------------------------------
if in_root "./scripts/run.sh snapshot --json" >"$work/snapshot.json" 2>"$work/snapshot.err" \
   && in_root "python3 -c 'import json, sys; d = json.load(sys.stdin); \
                 assert d[\"schema\"] == \"ipctop.snapshot/1\" and d[\"objects\"], d.keys()'" \
        <"$work/snapshot.json" 2>>"$work/snapshot.err"; then
    say "./scripts/run.sh snapshot --json: $(wc -c <"$work/snapshot.json") bytes of ipctop.snapshot/1"
else
    failures+=("./scripts/run.sh snapshot --json")
    cat "$work/snapshot.err" >&2
fi

# --- 3. ./scripts/run.sh: the TUI in tmux, the watch, q ----------------------------------------
screen() { tmux capture-pane -p -t "$session" 2>/dev/null || true; }
wait_screen() {  # wait_screen PATTERN SECONDS
    local i
    for ((i = 0; i < $2 * 5; i++)); do
        screen | grep -q -- "$1" && return 0
        sleep 0.2
    done
    return 1
}
cat >"$work/tui.sh" <<TUI
#!/bin/sh
unshare --mount --propagation private --fork -- "$work/enter.sh" \\
    './scripts/run.sh --interval 600 --filter $tag; echo "run.sh exited \$?"; sleep 600'
TUI
chmod +x "$work/tui.sh"
tmux new-session -d -s "$session" -x 160 -y 48 "$work/tui.sh"
# The status line counts objects once the first poll is done; what appears after that within
# seconds comes from inotify, since the next poll is 10 minutes away.
if ! wait_screen " objects " 120; then
    failures+=("the TUI did not show its first poll within 120 s")
else
    sleep 1
    printf 'check-fresh\n' >"/dev/shm/$tag"
    t0=$(date +%s)
    if wait_screen "/$tag" 20; then
        say "the TUI showed /dev/shm/$tag in $(( $(date +%s) - t0 ))s (next poll in 600 s: the inotify watch)"
    else
        failures+=("the TUI did not show a new /dev/shm object within 20 s (watch not working?)")
    fi
    screen >"$work/tui.txt"
    tmux send-keys -t "$session" q
    if wait_screen "run.sh exited 0" 20; then
        say "the TUI quit on q with status 0"
    else
        failures+=("the TUI did not quit with status 0 on q")
    fi
fi
if [ ${#failures[@]} -gt 0 ] && [ -s "$work/tui.txt" ]; then
    cat "$work/tui.txt" >&2
elif [ ${#failures[@]} -gt 0 ]; then
    screen >&2
fi

total=$(( $(date +%s) - started ))
counts=$(echo "$summary" | grep -oE '[0-9]+ (passed|failed|errors?|skipped)' | tr '\n' ' ' || true)
if [ ${#failures[@]} -eq 0 ]; then
    echo "check-fresh: PASS on Debian $suite ($python), ${sha:0:12}: ${counts}in ${t_test}s;" \
         "total ${total}s (base system ${t_base}s)"
    exit 0
fi
echo "check-fresh: FAIL on Debian $suite ($python), ${sha:0:12}: $(IFS=';'; echo "${failures[*]}");" \
     "${counts}total ${total}s"
exit 1
