"""Compiling and fitting: the report's optimiser, loss and callbacks, plus per-epoch records."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import numpy as np

from .augmentation import make_augment
from .data.dataset import Dataset
from .diagnostics import CollapseMonitor
from .models.conv_gradient import use_fast_conv_gradients
from .stages import BACKUP_DIR, RunDir


class EpochRecorder(keras.callbacks.Callback):
    """Adds the learning rate and wall time of each epoch to the logs that History and CSVLogger see.

    During progressive unfreezing ``phase`` is set, and each epoch's log also says which phase it was.
    """

    phase: int | None = None

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
            logs["seconds"] = time.perf_counter() - self._started
            if self.phase is not None:
                logs["phase"] = self.phase


BEST_WEIGHTS_FILE = "early_stopping_best.npz"  # in BACKUP_DIR: EarlyStopping's best weights, for a resume


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """EarlyStopping that also keeps its best weights on disk (in the backup directory), so a run
    killed after its best epoch still restores that epoch's weights when resumed.

    The previous best file is kept beside it (.prev): a kill between this save and BackupAndRestore's
    leaves a backup one epoch older, whose best epoch may be the previous one.
    """

    def __init__(self, *args, best_weights_path=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.best_weights_path = best_weights_path

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        path = self.best_weights_path
        if path is None or not self.restore_best_weights or self.best_weights is None or self.best_epoch != epoch:
            return
        from .io import write_npz

        path = Path(path)
        if path.is_file():
            path.replace(path.with_suffix(".prev.npz"))
        arrays = {f"w{i}": weights for i, weights in enumerate(self.best_weights)}
        write_npz(path, compressed=False, epoch=np.array(epoch), **arrays)


class AtomicModelCheckpoint(keras.callbacks.ModelCheckpoint):
    """ModelCheckpoint that saves to a temporary file beside the checkpoint and renames it into place,
    so a kill while saving leaves the previous best checkpoint intact."""

    def _save_model(self, epoch, batch, logs):
        import os

        final = self.filepath
        name = Path(final).name
        stem, suffix = name.split(".")[0], name[len(name.split(".")[0]) :]
        tmp = Path(final).with_name(f".{stem}.{os.getpid()}.tmp{suffix}")
        self.filepath = str(tmp)
        try:
            super()._save_model(epoch, batch, logs)
            if tmp.is_file():
                os.replace(tmp, final)
        finally:
            self.filepath = final
            tmp.unlink(missing_ok=True)


def load_best_weights(path: Path, epoch: int) -> list | None:
    """The weights ResumableEarlyStopping saved for 0-based ``epoch``, or None when neither file has them."""
    for candidate in (path, path.with_suffix(".prev.npz")):
        if candidate.is_file():
            with np.load(candidate) as stored:
                if int(stored["epoch"]) == epoch:
                    return [stored[f"w{i}"] for i in range(len(stored.files) - 1)]
    return None


def _improves(monitor: str, value: float, best: float | None) -> bool:
    if best is None:
        return True
    return value < best if monitor.endswith("loss") else value > best


class ResumeState(keras.callbacks.Callback):
    """After a resume, give EarlyStopping, ModelCheckpoint and ReduceLROnPlateau the state they had
    when the run was killed, replayed from the CSV log of the epochs finished before the backup.

    Keras' BackupAndRestore restores weights, optimizer and epoch only: without this, EarlyStopping
    would count patience from zero and call the first resumed epoch "best", and ModelCheckpoint would
    overwrite a better checkpoint. Listed last, so it runs after their own ``on_train_begin`` resets.
    """

    def __init__(self, previous_epochs: list[dict[str, Any]], best_weights_path: Path, callbacks: list):
        super().__init__()
        self.previous_epochs = previous_epochs  # 0-based "epoch" plus the logged metrics
        self.best_weights_path = best_weights_path
        self.model_callbacks = callbacks

    def on_train_begin(self, logs=None):
        if not self.previous_epochs:
            return
        for callback in self.model_callbacks:
            if isinstance(callback, keras.callbacks.EarlyStopping):
                self._replay_early_stopping(callback)
            elif isinstance(callback, keras.callbacks.ReduceLROnPlateau):
                self._replay_reduce_lr(callback)
            elif isinstance(callback, keras.callbacks.ModelCheckpoint):
                for row in self.previous_epochs:
                    value = row.get(callback.monitor)
                    if value is not None and _improves(callback.monitor, value, callback.best):
                        callback.best = value

    def _replay_early_stopping(self, callback) -> None:
        best, best_epoch, wait = None, 0, 0
        for row in self.previous_epochs:
            value = row.get(callback.monitor)
            if value is None:
                continue
            wait += 1
            if _improves(callback.monitor, value, best):
                best, best_epoch, wait = value, row["epoch"], 0
        callback.best, callback.best_epoch, callback.wait = best, int(best_epoch), wait
        if callback.restore_best_weights:
            # None when lost (not expected): Keras then takes the first resumed epoch's weights as best.
            callback.best_weights = load_best_weights(self.best_weights_path, int(best_epoch))

    def _replay_reduce_lr(self, callback) -> None:
        best, wait, cooldown = None, 0, 0
        for row in self.previous_epochs:
            value = row.get(callback.monitor)
            if value is None:
                continue
            if cooldown > 0:
                cooldown, wait = cooldown - 1, 0
            if _improves(callback.monitor, value, best):
                best, wait = value, 0
            elif cooldown == 0:
                wait += 1
                if wait >= callback.patience:
                    cooldown, wait = callback.cooldown, 0
        callback.best, callback.wait, callback.cooldown_counter = best, wait, cooldown


def trim_training_log(run: RunDir) -> None:
    """Before resuming: keep only the CSV log rows of epochs the backup holds, dropping a row half
    written when the process was killed and the row of an epoch finished but not backed up."""
    import json

    from .io import write_text

    metadata = run.root / BACKUP_DIR / "training_metadata.json"
    log = run.path("training_log")
    if not (metadata.is_file() and log.is_file()):
        return
    backed_up = int(json.loads(metadata.read_text())["epoch"])
    lines = log.read_text().splitlines()
    if not lines:
        return
    width = lines[0].count(",")
    kept = [
        line
        for line in lines[1:]
        if line.count(",") == width and line.split(",")[0].isdigit() and int(line.split(",")[0]) < backed_up
    ]
    write_text(log, "\n".join([lines[0], *kept]) + "\n")


def previous_epochs(run: RunDir) -> list[dict[str, Any]]:
    """The CSV log's rows (0-based epoch) for the epochs a killed run finished and backed up."""
    import json

    import pandas as pd

    metadata = run.root / BACKUP_DIR / "training_metadata.json"
    log = run.path("training_log")
    if not (metadata.is_file() and log.is_file()):
        return []
    try:
        backed_up = int(json.loads(metadata.read_text())["epoch"])
        rows = pd.read_csv(log).drop_duplicates(subset="epoch", keep="last")
    except (ValueError, KeyError, OSError, pd.errors.EmptyDataError):
        return []
    return [row for row in rows.to_dict(orient="records") if int(row["epoch"]) < backed_up]


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
    """Compile for training; with ``fast_conv_gradient``, Conv2D layers also get the faster input
    gradient (models/conv_gradient.py), which must be in place before ``fit`` traces the step."""
    if config["fast_conv_gradient"]:
        use_fast_conv_gradients(model)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=config["learning_rate"]),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        # XLA (issue 7); Keras ignores it, with a warning, while op determinism is enabled.
        jit_compile=bool(config.get("jit_compile", False)) and not config.get("deterministic", False),
    )


