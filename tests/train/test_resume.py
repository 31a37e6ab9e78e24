"""Step 04 killed mid-run resumes from its last finished epoch (phase4a/train/resume.py, TrainingBackup);
a finished run is not trained again."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from phase4a import config as config_module
from phase4a import io as io_module
from phase4a.errors import DataError
from phase4a.paths import PROJECT_ROOT
from phase4a.stages import BACKUP_DIR, RunDir
from phase4a.steps import train_transfer
from phase4a.train import progressive
from phase4a.train import resume as resume_module
from phase4a.train.callbacks import BestCheckpoint, make_callbacks
from phase4a.train.resume import (
    BACKUP_CHECKPOINT_FILE,
    BACKUP_FILE,
    FINISHED_PHASES_FILE,
    PHASE_END_WEIGHTS_FILE,
    TrainingBackup,
    backed_up_epochs,
)

from ..conftest import TINY_CNN_OVERRIDES, TINY_OVERRIDES, run_steps
from .test_progressive import eager_compile

# ------------------------------------------------------------------ callback state across a resume


class _Scripted:
    """Builds a callback that overwrites val_loss / val_accuracy with scripted values (listed first,
    so every later callback sees them), records the epochs it saw, and can stop the run abruptly."""

    def __init__(self, val_loss, val_accuracy, crash_at=None, keep_weights_of=None):
        import keras

        outer = self
        self.seen: list[int] = []
        self.weights: dict[int, list] = {}

        class Callback(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                if epoch == crash_at:
                    raise KeyboardInterrupt("simulated kill")

            def on_epoch_end(self, epoch, logs=None):
                outer.seen.append(epoch)
                logs["val_loss"] = val_loss[epoch]
                logs["val_accuracy"] = val_accuracy[epoch]
                if keep_weights_of is not None and epoch == keep_weights_of:
                    outer.weights[epoch] = self.model.get_weights()

        self.callback = Callback()


def _tiny_fit(run: RunDir, scripted: _Scripted, epochs: int, backup_every_s: float = 0):
    """Fit a tiny model with step 04's callbacks, continuing at the backed-up epoch as step 04 does."""
    import keras

    config = {
        **config_module.DEFAULTS,
        "backup_every_s": backup_every_s,
        "checkpoint_monitor": "val_accuracy",
        "monitor": "val_loss",
        "early_stopping_patience": 10,
        "reduce_lr_patience": 2,
        "reduce_lr_factor": 0.5,
        "min_learning_rate": 1e-7,
    }
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    # Adam's moments exist before fit, as step 04's fit makes them (build_training_variables), so that
    # TrainingBackup can restore them.
    model.optimizer.build(model.trainable_variables)
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(32, 4)).astype("float32"), rng.integers(0, 3, 32)
    callbacks = [scripted.callback, *make_callbacks(run, config)]
    initial_epoch = backed_up_epochs(run.root / BACKUP_DIR)
    try:
        model.fit(
            X,
            y,
            validation_data=(X, y),
            epochs=epochs,
            initial_epoch=initial_epoch,
            batch_size=8,
            callbacks=callbacks,
            verbose=0,
        )
    except KeyboardInterrupt:
        pass
    return model, callbacks


def checkpoint_file(run: RunDir) -> Path:
    """Where the best checkpoint is written while training (config keep_checkpoint false, the default)."""
    return run.root / BACKUP_DIR / BACKUP_CHECKPOINT_FILE


