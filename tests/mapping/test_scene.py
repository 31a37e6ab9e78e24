"""Opening a scene for a run: bands by description as step 01 chooses them, step 01's scaling, and refusals."""

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.windows import Window

from phase4a.config import REPORT_BAND_NAMES
from phase4a.data.mock_auxiliary import MOCK_LAYERS
from phase4a.data.mock_scene import LABEL_COLUMN, NO_CLASS, write_mock_scene
from phase4a.errors import ConfigError, DataError
from phase4a.mapping.scene import Scaling, open_scene, recorded_scaling

from .conftest import CLASSES, FILE_BANDS, NODATA_PIXEL, stored_values, write_raster

SCALED = Scaling(10000.0, 0.0, already_scaled=False)
RUN_IN_FILE = [FILE_BANDS.index(name) for name in ("B02", "B03", "B04", "B08", "B11", "B12")]


def test_the_scaling_is_step_01s_and_copied_data_are_followed_to_the_step_01_that_scaled_them():
    made = {"already_scaled": False, "divisor": 10000.0, "offset": -1000.0}
    assert recorded_scaling({"scaling": made}) == Scaling(10000.0, -1000.0, False)
    copied = {
        "scaling": {"already_scaled": True, "divisor": 1.0, "offset": 0.0},
        "source": {"source": "npz", "origin_scaling": made, "origin": {"source": "raster"}},
    }
    assert recorded_scaling(copied) == Scaling(10000.0, -1000.0, False)
    assert recorded_scaling({"scaling": {"already_scaled": True, "divisor": 1.0, "offset": 0.0}}).already_scaled


def test_bands_are_chosen_by_description_in_the_runs_order_and_scaled(raster):
    with open_scene(raster, list(REPORT_BAND_NAMES), SCALED) as scene:
        assert scene.indexes == [i + 1 for i in RUN_IN_FILE]  # B8A (band 1) is not B8
        values, invalid = scene.read(Window(0, 0, scene.width, scene.height))
    stored = stored_values()
    expected = np.moveaxis(stored[RUN_IN_FILE], 0, -1) / 10000
    np.testing.assert_allclose(values, expected, rtol=1e-6)
    assert values.dtype == np.float32
    assert np.argwhere(invalid).tolist() == [list(NODATA_PIXEL)]


def test_bands_by_index_on_a_file_without_descriptions(tmp_path):
    path = write_raster(tmp_path / "plain.tif", stored_values(), descriptions=None)
    bands = [str(i + 1) for i in RUN_IN_FILE]
    with open_scene(path, list(REPORT_BAND_NAMES), SCALED, bands=bands) as scene:
        assert scene.indexes == [i + 1 for i in RUN_IN_FILE]


def test_a_raster_without_the_runs_bands_is_one_line(tmp_path):
    path = write_raster(tmp_path / "five.tif", stored_values()[:6], descriptions=FILE_BANDS[:6])  # no B12
    with pytest.raises(DataError, match=r"^band 'B12' is not in .*five.tif"):
        with open_scene(path, list(REPORT_BAND_NAMES), SCALED):
            pass


def test_bands_in_another_order_than_the_run_are_refused(raster):
    swapped = ["B3", "B2", "B4", "B8", "B11", "B12"]
    with pytest.raises(DataError, match="gives bands B3,B2,.* but the run was trained on B2,B3,.*--raster_bands"):
        with open_scene(raster, list(REPORT_BAND_NAMES), SCALED, bands=swapped):
            pass


@pytest.mark.parametrize(
    "crs, geotransform, message",
    [
        (None, None, "has no CRS"),
        ("EPSG:32633", Affine.identity(), "has no geotransform"),
        ("EPSG:4326", Affine(0.0001, 0, 15, 0, -0.0001, 46), "geographic CRS EPSG:4326.*reproject"),
    ],
)
def test_a_raster_that_cannot_be_placed_or_measured_is_one_line(tmp_path, crs, geotransform, message):
    path = write_raster(tmp_path / "bad.tif", stored_values(), crs=crs, geotransform=geotransform)
    with pytest.raises(DataError, match=message):
        with open_scene(path, list(REPORT_BAND_NAMES), SCALED):
            pass


