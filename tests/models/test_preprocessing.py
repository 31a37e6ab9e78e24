"""Each backbone's preprocessing equals its keras.applications preprocess_input; EfficientNet's is inside."""

from __future__ import annotations

import importlib

import keras
import numpy as np
import pytest

from phase4a.models.backbones import BACKBONES, fold_imagenet_rescaling
from phase4a.models.normalisation import adapt_normalisation
from phase4a.models.preprocessing import rgb_preprocess
from phase4a.models.transfer import build_model

from ..conftest import N_CLASSES, PATCH_SHAPE, make_config, model_parts


@pytest.mark.parametrize("backbone", list(BACKBONES))
def test_layer_matches_keras_preprocess_input(backbone):
    images = np.random.default_rng(1).uniform(0, 255, size=(2, 4, 4, 3)).astype("float32")
    module = importlib.import_module(f"keras.applications.{BACKBONES[backbone].module}")
    expected = module.preprocess_input(images.copy())
    inputs = keras.Input((4, 4, 3))
    layer = keras.Model(inputs, rgb_preprocess(inputs, backbone))
    assert np.allclose(np.asarray(layer(images)), expected, atol=1e-4)


def _upstream(model, inner):
    """What ``model`` feeds its backbone ``inner``."""
    index = [layer.name for layer in model.layers].index(inner.name)
    return keras.Model(model.input, model.layers[index - 1].output)


def test_efficientnet_gets_pixel_range_with_imagenet_preprocessing(backbone_cache, patches):
    """EfficientNet divides by 255 inside; fed [0, 1] reflectance (the report) it sees almost nothing."""
    net = backbone_cache("efficientnetb0")
    imagenet = make_config(backbone="efficientnetb0", input_normalisation="imagenet")
    fixed = build_model(*model_parts(imagenet), net, PATCH_SHAPE, N_CLASSES)
    adapt_normalisation(
        fixed, patches[0], *model_parts(imagenet)
    )  # step 03 sets the statistics from the training split
    report = build_model(*model_parts(make_config(backbone="efficientnetb0")), net, PATCH_SHAPE, N_CLASSES)
    scale = np.abs(np.asarray(_upstream(fixed, net)(patches[0]))).max()
    assert np.abs(np.asarray(_upstream(report, net)(patches[0]))).max() < scale / 100
    assert "rescaling" in [layer.name for layer in net.layers[:3]]  # the rescaling it does itself


def test_fold_keeps_efficientnet_imagenet_function():
    """(x - m) / sqrt(v) / sqrt(s) with v = s**2 (Keras' ImageNet EfficientNet) equals (x - m) / sqrt(v ** 1.5)."""
    std = np.array([0.229, 0.224, 0.225]) * 255
    mean = np.array([0.485, 0.456, 0.406]) * 255
    model = keras.Sequential([keras.Input((3,)), keras.layers.Normalization(axis=-1)])
    model.layers[0].set_weights([mean, std**2, np.array(0)])
    model.layers[0].finalize_state()
    x = np.random.default_rng(2).uniform(0, 255, size=(4, 3)).astype("float32")
    imagenet = (x - mean) / std / np.sqrt(std)
    fold_imagenet_rescaling(model)
    assert np.allclose(np.asarray(model(x)), imagenet, rtol=1e-4)
