"""Bad test-split input through step 01's command line: one line on stderr naming the value and the fix,
exit code 2, and nothing written to the run directory."""

import re

import numpy as np
import pytest

from phase4a.data.week3 import DATA_FILE
from phase4a.paths import EUROSAT_SAMPLES_DIR
from phase4a.steps import setup_config

from .conftest import pixel_box, write_polygons

LOCK = ".phase4a.lock"  # phase4a/lock.py's advisory lock, not an output


def written(run_dir) -> list[str]:
    return sorted(path.name for path in run_dir.iterdir() if path.name != LOCK) if run_dir.exists() else []


def fails_in_one_line(tmp_path, capsys, *options) -> str:
    run_dir = tmp_path / "run"
    code = setup_config.main(["--run-dir", str(run_dir), "--weights", "none", *options])
    captured = capsys.readouterr()
    error = captured.err.strip()
    assert code == 2, captured
    assert error.startswith("error: ") and "\n" not in error, error
    assert written(run_dir) == []
    return error


# --- cut sources: a fraction that leaves a class without polygons in a split ---

RASTER_OPTIONS = ["--label_column", "label", "--id_column", "id", "--class_names", "Forest,Water"]


def raster_options(raster, polygons):
    return ["--data_source", "raster", "--raster_path", str(raster), "--polygons_path", str(polygons), *RASTER_OPTIONS]


