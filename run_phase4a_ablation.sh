#!/usr/bin/env bash
# Run several presets side by side on the same data and split, into phase4a_outputs/<mock|real>/ablation.
#
# Usage: ./run_phase4a_ablation.sh [--presets a,b,c] [--sweep-dir DIR] [--key value ...]
#   Default presets: report, the report's "Future considerations" that exist as presets, simplecnn.
#   --key value options go to every run's step 01. Mock defaults: --weights none --epochs 2; for real
#   data add e.g. --data_source week3 --data_dir DIR --weights imagenet --epochs 50.
# Finished runs (same config and data) are skipped: re-running resumes an interrupted sweep.
set -euo pipefail
cd "$(dirname "$0")"
source tools/run_steps.sh
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
    print_usage "$0"
    exit 0
fi
source tools/ensure_venv.sh requirements.txt

# Random-initialised weights need no download; two epochs exercise every preset. Later options win.
FAST_OFFLINE=(--weights none --epochs 2)

"$PHASE4A_PYTHON" -m phase4a.ablation "${FAST_OFFLINE[@]}" "$@"
