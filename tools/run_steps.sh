#!/usr/bin/env bash
# print_usage SCRIPT: the script's leading comment block, without the '#'.
print_usage() {
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$1"
}

# run_pipeline RUN_DIR [step-01 options...]: steps 01 -> 05 in one Python process (phase4a/pipeline.py:
# TensorFlow is imported once), stopping at the first failure with the step's name and exit code.
# Sourced by the drivers after tools/ensure_venv.sh.
run_pipeline() {
    local run_dir=$1
    shift
    "$PHASE4A_PYTHON" -m phase4a.pipeline --run-dir "$run_dir" "$@"
}
