"""What a sweep keeps of each finished run (``--keep_models best|none|all``).

A sweep's findings read each run's metrics, predictions and histories; its full model files (about
96 MB each for ResNet50) are not read again, and dozens of runs would fill a disk with them.

- ``best`` (default): the model files go (transfer_model.keras, transfer_model.h5). Kept: everything
  else, including the files the trained model is rebuilt from: config.json, the backbone.weights.h5
  link to the sweep's store, model_untrained.weights.npz, and the weights training changed in the model
  step 04 saved, in checkpoints/final.weights.npz (compressed, about half their bytes; not written
  where a best checkpoint kept with ``--keep_checkpoint true`` holds the same weights).
  ``python -m phase4a.train.rebuild RUN_DIR`` writes the model back;
  step 06 rebuilds it by itself. The SimpleCNN baseline's model (``--train_baseline true``) is kept:
  it is small and its only copy.
- ``none``: only what the findings read: every weights and model file goes, so no model can be
  rebuilt (train the run again for one).
- ``all``: nothing goes.

Each pruned run records what went in pruned.json, so a run pruned once is not pruned twice and step 06
knows the model is to be rebuilt.
"""

from __future__ import annotations

import shutil
import sys
from typing import Any

from .. import accel
from .. import config as config_module
from ..errors import ConfigError, Phase4AError
from ..io import read_json, write_json
from ..stages import ARTEFACTS, PRUNED_RECORD, RETRAIN, RunDir
from ..train.rebuild import write_final_weights

CHOICES = ("best", "none", "all")
DEFAULT = "best"
MODEL_FILES = ("transfer_model_keras", "transfer_model_h5")  # what a model is rebuilt without
WEIGHTS_FILES = ("baseline_model", "model_untrained_weights", "backbone_weights")  # with keep none, also these
REBUILD_COMMAND = "python -m phase4a.train.rebuild"


def parse_keep(value: str | None) -> str:
    """The --keep_models value, checked."""
    value = DEFAULT if value is None else value
    if value not in CHOICES:
        raise ConfigError(f"--keep_models {value!r} is not one of: {', '.join(CHOICES)}")
    return value


def prune(run: RunDir, keep: str) -> list[str]:
    """Remove from the finished run in ``run`` what ``keep`` does not keep; returns the removed names."""
    if keep == "all":
        return []
    removed = []
    if keep == "best" and run.path("transfer_model_keras").is_file():
        config = config_module.load(run.require("config"))
        # The model step 04 of this process saved, while its file is unchanged: not read back from disk.
        trained = accel.load_prediction_model(run.path("transfer_model_keras"), RETRAIN, config)
        # Written before the model goes: a kill in between leaves the model, and pruning runs again.
        write_final_weights(run, config, trained)
    names = MODEL_FILES + (WEIGHTS_FILES if keep == "none" else ())
    for name in names:
        path = run.path(name)
        if path.is_file():
            path.unlink()
            removed.append(ARTEFACTS[name])
    checkpoints = run.path("best_weights").parent
    if keep == "none" and checkpoints.is_dir():
        shutil.rmtree(checkpoints)
        removed.append(f"{checkpoints.name}/")
    record_path = run.root / PRUNED_RECORD
    earlier = read_json(record_path).get("removed", []) if record_path.is_file() else []
    record: dict[str, Any] = {"keep_models": keep, "removed": [*earlier, *(n for n in removed if n not in earlier)]}
    if keep == "best":
        record["rebuild"] = f"{REBUILD_COMMAND} {run.root.resolve()}"
    write_json(record_path, record)
    return removed


def prune_finished(run: RunDir, keep: str) -> None:
    """``prune`` after a sweep's run finished; a run it cannot prune is kept whole, with a warning, so
    that the sweep goes on (its results are complete either way)."""
    try:
        prune(run, keep)
    except Phase4AError as error:
        print(f"warning: {run.root} kept whole (--keep_models {keep}): {error}", file=sys.stderr)
