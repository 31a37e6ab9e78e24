"""A model a step saved, handed to a later step of the same process (accel/saved_model.py): only while
its file is unchanged, one model at a time, with the outputs reading the file gives."""

import json

import keras
import numpy as np
import pytest

from phase4a import accel
from phase4a.accel import saved_model
from phase4a.io import save_keras_model

from ..conftest import TINY_CNN_OVERRIDES, make_config, run_steps


@pytest.fixture(autouse=True)
def nothing_kept(monkeypatch):
    monkeypatch.setattr(saved_model, "_last", [])


def small_model() -> keras.Model:
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(keras.layers.Dense(5)(inputs)))


def test_a_kept_model_is_handed_over_only_while_its_file_is_the_one_saved(tmp_path):
    model, path = small_model(), tmp_path / "model.keras"
    save_keras_model(model, path)
    saved_model.keep(model, path)
    assert saved_model.kept(path) is model
    assert saved_model.kept(tmp_path / "." / "model.keras") is model  # the same file by another name
    assert saved_model.kept(tmp_path / "other.keras") is None
    save_keras_model(small_model(), path)  # another model written there (renamed over the old file)
    assert saved_model.kept(path) is None
    saved_model.keep(model, path)
    path.unlink()
    assert saved_model.kept(path) is None


def test_only_the_last_model_is_kept_and_a_taken_one_is_forgotten(tmp_path):
    first, second = small_model(), small_model()
    save_keras_model(first, tmp_path / "first.keras")
    save_keras_model(second, tmp_path / "second.keras")
    saved_model.keep(first, tmp_path / "first.keras")
    saved_model.keep(second, tmp_path / "second.keras")
    assert saved_model.kept(tmp_path / "first.keras") is None  # a sweep's process holds one model
    assert saved_model.take(tmp_path / "second.keras") is second
    assert saved_model.take(tmp_path / "second.keras") is None  # the taker trains it: nobody else gets it


@pytest.mark.parametrize("switch, handed_over", [("true", True), ("false", False)])
def test_load_prediction_model_hands_over_the_kept_model_only_where_the_switch_allows(tmp_path, switch, handed_over):
    config = make_config(reuse_saved_model=switch)
    model, path = small_model(), tmp_path / "model.keras"
    save_keras_model(model, path)
    accel.keep_saved_model(model, path, config)
    loaded = accel.load_prediction_model(path, "re-run step 04", config)
    assert (loaded is model) is handed_over
    x = np.random.default_rng(0).normal(size=(6, 4)).astype("float32")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_runs_give_the_same_results_whether_models_are_handed_over_or_read_back(tmp_path, trained_cnn_run):
    """The SimpleCNN standardises its input (a Normalization layer, whose applied statistics Keras
    derives from its weights): handed over from step 02 to 03, 03 to 04 and 04 to 05, or rebuilt and read."""
    read_back = run_steps(tmp_path / "run", [*TINY_CNN_OVERRIDES, "--reuse_saved_model", "false"], 5, tmp_path)
    handed = json.loads((trained_cnn_run / "evaluation_metrics.json").read_text())
    read = json.loads((read_back / "evaluation_metrics.json").read_text())
    assert handed.pop("config_hash") != read.pop("config_hash")  # the switch is part of the config
    assert handed == read
    assert (trained_cnn_run / "validation_predictions.csv").read_bytes() == (
        read_back / "validation_predictions.csv"
    ).read_bytes()
    without_time = [
        [{key: value for key, value in epoch.items() if key != "seconds"} for epoch in history["epochs"]]
        for history in (json.loads((run / "training_history.json").read_text()) for run in (trained_cnn_run, read_back))
    ]
    assert without_time[0] == without_time[1]
