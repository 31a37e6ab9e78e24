"""Resuming a killed training run: the per-epoch backup, and the callbacks' state replayed from the log.

A backup holds what an epoch changed and the next epoch needs: the weights of the layers that train
(frozen layers' weights never change, and step 04 reloads them from the untrained model), the
optimizer's variables (Adam's moments, step count and learning rate) and the number of epochs done. It is one file,
written to a temporary name and renamed into place, so a kill at any moment leaves the previous backup
whole. Step 04 passes that epoch count to ``fit`` as ``initial_epoch``, and the replay functions here
give EarlyStopping, the checkpoint and ReduceLROnPlateau the state they had, from the CSV log
(``callbacks.ResumeState``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd

from ..errors import DataError
from ..io import read_json, write_npz, write_text
from ..metrics import COLLAPSED, FLAT
from ..models.backbones import all_layers
from ..stages import RunDir

BACKUP_FILE = "latest_epoch.npz"  # in each backup directory (BACKUP_DIR, or a progressive phase's)
BEST_WEIGHTS_FILE = "early_stopping_best.npz"  # in BACKUP_DIR: EarlyStopping's best weights, for a resume
# In BACKUP_DIR, unless config keep_checkpoint keeps it in the run: the best checkpoint (callbacks.BestCheckpoint).
BACKUP_CHECKPOINT_FILE = "best_checkpoint.npz"
# Progressive unfreezing, in BACKUP_DIR: the records of the finished phases and the weights the last one ended with.
FINISHED_PHASES_FILE = "finished_phases.json"
PHASE_END_WEIGHTS_FILE = "phase_end_weights.npz"


def write_weights(path: Path, weights: list, **tags: int) -> None:
    """Arrays (``get_weights`` order) as an uncompressed npz, with integer tags saying whose they are."""
    arrays = {f"w{i}": np.asarray(array) for i, array in enumerate(weights)}
    write_npz(path, compressed=False, **{key: np.array(value) for key, value in tags.items()}, **arrays)


def read_weights(path: Path, **tags: int) -> list | None:
    """The arrays ``write_weights`` saved in ``path``, or None when it is missing or its tags differ."""
    if not path.is_file():
        return None
    with np.load(path) as stored:
        if any(int(stored[key]) != value for key, value in tags.items()):
            return None
        count = sum(name[0] == "w" and name[1:].isdigit() for name in stored.files)
        return [stored[f"w{i}"] for i in range(count)]


def changing_weights(model: keras.Model) -> list[int]:
    """Positions in ``model.weights`` of the weights training can change: those of every layer that is
    not frozen (trainable kernels, and the moving statistics of BatchNorm layers that train)."""
    frozen = {id(weight) for layer in all_layers(model) if not layer.trainable for weight in layer.weights}
    return [index for index, weight in enumerate(model.weights) if id(weight) not in frozen]


def changing_arrays(model: keras.Model) -> tuple[list[int], list[np.ndarray]]:
    """The positions (``changing_weights``) and current values of the weights training changes."""
    positions = changing_weights(model)
    model_weights = model.weights
    return positions, [keras.ops.convert_to_numpy(model_weights[p]) for p in positions]


def stored_changing(stored) -> tuple[list[int], list[np.ndarray]]:
    """The positions and arrays an npz written with a ``positions`` array (and w0, w1, ...) holds."""
    positions = stored["positions"].tolist()
    return positions, [stored[f"w{i}"] for i in range(len(positions))]


def write_changing_weights(path: Path, model: keras.Model, weights: list, **tags: int) -> None:
    """The weights training changes, taken from ``weights`` (a ``get_weights`` list of ``model``), with
    their positions and integer tags: the frozen rest is the same in every epoch."""
    positions = changing_weights(model)
    write_weights(path, [weights[p] for p in positions], **tags, positions=np.array(positions, dtype=np.int64))


def read_changing_weights(path: Path, model: keras.Model, **tags: int) -> list | None:
    """The full ``get_weights`` list whose changing weights ``write_changing_weights`` stored in ``path``
    (the rest from ``model``, whose frozen weights they share), or None when it is missing or its tags
    differ."""
    if not path.is_file():
        return None
    with np.load(path) as stored:
        if any(int(stored[key]) != value for key, value in tags.items()):
            return None
        positions, arrays = stored_changing(stored)
    weights = model.get_weights()
    check_positions(path, weights, positions, arrays)
    for position, array in zip(positions, arrays):
        weights[position] = array
    return weights


def check_positions(path: Path, weights: list, positions: list[int], arrays: list) -> None:
    if any(p >= len(weights) or tuple(np.shape(weights[p])) != array.shape for p, array in zip(positions, arrays)):
        raise DataError(f"{path} holds the weights of another model; re-run phase4a_04_train_transfer.py --retrain")


def apply_changing_weights(path: Path, model: keras.Model) -> int:
    """Put the weights stored in ``path`` by position (the best checkpoint) into ``model``; returns the
    stored 0-based epoch."""
    with np.load(path) as stored:
        positions, arrays = stored_changing(stored)
        epoch = int(stored["epoch"])
    model_weights = model.weights
    check_positions(path, model_weights, positions, arrays)
    for position, array in zip(positions, arrays):
        model_weights[position].assign(array)
    return epoch


class TrainingBackup(keras.callbacks.Callback):
    """The weights training changes and the optimizer's variables, in one atomic file, written when
    ``every_s`` seconds have passed since the previous backup (0: after every epoch) and when ``fit``
    ends; at the start of ``fit``, restored from it when it exists (the caller passes its epoch as
    ``initial_epoch``). Just before each backup, ``savers`` (the best checkpoint, early stopping's best
    weights) write what they hold, so every file a resume reads belongs with the backup.

    A kill therefore loses at most ``every_s`` seconds of training plus the epoch it interrupts. Keras'
    BackupAndRestore does the same through a file of every weight, overwritten in place after every
    epoch; this one writes what can change, only uses public Keras API, and never leaves a half-written
    backup.
    """

    def __init__(self, backup_dir: str | Path, every_s: float = 0.0, savers=()):
        super().__init__()
        self.path = Path(backup_dir) / BACKUP_FILE
        self.every_s = every_s
        self.savers = list(savers)
        self.last_backup = time.monotonic()
        self.unsaved_epoch: int | None = None  # the last finished epoch, when no backup holds it yet

    def on_train_begin(self, logs=None):
        self.last_backup, self.unsaved_epoch = time.monotonic(), None
        if not self.path.is_file():
            return
        with np.load(self.path) as stored:
            positions, weights = stored_changing(stored)
            optimizer = [stored[f"o{i}"] for i in range(int(stored["optimizer"]))]
        model_weights = self.model.weights
        if positions != changing_weights(self.model) or any(
            tuple(model_weights[p].shape) != value.shape for p, value in zip(positions, weights)
        ):
            raise DataError(
                f"{self.path} holds the weights of another model; re-run phase4a_04_train_transfer.py --retrain"
            )
        for position, value in zip(positions, weights):
            model_weights[position].assign(value)
        variables = self.model.optimizer.variables
        if len(variables) != len(optimizer):
            raise DataError(
                f"{self.path} holds {len(optimizer)} optimizer variables, the model's optimizer has "
                f"{len(variables)}; it belongs to another model: re-run phase4a_04_train_transfer.py --retrain"
            )
        for variable, value in zip(variables, optimizer):
            variable.assign(value)

    def on_epoch_end(self, epoch, logs=None):
        self.unsaved_epoch = epoch
        if time.monotonic() - self.last_backup >= self.every_s:
            self.write(epoch)

    def on_train_end(self, logs=None):
        if self.unsaved_epoch is not None:
            self.write(self.unsaved_epoch)

    def write(self, epoch: int) -> None:
        for saver in self.savers:
            saver.save()
        positions, weights = changing_arrays(self.model)
        arrays = {f"w{i}": array for i, array in enumerate(weights)}
        optimizer = self.model.optimizer.variables
        arrays.update({f"o{i}": keras.ops.convert_to_numpy(variable) for i, variable in enumerate(optimizer)})
        write_npz(
            self.path,
            compressed=False,
            epochs_done=np.array(epoch + 1),
            positions=np.array(positions, dtype=np.int64),
            optimizer=np.array(len(optimizer)),
            **arrays,
        )
        self.last_backup = time.monotonic()
        self.unsaved_epoch = None


def backed_up_epochs(backup_dir: Path) -> int:
    """The epochs done (the next epoch to run, 0-based) that the backup in ``backup_dir`` holds; 0: none."""
    path = Path(backup_dir) / BACKUP_FILE
    if not path.is_file():
        return 0
    with np.load(path) as stored:
        return int(stored["epochs_done"])


def load_best_weights(path: Path, epoch: int, model: keras.Model) -> list | None:
    """The weights ResumableEarlyStopping saved for 0-based ``epoch`` (as a full ``get_weights`` list of
    ``model``), or None when neither file has them."""
    for candidate in (path, path.with_suffix(".prev.npz")):
        weights = read_changing_weights(candidate, model, epoch=epoch)
        if weights is not None:
            return weights
    return None


def improves(monitor: str, value: float, best: float | None) -> bool:
    if best is None:
        return True
    return value < best if monitor.endswith("loss") else value > best


def early_stopping_state(monitor: str, rows: list[dict[str, Any]]) -> tuple[float | None, int, int]:
    """EarlyStopping's best value, best epoch and epochs waited since, after the logged ``rows``."""
    best, best_epoch, wait = None, 0, 0
    for row in rows:
        value = row.get(monitor)
        if value is None:
            continue
        wait += 1
        if improves(monitor, value, best):
            best, best_epoch, wait = value, row["epoch"], 0
    return best, int(best_epoch), wait


