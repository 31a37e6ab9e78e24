"""The collapse monitor on tiny Keras models, and diagnoses that follow the configuration."""

import csv

import keras
import numpy as np
import pytest

from phase4a import diagnostics as dg

N_CLASSES = 3
REPORT_CONFIG = {
    "backbone": "resnet50",
    "weights": "imagenet",
    "frozen_layers": 150,
    "learning_rate": 1e-4,
    "upsample_factor": 4,
    "band_adapter": "conv1x1",
    "patch_size": 8,
    "batch_size": 32,
}
CLASS_NAMES = ["Agriculture", "Forest", "Parcels", "Urban", "Water"]
DATA_STATS = {
    "class_names": CLASS_NAMES,
    "splits": {
        "train": {
            "samples": 300,
            "class_counts": dict(zip(CLASS_NAMES, [70, 60, 60, 50, 60], strict=True)),
            "band_ranges_scaled": {"B2": {"min": 0.0, "max": 0.25}, "B8": {"min": 0.01, "max": 0.5}},
        },
        "validation": {"samples": 75, "class_counts": dict(zip(CLASS_NAMES, [10, 21, 19, 8, 17], strict=True))},
    },
}


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


def test_prediction_spread_from_labels_and_scores():
    assert dg.prediction_spread(np.array([2, 2, 1, 2]), 5) == {"distinct_classes": 2, "top_class": 2, "top_share": 0.75}
    scores = np.array([[0.9, 0.1], [0.8, 0.2]])
    assert dg.prediction_spread(scores, 2) == {"distinct_classes": 1, "top_class": 0, "top_share": 1.0}


def test_monitor_flags_a_model_that_predicts_one_class(tmp_path):
    x, y = toy_data()
    monitor = dg.CollapseMonitor(x, y, N_CLASSES, flat_epochs=2)
    log_path = tmp_path / "log.csv"
    history = fit(one_class_model(), monitor, epochs=3, extra=[keras.callbacks.CSVLogger(str(log_path))])
    assert monitor.first_collapse_epoch == 1
    assert monitor.first_flat_epoch == 1  # constant loss: flat from the first epoch, seen at the second
    assert [r[dg.FLAT] for r in monitor.records] == [0, 1, 1]
    assert all(r[dg.TOP_CLASS] == 2 and r[dg.TOP_SHARE] == 1.0 for r in monitor.records)
    assert history.history[dg.COLLAPSED] == [1, 1, 1]
    with open(log_path) as handle:
        assert dg.DISTINCT in next(csv.reader(handle))


def test_monitor_does_not_flag_a_model_that_learns():
    x, y = toy_data()
    monitor = dg.CollapseMonitor(x, y, N_CLASSES, flat_epochs=3, stop_on_collapse=True, stop_on_flat=True)
    history = fit(learning_model(), monitor, epochs=6)
    assert len(history.epoch) == 6 and monitor.stop_reason is None
    assert monitor.first_collapse_epoch is None and monitor.first_flat_epoch is None
    assert monitor.records[-1][dg.DISTINCT] == N_CLASSES
    assert history.history["val_loss"][-1] < history.history["val_loss"][0]


def test_monitor_stops_on_collapse_and_on_flat_loss():
    x, y = toy_data()
    on_collapse = dg.CollapseMonitor(x, y, N_CLASSES, stop_on_collapse=True)
    assert len(fit(one_class_model(), on_collapse, epochs=5).epoch) == 1
    assert "class 2" in on_collapse.stop_reason
    on_flat = dg.CollapseMonitor(x, y, N_CLASSES, flat_epochs=3, stop_on_flat=True)
    assert len(fit(one_class_model(), on_flat, epochs=6, validation=False).epoch) == 3  # loss from predictions
    assert "since epoch 1" in on_flat.stop_reason


def test_without_validation_data_the_monitor_is_the_validation_pass():
    """Its val_loss and val_accuracy are Keras' own evaluation of the same weights, to float rounding."""
    x, y = toy_data()
    model = learning_model()
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=0.1), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    monitor = dg.CollapseMonitor(x, y, N_CLASSES)
    history = fit(model, monitor, epochs=1, validation=False)
    loss, accuracy = model.evaluate(x, y, batch_size=16, verbose=0)
    assert history.history["val_loss"] == [pytest.approx(loss, rel=1e-5)]
    assert history.history["val_accuracy"] == [pytest.approx(accuracy)]
    assert monitor.records[0]["val_loss"] == history.history["val_loss"][0]


