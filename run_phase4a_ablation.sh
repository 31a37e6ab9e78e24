#!/usr/bin/env bash
# Run several presets side by side on the same data and split, into phase4a_outputs/<mock|real>/ablation.
#
# Usage: ./run_phase4a_ablation.sh [--presets a,b,c] [--sweep-dir DIR] [--key value ...]
# Data sources (the same options as ./run_phase4a_real.sh; mock without one):
#   mock          ./run_phase4a_ablation.sh --presets report,simplecnn
#   week3         ./run_phase4a_ablation.sh --data_source week3 --data_dir path/to/week3
#   raster        ./run_phase4a_ablation.sh --data_source raster --raster_path scene.tif --polygons_path labels.gpkg
#   earth_engine  ./run_phase4a_ablation.sh --data_source earth_engine --polygons_path labels.gpkg \
#                     --raster_path phase4a_outputs/composite.tif --ee_project my-cloud-project
#   eurosat       ./run_phase4a_ablation.sh --data_source eurosat --eurosat_split_unit quadrant --weights none
#   npz           ./run_phase4a_ablation.sh --data_source npz --data_npz phase4a_outputs/real/data.npz
#   Default presets: report, the report's "Future considerations" that exist as presets, simplecnn.
#   --key value options go to every run's step 01. Mock data (the default) runs fast and offline:
#   --weights none --epochs 2 --phase_epochs 1. With --data_source the report's settings apply.
# Sweep options (python -m phase4a.sweep.ablation --help says more):
#   --presets report,single_factor,simplecnn   single_factor = every f_* preset (one key changed from report)
#   --seeds 5 | --seeds 42,43,44   every preset with every seed, in <sweep-dir>/<preset>/seed_<s>
#                                  (a count is at most 20: --seeds 42 is refused; the one seed 42 is --seeds 42,)
#   --vary-split true              make the data (and split) per seed instead of once with the first seed
#   --factorial bn_inference=false,true input_normalisation=none,standardise   every combination on report
#   --train_fractions 0.1,0.25,0.5,1.0 [--curve-presets report,simplecnn]   a learning curve, with the forests
#   --findings-out docs/findings/NAME.md   also copy findings.md (and its figures) there
# The data are made once (step 01 into <sweep-dir>/data); each run's step 01 reads that data.npz
# (--data_source npz), so every run has byte-identical splits. Each preset is compared with report on
# seeds x test groups (a two-way cluster bootstrap), Holm-corrected; findings.md says what the numbers
# show. --findings-only true writes the findings from the runs already made, running none.
# Finished (preset, seed) runs (same config and data) are skipped: re-running resumes an interrupted sweep.
# The committed findings (docs/findings/; hours on a 2-core machine: findings.md states the wall time):
#   ./run_phase4a_ablation.sh --presets report,single_factor,simplecnn --seeds 5 --epochs 10 --weights none \
#       --mock_test_counts 10,21,19,8,17 --train_fractions 0.25,0.5,1.0 --findings-out docs/findings/mock.md
#   ./run_phase4a_ablation.sh --data_source eurosat --eurosat_split_unit quadrant --weights none \
#       --presets report,single_factor,simplecnn --seeds 5 --epochs 10 --train_fractions 0.25,0.5,1.0 \
#       --findings-out docs/findings/eurosat.md
#   (the tiles' 16 training quadrants cannot be cut finer than 0.25: 0.1 gives the same subsample)
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
