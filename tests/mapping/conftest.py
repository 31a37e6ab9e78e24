"""Mapping fixtures, made by seeded code in tmp_path: a UTM GeoTIFF of known class blocks, labelled polygons
over them, a tiny Keras model that classifies them exactly, and run directories holding that model.

The model averages each band over the window and picks the class whose B8 reflectance (CENTRES) is nearest
the window's B8 mean, as a softmax of -(mean - centre)^2 (linear in the mean, so one Dense layer): any window
wholly inside a class block gets that block's class, whatever the stride.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.errors import NotGeoreferencedWarning
from shapely.geometry import box

from phase4a import config as config_module
from phase4a.config import REPORT_BAND_NAMES, REPORT_CLASS_NAMES
from phase4a.data import dataset as dataset_module
from phase4a.io import save_keras_model, write_json
from phase4a.stages import RunDir

CRS = "EPSG:32633"
ORIGIN = (400_000.0, 5_000_000.0)
PIXEL = 10.0
CLASSES = list(REPORT_CLASS_NAMES)
FILE_BANDS = ["B8A", "B02", "B03", "B04", "B08", "B11", "B12"]  # an extra band first, and zero-padded names
KEY_BAND = REPORT_BAND_NAMES.index("B8")  # the band the tiny model reads, in the run's order
CENTRES = (0.05, 0.15, 0.25, 0.35, 0.45)  # B8 reflectance of each class's blocks
OTHER_BANDS = 0.1
BLOCK = 16  # pixels per class block
LAYOUT = np.array([[0, 1, 2, 3, 4], [4, 3, 2, 1, 0], [1, 3, 0, 4, 2]])  # class of each block
HEIGHT, WIDTH = 52, 84  # 3 x 5 blocks and ragged strips (not a multiple of the patch size)
NODATA = 0
NODATA_PIXEL = (21, 37)  # in band B02 only: a window touching it is masked
TRAINING_ROW = 0  # the polygons of the first row of blocks form the training split
SHARPNESS = 2000.0


def truth() -> np.ndarray:
    """(HEIGHT, WIDTH) class of each pixel; the ragged strips continue the last block row and column."""
    rows = np.minimum(np.arange(HEIGHT) // BLOCK, LAYOUT.shape[0] - 1)
    cols = np.minimum(np.arange(WIDTH) // BLOCK, LAYOUT.shape[1] - 1)
    return LAYOUT[np.ix_(rows, cols)]


def stored_values(seed: int = 0) -> np.ndarray:
    """(bands, rows, cols) uint16 reflectance x 10000 in FILE_BANDS order, with a little seeded noise."""
    rng = np.random.default_rng(seed)
    reflectance = np.full((len(FILE_BANDS), HEIGHT, WIDTH), OTHER_BANDS)
    reflectance[FILE_BANDS.index("B08")] = np.asarray(CENTRES)[truth()]
    reflectance += rng.uniform(-0.002, 0.002, reflectance.shape)
    values = np.round(reflectance * 10000).astype(np.uint16)
    values[FILE_BANDS.index("B02")][NODATA_PIXEL] = NODATA
    return values


def transform() -> Affine:
    return Affine(PIXEL, 0.0, ORIGIN[0], 0.0, -PIXEL, ORIGIN[1])


def write_raster(
    path: Path,
    values: np.ndarray,
    descriptions: list[str] | None = FILE_BANDS,
    crs: str | None = CRS,
    geotransform: Affine | None = None,
) -> Path:
    profile = {
        "driver": "GTiff",
        "height": values.shape[1],
        "width": values.shape[2],
        "count": values.shape[0],
        "dtype": values.dtype.name,
        "nodata": NODATA,
    }
    if crs is not None:
        profile.update(crs=crs, transform=geotransform or transform())
    with warnings.catch_warnings():  # a raster without georeferencing is what some tests want
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(path, "w", **profile) as raster:
            raster.write(values)
            for index, name in enumerate(descriptions or [], start=1):
                raster.set_band_description(index, name)
    return path


def block_id(row: int, col: int) -> int:
    return 100 + row * LAYOUT.shape[1] + col


def block_polygons() -> gpd.GeoDataFrame:
    """One polygon per class block, 2 pixels inside its edges, id 100 + block number, in WGS84."""
    x0, y0 = ORIGIN
    rows = [
        {
            "id": block_id(r, c),
            "class": CLASSES[LAYOUT[r, c]],
            "geometry": box(
                x0 + (c * BLOCK + 2) * PIXEL,
                y0 - ((r + 1) * BLOCK - 2) * PIXEL,
                x0 + ((c + 1) * BLOCK - 2) * PIXEL,
                y0 - (r * BLOCK + 2) * PIXEL,
            ),
        }
        for r in range(LAYOUT.shape[0])
        for c in range(LAYOUT.shape[1])
    ]
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=CRS).to_crs("EPSG:4326")


def build_tiny_model(centres=CENTRES, band: int = KEY_BAND, patch: int = 8, bands: int = len(REPORT_BAND_NAMES)):
    """Window -> softmax(-(mean of ``band`` - centre_k)^2 x SHARPNESS): the class of the nearest centre."""
    import keras

    centres = np.asarray(centres, dtype="float32")
    model = keras.Sequential(
        [
            keras.Input(shape=(patch, patch, bands), name="patches"),
            keras.layers.GlobalAveragePooling2D(name="band_means"),
            keras.layers.Dense(len(centres), activation="softmax", name="predictions"),
        ]
    )
    kernel = np.zeros((bands, len(centres)), dtype="float32")
    kernel[band] = 2 * SHARPNESS * centres  # -(m - c)^2 = 2cm - c^2 - m^2, and m^2 is the same for every class
    model.get_layer("predictions").set_weights([kernel, -SHARPNESS * centres**2])
    return model


@pytest.fixture(scope="session")
def tiny_model_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("tiny_model") / "transfer_model.keras"
    save_keras_model(build_tiny_model(), path)
    return path


@pytest.fixture
def raster(tmp_path) -> Path:
    return write_raster(tmp_path / "scene.tif", stored_values())


@pytest.fixture
def polygons(tmp_path) -> Path:
    path = tmp_path / "blocks.geojson"
    block_polygons().to_file(path, driver="GeoJSON")
    return path


def tiny_dataset(groups: bool) -> dataset_module.Dataset:
    """A placeholder data.npz: one patch per class and split; only its polygon ids matter here."""
    X = np.zeros((len(CLASSES), 8, 8, len(REPORT_BAND_NAMES)), dtype=np.float32)
    y = np.arange(len(CLASSES), dtype=np.int64)
    training = [block_id(TRAINING_ROW, col) for col in range(LAYOUT.shape[1])]
    validation = [block_id(1, col) for col in range(LAYOUT.shape[1])]
    return dataset_module.Dataset(
        X,
        y,
        X,
        y,
        CLASSES,
        list(REPORT_BAND_NAMES),
        groups_train=np.array(training) if groups else None,
        groups_val=np.array(validation) if groups else None,
    )


def write_run(directory: Path, model_file: Path | None, scaling: dict | None = None, **overrides) -> RunDir:
    """A run directory as steps 01-04 leave it (config, data, data summary, model), from these pieces."""
    directory.mkdir(parents=True, exist_ok=True)
    config = config_module.resolve("report", {"weights": "none", **overrides})
    config_module.save(directory / "config.json", config)
    scaling = scaling or {"already_scaled": False, "divisor": 10000.0, "offset": 0.0}
    write_json(directory / "data_summary.json", {"scaling": scaling, "source": {"source": config["data_source"]}})
    dataset_module.save(directory / "data.npz", tiny_dataset(groups=config["data_source"] == "raster"))
    if model_file is not None:
        shutil.copyfile(model_file, directory / "transfer_model.keras")
    return RunDir(directory)


@pytest.fixture
def raster_run(tmp_path, raster, polygons, tiny_model_file) -> RunDir:
    """A run trained on ``raster`` and ``polygons`` (data_source raster) with the tiny model."""
    return write_run(
        tmp_path / "run",
        tiny_model_file,
        data_source="raster",
        raster_path=str(raster),
        polygons_path=str(polygons),
        id_column="id",
    )


def run_config(run: RunDir) -> dict:
    return config_module.load(run.path("config"))
