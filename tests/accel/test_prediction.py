"""Batch prediction gives Model.predict's outputs for any number of samples, with one batch shape."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

from phase4a.accel.prediction import TRAINING_BATCHES_PER_CALL, predict_probabilities


def _model():
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [keras.Input((4, 4, 2)), keras.layers.Conv2D(3, 3), keras.layers.Flatten(), keras.layers.Dense(5, "softmax")]
    )


@pytest.mark.parametrize("count", [1, 7, 8, 19, 40, 70])
def test_outputs_match_model_predict_in_order(count):
    model = _model()
    x = np.random.default_rng(count).random((count, 4, 4, 2), dtype=np.float32)
    got = predict_probabilities(model, x, batch_size=8)
    assert got.shape == (count, 5)
    np.testing.assert_allclose(got, model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("count", [75, 300])
def test_a_small_split_is_one_call_and_a_large_one_calls_of_one_size(count, monkeypatch):
    """The report's 75 validation patches in one call; more than the limit in equal calls."""
    model = _model()
    shapes = []
    predict = model.predict_on_batch
    monkeypatch.setattr(model, "predict_on_batch", lambda batch: shapes.append(len(batch)) or predict(batch))
    x = np.zeros((count, 4, 4, 2), dtype=np.float32)
    assert len(predict_probabilities(model, x, batch_size=32)) == count
    size = min(count, TRAINING_BATCHES_PER_CALL * 32)
    assert shapes == [size] * math.ceil(count / size)
    assert len(shapes) == (1 if count == 75 else 3)
