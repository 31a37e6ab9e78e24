"""Band adapters: true-colour selection, and the first-conv adaptation's documented RGB response."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from phase4a.config import REPORT_BAND_NAMES
from phase4a.errors import ConfigError
from phase4a.models.adapters import first_conv_sources, true_colour_selection, widen_first_conv
from phase4a.models.backbones import BACKBONES, weighted_layers

from ..conftest import make_config


def test_true_colour_selection_picks_b4_b3_b2(patches):
    inputs = keras.Input((8, 8, 6))
    model = keras.Model(inputs, true_colour_selection(inputs, tuple(REPORT_BAND_NAMES)))
    x = patches[0]
    assert np.allclose(np.asarray(model(x)), x[..., [2, 1, 0]])  # bands B2 B3 B4 B8 B11 B12


def test_missing_true_colour_band_is_a_config_error():
    with pytest.raises(ConfigError, match="B4"):
        make_config(band_adapter="rgb", band_names="B2,B3,B5,B8,B11,B12")


@pytest.mark.parametrize(
    ("backbone", "expected"), [("resnet50", [0, 1, 2, 2, 1, 0]), ("mobilenetv2", [2, 1, 0, 0, 1, 2])]
)
def test_sources_follow_backbone_channel_order(backbone, expected):
    # caffe backbones (ResNet50) take BGR: B2 gets channel 0 (blue); extra bands cycle R, G, B.
    assert first_conv_sources(backbone, REPORT_BAND_NAMES) == expected


@pytest.mark.parametrize("backbone", ["resnet50", "mobilenetv2"])
def test_first_conv_reproduces_rgb_response_scaled_by_3_over_bands(backbone, backbone_cache):
    """Extra bands zero, B4/B3/B2 = an RGB image: the widened conv gives 3/6 of the pretrained response."""
    pretrained = backbone_cache(backbone)
    sources = first_conv_sources(backbone, REPORT_BAND_NAMES)
    widened = widen_first_conv(backbone, pretrained, (32, 32, 6), sources)
    conv = BACKBONES[backbone].first_conv
    rgb = np.random.default_rng(3).uniform(-1, 1, size=(2, 32, 32, 3)).astype("float32")  # R, G, B
    backbone_order = [0, 1, 2] if backbone != "resnet50" else [2, 1, 0]
    bands = np.zeros((2, 32, 32, 6), "float32")
    bands[..., [2, 1, 0]] = rgb  # B4 = R, B3 = G, B2 = B; B8, B11, B12 = 0
    original = keras.Model(pretrained.input, pretrained.get_layer(conv).output)(rgb[..., backbone_order])
    adapted = keras.Model(widened.input, widened.get_layer(conv).output)(bands)
    layer = pretrained.get_layer(conv)
    bias = np.asarray(layer.bias) if layer.use_bias else 0.0
    assert np.allclose(np.asarray(adapted) - bias, 0.5 * (np.asarray(original) - bias), atol=1e-4)
    # Everything after the first conv is copied unchanged.
    last_widened, last_pretrained = weighted_layers(widened)[-1], weighted_layers(pretrained)[-1]
    assert np.array_equal(np.asarray(last_widened.weights[0]), np.asarray(last_pretrained.weights[0]))


def test_first_conv_maps_efficientnet_input_statistics(backbone_cache):
    net = backbone_cache("efficientnetb0")
    sources = first_conv_sources("efficientnetb0", REPORT_BAND_NAMES)
    widened = widen_first_conv("efficientnetb0", net, (32, 32, 6), sources)
    norm = next(layer for layer in widened.layers if isinstance(layer, keras.layers.Normalization))
    original = next(layer for layer in net.layers if isinstance(layer, keras.layers.Normalization))
    assert np.allclose(np.asarray(norm.adapt_mean), np.asarray(original.adapt_mean)[sources])
    assert tuple(np.shape(norm.mean))[-1] == 6  # the statistics the layer computes with
