"""phase4a/io.py: saving a Keras model."""

import logging

import keras
import numpy as np

from phase4a.io import LEGACY_H5_NOTICE, save_keras_model


def test_an_h5_model_is_saved_without_kerass_legacy_notice_and_loads_the_same(tmp_path, caplog):
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))

    with caplog.at_level(logging.WARNING):
        model.save(tmp_path / "plain.h5")
    assert LEGACY_H5_NOTICE in caplog.text  # what Keras logs on its own
    caplog.clear()

    with caplog.at_level(logging.WARNING):
        save_keras_model(model, tmp_path / "model.h5")
        logging.getLogger("absl").warning("a later warning")
    assert LEGACY_H5_NOTICE not in caplog.text
    assert "a later warning" in caplog.text  # the notice is dropped during the save only

    loaded = keras.models.load_model(tmp_path / "model.h5", compile=False)
    for saved, original in zip(loaded.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(saved, original)
    assert {path.name for path in tmp_path.iterdir()} == {"plain.h5", "model.h5"}  # no temporary file left
