"""Compiling and fitting: the report's optimiser, loss and callbacks, plus per-epoch records."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import numpy as np

from .augmentation import make_augment
from .config import uses_xla
from .data.dataset import Dataset
from .diagnostics import COLLAPSED, FLAT, CollapseMonitor
from .fused_adam import use_fused_adam
from .graph_cache import graph_cache_for, use_cached_train_step
from .models.conv_gradient import use_fast_conv_gradients
from .models.frozen_batchnorm import trains_fused, use_fused_frozen_batchnorm
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
# Progressive unfreezing, in BACKUP_DIR: the records of the finished phases and the weights the last one ended with.
FINISHED_PHASES_FILE = "finished_phases.json"
PHASE_END_WEIGHTS_FILE = "phase_end_weights.npz"


def write_weights(path: Path, weights: list, **tags: int) -> None:
    """Model weights (``get_weights`` order) as an uncompressed npz, with integer tags saying whose they are."""
    from .io import write_npz

    arrays = {f"w{i}": array for i, array in enumerate(weights)}
    write_npz(path, compressed=False, **{key: np.array(value) for key, value in tags.items()}, **arrays)


def read_weights(path: Path, **tags: int) -> list | None:
    """The weights ``write_weights`` saved in ``path``, or None when it is missing or its tags differ."""
    if not path.is_file():
        return None
    with np.load(path) as stored:
        if any(int(stored[key]) != value for key, value in tags.items()):
            return None
        return [stored[f"w{i}"] for i in range(len(stored.files) - len(tags))]


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
        path = Path(path)
        if path.is_file():
            path.replace(path.with_suffix(".prev.npz"))
        write_weights(path, self.best_weights, epoch=epoch)


class AtomicModelCheckpoint(keras.callbacks.ModelCheckpoint):
    """ModelCheckpoint that saves to a temporary file beside the checkpoint and renames it into place,
    so a kill while saving leaves the previous best checkpoint intact."""

    def _save_model(self, epoch, batch, logs):
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


class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """BackupAndRestore that never copies or overwrites a backup: each is written to a temporary file
    and renamed into place, and the one it replaces is renamed to the previous backup
    (``double_checkpoint``: Keras' fallback when the latest cannot be read).

    Keras copies the latest backup (178 MB for the report model: weights and Adam's state) before
    overwriting it in place, so this writes half the bytes per epoch, and a save killed half-way
    leaves both backups whole. Restoring is Keras' own.
    """

    def on_train_begin(self, logs=None):
        latest, previous = Path(self._weights_path), Path(self._prev_weights_path)
        if not latest.exists() and previous.is_file():
            # Killed between a save's two renames: the metadata is still the previous backup's.
            os.replace(previous, latest)
        super().on_train_begin(logs)

    def _save_model(self):
        from .io import atomic_path, write_json, write_text

        latest, metadata = Path(self._weights_path), Path(self._training_metadata_path)
        with atomic_path(latest) as tmp:
            self.model.save_weights(tmp, overwrite=True)
            if self.double_checkpoint and latest.is_file():
                if metadata.is_file():
                    write_text(self._prev_training_metadata_path, metadata.read_text())
                os.replace(latest, self._prev_weights_path)
        write_json(metadata, {"epoch": self._current_epoch, "batch": self._last_batch_seen})


def load_best_weights(path: Path, epoch: int) -> list | None:
    """The weights ResumableEarlyStopping saved for 0-based ``epoch``, or None when neither file has them."""
    for candidate in (path, path.with_suffix(".prev.npz")):
        weights = read_weights(candidate, epoch=epoch)
        if weights is not None:
            return weights
    return None


def _improves(monitor: str, value: float, best: float | None) -> bool:
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
        if _improves(monitor, value, best):
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


class ResumeState(keras.callbacks.Callback):
    """After a resume, give EarlyStopping, ModelCheckpoint and ReduceLROnPlateau the state they had
    when the run was killed, replayed from the CSV log of the epochs finished before the backup.

    Keras' BackupAndRestore restores weights, optimizer and epoch only: without this, EarlyStopping
    would count patience from zero and call the first resumed epoch "best", and ModelCheckpoint would
    overwrite a better checkpoint. Listed last, so it runs after their own ``on_train_begin`` resets.

    ``fit_progressive`` sets ``previous_epochs`` and ``first_epoch`` for each phase: EarlyStopping and
    ReduceLROnPlateau restart with every phase, so they replay only the epochs from ``first_epoch`` on,
    while ModelCheckpoint's best spans the whole run.
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
                self._replay_early_stopping(callback, this_phase)
            elif isinstance(callback, keras.callbacks.ReduceLROnPlateau) and this_phase:
                self._replay_reduce_lr(callback, this_phase)
            elif isinstance(callback, keras.callbacks.ModelCheckpoint):
                for row in self.previous_epochs:
                    value = row.get(callback.monitor)
                    if value is not None and _improves(callback.monitor, value, callback.best):
                        callback.best = value

    @staticmethod
    def _replay_early_stopping(callback: ResumableEarlyStopping, rows: list[dict[str, Any]]) -> None:
        best, best_epoch, wait = early_stopping_state(callback.monitor, rows)
        callback.best, callback.best_epoch, callback.wait = best, best_epoch, wait
        if callback.restore_best_weights:
            # None when lost (not expected): Keras then takes the first resumed epoch's weights as best.
            callback.best_weights = load_best_weights(Path(callback.best_weights_path), best_epoch)

    @staticmethod
    def _replay_reduce_lr(callback: keras.callbacks.ReduceLROnPlateau, rows: list[dict[str, Any]]) -> None:
        best, wait, cooldown = None, 0, 0
        for row in rows:
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


def backed_up_epochs(backup_dir: Path) -> int:
    """The epochs (0-based, the next to run) that Keras' BackupAndRestore backup in ``backup_dir`` holds; 0: none."""
    import json

    metadata = backup_dir / "training_metadata.json"
    return int(json.loads(metadata.read_text())["epoch"]) if metadata.is_file() else 0


def phase_backup_dir(backup: Path, phase: int) -> Path:
    """Progressive phase ``phase``'s BackupAndRestore directory inside BACKUP_DIR."""
    return backup / f"phase_{phase}"


def finished_phases(backup: Path) -> list[dict[str, Any]]:
    """The records of the progressive phases a killed run finished (``fit_progressive`` skips them)."""
    from .io import read_json

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
    from .io import write_text

    log = run.path("training_log")
    if not log.is_file():
        return
    lines = log.read_text().splitlines()
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
    """The CSV log's rows (0-based epoch; of a repeated epoch the last) for the epochs before ``epochs``."""
    import pandas as pd

    log = run.path("training_log")
    if epochs == 0 or not log.is_file():
        return []
    try:
        rows = pd.read_csv(log).drop_duplicates(subset="epoch", keep="last")
    except (ValueError, KeyError, OSError, pd.errors.EmptyDataError):
        return []
    return [row for row in rows.to_dict(orient="records") if int(row["epoch"]) < epochs]


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
        graph_cache=graph_cache_for(config),
    )


def compile_model(model: keras.Model, config: dict[str, Any], steps_per_execution: int = 1) -> None:
    """Compile for training; with ``fast_conv_gradient``, Conv2D layers also get the faster input
    gradient (models/conv_gradient.py), with ``fused_batchnorm`` frozen BatchNorm layers run as one
    fused kernel (models/frozen_batchnorm.py), and with ``fused_adam`` Adam updates each weight in
    one pass (fused_adam.py); all must be in place before ``fit`` traces the step.

    ``steps_per_execution``: batches per call of the traced train function (Keras), for models whose
    steps are so small that the per-call cost dominates (the head on cached features)."""
    if config["fast_conv_gradient"]:
        use_fast_conv_gradients(model, config["batch_size"])
    if config["fused_batchnorm"] and trains_fused(config["deterministic"]):
        use_fused_frozen_batchnorm(model)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=config["learning_rate"]),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        # XLA (issue 7); Keras ignores it, with a warning, while op determinism is enabled.
        jit_compile=uses_xla(config),
        steps_per_execution=steps_per_execution,
    )
    if config["fused_adam"]:
        use_fused_adam(model.optimizer)


