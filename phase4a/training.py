"""Compiling and fitting: the report's optimiser, loss and callbacks, plus per-epoch records."""

from __future__ import annotations

import time
from typing import Any

import keras

from .data.dataset import Dataset
from .stages import BACKUP_DIR, RunDir


class EpochRecorder(keras.callbacks.Callback):
    """Adds the learning rate and wall time of each epoch to the logs that History and CSVLogger see."""

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
            logs["seconds"] = time.perf_counter() - self._started


def compile_model(model: keras.Model, config: dict[str, Any]) -> None:
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=config["learning_rate"]),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )


def make_callbacks(run: RunDir, config: dict[str, Any]) -> list[keras.callbacks.Callback]:
    run.path("best_checkpoint").parent.mkdir(parents=True, exist_ok=True)
    return [
        EpochRecorder(),
        keras.callbacks.ModelCheckpoint(
            run.path("best_checkpoint"), monitor=config["checkpoint_monitor"], save_best_only=True, verbose=0
        ),
        keras.callbacks.EarlyStopping(
            monitor=config["monitor"], patience=config["early_stopping_patience"], restore_best_weights=True, verbose=1
        ),
        keras.callbacks.ReduceLROnPlateau(
            monitor=config["monitor"],
            factor=config["reduce_lr_factor"],
            patience=config["reduce_lr_patience"],
            min_lr=config["min_learning_rate"],
            verbose=1,
        ),
        keras.callbacks.CSVLogger(run.path("training_log"), append=True),
        keras.callbacks.BackupAndRestore(str(run.root / BACKUP_DIR)),
    ]


def fit(model: keras.Model, data: Dataset, config: dict[str, Any], callbacks: list, verbose: int | str = "auto"):
    return model.fit(
        data.X_train,
        data.y_train,
        validation_data=(data.X_val, data.y_val),
        batch_size=config["batch_size"],
        epochs=config["epochs"],
        callbacks=callbacks,
        shuffle=True,
        verbose=verbose,
    )


def history_records(training_log) -> list[dict[str, Any]]:
    """One dict per epoch (1-based) from the CSV log, which spans resumed runs.

    An epoch logged just before a crash and run again after resuming appears twice; the later wins.
    """
    import pandas as pd

    log = pd.read_csv(training_log).drop_duplicates(subset="epoch", keep="last").sort_values("epoch")
    records = []
    for row in log.to_dict(orient="records"):
        entry = {key: float(value) for key, value in row.items() if key != "epoch"}
        records.append({"epoch": int(row["epoch"]) + 1, **entry})
    return records
