"""Adam in TensorFlow's fused kernel updates weights as Keras' own does, and saves as plain Adam."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from phase4a.accel.fused_adam import use_fused_adam


def adam_run(fused: bool, steps: int = 10) -> list[np.ndarray]:
    """The weight and Adam's state after ``steps`` updates from the same gradients and decaying rate."""
    weight = keras.Variable(np.random.default_rng(0).normal(size=(40, 30)).astype("float32"))
    optimizer = keras.optimizers.Adam(learning_rate=0.05)
    optimizer.build([weight])
    if fused:
        assert use_fused_adam(optimizer)
    update = tf.function(lambda gradient: optimizer.apply_gradients([(gradient, weight)]))
    rng = np.random.default_rng(1)
    for step in range(steps):
        optimizer.learning_rate = 0.05 / (step + 1)
        update(tf.constant(rng.normal(size=(40, 30)).astype("float32")))
    return [weight.numpy(), *(variable.numpy() for variable in optimizer.variables)]


def test_fused_update_matches_keras_adam_to_float_rounding():
    keras_adam, fused = adam_run(False), adam_run(True)
    assert len(fused) == len(keras_adam) == 5  # weight, iterations, learning rate, m, v
    for want, have in zip(keras_adam, fused):
        np.testing.assert_allclose(have, want, rtol=1e-6, atol=2e-6)


def test_fused_model_trains_and_saves_a_plain_adam(tmp_path):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6, 6, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(x)))
    model.compile(optimizer=keras.optimizers.Adam(), loss="sparse_categorical_crossentropy")
    assert use_fused_adam(model.optimizer)
    rng = np.random.default_rng(1)
    x_train, y_train = rng.normal(size=(40, 6, 6, 3)).astype("float32"), rng.integers(0, 3, size=40)
    before = model.get_weights()
    model.fit(x_train, y_train, batch_size=8, epochs=2, verbose=0)
    assert all(not np.array_equal(old, new) for old, new in zip(before, model.get_weights()))
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert type(loaded.optimizer) is keras.optimizers.Adam
    assert "update_step" not in vars(loaded.optimizer)
    assert int(loaded.optimizer.iterations.numpy()) == 10


@pytest.mark.parametrize(
    "optimizer", [keras.optimizers.Adam(amsgrad=True), keras.optimizers.SGD(), keras.optimizers.AdamW()]
)
def test_only_plain_adam_is_fused(optimizer):
    assert not use_fused_adam(optimizer)
    assert "update_step" not in vars(optimizer)
