"""The one seam for speed (phase4a/accel/__init__.py): each switch auto | true | false, plain Keras when
off, and a one-line notice and plain Keras when a library lacks what a speed-up needs."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from phase4a import accel
from phase4a.accel import fused_adam
from phase4a.train.fit import compile_model

from ..conftest import make_config, tiny_transfer_model

SWITCHES = accel.SWITCHES
ALL_OFF = {key: "false" for key in SWITCHES}
ALL_ON = {key: "true" for key in SWITCHES}


@pytest.fixture(autouse=True)
def fresh_notices(monkeypatch):
    """Notices are printed once per process; every test here starts with none printed yet."""
    monkeypatch.setattr(accel, "_noticed", set())


@pytest.fixture
def on_cpu(monkeypatch):
    monkeypatch.setattr(accel, "on_gpu", lambda: False)


@pytest.fixture
def on_gpu(monkeypatch):
    monkeypatch.setattr(accel, "on_gpu", lambda: True)


def small_model() -> keras.Model:
    """Conv2D (the fast gradient), a frozen BatchNormalization (the fused kernel) and a Dense head."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6, 6, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inputs)
    norm = keras.layers.BatchNormalization(name="norm")
    x = norm(x)
    norm.trainable = False
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="head")(x))


def batch(count: int = 8):
    rng = np.random.default_rng(1)
    return rng.normal(size=(count, 6, 6, 3)).astype("float32"), rng.integers(0, 3, count)


def compiled(**switches) -> keras.Model:
    model = small_model()
    compile_model(model, make_config(batch_size=8, **switches))
    return model


def replaced(model: keras.Model) -> dict[str, bool]:
    """Which speed-ups replaced a method of one of the model's Keras objects."""
    return {
        "fast_conv_gradient": "convolution_op" in vars(model.get_layer("conv")),
        "fused_batchnorm": "call" in vars(model.get_layer("norm")),
        "fused_adam": "update_step" in vars(model.optimizer),
    }


def fits_one_batch(model: keras.Model) -> None:
    """Training works: one batch, a finite loss, the trained weights changed."""
    x, y = batch()
    before = [w.copy() for w in model.get_weights()]
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    changed = [not np.array_equal(old, new) for old, new in zip(before, model.get_weights(), strict=True)]
    assert any(changed)


# ------------------------------------------------------------------ auto | true | false


@pytest.mark.parametrize("key", SWITCHES)
def test_each_switch_auto_is_on_without_a_gpu_and_off_on_one(key, monkeypatch):
    for gpu, auto in ((False, True), (True, False)):
        monkeypatch.setattr(accel, "on_gpu", lambda gpu=gpu: gpu)
        assert accel.enabled({key: "auto"}, key) is auto
        assert accel.enabled({key: "true"}, key) is True, "true forces it, GPU or not"
        assert accel.enabled({key: "false"}, key) is False, "false forces it off, GPU or not"
    assert accel.enabled({}, key) is False, "a config without the key is auto (on a GPU here: off)"


def test_auto_on_a_cpu_gives_every_training_speed_up(on_cpu):
    model = compiled()
    assert replaced(model) == {"fast_conv_gradient": True, "fused_batchnorm": True, "fused_adam": True}
    fits_one_batch(model)


def test_auto_on_a_gpu_is_plain_keras(on_gpu, capsys):
    model = compiled()
    assert replaced(model) == {"fast_conv_gradient": False, "fused_batchnorm": False, "fused_adam": False}
    assert accel.feature_cache_plan(tiny_transfer_model(), make_config()) is None
    assert capsys.readouterr().err == "", "a switch left to auto says nothing"
    fits_one_batch(model)


def test_true_forces_each_speed_up_even_on_a_gpu(on_gpu):
    model = compiled(**ALL_ON, deterministic=False)  # deterministic on a GPU keeps Keras' BatchNorm
    assert replaced(model) == {"fast_conv_gradient": True, "fused_batchnorm": True, "fused_adam": True}
    assert accel.feature_cache_plan(tiny_transfer_model(), make_config(**ALL_ON)) is not None


TRAINING = ("fast_conv_gradient", "fused_batchnorm", "fused_adam")


@pytest.mark.parametrize("key", TRAINING)
def test_each_training_switch_alone(key, on_cpu):
    """One switch off leaves the others on; only it on gives only it."""
    assert replaced(compiled(**{key: "false"})) == {name: name != key for name in TRAINING}
    assert replaced(compiled(**{**ALL_OFF, key: "true"})) == {name: name == key for name in TRAINING}


