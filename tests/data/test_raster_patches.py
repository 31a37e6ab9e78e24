"""Patches from a GeoTIFF and labelled polygons: known pixels, skip counts, band choice, bad input."""

import numpy as np
import pytest
import rasterio
from shapely.geometry import box

from phase4a.data import dataset as ds
from phase4a.data import raster_patches as rp
from phase4a.data.splits import shared_groups
from phase4a.errors import ConfigError, DataError

from .conftest import FILE_BANDS, pixel_box, pixel_values, write_polygons, write_raster

CLASSES = ["Agriculture", "Forest", "Parcels", "Urban", "Water"]
SIX = ["B2", "B3", "B4", "B8", "B11", "B12"]
SIX_IN_FILE = [0, 1, 2, 4, 5, 6]  # 0-based positions of the six in FILE_BANDS (B8A is at 3)
GOOD = {"id": 1, "label": "Forest", "geometry": pixel_box(2, 2, 8, 8)}

# rasterio's own window code multiplies Affine with `*`, which the installed affine flags as pending deprecation.
pytestmark = pytest.mark.filterwarnings("ignore:Use `@` matmul:PendingDeprecationWarning")


def expected_patch(row: int, col: int, size: int = 8) -> np.ndarray:
    return np.moveaxis(pixel_values()[SIX_IN_FILE, row : row + size, col : col + size], 0, -1)


def extract(raster, polygons, **options):
    options = {"patch_size": 8, "max_patches_per_polygon": 3, "id_column": "id", "seed": 0, **options}
    return rp.extract_patches(raster, polygons, "label", CLASSES, **options)


