#!/usr/bin/env bash
# Run the whole Phase 4A experiment on synthetic data, offline, into phase4a_outputs/mock.
#
# Usage: ./run_phase4a_mock.sh [--preset NAME] [--key value ...]
#   Options go to step 01 (see `python phase4a_01_setup_and_config.py --help` and --list-presets).
#   Defaults for speed and no network: --weights none (random initialisation) --epochs 2.
#   Example: ./run_phase4a_mock.sh --preset simplecnn --epochs 20
# Real data goes through ./run_phase4a_real.sh, whose --help lists every data source (week3, raster,
# earth_engine, eurosat, npz) with an example.
# First run: creates .venv and installs requirements.txt (a few minutes); later runs reuse it.
set -euo pipefail
cd "$(dirname "$0")"
source tools/run_steps.sh
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
    print_usage "$0"
    exit 0
fi
source tools/ensure_venv.sh requirements.txt

RUN_DIR=${PHASE4A_MOCK_RUN_DIR:-phase4a_outputs/mock}  # the tests point it at a tmp dir
# Random-initialised weights need no download; two epochs are enough to exercise every step.
FAST_OFFLINE=(--weights none --epochs 2)

echo "Mock run: synthetic data, random-initialised weights (no ImageNet download), into $RUN_DIR"
run_pipeline "$RUN_DIR" --overwrite --data_source mock "${FAST_OFFLINE[@]}" "$@"