def test_training_fit_validates_through_the_monitor_only_when_there_is_one():
    from phase4a.training import keras_validation

    x, y = toy_data()
    assert keras_validation("val", [keras.callbacks.History(), dg.CollapseMonitor(x, y, N_CLASSES)]) is None
    assert keras_validation("val", [keras.callbacks.History()]) == "val"


def drive(monitor, losses):
    """Feed given val_loss values to the monitor as if Keras had produced them."""
    for epoch, loss in enumerate(losses):
        monitor.on_epoch_end(epoch, {"val_loss": loss})


def test_flat_detection_window_and_tolerance():
    x, y = toy_data()
    monitor = dg.CollapseMonitor(x, y, N_CLASSES, flat_tolerance=1e-3, flat_epochs=3)
    monitor.set_model(one_class_model())
    drive(monitor, [1.0, 0.5, 0.3, 0.3002, 0.3004, 0.3005, 0.4])
    assert [r[dg.FLAT_SINCE] for r in monitor.records] == [0, 0, 0, 0, 3, 3, 0]
    assert monitor.first_flat_epoch == 3
    strict = dg.CollapseMonitor(x, y, N_CLASSES, flat_tolerance=1e-4, flat_epochs=3)
    strict.set_model(one_class_model())
    drive(strict, [1.0, 0.5, 0.3, 0.3002, 0.3004, 0.3005, 0.4])
    assert strict.first_flat_epoch is None
    with pytest.raises(ValueError):
        dg.CollapseMonitor(x, y, N_CLASSES, flat_epochs=1)


def collapsed_records(epochs: int = 11, top_class: int = 0):
    return [
        {
            "epoch": e,
            "val_loss": 2.308,
            dg.DISTINCT: 1,
            dg.TOP_CLASS: top_class,
            dg.TOP_SHARE: 1.0,
            dg.COLLAPSED: 1,
            dg.FLAT: int(e >= 5),
            dg.FLAT_SINCE: 1 if e >= 5 else 0,
        }
        for e in range(1, epochs + 1)
    ]


def cause_names(diagnosis):
    return {cause["name"] for cause in diagnosis["causes"]}


def test_collapse_finding_names_every_collapsed_class_with_its_epochs():
    records = collapsed_records(epochs=4, top_class=2)
    records[2][dg.TOP_CLASS] = 1  # epoch 3 collapses to Forest, the others to Parcels
    collapse = dg.diagnose(records, REPORT_CONFIG, DATA_STATS, backbone_layers=175)["collapse"]
    assert collapse["epochs_by_class"] == {"Parcels": [1, 2, 4], "Forest": [3]}
    assert "Parcels (epochs 1, 2, 4); Forest (epoch 3)" in collapse["text"]
    assert "Parcels 25.33%, Forest 28.00%" in collapse["text"]
    assert "Agriculture, is not among them" in collapse["text"]


def test_collapse_finding_on_the_training_majority():
    collapse = dg.diagnose(collapsed_records(epochs=3), REPORT_CONFIG, DATA_STATS)["collapse"]
    assert collapse["text"].startswith(
        "In 3 of 3 epochs (from epoch 1) every validation sample is predicted as Agriculture."
    )
    assert "Agriculture is the most frequent training class, the answer of a head" in collapse["text"]


def test_diagnose_the_report_run():
    diagnosis = dg.diagnose(collapsed_records(), REPORT_CONFIG, DATA_STATS, backbone_layers=175)
    assert diagnosis["collapse"]["flag"] and diagnosis["collapse"]["epoch"] == 1
    assert diagnosis["collapse"]["accuracy_if_collapsed"] == pytest.approx(10 / 75)
    assert diagnosis["flat_loss"] == {**diagnosis["flat_loss"], "flag": True, "epoch": 1, "until": 11}
    assert diagnosis["last_stage_side"] == 1
    causes = {cause["name"]: cause for cause in diagnosis["causes"]}
    assert set(causes) == {
        "input scale vs the backbone's preprocessing",
        "BatchNorm in training mode on small batches",
        "feature-map size at the last stage",
        "share of frozen layers",
    }
    assert "510x" in causes["input scale vs the backbone's preprocessing"]["evidence"]  # 255 / 0.5
    frozen = causes["share of frozen layers"]["evidence"]
    assert "150 of 175" in frozen and "85.7%" in frozen
    assert "1x1x2048" in causes["feature-map size at the last stage"]["evidence"]
    assert "last batch of each epoch holds only 12" in causes["BatchNorm in training mode on small batches"]["evidence"]
    assert "13.33%" in diagnosis["summary"] and "Agriculture" in diagnosis["summary"]