def test_known_polygons_give_the_expected_patches_ids_and_skip_counts(raster, polygons):
    patches = extract(raster, polygons)
    assert patches.X.shape == (6, 8, 8, 6)
    assert patches.X.dtype == np.uint16  # raw values, as stored
    assert patches.band_names == SIX
    assert patches.groups.tolist() == [101, 102, 102, 102, 108, 108]
    assert patches.y.tolist() == [1, 4, 4, 4, 4, 4]
    np.testing.assert_array_equal(patches.X[0], expected_patch(2, 2))
    # Polygon 108 spans rows 20-28: its two positions start at rows 20 and 21, in order.
    np.testing.assert_array_equal(patches.X[4], expected_patch(20, 12))
    np.testing.assert_array_equal(patches.X[5], expected_patch(21, 12))
    # Polygon 102 (10x10) has 9 positions; the three taken are distinct ones among them.
    corners = {(int(p[0, 0, 0] - 2000) // 40, int(p[0, 0, 0] - 2000) % 40) for p in patches.X[1:4]}
    assert len(corners) == 3 and all(2 <= r <= 4 and 20 <= c <= 22 for r, c in corners)
    assert patches.skipped == {
        rp.NULL_GEOMETRY: 1,
        rp.INVALID_GEOMETRY: 1,
        rp.TOO_SMALL: 1,
        rp.NODATA_PATCH: 1,
        rp.OUTSIDE_RASTER: 1,
    }
    reasons = {p["id"]: p["reason"] for p in patches.polygons}
    assert reasons == {
        101: None,
        102: None,
        103: rp.NULL_GEOMETRY,
        104: rp.INVALID_GEOMETRY,
        105: rp.TOO_SMALL,
        106: rp.NODATA_PATCH,
        107: rp.OUTSIDE_RASTER,
        108: None,
    }
    assert [p["candidates"] for p in patches.polygons][:2] == [1, 9]


def test_a_polygon_over_the_raster_edge_gives_patches_from_its_inside_part(raster, tmp_path):
    straddling = write_polygons(tmp_path / "edge.geojson", [{**GOOD, "geometry": pixel_box(2, -4, 8, 12)}])
    patches = extract(raster, straddling)
    assert patches.groups.tolist() == [1]  # only columns 0-7 are on the raster: one position
    np.testing.assert_array_equal(patches.X[0], expected_patch(2, 0))


def test_patches_are_seeded(raster, polygons):
    first, again = extract(raster, polygons, seed=7), extract(raster, polygons, seed=7)
    np.testing.assert_array_equal(first.X, again.X)
    picks = {extract(raster, polygons, seed=seed).X[1:4, 0, 0, 0].tobytes() for seed in range(6)}
    assert len(picks) > 1  # the seed decides which of polygon 102's nine positions are taken


def test_polygon_id_defaults_to_the_row_index(raster, polygons):
    patches = extract(raster, polygons, id_column=None)
    assert patches.groups.tolist() == [0, 1, 1, 1, 7, 7]


@pytest.mark.parametrize(
    ("bands", "names", "file_positions"),
    [
        (["B02", "b8", "B8A"], ["B2", "B8", "B8A"], [0, 4, 3]),  # B02 == B2, B8 != B8A
        ([1, "5", 4], ["B2", "B8", "B8A"], [0, 4, 3]),  # 1-based indexes, as numbers or text
    ],
)
def test_bands_are_chosen_by_name_or_index(raster, polygons, bands, names, file_positions):
    patches = extract(raster, polygons, bands=bands)
    assert patches.band_names == names
    expected = np.moveaxis(pixel_values()[file_positions, 2:10, 2:10], 0, -1)
    np.testing.assert_array_equal(patches.X[0], expected)


def test_a_file_without_band_descriptions_takes_names_from_the_user(tmp_path, polygons):
    bare = write_raster(tmp_path / "bare.tif", pixel_values(), descriptions=None)
    with pytest.raises(DataError, match="has no band descriptions.*--raster_band_names"):
        extract(bare, polygons)
    patches = extract(bare, polygons, band_names_in_file=FILE_BANDS)
    assert patches.band_names == SIX
    np.testing.assert_array_equal(patches.X[0], expected_patch(2, 2))
    assert extract(bare, polygons, bands=[2, 3]).band_names == ["band2", "band3"]


def test_load_raster_dataset_splits_by_polygon(raster, grid_polygons):
    data = rp.load_raster_dataset(
        raster, grid_polygons, "label", ["Forest", "Water"], patch_size=4, max_patches_per_polygon=3, id_column="id"
    )
    ds.validate(data)
    assert len(data.X_train) + len(data.X_val) == 15 * 3
    assert len(shared_groups(data.groups_train, data.groups_val)) == 0
    assert data.notes["polygons_used"] == 15 and data.notes["skipped"] == {}
    assert len(np.unique(data.groups_val)) == 3  # 20% of 7 Forest and of 8 Water polygons, rounded


def test_a_class_with_one_polygon_cannot_be_split(raster, polygons):
    with pytest.raises(DataError, match=r"Forest \(1\).*fewer than 2 polygons"):
        rp.load_raster_dataset(raster, polygons, "label", CLASSES, id_column="id")


def write_bad(tmp_path, name, rows, crs="EPSG:32618"):
    return write_polygons(tmp_path / name, rows, crs=crs)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"raster_path": "none.tif"}, r"raster .*none\.tif not found; pass --raster_path"),
        ({"polygons_path": "none.geojson"}, r"polygon file .*none\.geojson not found"),
        ({"label_column": "klass"}, r"no column 'klass' \(columns: \['id', 'label'\]\); set --label_column"),
        ({"id_column": "fid"}, r"no column 'fid' .*set --id_column"),
        ({"class_names": ["Forest", "Urban"]}, r"labels \['Water'\] .* not in class_names"),
        ({"patch_size": 12}, "patch size 12 is larger than every polygon"),
        ({"bands": ["B2", "B5"]}, r"band 'B5' is not in .*composite\.tif \(its bands: \["),
        ({"bands": [0]}, r"band index 0 is outside 1\.\.7"),
        ({"band_names_in_file": ["B2"]}, "1 band names given .* it has 7 bands"),
    ],
)
def test_bad_input_is_rejected_with_a_precise_message(raster, polygons, tmp_path, options, message):
    options = {"raster_path": raster, "polygons_path": polygons, "label_column": "label", **options}
    options = {"class_names": CLASSES, "id_column": "id", **options}
    for key in ("raster_path", "polygons_path"):
        options[key] = tmp_path / options[key]  # an absolute path stays as it is
    with pytest.raises(DataError, match=message) as caught:
        rp.extract_patches(**options)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("option", ["patch_size", "max_patches_per_polygon"])
def test_sizes_below_one_are_rejected(raster, polygons, option):
    with pytest.raises(ConfigError, match=f"{option} is 0; it must be at least 1"):
        extract(raster, polygons, **{option: 0})


def test_unreadable_files_are_named(raster, polygons, tmp_path):
    (tmp_path / "junk.tif").write_text("not a GeoTIFF")
    (tmp_path / "junk.geojson").write_text("{ not json")
    with pytest.raises(DataError, match=r"junk\.tif is not a readable GeoTIFF"):
        rp.extract_patches(tmp_path / "junk.tif", polygons, "label", CLASSES)
    with pytest.raises(DataError, match=r"junk\.geojson is unreadable"):
        rp.extract_patches(raster, tmp_path / "junk.geojson", "label", CLASSES)


@pytest.mark.filterwarnings("ignore:'crs' was not provided")
def test_polygons_without_a_crs_are_rejected_with_the_fix(raster, tmp_path):
    no_crs = write_bad(tmp_path, "no_crs.gpkg", [GOOD], crs=None)
    with pytest.raises(DataError, match=r"has no CRS but the raster is in EPSG:32618; set it"):
        rp.extract_patches(raster, no_crs, "label", CLASSES)