def stopped_after(rows: list[dict[str, Any]], config: dict[str, Any]) -> bool:
    """Whether training stopped at the last of the logged ``rows`` (one fit's epochs): EarlyStopping's
    patience ran out, or the collapse monitor stopped it (``collapse_stop``, ``flat_stop``)."""
    if not rows:
        return False
    last = rows[-1]
    _, _, wait = early_stopping_state(config["monitor"], rows)
    return (
        (wait >= config["early_stopping_patience"] and last["epoch"] > 0)
        or (config["collapse_stop"] and last.get(COLLAPSED) == 1)
        or (config["flat_stop"] and last.get(FLAT) == 1)
    )


def replay_early_stopping(callback, rows: list[dict[str, Any]]) -> None:
    best, best_epoch, wait = early_stopping_state(callback.monitor, rows)
    callback.best, callback.best_epoch, callback.wait = best, best_epoch, wait
    if callback.restore_best_weights:
        weights = load_best_weights(Path(callback.best_weights_path), best_epoch, callback.model)
        if weights is None:
            raise DataError(
                f"the best weights of epoch {best_epoch + 1} are missing from {callback.best_weights_path}; "
                "the backup is incomplete: re-run phase4a_04_train_transfer.py --retrain"
            )
        callback.best_weights = weights