def make_callbacks(run: RunDir, config: dict[str, Any], data: Dataset | None = None) -> list[keras.callbacks.Callback]:
    """The report's callbacks; with ``data``, a CollapseMonitor on its validation split as well."""
    run.path("best_checkpoint").parent.mkdir(parents=True, exist_ok=True)
    best_weights = run.root / BACKUP_DIR / BEST_WEIGHTS_FILE
    callbacks = [
        EpochRecorder(),
        # Before EarlyStopping and CSVLogger, so its per-epoch keys reach the log and its stop wins.
        *([] if data is None else [collapse_monitor(data, config)]),
        AtomicModelCheckpoint(
            run.path("best_checkpoint"), monitor=config["checkpoint_monitor"], save_best_only=True, verbose=0
        ),
        ResumableEarlyStopping(
            monitor=config["monitor"],
            patience=config["early_stopping_patience"],
            restore_best_weights=True,
            verbose=1,
            best_weights_path=best_weights,
        ),
        keras.callbacks.ReduceLROnPlateau(
            monitor=config["monitor"],
            factor=config["reduce_lr_factor"],
            patience=config["reduce_lr_patience"],
            min_lr=config["min_learning_rate"],
            verbose=1,
        ),
        keras.callbacks.CSVLogger(run.path("training_log"), append=True),
        # double_checkpoint: a kill while the backup is written falls back to the previous one.
        keras.callbacks.BackupAndRestore(str(run.root / BACKUP_DIR), double_checkpoint=True),
    ]
    # Last: after the callbacks' own on_train_begin resets, restore their state of the killed run.
    return [*callbacks, ResumeState(previous_epochs(run), best_weights, callbacks)]


