"""Fixed-size batch prediction gives Model.predict's outputs for any number of samples."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from phase4a.models.inference import predict_probabilities


@pytest.mark.parametrize("count", [1, 7, 8, 19])
def test_outputs_match_model_predict_in_order(count):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((4, 4, 2)), keras.layers.Conv2D(3, 3), keras.layers.Flatten(), keras.layers.Dense(5, "softmax")]
    )
    x = np.random.default_rng(count).random((count, 4, 4, 2), dtype=np.float32)
    got = predict_probabilities(model, x, batch_size=8)
    assert got.shape == (count, 5)
    np.testing.assert_allclose(got, model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
