#!/usr/bin/env bash
# Run the test suite; creates .venv and installs requirements-dev.txt on first use.
# Usage: ./run_tests.sh [pytest options]      e.g. ./run_tests.sh -m slow   (the slow tests only)
set -euo pipefail
cd "$(dirname "$0")"
source tools/ensure_venv.sh requirements-dev.txt
python -m pytest "$@"
