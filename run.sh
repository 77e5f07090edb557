#!/usr/bin/env bash
# Set everything up (idempotent) and start the AlignScope dashboard on http://localhost:8501
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh
exec .venv/bin/python -m ui.serve "$@"
