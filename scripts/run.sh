#!/usr/bin/env bash
# Set up (first time only) and start ipctop; arguments pass through: ./scripts/run.sh snapshot --json
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
"$here/scripts/setup.sh"
exec "$here/.venv/bin/ipctop" "$@"
