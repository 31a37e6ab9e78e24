"""A run's trained model rebuilt from its config and weights files, for a run whose model file a sweep
removed (``--keep_models best``, phase4a/sweep/keep.py).

Usage:
  python -m phase4a.train.rebuild RUN_DIR [--out FILE]

Step 03's model is rebuilt from config.json, backbone.weights.h5 and model_untrained.weights.npz
(models.transfer.load_run_untrained_model) and the trained weights are put in:
checkpoints/final.weights.npz where the sweep wrote one (the model step 04 saved, unless a best
checkpoint kept with config keep_checkpoint holds the same weights), else checkpoints/best.weights.npz.
Writes transfer_model.keras into the run (or FILE, .keras or .h5), which steps 05 and 06 read; step 06
also rebuilds it in memory by itself.
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
from ..io import read_json, save_keras_model, write_npz
from ..lock import run_dir_lock
from ..models.transfer import load_run_untrained_model
from ..settings import sections
from ..stages import FINAL_WEIGHTS, RETRAIN, RunDir
from .resume import apply_changing_weights

# In FINAL_WEIGHTS: each array is the bitwise XOR of the trained weight with the untrained model's, which
# the rebuild has at hand. Training moves most weights a little, so sign, exponent and leading mantissa
# bits mostly cancel and the compressed file is about half the trained weights' bytes, restored exactly.
XOR_CODING = "xor_untrained"


def trained_weights_file(run: RunDir) -> Path:
    """The file of trained weights a rebuilt model gets: the final weights where kept, else the best checkpoint's."""
    final = run.root / FINAL_WEIGHTS
    return final if final.is_file() else run.require("best_weights")


def as_bits(array: np.ndarray) -> np.ndarray:
    """The array's bytes as unsigned integers of its item size, for a lossless XOR."""
    return np.ascontiguousarray(array).view(f"u{array.dtype.itemsize}")


def apply_trained_weights(path: Path, model: keras.Model) -> None:
    """Put the trained weights of ``path`` into ``model`` (step 03's untrained model): XOR-coded final
    weights, or a checkpoint's plain arrays."""
    with np.load(path) as stored:
        coded = XOR_CODING in stored.files
    if not coded:
        apply_changing_weights(path, model)
        return
    with np.load(path) as stored:
        positions = stored["positions"].tolist()
        weights = model.weights
        for index, position in enumerate(positions):
            untrained = keras.ops.convert_to_numpy(weights[position])
            difference = stored[f"w{index}"]
            if difference.shape != untrained.shape or difference.dtype != as_bits(untrained).dtype:
                raise OutputError(f"{path} holds the weights of another model; {RETRAIN}")
            weights[position].assign((as_bits(untrained) ^ difference).view(untrained.dtype))


def rebuild_trained_model(run: RunDir, config: dict[str, Any]) -> keras.Model:
    """The run's trained model, whole and uncompiled, from its config and weights files."""
    model = load_run_untrained_model(run, sections(config))
    apply_trained_weights(trained_weights_file(run), model)
    return model


def numpy_weights(model: keras.Model) -> list[np.ndarray]:
    return [keras.ops.convert_to_numpy(weight) for weight in model.weights]


def checkpoint_rebuilds(run: RunDir, untrained: keras.Model, final: list[np.ndarray]) -> bool:
    """Whether the run's best checkpoint (where kept) holds the weights of the model step 04 saved."""
    checkpoint = run.path("best_weights")
    if not checkpoint.is_file():
        return False
    apply_changing_weights(checkpoint, untrained)
    return all(np.array_equal(a, b) for a, b in zip(numpy_weights(untrained), final))


def write_final_weights(run: RunDir, config: dict[str, Any], trained: keras.Model) -> bool:
    """Before ``trained`` (the model step 04 saved) is removed: write the weights training changed in it
    to FINAL_WEIGHTS (XOR-coded against step 03's model, compressed), unless the run's kept best
    checkpoint rebuilds the same model (its epoch is the one early stopping restored). Returns whether
    a file was written.

    Step 04 saves the weights of early stopping's best ``monitor`` epoch, a kept checkpoint those of the
    best ``checkpoint_monitor`` epoch; where the two differ, the checkpoint alone would rebuild another
    model than the one step 05 evaluated."""
    untrained = load_run_untrained_model(run, sections(config))
    base, final = numpy_weights(untrained), numpy_weights(trained)
    if [(a.shape, a.dtype) for a in base] != [(b.shape, b.dtype) for b in final]:
        raise OutputError(
            f"{run.path('transfer_model_keras')} does not match the run's config and weights files; "
            "re-run phase4a_04_train_transfer.py --retrain, or keep it (--keep_models all)"
        )
    if checkpoint_rebuilds(run, untrained, final):
        return False
    positions = [index for index, (a, b) in enumerate(zip(base, final)) if not np.array_equal(a, b)]
    history = run.path("training_history")
    epoch = read_json(history).get("restored_best_epoch", 0) - 1 if history.is_file() else -1
    differences = {f"w{i}": as_bits(base[p]) ^ as_bits(final[p]) for i, p in enumerate(positions)}
    write_npz(
        run.root / FINAL_WEIGHTS,
        compressed=True,
        epoch=np.array(epoch),
        positions=np.array(positions, dtype=np.int64),
        **{XOR_CODING: np.array(1)},
        **differences,
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
        out = args.out or run.path("transfer_model_keras")
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
