#!/usr/bin/env bash
# Usage: benchmarks/run_benchmark.sh [--quick] [--epochs N] [--work-dir DIR] [--skip SECTION,...]
#                                    [--baseline-ref GIT_REF | --baseline-dir DIR] [--pairs N]
# One run: the mock driver and the step scripts one by one (time, peak RSS, bytes on disk), step 04
# against plain model.fit bare and with Keras' equivalent callbacks, the saving's share of an epoch,
# FLOP/s against the matmul and the bound, the feature cache, a small sweep, and optionally this
# checkout against another, alternated. Writes benchmarks/results/<date>.json; then
#   python -m benchmarks.summarise benchmarks/results/<date>.json --out docs/performance.md
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${PHASE4A_PYTHON:-.venv/bin/python}" -m benchmarks.bench_training "$@"
