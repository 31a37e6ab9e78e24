"""Phase 4B wiring: the raster source cuts auxiliary layers (config aux_layers) at each patch's window, the
mock source appends its synthetic layers (mock_aux_layers), step 01 says what it read, and a layer that
cannot be used is a one-line error. Rasters are written by seeded code into tmp_path (conftest.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from phase4a import config as config_module
from phase4a.data import auxiliary, raster_patches
from phase4a.data.mock_auxiliary import MOCK_LAYERS
from phase4a.data.sources import input_band_names, load_source
from phase4a.errors import ConfigError
from phase4a.pipeline import step_mains
from phase4a.settings import sections
from phase4a.stages import STAGES
from phase4a.steps import setup_config

from .conftest import CRS, FILE_BANDS, ORIGIN, PIXEL, SIZE

S2 = ["B2", "B3", "B4", "B8", "B11", "B12"]
RASTER_PATHS = {"raster_path": "s2.tif", "polygons_path": "p.gpkg"}


def load(config: dict) -> object:
    run = sections(config)
    return load_source(run.data, run.train.seed)


def write_layer(path: Path, values: np.ndarray, pixel: float = PIXEL, nodata: float | None = None) -> Path:
    profile = {
        "driver": "GTiff",
        "width": values.shape[1],
        "height": values.shape[0],
        "count": 1,
        "dtype": "float32",
        "crs": CRS,
        "transform": Affine(pixel, 0.0, ORIGIN[0], 0.0, -pixel, ORIGIN[1]),
        "nodata": nodata,
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(values.astype(np.float32), 1)
    return path


def position_layer(tmp_path: Path) -> Path:
    """value = row * 40 + col on the raster's own grid: the band values minus (band + 1) * 2000 there."""
    rows, cols = np.indices((SIZE, SIZE))
    return write_layer(tmp_path / "position.tif", rows * SIZE + cols)


def raster_config(raster: Path, polygons: Path, aux: str) -> dict:
    return config_module.resolve(
        "simplecnn",
        {
            "data_source": "raster",
            "raster_path": str(raster),
            "polygons_path": str(polygons),
            "label_column": "label",
            "id_column": "id",
            "class_names": "Forest,Water",
            "aux_layers": aux,
            "max_patches_per_polygon": 1,
            "test_fraction": 0,
            "val_fraction": 0.3,
        },
    )


def every_patch(data):
    return np.concatenate([data.X_train, data.X_val])


def test_a_layer_is_cut_at_the_same_pixels_as_the_bands(tmp_path, raster, grid_polygons):
    config = raster_config(raster, grid_polygons, f"pos={position_layer(tmp_path)}:nearest")
    data = load(config)
    assert data.band_names == [*S2, "pos"] == input_band_names(sections(config).data)
    X = every_patch(data)
    blue = X[..., 0].astype(np.float64) - (FILE_BANDS.index("B02") + 1) * 2000
    np.testing.assert_array_equal(X[..., -1] / auxiliary.STORED_SCALE, blue)
    assert data.notes["auxiliary"]["layers"][0]["name"] == "pos"


def test_ndvi_dem_and_s2_ndvi_layers_in_spec_order(tmp_path, raster, grid_polygons):
    ndvi = write_layer(tmp_path / "modis.tif", np.full((10, 10), 6500.0), pixel=4 * PIXEL)  # MOD13Q1 integers
    rows, cols = np.indices((10, 10))
    dem = write_layer(tmp_path / "srtm.tif", 300.0 + 4 * PIXEL * cols * np.tan(np.radians(10)), pixel=4 * PIXEL)
    config = raster_config(raster, grid_polygons, f"ndvi={ndvi},s2_ndvi,dem={dem}")
    data = load(config)
    layers = ["ndvi_modis", "s2_ndvi", *auxiliary.TERRAIN_LAYERS]
    assert data.band_names == [*S2, *layers] == input_band_names(sections(config).data)
    X = every_patch(data).astype(np.float64) / auxiliary.STORED_SCALE
    at = {name: X[..., data.band_names.index(name)] for name in data.band_names}
    np.testing.assert_allclose(at["ndvi_modis"], 0.65, atol=1e-6)
    np.testing.assert_allclose(at["s2_ndvi"], (at["B8"] - at["B4"]) / (at["B8"] + at["B4"]), atol=1e-6)
    # A plane rising 10 degrees to the east, in model units: km, degrees / 90, and facing west.
    assert np.all((at["elevation"] >= 0.3 - 1e-6) & (at["elevation"] < 0.37))  # 300 m + up to 63 m
    np.testing.assert_allclose(at["slope"], 10 / 90, atol=1e-4)
    np.testing.assert_allclose(at["aspect_sin"], -1, atol=1e-4)