def make_datasets(X_train, y_train, X_val, y_val, batch_size: int, seed: int, augment: Callable | None = None):
    """tf.data input: in-memory tensors, cached, reshuffled each epoch (seeded), batched, prefetched.

    ``batch_size`` is the global batch (per-replica batch x replicas under a distribution strategy).
    ``augment`` maps single training patches (after the cache, so every epoch draws new variants);
    the validation split is never augmented.
    """
    import tensorflow as tf

    train = (
        tf.data.Dataset.from_tensor_slices((X_train, y_train))
        .cache()
        .shuffle(len(X_train), seed=seed, reshuffle_each_iteration=True)
    )
    if augment is not None:
        train = train.map(augment)  # sequential: seeded random ops stay reproducible
    train = train.batch(batch_size).prefetch(tf.data.AUTOTUNE)
    val = tf.data.Dataset.from_tensor_slices((X_val, y_val)).batch(batch_size).cache().prefetch(tf.data.AUTOTUNE)
    return train, val


def build_training_variables(model: keras.Model, data: Dataset) -> None:
    """Create the optimizer's and metrics' variables before ``fit`` traces the train step.

    Without a distribution strategy Keras creates them inside the first trace, and a tf.function
    that creates variables is traced twice: about 4 s of the report model's first epoch here.
    """
    if model.optimizer.built:
        return
    with model.distribute_strategy.scope():
        model.optimizer.build(model.trainable_variables)
        x, y = data.X_train[:1], data.y_train[:1]
        model.compute_metrics(x, y, model(x, training=False), sample_weight=None)
        model.reset_metrics()


def fit(
    model: keras.Model,
    data: Dataset,
    config: dict[str, Any],
    callbacks: list,
    verbose: int | str = "auto",
    global_batch_size: int | None = None,
    initial_epoch: int = 0,
):
    augment = make_augment(config["brightness_delta"]) if config["augment"] else None
    train, val = make_datasets(
        data.X_train,
        data.y_train,
        data.X_val,
        data.y_val,
        global_batch_size or config["batch_size"],
        config["seed"],
        augment,
    )
    build_training_variables(model, data)
    # shuffle=False: tf.data already reshuffles every epoch (Keras would only warn about it).
    return model.fit(
        train,
        validation_data=val,
        epochs=config["epochs"],
        initial_epoch=initial_epoch,
        class_weight=class_weight_map(data.y_train, len(data.class_names), config["class_weights"]),
        callbacks=callbacks,
        shuffle=False,
        verbose=verbose,
    )


def class_weight_map(y, n_classes: int, mode: str) -> dict[int, float] | None:
    """'balanced': n / (classes x count), so every class weighs the same in the loss; 'none': None."""
    if mode == "none":
        return None
    counts = np.bincount(np.asarray(y, dtype=int), minlength=n_classes)
    return {c: float(len(y) / (n_classes * counts[c])) if counts[c] else 0.0 for c in range(n_classes)}


