"""Earth Engine acquisition, offline: a fake ``ee`` records how the composite is built, a fake geemap
writes the download, and a failing ``ee.Initialize`` gives the one-line authentication help.
"""

import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import rasterio

from phase4a.data import auxiliary, earth_engine
from phase4a.data.raster_patches import extract_patches
from phase4a.errors import DataError

from .conftest import ORIGIN, PIXEL, pixel_box, pixel_values, write_polygons, write_raster

SIX = ["B2", "B3", "B4", "B8", "B11", "B12"]
pytestmark = pytest.mark.filterwarnings("ignore:Use `@` matmul:PendingDeprecationWarning")


class Chain:
    """Stands for every ee object: each method call is recorded and returns the same chain."""

    def __init__(self, calls: list):
        self._calls = calls

    def __getattr__(self, name):
        def method(*args, **kwargs):
            self._calls.append((name, args))
            if name == "map":
                args[0](self)  # run the cloud mask on a stand-in image, so its calls are recorded too
            return self

        return method


def fake_ee(initialize=None) -> SimpleNamespace:
    calls: list = []
    chain = Chain(calls)

    def record(name):
        return lambda *args, **kwargs: calls.append((name, args)) or chain

    def initialized(**kwargs):
        calls.append(("Initialize", kwargs))

    return SimpleNamespace(
        calls=calls,
        Initialize=initialize or initialized,
        ImageCollection=record("ImageCollection"),
        Image=record("Image"),
        Terrain=SimpleNamespace(slope=record("Terrain.slope"), aspect=record("Terrain.aspect")),
        Geometry=SimpleNamespace(Rectangle=record("Rectangle")),
    )


@pytest.fixture
def ee(monkeypatch):
    fake = fake_ee()
    monkeypatch.setattr(earth_engine, "ee", fake)
    monkeypatch.delenv(earth_engine.PROJECT_ENV, raising=False)
    return fake


@pytest.fixture
def geemap(monkeypatch):
    """Writes a 6-band GeoTIFF without band names, as an Earth Engine download would arrive."""
    downloads = []

    def ee_export_image(image, filename, **kwargs):
        downloads.append(kwargs)
        write_raster(Path(filename), pixel_values()[:6], descriptions=None)

    fake = SimpleNamespace(ee_export_image=ee_export_image, downloads=downloads)
    monkeypatch.setitem(sys.modules, "geemap", fake)
    return fake


@pytest.fixture
def polygons(tmp_path):
    rows = [{"id": i, "label": "Forest", "geometry": pixel_box(2 + 10 * i, 2, 8, 8)} for i in range(2)]
    return write_polygons(tmp_path / "polygons.geojson", rows, to_crs="EPSG:4326")


def test_the_composite_uses_the_reports_collection_dates_bands_and_scl_mask(ee):
    earth_engine.sentinel2_composite(
        "region", earth_engine.DEFAULT_COLLECTION, earth_engine.DEFAULT_START, earth_engine.DEFAULT_END, SIX
    )
    assert ee.calls[0] == ("ImageCollection", ("COPERNICUS/S2_SR_HARMONIZED",))
    assert ("filterBounds", ("region",)) in ee.calls
    assert ("filterDate", ("2019-01-01", "2019-04-01")) in ee.calls  # the end is exclusive in filterDate
    assert ("select", ("SCL",)) in ee.calls
    assert ("remap", ([1, 3, 8, 9, 10], [0] * 5, 1)) in ee.calls
    assert [name for name, _ in ee.calls][-4:] == ["select", "median", "unmask", "toUint16"]
    assert ee.calls[-4] == ("select", (SIX,))
    assert ee.calls[-2] == ("unmask", (earth_engine.NODATA,))


def test_the_qa60_mask_drops_opaque_and_cirrus_bits(ee):
    earth_engine.sentinel2_composite("region", "C", "2019-01-01", "2019-03-31", SIX, cloud_mask="qa60")
    assert ("select", ("QA60",)) in ee.calls
    assert ("bitwiseAnd", (1 << 10,)) in ee.calls and ("bitwiseAnd", (1 << 11,)) in ee.calls


