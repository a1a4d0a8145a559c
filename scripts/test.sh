#!/usr/bin/env bash
# Set up (venv, /dev/mqueue) and run every check: ruff, mypy and the pytest suite.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
.venv/bin/ruff check $(ls -d ipctop tests bench scripts 2>/dev/null)
.venv/bin/mypy
.venv/bin/python -m pytest -q "$@"