def needs_full_model_fit(config: dict[str, Any]) -> bool:
    """Augmentation, class weights and progressive phases live in ``fit``: no cached-feature shortcut."""
    return config["augment"] or config["class_weights"] != "none" or config["progressive_stages"] > 0


def total_epochs(config: dict[str, Any]) -> int:
    if config["progressive_stages"] > 0:
        return config["phase_epochs"] * (config["progressive_stages"] + 1)
    return config["epochs"]


def fit_progressive(
    model: keras.Model,
    data: Dataset,
    config: dict[str, Any],
    callbacks: list,
    verbose: int | str = "auto",
    global_batch_size: int | None = None,
) -> list[dict[str, Any]]:
    """Phase 0 trains the head (backbone frozen); phase k unfreezes the top k stages, recompiles at
    learning_rate x phase_lr_factor ** k and trains phase_epochs more epochs. Returns one record per phase.

    EarlyStopping and ReduceLROnPlateau restart with each phase. BackupAndRestore is left out: its
    saved optimizer state belongs to one phase's trainable set, so a killed progressive run restarts.
    """
    from .models.freezing import freeze_first_layers, progressive_plan, stage_ends
    from .models.transfer import find_backbone, parameter_counts

    backbone = find_backbone(model)
    plan = progressive_plan(config["backbone"], backbone, config)
    stages = stage_ends(config["backbone"], backbone)
    recorder = next(cb for cb in callbacks if isinstance(cb, EpochRecorder))
    callbacks = [cb for cb in callbacks if not isinstance(cb, keras.callbacks.BackupAndRestore)]
    for callback in callbacks:
        if isinstance(callback, ResumableEarlyStopping):
            callback.best_weights_path = None  # no resume here, so no need for its best weights on disk
    phases = []
    for phase, frozen in enumerate(plan):
        freeze_first_layers(backbone, frozen, config["bn_inference"])
        learning_rate = config["learning_rate"] * config["phase_lr_factor"] ** phase
        compile_model(model, {**config, "learning_rate": learning_rate})
        recorder.phase = phase
        start = phase * config["phase_epochs"]
        result = fit(
            model,
            data,
            {**config, "epochs": start + config["phase_epochs"]},
            callbacks,
            verbose,
            global_batch_size,
            initial_epoch=start,
        )
        phases.append(
            {
                "phase": phase,
                "first_epoch": start + 1,
                "epochs_run": len(result.history.get("loss", [])),
                "learning_rate": learning_rate,
                "frozen_layers": frozen,
                "trainable_stages": [name for name, end in stages if end >= frozen],
                "trainable_parameters": parameter_counts(model)["trainable"],
            }
        )
    return phases


BASELINE_LEARNING_RATE = 1e-3  # a small CNN trained from scratch; 1e-4 barely moves it in 50 epochs


def train_baseline_model(data: Dataset, config: dict[str, Any], verbose: int | str = "auto"):
    """The SimpleCNN on the same split and training options; returns (model, history dict)."""
    from .models.simple_cnn import build_simple_cnn

    model = build_simple_cnn(data.X_train.shape[1:], len(data.class_names), config["dropout"])
    baseline_config = {**config, "learning_rate": BASELINE_LEARNING_RATE}
    compile_model(model, baseline_config)
    early_stopping = keras.callbacks.EarlyStopping(
        monitor=config["monitor"], patience=config["early_stopping_patience"], restore_best_weights=True
    )
    result = fit(model, data, baseline_config, [EpochRecorder(), early_stopping], verbose)
    epochs = [
        {"epoch": index + 1, **{key: float(values[index]) for key, values in result.history.items()}}
        for index in range(len(result.history["loss"]))
    ]
    history = {
        "model": "simple_cnn",
        "parameters": model.count_params(),
        "learning_rate": BASELINE_LEARNING_RATE,
        "epochs": epochs,
        "epochs_run": len(epochs),
        "restored_best_epoch": early_stopping.best_epoch + 1,
    }
    return model, history


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
