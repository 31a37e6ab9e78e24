"""The report's callbacks (best checkpoint, early stopping, learning-rate reduction, CSV log), the
collapse monitor, the per-epoch backup for resuming, and per-epoch records of rate and time."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import keras
import numpy as np

from ..data.dataset import Dataset
from ..errors import MissingInputError
from ..models.transfer import load_run_untrained_model
from ..settings import sections
from ..stages import BACKUP_DIR, STAGES, TENSORBOARD_DIR, RunDir
from .collapse import CollapseMonitor
from .resume import (
    BACKUP_CHECKPOINT_FILE,
    BEST_WEIGHTS_FILE,
    TrainingBackup,
    apply_changing_weights,
    backed_up_epochs,
    changing_arrays,
    improves,
    previous_epochs,
    replay_early_stopping,
    replay_reduce_lr,
    write_changing_weights,
    write_weights,
)


class EpochRecorder(keras.callbacks.Callback):
    """Adds the learning rate and wall time of each epoch to the logs that History and CSVLogger see.

    During progressive unfreezing ``phase`` is set, and each epoch's log also says which phase it was.
    """

    phase: int | None = None

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
            logs["seconds"] = time.perf_counter() - self.started
            if self.phase is not None:
                logs["phase"] = self.phase


class BestCheckpoint(keras.callbacks.Callback):
    """ModelCheckpoint with ``save_best_only``: the weights training changes, of the epoch whose
    ``monitor`` is best so far. Kept in memory when it improves and written (atomically, so a kill
    leaves the previous file whole) by ``save``: TrainingBackup calls it with each backup and at the end
    of training, so the file on disk always belongs with the backup a resume starts from. The frozen rest
    is in step 02's and 03's files; ``load_best_checkpoint`` rebuilds the whole model.

    ``saved_model``: the model whose weights are saved instead of the one being fitted (the full model
    while its head trains on cached features).
    """

    def __init__(self, path: str | Path, monitor: str):
        super().__init__()
        self.path = Path(path)
        self.monitor = monitor
        self.best: float | None = None
        self.saved_model: keras.Model | None = None
        self.pending: tuple[int, list[int], list] | None = None  # (epoch, positions, arrays) not yet written

    def on_train_begin(self, logs=None):
        self.best = None

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is not None and improves(self.monitor, float(value), self.best):
            self.best = float(value)
            self.pending = (epoch, *changing_arrays(self.saved_model or self.model))

    def save(self) -> None:
        if self.pending is None:
            return
        epoch, positions, arrays = self.pending
        write_weights(self.path, arrays, epoch=epoch, positions=np.array(positions, dtype=np.int64))
        self.pending = None

    def on_train_end(self, logs=None):
        self.save()


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """EarlyStopping whose best weights a resume can restore: ``save`` writes them (the weights training
    changes) to the backup directory, and TrainingBackup calls it just before each backup, so a run
    killed after its best epoch still restores that epoch's weights.

    The previous best file is kept beside it (.prev): a kill between this save and the backup leaves a
    backup older than the best file, whose best epoch is the previous one.
    """

    def __init__(self, *args, best_weights_path=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.best_weights_path = best_weights_path
        self.saved_epoch: int | None = None

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self.saved_epoch = None

    def save(self) -> None:
        path = self.best_weights_path
        if path is None or not self.restore_best_weights or self.best_weights is None:
            return
        if self.saved_epoch == self.best_epoch:
            return
        path = Path(path)
        if path.is_file():
            path.replace(path.with_suffix(".prev.npz"))
        write_changing_weights(path, self.model, self.best_weights, epoch=self.best_epoch)
        self.saved_epoch = self.best_epoch


class ResumeState(keras.callbacks.Callback):
    """After a resume, give EarlyStopping, the best-model checkpoint and ReduceLROnPlateau the state they
    had when the run was killed, replayed from the CSV log of the epochs finished before the backup.

    Without this, EarlyStopping would count patience from zero and call the first resumed epoch "best",
    and the checkpoint would overwrite a better one. Listed last, so it runs after their own
    ``on_train_begin`` resets.

    ``fit_progressive`` sets ``previous_epochs`` and ``first_epoch`` for each phase: EarlyStopping and
    ReduceLROnPlateau restart with every phase, so they replay only the epochs from ``first_epoch`` on,
    while the checkpoint's best spans the whole run.
    """

    def __init__(self, previous_epochs: list[dict[str, Any]], callbacks: list):
        super().__init__()
        self.previous_epochs = previous_epochs  # 0-based "epoch" plus the logged metrics
        self.first_epoch = 0
        self.model_callbacks = callbacks

    def this_phase(self) -> list[dict[str, Any]]:
        """The replayed epochs from ``first_epoch`` on: those of the phase being resumed."""
        return [row for row in self.previous_epochs if row["epoch"] >= self.first_epoch]

    def on_train_begin(self, logs=None):
        this_phase = self.this_phase()
        for callback in self.model_callbacks:
            if isinstance(callback, ResumableEarlyStopping) and this_phase:
                replay_early_stopping(callback, this_phase)
            elif isinstance(callback, keras.callbacks.ReduceLROnPlateau) and this_phase:
                replay_reduce_lr(callback, this_phase)
            elif isinstance(callback, BestCheckpoint):
                for row in self.previous_epochs:
                    value = row.get(callback.monitor)
                    if value is not None and improves(callback.monitor, value, callback.best):
                        callback.best = value


def load_best_checkpoint(run: RunDir, config: dict[str, Any]) -> keras.Model:
    """The model of the best ``checkpoint_monitor`` epoch (checkpoints/best.weights.npz, kept by a run
    trained with config keep_checkpoint true), whole: step 03's model rebuilt, with the checkpoint's
    trained weights put in. Not compiled."""
    path = run.path("best_weights")
    if not path.is_file() and not config["keep_checkpoint"]:
        raise MissingInputError(
            f"{path} was not kept: the run trained with keep_checkpoint false; train it again with "
            f"--keep_checkpoint true ({STAGES['setup'].script}, then {STAGES['train'].script} --retrain)"
        )
    model = load_run_untrained_model(run, sections(config))
    apply_changing_weights(run.require("best_weights"), model)
    return model


def collapse_monitor(data: Dataset, config: dict[str, Any]) -> CollapseMonitor:
    return CollapseMonitor(
        data.X_val,
        data.y_val,
        len(data.class_names),
        flat_tolerance=config["flat_tolerance"],
        flat_epochs=config["flat_epochs"],
        stop_on_collapse=config["collapse_stop"],
        stop_on_flat=config["flat_stop"],
        batch_size=config["batch_size"],
        config=config,
    )


def tensorboard(run: RunDir) -> keras.callbacks.TensorBoard:
    """Keras' TensorBoard logs of the run's epochs (``tensorboard --logdir phase4a_outputs``)."""
    return keras.callbacks.TensorBoard(run.root / TENSORBOARD_DIR, write_graph=False)


def best_checkpoint(run: RunDir, config: dict[str, Any]) -> BestCheckpoint:
    """The best checkpoint: checkpoints/best.weights.npz with config keep_checkpoint, else a file of the
    resume backup, which step 04 removes when training ends. Without keep_checkpoint, a kept checkpoint
    of an earlier training goes: it would not belong to the model this training makes."""
    path = run.path("best_weights")
    if not config["keep_checkpoint"]:
        path.unlink(missing_ok=True)
        path = run.root / BACKUP_DIR / BACKUP_CHECKPOINT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    return BestCheckpoint(path, monitor=config["checkpoint_monitor"])


def make_callbacks(run: RunDir, config: dict[str, Any], data: Dataset | None = None) -> list[keras.callbacks.Callback]:
    """The report's callbacks; with ``data``, a CollapseMonitor on its validation split as well."""
    backup = run.root / BACKUP_DIR
    callbacks = [
        # First: it is the validation pass (see fit), and its per-epoch keys reach the log and its stop wins.
        *([] if data is None else [collapse_monitor(data, config)]),
        # After the monitor, so an epoch's time includes its validation pass; before ReduceLROnPlateau,
        # so the logged rate is the one the epoch ran at.
        EpochRecorder(),
        best_checkpoint(run, config),
        ResumableEarlyStopping(
            monitor=config["monitor"],
            patience=config["early_stopping_patience"],
            restore_best_weights=True,
            verbose=1,
            best_weights_path=backup / BEST_WEIGHTS_FILE,
        ),
        keras.callbacks.ReduceLROnPlateau(
            monitor=config["monitor"],
            factor=config["reduce_lr_factor"],
            patience=config["reduce_lr_patience"],
            min_lr=config["min_learning_rate"],
            verbose=1,
        ),
        keras.callbacks.CSVLogger(run.path("training_log"), append=True),
        *([tensorboard(run)] if config["tensorboard"] else []),
    ]
    savers = [cb for cb in callbacks if isinstance(cb, (BestCheckpoint, ResumableEarlyStopping))]
    callbacks.append(TrainingBackup(backup, config["backup_every_s"], savers))
    # Last: after the callbacks' own on_train_begin resets, restore their state of the killed run.
    return [*callbacks, ResumeState(previous_epochs(run, backed_up_epochs(backup)), callbacks)]
