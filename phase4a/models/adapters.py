"""Band adapters: how six Sentinel-2 bands enter a backbone pretrained on three-band RGB images.

- conv1x1 (the report): a trainable 1x1 convolution mixing all bands into three pseudo-RGB ones.
- rgb: a fixed true-colour selection (B4, B3, B2, from config band_names), in 0-255 (the input is
  scaled to 0-255 whenever this adapter or preprocessing='imagenet' is chosen; see transfer.py).
- first_conv: no adapter layer; the backbone's first convolution is widened to all bands from its
  pretrained RGB kernels, as timm's ``adapt_input_conv``: B4, B3 and B2 get the red, green and blue
  kernels, the other bands cycle through red, green, blue, and every kernel is scaled by 3 / bands.
  What "reproduces the RGB response" means here: with the extra bands zero and the true-colour bands
  holding an RGB image, the widened conv's output (before its bias) is exactly 3 / bands times the
  pretrained conv's output on that image (0.5 for six bands); the scaling keeps activations at the
  pretrained scale when all bands carry comparable signal, which is the case timm optimises for.
"""

from __future__ import annotations

import warnings

import keras
import numpy as np

from .backbones import BACKBONES, build_architecture, set_layer_weights, true_colour_indices, weighted_layers
from .preprocessing import channel_selection, channel_stats


def learned_conv1x1(x, band_names: tuple[str, ...]):
    """The report's adapter: a trainable 1x1 convolution mixing all bands into three pseudo-RGB ones."""
    return keras.layers.Conv2D(3, kernel_size=1, name="band_reduction")(x)


def true_colour_selection(x, band_names: tuple[str, ...]):
    """B4, B3, B2 in RGB order; nothing to train."""
    indices = true_colour_indices(list(band_names))  # the layers come after the bands: same indices
    return channel_selection(x, indices, "true_colour")


BAND_ADAPTERS = {
    "conv1x1": learned_conv1x1,
    "rgb": true_colour_selection,
}


def apply_band_adapter(name: str, x, band_names: tuple[str, ...]):
    """The adapter ``name`` applied to ``x``, whose channels are ``band_names``."""
    return BAND_ADAPTERS[name](x, band_names)


def first_conv_sources(backbone: str, band_names: list[str]) -> list[int]:
    """For each band, the pretrained input channel whose kernel it takes (backbone channel order)."""
    order = channel_stats(backbone)[0]  # backbone channel j holds RGB colour order[j]
    channel_of_colour = [order.index(colour) for colour in range(3)]  # R, G, B -> backbone channel
    true_colour = true_colour_indices(band_names)
    sources, extra = [], 0
    for band in range(len(band_names)):
        if band in true_colour:
            sources.append(channel_of_colour[true_colour.index(band)])
        else:
            sources.append(channel_of_colour[extra % 3])
            extra += 1
    return sources


def widen_first_conv(name: str, pretrained, input_shape: tuple[int, int, int], sources: list[int]):
    """A copy of ``pretrained`` taking len(sources) channels, with its first conv adapted (see module doc)."""
    with warnings.catch_warnings():  # Keras warns that ImageNet models usually take 3 channels: intended here
        warnings.simplefilter("ignore", UserWarning)
        widened = build_architecture(name, input_shape)
    scale = 3.0 / len(sources)
    for target, source in zip(weighted_layers(widened), weighted_layers(pretrained), strict=True):
        values = source.get_weights()
        if target.name == BACKBONES[name].first_conv:
            values[0] = values[0][:, :, sources, :] * scale
        elif isinstance(target, keras.layers.Normalization):  # EfficientNet's per-channel input statistics
            values = [np.asarray(v)[sources] if np.ndim(v) else v for v in values]
        set_layer_weights(target, values)
    return widened