def test_a_raster_without_a_crs_cannot_take_projected_polygons(tmp_path, polygons):
    bare = write_raster(tmp_path / "no_crs.tif", pixel_values(), FILE_BANDS, crs=None)
    with pytest.raises(DataError, match="has no CRS, so polygons in EPSG:4326 cannot be placed"):
        rp.extract_patches(bare, polygons, "label", CLASSES)


def test_a_raster_that_misses_the_polygons_is_rejected(raster, tmp_path):
    far = write_bad(tmp_path, "far.geojson", [{**GOOD, "geometry": box(0, 0, 100, 100)}])
    with pytest.raises(DataError, match="does not overlap the polygons"):
        rp.extract_patches(raster, far, "label", CLASSES)


def test_only_unusable_polygons_say_why_nothing_was_cut(raster, tmp_path):
    null_only = write_bad(tmp_path, "null.geojson", [{**GOOD, "geometry": None}])
    with pytest.raises(DataError, match="no patches could be cut: skipped {'null geometry': 1}"):
        rp.extract_patches(raster, null_only, "label", CLASSES)


# --- the real EuroSAT-MS sample tiles (../shared/data/eurosat_ms_samples, band order in SOURCE.md) ---

EUROSAT_LABELS = {"AnnualCrop": "Agriculture", "Forest": "Forest", "Pasture": "Parcels", "River": "Water"}


def tile_polygon(tmp_path, tif, label, to_crs=None):
    """One polygon just inside the tile's bounds: every pixel centre of the 64 x 64 tile lies in it."""
    with rasterio.open(tif) as src:
        left, bottom, right, top = src.bounds
        crs = src.crs.to_string()
    rows = [{"id": 0, "label": label, "geometry": box(left + 1, bottom + 1, right - 1, top - 1)}]
    return write_polygons(tmp_path / f"{tif.stem}.geojson", rows, crs=crs, to_crs=to_crs)


def test_real_tiles_give_the_six_bands_by_name(eurosat_dir, tmp_path):
    tif = eurosat_dir / "Forest_20.tif"
    polygon = tile_polygon(tmp_path, tif, "Forest", to_crs="EPSG:4326")
    options = {"patch_size": 8, "max_patches_per_polygon": 57 * 57, "seed": 0}
    patches = rp.extract_patches(
        tif, polygon, "label", CLASSES, band_names_in_file=list(rp.EUROSAT_BAND_NAMES), **options
    )
    assert patches.band_names == SIX
    assert patches.X.shape == (57 * 57, 8, 8, 6) and patches.skipped == {}
    with rasterio.open(tif) as src:
        reference = np.moveaxis(src.read([2, 3, 4, 8, 11, 12]), 0, -1)  # SOURCE.md: B02 B03 B04 B08 B11 B12
        b8a = src.read(13)
    np.testing.assert_array_equal(patches.X[0], reference[:8, :8])
    np.testing.assert_array_equal(patches.X[-1], reference[56:, 56:])
    by_index = rp.extract_patches(tif, polygon, "label", CLASSES, bands=[2, 3, 4, 8, 11, 12], **options)
    np.testing.assert_array_equal(by_index.X, patches.X)
    narrow = rp.extract_patches(
        tif, polygon, "label", CLASSES, bands=["B8A"], band_names_in_file=list(rp.EUROSAT_BAND_NAMES), **options
    )
    np.testing.assert_array_equal(narrow.X[0, ..., 0], b8a[:8, :8])


@pytest.mark.parametrize("stem", sorted(EUROSAT_LABELS))
def test_real_tiles_cut_patches_with_their_labels(eurosat_dir, tmp_path, stem):
    tif = eurosat_dir / f"{stem}_20.tif"
    polygon = tile_polygon(tmp_path, tif, EUROSAT_LABELS[stem])
    patches = rp.extract_patches(
        tif, polygon, "label", CLASSES, band_names_in_file=list(rp.EUROSAT_BAND_NAMES), max_patches_per_polygon=4
    )
    assert patches.X.shape == (4, 8, 8, 6)
    assert set(patches.y) == {CLASSES.index(EUROSAT_LABELS[stem])}
    # Level-1C reflectance x 10000: positive, far below the uint16 ceiling.
    assert 0 < patches.X.min() and patches.X.max() < 20000


def test_real_tiles_without_band_names_cannot_be_read_by_name(eurosat_dir, tmp_path):
    tif = eurosat_dir / "River_20.tif"
    with pytest.raises(DataError, match="River_20.tif has no band descriptions"):
        rp.extract_patches(tif, tile_polygon(tmp_path, tif, "Water"), "label", CLASSES)