def test_callbacks_keep_their_state_across_a_resume(tmp_path):
    """EarlyStopping's best epoch and weights, patience, ModelCheckpoint's best and the LR schedule
    survive a kill: the best epoch (2) came before the kill (after epoch 3) and stays the best."""
    import keras

    val_loss = [1.0, 0.5, 0.9, 0.8, 0.7, 0.95]
    val_accuracy = [0.2, 0.6, 0.4, 0.5, 0.3, 0.1]
    run = RunDir(tmp_path)
    first = _Scripted(val_loss, val_accuracy, crash_at=3, keep_weights_of=1)
    _tiny_fit(run, first, epochs=6)
    assert first.seen == [0, 1, 2]
    assert backed_up_epochs(tmp_path / BACKUP_DIR) == 3
    checkpoint_mtime = checkpoint_file(run).stat().st_mtime_ns

    second = _Scripted(val_loss, val_accuracy)
    model, callbacks = _tiny_fit(run, second, epochs=6)
    assert second.seen == [3, 4, 5], "resumed from the last finished epoch"
    early = next(cb for cb in callbacks if isinstance(cb, keras.callbacks.EarlyStopping))
    assert early.best_epoch == 1 and early.best == 0.5
    assert early.wait == 4  # epochs 3-6 without improvement, counted across the kill
    for restored, best in zip(model.get_weights(), first.weights[1]):
        np.testing.assert_array_equal(restored, best)
    checkpoint = next(cb for cb in callbacks if isinstance(cb, BestCheckpoint))
    assert checkpoint.best == 0.6
    assert checkpoint_file(run).stat().st_mtime_ns == checkpoint_mtime, "a worse epoch replaced the best"
    # ReduceLROnPlateau (patience 2, best 0.5 at epoch 2): epoch 3 before the kill and epoch 4 after it
    # -> halved; epochs 5, 6 -> halved again. Counting from zero after the resume would not reduce at all.
    rows = [line.split(",") for line in run.path("training_log").read_text().splitlines()]
    header = rows[0]
    epochs = [int(row[header.index("epoch")]) for row in rows[1:]]
    assert epochs == [0, 1, 2, 3, 4, 5]
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(1e-2 / 4)
    # Step 04 removes the backup once training finished (test_killed_training_process_resumes).


def test_backups_are_bounded_by_time_and_the_checkpoint_belongs_with_them(tmp_path, monkeypatch):
    """With backup_every_s 2.5 and epochs of 1 s (a scripted clock), the backup and the best checkpoint
    are written after epoch 3 only; a kill at epoch 5 loses epoch 4 (1 s, under the bound), and the
    resumed run keeps the best of epochs 1-3 and finds epoch 4's again."""
    clock = [0.0]
    monkeypatch.setattr(resume_module.time, "monotonic", lambda: clock[0])

    class Ticking(_Scripted):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            crash_at = kwargs.get("crash_at")
            scripted = self.callback

            def on_epoch_begin(epoch, logs=None):
                clock[0] += 1.0
                if epoch == crash_at:
                    raise KeyboardInterrupt("simulated kill")

            scripted.on_epoch_begin = on_epoch_begin

    val_loss = [1.0, 0.9, 0.8, 0.5, 0.7, 0.6]
    val_accuracy = [0.2, 0.5, 0.4, 0.6, 0.3, 0.1]
    run = RunDir(tmp_path)
    first = Ticking(val_loss, val_accuracy, crash_at=4)
    _tiny_fit(run, first, epochs=6, backup_every_s=2.5)
    assert first.seen == [0, 1, 2, 3]
    assert backed_up_epochs(tmp_path / BACKUP_DIR) == 3, "one backup, after the epoch that passed 2.5 s"
    with np.load(checkpoint_file(run)) as stored:
        assert int(stored["epoch"]) == 1, "the checkpoint of the backup's time, not epoch 3's newer best"
    second = Ticking(val_loss, val_accuracy)
    _, callbacks = _tiny_fit(run, second, epochs=6, backup_every_s=2.5)
    assert second.seen == [3, 4, 5], "resumed after the backed-up epochs: epoch 4 is run again"
    checkpoint = next(cb for cb in callbacks if isinstance(cb, BestCheckpoint))
    assert checkpoint.best == 0.6
    with np.load(checkpoint_file(run)) as stored:
        assert int(stored["epoch"]) == 3, "written when the fit ended"


def _dense():
    import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    model.compile(optimizer="adam", loss="mse")
    model.optimizer.build(model.trainable_variables)
    return model


