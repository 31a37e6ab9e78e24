#!/usr/bin/env bash
# Phase 4B fusion ablation: Sentinel-2 alone against Sentinel-2 + auxiliary layers, through the ablation
# sweep, into phase4a_outputs/<mock|real>/fusion (docs/phase4b.md).
#
# Usage: ./run_phase4b_fusion.sh [--seeds N] [--presets simplecnn] [--band-sets s2,s2_ndvi,ndvi_aux,s2_dem,all]
#            [--sweep-dir DIR] [--findings-out docs/findings/NAME.md] [--key value ...]
# Band sets: s2 (the reference), s2_ndvi (+ NDVI of Sentinel-2's own B4 and B8: the control, a transform of
# bands the network already sees), ndvi_aux (+ MODIS NDVI; eo-learn: its NDVI series), s2_dem (+ elevation,
# slope, aspect sine and cosine), all. Models: the SimpleCNN (--presets) and the sweep's two random forests,
# each compared with its own s2 arm over the seeds (default 5) on one split.
# Data sources:
#   mock (default)  ./run_phase4b_fusion.sh                       synthetic layers (--mock_aux_layers true)
#   eolearn         ./run_phase4b_fusion.sh --data_source eolearn  the fixture in ../shared: Forest,Grassland,
#                   its DEM, NDVI series and S2 NDVI (small and forest-heavy; see its findings)
#   raster          ./run_phase4b_fusion.sh --data_source raster --raster_path s2.tif --polygons_path labels.gpkg \
#                       --aux_layers ndvi=MOD13Q1.tif,dem=SRTM.tif,s2_ndvi
#   earth_engine    ./run_phase4b_fusion.sh --data_source earth_engine --polygons_path labels.gpkg \
#                       --raster_path phase4a_outputs/composite.tif --ee_project my-cloud-project \
#                       --aux_layers ndvi=ee,dem=ee,s2_ndvi
#                   (ndvi=ee, dem=ee: MODIS/061/MOD13Q1 NDVI and USGS/SRTMGL1_003 terrain, exported with the composite)
# On mock data: random weights, at most 20 epochs and a 75-patch test split (a few minutes on two cores).
# The committed findings:
#   ./run_phase4b_fusion.sh --findings-out docs/findings/phase4b_mock.md
#   ./run_phase4b_fusion.sh --data_source eolearn --findings-out docs/findings/phase4b_eolearn.md
# Finished runs (same config and data) are skipped: re-running resumes; --findings-only true runs nothing.
set -euo pipefail
cd "$(dirname "$0")"
source tools/run_steps.sh
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
    print_usage "$0"
    exit 0
fi
source tools/ensure_venv.sh requirements.txt

DEFAULTS=()
if [[ " $* " != *" --data_source "* && " $* " != *" --data-source "* && " $* " != *" --data_source="* ]]; then
    # Mock: the synthetic layers, no download, and few epochs so the 25 SimpleCNN runs take minutes.
    DEFAULTS=(--mock_aux_layers true --weights none --epochs 20 --mock_test_counts 10,21,19,8,17)
elif [[ " $* " == *" --data_source eolearn "* && " $* " != *" --band_names "* ]]; then
    # The fixture's classes with enough blocks for three splits, its bands and every layer it holds.
    DEFAULTS=(--class_names Forest,Grassland
        --band_names B2,B3,B4,B8,B11,B12,elevation,slope,aspect_sin,aspect_cos,ndvi_series,s2_ndvi)
fi

"$PHASE4A_PYTHON" -m phase4a.sweep.fusion "${DEFAULTS[@]}" "$@"
