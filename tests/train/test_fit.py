"""Behaviour of the speed features (issue 7): config keys, tf.data input, XLA flag, feature cache,
distribution strategies. No timing assertions; the figures come from benchmarks/."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path
from types import SimpleNamespace

import keras
import numpy as np
import pytest

from phase4a import config as config_module
from phase4a import distribute, feature_cache
from phase4a.errors import ConfigError
from phase4a.stages import RunDir
from phase4a.training import build_training_variables, compile_model, make_callbacks, make_datasets

ROOT = Path(__file__).resolve().parents[1]


def small_config(**overrides):
    config = dict(config_module.DEFAULTS)
    config.update(batch_size=8, epochs=2, learning_rate=1e-2, preset="test")
    config.update(overrides)
    return config


def tiny_data(n_train=24, n_val=10, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return SimpleNamespace(
        X_train=rng.random((n_train, 4, 4, 2), dtype=np.float32),
        y_train=rng.integers(0, classes, n_train),
        X_val=rng.random((n_val, 4, 4, 2), dtype=np.float32),
        y_val=rng.integers(0, classes, n_val),
        class_names=[f"c{i}" for i in range(classes)],
    )


def tiny_transfer_model(adapter_trainable=False, backbone_trainable=False, random_front=False, classes=3):
    """The step-03 shape in miniature: upsample, 1x1 adapter, nested backbone with BN, GAP, head."""
    keras.utils.set_random_seed(1)
    b_in = keras.Input((8, 8, 3))
    b = keras.layers.Conv2D(4, 3, padding="same", name="b_conv")(b_in)
    b = keras.layers.BatchNormalization(name="b_bn")(b)
    backbone = keras.Model(b_in, keras.layers.ReLU()(b), name="tiny_backbone")
    for layer in backbone.layers:
        layer.trainable = backbone_trainable
    inputs = keras.Input((4, 4, 2), name="patches")
    x = keras.layers.UpSampling2D(2, name="upsample")(inputs)
    if random_front:
        x = keras.layers.GaussianNoise(0.1, name="noise")(x)
    adapter = keras.layers.Conv2D(3, 1, name="band_reduction")
    x = adapter(x)
    adapter.trainable = adapter_trainable
    x = backbone(x)
    x = keras.layers.GlobalAveragePooling2D(name="global_pool")(x)
    x = keras.layers.Dense(8, activation="relu", name="head_dense")(x)
    x = keras.layers.Dropout(0.3, name="head_dropout")(x)
    outputs = keras.layers.Dense(classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs)


# --- config keys ---------------------------------------------------------------------------------


def test_performance_keys_have_defaults_and_are_validated():
    config = config_module.resolve("report", {"distribution_strategy": "mirrored", "jit_compile": "false"})
    assert config["distribution_strategy"] == "mirrored" and config["jit_compile"] is False
    assert config_module.DEFAULTS["distribution_strategy"] == "default"
    assert config_module.DEFAULTS["cache_features"] is True
    with pytest.raises(ConfigError, match="distribution_strategy"):
        config_module.resolve("report", {"distribution_strategy": "tpu"})
    with pytest.raises(ConfigError, match="intra_op_threads"):
        config_module.resolve("report", {"intra_op_threads": "-1"})


def test_compile_model_passes_jit_compile():
    model = tiny_transfer_model()
    compile_model(model, small_config(jit_compile=True, deterministic=False))
    assert model.jit_compile is True
    # Keras runs no XLA under op determinism; the config asks for it only where it can take effect.
    compile_model(model, small_config(jit_compile=True, deterministic=True))
    assert model.jit_compile is False
    compile_model(model, small_config(jit_compile=False))
    assert model.jit_compile is False


def test_training_variables_are_built_before_fit_without_touching_weights_or_metrics():
    model = tiny_transfer_model(adapter_trainable=True)
    compile_model(model, small_config())
    weights = [w.numpy().copy() for w in model.weights]
    build_training_variables(model, tiny_data())
    assert model.optimizer.built  # so fit's first trace creates no variables and runs once
    assert all(np.array_equal(before, w.numpy()) for before, w in zip(weights, model.weights, strict=True))
    assert all(float(v.numpy()) == 0 for metric in model.metrics for v in metric.variables)


def test_step_01_does_not_start_tensorflow(tmp_path):
    # Step 01 only reads and writes arrays: importing TensorFlow would cost it 3-5 s for nothing.
    script = (
        "import sys; from phase4a.steps.setup_config import main; "
        f"code = main(['--run-dir', {str(tmp_path)!r}, '--weights', 'none']); "
        "sys.exit(code or ('tensorflow' in sys.modules and 3))"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "data.npz").is_file()


def test_exit_step_skips_teardown_but_keeps_output_and_exit_code():
    script = (
        "import tensorflow, sys; from phase4a.cli import exit_step; "
        "print('written'); print('warned', file=sys.stderr); exit_step(3)"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 3
    assert done.stdout.strip() == "written" and done.stderr.strip().endswith("warned")


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


# --- feature cache -------------------------------------------------------------------------------


def test_cache_plan_needs_everything_up_to_the_backbone_frozen():
    assert feature_cache.plan_cache(tiny_transfer_model(adapter_trainable=True)) is None
    assert feature_cache.plan_cache(tiny_transfer_model(backbone_trainable=True)) is None
    assert feature_cache.plan_cache(tiny_transfer_model(random_front=True)) is None
    plan = feature_cache.plan_cache(tiny_transfer_model())
    assert plan is not None and plan.backbone == "tiny_backbone"
    assert plan.frozen_layers[-1] == "global_pool"  # weight-free layers after the backbone join the cut
    assert plan.head_layers == ["head_dense", "head_dropout", "predictions"]


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
    _, info = feature_cache.fit_with_cached_features(model, data, config, callbacks, plan, verbose=0)
    assert info["used"] and info["feature_shape"] == [4]
    for before, after in zip(frozen_before, model.get_layer("tiny_backbone").get_weights()):
        assert np.array_equal(before, after)  # BN moving statistics included: inference mode
    assert not np.array_equal(head_before, model.get_layer("head_dense").get_weights()[0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Keras warns when a saved optimizer does not fit the model
        saved = keras.models.load_model(run.path("best_checkpoint"))
    assert saved.input_shape[1:] == data.X_train.shape[1:]  # the full model, not the head
    assert int(saved.optimizer.iterations) > 0, "the checkpoint holds the optimizer that trained the head"
    assert len(saved.layers) == len(model.layers)
    extractor, head = feature_cache.split_model(model, plan)
    via_cache = head.predict(extractor.predict(data.X_val, verbose=0), verbose=0)
    np.testing.assert_allclose(model.predict(data.X_val, verbose=0), via_cache, rtol=1e-5, atol=1e-6)


def test_cached_training_has_the_losses_of_training_the_full_model(tmp_path):
    """Several batches per epoch (the cached head runs an epoch's batches in one call), the same numbers."""
    from phase4a.training import fit, history_records

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
            feature_cache.fit_with_cached_features(model, data, config, callbacks, feature_cache.plan_cache(model), 0)
        else:
            fit(model, data, config, callbacks, verbose=0)
        losses[cached] = [(e["loss"], e["val_loss"]) for e in history_records(run.path("training_log"))]
    assert len(losses[True]) == 3
    np.testing.assert_allclose(losses[True], losses[False], rtol=1e-5)


# --- distribution --------------------------------------------------------------------------------


def test_default_strategy_has_one_replica():
    strategy = distribute.make_strategy("default")
    info = distribute.describe(small_config(batch_size=16), strategy)
    assert info["replicas"] == 1 and info["global_batch_size"] == 16
    with pytest.raises(ValueError, match="unknown distribution_strategy"):
        distribute.make_strategy("parameter_server")


MIRRORED_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    from phase4a import config as config_module, distribute
    from phase4a.training import compile_model, fit
    from types import SimpleNamespace

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
    print("RESULT " + json.dumps(info))
    """
)


def test_mirrored_strategy_on_two_logical_cpus_trains_with_the_global_batch():
    # Logical devices must be configured before TensorFlow initialises: a fresh process.
    done = subprocess.run(
        [sys.executable, "-c", MIRRORED_SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))
    info = json.loads(line[len("RESULT ") :])
    assert info["strategy_class"] == "MirroredStrategy"
    assert info["replicas"] == 2
    assert info["global_batch_size"] == 8
    assert info["epochs"] == 1


def test_keras_saving_reuses_its_skipsets_and_saves_the_same_weights(tmp_path):
    from keras.src.saving.saving_lib import get_attr_skipset

    from phase4a.io import cache_keras_saving_skipsets

    keras.backend.clear_session()
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Dense(3)(inputs)))
    model.save_weights(tmp_path / "before.weights.h5")
    # Keras 3.15 builds the set anew on every call; once a Keras release caches it, the workaround can go.
    assert get_attr_skipset("Layer") is not get_attr_skipset("Layer")

    cache_keras_saving_skipsets()
    assert get_attr_skipset("Layer") is get_attr_skipset("Layer")
    model.save_weights(tmp_path / "after.weights.h5")
    restored = keras.models.clone_model(model)
    restored.load_weights(tmp_path / "after.weights.h5")
    for saved, original in zip(restored.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(saved, original)
    restored.load_weights(tmp_path / "before.weights.h5")  # files from before the cache still load
