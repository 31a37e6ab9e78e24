"""A run's trained model rebuilt from its config and weights files, for a run whose model file a sweep
removed (``--keep_models best``, phase4a/sweep/keep.py).

Usage:
  python -m phase4a.train.rebuild RUN_DIR [--out FILE]

Step 03's model is rebuilt from config.json, backbone.weights.h5 and model_untrained.weights.npz
(models.transfer.load_run_untrained_model) and the trained weights are put in:
checkpoints/final.weights.npz where the sweep wrote one (the model step 04 saved, when its weights are
not the best checkpoint's), else checkpoints/best.weights.npz. Writes transfer_model.keras into the run
(or FILE, .keras or .h5), which steps 05 and 06 read; step 06 also rebuilds it in memory by itself.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import keras
import numpy as np

from .. import config as config_module
from ..cli import OneLineParser, exit_step, report_error, report_unexpected
from ..errors import OutputError, Phase4AError
from ..io import read_json, save_keras_model
from ..lock import run_dir_lock
from ..models.transfer import load_run_untrained_model
from ..stages import FINAL_WEIGHTS, RunDir
from .resume import apply_changing_weights, write_weights


def trained_weights_file(run: RunDir) -> Path:
    """The file of trained weights a rebuilt model gets: the final weights where kept, else the best checkpoint's."""
    final = run.root / FINAL_WEIGHTS
    return final if final.is_file() else run.require("best_checkpoint")


def rebuild_trained_model(run: RunDir, config: dict[str, Any]) -> keras.Model:
    """The run's trained model, whole and uncompiled, from its config and weights files."""
    model = load_run_untrained_model(run, config)
    apply_changing_weights(trained_weights_file(run), model)
    return model


def write_final_weights(run: RunDir, config: dict[str, Any], trained: keras.Model) -> bool:
    """Before ``trained`` (the model step 04 saved) is removed: write the weights training changed in it
    to FINAL_WEIGHTS, unless the best checkpoint rebuilds the same model (the checkpoint's epoch is the
    one early stopping restored). Returns whether a file was written.

    Step 04 saves the weights of early stopping's best ``monitor`` epoch, the checkpoint those of the
    best ``checkpoint_monitor`` epoch; where the two differ, the checkpoint alone would rebuild another
    model than the one step 05 evaluated."""
    untrained = load_run_untrained_model(run, config)
    base = [keras.ops.convert_to_numpy(weight) for weight in untrained.weights]
    final = [keras.ops.convert_to_numpy(weight) for weight in trained.weights]
    if [array.shape for array in base] != [array.shape for array in final]:
        raise OutputError(
            f"{run.path('model_keras')} does not match the run's config and weights files; "
            "re-run phase4a_04_train_transfer.py --retrain, or keep it (--keep_models all)"
        )
    apply_changing_weights(run.require("best_checkpoint"), untrained)
    from_checkpoint = [keras.ops.convert_to_numpy(weight) for weight in untrained.weights]
    if all(np.array_equal(a, b) for a, b in zip(from_checkpoint, final)):
        return False
    positions = [index for index, (a, b) in enumerate(zip(base, final)) if not np.array_equal(a, b)]
    history = run.path("history")
    epoch = read_json(history).get("restored_best_epoch", 0) - 1 if history.is_file() else -1
    write_weights(
        run.root / FINAL_WEIGHTS,
        [final[p] for p in positions],
        epoch=epoch,
        positions=np.array(positions, dtype=np.int64),
    )
    return True


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(
        prog="python -m phase4a.train.rebuild",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("run_dir", type=Path, help="a finished run directory (its config and weights files)")
    parser.add_argument("--out", type=Path, help="where to write the model (default: RUN_DIR/transfer_model.keras)")
    args = parser.parse_args(argv)
    run = RunDir(args.run_dir)
    try:
        out = args.out or run.path("model_keras")
        if out.suffix not in (".keras", ".h5"):
            raise OutputError(f"--out {out} has neither a .keras nor a .h5 suffix; name the file model.keras")
        config = config_module.load(run.require("config"))
        with run_dir_lock(run.root):
            model = rebuild_trained_model(run, config)
            save_keras_model(model, out)
    except Phase4AError as error:
        return report_error(error)
    except Exception as error:
        return report_unexpected(error, "python -m phase4a.train.rebuild")
    print(f"rebuilt the trained model from {trained_weights_file(run).name}: {out}")
    return 0


if __name__ == "__main__":
    exit_step(main(sys.argv[1:]))