def test_a_class_with_two_polygons_cannot_have_a_test_split(tmp_path, raster, capsys):
    rows = [
        {"id": index, "label": label, "geometry": pixel_box(10 * (index // 4) + 1, 10 * (index % 4) + 1, 8, 8)}
        for index, label in enumerate(["Forest"] * 4 + ["Water"] * 2)
    ]
    polygons = write_polygons(tmp_path / "few.geojson", rows)
    error = fails_in_one_line(tmp_path, capsys, *raster_options(raster, polygons))
    assert error == (
        "error: class Water has 2 polygons, too few for one in each of the 3 splits (val_fraction 0.2, "
        "test_fraction 0.2); add Water polygons or pass --test_fraction 0 (no test split)"
    )
    # The fix it names works.
    fixed = ["--run-dir", str(tmp_path / "ok"), *raster_options(raster, polygons), "--test_fraction", "0"]
    assert setup_config.main(fixed) == 0


def test_fractions_that_leave_no_training_polygons_name_the_class(tmp_path, raster, grid_polygons, capsys):
    options = [*raster_options(raster, grid_polygons), "--val_fraction", "0.5", "--test_fraction", "0.45"]
    error = fails_in_one_line(tmp_path, capsys, *options)
    assert error.startswith("error: class Forest has 7 polygons: val_fraction 0.5 and test_fraction 0.45 take 4 + 3")
    assert error.endswith("leave none for training; lower --val_fraction or --test_fraction, or add Forest polygons")


@pytest.mark.parametrize(
    ("fractions", "message"),
    [
        (
            ("0.5", "0.5"),
            "--val_fraction 0.5 and --test_fraction 0.5 leave no polygons for training; "
            "lower one so that they sum below 1",
        ),
        (("0.2", "-0.1"), "--test_fraction -0.1 is out of range; it must be >= 0 and <= 0.5"),
        (("0.2", "half"), "--test_fraction expects a number, got 'half'"),
    ],
)
def test_test_fractions_out_of_range_are_config_errors(tmp_path, capsys, fractions, message):
    options = ["--val_fraction", fractions[0], "--test_fraction", fractions[1]]
    assert fails_in_one_line(tmp_path, capsys, *options) == f"error: {message}"


@pytest.mark.skipif(not EUROSAT_SAMPLES_DIR.is_dir(), reason=f"no EuroSAT-MS sample tiles at {EUROSAT_SAMPLES_DIR}")
def test_eurosat_quadrants_too_few_for_the_fractions(tmp_path, capsys):
    options = ["--data_source", "eurosat", "--eurosat_split_unit", "quadrant", "--val_fraction", "0.5"]
    options += ["--test_fraction", "0.4"]
    error = fails_in_one_line(tmp_path, capsys, *options)
    assert error.startswith("error: class Agriculture has 4 quadrants: val_fraction 0.5 and test_fraction 0.4")
    assert "lower --val_fraction or --test_fraction, or add Agriculture quadrants" in error


def test_mock_test_counts_must_give_one_count_per_class(tmp_path, capsys):
    error = fails_in_one_line(tmp_path, capsys, "--mock_test_counts", "2,2")
    assert error == (
        "error: --mock_test_counts has 2 entries but there are 5 classes; give one count per class, "
        "or none for no test split"
    )
    error = fails_in_one_line(tmp_path, capsys, "--mock_test_counts", "2,0,2,2,2")
    assert "--mock_test_counts [2, 0, 2, 2, 2] has a class with no samples; give each class >= 1" in error


# --- Week 3 directories: test arrays that do not match ---


def week3(tmp_path, **test_arrays):
    rng = np.random.default_rng(0)
    arrays = {
        "X_train": rng.uniform(0, 4000, (10, 8, 8, 6)).astype(np.float32),
        "y_train": np.arange(10) % 5,
        "X_val": rng.uniform(0, 4000, (5, 8, 8, 6)).astype(np.float32),
        "y_val": np.arange(5),
    }
    directory = tmp_path / "week3"
    directory.mkdir()
    np.savez(directory / DATA_FILE, **arrays, **test_arrays)
    return ["--data_source", "week3", "--data_dir", str(directory)]


def random_patches(shape=(10, 8, 8, 6)):
    return np.random.default_rng(1).uniform(0, 4000, shape).astype(np.float32)


LABELS = np.arange(10) % 5


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        (
            {"X_test": random_patches()},
            r"week3_data\.npz has X_test but no y_test; save both X_test and y_test \(one label per test patch\)",
        ),
        ({"y_test": LABELS}, r"week3_data\.npz has y_test but no X_test; save both X_test and y_test"),
        ({"groups_test": np.arange(10)}, r"has groups_test but no X_test and y_test; save those too, or drop"),
        (
            {"X_test": random_patches((10, 8, 8, 4)), "y_test": LABELS},
            r"X_test has 4 bands but the training patches have 6 \(B2, B3, B4, B8, B11, B12\); give X_test the same "
            r"bands in the same order$",
        ),
        (
            {"X_test": random_patches((10, 16, 16, 6)), "y_test": LABELS},
            r"X_test patches are 16x16 but the training patches are 8x8; cut the test patches at 8x8$",
        ),
        (
            {"X_test": random_patches(), "y_test": LABELS + 3},
            r"y_test has labels in \[3, 7\] but there are 5 classes \(.*\); labels must be 0\.\.4$",
        ),
        (
            {"X_test": random_patches(), "y_test": LABELS[:7]},
            r"X_test has 10 samples but y_test has shape \(7,\); give one label per patch$",
        ),
    ],
    ids=["X-without-y", "y-without-X", "groups-alone", "bands", "patch-size", "labels", "lengths"],
)
def test_bad_week3_test_arrays(tmp_path, capsys, arrays, message):
    error = fails_in_one_line(tmp_path, capsys, *week3(tmp_path, **arrays))
    assert error.startswith("error: ")
    assert re.search(message, error), error


def test_a_data_npz_with_half_a_test_split_is_refused_by_the_npz_source(tmp_path, capsys):
    made = tmp_path / "made"
    assert setup_config.main(["--run-dir", str(made), "--weights", "none", *week3(tmp_path)]) == 0
    with np.load(made / "data.npz") as stored:
        arrays = dict(stored)
    arrays["X_test"] = arrays["X_val"]  # y_test left out
    np.savez(tmp_path / "half.npz", **arrays)
    capsys.readouterr()
    error = fails_in_one_line(tmp_path, capsys, "--data_source", "npz", "--data_npz", str(tmp_path / "half.npz"))
    assert error == "error: X_test is given without y_test; add y_test (one label per test patch) or drop X_test"
