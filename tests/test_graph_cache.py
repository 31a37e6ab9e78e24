"""Traced graphs kept on disk: a later model reads them, skips tracing and optimising, and trains to the
same numbers; any change to what a graph depends on traces a new one; a bad cache costs a trace only."""

from __future__ import annotations

from types import SimpleNamespace

import keras
import numpy as np
import pytest

from phase4a import config as config_module
from phase4a.graph_cache import GraphCache, graph_cache_for, graph_settings
from phase4a.models.conv_gradient import use_fast_conv_gradients
from phase4a.models.inference import predict_probabilities
from phase4a.training import build_training_variables

SETTINGS = graph_settings(config_module.DEFAULTS)
RNG = np.random.default_rng(0)
X = RNG.random((21, 4, 4, 2), dtype=np.float32)
Y = RNG.integers(0, 3, 21)
BATCHES = [(X[i : i + 8], Y[i : i + 8]) for i in range(0, 21, 8)]  # 8, 8 and a partial 5


def _model(trainable_conv: bool = True) -> keras.Model:
    """Convolution, BatchNorm (non-trainable statistics) and dropout (a random state) before the head."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((4, 4, 2)),
            keras.layers.Conv2D(4, 3, activation="relu", trainable=trainable_conv),
            keras.layers.BatchNormalization(),
            keras.layers.Flatten(),
            keras.layers.Dropout(0.3),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    build_training_variables(model, SimpleNamespace(X_train=X, y_train=Y))
    return model


def _train(model: keras.Model, cache: GraphCache) -> list[dict[str, float]]:
    """Each batch's loss and accuracy (metrics reset per batch, as ``train_on_batch`` does)."""
    logs = []
    for batch in BATCHES:
        model.reset_metrics()
        step = cache.call(model, "train", model.train_step, batch, relax_batch=True)
        logs.append({key: float(value) for key, value in step.items()})
    return logs


def test_a_later_model_reads_the_optimised_graph_and_trains_to_the_same_numbers(tmp_path):
    first, cold = _model(), GraphCache(tmp_path, SETTINGS)
    traced = _train(first, cold)
    assert (cold.traced, cold.read_optimized) == (1, 0)
    assert len(list(tmp_path.glob("train-*.optimized.pb"))) == 1

    second, warm = _model(), GraphCache(tmp_path, SETTINGS)
    read = _train(second, warm)
    assert (warm.traced, warm.read, warm.read_optimized) == (0, 0, 1)
    assert read == traced
    for a, b in zip(first.get_weights(), second.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)

    keras_own = _model()
    for (x, y), step in zip(BATCHES, traced, strict=True):
        logs = keras_own.train_on_batch(x, y, return_dict=True)
        assert logs["loss"] == pytest.approx(step["loss"], rel=1e-6)


def test_prediction_through_the_cache_equals_model_predict(tmp_path):
    model = _model()
    expected = model.predict(X, verbose=0)
    for _ in range(2):  # traced, then read
        cache = GraphCache(tmp_path, SETTINGS)
        np.testing.assert_allclose(predict_probabilities(model, X, 8, cache), expected, rtol=1e-6, atol=1e-7)
    assert cache.read_optimized == 1


def test_the_key_changes_with_what_the_graph_depends_on_and_only_that():
    import tensorflow as tf

    specs = [tf.TensorSpec([None, 4, 4, 2]), tf.TensorSpec([None], tf.int64)]
    cache = GraphCache("unused", SETTINGS)
    key = cache.key(_model(), "train", specs)
    assert cache.key(_model(), "train", specs) == key  # a new but identical model
    # How long it trains, where the data come from and what fills the weights: not part of a graph.
    real_run = {
        **config_module.DEFAULTS,
        "epochs": 3,
        "data_source": "raster",
        "raster_path": "s2.tif",
        "weights": "none",
    }
    assert GraphCache("unused", graph_settings(real_run)).key(_model(), "train", specs) == key
    assert GraphCache("unused", {**SETTINGS, "fused_adam": False}).key(_model(), "train", specs) != key
    assert cache.key(_model(trainable_conv=False), "train", specs) != key
    patched = _model()
    use_fast_conv_gradients(patched, batch_size=8)  # a method replaced on a layer, no config changed
    assert cache.key(patched, "train", specs) != key
    assert cache.key(_model(), "predict", specs) != key
    assert cache.key(_model(), "train", [specs[0], tf.TensorSpec([None], tf.int32)]) != key


