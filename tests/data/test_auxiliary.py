"""Auxiliary rasters warped onto a Sentinel-2 grid (phase4a.data.auxiliary): placement, nodata, scale
factors, terrain, spec parsing and the one-line errors. Rasters are written by seeded code into tmp_path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.crs import CRS

from phase4a.data import auxiliary as aux
from phase4a.errors import ConfigError, DataError

UTM = "EPSG:32633"
ORIGIN = (500_000.0, 4_500_000.0)  # top-left corner of both the grid and the coarse raster
GRID = aux.Grid(CRS.from_string(UTM), Affine(10.0, 0, ORIGIN[0], 0, -10.0, ORIGIN[1]), 16, 16)
COARSE = Affine(40.0, 0, ORIGIN[0], 0, -40.0, ORIGIN[1])  # 4 x 4 pixels of 40 m: the grid's extent


def write(path: Path, values: np.ndarray, transform: Affine = COARSE, crs=UTM, nodata=None) -> Path:
    profile = {
        "driver": "GTiff",
        "width": values.shape[1],
        "height": values.shape[0],
        "count": 1,
        "dtype": values.dtype.name,
        "crs": crs,
        "transform": transform,
        "nodata": nodata,
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(values, 1)
    return path


def ramp() -> np.ndarray:
    """value = 10 x row + column: bilinear interpolation of a linear function is exact, so checkable by hand."""
    rows, cols = np.indices((4, 4))
    return (10.0 * rows + cols).astype(np.float32)


def one(grid: aux.Grid, text: str) -> aux.Layer:
    (layer,) = aux.load_layers(grid, aux.parse_layer_specs(text))
    return layer


def test_nearest_puts_each_40m_pixel_on_its_4x4_block_of_10m_pixels(tmp_path):
    path = write(tmp_path / "classes.tif", ramp())
    layer = one(GRID, f"lulc={path}:nearest")
    assert layer.name == "lulc" and layer.resampling == "nearest" and layer.values.shape == (16, 16)
    np.testing.assert_array_equal(layer.values, np.kron(ramp(), np.ones((4, 4))))
    assert layer.values[5, 13] == 13  # row 5 is in coarse row 1, column 13 in coarse column 3


def test_bilinear_gives_the_hand_computed_values(tmp_path):
    layer = one(GRID, f"ramp={write(tmp_path / 'ramp.tif', ramp())}")
    assert layer.resampling == "bilinear"
    # A 10 m pixel centre (r + 0.5) x 10 m is at (r + 0.5) / 4 - 0.5 coarse pixels from the first coarse centre.
    assert layer.values[2, 2] == pytest.approx(10 * 0.125 + 0.125, abs=1e-4)  # 1.375
    assert layer.values[6, 10] == pytest.approx(10 * 1.125 + 2.125, abs=1e-4)  # 13.375
    assert layer.values[0, 0] == pytest.approx(0.0, abs=1e-4)  # outside the outer centres: the edge value
    assert layer.values[15, 15] == pytest.approx(33.0, abs=1e-4)
    position = np.clip((np.arange(16) + 0.5) / 4 - 0.5, 0, 3)
    np.testing.assert_allclose(layer.values, 10 * position[:, None] + position[None, :], atol=1e-4)


def test_a_raster_in_another_crs_and_resolution_is_warped_onto_the_grid(tmp_path):
    # About 300 m of WGS84 pixels around the grid: every grid pixel gets the file's value.
    west, north = rasterio.warp.transform(UTM, "EPSG:4326", [ORIGIN[0] - 300], [ORIGIN[1] + 300])
    transform = Affine(0.002, 0, west[0], 0, -0.002, north[0])
    path = write(tmp_path / "wgs84.tif", np.full((10, 10), 7.5, dtype=np.float32), transform, "EPSG:4326")
    layer = one(GRID, f"const={path}")
    np.testing.assert_allclose(layer.values, 7.5, atol=1e-5)


def test_nodata_stays_nodata_and_stays_out_of_the_interpolation(tmp_path):
    values = ramp()
    values[1, 1] = -9999
    path = write(tmp_path / "holes.tif", values, nodata=-9999)
    for resampling, suffix in (("bilinear", ""), ("nearest", ":nearest")):
        layer = one(GRID, f"holes={path}{suffix}")
        void = np.zeros((16, 16), dtype=bool)
        void[4:8, 4:8] = True  # the 40 m nodata pixel's 16 grid pixels
        assert np.isnan(layer.values[void]).all(), resampling
        assert np.isfinite(layer.values[~void]).all(), resampling
        # -9999 took no part: every value lies between the valid values' extremes.
        assert layer.values[~void].min() >= 0 and layer.values[~void].max() <= 33, resampling
        assert layer.record()["nodata_fraction"] == pytest.approx(16 / 256)


def test_modis_ndvi_is_scaled_and_its_fill_is_nodata(tmp_path):
    stored = np.full((4, 4), 5000, dtype=np.int16)
    stored[0, 0] = aux.MODIS_NDVI_FILL
    layer = one(GRID, f"ndvi={write(tmp_path / 'mod13q1.tif', stored)}")  # no nodata tag: -3000 is known
    assert layer.name == "ndvi_modis" and layer.unit == "NDVI"
    assert np.isnan(layer.values[:4, :4]).all()
    np.testing.assert_allclose(layer.values[4:, 4:], 0.5, atol=1e-6)
    assert "x 0.0001" in layer.notes["scaling"]
    scaled = one(GRID, f"ndvi={write(tmp_path / 'scaled.tif', np.full((4, 4), 0.5, dtype=np.float32))}")
    np.testing.assert_allclose(scaled.values, 0.5, atol=1e-6)  # an export already in NDVI is not scaled again
    assert "not rescaled" in scaled.notes["scaling"]


def test_srtm_voids_are_nodata_and_a_dem_gives_four_named_layers(tmp_path):
    dem = np.full((4, 4), 250, dtype=np.int16)
    dem[3, 3] = aux.SRTM_VOID
    layers = aux.load_layers(GRID, aux.parse_layer_specs(f"dem={write(tmp_path / 'srtm.tif', dem)}"))
    assert [layer.name for layer in layers] == ["elevation", "slope", "aspect_sin", "aspect_cos"]
    elevation = layers[0].values
    assert np.isnan(elevation[12:, 12:]).all() and np.isfinite(elevation[:12]).all()
    np.testing.assert_allclose(elevation[:8, :8], 250)
    np.testing.assert_allclose(layers[1].values[:8, :8], 0, atol=1e-9)  # flat: no slope, no aspect
    np.testing.assert_array_equal(layers[2].values[:8, :8], 0)


def plane(rows: int, cols: int, pixel: float, east: float, north: float) -> np.ndarray:
    """z = 500 + east * x + north * y in metres, x east and y north of the top-left corner."""
    row, col = np.indices((rows, cols))
    return 500 + east * (col + 0.5) * pixel + north * -(row + 0.5) * pixel


def test_terrain_of_tilted_planes_of_known_gradient():
    transform = Affine(30.0, 0, 0, 0, -30.0, 0)
    utm = CRS.from_string(UTM)
    rising_east = aux.terrain(plane(12, 12, 30.0, 0.1, 0.0), transform, utm)
    np.testing.assert_allclose(rising_east["slope"], np.degrees(np.arctan(0.1)))  # 5.71 degrees
    np.testing.assert_allclose(rising_east["aspect_sin"], -1)  # faces west (downhill)
    np.testing.assert_allclose(rising_east["aspect_cos"], 0, atol=1e-12)
    rising_north = aux.terrain(plane(12, 12, 30.0, 0.0, 1.0), transform, utm)
    np.testing.assert_allclose(rising_north["slope"], 45)
    np.testing.assert_allclose(rising_north["aspect_cos"], -1)  # faces south
    diagonal = aux.terrain(plane(12, 12, 30.0, -0.3, -0.4), transform, utm)  # falls to the north-east
    np.testing.assert_allclose(diagonal["slope"], np.degrees(np.arctan(0.5)))
    np.testing.assert_allclose(diagonal["aspect_sin"], 0.6)
    np.testing.assert_allclose(diagonal["aspect_cos"], 0.8)


def test_terrain_is_computed_at_the_dems_resolution_and_in_metres_for_a_geographic_dem(tmp_path):
    # 1 arc-second pixels (SRTM's) near 46 N; z rises 0.1 m per metre eastwards.
    lat0, lon0, step = 46.0, 14.0, 1 / 3600
    row, col = np.indices((40, 40))
    lat = np.radians(lat0 - (row + 0.5) * step)
    metres_east = (col + 0.5) * step * (111412.84 * np.cos(lat) - 93.5 * np.cos(3 * lat))
    terrain = aux.terrain(500 + 0.1 * metres_east, Affine(step, 0, lon0, 0, -step, lat0), CRS.from_epsg(4326))
    np.testing.assert_allclose(terrain["slope"], np.degrees(np.arctan(0.1)), atol=1e-6)
    # Through load_layers, a DEM on 30 m pixels gives the plane's slope on the 10 m grid.
    dem = plane(8, 8, 30.0, 0.0, 0.2).astype(np.float32)
    path = write(tmp_path / "dem.tif", dem, Affine(30.0, 0, ORIGIN[0] - 30, 0, -30.0, ORIGIN[1] + 30))
    layers = {layer.name: layer for layer in aux.load_layers(GRID, aux.parse_layer_specs(f"dem={path}"))}
    np.testing.assert_allclose(layers["slope"].values, np.degrees(np.arctan(0.2)), rtol=1e-5)
    np.testing.assert_allclose(layers["aspect_cos"].values, -1, atol=1e-6)


def test_layer_specs_are_parsed_by_kind():
    specs = aux.parse_layer_specs("ndvi=modis.tif, dem=srtm.tif,soil=clay.tif,lulc=lc.tif:nearest")
    assert [(s.name, s.kind, s.path.name) for s in specs] == [
        ("ndvi", "ndvi", "modis.tif"),
        ("dem", "dem", "srtm.tif"),
        ("soil", "bilinear", "clay.tif"),
        ("lulc", "nearest", "lc.tif"),
    ]
    assert [name for spec in specs for name in spec.layer_names] == [
        "ndvi_modis",
        "elevation",
        "slope",
        "aspect_sin",
        "aspect_cos",
        "soil",
        "lulc",
    ]
    assert aux.parse_layer_specs(["dem=a.tif"]) == aux.parse_layer_specs("dem=a.tif")
    assert aux.parse_layer_specs("") == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("modis.tif", r"auxiliary layer 'modis.tif' is not name=path; e\.g\. ndvi=modis\.tif"),
        ("9x=a.tif", r"name '9x' must be a letter then"),
        ("dem=a.tif,elevation=b.tif", r"auxiliary layer elevation is given twice"),
        ("ndvi=a.tif:nearest", r"ndvi layers are always continuous \(bilinear\); drop ':nearest'"),
    ],
)
def test_bad_specs_are_one_line_config_errors(text, message):
    with pytest.raises(ConfigError, match=message) as caught:
        aux.parse_layer_specs(text)
    assert "\n" not in str(caught.value)


def one_line_error(grid: aux.Grid, text: str, message: str) -> str:
    with pytest.raises(DataError, match=message) as caught:
        aux.load_layers(grid, aux.parse_layer_specs(text))
    assert "\n" not in str(caught.value)
    return str(caught.value)


def test_a_missing_file_and_a_file_without_crs_name_the_file_and_the_fix(tmp_path):
    one_line_error(GRID, f"ndvi={tmp_path / 'nowhere.tif'}", r"nowhere\.tif not found; fix the path \(--aux_layers")
    path = write(tmp_path / "nocrs.tif", ramp(), crs=None)
    one_line_error(GRID, f"dem={path}", r"nocrs\.tif has no CRS, .*assign one \(gdal_edit\.py -a_srs")


def test_a_crs_that_cannot_be_transformed_is_a_one_line_error(tmp_path, capfd):
    path = write(tmp_path / "mars.tif", ramp(), crs="IAU_2015:49900")  # a Mars CRS: no way to the Earth's
    message = one_line_error(GRID, f"ndvi={path}", r"mars\.tif is in .*cannot be transformed to .*EPSG:32633")
    assert "gdalwarp -t_srs EPSG:32633" in message
    assert "ERROR" not in capfd.readouterr().err  # GDAL printed nothing of its own


def test_a_raster_that_does_not_cover_the_grid_is_a_one_line_error(tmp_path):
    half = write(tmp_path / "half.tif", ramp()[:, :2].copy())  # 80 m wide for a 160 m grid
    one_line_error(GRID, f"ndvi={half}", r"half\.tif \(bounds .*\) does not cover the Sentinel-2 grid .*whole scene")
    far = Affine(40.0, 0, ORIGIN[0] + 10_000, 0, -40.0, ORIGIN[1])
    one_line_error(GRID, f"soil={write(tmp_path / 'far.tif', ramp(), far)}", r"far\.tif .*does not cover")


def test_a_layer_all_nodata_over_the_grid_is_a_one_line_error(tmp_path):
    fill = np.full((4, 4), aux.MODIS_NDVI_FILL, dtype=np.int16)
    one_line_error(
        GRID,
        f"ndvi={write(tmp_path / 'fill.tif', fill)}",
        r"layer ndvi_modis from .*fill\.tif is all nodata over the Sentinel-2 grid \(nodata -3000\); export it",
    )
    voids = np.full((4, 4), -1.0, dtype=np.float32)
    one_line_error(GRID, f"soil={write(tmp_path / 'voids.tif', voids, nodata=-1)}", r"\(nodata -1\)")


def test_stored_values_reach_the_network_in_model_units():
    assert aux.stored_values("elevation", np.array([750.0]))[0] == pytest.approx(7500)  # 0.75 km after step 01
    assert aux.stored_values("slope", np.array([45.0]))[0] == pytest.approx(5000)  # half of vertical
    assert aux.stored_values("ndvi_modis", np.array([0.8]))[0] == pytest.approx(8000)
    assert aux.model_unit("elevation", "metres") == "km" and aux.model_unit("aspect_sin", "x") == "x"
    stacked, names = aux.stack([aux.Layer("a", np.zeros((2, 3)), "f", "bilinear", "u")] * 2)
    assert stacked.shape == (2, 3, 2) and names == ["a", "a"]


def test_grid_of_a_raster_is_its_crs_transform_and_shape(tmp_path):
    path = write(tmp_path / "s2.tif", np.zeros((16, 16), dtype=np.uint16), GRID.transform)
    assert aux.Grid.of_raster(path) == GRID
    assert GRID.bounds == (ORIGIN[0], ORIGIN[1] - 160, ORIGIN[0] + 160, ORIGIN[1])