@pytest.mark.parametrize(
    "change, gone, added",
    [
        ({"preprocessing": "caffe"}, "input scale vs the backbone's preprocessing", None),
        ({"weights": "none"}, "input scale vs the backbone's preprocessing", None),
        ({"bn_inference": True}, "BatchNorm in training mode on small batches", None),
        ({"upsample_factor": 28}, "feature-map size at the last stage", None),
        ({"frozen_layers": 50}, "share of frozen layers", None),
        ({"learning_rate": 1e-2}, None, "learning rate"),
    ],
)
def test_diagnose_causes_follow_the_config(change, gone, added):
    diagnosis = dg.diagnose(collapsed_records(), {**REPORT_CONFIG, **change}, DATA_STATS, backbone_layers=175)
    names = cause_names(diagnosis)
    assert gone is None or gone not in names
    assert added is None or added in names


def test_diagnose_evidence_uses_the_numbers():
    even = dg.diagnose(collapsed_records(), {**REPORT_CONFIG, "batch_size": 50}, DATA_STATS, backbone_layers=175)
    bn = next(c for c in even["causes"] if c["name"].startswith("BatchNorm"))
    assert "batch of 50" in bn["evidence"] and "last batch" not in bn["evidence"]  # 300 splits evenly into 50s
    larger = dg.diagnose(collapsed_records(), {**REPORT_CONFIG, "upsample_factor": 8}, DATA_STATS)
    feature_map = next(c for c in larger["causes"] if c["name"].startswith("feature-map"))
    assert "64x64" in feature_map["evidence"] and "2x2x2048" in feature_map["evidence"]
    assert "share of frozen layers" not in cause_names(larger)  # no layer count given


def test_diagnose_a_simplecnn_lists_no_backbone_causes():
    config = {**REPORT_CONFIG, "model_type": "simplecnn", "learning_rate": 1e-2}
    diagnosis = dg.diagnose(collapsed_records(), config, DATA_STATS, backbone_layers=11)
    assert cause_names(diagnosis) == {"learning rate"} and diagnosis["last_stage_side"] is None


def test_diagnose_without_collapse_lists_no_causes():
    records = [{**r, dg.COLLAPSED: 0, dg.FLAT: 0, dg.FLAT_SINCE: 0, dg.DISTINCT: 5} for r in collapsed_records(4)]
    diagnosis = dg.diagnose(records, REPORT_CONFIG, DATA_STATS, backbone_layers=175)
    assert not diagnosis["collapse"]["flag"] and not diagnosis["flat_loss"]["flag"]
    assert diagnosis["causes"] == [] and "No collapse" in diagnosis["summary"]


def test_make_callbacks_puts_the_monitor_before_the_log_and_early_stopping(tmp_path):
    from phase4a import config as config_module
    from phase4a.data.dataset import Dataset
    from phase4a.stages import RunDir
    from phase4a.training import make_callbacks

    config = {**config_module.resolve("report"), "collapse_stop": True, "flat_epochs": 3}
    x = np.zeros((4, 8, 8, 6), dtype="float32")
    y = np.arange(4) % 2
    data = Dataset(x, y, x, y, ["a", "b"], ["B2", "B3", "B4", "B8", "B11", "B12"])
    callbacks = make_callbacks(RunDir(tmp_path), config, data)

    def position(kind):
        return next(i for i, callback in enumerate(callbacks) if isinstance(callback, kind))

    monitor = position(dg.CollapseMonitor)
    assert monitor < position(keras.callbacks.CSVLogger)
    assert monitor < position(keras.callbacks.EarlyStopping)
    assert callbacks[monitor].stop_on_collapse and not callbacks[monitor].stop_on_flat
    assert callbacks[monitor].flat_epochs == 3
    assert dg.CollapseMonitor not in [type(cb) for cb in make_callbacks(RunDir(tmp_path), config)]