def make_callbacks(run: RunDir, config: dict[str, Any], data: Dataset | None = None) -> list[keras.callbacks.Callback]:
    """The report's callbacks; with ``data``, a CollapseMonitor on its validation split as well."""
    run.path("best_checkpoint").parent.mkdir(parents=True, exist_ok=True)
    best_weights = run.root / BACKUP_DIR / BEST_WEIGHTS_FILE
    callbacks = [
        # First: it is the validation pass (see fit), and its per-epoch keys reach the log and its stop wins.
        *([] if data is None else [collapse_monitor(data, config)]),
        # After the monitor, so an epoch's time includes its validation pass; before ReduceLROnPlateau,
        # so the logged rate is the one the epoch ran at.
        EpochRecorder(),
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
        # double_checkpoint: the previous backup is kept too, Keras' fallback when the latest cannot be read.
        AtomicBackupAndRestore(str(run.root / BACKUP_DIR), double_checkpoint=True),
    ]
    # Last: after the callbacks' own on_train_begin resets, restore their state of the killed run.
    return [*callbacks, ResumeState(previous_epochs(run, backed_up_epochs(run.root / BACKUP_DIR)), callbacks)]


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
    use_cached_train_step(model, graph_cache_for(config))
    # shuffle=False: tf.data already reshuffles every epoch (Keras would only warn about it).
    return model.fit(
        train,
        validation_data=keras_validation(val, callbacks),
        epochs=config["epochs"],
        initial_epoch=initial_epoch,
        class_weight=class_weight_map(data.y_train, len(data.class_names), config["class_weights"]),
        callbacks=callbacks,
        shuffle=False,
        verbose=verbose,
    )


