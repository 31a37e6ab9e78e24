"""The fast Conv2D input gradient equals TensorFlow's, and a patched model still saves as plain Keras."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from phase4a.accel.conv_gradient import conv2d, use_fast_conv_gradients
from phase4a.models.backbones import build_architecture
from phase4a.models.transfer import build_model

from ..conftest import N_CLASSES, PATCH_SHAPE, make_config, model_parts


def gradients(convolve, x, kernel):
    with tf.GradientTape() as tape:
        tape.watch([x, kernel])
        y = convolve(x, kernel)
        loss = tf.reduce_sum(y * tf.cos(y))  # a non-uniform output gradient
    return tape.gradient(loss, [x, kernel])


@pytest.mark.parametrize(
    "side, kernel_size, stride, padding",
    [
        (8, 3, 1, "SAME"),
        (1, 3, 1, "SAME"),  # ResNet50's last stage at 32x32 input: a 3x3 kernel on a 1x1 map
        (2, 1, 1, "VALID"),
        (5, 2, 1, "SAME"),  # even kernel: SAME pads more after than before
        (7, 3, 2, "SAME"),  # odd side, strided
        (6, 4, 3, "SAME"),
        (9, 7, 2, "VALID"),  # ResNet's stem shape
        (8, 1, 2, "VALID"),
    ],
)
def test_conv2d_gradients_match_tensorflow(side, kernel_size, stride, padding):
    rng = np.random.default_rng(side * 100 + kernel_size * 10 + stride)
    x = tf.constant(rng.normal(size=(3, side, side, 4)), tf.float32)
    kernel = tf.constant(rng.normal(size=(kernel_size, kernel_size, 4, 5)), tf.float32)
    expected = gradients(lambda x, k: tf.nn.conv2d(x, k, stride, padding), x, kernel)
    got = gradients(lambda x, k: conv2d(x, k, (stride, stride), padding, batch_size=3), x, kernel)
    for want, have in zip(expected, got):
        np.testing.assert_allclose(have.numpy(), want.numpy(), rtol=1e-4, atol=1e-4)


def test_centre_tap_gradients_match_tensorflow_on_a_one_pixel_map():
    rng = np.random.default_rng(5)
    x = tf.constant(rng.normal(size=(3, 1, 1, 4)), tf.float32)
    kernel = tf.constant(rng.normal(size=(3, 3, 4, 5)), tf.float32)
    expected = gradients(lambda x, k: tf.nn.conv2d(x, k, 1, "SAME"), x, kernel)
    got = gradients(lambda x, k: conv2d(x, k, (1, 1), "SAME", batch_size=3, centre_tap=True), x, kernel)
    for want, have in zip(expected, got):
        np.testing.assert_allclose(have.numpy(), want.numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("batch_size", [1, 64])  # 4 or 256 pixels against 16 output channels
def test_pointwise_gradients_match_tensorflow_in_either_matmul_layout(batch_size):
    # Traced with an unknown batch, as Keras traces fit's step, so batch_size picks the layout.
    rng = np.random.default_rng(batch_size)
    x = tf.constant(rng.normal(size=(6, 2, 2, 4)), tf.float32)
    kernel = tf.constant(rng.normal(size=(1, 1, 4, 16)), tf.float32)
    signature = [tf.TensorSpec([None, 2, 2, 4]), tf.TensorSpec([1, 1, 4, 16])]
    expected = tf.function(lambda x, k: gradients(lambda x, k: tf.nn.conv2d(x, k, 1, "VALID"), x, k), signature)
    got = tf.function(
        lambda x, k: gradients(lambda x, k: conv2d(x, k, (1, 1), "VALID", batch_size=batch_size), x, k), signature
    )
    for want, have in zip(expected(x, kernel), got(x, kernel)):
        np.testing.assert_allclose(have.numpy(), want.numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kernel_size, side, centre_tap", [(3, 6, False), (1, 4, False), (3, 1, True)])
def test_frozen_kernel_gets_no_gradient_and_the_same_input_gradient(kernel_size, side, centre_tap):
    rng = np.random.default_rng(kernel_size + side)
    x = tf.constant(rng.normal(size=(3, side, side, 4)), tf.float32)
    kernel = tf.constant(rng.normal(size=(kernel_size, kernel_size, 4, 5)), tf.float32)
    expected = gradients(lambda x, k: tf.nn.conv2d(x, k, 1, "SAME"), x, kernel)
    padding = "VALID" if centre_tap else "SAME"
    dx, dk = gradients(
        lambda x, k: conv2d(x, k, (1, 1), padding, 3, centre_tap=centre_tap, kernel_gradient=False), x, kernel
    )
    assert dk is None
    np.testing.assert_allclose(dx.numpy(), expected[0].numpy(), rtol=1e-4, atol=1e-4)


def small_convnet():
    inputs = keras.Input((9, 9, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.Conv2D(6, 1, strides=2)(x)  # a strided 1x1 shortcut: slice, then convolve
    x = keras.layers.Conv2D(6, 3, strides=2, padding="same")(x)  # strided 3x3: TensorFlow's own gradient
    x = keras.layers.Conv2D(6, 3, dilation_rate=2, padding="same")(x)  # dilated: TensorFlow's own
    outputs = keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(x))
    return keras.Model(inputs, outputs)


def model_gradients(model, x):
    with tf.GradientTape() as tape:
        tape.watch(x)
        # Inference mode: dropout would draw a new mask per call, and batch statistics of two
        # samples on a 1x1 map make BatchNorm's gradient ill-conditioned; the convolutions are the same.
        loss = tf.reduce_sum(tf.sin(model(x, training=False)))
    return tape.gradient(loss, [x, *model.trainable_variables])


def assert_same_gradients(model, x) -> int:
    expected = model_gradients(model, x)
    patched = use_fast_conv_gradients(model, batch_size=len(x))
    for want, have in zip(expected, model_gradients(model, x), strict=True):
        np.testing.assert_allclose(have.numpy(), want.numpy(), rtol=1e-3, atol=1e-5)
    return patched


def test_only_eligible_layers_are_patched_and_gradients_agree():
    keras.utils.set_random_seed(0)
    x = tf.random.normal((2, 9, 9, 3), seed=1)
    assert assert_same_gradients(small_convnet(), x) == 2


def test_frozen_layers_pass_the_input_gradient_and_train_nothing():
    keras.utils.set_random_seed(0)
    model = small_convnet()
    frozen = model.layers[1]  # the first 3x3 convolution, whose kernel then needs no gradient
    frozen.trainable = False
    x = tf.random.normal((2, 9, 9, 3), seed=1)
    assert assert_same_gradients(model, x) == 2
    with tf.GradientTape() as tape:
        tape.watch(frozen.kernel.value)  # even when asked for: its kernel gradient is never built
        loss = tf.reduce_sum(model(x, training=False))
    assert tape.gradient(loss, frozen.kernel.value) is None


def test_odd_kernel_on_a_one_pixel_map_uses_its_centre_tap_with_the_same_gradients():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((1, 1, 4))
    x = keras.layers.Conv2D(5, 3, padding="same")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(x)))
    assert assert_same_gradients(model, tf.random.normal((3, 1, 1, 4), seed=3)) == 1


def test_report_model_gradients_agree_from_loss_to_band_adapter():
    keras.utils.set_random_seed(0)
    config = make_config()
    model = build_model(*model_parts(config), build_architecture("resnet50", (32, 32, 3)), PATCH_SHAPE, N_CLASSES)
    x = tf.random.uniform((2, *PATCH_SHAPE), seed=2)
    # Every ResNet50 convolution but the 7x7 stem, and the 1x1 band adapter in front of it.
    assert assert_same_gradients(model, x) == 53 - 1 + 1


def test_patched_model_saves_and_loads_as_plain_keras(tmp_path):
    keras.utils.set_random_seed(0)
    model = small_convnet()
    config_before = [layer.get_config() for layer in model.layers]
    use_fast_conv_gradients(model, batch_size=2)
    assert [layer.get_config() for layer in model.layers] == config_before
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert all("convolution_op" not in vars(layer) for layer in loaded.layers)
    x = np.random.default_rng(0).normal(size=(2, 9, 9, 3)).astype("float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
