"""Input normalisation (config input_normalisation): training statistics only, saved with the model,
and on the imagenet path the stem sees ImageNet's per-channel statistics."""

import json

import keras
import numpy as np
import pytest

from phase4a import config as config_module
from phase4a.data import dataset as dataset_module
from phase4a.errors import ConfigError
from phase4a.io import load_keras_model, save_keras_model
from phase4a.models.normalisation import (
    STANDARDISE_LAYER,
    STEM_MATCH_LAYER,
    adapt_normalisation,
    batchnorm_layers,
    channel_statistics,
    stem_statistics,
)
from phase4a.models.preprocessing import IMAGENET_RGB_MEAN, IMAGENET_RGB_STD
from phase4a.models.transfer import build_model, prediction_copy
from phase4a.steps import modify_architecture

from ..conftest import (
    N_CLASSES,
    PATCH_SHAPE,
    TINY_CNN_OVERRIDES,
    make_config,
    model_parts,
    run_steps,
    untrained_model_of,
)

# Reflectance-like bands with spreads from 0.01 to 0.3, as real Sentinel-2 bands have.
BAND_SCALE = np.array([0.03, 0.05, 0.1, 0.3, 0.2, 0.15], "float32")


def reflectance(n: int, seed: int = 0, shift: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (shift + 0.05 + rng.uniform(0, 1, size=(n, *PATCH_SHAPE)) * BAND_SCALE).astype("float32")


def layer_statistics(model, name: str = STANDARDISE_LAYER):
    layer = model.get_layer(name)
    return np.array(layer.adapt_mean), np.sqrt(np.array(layer.adapt_variance))


def test_auto_standardises_the_simplecnn_and_keeps_the_report_model_unchanged():
    assert config_module.input_normalisation(make_config()) == "none"
    assert config_module.input_normalisation(make_config(model_type="simplecnn")) == "standardise"
    assert config_module.input_normalisation(make_config("simplecnn")) == "standardise"
    assert config_module.input_normalisation(make_config("imagenet_preprocessing")) == "imagenet"
    with pytest.raises(ConfigError, match="input_normalisation imagenet"):
        make_config("simplecnn", input_normalisation="imagenet")
    cnn = build_model(*model_parts(make_config("simplecnn")), None, PATCH_SHAPE, N_CLASSES)
    assert cnn.layers[1].name == STANDARDISE_LAYER and batchnorm_layers(cnn) == 2
    plain = build_model(
        *model_parts(make_config("simplecnn", input_normalisation="none")), None, PATCH_SHAPE, N_CLASSES
    )
    assert not any(isinstance(layer, keras.layers.Normalization) for layer in plain.layers)


def test_report_transfer_model_has_no_normalisation_layer(backbone_cache):
    model = build_model(*model_parts(make_config()), backbone_cache("vgg16"), PATCH_SHAPE, N_CLASSES)
    assert [layer.name for layer in model.layers][:4] == ["patches", "upsample", "band_reduction", "vgg16"]
    assert batchnorm_layers(model) == 0  # VGG16 has no BatchNorm: the diagnosis must not blame it


def test_standardise_uses_the_training_split_only(tmp_path):
    """Step 03 on the same training split with other validation and test data: the same layer."""
    run = run_steps(tmp_path / "run", TINY_CNN_OVERRIDES, 3, tmp_path)
    data = dataset_module.load(run / "data.npz")
    first = untrained_model_of(run)
    mean, std = layer_statistics(first)
    expected_mean, expected_std = channel_statistics(data.X_train)
    np.testing.assert_allclose(mean, expected_mean, rtol=1e-5)
    np.testing.assert_allclose(std, expected_std, rtol=1e-4)
    # Rebuilt as step 04 rebuilds it, the layer applies those statistics (not only holds them).
    stem = stem_statistics(first, data.X_train, *model_parts(config_module.load(run / "config.json")))
    np.testing.assert_allclose(stem["mean"], 0, atol=1e-4)
    np.testing.assert_allclose(stem["std"], 1, atol=1e-3)
    recorded = json.loads((run / "architecture.json").read_text())["normalisation"]
    assert recorded["fitted_on"] == "training split" and recorded["training_samples"] == len(data.X_train)
    # Validation and test patches far from the training ones: nothing may change.
    changed = dataset_module.Dataset(
        X_train=data.X_train,
        y_train=data.y_train,
        X_val=data.X_val * 5 + 1,
        y_val=data.y_val,
        class_names=data.class_names,
        band_names=data.band_names,
        X_test=data.X_val * 3 + 2,
        y_test=data.y_val,
    )
    dataset_module.save(run / "data.npz", changed)
    assert modify_architecture.main(["--run-dir", str(run)]) == 0
    again_mean, again_std = layer_statistics(untrained_model_of(run))
    np.testing.assert_array_equal(again_mean, mean)
    np.testing.assert_array_equal(again_std, std)


def test_saved_model_applies_the_training_statistics(tmp_path):
    config = make_config("simplecnn")
    keras.utils.set_random_seed(3)
    model = build_model(*model_parts(config), None, PATCH_SHAPE, N_CLASSES)
    X_train, raw = reflectance(40), reflectance(16, seed=1)
    record = adapt_normalisation(model, X_train, *model_parts(config))
    np.testing.assert_allclose(record["band_mean"], X_train.reshape(-1, 6).mean(axis=0), rtol=1e-5)
    in_memory = model.predict(raw, verbose=0)
    # Step 04's copy for prediction (weights assigned, not loaded) applies the statistics too.
    np.testing.assert_allclose(prediction_copy(model).predict(raw, verbose=0), in_memory, atol=1e-6)
    save_keras_model(model, tmp_path / "model.keras")
    loaded = load_keras_model(tmp_path / "model.keras", "")
    np.testing.assert_allclose(loaded.predict(raw, verbose=0), in_memory, atol=1e-6)
    np.testing.assert_array_equal(layer_statistics(loaded)[0], layer_statistics(model)[0])
    # The layer really standardises: at the stem each band has mean 0 and std 1 on the training split.
    stem = stem_statistics(model, X_train, *model_parts(config))
    assert stem["entering"] == "conv1" and stem["after_layer"] == STANDARDISE_LAYER
    np.testing.assert_allclose(stem["mean"], 0, atol=1e-4)
    np.testing.assert_allclose(stem["std"], 1, atol=1e-3)


@pytest.mark.parametrize(
    "backbone, adapter",
    [("resnet50", "conv1x1"), ("resnet50", "first_conv"), ("mobilenetv2", "rgb"), ("efficientnetb0", "conv1x1")],
)
def test_imagenet_path_gives_the_stem_imagenets_statistics(backbone_cache, backbone, adapter):
    config = make_config(backbone=backbone, band_adapter=adapter, input_normalisation="imagenet")
    keras.utils.set_random_seed(4)
    model = build_model(*model_parts(config), backbone_cache(backbone), PATCH_SHAPE, N_CLASSES)
    X_train = reflectance(48)
    record = adapt_normalisation(model, X_train, *model_parts(config))
    assert "stem_match" in record and model.get_layer(STEM_MATCH_LAYER) is not None
    stem = stem_statistics(model, X_train, *model_parts(config))
    np.testing.assert_allclose(stem["mean"], stem["imagenet_target_mean"], atol=0.05)
    np.testing.assert_allclose(stem["std"], stem["imagenet_target_std"], rtol=0.01)
    if backbone == "resnet50" and adapter == "conv1x1":
        # caffe: BGR, ImageNet's means subtracted, std in 0-255 units (58.4, 57.1, 57.4 in RGB order).
        np.testing.assert_allclose(stem["imagenet_target_mean"], 0, atol=1e-9)
        np.testing.assert_allclose(stem["imagenet_target_std"], IMAGENET_RGB_STD[::-1])
    if backbone == "efficientnetb0":  # it normalises inside itself: RGB in 0-255 with ImageNet's statistics
        np.testing.assert_allclose(stem["imagenet_target_mean"], IMAGENET_RGB_MEAN)
    # Data the statistics were not fitted on land near, not exactly on, the target: nothing was refitted.
    other = stem_statistics(model, reflectance(48, seed=9, shift=0.02), *model_parts(config))
    assert not np.allclose(other["mean"], stem["mean"], atol=1e-3)
