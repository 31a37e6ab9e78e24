#!/usr/bin/env bash
# print_usage SCRIPT: the script's leading comment block, without the '#'.
print_usage() {
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$1"
}

# run_pipeline RUN_DIR [step-01 options...]: steps 01 -> 05, each its own process, stopping at the
# first failure with the step's name. Sourced by the drivers after tools/ensure_venv.sh.
run_pipeline() {
    local run_dir=$1
    shift
    local started=$SECONDS
    local step
    for step in phase4a_01_setup_and_config.py phase4a_02_load_pretrained.py phase4a_03_modify_architecture.py \
                phase4a_04_train_transfer.py phase4a_05_evaluate_compare.py; do
        echo
        echo "=== $step"
        local args=(--run-dir "$run_dir")
        [[ $step == phase4a_01_* ]] && args+=("$@")
        if ! "$PHASE4A_PYTHON" "$step" "${args[@]}"; then
            # stdout: the step has already said what went wrong, in one line on stderr.
            echo "FAILED at $step; the outputs of earlier steps are in $run_dir"
            return 1
        fi
    done
    echo
    echo "Done in $((SECONDS - started)) s."
    echo "Report:  $run_dir/comparison_report.md"
    echo "Figures: $run_dir/confusion_matrix.png $run_dir/training_curves.png $run_dir/sample_patches.png"
}