def test_export_writes_a_named_geotiff_that_patches_can_read(ee, geemap, polygons, tmp_path, monkeypatch):
    monkeypatch.setenv(earth_engine.PROJECT_ENV, "my-project")
    bands = ["B02", "B03", "B04", "B08", "B11", "B12"]  # written as Earth Engine names them
    out = earth_engine.export_composite(polygons, tmp_path / "ee" / "composite.tif", bands=bands)
    assert ("Initialize", {"project": "my-project"}) in ee.calls
    assert ("select", (SIX,)) in ee.calls
    (download,) = geemap.downloads
    assert (download["scale"], download["crs"]) == (10.0, "EPSG:32618")  # 10 m pixels in the polygons' UTM zone
    rectangle = next(args for name, args in ee.calls if name == "Rectangle")
    west, south, east, north = rectangle[0]
    assert -75.1 < west < east < -74.9 and 40.5 < south < north < 40.7 and rectangle[1:] == ("EPSG:4326", False)
    with rasterio.open(out) as raster:
        assert raster.descriptions == tuple(SIX) and raster.nodata == earth_engine.NODATA
    assert sorted(p.name for p in out.parent.iterdir()) == ["composite.tif"]  # no temporary files left
    patches = extract_patches(out, polygons, "label", ["Forest"], id_column="id", max_patches_per_polygon=1)
    assert patches.band_names == SIX and patches.groups.tolist() == [0, 1]
    np.testing.assert_array_equal(patches.X[0, ..., 0], pixel_values()[0, 2:10, 2:10])


def test_without_credentials_the_error_says_how_to_authenticate_and_nothing_is_written(
    monkeypatch, geemap, polygons, tmp_path
):
    def no_credentials(**kwargs):
        raise RuntimeError("Please authorize access to your Earth Engine account.\nMore detail here")

    monkeypatch.setattr(earth_engine, "ee", fake_ee(initialize=no_credentials))
    out = tmp_path / "ee" / "composite.tif"
    with pytest.raises(DataError, match=r"earthengine authenticate.*ee\.Authenticate\(\).*--ee_project") as caught:
        earth_engine.export_composite(polygons, out, project="my-project")
    message = str(caught.value)
    assert "\n" not in message and "'my-project'" in message and "Please authorize access" in message
    assert not out.parent.exists() and geemap.downloads == []


def test_a_missing_project_id_is_reported(ee, geemap, polygons, tmp_path):
    with pytest.raises(DataError, match="no Earth Engine project id given.*EARTHENGINE_PROJECT"):
        earth_engine.export_composite(polygons, tmp_path / "composite.tif")
    assert ee.calls == []


def test_a_failed_download_leaves_nothing_behind(ee, monkeypatch, polygons, tmp_path):
    monkeypatch.setitem(sys.modules, "geemap", SimpleNamespace(ee_export_image=lambda *a, **k: None))
    out = tmp_path / "composite.tif"
    with pytest.raises(DataError, match="Earth Engine download to .* failed"):
        earth_engine.export_composite(polygons, out, project="p")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["polygons.geojson"]


def test_an_existing_output_is_not_overwritten(ee, geemap, polygons, tmp_path):
    out = tmp_path / "composite.tif"
    out.write_text("keep me")
    with pytest.raises(DataError, match="already exists; delete it or choose another --raster_path"):
        earth_engine.export_composite(polygons, out, project="p")
    assert out.read_text() == "keep me" and ee.calls == []


def test_an_extent_of_too_many_tiles_is_refused_before_earth_engine_starts(ee, geemap, tmp_path):
    huge = write_polygons(
        tmp_path / "huge.geojson", [{"id": 0, "label": "Forest", "geometry": pixel_box(0, 0, 100_000, 100_000)}]
    )
    with pytest.raises(DataError, match=r"about [\d.]+ GiB, \d+ downloads of Earth Engine's 48 MiB limit .*--ee_scale"):
        earth_engine.export_composite(huge, tmp_path / "composite.tif", project="p")
    assert ee.calls == []


# --- an extent over the download limit: tiles, a cache that resumes, a mosaic ---------------------------

TILE_PIXELS = 18  # the tiles' side under the limit the tests set (TILE_FILL of 20 x 20 pixels of six bands)


