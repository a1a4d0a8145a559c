#!/usr/bin/env bash
# Set up (venv, /dev/mqueue) and run every check: ruff, mypy and the pytest suite.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
# Tests compare ipctop's output with the tools people check it against: hexdump -C (read's
# dump) and lsfd --raw (path escaping). A minimal Debian has neither; as root, install them.
missing=()
command -v hexdump >/dev/null || missing+=(bsdextrautils)
command -v lsfd >/dev/null || missing+=(util-linux-extra)
if [ ${#missing[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "test: installing ${missing[*]} with apt-get: the tests compare with hexdump and lsfd" >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >/dev/null \
        || echo "test: could not install ${missing[*]}" >&2
fi
.venv/bin/ruff check $(ls -d ipctop tests bench scripts 2>/dev/null)
.venv/bin/mypy
.venv/bin/python -m pytest -q "$@"
