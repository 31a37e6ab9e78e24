"""The callbacks step 04 trains with (phase4a/train/callbacks.py): their order and options."""

import keras
import numpy as np
import pytest

from phase4a import config as config_module
from phase4a.data.dataset import Dataset
from phase4a.stages import RunDir
from phase4a.train.callbacks import make_callbacks
from phase4a.train.collapse import CollapseMonitor


def test_make_callbacks_puts_the_monitor_before_the_log_and_early_stopping(tmp_path):
    config = {**config_module.resolve("report"), "collapse_stop": True, "flat_epochs": 3}
    x = np.zeros((4, 8, 8, 6), dtype="float32")
    y = np.arange(4) % 2
    data = Dataset(x, y, x, y, ["a", "b"], ["B2", "B3", "B4", "B8", "B11", "B12"])
    callbacks = make_callbacks(RunDir(tmp_path), config, data)

    def position(kind):
        return next(i for i, callback in enumerate(callbacks) if isinstance(callback, kind))

    monitor = position(CollapseMonitor)
    assert monitor < position(keras.callbacks.CSVLogger)
    assert monitor < position(keras.callbacks.EarlyStopping)
    assert callbacks[monitor].stop_on_collapse and not callbacks[monitor].stop_on_flat
    assert callbacks[monitor].flat_epochs == 3
    assert CollapseMonitor not in [type(cb) for cb in make_callbacks(RunDir(tmp_path), config)]


def test_tensorboard_logs_go_into_the_run_directory_only_when_asked(tmp_path):
    config = config_module.resolve("report")
    assert not any(isinstance(cb, keras.callbacks.TensorBoard) for cb in make_callbacks(RunDir(tmp_path), config))

    run = RunDir(tmp_path / "run")
    callbacks = make_callbacks(run, {**config, "tensorboard": True})
    board = next(cb for cb in callbacks if isinstance(cb, keras.callbacks.TensorBoard))
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x, y = np.ones((8, 3), dtype="float32"), np.arange(8) % 2
    model.fit(x, y, epochs=1, verbose=0, callbacks=[board])
    events = list((tmp_path / "run" / "tensorboard").rglob("events.out.tfevents.*"))
    assert events, "no TensorBoard event file under <run>/tensorboard"


def test_the_best_checkpoint_loads_as_the_model_of_its_epoch(tmp_path):
    """checkpoints/best.weights.npz holds only the trained weights; load_best_checkpoint rebuilds the
    whole model, whose validation accuracy is the best one logged (checkpoint_monitor val_accuracy)."""
    from phase4a.data import dataset as dataset_module
    from phase4a.train.callbacks import load_best_checkpoint
    from phase4a.train.resume import history_records

    from ..conftest import TINY_CNN_OVERRIDES, run_steps

    run = run_steps(tmp_path / "run", [*TINY_CNN_OVERRIDES, "--epochs", "4", "--keep_checkpoint", "true"], 4, tmp_path)
    config = config_module.load(run / "config.json")
    model = load_best_checkpoint(RunDir(run), config)
    data = dataset_module.load(run / "data.npz")
    accuracy = float(np.mean(np.argmax(model.predict(data.X_val, verbose=0), axis=1) == data.y_val))
    logged = [epoch["val_accuracy"] for epoch in history_records(run / "training_log.csv")]
    assert accuracy == pytest.approx(max(logged), abs=1e-6)


def test_without_keep_checkpoint_the_checkpoint_goes_with_the_backup(trained_cnn_run):
    """By default the best checkpoint lives in the resume backup while training and goes when it ends
    (transfer_model.keras holds the model step 05 evaluates); asking for it names the option."""
    from phase4a.errors import MissingInputError
    from phase4a.stages import BACKUP_DIR
    from phase4a.train.callbacks import load_best_checkpoint

    run = RunDir(trained_cnn_run)
    assert run.path("transfer_model_keras").is_file()
    assert not run.path("best_weights").exists() and not (trained_cnn_run / BACKUP_DIR).exists()
    with pytest.raises(MissingInputError, match=r"was not kept: .* --keep_checkpoint true"):
        load_best_checkpoint(run, config_module.load(run.path("config")))


def test_a_checkpoint_of_an_earlier_training_is_not_left_beside_a_new_model(tmp_path):
    config = config_module.resolve("report")
    run = RunDir(tmp_path)
    stale = run.path("best_weights")
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"an earlier training's checkpoint")
    make_callbacks(run, config)
    assert not stale.exists()
