"""phase4a/io.py: saving a Keras model."""

import logging
import shutil

import keras
import numpy as np
import pytest

from phase4a import io as io_module
from phase4a.io import LEGACY_H5_NOTICE, save_keras_model, sha256_arrays, write_shared


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


# --- files shared between runs ---------------------------------------------------------------------------


def _write_weights_file(tmp):
    tmp.write_bytes(b"the same weights")


def test_a_shared_file_is_stored_once_and_deleting_a_run_leaves_the_others_whole(tmp_path):
    store = tmp_path / "shared"
    first, second = tmp_path / "a" / "backbone.weights.h5", tmp_path / "b" / "backbone.weights.h5"
    assert write_shared(first, store, "0123456789abcdef0123", _write_weights_file)
    assert write_shared(second, store, "0123456789abcdef0123", lambda tmp: pytest.fail("written twice"))
    stored = store / "backbone-0123456789abcdef.weights.h5"
    assert first.samefile(stored) and second.samefile(stored)
    assert sorted(path.name for path in store.iterdir()) == [stored.name], "no temporary file left"
    first.unlink()
    shutil.rmtree(store)
    assert second.read_bytes() == b"the same weights"


def test_a_shared_file_is_copied_where_the_file_system_cannot_link(tmp_path, monkeypatch):
    def no_links(source, target):
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(io_module.os, "link", no_links)
    path = tmp_path / "run" / "backbone.weights.h5"
    assert not write_shared(path, tmp_path / "shared", "feed", _write_weights_file)
    assert path.read_bytes() == b"the same weights" and path.stat().st_nlink == 1
    assert sorted(path.name for path in path.parent.iterdir()) == ["backbone.weights.h5"]


def test_arrays_hash_by_shape_type_and_content():
    a = np.arange(6, dtype=np.float32)
    assert sha256_arrays([a]) == sha256_arrays([a.copy()])
    assert sha256_arrays([a]) != sha256_arrays([a.reshape(2, 3)])
    assert sha256_arrays([a]) != sha256_arrays([a.astype(np.float64)])
    assert sha256_arrays([a]) != sha256_arrays([a + 1])