def test_a_damaged_cache_file_is_traced_again_and_replaced(tmp_path):
    expected = _train(_model(), GraphCache(tmp_path, SETTINGS))
    optimized = next(tmp_path.glob("train-*.optimized.pb"))
    optimized.write_bytes(optimized.read_bytes()[:100])  # e.g. a disk that filled up

    cache = GraphCache(tmp_path, SETTINGS)
    assert _train(_model(), cache) == expected
    assert cache.traced == 1
    cache = GraphCache(tmp_path, SETTINGS)
    assert _train(_model(), cache) == expected
    assert cache.read_optimized == 1


def test_a_cache_that_cannot_be_written_costs_a_trace_not_the_run(tmp_path):
    blocked = tmp_path / "not_a_directory"
    blocked.write_text("a file where the cache directory should be")
    expected = _train(_model(), GraphCache(tmp_path / "cache", SETTINGS))
    cache = GraphCache(blocked / "graphs", SETTINGS)
    assert _train(_model(), cache) == expected
    assert cache.traced == 1
    assert blocked.read_text() == "a file where the cache directory should be"


def test_the_least_recently_used_graphs_go_when_the_cache_is_full(tmp_path, monkeypatch):
    import phase4a.graph_cache as graph_cache

    _train(_model(), GraphCache(tmp_path, SETTINGS))  # one graph: three files
    entry_size = sum(path.stat().st_size for path in tmp_path.iterdir())
    monkeypatch.setattr(graph_cache, "MAX_CACHE_BYTES", int(2.5 * entry_size))
    _train(_model(), GraphCache(tmp_path, {**SETTINGS, "seed": 1}))
    _train(_model(), GraphCache(tmp_path, SETTINGS))  # read: now the most recently used
    _train(_model(), GraphCache(tmp_path, {**SETTINGS, "seed": 2}))  # a third graph: one must go
    kept = GraphCache(tmp_path, SETTINGS)
    _train(_model(), kept)
    assert kept.read_optimized == 1
    gone = GraphCache(tmp_path, {**SETTINGS, "seed": 1})
    _train(_model(), gone)
    assert gone.traced == 1
    assert len(list(tmp_path.glob("*.json"))) == 2


@pytest.mark.parametrize(
    "overrides",
    [
        {"graph_cache": False},
        {"distribution_strategy": "mirrored"},
        {"jit_compile": True, "deterministic": False},
    ],
)
def test_no_cache_when_switched_off_or_when_keras_runs_the_step_otherwise(overrides):
    assert graph_cache_for({**config_module.DEFAULTS, **overrides}) is None
    assert graph_cache_for(dict(config_module.DEFAULTS)) is not None


def test_a_rerun_of_step_04_reads_its_graphs_and_trains_to_the_same_numbers(
    prepared_cnn_run, copy_run, tmp_path, monkeypatch, snapshot
):
    from phase4a.io import read_json
    from phase4a.steps import train_transfer

    cache = tmp_path / "graph_cache"
    monkeypatch.setenv("PHASE4A_GRAPH_CACHE", str(cache))
    histories = []
    for name in ("first", "rerun"):
        run = copy_run(prepared_cnn_run, name)
        assert train_transfer.main(["--run-dir", str(run)]) == 0
        epochs = read_json(run / "training_history.json")["epochs"]
        histories.append([{key: value for key, value in epoch.items() if key != "seconds"} for epoch in epochs])
        graphs = {path: stamp for path, stamp in snapshot(cache).items() if path.endswith(".pb")}
        if name == "first":
            written = graphs
            assert any(path.endswith(".optimized.pb") for path in written)
    assert graphs == written  # read: not traced and written again
    assert histories[0] == histories[1]
