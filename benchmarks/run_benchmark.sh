#!/usr/bin/env bash
# Usage: benchmarks/run_benchmark.sh [--epochs N] [--quick] [--work-dir DIR]
# One run: pipeline vs plain Keras throughput, FLOP/s vs matmul, mock driver per step (start-up, work,
# peak RSS), feature extraction with and without cached features, first epochs with the graph cache
# empty and filled. Writes benchmarks/results/<date>.json.
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${PHASE4A_PYTHON:-.venv/bin/python}" -m benchmarks.bench_training "$@"
