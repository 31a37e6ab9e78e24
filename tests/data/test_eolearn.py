"""The real co-registered fixture of ../shared (phase4a.data.eolearn, data_source eolearn): Sentinel-2 composite
plus DEM, terrain and NDVI layers cut into 8x8 patches, labelled by majority land use, split by block."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from phase4a.data import auxiliary, eolearn
from phase4a.data import dataset as ds
from phase4a.errors import ConfigError, DataError
from phase4a.paths import EOLEARN_SLOVENIA_DIR
from phase4a.steps import setup_config

needs_fixture = pytest.mark.skipif(
    not EOLEARN_SLOVENIA_DIR.is_dir(),
    reason=f"the eo-learn Slovenia fixture is not at {EOLEARN_SLOVENIA_DIR} (../shared is absent in this checkout)",
)
SIX = ["B2", "B3", "B4", "B8", "B11", "B12"]
SIX_INDEX = [1, 2, 3, 7, 11, 12]  # SOURCE.md's band order
FUSED = [*SIX, *eolearn.AUX_LAYERS]


def all_patches(data: ds.Dataset):
    parts = list(data.splits())
    X = np.concatenate([X for _, X, _, _ in parts])
    y = np.concatenate([y for _, _, y, _ in parts])
    groups = np.concatenate([g for _, _, _, g in parts])
    names = np.concatenate([[split] * len(y) for split, _, y, _ in parts])
    return X, y, groups, names


@pytest.fixture(scope="module")
def raw():
    if not EOLEARN_SLOVENIA_DIR.is_dir():
        pytest.skip(f"the eo-learn Slovenia fixture is not at {EOLEARN_SLOVENIA_DIR} (../shared is absent)")
    return {name: np.load(EOLEARN_SLOVENIA_DIR / f"{name}.npy") for name in ("REFERENCE_SCENES", "DEM", "NDVI", "LULC")}


@pytest.fixture(scope="module")
def fused(raw) -> ds.Dataset:
    return eolearn.load_eolearn_dataset(band_names=FUSED, seed=42)


@needs_fixture
def test_fused_patches_have_the_six_bands_then_the_named_layers(fused):
    X, y, groups, _ = all_patches(fused)
    ds.validate(fused)
    assert X.shape == (139, 8, 8, 12) and X.dtype == np.float32  # 144 patches less 5 skipped
    assert fused.band_names == FUSED and fused.class_names == ["Forest", "Grassland"]
    assert fused.notes["class_patches"] == {"Forest": 112, "Grassland": 27}
    assert fused.notes["skipped"] == {
        "majority class Shrubland not in --class_names": 3,
        "majority class Artificial not in --class_names": 1,
        eolearn.MOSTLY_NO_DATA: 1,
    }
    assert "forest-heavy" in fused.notes["limits"] and "not a benchmark" in fused.notes["limits"]
    assert X[..., :6].max() > 1000  # reflectance x 10000, like the other sources; step 01 scales it


@needs_fixture
def test_the_composite_is_the_median_of_the_clear_scenes(fused, raw):
    composite = fused.notes["composite"]
    assert composite["clear_scenes"] == [2, 3, 4]  # scene 0 is cloudy, scene 1 hazy (median B2 0.15 vs 0.07)
    assert composite["scene_dates"][4] == "2015-07-11T10:00:08"  # matched through the NDVI series
    scenes = raw["REFERENCE_SCENES"]
    assert eolearn.clear_scenes(scenes) == [2, 3, 4]
    hazy = scenes.copy()
    hazy[3, ..., 1] *= 1.3  # brighter blue than 1.25 x the clearest: no longer clear
    assert eolearn.clear_scenes(hazy) == [2, 4]


@needs_fixture
def test_every_patch_is_its_8x8_block_of_each_layer_with_its_majority_class(fused, raw):
    scenes, dem, ndvi, lulc = (raw[k] for k in ("REFERENCE_SCENES", "DEM", "NDVI", "LULC"))
    composite = np.median(scenes[[2, 3, 4]], axis=0)[..., SIX_INDEX].astype(np.float64) * 10000
    blocks = {}
    for row in range(12):
        for col in range(12):
            key = np.float32(composite[row * 8 : row * 8 + 8, col * 8 : col * 8 + 8]).tobytes()
            blocks[key] = (row, col)
    X, y, groups, _ = all_patches(fused)
    grid = eolearn.read_grid(EOLEARN_SLOVENIA_DIR / "bbox.geojson", (101, 100))
    terrain = auxiliary.terrain(dem[..., 0].astype(np.float64), grid.transform, grid.crs)
    series = np.median(ndvi[..., 0], axis=0)
    for patch, label, group in zip(X, y, groups):
        row, col = blocks[np.ascontiguousarray(patch[..., :6]).tobytes()]
        window = (slice(row * 8, row * 8 + 8), slice(col * 8, col * 8 + 8))
        classes = lulc[window][..., 0].ravel()
        majority = np.bincount(classes[classes > 0]).argmax()
        assert fused.class_names[label] == eolearn.LULC_CLASSES[majority]
        assert group == (row // 2) * 6 + col // 2  # 2x2 blocks of patches, row-major
        np.testing.assert_allclose(patch[..., 6], dem[window][..., 0] * 10, rtol=1e-6)  # km x 10000
        np.testing.assert_allclose(patch[..., 7], terrain["slope"][window] / 90 * 10000, rtol=1e-5, atol=1e-3)
        np.testing.assert_allclose(patch[..., 8], terrain["aspect_sin"][window] * 10000, atol=1e-2)
        np.testing.assert_allclose(patch[..., 10], series[window] * 10000, rtol=1e-5)
        b4, b8 = composite[window][..., 2], composite[window][..., 3]
        np.testing.assert_allclose(patch[..., 11], (b8 - b4) / (b8 + b4) * 10000, rtol=1e-4)


@needs_fixture
def test_no_block_is_in_two_splits_every_class_is_in_every_split_and_the_split_is_seeded(fused):
    _, _, groups, names = all_patches(fused)
    assert all(len(set(names[groups == g])) == 1 for g in np.unique(groups))
    again = eolearn.load_eolearn_dataset(band_names=FUSED, seed=42)
    for (_, X, _, g), (_, X2, _, g2) in zip(fused.splits(), again.splits()):
        np.testing.assert_array_equal(g, g2)
        np.testing.assert_array_equal(X, X2)
    tests = set()
    for seed in range(4):
        other = eolearn.load_eolearn_dataset(seed=seed)
        ds.validate(other)  # both classes in each of the three splits
        tests.add(tuple(np.unique(other.groups_test)))
    assert len(tests) > 1
    bigger = eolearn.load_eolearn_dataset(block=3, test_fraction=0)  # Grassland leads only 2 of 16 blocks
    assert len(np.unique(all_patches(bigger)[2])) == 16 and bigger.notes["groups"].startswith("3x3 blocks")


@needs_fixture
def test_band_names_pick_any_band_or_layer_in_order():
    data = eolearn.load_eolearn_dataset(band_names=["s2_ndvi", "B08", "B8A"], test_fraction=0)
    assert data.band_names == ["s2_ndvi", "B8", "B8A"] and data.X_test is None
    assert list(data.notes["layers"]) == ["s2_ndvi"]
    assert data.notes["layers"]["s2_ndvi"]["unit_after_step01"] == "NDVI"


@needs_fixture
def test_classes_bands_and_blocks_that_cannot_work_are_one_line_errors():
    cases = [
        (
            DataError,
            r"class 'Agriculture', 'Water' is not an eo-learn land-use class .* --class_names Forest,Grassland",
            {"class_names": ["Agriculture", "Forest", "Water"]},
        ),
        (DataError, r"band 'B13' is not in the eo-learn fixture; choose --band_names from B1", {"band_names": ["B13"]}),
        (
            ConfigError,
            r"class Shrubland \(3 patches\) leads 1 of the 36 2x2 blocks .*pass --test_fraction 0",
            {"class_names": ["Forest", "Grassland", "Shrubland"]},
        ),
        (ConfigError, r"class Cultivated is the majority class of no patch", {"class_names": ["Forest", "Cultivated"]}),
        (ConfigError, r"a smaller --eolearn_block", {"block": 6}),
        (ConfigError, r"--patch_size 200 is larger than the fixture's 101x100 grid", {"patch_size": 200}),
    ]
    for error, message, options in cases:
        with pytest.raises(error, match=message) as caught:
            eolearn.load_eolearn_dataset(**options)
        assert "\n" not in str(caught.value)


@needs_fixture
def test_step01_reads_the_fixture_and_scales_every_layer_to_its_model_unit(tmp_path, capsys):
    run_dir = tmp_path / "run"
    options = ["--data_source", "eolearn", "--class_names", "Forest,Grassland", "--band_names", ",".join(FUSED)]
    assert setup_config.main(["--run-dir", str(run_dir), "--weights", "none", *options]) == 0
    out = capsys.readouterr().out
    assert "test: 28 patches (Forest 22, Grassland 6)" in out
    summary = json.loads((run_dir / "data_summary.json").read_text())
    assert summary["source"]["source"] == "eolearn" and summary["scaling"]["divisor"] == 10000.0
    scaled = summary["splits"]["train"]["band_ranges_scaled"]
    assert 0.66 <= scaled["elevation"]["min"] and scaled["elevation"]["max"] <= 0.81  # km
    assert -1 <= scaled["aspect_cos"]["min"] and scaled["aspect_cos"]["max"] <= 1
    assert 0 <= scaled["ndvi_series"]["min"] and scaled["s2_ndvi"]["max"] <= 1
    assert summary["polygons_in_both_splits"] == summary["polygons_in_test_and_train"] == 0


@needs_fixture
def test_a_folder_lacking_a_file_names_it(tmp_path):
    for name in eolearn.FILES.values():
        if name != "DEM.npy":
            shutil.copy(EOLEARN_SLOVENIA_DIR / name, tmp_path / name)
    with pytest.raises(DataError, match=r"DEM\.npy not found in .*; pass --data_dir DIR holding eo-learn's"):
        eolearn.load_eolearn_dataset(tmp_path)


def test_a_missing_folder_is_a_one_line_error_and_step01_writes_nothing(tmp_path, capsys):
    missing = tmp_path / "nowhere"
    with pytest.raises(DataError, match=r"nowhere not found; pass --data_dir DIR holding eo-learn's example arrays"):
        eolearn.load_eolearn_dataset(missing)
    run_dir = tmp_path / "run"
    code = setup_config.main(
        ["--run-dir", str(run_dir), "--data_source", "eolearn", "--data_dir", str(missing), "--class_names", "Forest"]
    )
    error = capsys.readouterr().err.strip()
    assert code == 2 and error.startswith("error: ") and "\n" not in error and "--data_dir DIR" in error
    assert not run_dir.exists() or not any(p.name != ".phase4a.lock" for p in run_dir.iterdir())


def test_the_default_folder_is_the_shared_one(monkeypatch, tmp_path):
    monkeypatch.setattr(eolearn, "EOLEARN_SLOVENIA_DIR", tmp_path / "shared" / "data" / "eolearn_slovenia")
    with pytest.raises(DataError, match=r"shared/data/eolearn_slovenia not found; pass --data_dir DIR"):
        eolearn.load_eolearn_dataset()


def test_block_labels_break_ties_towards_the_rarer_class():
    y = np.array([0, 0, 0, 1, 0, 1, 1, 0])
    groups = np.array([0, 0, 0, 0, 1, 1, 2, 2])  # block 0: 3-1; blocks 1 and 2: tied 1-1
    np.testing.assert_array_equal(eolearn.block_labels(y, groups, 2), [0, 0, 0, 0, 1, 1, 1, 1])
