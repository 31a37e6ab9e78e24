"""What a model is built for that the data decides: each input channel's name, and whether any is an
auxiliary layer (which makes ``input_normalisation auto`` standardise)."""

from __future__ import annotations

from dataclasses import dataclass

from ..data.sources import input_band_names
from ..settings import DataConfig


@dataclass(frozen=True)
class ModelInputs:
    band_names: tuple[str, ...]  # Sentinel-2 bands, then auxiliary layers: one per channel of the patches
    auxiliary: bool


def model_inputs(data: DataConfig) -> ModelInputs:
    """The inputs of the run's model, known from the data section alone, without reading the data."""
    return ModelInputs(tuple(input_band_names(data)), data.has_auxiliary_layers)
