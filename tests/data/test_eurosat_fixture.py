"""The real-data fixture: the EuroSAT-MS sample tiles of ../shared cut into 8x8 patches, split three ways
by tile, or (the ten sample tiles have too few per class for that) by tile quadrant with the tiles'
leakage said (phase4a.data.eurosat, data_source eurosat)."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio

from phase4a.data import dataset as ds
from phase4a.data import eurosat
from phase4a.errors import ConfigError, DataError
from phase4a.paths import EUROSAT_SAMPLES_DIR
from phase4a.steps import setup_config

needs_tiles = pytest.mark.skipif(
    not EUROSAT_SAMPLES_DIR.is_dir(),
    reason=f"the EuroSAT-MS sample tiles are not at {EUROSAT_SAMPLES_DIR} (../shared is absent in this checkout)",
)
CLASSES = ["Agriculture", "Forest", "Parcels", "Urban", "Water"]
SIX = ["B2", "B3", "B4", "B8", "B11", "B12"]
SIX_IN_FILE = [2, 3, 4, 8, 11, 12]  # 1-based, SOURCE.md's band order
TILES = 8  # the EuroSAT classes that map onto the five (HerbaceousVegetation and Highway do not)
LOCK = ".phase4a.lock"  # phase4a/lock.py's advisory lock, not an output


def written(run_dir) -> list[str]:
    return sorted(path.name for path in run_dir.iterdir() if path.name != LOCK) if run_dir.exists() else []


def all_patches(data: ds.Dataset):
    """X, y, groups and split name of every patch, over the splits."""
    parts = list(data.splits())
    X = np.concatenate([X for _, X, _, _ in parts])
    y = np.concatenate([y for _, _, y, _ in parts])
    groups = np.concatenate([g for _, _, _, g in parts])
    names = np.concatenate([[split] * len(y) for split, _, y, _ in parts])
    return X, y, groups, names


@pytest.fixture(scope="module")
def fixture_data() -> ds.Dataset:
    if not EUROSAT_SAMPLES_DIR.is_dir():
        pytest.skip(f"the EuroSAT-MS sample tiles are not at {EUROSAT_SAMPLES_DIR} (../shared is absent)")
    return eurosat.load_eurosat_dataset(seed=42, split_unit="quadrant")


def by_quadrant(**options) -> ds.Dataset:
    return eurosat.load_eurosat_dataset(split_unit="quadrant", **options)


@needs_tiles
def test_the_sample_has_too_few_tiles_to_split_by_tile_and_the_error_names_the_quadrant_option():
    with pytest.raises(ConfigError, match=r"class Agriculture has 1 tile, too few .*--eurosat_split_unit quadrant"):
        eurosat.load_eurosat_dataset(seed=42)


@needs_tiles
def test_split_by_tile_no_tile_is_in_two_splits(tmp_path):
    # Three copies of each class's tile under other numbers: enough tiles per class to split by tile.
    for path in EUROSAT_SAMPLES_DIR.glob("*_20.tif"):
        for number in (20, 21, 22):
            shutil.copy(path, tmp_path / path.name.replace("_20", f"_{number}"))
    data = eurosat.load_eurosat_dataset(tmp_path, seed=42)
    tiles = {split: set(groups.tolist()) for split, _, _, groups in data.splits()}
    assert not tiles["train"] & tiles["validation"] and not tiles["train"] & tiles["test"]
    assert not tiles["validation"] & tiles["test"]
    assert data.notes["groups"] == "tile" and "leakage_warning" not in data.notes
    ds.validate(data)


@needs_tiles
def test_split_by_quadrant_the_tiles_in_two_splits_are_named(fixture_data):
    warning = fixture_data.notes["leakage_warning"]
    assert "tile(s) have patches in both test and train" in warning
    assert "not to new tiles" in warning


@needs_tiles
def test_each_tile_gives_64_patches_of_the_six_bands_at_stored_values(fixture_data):
    X, y, groups, _ = all_patches(fixture_data)
    assert X.shape == (TILES * 64, 8, 8, 6) and X.dtype == np.uint16
    assert fixture_data.band_names == SIX and fixture_data.class_names == CLASSES
    assert len(fixture_data.notes["tiles"]) == TILES
    assert X.max() > 1000  # reflectance x 10000; step 01 scales it
    ds.validate(fixture_data)


@needs_tiles
def test_every_patch_is_a_block_of_its_tile_quadrant_with_the_tiles_class(fixture_data):
    X, y, groups, _ = all_patches(fixture_data)
    for number, record in enumerate(fixture_data.notes["tiles"]):
        with rasterio.open(EUROSAT_SAMPLES_DIR / record["file"]) as src:
            values = np.moveaxis(src.read(SIX_IN_FILE), 0, -1)
        assert record["class"] == eurosat.EUROSAT_TO_CLASS[record["eurosat_class"]]
        assert record["file"].startswith(record["eurosat_class"] + "_")
        for quadrant, (top, left) in zip(eurosat.QUADRANTS, ((0, 0), (0, 32), (32, 0), (32, 32))):
            group = record["quadrants"][quadrant]["group"]
            assert group == number * 4 + eurosat.QUADRANTS.index(quadrant)
            mine = groups == group
            assert mine.sum() == 16  # a 32x32 quadrant holds 4 x 4 patches
            assert set(y[mine]) == {CLASSES.index(record["class"])}
            blocks = values[top : top + 32, left : left + 32].reshape(4, 8, 4, 8, 6).transpose(0, 2, 1, 3, 4)
            expected = {block.tobytes() for block in blocks.reshape(16, 8, 8, 6)}
            assert {patch.tobytes() for patch in X[mine]} == expected
    assert len(np.unique(groups)) == TILES * 4


@needs_tiles
def test_no_quadrant_is_in_two_splits_and_every_class_is_in_every_split(fixture_data):
    _, y, groups, names = all_patches(fixture_data)
    for group in np.unique(groups):
        assert len(set(names[groups == group])) == 1
    for split, _, labels, _ in fixture_data.splits():
        assert set(labels) == set(range(len(CLASSES))), split
    recorded = {q["group"]: q["split"] for t in fixture_data.notes["tiles"] for q in t["quadrants"].values()}
    assert all(recorded[int(g)] == str(n) for g, n in zip(groups, names))
    # Agriculture and Forest have one tile (4 quadrants: 2 train, 1 validation, 1 test); the others two.
    assert [len(np.unique(g)) for _, _, _, g in fixture_data.splits()] == [16, 8, 8]


@needs_tiles
def test_the_split_is_seeded_and_other_seeds_are_valid_too(fixture_data):
    again = by_quadrant(seed=42)
    for (_, X, _, groups), (_, X2, _, groups2) in zip(fixture_data.splits(), again.splits()):
        np.testing.assert_array_equal(groups, groups2)
        np.testing.assert_array_equal(X, X2)
    test_groups = set()
    for seed in range(5):
        other = by_quadrant(seed=seed)
        ds.validate(other)  # every class in every split
        _, _, groups, names = all_patches(other)
        assert all(len(set(names[groups == g])) == 1 for g in np.unique(groups))
        test_groups.add(tuple(np.unique(other.groups_test)))
    assert len(test_groups) > 1


@needs_tiles
def test_without_a_test_fraction_there_are_two_splits_and_other_patch_sizes_and_classes(tmp_path):
    two = by_quadrant(test_fraction=0.0, seed=1)
    assert two.X_test is None and two.groups_test is None
    assert len(two.y_train) + len(two.y_val) == TILES * 64
    big = by_quadrant(patch_size=16, class_names=["Forest", "Water"], band_names=["B8A", "B02"])
    _, _, groups, _ = all_patches(big)
    assert big.X_train.shape[1:] == (16, 16, 2) and len(groups) == 3 * 16  # 3 tiles x 4 quadrants x 4 patches
    with rasterio.open(EUROSAT_SAMPLES_DIR / "Forest_20.tif") as src:
        b8a = src.read(13)
    forest_nw = big.notes["tiles"][0]["quadrants"]["NW"]["group"]
    X, _, groups, _ = all_patches(big)
    assert any(np.array_equal(patch[..., 0], b8a[:16, :16]) for patch in X[groups == forest_nw])


@needs_tiles
def test_step01_scales_the_tiles_and_writes_a_test_split(tmp_path, capsys):
    run_dir = tmp_path / "run"
    options = ["--data_source", "eurosat", "--eurosat_split_unit", "quadrant", "--weights", "none"]
    assert setup_config.main(["--run-dir", str(run_dir), *options]) == 0
    out = capsys.readouterr().out
    assert "  test: 128 patches (Agriculture 16, Forest 16, Parcels 32, Urban 32, Water 32)" in out
    assert "8 EuroSAT-MS tiles, split by tile quadrant" in out
    summary = json.loads((run_dir / "data_summary.json").read_text())
    assert summary["scaling"]["divisor"] == 10000.0 and not summary["scaling"]["already_scaled"]
    assert summary["source"]["source"] == "eurosat"
    assert Path(summary["source"]["data_dir"]).resolve() == EUROSAT_SAMPLES_DIR.resolve()  # ../shared may be a link
    assert summary["polygons_in_both_splits"] == summary["polygons_in_test_and_train"] == 0
    with np.load(run_dir / "data.npz") as stored:
        assert stored["X_test"].dtype == np.float32 and stored["X_test"].max() < 2
        assert len(stored["y_train"]) + len(stored["y_val"]) + len(stored["y_test"]) == TILES * 64


@needs_tiles
def test_a_folder_lacking_a_classs_tiles_names_the_files(tmp_path):
    for name in ("AnnualCrop_20.tif", "Forest_20.tif"):
        shutil.copy(EUROSAT_SAMPLES_DIR / name, tmp_path / name)
    with pytest.raises(DataError, match=r"no tile for class Parcels \(Pasture_\*\.tif or PermanentCrop_\*\.tif\)"):
        eurosat.load_eurosat_dataset(tmp_path)
    data = by_quadrant(data_dir=tmp_path, class_names=["Agriculture", "Forest"], test_fraction=0.25)
    assert len(data.notes["tiles"]) == 2 and data.notes["data_dir"] == str(tmp_path.resolve())


@needs_tiles
def test_unknown_classes_bands_and_oversized_patches_are_one_line_errors():
    with pytest.raises(DataError, match=r"class 'Wetland' has no EuroSAT-MS counterpart; .*--class_names from"):
        eurosat.load_eurosat_dataset(class_names=["Forest", "Wetland"])
    with pytest.raises(DataError, match=r"band B13 is not a EuroSAT-MS band .*choose --band_names"):
        eurosat.load_eurosat_dataset(band_names=["B2", "B13"])
    with pytest.raises(
        ConfigError, match=r"--patch_size 40 is larger than a quadrant \(32x32\) of .*use --patch_size 32"
    ):
        eurosat.load_eurosat_dataset(patch_size=40)
    with pytest.raises(ConfigError, match=r"class Agriculture has 4 quadrants: .*leave none for training"):
        by_quadrant(val_fraction=0.5, test_fraction=0.4)


def test_a_missing_folder_is_a_one_line_error_and_step01_writes_nothing(tmp_path, capsys):
    missing = tmp_path / "nowhere"
    with pytest.raises(
        DataError, match=r"nowhere not found; pass --data_dir DIR holding the EuroSAT-MS <Class>_20\.tif"
    ):
        eurosat.load_eurosat_dataset(missing)
    run_dir = tmp_path / "run"
    code = setup_config.main(["--run-dir", str(run_dir), "--data_source", "eurosat", "--data_dir", str(missing)])
    error = capsys.readouterr().err.strip()
    assert code == 2 and error.startswith("error: ") and "\n" not in error and "--data_dir DIR" in error
    assert written(run_dir) == []


def test_the_default_folder_is_the_shared_one(monkeypatch, tmp_path):
    monkeypatch.setattr(eurosat, "EUROSAT_SAMPLES_DIR", tmp_path / "shared" / "data" / "eurosat_ms_samples")
    with pytest.raises(DataError, match=r"shared/data/eurosat_ms_samples not found; pass --data_dir DIR"):
        eurosat.load_eurosat_dataset()