def pattern(bands: int, left: float, top: float, rows: int, cols: int) -> np.ndarray:
    """The composite everywhere: each pixel's value from its map position, so tiles must line up."""
    band, row, col = np.indices((bands, rows, cols))
    row = row + round((ORIGIN[1] - top) / PIXEL)
    col = col + round((left - ORIGIN[0]) / PIXEL)
    return ((band + 1) * 1000 + (row * 7 + col * 3) % 997).astype(np.uint16)


class Box:
    """ee.Geometry.Rectangle's stand-in that remembers its corners, for the stand-in download."""

    def __init__(self, coords, proj=None, geodesic=None):
        self.coords, self.proj = list(coords), proj


@pytest.fixture
def tiled(ee, monkeypatch, tmp_path):
    """A download limit of 20 x 20 pixels, rectangles that remember their corners, and a geemap that writes
    the composite's tile for the region asked (or nothing, for the calls listed in ``fail``)."""
    monkeypatch.setattr(earth_engine, "DOWNLOAD_LIMIT_BYTES", 20 * 20 * 6 * 2)
    ee.Geometry = SimpleNamespace(Rectangle=Box)
    monkeypatch.setenv(earth_engine.PROJECT_ENV, "my-project")
    state = SimpleNamespace(regions=[], fail=set())

    def ee_export_image(image, filename, scale, crs, region, **kwargs):
        state.regions.append(tuple(region.coords))
        if len(state.regions) in state.fail:
            return  # geemap prints the cause and writes nothing
        left, bottom, right, top = region.coords
        rows, cols = round((top - bottom) / scale), round((right - left) / scale)
        profile = {"driver": "GTiff", "width": cols, "height": rows, "count": 6, "dtype": "uint16", "crs": crs}
        with rasterio.open(
            filename, "w", **profile, transform=rasterio.transform.from_origin(left, top, scale, scale)
        ) as raster:
            raster.write(pattern(6, left, top, rows, cols))

    monkeypatch.setitem(sys.modules, "geemap", SimpleNamespace(ee_export_image=ee_export_image))
    corners = [pixel_box(0, 0, 8, 8), pixel_box(30, 32, 8, 8)]  # 38 x 40 pixels apart: 3 x 3 tiles
    rows = [{"id": i, "label": "Forest", "geometry": geometry} for i, geometry in enumerate(corners)]
    state.polygons = write_polygons(tmp_path / "polygons.geojson", rows, to_crs="EPSG:4326")
    state.out = tmp_path / "ee" / "composite.tif"
    return state


def check_mosaic(path: Path) -> None:
    with rasterio.open(path) as raster:
        assert raster.descriptions == tuple(SIX) and raster.nodata == earth_engine.NODATA
        assert raster.res == (PIXEL, PIXEL) and str(raster.crs) == "EPSG:32618"
        np.testing.assert_array_equal(
            raster.read(), pattern(6, raster.bounds.left, raster.bounds.top, raster.height, raster.width)
        )
        assert raster.width > 2 * TILE_PIXELS and raster.height > 2 * TILE_PIXELS


def test_an_extent_over_the_limit_is_downloaded_in_tiles_and_mosaicked(tiled, capsys):
    out = earth_engine.export_composite(tiled.polygons, tiled.out)
    assert len(tiled.regions) == 9 and len(set(tiled.regions)) == 9
    for left, bottom, right, top in tiled.regions:  # each under the limit, on the 10 m grid
        assert (right - left) / PIXEL <= TILE_PIXELS and (top - bottom) / PIXEL <= TILE_PIXELS
        assert all(value % PIXEL == 0 for value in (left, bottom, right, top))
    check_mosaic(out)
    printed = capsys.readouterr().out
    assert [line for line in printed.splitlines() if line.startswith("tile ")][
        -1
    ] == "tile 9/9 (row 2, column 2): downloaded"
    assert sorted(p.name for p in out.parent.iterdir()) == ["composite.tif"]  # the tile cache is gone
    patches = extract_patches(out, tiled.polygons, "label", ["Forest"], id_column="id", max_patches_per_polygon=1)
    assert patches.groups.tolist() == [0, 1]