def test_a_patch_where_a_layer_has_no_data_is_skipped_and_counted(tmp_path, raster, grid_polygons):
    values = np.ones((SIZE, SIZE))
    values[:20, :20] = -9999  # the four polygons of the top-left quarter
    void = write_layer(tmp_path / "void.tif", values, nodata=-9999)
    data = load(raster_config(raster, grid_polygons, f"void={void}"))
    assert data.notes["skipped"][raster_patches.AUX_NODATA_PATCH] == 4
    assert len(every_patch(data)) == 15 - 4 and np.isfinite(every_patch(data)).all()


def test_the_mock_switch_appends_the_mock_layers():
    config = config_module.resolve("simplecnn", {"mock_aux_layers": "true"})
    data = load(config)
    assert data.band_names == [*S2, *MOCK_LAYERS] == input_band_names(sections(config).data)
    assert data.X_train.shape[-1] == 12 and "s2_ndvi" in data.band_names
    assert config_module.input_normalisation(config_module.resolve("report", {"mock_aux_layers": "true"})) == (
        "standardise"
    )


def test_step01_says_which_layers_it_appended(tmp_path, capsys):
    assert setup_config.main(["--run-dir", str(tmp_path / "run"), "--mock_aux_layers", "true"]) == 0
    assert "auxiliary layers after the bands: ndvi_modis, elevation, slope" in capsys.readouterr().out


def test_step01_prints_the_eolearn_line(tmp_path, capsys):
    from phase4a.paths import EOLEARN_SLOVENIA_DIR

    if not EOLEARN_SLOVENIA_DIR.is_dir():
        pytest.skip(f"the eo-learn fixture is not at {EOLEARN_SLOVENIA_DIR}")
    argv = ["--run-dir", str(tmp_path / "run"), "--data_source", "eolearn", "--class_names", "Forest,Grassland"]
    assert setup_config.main(argv) == 0
    assert "eo-learn Slovenia fixture:" in capsys.readouterr().out


def test_the_drivers_map_a_fused_run_too(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    config_module.save(run / "config.json", config_module.resolve("simplecnn", {"mock_aux_layers": "true"}))
    scripts = [script for script, _ in step_mains(run)]
    assert STAGES["map"].script in scripts and STAGES["evaluate"].script in scripts


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"aux_layers": "dem=srtm.tif"}, r"--aux_layers is for --data_source raster .*use --mock_aux_layers true"),
        (
            {"data_source": "eurosat", "mock_aux_layers": "true"},
            r"--mock_aux_layers true is for --data_source mock, not eurosat",
        ),
        (
            {"mock_aux_layers": "true", "input_normalisation": "none"},
            r"--input_normalisation none would feed the auxiliary layers .* use --input_normalisation standardise",
        ),
        (
            {"mock_aux_layers": "true", "train_baseline": "true", "baseline_normalisation": "none"},
            r"--baseline_normalisation none would feed the auxiliary layers",
        ),
        (
            {"data_source": "raster", **RASTER_PATHS, "aux_layers": "ndvi=ee"},
            r"--aux_layers ndvi=ee is computed by Earth Engine, for --data_source earth_engine, not raster; give ndvi=",
        ),
        (
            {"data_source": "earth_engine", **RASTER_PATHS, "aux_layers": "soil=ee"},
            r"--aux_layers soil=ee: Earth Engine makes ndvi=ee and dem=ee only; give soil=PATH",
        ),
    ],
)
def test_auxiliary_options_that_cannot_work_are_one_line_errors(overrides, message):
    with pytest.raises(ConfigError, match=message) as error:
        config_module.resolve("report", overrides)
    assert "\n" not in str(error.value)


def test_s2_ndvi_without_red_or_nir_names_them(tmp_path, raster, grid_polygons):
    config = raster_config(raster, grid_polygons, "s2_ndvi")
    config["band_names"] = ["B2", "B3", "B11"]
    with pytest.raises(ConfigError, match=r"s2_ndvi needs B4 and B8 .* lack B4, B8"):
        load(config)
