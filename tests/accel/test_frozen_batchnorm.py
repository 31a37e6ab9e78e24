"""Frozen BatchNorm layers run as TensorFlow's fused kernel compute Keras' function and gradients."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from phase4a.accel.frozen_batchnorm import use_fused_frozen_batchnorm
from phase4a.models.backbones import build_architecture
from phase4a.models.transfer import build_model
from phase4a.train.fit import compile_model

from ..conftest import N_CLASSES, PATCH_SHAPE, make_config, model_parts


def outputs_and_gradients(model, x, training: bool):
    with tf.GradientTape() as tape:
        tape.watch(x)
        outputs = model(x, training=training)
        loss = tf.reduce_sum(tf.sin(outputs))  # a non-uniform output gradient
    return [outputs, *tape.gradient(loss, [x, *model.trainable_variables])]


def assert_same_function(model, x, training: bool, expected_layers: int) -> None:
    expected = outputs_and_gradients(model, x, training)
    assert use_fused_frozen_batchnorm(model) == expected_layers
    for want, have in zip(expected, outputs_and_gradients(model, x, training), strict=True):
        np.testing.assert_allclose(have.numpy(), want.numpy(), rtol=1e-4, atol=1e-5)


def small_model(frozen: bool, scale: bool = True, center: bool = True):
    """Conv -> BatchNorm (moving statistics and affine weights far from their initial values) -> Dense."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((5, 5, 3))
    x = keras.layers.Conv2D(4, 3, padding="same")(inputs)
    norm = keras.layers.BatchNormalization(scale=scale, center=center, epsilon=1e-3)
    x = norm(x)
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(x)))
    rng = np.random.default_rng(1)
    if scale:
        norm.gamma.assign(rng.uniform(0.5, 2.0, size=4))
    if center:
        norm.beta.assign(rng.normal(size=4))
    norm.moving_mean.assign(rng.normal(size=4))
    norm.moving_variance.assign(rng.uniform(0.1, 3.0, size=4))
    norm.trainable = not frozen
    return model


@pytest.mark.parametrize("scale, center", [(True, True), (False, True), (True, False)])
@pytest.mark.parametrize("training", [True, False])
def test_frozen_batchnorm_keeps_keras_outputs_and_gradients(scale, center, training):
    x = tf.random.normal((3, 5, 5, 3), seed=4)
    assert_same_function(small_model(frozen=True, scale=scale, center=center), x, training, expected_layers=1)


def test_trainable_batchnorm_keeps_batch_statistics_while_training():
    model = small_model(frozen=False)
    x = tf.random.normal((3, 5, 5, 3), seed=5)
    assert_same_function(model, x, training=True, expected_layers=1)
    moving_mean = model.layers[2].moving_mean.numpy()
    model(x, training=True)
    assert not np.allclose(model.layers[2].moving_mean.numpy(), moving_mean)  # still Keras' training update


def test_report_model_outputs_and_gradients_agree():
    keras.utils.set_random_seed(0)
    model = build_model(
        *model_parts(make_config()), build_architecture("resnet50", (32, 32, 3)), PATCH_SHAPE, N_CLASSES
    )
    # The report freezes ResNet50's first 150 layers: 45 of its 53 BatchNorm layers. Inference mode,
    # since dropout would draw a new mask per call; frozen BatchNorm runs in inference mode anyway.
    x = tf.random.uniform((4, *PATCH_SHAPE), seed=2)
    assert_same_function(model, x, training=False, expected_layers=53)


@pytest.mark.parametrize(
    "deterministic, gpus, fused", [(True, ["GPU:0"], False), (False, ["GPU:0"], True), (True, [], True)]
)
def test_deterministic_training_on_a_gpu_keeps_keras_batchnorm(monkeypatch, deterministic, gpus, fused):
    # Under op determinism TensorFlow raises UnimplementedError for the fused kernel's GPU gradient.
    monkeypatch.setattr(
        tf.config, "list_logical_devices", lambda device_type=None: gpus if device_type == "GPU" else []
    )
    model = small_model(frozen=True)
    # Forced on: left to auto, the speed-up is off on any GPU (not yet measured there; tests/accel/test_seam.py).
    compile_model(model, make_config(deterministic=deterministic, fused_batchnorm="true"))
    assert ("call" in vars(model.layers[2])) is fused


def test_patched_model_saves_and_loads_as_plain_keras(tmp_path):
    model = small_model(frozen=True)
    config_before = [layer.get_config() for layer in model.layers]
    use_fused_frozen_batchnorm(model)
    assert [layer.get_config() for layer in model.layers] == config_before
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert all("call" not in vars(layer) for layer in loaded.layers)
    x = np.random.default_rng(0).normal(size=(2, 5, 5, 3)).astype("float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