def _step_adam(model):
    """Change the weights and Adam's moments and step count, as a training epoch does."""
    import keras

    for variable in model.optimizer.variables:
        variable.assign(keras.ops.convert_to_numpy(variable) + 1)
    model.set_weights([w + 1 for w in model.get_weights()])


def test_a_kill_while_the_backup_is_written_leaves_the_previous_backup_whole(tmp_path, monkeypatch):
    """Each epoch's backup (weights, optimizer state, epochs done) replaces the last one in one rename; a
    write killed half-way leaves the previous backup as it was, and a resume restores all of it."""
    import keras

    backup_dir = tmp_path / "backup"
    model = _dense()
    backup = TrainingBackup(backup_dir)
    backup.set_model(model)
    for epoch in range(2):
        _step_adam(model)
        backup.on_epoch_end(epoch)
    saved_weights = model.get_weights()
    saved_optimizer = [keras.ops.convert_to_numpy(v) for v in model.optimizer.variables]

    savez = np.savez

    def killed_while_writing(handle, **arrays):
        savez(handle, **dict(list(arrays.items())[:2]))  # part of the arrays reach the file
        raise KeyboardInterrupt("simulated kill")

    _step_adam(model)
    with monkeypatch.context() as patch, pytest.raises(KeyboardInterrupt):
        patch.setattr(io_module.np, "savez", killed_while_writing)
        backup.on_epoch_end(2)
    assert sorted(path.name for path in backup_dir.iterdir()) == [BACKUP_FILE], "no half-written file is left"
    assert backed_up_epochs(backup_dir) == 2

    resumed = _dense()
    restore = TrainingBackup(backup_dir)
    restore.set_model(resumed)
    restore.on_train_begin()
    for restored, expected in zip(resumed.get_weights(), saved_weights, strict=True):
        np.testing.assert_array_equal(restored, expected)
    restored_optimizer = [keras.ops.convert_to_numpy(v) for v in resumed.optimizer.variables]
    for restored, expected in zip(restored_optimizer, saved_optimizer, strict=True):
        np.testing.assert_array_equal(restored, expected)


def test_a_backup_of_another_trainable_set_stops_the_resume_in_one_line(tmp_path):
    """The same layers with another trainable set (another optimizer state): the resume stops and says
    how to start again, instead of restoring Adam's moments into the wrong variables."""
    import keras

    def two_layers(frozen_first: bool):
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(2)])
        model.layers[0].trainable = not frozen_first
        model.compile(optimizer="adam", loss="mse")
        model.optimizer.build(model.trainable_variables)
        return model

    backup = TrainingBackup(tmp_path)
    backup.set_model(two_layers(frozen_first=False))
    backup.on_epoch_end(0)
    restore = TrainingBackup(tmp_path)
    restore.set_model(two_layers(frozen_first=True))
    with pytest.raises(DataError, match=r"another model.* re-run phase4a_04_train_transfer.py --retrain$"):
        restore.on_train_begin()


# ------------------------------------------------------------------ a real process, killed