def keras_validation(val, callbacks: list):
    """``val`` for Keras' own validation pass, or None when a CollapseMonitor computes ``val_loss`` and
    ``val_accuracy`` from the prediction it makes anyway: one forward pass per epoch instead of two, and
    one traced graph fewer (2-3 s of the report model's first epoch here)."""
    return None if any(isinstance(callback, CollapseMonitor) for callback in callbacks) else val


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
    run: RunDir,
    verbose: int | str = "auto",
    global_batch_size: int | None = None,
) -> list[dict[str, Any]]:
    """Phase 0 trains the head (backbone frozen); phase k unfreezes the top k stages, recompiles at
    learning_rate x phase_lr_factor ** k and trains phase_epochs more epochs. Returns one record per phase.

    ``callbacks`` are make_callbacks' for ``run``. EarlyStopping and ReduceLROnPlateau restart with each
    phase. A killed run resumes like a plain one, per phase: a saved optimizer state belongs to one phase's
    trainable set, so each phase has its own BackupAndRestore directory in BACKUP_DIR (in place of
    make_callbacks' one), and each finished phase leaves its record and the weights it ended with, so a
    restart skips the finished phases and continues the unfinished one at its next epoch.
    """
    from .io import write_json
    from .models.freezing import freeze_first_layers, progressive_plan, stage_ends
    from .models.transfer import find_backbone, parameter_counts

    backbone = find_backbone(model)
    plan = progressive_plan(config["backbone"], backbone, config)
    stages = stage_ends(config["backbone"], backbone)
    recorder = next(cb for cb in callbacks if isinstance(cb, EpochRecorder))
    early_stopping = next(cb for cb in callbacks if isinstance(cb, ResumableEarlyStopping))
    resume_state = next(cb for cb in callbacks if isinstance(cb, ResumeState))
    backup = run.root / BACKUP_DIR
    phases = finished_phases(backup)
    if phases:
        # Written before the record that lists the phase (below); when they are a later phase's (killed
        # between the two), that phase's kept backup replaces them.
        model.set_weights(read_weights(backup / PHASE_END_WEIGHTS_FILE))
    for phase in range(len(phases), len(plan)):
        frozen = plan[phase]
        freeze_first_layers(backbone, frozen, config["bn_inference"])
        learning_rate = config["learning_rate"] * config["phase_lr_factor"] ** phase
        compile_model(model, {**config, "learning_rate": learning_rate})
        recorder.phase = phase
        start, end = phase * config["phase_epochs"], (phase + 1) * config["phase_epochs"]
        phase_backup = phase_backup_dir(backup, phase)
        resume_from = backed_up_epochs(phase_backup)
        if not resume_from:
            # Leftovers of a kill in the phase's first epoch, such as a half-written first backup, which
            # BackupAndRestore would fail to load (it has no previous one to fall back on).
            shutil.rmtree(phase_backup, ignore_errors=True)
        early_stopping.best_weights_path = phase_backup / BEST_WEIGHTS_FILE
        resume_state.first_epoch = start
        resume_state.previous_epochs = previous_epochs(run, resume_from or start)
        # A phase that had stopped (killed before its record) is over: fit then runs no epoch, and its
        # end restores the phase's best weights as it did before the kill.
        phase_end = resume_from if resume_from and stopped_after(resume_state.this_phase(), config) else end
        # Kept after the phase (delete_checkpoint=False) until its record is written: a kill in between
        # resumes the phase at its end instead of running it again.
        phase_callbacks = [
            AtomicBackupAndRestore(str(phase_backup), double_checkpoint=True, delete_checkpoint=False)
            if isinstance(cb, keras.callbacks.BackupAndRestore)
            else cb
            for cb in callbacks
        ]
        # Keras (3.15) keeps the epoch a BackupAndRestore restored for every later fit: the next phase
        # would start there instead of at its own first epoch.
        model._initial_epoch = None
        fit(
            model,
            data,
            {**config, "epochs": phase_end},
            phase_callbacks,
            verbose,
            global_batch_size,
            initial_epoch=start,
        )
        phases.append(
            {
                "phase": phase,
                "first_epoch": start + 1,
                # From the log, which also holds the phase's epochs run before a kill.
                "epochs_run": sum(row["epoch"] >= start for row in previous_epochs(run, end)),
                "learning_rate": learning_rate,
                "frozen_layers": frozen,
                "trainable_stages": [name for name, last in stages if last >= frozen],
                "trainable_parameters": parameter_counts(model)["trainable"],
            }
        )
        # The last phase needs no record: its backup, kept until the run ends, resumes it even after its
        # last epoch. Weights before the record: a kill between them leaves this phase to finish again.
        if phase < len(plan) - 1:
            write_weights(backup / PHASE_END_WEIGHTS_FILE, model.get_weights())
            write_json(backup / FINISHED_PHASES_FILE, phases)
            shutil.rmtree(phase_backup)
    shutil.rmtree(backup, ignore_errors=True)  # training finished: as BackupAndRestore does for a plain run
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