def test_an_interrupted_tiled_download_resumes_with_the_tiles_it_has(tiled, capsys):
    tiled.fail = {4}
    with pytest.raises(DataError, match=r"tile 4/9 .* failed .*run the same command again to resume: the 3 tiles"):
        earth_engine.export_composite(tiled.polygons, tiled.out)
    cache = earth_engine.tile_cache(tiled.out)
    assert sorted(p.name for p in cache.glob("*.tif")) == ["r000_c000.tif", "r000_c001.tif", "r000_c002.tif"]
    assert not tiled.out.exists()
    (cache / "r000_c001.tif").write_bytes((cache / "r000_c001.tif").read_bytes()[:500])  # a kill mid-write
    tiled.fail, first = set(), list(tiled.regions)
    capsys.readouterr()
    earth_engine.export_composite(tiled.polygons, tiled.out)
    again = tiled.regions[len(first) :]
    assert len(again) == 7 and first[0] not in again and first[2] not in again  # the damaged tile, then 4-9
    assert "tile 1/9 (row 0, column 0): already in" in capsys.readouterr().out
    check_mosaic(tiled.out)


def test_tiles_of_another_request_are_not_reused(tiled):
    tiled.fail = {2}
    with pytest.raises(DataError, match="failed"):
        earth_engine.export_composite(tiled.polygons, tiled.out)
    tiled.fail, before = set(), len(tiled.regions)
    earth_engine.export_composite(tiled.polygons, tiled.out, end="2019-02-28")
    assert len(tiled.regions) - before == 9
    check_mosaic(tiled.out)


def test_an_unknown_cloud_mask_is_rejected(ee, polygons, tmp_path):
    with pytest.raises(DataError, match="cloud mask 'cloudscore' is unknown; choose one of scl, qa60"):
        earth_engine.export_composite(polygons, tmp_path / "composite.tif", project="p", cloud_mask="cloudscore")


# --- Phase 4B: MODIS NDVI and SRTM terrain computed in Earth Engine, bands of the composite ----------------

TERRAIN = list(auxiliary.TERRAIN_LAYERS)


def names(calls: list) -> list[str]:
    return [name for name, _ in calls]


def test_modis_ndvi_is_quality_masked_resampled_bilinear_composited_over_the_s2_dates_and_scaled(ee):
    earth_engine.modis_ndvi("region", "2019-01-01", "2019-03-31")
    assert ee.calls[0] == ("ImageCollection", ("MODIS/061/MOD13Q1",))
    assert ("filterBounds", ("region",)) in ee.calls and ("filterDate", ("2019-01-01", "2019-04-01")) in ee.calls
    order = names(ee.calls)
    # Each 16-day image is masked on SummaryQA <= 1 and set to bilinear before the median composite.
    assert ee.calls[order.index("lte") - 1] == ("select", ("SummaryQA",)) and ("lte", (1,)) in ee.calls
    assert order.index("updateMask") < order.index("resample") < order.index("median")
    assert ("resample", ("bilinear",)) in ee.calls
    assert order[-4:] == ["select", "median", "multiply", "rename"]
    assert ee.calls[-4] == ("select", ("NDVI",)) and ee.calls[-2] == ("multiply", (0.0001,))
    assert ee.calls[-1] == ("rename", (["ndvi_modis"],))


def test_srtm_terrain_is_computed_on_srtms_grid_then_resampled_bilinear_and_named_like_local_files(ee):
    earth_engine.srtm_terrain()
    assert ee.calls[:2] == [("Image", ("USGS/SRTMGL1_003",)), ("select", ("elevation",))]
    order = names(ee.calls)
    assert "Terrain.slope" in order and "Terrain.aspect" in order
    assert ("multiply", (np.pi / 180,)) in ee.calls and "sin" in order and "cos" in order  # aspect as sine, cosine
    # Terrain on SRTM's own 30 m grid (its projection), then interpolated onto the export grid.
    assert order[-4:] == ["rename", "projection", "reproject", "resample"]
    assert ee.calls[-4] == ("rename", (TERRAIN,)) and ee.calls[-1] == ("resample", ("bilinear",))


