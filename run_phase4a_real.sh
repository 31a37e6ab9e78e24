#!/usr/bin/env bash
# Run the Phase 4A experiment on real Sentinel-2 data with the report's configuration
# (ImageNet weights), steps 01 -> 05, into phase4a_outputs/real (or --run-dir DIR).
#
# Usage: ./run_phase4a_real.sh --data_source SOURCE [source options] [--preset NAME] [--key value ...]
# Data sources, one example each (README "Data sources"):
#   week3         ./run_phase4a_real.sh --data_source week3 --data_dir path/to/week3
#   raster        ./run_phase4a_real.sh --data_source raster --raster_path scene.tif --polygons_path labels.gpkg
#   earth_engine  ./run_phase4a_real.sh --data_source earth_engine --polygons_path labels.gpkg \
#                     --raster_path phase4a_outputs/composite.tif --ee_project my-cloud-project
#   eurosat       ./run_phase4a_real.sh --data_source eurosat --eurosat_split_unit quadrant --weights none
#                     (the tiles in ../shared: too few per class to split by tile, the default)
#   npz           ./run_phase4a_real.sh --data_source npz --data_npz phase4a_outputs/real/data.npz --run-dir DIR
# Options:
#   --run-dir DIR      keep this run apart from earlier ones
#   --overwrite        replace a run of another config in the run directory
#   --tensorboard false  no TensorBoard logs (on by default here: tensorboard --logdir phase4a_outputs)
# Step 01 checks the data (files, bands, value range, labels, class counts) before any training.
# Every option goes to step 01: see `python phase4a_01_setup_and_config.py --help` and --list-keys.
set -euo pipefail
cd "$(dirname "$0")"
source tools/run_steps.sh
if [[ $# -eq 0 || "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
    print_usage "$0"
    [[ $# -eq 0 ]] && { echo "error: no data source given; pass --data_source and its options" >&2; exit 2; }
    exit 0
fi

RUN_DIR=phase4a_outputs/real
DATA_SOURCE=""
ARGS=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --run-dir) RUN_DIR=${2:?--run-dir needs a directory}; shift 2 ;;
        --run-dir=*) RUN_DIR=${1#--run-dir=}; shift ;;
        --data_source | --data-source) DATA_SOURCE=${2:-}; ARGS+=("$1" "${2:-}"); shift 2 || shift ;;
        --data_source=* | --data-source=*) DATA_SOURCE=${1#*=}; ARGS+=("$1"); shift ;;
        *) ARGS+=("$1"); shift ;;
    esac
done
if [[ -z "$DATA_SOURCE" ]]; then
    echo "error: no --data_source given; e.g. --data_source week3 --data_dir DIR (see --help)" >&2
    exit 2
fi
if [[ "$DATA_SOURCE" == mock ]]; then
    echo "error: --data_source mock is for ./run_phase4a_mock.sh; give a real source, e.g. week3" >&2
    exit 2
fi

source tools/ensure_venv.sh requirements.txt
echo "Real run into $RUN_DIR (TensorBoard: tensorboard --logdir $RUN_DIR)"
# TensorBoard logs by default on real runs; a later --tensorboard false wins.
run_pipeline "$RUN_DIR" --tensorboard true "${ARGS[@]}"
