"""Compiling and fitting: the report's optimiser, loss and callbacks, plus per-epoch records."""

from __future__ import annotations

import time
from typing import Any

import keras

from .data.dataset import Dataset
from .diagnostics import CollapseMonitor
from .stages import BACKUP_DIR, RunDir


class EpochRecorder(keras.callbacks.Callback):
    """Adds the learning rate and wall time of each epoch to the logs that History and CSVLogger see."""

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
            logs["seconds"] = time.perf_counter() - self._started


def collapse_monitor(data: Dataset, config: dict[str, Any]) -> CollapseMonitor:
    return CollapseMonitor(
        data.X_val,
        data.y_val,
        len(data.class_names),
        flat_tolerance=config["flat_tolerance"],
        flat_epochs=config["flat_epochs"],
        stop_on_collapse=config["collapse_stop"],
        stop_on_flat=config["flat_stop"],
    )


def compile_model(model: keras.Model, config: dict[str, Any]) -> None:
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=config["learning_rate"]),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        # XLA on CPU: ~1.7x faster steady-state epochs here, deterministic with op determinism (issue 7).
        jit_compile=bool(config.get("jit_compile", False)),
    )


def make_callbacks(run: RunDir, config: dict[str, Any], data: Dataset | None = None) -> list[keras.callbacks.Callback]:
    """The report's callbacks; with ``data``, a CollapseMonitor on its validation split as well."""
    run.path("best_checkpoint").parent.mkdir(parents=True, exist_ok=True)
    return [
        EpochRecorder(),
        # Before EarlyStopping and CSVLogger, so its per-epoch keys reach the log and its stop wins.
        *([] if data is None else [collapse_monitor(data, config)]),
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


def make_datasets(X_train, y_train, X_val, y_val, batch_size: int, seed: int):
    """tf.data input: in-memory tensors, cached, reshuffled each epoch (seeded), batched, prefetched.

    ``batch_size`` is the global batch (per-replica batch x replicas under a distribution strategy).
    """
    import tensorflow as tf

    train = (
        tf.data.Dataset.from_tensor_slices((X_train, y_train))
        .cache()
        .shuffle(len(X_train), seed=seed, reshuffle_each_iteration=True)
        .batch(batch_size)
        .prefetch(tf.data.AUTOTUNE)
    )
    val = tf.data.Dataset.from_tensor_slices((X_val, y_val)).batch(batch_size).cache().prefetch(tf.data.AUTOTUNE)
    return train, val


def fit(
    model: keras.Model,
    data: Dataset,
    config: dict[str, Any],
    callbacks: list,
    verbose: int | str = "auto",
    global_batch_size: int | None = None,
):
    train, val = make_datasets(
        data.X_train, data.y_train, data.X_val, data.y_val, global_batch_size or config["batch_size"], config["seed"]
    )
    return model.fit(train, validation_data=val, epochs=config["epochs"], callbacks=callbacks, verbose=verbose)


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
