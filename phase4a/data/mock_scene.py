"""A synthetic Sentinel-2 scene with known land-cover regions, and labelled polygons over them, to map offline.

The scene is a grid of square regions in a real UTM CRS (EPSG:32633, 10 m pixels), each one class: fields
(Agriculture), small fields (Parcels), forest, water and urban blocks, every class in several regions. Its
pixels are tiles of phase4a.data.mock's patches (the same class spectra, brightness and texture, field
stripes and urban speckle, mixed tiles and sensor noise), so a model trained on the mock run's patches
sees the same distribution; stored like Sentinel-2, reflectance x 10000 as uint16 with band descriptions
B2 B3 B4 B8 B11 B12, and with a square of nodata (0) as a cloud mask would leave. The polygons (GeoJSON,
WGS84, columns ``id`` and ``class``) cover each region's inside, a few pixels from its edges.

For a run with mock auxiliary layers, the scene also gets them (``mock_scene_layers.tif``, float32, NaN
where the scene has nodata, bands named as phase4a.data.mock_auxiliary.MOCK_LAYERS, physical units): each
tile's layers are made from that tile's own patch and class by the generator the training layers come
from, so a block map's windows (one tile each) see layers drawn as the training patches' were.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
from affine import Affine
from shapely.geometry import box

from ..errors import ConfigError
from ..io import atomic_path
from .dataset import canonical_band
from .mock import MOCK_BANDS, SIGNATURES, generate_patches
from .mock_auxiliary import MOCK_LAYERS, SEED_OFFSET, mock_layers

MOCK_SCENE_FILE = "mock_scene.tif"
MOCK_LAYERS_FILE = "mock_scene_layers.tif"
MOCK_POLYGONS_FILE = "mock_scene_polygons.geojson"
LABEL_COLUMN = "class"
ID_COLUMN = "id"
CRS = "EPSG:32633"  # WGS 84 / UTM zone 33N
ORIGIN = (500_000.0, 5_100_000.0)  # top-left corner, metres (about 46 N, 15 E)
PIXEL_SIZE = 10.0  # metres, Sentinel-2's 10 m bands
SIDE = 160  # pixels: 5 x 5 regions of 32 pixels, 400 windows for an 8-pixel block map
REGION_PATCHES = 4  # a region's side, in patches
POLYGON_INSET = 4  # pixels between a region's edge and its polygon
NODATA = 0
NO_CLASS = 255  # the truth of nodata pixels


@dataclass
class MockScene:
    raster: Path
    polygons: Path
    truth: np.ndarray  # (rows, cols) class index of each pixel, NO_CLASS where the scene has nodata
    region_side: int  # pixels
    layers: Path | None = None  # MOCK_LAYERS_FILE, when asked for


def check_mock_classes_and_bands(class_names: list[str], band_names: list[str]) -> None:
    unknown = [name for name in class_names if name not in SIGNATURES]
    if unknown:
        raise ConfigError(
            f"the mock scene has no signature for class {', '.join(unknown)}; it maps runs whose classes are "
            f"among {', '.join(SIGNATURES)}"
        )
    if [canonical_band(name) for name in band_names] != MOCK_BANDS:
        raise ConfigError(f"the mock scene has bands {','.join(MOCK_BANDS)}, not the run's {','.join(band_names)}")


def region_classes(rng: np.random.Generator, side: int, patch: int, n_classes: int) -> np.ndarray:
    """(regions, regions) class of each region: every class equally often (give or take one), seeded order."""
    per_side = -(-side // (REGION_PATCHES * patch))
    return rng.permutation(np.resize(np.arange(n_classes), per_side * per_side)).reshape(per_side, per_side)


def scene_truth(regions: np.ndarray, side: int, patch: int) -> np.ndarray:
    """(side, side) class of each pixel, with a nodata square near the bottom-left corner."""
    region = REGION_PATCHES * patch
    truth = np.repeat(np.repeat(regions, region, axis=0), region, axis=1)[:side, :side].astype(np.uint8)
    cloud = patch + POLYGON_INSET  # larger than a patch, so some windows lie wholly in it
    truth[side - cloud - 2 : side - 2, 2 : 2 + cloud] = NO_CLASS
    return truth


def tile_classes(regions: np.ndarray, truth: np.ndarray, patch: int) -> np.ndarray:
    """(tiles,) class of each patch-sized tile, row by row."""
    tiles = np.repeat(np.repeat(regions, REGION_PATCHES, axis=0), REGION_PATCHES, axis=1)
    return tiles[: truth.shape[0] // patch, : truth.shape[1] // patch].ravel()


def mosaic(per_tile: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(tiles, P, P, C) tiles, row by row, -> (C, rows, cols) raster bands."""
    patch = per_tile.shape[1]
    rows, cols = shape[0] // patch, shape[1] // patch
    return per_tile.reshape(rows, cols, patch, patch, -1).transpose(4, 0, 2, 1, 3).reshape(-1, *shape)


