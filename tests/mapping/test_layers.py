"""Step 06 on a fused run: the run's auxiliary layers on the scene's grid, after its bands, as training had them.

The scene is conftest's raster of class blocks; a layer file encodes the classes in another layout than the
bands (each block's *next* class), and a tiny model that reads only the layer's channel maps that layout,
so a map shows whether the layer reached the model on the right pixels, in the right channel and units.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import rasterio
from affine import Affine
from numpy.lib.stride_tricks import sliding_window_view
from rasterio.windows import Window

from phase4a.config import REPORT_BAND_NAMES
from phase4a.data import auxiliary
from phase4a.data.mock_auxiliary import MOCK_LAYERS
from phase4a.data.mock_scene import MOCK_LAYERS_FILE
from phase4a.data.raster_patches import extract_patches
from phase4a.errors import ConfigError, DataError
from phase4a.io import save_keras_model
from phase4a.mapping.layers import open_layers
from phase4a.mapping.outputs import MAP_FILE
from phase4a.mapping.scene import Scaling, open_scene
from phase4a.mapping.windows import WindowGrid
from phase4a.steps.predict_map import predict_map

from .conftest import (
    CENTRES,
    CLASSES,
    CRS,
    FILE_BANDS,
    HEIGHT,
    ORIGIN,
    PIXEL,
    WIDTH,
    build_tiny_model,
    run_config,
    stored_values,
    truth,
    write_raster,
    write_run,
)
from .test_predict_map import inside_one_block, read_map, touches_nodata

PATCH = 8
SIX = list(REPORT_BAND_NAMES)
STORED = Scaling(10000.0, 0.0, False)


def shifted_truth() -> np.ndarray:
    return (truth() + 1) % len(CLASSES)


def write_layer(path, values: np.ndarray, pixel: float = PIXEL, origin=ORIGIN) -> str:
    """One float32 band in the scene's CRS on pixels of ``pixel`` metres."""
    profile = {"driver": "GTiff", "width": values.shape[1], "height": values.shape[0], "count": 1}
    profile |= {"dtype": "float32", "crs": CRS, "transform": Affine(pixel, 0, origin[0], 0, -pixel, origin[1])}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(values.astype(np.float32), 1)
    return str(path)


def coarse_key_layer(tmp_path) -> str:
    """The shifted classes' centres on 20 m pixels: a coarser file the warp must put on the 10 m grid."""
    return write_layer(tmp_path / "key.tif", np.asarray(CENTRES)[shifted_truth()[::2, ::2]], pixel=2 * PIXEL)


def layer_model(tmp_path, channel: int, bands: int):
    path = tmp_path / "layer_model.keras"
    save_keras_model(build_tiny_model(band=channel, bands=bands), path)
    return path


def check_map_is(run, expected: np.ndarray) -> None:
    grid = WindowGrid(HEIGHT, WIDTH, PATCH, PATCH)
    inside = inside_one_block(grid) & ~touches_nodata(grid)
    np.testing.assert_array_equal(read_map(run)[inside], expected[inside])


def test_a_layer_file_is_warped_onto_the_scene_and_reaches_the_model_after_the_bands(tmp_path, raster, polygons):
    aux = f"key={coarse_key_layer(tmp_path)}"
    model = layer_model(tmp_path, channel=6, bands=7)
    run = write_run(
        tmp_path / "run",
        model,
        data_source="raster",
        raster_path=str(raster),
        polygons_path=str(polygons),
        id_column="id",
        aux_layers=aux,
    )
    predict_map(run, run_config(run))
    check_map_is(run, shifted_truth())