def test_false_everywhere_is_plain_keras(on_cpu, monkeypatch):
    model = compiled(**ALL_OFF)
    config = make_config(**ALL_OFF)
    assert accel.prepare_training(model, config) == {}
    accel.prepare_prediction(model, config)
    assert all("convolution_op" not in vars(layer) for layer in model.layers)
    assert all("call" not in vars(layer) for layer in model.layers)
    assert "update_step" not in vars(model.optimizer)
    assert accel.feature_cache_plan(tiny_transfer_model(), config) is None
    # Prediction is Keras' predict, not calls of one fixed shape.
    x, _ = batch(5)
    calls = []
    predict = model.predict
    monkeypatch.setattr(model, "predict_on_batch", lambda *args: calls.append("fixed") or None)
    monkeypatch.setattr(model, "predict", lambda *args, **kwargs: calls.append("keras") or predict(*args, **kwargs))
    probabilities = accel.predict(model, x, batch_size=8, config=config)
    assert calls == ["keras"] and probabilities.shape == (5, 3)
    fits_one_batch(model)


def test_fixed_shape_prediction_gives_keras_predictions(on_cpu):
    model = small_model()
    x, _ = batch(5)
    fixed = accel.predict(model, x, batch_size=2, config=make_config(fixed_shape_prediction="true"))
    plain = accel.predict(model, x, batch_size=2, config=make_config(fixed_shape_prediction="false"))
    np.testing.assert_allclose(fixed, plain, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ fallbacks: what a library may change


def defining_class(cls: type, name: str) -> type:
    """The class in ``cls``'s MRO that defines ``name`` (delattr on a subclass does not remove it)."""
    return next(klass for klass in cls.__mro__ if name in vars(klass))


def one_notice(capsys) -> str:
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_without_resource_apply_adam_keras_adam_trains(on_cpu, monkeypatch, capsys):
    monkeypatch.delattr(tf.raw_ops, "ResourceApplyAdam", raising=True)
    model = compiled()
    assert one_notice(capsys) == (
        "note: fused_adam off: TensorFlow has no ResourceApplyAdam; Keras' Adam update is used"
    )
    assert replaced(model) == {"fast_conv_gradient": True, "fused_batchnorm": True, "fused_adam": False}
    fits_one_batch(model)


def test_without_conv2d_convolution_op_keras_convolution_gradient_is_used(on_cpu, monkeypatch, capsys):
    # Keras' own Conv2D needs the method to run, so it is only missing while the speed-ups are chosen:
    # a Keras that renamed it would call its new name.
    with monkeypatch.context() as patch:
        patch.delattr(defining_class(keras.layers.Conv2D, "convolution_op"), "convolution_op", raising=True)
        assert not hasattr(keras.layers.Conv2D, "convolution_op")
        model = compiled()
    assert one_notice(capsys) == (
        "note: fast_conv_gradient off: Keras' Conv2D has no convolution_op; Keras' convolution gradient is used"
    )
    assert replaced(model) == {"fast_conv_gradient": False, "fused_batchnorm": True, "fused_adam": True}
    fits_one_batch(model)


def test_without_fused_batch_norm_keras_batchnorm_is_used(on_cpu, monkeypatch, capsys):
    monkeypatch.delattr(tf.compat.v1.nn, "fused_batch_norm", raising=True)
    model = compiled()
    assert one_notice(capsys) == (
        "note: fused_batchnorm off: TensorFlow has no fused_batch_norm; Keras' BatchNormalization is used"
    )
    assert replaced(model) == {"fast_conv_gradient": True, "fused_batchnorm": False, "fused_adam": True}
    accel.prepare_prediction(model, make_config())
    assert "call" not in vars(model.get_layer("norm"))
    assert capsys.readouterr().err == "", "the notice is said once per process"
    fits_one_batch(model)


def test_a_variable_whose_moments_cannot_be_found_by_name_keeps_keras_update(on_cpu, monkeypatch):
    """Paths ``a_b/kernel`` and ``a/b/kernel`` give Keras' moments one name, ``a_b_kernel_momentum``:
    those two layers keep Keras' update, the third (``c``) gets the fused one, and every weight is
    Keras' Adam's to float rounding."""

    def build() -> keras.Model:
        keras.utils.set_random_seed(0)
        inner = keras.Sequential([keras.Input((3,)), keras.layers.Dense(3, name="b")], name="a")
        inputs = keras.Input((3,))
        x = inner(keras.layers.Dense(3, name="a_b")(inputs))
        model = keras.Model(inputs, keras.layers.Dense(4, name="c")(x))
        model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
        return model

    fused_shapes = []
    apply_adam = tf.raw_ops.ResourceApplyAdam

    def counted(**kwargs):
        fused_shapes.append(tuple(kwargs["grad"].shape))
        return apply_adam(**kwargs)

    monkeypatch.setattr(tf.raw_ops, "ResourceApplyAdam", counted)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(32, 3)).astype("float32"), rng.normal(size=(32, 4)).astype("float32")
    weights = {}
    for fused in (False, True):
        model = build()
        if fused:
            assert fused_adam.use_fused_adam(model.optimizer)
        model.fit(x, y, batch_size=8, epochs=2, verbose=0)
        weights[fused] = model.get_weights()
    assert set(fused_shapes) == {(3, 4), (4,)}, "only layer c's kernel and bias are fused"
    for keras_adam, fused in zip(weights[False], weights[True], strict=True):
        np.testing.assert_allclose(fused, keras_adam, rtol=1e-5, atol=1e-7)
