"""Input preprocessing that matches each backbone's own ``keras.applications`` ``preprocess_input``.

preprocessing='none' is the report's behaviour: reflectance in [0, 1] goes into the backbone as is.
preprocessing='imagenet' scales the bands to 0-255 (what ImageNet images are) and then applies the
backbone's preprocess_input, written here as a serialisable layer so it lives inside the saved model:

- caffe (ResNet50, VGG16): RGB -> BGR, subtract the ImageNet channel means, no scaling
- tf (ResNet50V2, MobileNetV2): x / 127.5 - 1
- none (EfficientNetB0): the identity, because the model rescales and normalises inside itself
"""

from __future__ import annotations

from typing import Any

import keras

from .backbones import BACKBONES

# mode -> (channel order applied first, mean, std), in the channel order the backbone expects.
PREPROCESS_MODES: dict[str, tuple[tuple[int, ...], tuple[float, ...], tuple[float, ...]]] = {
    "caffe": ((2, 1, 0), (103.939, 116.779, 123.68), (1.0, 1.0, 1.0)),
    "tf": ((0, 1, 2), (127.5, 127.5, 127.5), (127.5, 127.5, 127.5)),
    "none": ((0, 1, 2), (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),
}
PIXEL_RANGE = 255.0  # ImageNet images are 8-bit


@keras.saving.register_keras_serializable(package="phase4a")
class ChannelNormalization(keras.layers.Layer):
    """Reorder channels, then (x - mean) / std per channel: a preprocess_input that saves with the model."""

    def __init__(self, order: list[int], mean: list[float], std: list[float], **kwargs):
        super().__init__(**kwargs)
        self.order = [int(i) for i in order]
        self.mean = [float(m) for m in mean]
        self.std = [float(s) for s in std]

    def call(self, inputs):
        x = keras.ops.take(inputs, self.order, axis=-1)
        return (x - keras.ops.convert_to_tensor(self.mean, x.dtype)) / keras.ops.convert_to_tensor(self.std, x.dtype)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "order": self.order, "mean": self.mean, "std": self.std}


def channel_stats(backbone: str) -> tuple[tuple[int, ...], tuple[float, ...], tuple[float, ...]]:
    return PREPROCESS_MODES[BACKBONES[backbone].preprocess_mode]


def rgb_preprocess_layer(backbone: str) -> ChannelNormalization:
    """The backbone's preprocess_input for a three-channel RGB input in 0-255."""
    order, mean, std = channel_stats(backbone)
    return ChannelNormalization(list(order), list(mean), list(std), name="imagenet_preprocess")


def band_preprocess_layer(backbone: str, source_channels: list[int]) -> ChannelNormalization:
    """For a widened first conv: band i is normalised like the backbone channel whose kernel it got."""
    _, mean, std = channel_stats(backbone)
    return ChannelNormalization(
        list(range(len(source_channels))),
        [mean[c] for c in source_channels],
        [std[c] for c in source_channels],
        name="imagenet_preprocess",
    )