def test_the_scenes_pixels_are_the_training_patches_bands_and_layers_alike(tmp_path, raster, polygons):
    """Layers are warped, stored and scaled on the scene as step 01 did for the patches, terrain included."""
    rows, cols = np.indices((HEIGHT // 2 + 2, WIDTH // 2 + 2))
    dem = write_layer(tmp_path / "dem.tif", 300 + 4.0 * rows + 2.5 * cols, pixel=2 * PIXEL)
    specs = auxiliary.parse_layer_specs(f"ndvi={coarse_key_layer(tmp_path)},dem={dem}")
    patches = extract_patches(raster, polygons, "class", CLASSES, bands=SIX, id_column="id", aux_layers=specs)
    aux = f"ndvi={tmp_path / 'key.tif'},dem={dem}"
    paths = {"raster_path": str(raster), "polygons_path": str(polygons)}
    run = write_run(tmp_path / "run", None, data_source="raster", aux_layers=aux, **paths)
    config = run_config(run)
    with open_scene(raster, SIX, STORED) as scene, open_layers(config, scene.src, None, None) as layers:
        values, _ = replace(scene, layers=layers).read(Window(0, 0, WIDTH, HEIGHT))
    windows = sliding_window_view(values, (PATCH, PATCH), axis=(0, 1))  # (rows, cols, channels, P, P)
    assert values.shape[-1] == 6 + 5 and len(patches.X) > 10
    for patch in STORED.apply(patches.X):
        found = np.argwhere((windows[..., :6, :, :] == np.moveaxis(patch[..., :6], -1, 0)).all(axis=(2, 3, 4)))
        assert len(found) == 1
        np.testing.assert_array_equal(np.moveaxis(windows[tuple(found[0])], 0, -1), patch)


def test_earth_engine_layers_are_read_from_the_scenes_own_bands_and_s2_ndvi_from_its_b4_and_b8(tmp_path, polygons):
    bands = stored_values().astype(np.float32)
    ndvi = np.asarray(CENTRES, dtype=np.float32)[shifted_truth()][None]
    scene = write_raster(tmp_path / "ee.tif", np.concatenate([bands, ndvi]), descriptions=[*FILE_BANDS, "ndvi_modis"])
    model = layer_model(tmp_path, channel=6, bands=8)
    run = write_run(
        tmp_path / "run",
        model,
        data_source="earth_engine",
        raster_path=str(scene),
        polygons_path=str(polygons),
        id_column="id",
        aux_layers="ndvi=ee,s2_ndvi",
    )
    predict_map(run, run_config(run))
    check_map_is(run, shifted_truth())


def test_a_mock_fused_run_maps_the_mock_scene_with_its_synthetic_layers(tmp_path):
    model = layer_model(tmp_path, channel=3, bands=6 + len(MOCK_LAYERS))
    run = write_run(tmp_path / "mock", model, mock_aux_layers="true")
    summary = predict_map(run, run_config(run))
    assert (run.root / MAP_FILE).is_file() and summary["counts"].predicted > 0
    with rasterio.open(run.root / MOCK_LAYERS_FILE) as layers:
        assert layers.descriptions == MOCK_LAYERS


def fused_raster_run(tmp_path, raster, polygons, aux: str):
    return write_run(
        tmp_path / "run",
        layer_model(tmp_path, channel=6, bands=7),
        data_source="raster",
        raster_path=str(raster),
        polygons_path=str(polygons),
        id_column="id",
        aux_layers=aux,
    )


def missing_file(tmp_path):
    message = r"^auxiliary raster .*gone.tif not found; fix the path \(--aux_layers key=PATH\)$"
    return f"key={tmp_path / 'gone.tif'}", {}, DataError, message


def not_covering(tmp_path):
    east = (ORIGIN[0] + 400.0, ORIGIN[1])  # starts 40 pixels into the scene
    path = write_layer(tmp_path / "part.tif", np.ones((HEIGHT, WIDTH)), origin=east)
    message = r"^auxiliary raster .*part.tif \(bounds .*does not cover .*export it over the whole scene$"
    return f"key={path}", {}, DataError, message


def other_layers(tmp_path):
    options = {"aux_layers": f"soil={coarse_key_layer(tmp_path)}"}
    message = r"^--aux_layers gives layers soil but the run was trained on key"
    return f"key={coarse_key_layer(tmp_path)}", options, ConfigError, message


@pytest.mark.parametrize("case", [missing_file, not_covering, other_layers])
def test_a_layer_step_06_cannot_place_on_the_scene_is_one_line_and_writes_nothing(
    tmp_path, raster, polygons, snapshot, case
):
    aux, options, error, message = case(tmp_path)
    run = fused_raster_run(tmp_path, raster, polygons, aux)
    before = snapshot(run.root)
    with pytest.raises(error, match=message) as raised:
        predict_map(run, run_config(run), **options)
    assert "\n" not in str(raised.value) and snapshot(run.root) == before


def test_another_scene_is_mapped_with_its_own_layer_files(tmp_path, raster, polygons):
    (tmp_path / "old").mkdir()
    run = fused_raster_run(tmp_path, raster, polygons, f"key={coarse_key_layer(tmp_path / 'old')}")
    (tmp_path / "old" / "key.tif").unlink()  # the training scene's file is gone; this scene's is given
    predict_map(run, run_config(run), aux_layers=f"key={coarse_key_layer(tmp_path)}")
    check_map_is(run, shifted_truth())


def test_a_run_whose_layers_came_in_band_names_is_refused_before_anything_is_written(tmp_path, raster, snapshot):
    run = write_run(
        tmp_path / "run", None, data_source="npz", data_npz="data.npz", band_names=",".join([*SIX, "elevation"])
    )
    before = snapshot(run.root)
    with pytest.raises(ConfigError, match=r"^this run's model takes layers named in its band_names .*cannot make"):
        predict_map(run, run_config(run), raster=raster)
    assert snapshot(run.root) == before
