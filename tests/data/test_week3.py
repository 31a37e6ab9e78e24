"""The Week 3 data directory loader: each way the directory can be wrong, and the optional arrays."""

import numpy as np
import pytest

from phase4a.data.week3 import DATA_FILE, load_week3_dir
from phase4a.errors import DataError

CLASSES = ["Agriculture", "Forest", "Parcels", "Urban", "Water"]
BANDS = ["B2", "B3", "B4", "B8", "B11", "B12"]


def week3_arrays(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "X_train": rng.uniform(0, 4000, (10, 8, 8, 6)).astype(np.float32),
        "y_train": np.arange(10) % 5,
        "X_val": rng.uniform(0, 4000, (5, 8, 8, 6)).astype(np.float32),
        "y_val": np.arange(5),
    }


def write_week3(directory, **arrays):
    directory.mkdir(exist_ok=True)
    np.savez(directory / DATA_FILE, **arrays)
    return directory


def test_the_required_arrays_load_with_default_names(tmp_path):
    arrays = week3_arrays()
    data = load_week3_dir(write_week3(tmp_path / "week3", **arrays), CLASSES, BANDS)
    np.testing.assert_array_equal(data.X_train, arrays["X_train"])
    np.testing.assert_array_equal(data.y_val, arrays["y_val"])
    assert data.class_names == CLASSES and data.band_names == BANDS
    assert data.groups_train is None and data.groups_val is None
    assert data.notes["source"] == "week3" and data.notes["path"].endswith(DATA_FILE)


def test_optional_names_and_polygon_ids_are_taken_from_the_file(tmp_path):
    extra = {
        "class_names": np.array(["A", "B", "C", "D", "E"]),
        "band_names": np.array(["B02", "B03", "B04", "B08", "B11", "B12"]),
        "groups_train": np.arange(10) // 2,
        "groups_val": np.arange(5) + 100,
    }
    data = load_week3_dir(write_week3(tmp_path / "week3", **week3_arrays(), **extra), CLASSES, BANDS)
    assert data.class_names == ["A", "B", "C", "D", "E"]
    assert data.band_names == ["B02", "B03", "B04", "B08", "B11", "B12"]
    np.testing.assert_array_equal(data.groups_train, extra["groups_train"])
    np.testing.assert_array_equal(data.groups_val, extra["groups_val"])


def test_a_missing_directory_names_the_option(tmp_path):
    with pytest.raises(DataError, match=r"Week 3 data directory .*nowhere not found; pass --data_dir"):
        load_week3_dir(tmp_path / "nowhere", CLASSES, BANDS)


def test_a_directory_without_the_file_names_it(tmp_path):
    with pytest.raises(DataError, match=f"{DATA_FILE} not found in"):
        load_week3_dir(tmp_path, CLASSES, BANDS)


@pytest.mark.parametrize(
    "content",
    [b"this is not a numpy archive", b"PK\x03\x04 truncated zip"],
    ids=["not-npz", "truncated-zip"],
)
def test_a_corrupt_npz_is_reported_with_the_fix(tmp_path, content):
    (tmp_path / DATA_FILE).write_bytes(content)
    with pytest.raises(DataError, match=r"is not a readable \.npz file .*re-export it with numpy\.savez") as caught:
        load_week3_dir(tmp_path, CLASSES, BANDS)
    assert "\n" not in str(caught.value)


def test_missing_arrays_are_listed_with_what_the_file_has(tmp_path):
    arrays = week3_arrays()
    del arrays["y_val"], arrays["X_val"]
    write_week3(tmp_path, **arrays)
    with pytest.raises(DataError, match=r"lacks X_val, y_val \(it has X_train, y_train\)"):
        load_week3_dir(tmp_path, CLASSES, BANDS)