@pytest.fixture
def geemap_layers(monkeypatch):
    """A download of as many float32 bands as the image holds, unnamed; layer bands hold their index + 0.5."""
    downloads = []

    def ee_export_image(image, filename, **kwargs):
        downloads.append(kwargs)
        values = pixel_values()[:6].astype(np.float32)
        layers = np.stack([np.full(values.shape[1:], index + 0.5, dtype=np.float32) for index in range(5)])
        write_raster(Path(filename), np.concatenate([values, layers]), descriptions=None)

    monkeypatch.setitem(sys.modules, "geemap", SimpleNamespace(ee_export_image=ee_export_image, downloads=downloads))
    return downloads


@pytest.mark.parametrize(("spec", "first_built"), [("ndvi=ee,dem=ee", "ImageCollection"), ("dem=ee,ndvi=ee", "Image")])
def test_layers_are_float_bands_after_the_s2_bands_in_spec_order_and_patches_carry_them(
    ee, geemap_layers, polygons, tmp_path, spec, first_built
):
    specs = auxiliary.parse_layer_specs(spec)
    out = earth_engine.export_composite(polygons, tmp_path / "composite.tif", project="p", aux_layers=specs)
    layers = [name for item in specs for name in item.layer_names]
    order = names(ee.calls)
    assert ("ImageCollection", ("MODIS/061/MOD13Q1",)) in ee.calls and ("Image", ("USGS/SRTMGL1_003",)) in ee.calls
    # MODIS is composited over the S2 composite's own dates.
    assert [args for name, args in ee.calls if name == "filterDate"] == [("2019-01-01", "2019-04-01")] * 2
    assert order.index("toUint16") < order.index("toFloat") and order.count("addBands") >= 2
    layer_calls = [(name, args) for name, args in ee.calls if name in ("ImageCollection", "Image")][1:]
    assert layer_calls[0][0] == first_built  # the first layer of the spec is the first band added
    with rasterio.open(out) as raster:
        assert raster.descriptions == tuple(SIX + layers) and raster.nodata == earth_engine.NODATA
    patches = extract_patches(out, polygons, "label", ["Forest"], id_column="id", aux_layers=specs)
    assert patches.band_names == SIX + layers
    for offset, name in enumerate(layers):
        expected = auxiliary.stored_values(name, np.full((8, 8), offset + 0.5))
        np.testing.assert_array_equal(patches.X[0, ..., 6 + offset], expected)


def test_layers_make_a_download_of_float32_so_tiles_are_planned_for_four_bytes_a_value():
    bounds = (0.0, 0.0, 30_000.0, 30_000.0)  # 3000 x 3000 pixels
    assert earth_engine.plan_tiles(bounds, 10.0, 2) == []  # 36 MB of uint16
    assert len(earth_engine.plan_tiles(bounds, 10.0, 2, earth_engine.FLOAT32_BYTES)) > 1  # 72 MB


def test_a_composite_exported_without_the_layers_is_a_one_line_error_naming_the_fix(ee, geemap, polygons, tmp_path):
    out = earth_engine.export_composite(polygons, tmp_path / "composite.tif", project="p")
    specs = auxiliary.parse_layer_specs("ndvi=ee")
    with pytest.raises(DataError, match=r"has no band ndvi_modis .*exported without these layers: delete it") as caught:
        extract_patches(out, polygons, "label", ["Forest"], id_column="id", aux_layers=specs)
    assert "\n" not in str(caught.value)


def test_layers_without_credentials_give_the_same_one_line_error_and_nothing_is_built(
    monkeypatch, geemap_layers, polygons, tmp_path
):
    def offline(**kwargs):
        raise RuntimeError("Unable to find the server at oauth2.googleapis.com")

    fake = fake_ee(initialize=offline)
    monkeypatch.setattr(earth_engine, "ee", fake)
    specs = auxiliary.parse_layer_specs("ndvi=ee,dem=ee")
    out = tmp_path / "ee" / "composite.tif"
    with pytest.raises(DataError, match=r"Earth Engine did not start .*earthengine authenticate") as caught:
        earth_engine.export_composite(polygons, out, project="p", aux_layers=specs)
    assert "\n" not in str(caught.value) and not out.parent.exists()
    assert [name for name, _ in fake.calls if name in ("ImageCollection", "Image")] == [] and geemap_layers == []