def replay_reduce_lr(callback: keras.callbacks.ReduceLROnPlateau, rows: list[dict[str, Any]]) -> None:
    best, wait, cooldown = None, 0, 0
    for row in rows:
        value = row.get(callback.monitor)
        if value is None:
            continue
        if cooldown > 0:
            cooldown, wait = cooldown - 1, 0
        if improves(callback.monitor, value, best):
            best, wait = value, 0
        elif cooldown == 0:
            wait += 1
            if wait >= callback.patience:
                cooldown, wait = callback.cooldown, 0
    callback.best, callback.wait, callback.cooldown_counter = best, wait, cooldown


def phase_backup_dir(backup: Path, phase: int) -> Path:
    """Progressive phase ``phase``'s backup directory inside BACKUP_DIR."""
    return backup / f"phase_{phase}"


def finished_phases(backup: Path) -> list[dict[str, Any]]:
    """The records of the progressive phases a killed run finished (``fit_progressive`` skips them)."""
    path = backup / FINISHED_PHASES_FILE
    return read_json(path) if path.is_file() else []


def resume_epoch(backup: Path, config: dict[str, Any]) -> int:
    """The epoch (0-based) a killed run continues at from ``backup`` (BACKUP_DIR); 0: nothing to resume.

    Progressive runs continue the first unfinished phase: at its backed-up epoch, or at its start when
    it has no backup yet (killed in its first epoch, or between phases).
    """
    if config["progressive_stages"] == 0:
        return backed_up_epochs(backup)
    finished = len(finished_phases(backup))
    return backed_up_epochs(phase_backup_dir(backup, finished)) or finished * config["phase_epochs"]


def trim_training_log(run: RunDir, epochs: int) -> None:
    """Before resuming at ``epochs``: keep only the CSV log rows of the epochs before it, dropping a row
    half written when the process was killed and the row of an epoch finished but not backed up."""
    log = run.path("training_log")
    if not log.is_file():
        return
    try:
        lines = log.read_text().splitlines()
    except UnicodeDecodeError:
        return  # not a CSV log: previous_epochs says so, and nothing is rewritten
    if not lines:
        return
    width = lines[0].count(",")
    kept = [
        line
        for line in lines[1:]
        if line.count(",") == width and line.split(",")[0].isdigit() and int(line.split(",")[0]) < epochs
    ]
    write_text(log, "\n".join([lines[0], *kept]) + "\n")


def previous_epochs(run: RunDir, epochs: int) -> list[dict[str, Any]]:
    """The CSV log's rows (0-based epoch; of a repeated epoch the last) for the epochs before ``epochs``.

    A resume needs them to replay early stopping; a log that cannot be read, or that lists none of those
    epochs (every epoch is logged before it is backed up), stops the resume rather than restarting
    patience from nothing."""
    log = run.path("training_log")
    if epochs == 0:
        return []

    def unreadable(reason: str) -> DataError:
        return DataError(
            f"cannot resume: {log} cannot be read ({reason}); "
            "re-run phase4a_04_train_transfer.py --retrain to train from the start"
        )

    try:
        rows = pd.read_csv(log)
        if "epoch" not in rows.columns:  # pandas finds no missing column in a log without rows
            raise KeyError("epoch")
        rows = rows.drop_duplicates(subset="epoch", keep="last")
        records = [row for row in rows.to_dict(orient="records") if int(row["epoch"]) < epochs]
    except (ValueError, KeyError, OSError, pd.errors.EmptyDataError) as exc:
        raise unreadable(type(exc).__name__) from None
    if not records:
        raise unreadable(f"no row for the {epochs} epochs before the resume")
    return records


def history_records(training_log) -> list[dict[str, Any]]:
    """One dict per epoch (1-based) from the CSV log, which spans resumed runs.

    An epoch logged just before a crash and run again after resuming appears twice; the later wins.
    """
    log = pd.read_csv(training_log).drop_duplicates(subset="epoch", keep="last").sort_values("epoch")
    records = []
    for row in log.to_dict(orient="records"):
        entry = {key: float(value) for key, value in row.items() if key != "epoch"}
        records.append({"epoch": int(row["epoch"]) + 1, **entry})
    return records
