"""The collapse monitor (phase4a/train/collapse.py) on tiny Keras models."""

import csv

import keras
import numpy as np
import pytest

from phase4a import metrics as keys
from phase4a.train.collapse import CollapseMonitor

N_CLASSES = 3


def toy_data(seed: int = 0, per_class: int = 20):
    """Three well separated 2-D clusters."""
    rng = np.random.default_rng(seed)
    centres = np.array([[4.0, 0.0], [-4.0, 0.0], [0.0, 4.0]])
    y = np.repeat(np.arange(N_CLASSES), per_class)
    x = (centres[y] + rng.normal(0, 0.5, (len(y), 2))).astype("float32")
    return x, y


def one_class_model() -> keras.Model:
    """Softmax over a zero kernel and a large bias on class 2: every input is predicted as class 2."""
    layer = keras.layers.Dense(
        N_CLASSES,
        activation="softmax",
        kernel_initializer="zeros",
        bias_initializer=keras.initializers.Constant([0.0, 0.0, 10.0]),
    )
    model = keras.Sequential([keras.Input((2,)), layer])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0), loss="sparse_categorical_crossentropy")
    return model


def learning_model() -> keras.Model:
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(N_CLASSES, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.1), loss="sparse_categorical_crossentropy")
    return model


def fit(model, monitor, epochs, extra=(), validation=True):
    x, y = toy_data()
    return model.fit(
        x,
        y,
        validation_data=(x, y) if validation else None,
        epochs=epochs,
        batch_size=16,
        callbacks=[monitor, *extra],
        verbose=0,
    )


def test_monitor_flags_a_model_that_predicts_one_class(tmp_path):
    x, y = toy_data()
    monitor = CollapseMonitor(x, y, N_CLASSES, flat_epochs=2)
    log_path = tmp_path / "log.csv"
    history = fit(one_class_model(), monitor, epochs=3, extra=[keras.callbacks.CSVLogger(str(log_path))])
    assert monitor.first_collapse_epoch == 1
    assert monitor.first_flat_epoch == 1  # constant loss: flat from the first epoch, seen at the second
    assert [r[keys.FLAT] for r in monitor.records] == [0, 1, 1]
    assert all(r[keys.TOP_CLASS] == 2 and r[keys.TOP_SHARE] == 1.0 for r in monitor.records)
    assert history.history[keys.COLLAPSED] == [1, 1, 1]
    with open(log_path) as handle:
        assert keys.DISTINCT in next(csv.reader(handle))


def test_monitor_does_not_flag_a_model_that_learns():
    x, y = toy_data()
    monitor = CollapseMonitor(x, y, N_CLASSES, flat_epochs=3, stop_on_collapse=True, stop_on_flat=True)
    history = fit(learning_model(), monitor, epochs=6)
    assert len(history.epoch) == 6 and monitor.stop_reason is None
    assert monitor.first_collapse_epoch is None and monitor.first_flat_epoch is None
    assert monitor.records[-1][keys.DISTINCT] == N_CLASSES
    assert history.history["val_loss"][-1] < history.history["val_loss"][0]


def test_monitor_stops_on_collapse_and_on_flat_loss():
    x, y = toy_data()
    on_collapse = CollapseMonitor(x, y, N_CLASSES, stop_on_collapse=True)
    assert len(fit(one_class_model(), on_collapse, epochs=5).epoch) == 1
    assert "class 2" in on_collapse.stop_reason
    on_flat = CollapseMonitor(x, y, N_CLASSES, flat_epochs=3, stop_on_flat=True)
    assert len(fit(one_class_model(), on_flat, epochs=6, validation=False).epoch) == 3  # loss from predictions
    assert "since epoch 1" in on_flat.stop_reason


def test_without_validation_data_the_monitor_is_the_validation_pass():
    """Its val_loss and val_accuracy are Keras' own evaluation of the same weights, to float rounding."""
    x, y = toy_data()
    model = learning_model()
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=0.1), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    monitor = CollapseMonitor(x, y, N_CLASSES)
    history = fit(model, monitor, epochs=1, validation=False)
    loss, accuracy = model.evaluate(x, y, batch_size=16, verbose=0)
    assert history.history["val_loss"] == [pytest.approx(loss, rel=1e-5)]
    assert history.history["val_accuracy"] == [pytest.approx(accuracy)]
    assert monitor.records[0]["val_loss"] == history.history["val_loss"][0]


def drive(monitor, losses):
    """Feed given val_loss values to the monitor as if Keras had produced them."""
    for epoch, loss in enumerate(losses):
        monitor.on_epoch_end(epoch, {"val_loss": loss})


def test_flat_detection_window_and_tolerance():
    x, y = toy_data()
    monitor = CollapseMonitor(x, y, N_CLASSES, flat_tolerance=1e-3, flat_epochs=3)
    monitor.set_model(one_class_model())
    drive(monitor, [1.0, 0.5, 0.3, 0.3002, 0.3004, 0.3005, 0.4])
    assert [r[keys.FLAT_SINCE] for r in monitor.records] == [0, 0, 0, 0, 3, 3, 0]
    assert monitor.first_flat_epoch == 3
    strict = CollapseMonitor(x, y, N_CLASSES, flat_tolerance=1e-4, flat_epochs=3)
    strict.set_model(one_class_model())
    drive(strict, [1.0, 0.5, 0.3, 0.3002, 0.3004, 0.3005, 0.4])
    assert strict.first_flat_epoch is None
    with pytest.raises(ValueError):
        CollapseMonitor(x, y, N_CLASSES, flat_epochs=1)
