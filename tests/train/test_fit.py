"""Compiling and fitting (phase4a/train/fit.py): the XLA flag, variables built before the first trace,
the tf.data input, class weights and augmentation, training on cached features, and fit under a
distribution strategy. No timing assertions; the figures come from benchmarks/."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from phase4a import config as config_module
from phase4a.accel import feature_cache
from phase4a.data.dataset import Dataset
from phase4a.paths import PROJECT_ROOT
from phase4a.stages import RunDir
from phase4a.train.augmentation import make_augment
from phase4a.train.callbacks import BestCheckpoint, make_callbacks
from phase4a.train.collapse import CollapseMonitor
from phase4a.train.fit import (
    build_training_variables,
    class_weight_map,
    compile_model,
    fit,
    fit_with_cached_features,
    keras_validation,
    make_datasets,
    needs_full_model_fit,
)
from phase4a.train.resume import apply_changing_weights, changing_weights, history_records

from ..conftest import make_config, tiny_transfer_model


def small_config(**overrides):
    config = dict(config_module.DEFAULTS)
    config.update(batch_size=8, epochs=2, learning_rate=1e-2, preset="test")
    config.update(overrides)
    return config


def tiny_data(n_train=24, n_val=10, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return Dataset(
        X_train=rng.random((n_train, 4, 4, 2), dtype=np.float32),
        y_train=rng.integers(0, classes, n_train),
        X_val=rng.random((n_val, 4, 4, 2), dtype=np.float32),
        y_val=rng.integers(0, classes, n_val),
        class_names=[f"c{i}" for i in range(classes)],
        band_names=["b1", "b2"],
    )


# --- compile and fit ------------------------------------------------------------------------------


def test_compile_model_asks_for_xla_only_where_it_takes_effect():
    # Keras runs no XLA under op determinism; the config asks for it only where it can take effect.
    # XLA on (jit_compile true, deterministic false) needs a process without op determinism: see
    # test_in_a_fresh_process_xla_and_the_mirrored_strategy_take_effect.
    model = tiny_transfer_model()
    compile_model(model, small_config(jit_compile=True, deterministic=True))
    assert model.jit_compile is False
    compile_model(model, small_config(jit_compile=False, deterministic=False))
    assert model.jit_compile is False


def test_training_variables_are_built_before_fit_without_touching_weights_or_metrics():
    model = tiny_transfer_model(adapter_trainable=True)
    compile_model(model, small_config())
    weights = [w.numpy().copy() for w in model.weights]
    build_training_variables(model, tiny_data())
    assert model.optimizer.built  # so fit's first trace creates no variables and runs once
    assert all(np.array_equal(before, w.numpy()) for before, w in zip(weights, model.weights, strict=True))
    assert all(float(v.numpy()) == 0 for metric in model.metrics for v in metric.variables)


# --- input pipeline ------------------------------------------------------------------------------


def test_make_datasets_batches_everything_and_shuffles_reproducibly():
    data = tiny_data()
    keras.utils.set_random_seed(5)  # as seed_everything does in every step
    train, val = make_datasets(data.X_train, data.y_train, data.X_val, data.y_val, batch_size=8, seed=3)
    epoch1 = [y.numpy() for _, y in train]
    assert [len(y) for y in epoch1] == [8, 8, 8]
    assert sum(int(y.shape[0]) for _, y in val) == len(data.y_val)
    first = np.concatenate(epoch1)
    assert sorted(first) == sorted(data.y_train)  # every sample once per epoch
    keras.utils.set_random_seed(5)
    again, _ = make_datasets(data.X_train, data.y_train, data.X_val, data.y_val, batch_size=8, seed=3)
    assert np.array_equal(first, np.concatenate([y.numpy() for _, y in again]))
    # The validation split keeps its order (predictions line up with labels).
    assert np.array_equal(np.concatenate([y.numpy() for _, y in val]), data.y_val)


def test_balanced_class_weights_equalise_classes():
    y = np.array([0] * 6 + [1] * 2 + [2] * 2)
    weights = class_weight_map(y, 3, "balanced")
    assert weights == pytest.approx({0: 10 / 18, 1: 10 / 6, 2: 10 / 6})
    # Every class then weighs the same in the loss: count x weight is n / classes for each.
    assert {c: np.sum(y == c) * w for c, w in weights.items()} == pytest.approx({0: 10 / 3, 1: 10 / 3, 2: 10 / 3})
    assert class_weight_map(y, 3, "none") is None
    assert needs_full_model_fit(make_config("augmented")) and not needs_full_model_fit(make_config())


def test_augmentation_touches_the_training_split_only(patches):
    X, y = patches
    train, val = make_datasets(X, y, X, y, batch_size=8, seed=0, augment=make_augment(0.05))
    augmented = np.concatenate([batch.numpy() for batch, _ in train])
    assert augmented.shape == X.shape
    for patch in augmented:  # a flipped/rotated original, every band scaled by one factor in [0.95, 1.05]
        factors = [np.sort(patch.ravel()) / np.sort(x.ravel()) for x in X]
        assert any(np.allclose(f, f[0], rtol=1e-4) and 0.95 <= f[0] <= 1.05 for f in factors)
    assert not np.allclose(np.sort(augmented.ravel()), np.sort(X.ravel()))
    assert np.array_equal(np.concatenate([batch.numpy() for batch, _ in val]), X)


def test_fit_validates_through_the_collapse_monitor_only_when_there_is_one():
    data = tiny_data()
    monitor = CollapseMonitor(data.X_val, data.y_val, 3)
    assert keras_validation("val", [keras.callbacks.History(), monitor]) is None
    assert keras_validation("val", [keras.callbacks.History()]) == "val"


# --- training on cached features -------------------------------------------------------------------------------


def test_cached_training_trains_the_head_of_the_full_model_and_saves_the_full_model(tmp_path):
    data = tiny_data()
    config = small_config(jit_compile=False, epochs=2)
    model = tiny_transfer_model()
    compile_model(model, config)
    frozen_before = [w.copy() for w in model.get_layer("tiny_backbone").get_weights()]
    head_before = model.get_layer("head_dense").get_weights()[0].copy()
    run = RunDir(tmp_path)
    callbacks = make_callbacks(run, config, data)
    plan = feature_cache.plan_cache(model)
    _, info = fit_with_cached_features(model, data, config, callbacks, plan, verbose=0)
    assert info["used"] and info["feature_shape"] == [4]
    for before, after in zip(frozen_before, model.get_layer("tiny_backbone").get_weights()):
        assert np.array_equal(before, after)  # BN moving statistics included: inference mode
    assert not np.array_equal(head_before, model.get_layer("head_dense").get_weights()[0])
    # The checkpoint holds the full model's trained weights (the head's, by their place in the full
    # model), from the best epoch.
    checkpoint = next(cb for cb in callbacks if isinstance(cb, BestCheckpoint)).path
    with np.load(checkpoint) as stored:
        positions = stored["positions"].tolist()
    assert positions == changing_weights(model) and len(positions) < len(model.weights)
    accuracy = [epoch["val_accuracy"] for epoch in history_records(run.path("training_log"))]
    best_epoch = accuracy.index(max(accuracy))
    assert apply_changing_weights(checkpoint, model) == best_epoch
    extractor, head = feature_cache.split_model(model, plan)
    via_cache = head.predict(extractor.predict(data.X_val, verbose=0), verbose=0)
    np.testing.assert_allclose(model.predict(data.X_val, verbose=0), via_cache, rtol=1e-5, atol=1e-6)


def test_cached_training_has_the_losses_of_training_the_full_model(tmp_path):
    """Several batches per epoch (the cached head runs an epoch's batches in one call), the same numbers."""
    data = tiny_data(n_train=40)
    config = small_config(jit_compile=False, epochs=3)
    losses = {}
    for cached in (False, True):
        run = RunDir(tmp_path / f"cached_{cached}")
        model = tiny_transfer_model()
        compile_model(model, config)
        keras.utils.set_random_seed(config["seed"])
        callbacks = make_callbacks(run, config, data)
        if cached:
            fit_with_cached_features(model, data, config, callbacks, feature_cache.plan_cache(model), 0)
        else:
            fit(model, data, config, callbacks, verbose=0)
        losses[cached] = [(e["loss"], e["val_loss"]) for e in history_records(run.path("training_log"))]
    assert len(losses[True]) == 3
    np.testing.assert_allclose(losses[True], losses[False], rtol=1e-5)


# --- in a fresh process ----------------------------------------------------------------------------

FRESH_PROCESS_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    from phase4a import config as config_module
    from phase4a.train import distribute
    from phase4a.train.fit import compile_model, fit
    from types import SimpleNamespace

    # Without op determinism (no step has run in this process), jit_compile takes effect.
    xla = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
    compile_model(xla, dict(config_module.DEFAULTS, jit_compile=True, deterministic=False, preset="test"))
    plain = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
    compile_model(plain, dict(config_module.DEFAULTS, jit_compile=True, deterministic=True, preset="test"))

    config = dict(config_module.DEFAULTS, batch_size=4, epochs=1, jit_compile=False,
                  distribution_strategy="mirrored", preset="test")
    strategy = distribute.make_strategy(config["distribution_strategy"])
    info = distribute.describe(config, strategy)
    rng = np.random.default_rng(0)
    data = SimpleNamespace(X_train=rng.random((32, 3), dtype=np.float32), y_train=rng.integers(0, 2, 32),
                           X_val=rng.random((8, 3), dtype=np.float32), y_val=rng.integers(0, 2, 8),
                           class_names=["a", "b"])
    with strategy.scope():
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
        compile_model(model, config)
    history = fit(model, data, config, [], verbose=0, global_batch_size=info["global_batch_size"])
    info["epochs"] = len(history.history["loss"])
    info["variable_devices"] = len(model.weights[0].values) if hasattr(model.weights[0], "values") else 1
    info["xla"] = [xla.jit_compile, plain.jit_compile]
    print("RESULT " + json.dumps(info))
    """
)


def test_in_a_fresh_process_xla_and_the_mirrored_strategy_take_effect():
    """Logical devices must be configured before TensorFlow initialises, and op determinism, which the
    steps run in this process switch on for good, keeps Keras from XLA: both need a fresh process."""
    done = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS_SCRIPT], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))
    info = json.loads(line[len("RESULT ") :])
    assert info["strategy_class"] == "MirroredStrategy"
    assert info["replicas"] == 2
    assert info["global_batch_size"] == 8
    assert info["epochs"] == 1
    assert info["xla"] == [True, False], "jit_compile takes effect unless deterministic kernels are on"