def scene_values(patches: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(bands, rows, cols) uint16: the tiles' mock patches; nodata as in truth."""
    values = mosaic(patches, truth.shape)
    # Dark water can round to 0 in SWIR; Sentinel-2 keeps 0 for nodata, so valid pixels start at 1, as there.
    values = np.maximum(values, NODATA + 1)
    values[:, truth == NO_CLASS] = NODATA
    return values


def scene_layers(
    patches: np.ndarray, classes: np.ndarray, truth: np.ndarray, class_names: list[str], seed: int
) -> np.ndarray:
    """(MOCK_LAYERS, rows, cols) float32 physical units: each tile's layers from its patch and class, as
    mock_auxiliary makes a training patch's (its own generator, so the bands stay as without layers)."""
    made = mock_layers(patches, classes, class_names, MOCK_BANDS, np.random.default_rng(seed + SEED_OFFSET))
    layers = mosaic(np.stack([made[name] for name in MOCK_LAYERS], axis=-1), truth.shape).astype(np.float32)
    layers[:, truth == NO_CLASS] = np.nan
    return layers


def scene_transform() -> Affine:
    return Affine(PIXEL_SIZE, 0.0, ORIGIN[0], 0.0, -PIXEL_SIZE, ORIGIN[1])


def region_polygons(regions: np.ndarray, side: int, patch: int, class_names: list[str]) -> gpd.GeoDataFrame:
    """One polygon per region, inset from its edges, labelled with its class; in WGS84 as GeoJSON expects."""
    transform, region = scene_transform(), REGION_PATCHES * patch
    rows = []
    for (row, col), label in np.ndenumerate(regions):
        top, left = row * region, col * region
        bottom, right = min(top + region, side), min(left + region, side)
        x0, y0 = transform @ (left + POLYGON_INSET, bottom - POLYGON_INSET)
        x1, y1 = transform @ (right - POLYGON_INSET, top + POLYGON_INSET)
        rows.append({ID_COLUMN: len(rows), LABEL_COLUMN: class_names[label], "geometry": box(x0, y0, x1, y1)})
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=CRS).to_crs("EPSG:4326")


def write_scene_raster(path: Path, values: np.ndarray, names: list[str] | tuple[str, ...], nodata: float) -> None:
    profile = {
        "driver": "GTiff",
        "height": values.shape[1],
        "width": values.shape[2],
        "count": values.shape[0],
        "dtype": values.dtype.name,
        "crs": CRS,
        "transform": scene_transform(),
        "nodata": nodata,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "compress": "deflate",
    }
    with atomic_path(path) as tmp, rasterio.open(tmp, "w", **profile) as dst:
        dst.write(values)
        for index, name in enumerate(names, start=1):
            dst.set_band_description(index, name)


def write_mock_scene(
    directory: str | Path,
    class_names: list[str],
    band_names: list[str],
    seed: int,
    patch: int = 8,
    side: int = SIDE,
    layers: bool = False,
) -> MockScene:
    """Write MOCK_SCENE_FILE and MOCK_POLYGONS_FILE (with ``layers``, MOCK_LAYERS_FILE too) into ``directory``
    for a run of these classes and bands (ConfigError if the mock cannot make them); the same seed gives
    the same files."""
    check_mock_classes_and_bands(class_names, band_names)
    if side % patch:
        raise ConfigError(f"the mock scene's side {side} must be a multiple of the patch size {patch}")
    directory = Path(directory)
    rng = np.random.default_rng(seed)
    regions = region_classes(rng, side, patch, len(class_names))
    truth = scene_truth(regions, side, patch)
    classes = tile_classes(regions, truth, patch)
    patches = generate_patches(rng, classes, class_names, patch)  # (tiles, P, P, bands)
    write_scene_raster(directory / MOCK_SCENE_FILE, scene_values(patches, truth), MOCK_BANDS, NODATA)
    layers_file = directory / MOCK_LAYERS_FILE if layers else None
    if layers_file is not None:
        write_scene_raster(layers_file, scene_layers(patches, classes, truth, class_names, seed), MOCK_LAYERS, np.nan)
    with atomic_path(directory / MOCK_POLYGONS_FILE) as tmp:
        region_polygons(regions, side, patch, class_names).to_file(tmp, driver="GeoJSON")
    region = REGION_PATCHES * patch
    return MockScene(directory / MOCK_SCENE_FILE, directory / MOCK_POLYGONS_FILE, truth, region, layers_file)
