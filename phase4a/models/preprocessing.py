"""Input preprocessing that matches each backbone's own ``keras.applications`` ``preprocess_input``.

input_normalisation='none' is the report's behaviour: reflectance in [0, 1] goes into the backbone as
is. input_normalisation='imagenet' gives the three stem channels ImageNet's per-channel mean and std
in 0-255 (models/normalisation.py) and then applies the backbone's preprocess_input, written here
with built-in layers so it lives inside the saved model:

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
# ImageNet's per-channel statistics in RGB order, 0-255: the means caffe's preprocess_input subtracts
# and the standard deviations torchvision's normalisation divides by (0.229, 0.224, 0.225) x 255.
IMAGENET_RGB_MEAN = (123.68, 116.779, 103.939)
IMAGENET_RGB_STD = (58.395, 57.12, 57.375)


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


def imagenet_pixel_targets(backbone: str, source_channels: list[int] | None = None) -> tuple[list[float], list[float]]:
    """Per-channel (mean, std) in 0-255 that ImageNet images have before ``backbone``'s preprocess_input.

    ``source_channels`` None: a three-channel band adapter's output, read as R, G, B. Else the widened
    first convolution's inputs: band i gets the statistics of the colour in backbone channel
    ``source_channels[i]`` (the one whose kernel it took)."""
    if source_channels is None:
        return list(IMAGENET_RGB_MEAN), list(IMAGENET_RGB_STD)
    order = channel_stats(backbone)[0]
    colours = [order[channel] for channel in source_channels]
    return [IMAGENET_RGB_MEAN[c] for c in colours], [IMAGENET_RGB_STD[c] for c in colours]


def imagenet_stem_targets(backbone: str, source_channels: list[int] | None = None) -> tuple[list[float], list[float]]:
    """The same statistics after preprocess_input: what ImageNet images look like entering the backbone
    (caffe: BGR, mean 0, std about 57-58; tf: about (-0.05, 0.46); EfficientNet: 0-255, it normalises itself)."""
    order, pp_mean, pp_std = channel_stats(backbone)
    mean, std = imagenet_pixel_targets(backbone, source_channels)
    if source_channels is None:  # rgb_preprocess puts the channels in the backbone's order first
        mean, std = [mean[c] for c in order], [std[c] for c in order]
        channels = list(range(3))
    else:  # band_preprocess normalises band i like backbone channel source_channels[i]
        channels = list(source_channels)
    return (
        [(m - pp_mean[c]) / pp_std[c] for m, c in zip(mean, channels)],
        [s / pp_std[c] for s, c in zip(std, channels)],
    )
