"""Input preprocessing that matches each backbone's own ``keras.applications`` ``preprocess_input``.

preprocessing='none' is the report's behaviour: reflectance in [0, 1] goes into the backbone as is.
preprocessing='imagenet' scales the bands to 0-255 (what ImageNet images are) and then applies the
backbone's preprocess_input, written here with built-in layers so it lives inside the saved model:

- caffe (ResNet50, VGG16): RGB -> BGR, subtract the ImageNet channel means, no scaling
- tf (ResNet50V2, MobileNetV2): x / 127.5 - 1
- none (EfficientNetB0): the identity, because the model rescales and normalises inside itself
"""

from __future__ import annotations

import keras
import numpy as np

from .backbones import BACKBONES

# mode -> (channel order applied first, mean, std), in the channel order the backbone expects.
PREPROCESS_MODES: dict[str, tuple[tuple[int, ...], tuple[float, ...], tuple[float, ...]]] = {
    "caffe": ((2, 1, 0), (103.939, 116.779, 123.68), (1.0, 1.0, 1.0)),
    "tf": ((0, 1, 2), (127.5, 127.5, 127.5), (127.5, 127.5, 127.5)),
    "none": ((0, 1, 2), (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),
}
PIXEL_RANGE = 255.0  # ImageNet images are 8-bit


def channel_selection(x, indices: list[int], name: str):
    """Output channel j = input channel indices[j]: a frozen one-hot 1x1 convolution.

    Built-in layers only, so saved models load in any process without registering custom classes.
    """
    layer = keras.layers.Conv2D(len(indices), 1, use_bias=False, trainable=False, name=name)
    y = layer(x)
    kernel = np.zeros((1, 1, x.shape[-1], len(indices)), "float32")
    kernel[0, 0, indices, range(len(indices))] = 1.0
    layer.set_weights([kernel])
    return y


def channel_stats(backbone: str) -> tuple[tuple[int, ...], tuple[float, ...], tuple[float, ...]]:
    return PREPROCESS_MODES[BACKBONES[backbone].preprocess_mode]


def _normalize(x, mean: list[float], std: list[float]):
    if all(m == 0 for m in mean) and all(s == 1 for s in std):
        return x  # EfficientNet: it normalises inside itself
    return keras.layers.Normalization(mean=mean, variance=[s * s for s in std], name="imagenet_preprocess")(x)


def rgb_preprocess(x, backbone: str):
    """The backbone's preprocess_input for a three-channel RGB input in 0-255."""
    order, mean, std = channel_stats(backbone)
    if list(order) != [0, 1, 2]:
        x = channel_selection(x, list(order), "rgb_to_bgr")
    return _normalize(x, list(mean), list(std))


def band_preprocess(x, backbone: str, source_channels: list[int]):
    """For a widened first conv: band i is normalised like the backbone channel whose kernel it got."""
    _, mean, std = channel_stats(backbone)
    return _normalize(x, [mean[c] for c in source_channels], [std[c] for c in source_channels])
