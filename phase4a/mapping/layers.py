"""A fused run's auxiliary layers on the scene being mapped, read block by block after its bands.

A model trained with auxiliary layers takes them after the bands, in the run's order and stored as step 01
stored them (phase4a.data.auxiliary.stored_values: model unit x 10000); the scene then scales bands and
layers together with step 01's scaling, and the model's own Normalization layer standardises them with
the training split's statistics, as in training. Where each layer comes from:

- a file of ``aux_layers`` (``ndvi=MOD13Q1.tif``, ``dem=SRTM.tif``, any ``name=path``): warped onto the
  scene's grid by phase4a.data.auxiliary (terrain at the DEM's own resolution, nodata kept out), once
  for the whole scene, so these layers hold rows x cols x 4 bytes each while the scene is mapped;
- ``ndvi=ee``, ``dem=ee``: bands of the scene itself (an Earth Engine export with its layers), read per block;
- ``s2_ndvi``: computed per block from the scene's own B4 and B8;
- mock runs (``mock_aux_layers``): the bands of the mock scene's layer file (phase4a.data.mock_scene).

The files default to the run's ``aux_layers``; step 06's ``--aux_layers`` gives another scene's, with the
same layers in the same order.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.windows import Window

from .. import config as config_module
from ..data import auxiliary
from ..data.mock_auxiliary import MOCK_LAYERS
from ..data.raster_patches import open_raster
from ..data.sources import input_band_names
from ..errors import ConfigError

# (block window, the block's stored bands (rows, cols, bands)) -> (rows, cols) stored layer, NaN = nodata
LayerRead = Callable[[Window, np.ndarray], np.ndarray]
RASTER_SOURCES = ("raster", "earth_engine")  # runs whose aux_layers name files or Earth Engine bands
EE_BANDS_FIX = "map the Earth Engine export the run was cut from, or give the scene's files with --aux_layers"


@dataclass
class SceneLayers:
    names: list[str]  # after the bands, in the run's input order
    reads: list[LayerRead]

    def read(self, window: Window, bands: np.ndarray) -> np.ndarray:
        """(rows, cols, layers) stored values of the block, NaN where a layer has no data."""
        return np.stack([read(window, bands) for read in self.reads], axis=-1)


def layer_names(config: dict[str, Any]) -> list[str]:
    """The layers a run's model takes after its bands (none for a run of Sentinel-2 bands only)."""
    return input_band_names(config_module.sections(config).data)[len(config["band_names"]) :]


def check_layers_can_be_made(config: dict[str, Any], aux_layers: str | None) -> None:
    """Refuse, before anything is written, a run whose layers step 06 cannot make for a scene, and
    --aux_layers that are not the run's layers."""
    names = layer_names(config)
    if config_module.has_auxiliary_layers(config) and not names:
        raise ConfigError(
            f"this run's model takes layers named in its band_names ({','.join(config['band_names'])}) from its "
            f"{config['data_source']} data, which step 06 cannot make for a scene; map a run of the raster, "
            "earth_engine or mock source with aux_layers or mock_aux_layers"
        )
    if aux_layers is None:
        return
    if config["data_source"] not in RASTER_SOURCES or not names:
        raise ConfigError(
            "--aux_layers gives a scene's layers for a run trained with aux_layers (raster or earth_engine source); "
            "this run has none: drop --aux_layers"
        )
    given = [name for spec in auxiliary.parse_layer_specs(aux_layers) for name in spec.layer_names]
    if given != names:
        raise ConfigError(
            f"--aux_layers gives layers {','.join(given)} but the run was trained on {','.join(names)}; give the "
            "same layers in that order"
        )


def warped(layer: auxiliary.Layer) -> LayerRead:
    stored = auxiliary.stored_values(layer.name, layer.values)
    return lambda window, bands: stored[window.toslices()]


def band_of(src: rasterio.DatasetReader, index: int, name: str) -> LayerRead:
    def read(window: Window, bands: np.ndarray) -> np.ndarray:
        return auxiliary.stored_values(name, auxiliary.read_layer_band(src, index, window))

    return read


def own_ndvi(band_names: list[str], offset: float) -> LayerRead:
    return lambda window, bands: auxiliary.s2_ndvi(bands, band_names, offset)


def spec_reads(config: dict[str, Any], src: rasterio.DatasetReader, aux_layers: str) -> list[LayerRead]:
    """How to read each layer of ``aux_layers`` on the scene ``src``, in spec order."""
    grid = auxiliary.Grid(src.crs, src.transform, src.width, src.height)
    reads: list[LayerRead] = []
    for spec in auxiliary.parse_layer_specs(aux_layers):
        if spec.kind == auxiliary.S2_NDVI:
            reads.append(own_ndvi(config["band_names"], config["reflectance_offset"]))
        elif spec.earth_engine:
            indexes = auxiliary.layer_band_indexes(src, spec.layer_names, EE_BANDS_FIX)
            reads.extend(band_of(src, index, name) for index, name in zip(indexes, spec.layer_names))
        else:
            reads.extend(warped(layer) for layer in auxiliary.load_spec(grid, spec))
    return reads


@contextlib.contextmanager
def open_layers(
    config: dict[str, Any], src: rasterio.DatasetReader, aux_layers: str | None, mock_layers: Path | None
) -> Iterator[SceneLayers | None]:
    """The run's layers on the scene ``src`` (None for a run without layers), open while mapping: from
    ``aux_layers`` (default the run's) for raster and Earth Engine runs, from ``mock_layers`` (the mock
    scene's layer file) for mock runs."""
    names = layer_names(config)
    if not names:
        yield None
    elif config["data_source"] in RASTER_SOURCES:
        yield SceneLayers(names, spec_reads(config, src, aux_layers or config["aux_layers"]))
    elif mock_layers is None:
        raise ConfigError(
            "a run of mock auxiliary layers maps the mock scene only (its layers are synthetic); drop --raster"
        )
    else:
        with open_raster(mock_layers) as layers_src:
            indexes = auxiliary.layer_band_indexes(layers_src, MOCK_LAYERS, "map with the mock scene step 06 writes")
            yield SceneLayers(names, [band_of(layers_src, index, name) for index, name in zip(indexes, MOCK_LAYERS)])