def test_a_scene_stored_unlike_the_training_data_is_refused(tmp_path):
    reflectance = (stored_values() / 10000).astype(np.float32)
    path = write_raster(tmp_path / "float.tif", reflectance)
    with pytest.raises(DataError, match=r"holds values in \[0, 1\] .* training data were stored x 10000"):
        with open_scene(path, list(REPORT_BAND_NAMES), SCALED):
            pass
    with open_scene(path, list(REPORT_BAND_NAMES), Scaling(1.0, 0.0, already_scaled=True)) as scene:
        assert scene.read(Window(0, 0, 8, 8))[0].max() < 1


def test_the_mock_scene_is_seeded_utm_uint16_with_known_regions_and_their_polygons(tmp_path):
    first = write_mock_scene(tmp_path / "a", CLASSES, list(REPORT_BAND_NAMES), seed=3)
    again = write_mock_scene(tmp_path / "b", CLASSES, list(REPORT_BAND_NAMES), seed=3)
    assert first.raster.read_bytes() == again.raster.read_bytes()
    with rasterio.open(first.raster) as src:
        assert (src.crs.to_epsg(), src.res, src.dtypes[0], src.nodata) == (32633, (10.0, 10.0), "uint16", 0)
        assert list(src.descriptions) == list(REPORT_BAND_NAMES)
        values = src.read()
    nodata = first.truth == NO_CLASS
    assert (values[:, nodata] == 0).all() and (values[:, ~nodata] >= 1).all()
    regions = first.truth[:: first.region_side, :: first.region_side]
    assert np.bincount(regions.ravel()).tolist() == [5] * len(CLASSES)  # every class in five of the 25 regions
    polygons = gpd.read_file(first.polygons).to_crs(src.crs)
    assert len(polygons) == regions.size
    for label, geometry in zip(polygons[LABEL_COLUMN], polygons.geometry):
        col, row = ~src.transform @ (geometry.centroid.x, geometry.centroid.y)
        assert label == CLASSES[first.truth[int(row), int(col)]]
    with pytest.raises(ConfigError, match="no signature for class Snow"):
        write_mock_scene(tmp_path / "c", ["Snow", "Water"], list(REPORT_BAND_NAMES), seed=3)


def test_the_mock_scenes_layers_follow_its_classes_and_leave_its_bands_as_they_were(tmp_path):
    plain = write_mock_scene(tmp_path / "a", CLASSES, list(REPORT_BAND_NAMES), seed=3)
    fused = write_mock_scene(tmp_path / "b", CLASSES, list(REPORT_BAND_NAMES), seed=3, layers=True)
    assert plain.layers is None and fused.raster.read_bytes() == plain.raster.read_bytes()
    with rasterio.open(fused.layers) as src:
        assert src.descriptions == MOCK_LAYERS and src.dtypes[0] == "float32"
        layers = dict(zip(MOCK_LAYERS, src.read()))
    nodata = fused.truth == NO_CLASS
    assert all(np.isnan(values[nodata]).all() and np.isfinite(values[~nodata]).all() for values in layers.values())
    slope, ndvi = layers["slope"], layers["ndvi_modis"]
    water, forest = fused.truth == CLASSES.index("Water"), fused.truth == CLASSES.index("Forest")
    assert np.allclose(slope[water], 0) and np.median(slope[forest]) > 12  # water flat, forest on slopes
    assert ndvi[water].mean() < 0 < 0.5 < ndvi[forest].mean()  # MODIS NDVI tied to each tile's red and NIR
    tile = ndvi[:8, :8]
    assert np.isfinite(tile).all() and (tile == tile[0, 0]).all()  # one 250 m MODIS value over an 80 m tile
