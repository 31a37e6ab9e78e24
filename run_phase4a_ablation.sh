#!/usr/bin/env bash
# Run several presets side by side on the same data and split, into phase4a_outputs/<mock|real>/ablation.
#
# Usage: ./run_phase4a_ablation.sh [--presets a,b,c] [--sweep-dir DIR] [--key value ...]
#   Default presets: report, the report's "Future considerations" that exist as presets, simplecnn.
#   --key value options go to every run's step 01. Mock data (the default) runs fast and offline:
#   --weights none --epochs 2 --phase_epochs 1. With --data_source the report's settings apply.
# The data are made once (step 01 into <sweep-dir>/data); each preset's step 01 reads that data.npz
# (--data_source npz), so every run has byte-identical splits.
# Finished runs (same config and data) are skipped: re-running resumes an interrupted sweep.
set -euo pipefail
cd "$(dirname "$0")"
source tools/run_steps.sh
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
    print_usage "$0"
    exit 0
fi
source tools/ensure_venv.sh requirements.txt

# On mock data: random-initialised weights need no download, and two epochs (one per progressive
# phase) exercise every preset. Real data keeps the report's settings. Later options win.
FAST_OFFLINE=()
if [[ " $* " != *" --data_source "* && " $* " != *" --data-source "* && " $* " != *" --data_source="* ]]; then
    FAST_OFFLINE=(--weights none --epochs 2 --phase_epochs 1)
fi

"$PHASE4A_PYTHON" -m phase4a.sweep.ablation "${FAST_OFFLINE[@]}" "$@"
