"""Band adapters: how six Sentinel-2 bands enter a backbone pretrained on three-band RGB images."""

from __future__ import annotations

from typing import Any

import keras


def learned_conv1x1(x, config: dict[str, Any]):
    """The report's adapter: a trainable 1x1 convolution mixing all bands into three pseudo-RGB ones."""
    return keras.layers.Conv2D(3, kernel_size=1, name="band_reduction")(x)


BAND_ADAPTERS = {
    "conv1x1": learned_conv1x1,
}


def apply_band_adapter(name: str, x, config: dict[str, Any]):
    return BAND_ADAPTERS[name](x, config)