def _env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "keras_home"
    home.mkdir(exist_ok=True)
    return {**os.environ, "KERAS_HOME": str(home), "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}


def _logged_epochs(log: Path) -> list[int]:
    if not log.is_file():
        return []
    lines = [line for line in log.read_text().splitlines()[1:] if line.strip()]
    return [int(line.split(",")[0]) for line in lines]


def _kill_and_resume(run_dir: Path, tmp_path: Path, epochs: int, kill_after: int = 2, wait_s: float = 240) -> dict:
    """Start step 04, SIGKILL it once the CSV log has ``kill_after`` epochs, run it again; returns facts."""
    command = [sys.executable, "phase4a_04_train_transfer.py", "--run-dir", str(run_dir), "--quiet"]
    log = run_dir / "training_log.csv"
    with open(tmp_path / "first.out", "wb") as out:
        process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=_env(tmp_path), stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + wait_s
        try:
            while len(_logged_epochs(log)) < kill_after:
                assert process.poll() is None, (tmp_path / "first.out").read_text()[-2000:]
                assert time.monotonic() < deadline, "training did not log two epochs in time"
                time.sleep(0.05)
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait()
    before_kill = _logged_epochs(log)
    assert len(before_kill) < epochs, "training finished before it could be killed; make epochs longer"
    assert (run_dir / BACKUP_DIR).is_dir()
    assert not (run_dir / "training_history.json").exists()

    second = subprocess.run(command, cwd=PROJECT_ROOT, env=_env(tmp_path), capture_output=True, text=True)
    assert second.returncode == 0, second.stdout[-2000:] + second.stderr[-2000:]
    started = [int(n) for n in re.findall(r"^Epoch (\d+)/", second.stdout, flags=re.MULTILINE)]
    history = json.loads((run_dir / "training_history.json").read_text())
    return {"before_kill": before_kill, "resumed_epochs": started, "history": history, "output": second.stdout}


def _check_resumed(facts: dict, epochs: int) -> None:
    finished_before_kill = len(facts["before_kill"])  # epochs 1..k
    first_resumed = facts["resumed_epochs"][0]
    assert first_resumed > 1, "training restarted from epoch 1"
    assert first_resumed >= finished_before_kill, f"lost more than one epoch: {facts}"
    assert facts["resumed_epochs"] == list(range(first_resumed, epochs + 1))
    history = facts["history"]
    assert [entry["epoch"] for entry in history["epochs"]] == list(range(1, epochs + 1))
    assert history["epochs_run"] == epochs and history["resumed"] is True
    val_loss = [entry["val_loss"] for entry in history["epochs"]]
    assert history["restored_best_epoch"] == 1 + int(np.argmin(val_loss))
    assert all(np.isfinite(entry["loss"]) and entry["seconds"] > 0 for entry in history["epochs"])


def _check_not_retrained(run_dir: Path, tmp_path: Path, snapshot) -> None:
    before = snapshot(run_dir)
    again = subprocess.run(
        [sys.executable, "phase4a_04_train_transfer.py", "--run-dir", str(run_dir)],
        cwd=PROJECT_ROOT,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
    )
    assert again.returncode == 0, again.stderr[-2000:]
    assert "already trained" in again.stdout and "--retrain" in again.stdout
    after = snapshot(run_dir)
    # Only the manifest records the new command; no artefact is rewritten.
    assert {k: v for k, v in after.items() if k != "run_manifest.json"} == {
        k: v for k, v in before.items() if k != "run_manifest.json"
    }


def test_killed_training_process_resumes(tmp_path, snapshot, capsys):
    """SimpleCNN on 1200 patches: epochs of about a second, so the kill lands mid-run."""
    epochs = 5
    overrides = [
        "--preset",
        "simplecnn",
        *TINY_OVERRIDES,
        "--epochs",
        str(epochs),
        "--mock_train_size",
        "1200",
        "--backup_every_s",
        "0",
    ]
    run_dir = run_steps(tmp_path / "run", overrides, 3, tmp_path)
    facts = _kill_and_resume(run_dir, tmp_path, epochs)
    print(f"killed after {len(facts['before_kill'])} logged epochs; resumed at epoch {facts['resumed_epochs'][0]}")
    _check_resumed(facts, epochs)
    assert not (run_dir / BACKUP_DIR).exists()
    # A finished run is not trained again (in-process: no second interpreter start).
    before = snapshot(run_dir)
    capsys.readouterr()
    assert train_transfer.main(["--run-dir", str(run_dir)]) == 0
    assert "already trained" in capsys.readouterr().out
    assert {k: v for k, v in snapshot(run_dir).items() if k != "run_manifest.json"} == {
        k: v for k, v in before.items() if k != "run_manifest.json"
    }


@pytest.mark.slow
def test_killed_resnet_training_resumes(tmp_path, snapshot, prepared_run, copy_run):
    """The report's ResNet50 (150 layers frozen) on the tiny mock run, killed after two epochs."""
    epochs = 5
    run_dir = copy_run(prepared_run)
    config = json.loads((run_dir / "config.json").read_text())
    config["epochs"] = epochs  # step 01 would do the same; steps 02-03 do not depend on epochs
    config["backup_every_s"] = 0
    (run_dir / "config.json").write_text(json.dumps(config, indent=2))
    facts = _kill_and_resume(run_dir, tmp_path, epochs, wait_s=500)
    _check_resumed(facts, epochs)
    _check_not_retrained(run_dir, tmp_path, snapshot)


# ------------------------------------------------------------------ progressive unfreezing, killed in a phase

# MobileNetV2 (random weights) in three phases of two one-step epochs: epochs 1-2 train the head only,
# 3-4 and 5-6 one more backbone stage each.
PROGRESSIVE_OVERRIDES = [
    "--preset",
    "progressive",
    "--backbone",
    "mobilenetv2",
    "--progressive_stages",
    "2",
    "--phase_epochs",
    "2",
    *TINY_OVERRIDES,
    "--mock_train_size",
    "10",
    "--batch_size",
    "16",
    "--backup_every_s",
    "0",
]


class _Watcher:
    """Builds a callback, placed just before TrainingBackup, that records at the start of each epoch
    the optimizer's step count and learning rate and the trainable weight count, and can kill the run at
    the end of epoch ``kill_at``: after the CSV log has its row, before the backup has it (the worst moment)."""

    def __init__(self, kill_at=None):
        import keras

        outer = self
        self.started: dict[int, tuple[int, float, int]] = {}

        class Callback(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                optimizer = self.model.optimizer
                outer.started[epoch] = (
                    int(keras.ops.convert_to_numpy(optimizer.iterations)),
                    float(keras.ops.convert_to_numpy(optimizer.learning_rate)),
                    len(self.model.trainable_weights),
                )

            def on_epoch_end(self, epoch, logs=None):
                if epoch == kill_at:
                    raise KeyboardInterrupt("simulated kill")

        self.callback = Callback()


def _train_watched(run_dir: Path, watcher: _Watcher, monkeypatch, *options: str) -> int:
    """Step 04 in-process, eagerly (no graph tracing: seconds, not minutes, for one-step epochs), with
    ``watcher``'s callback among its callbacks; returns its exit status."""

    def with_watcher(*args, **kwargs):
        callbacks = make_callbacks(*args, **kwargs)
        at = next(i for i, cb in enumerate(callbacks) if isinstance(cb, TrainingBackup))
        return [*callbacks[:at], watcher.callback, *callbacks[at:]]

    with monkeypatch.context() as patch:
        patch.setattr(train_transfer, "make_callbacks", with_watcher)
        patch.setattr(train_transfer, "compile_model", eager_compile)
        patch.setattr(progressive, "compile_model", eager_compile)
        return train_transfer.main(["--run-dir", str(run_dir), "--quiet", *options])


def test_killed_progressive_run_resumes_in_its_phase(tmp_path, monkeypatch, copy_run, snapshot, capsys):
    """Killed at the end of epoch 4 (phase 1's second), before its backup: the restart skips phase 0,
    runs epoch 4 again in phase 1 with that phase's learning rate, trainable set and optimizer state.
    Killed again while writing phase 2's first backup: the next restart begins phase 2 afresh. The
    history then has the epochs and phases of an uninterrupted run."""
    run = run_steps(tmp_path / "run", PROGRESSIVE_OVERRIDES, 3, tmp_path)
    first = _Watcher(kill_at=3)
    assert _train_watched(run, first, monkeypatch) == 130
    assert _logged_epochs(run / "training_log.csv") == [0, 1, 2, 3]
    backup = run / BACKUP_DIR
    assert [p["phase"] for p in json.loads((backup / FINISHED_PHASES_FILE).read_text())] == [0]
    assert backed_up_epochs(backup / "phase_1") == 3
    assert not (run / "training_history.json").exists()

    # Neither --retrain nor a backup of another config resumes: training starts again at epoch 1.
    foreign = copy_run(run, "foreign")
    owner = foreign / BACKUP_DIR / train_transfer.BACKUP_OWNER_FILE
    owner.write_text(json.dumps({**json.loads(owner.read_text()), "config_hash": "another config"}))
    for other_run, options in ((copy_run(run, "retrain"), ["--retrain"]), (foreign, [])):
        assert _train_watched(other_run, _Watcher(kill_at=0), monkeypatch, *options) == 130
        assert _logged_epochs(other_run / "training_log.csv") == [0], options
        assert not (other_run / BACKUP_DIR / FINISHED_PHASES_FILE).exists()
        assert json.loads((other_run / BACKUP_DIR / train_transfer.BACKUP_OWNER_FILE).read_text()) == json.loads(
            (backup / train_transfer.BACKUP_OWNER_FILE).read_text()
        )

    second = _Watcher(kill_at=4)
    assert _train_watched(run, second, monkeypatch) == 130
    assert sorted(second.started) == [3, 4], "phase 0 and phase 1's first epoch are not run again"
    # Epoch 4 starts as it did before the kill: phase 1's learning rate (1e-3 x 0.3), trainable set, and
    # optimizer state (Adam's step count: one step per epoch). Phase 2 starts with a new optimizer.
    assert second.started[3] == first.started[3]
    assert [second.started[epoch][:2] for epoch in (3, 4)] == [(1, pytest.approx(3e-4)), (0, pytest.approx(9e-5))]
    assert first.started[2][2] == second.started[3][2] < second.started[4][2]
    assert [p["phase"] for p in json.loads((backup / FINISHED_PHASES_FILE).read_text())] == [0, 1]
    # What a SIGKILL in the middle of phase 2's first backup leaves: the temporary file, never a backup.
    assert not (backup / "phase_2" / BACKUP_FILE).exists()
    (backup / "phase_2").mkdir(exist_ok=True)
    (backup / "phase_2" / ".latest_epoch.k1ll3d.tmp.npz").write_bytes(b"PK\x03\x04")

    third = _Watcher()
    assert _train_watched(run, third, monkeypatch) == 0
    assert sorted(third.started) == [4, 5]
    assert third.started[4] == second.started[4]
    history = json.loads((run / "training_history.json").read_text())

    # The history of an uninterrupted run: all epochs once, all phases, each with its epochs.
    assert history["resumed"] is True
    assert _logged_epochs(run / "training_log.csv") == [0, 1, 2, 3, 4, 5]
    assert [(e["epoch"], e["phase"]) for e in history["epochs"]] == [(1, 0), (2, 0), (3, 1), (4, 1), (5, 2), (6, 2)]
    assert [e["learning_rate"] for e in history["epochs"]] == pytest.approx([1e-3, 1e-3, 3e-4, 3e-4, 9e-5, 9e-5])
    assert history["epochs_run"] == history["max_epochs"] == 6 and history["stopped_early"] is False
    phases = history["phases"]
    assert [(p["phase"], p["first_epoch"], p["epochs_run"]) for p in phases] == [(0, 1, 2), (1, 3, 2), (2, 5, 2)]
    assert [p["learning_rate"] for p in phases] == pytest.approx([1e-3, 3e-4, 9e-5])
    assert [p["frozen_layers"] for p in phases] == [154, 143, 116]
    assert phases[0]["trainable_parameters"] < phases[1]["trainable_parameters"] < phases[2]["trainable_parameters"]
    val_loss = [entry["val_loss"] for entry in history["epochs"]]
    assert history["restored_best_epoch"] == 1 + 4 + int(np.argmin(val_loss[4:]))  # the last phase's best
    assert not backup.exists(), "the backup is removed when training finishes"

    # A finished progressive run is not trained again without --retrain.
    before = snapshot(run)
    capsys.readouterr()
    assert train_transfer.main(["--run-dir", str(run)]) == 0
    assert "already trained" in capsys.readouterr().out
    assert {k: v for k, v in snapshot(run).items() if k != "run_manifest.json"} == {
        k: v for k, v in before.items() if k != "run_manifest.json"
    }


def test_progressive_phase_that_stopped_before_a_kill_is_not_trained_on(tmp_path, monkeypatch):
    """Each phase stops at its second epoch (a validation loss within 1e9 over two epochs counts as
    flat). Killed after phase 0 stopped, before its record: the restart must not run phase 0's third
    epoch, and the run ends with the epochs and phases of an uninterrupted one."""
    flat = ["--phase_epochs", "3", "--flat_stop", "true", "--flat_tolerance", "1e9", "--flat_epochs", "2"]
    run = run_steps(tmp_path / "run", [*PROGRESSIVE_OVERRIDES, *flat], 3, tmp_path)
    write_weights = progressive.write_weights

    def killed_before_the_phase_record(path, weights, **tags):
        if path.name == PHASE_END_WEIGHTS_FILE:
            raise KeyboardInterrupt("simulated kill")
        write_weights(path, weights, **tags)

    with monkeypatch.context() as patch:
        patch.setattr(progressive, "write_weights", killed_before_the_phase_record)
        assert _train_watched(run, _Watcher(), monkeypatch) == 130
    assert _logged_epochs(run / "training_log.csv") == [0, 1]

    resumed = _Watcher()
    assert _train_watched(run, resumed, monkeypatch) == 0
    assert sorted(resumed.started) == [3, 4, 6, 7]
    history = json.loads((run / "training_history.json").read_text())
    assert [(p["phase"], p["first_epoch"], p["epochs_run"]) for p in history["phases"]] == [
        (0, 1, 2),
        (1, 4, 2),
        (2, 7, 2),
    ]
    assert [e["epoch"] for e in history["epochs"]] == [1, 2, 4, 5, 7, 8]


# ------------------------------------------------------------------ a log that cannot be read


@pytest.fixture(scope="module")
def killed_cnn_run(tmp_path_factory):
    """A tiny SimpleCNN run whose step 04 was killed after its second epoch, with one epoch backed up."""
    root = tmp_path_factory.mktemp("killed_cnn")
    run = run_steps(root / "run", [*TINY_CNN_OVERRIDES, "--epochs", "3", "--backup_every_s", "0"], 3, root)
    with pytest.MonkeyPatch.context() as patch:
        assert _train_watched(run, _Watcher(kill_at=1), patch) == 130
    assert backed_up_epochs(run / BACKUP_DIR) == 1 and _logged_epochs(run / "training_log.csv") == [0, 1]
    return run


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda log: log.unlink(), id="deleted"),
        pytest.param(lambda log: log.write_text(""), id="empty"),
        pytest.param(lambda log: log.write_text("garbage\n1,2\n"), id="no-epoch-column"),
        pytest.param(lambda log: log.write_text(log.read_text().splitlines()[0] + "\n"), id="no-rows"),
        pytest.param(lambda log: log.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe"), id="binary"),
    ],
)
def test_a_resume_whose_training_log_cannot_be_read_stops_in_one_line(
    damage, killed_cnn_run, copy_run, monkeypatch, capsys, snapshot
):
    """Early stopping's state comes from the log: without it the resume stops, rather than restarting
    patience from nothing, and says how to train from the start instead."""
    run = copy_run(killed_cnn_run)
    damage(run / "training_log.csv")
    before = snapshot(run / BACKUP_DIR)
    capsys.readouterr()
    assert _train_watched(run, _Watcher(), monkeypatch) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert err.startswith(f"error: cannot resume: {run / 'training_log.csv'} cannot be read (")
    assert err.endswith("re-run phase4a_04_train_transfer.py --retrain to train from the start")
    assert snapshot(run / BACKUP_DIR) == before, "the backup is kept: a repaired log resumes from it"
    assert not (run / "training_history.json").exists()
    with pytest.raises(DataError):  # the same from the callbacks alone
        make_callbacks(RunDir(run), config_module.load(run / "config.json"))
