"""A Week 3 data directory: ``week3_data.npz`` (+ optional ``week3_metrics.json``), see README.

The file may also carry a test split (``X_test`` and ``y_test``, optionally ``groups_test``): patches the
model never sees while it trains or while settings are chosen.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from ..errors import DataError
from .dataset import Dataset

DATA_FILE = "week3_data.npz"
METRICS_FILE = "week3_metrics.json"
REQUIRED_ARRAYS = ("X_train", "y_train", "X_val", "y_val")
TEST_ARRAYS = ("X_test", "y_test")  # both or neither


def load_week3_dir(data_dir: str | Path, default_class_names: list[str], default_band_names: list[str]) -> Dataset:
    data_dir = Path(data_dir)
    path = data_dir / DATA_FILE
    if not data_dir.is_dir():
        raise DataError(
            f"Week 3 data directory {data_dir} not found; pass --data_dir with the folder holding {DATA_FILE}"
        )
    if not path.is_file():
        raise DataError(f"{DATA_FILE} not found in {data_dir}; the Week 3 directory must hold {DATA_FILE}")
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [name for name in REQUIRED_ARRAYS if name not in data]
            if missing:
                raise DataError(
                    f"{path} lacks {', '.join(missing)} (it has {', '.join(data.files)}); "
                    f"it needs {', '.join(REQUIRED_ARRAYS)}"
                )
            arrays = {name: data[name] for name in data.files}
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise DataError(f"{path} is not a readable .npz file ({exc}); re-export it with numpy.savez") from None
    check_test_arrays(arrays, path)
    class_names = [str(n) for n in arrays["class_names"]] if "class_names" in arrays else default_class_names
    band_names = [str(n) for n in arrays["band_names"]] if "band_names" in arrays else default_band_names
    return Dataset(
        X_train=arrays["X_train"],
        y_train=arrays["y_train"],
        X_val=arrays["X_val"],
        y_val=arrays["y_val"],
        class_names=class_names,
        band_names=band_names,
        groups_train=arrays.get("groups_train"),
        groups_val=arrays.get("groups_val"),
        X_test=arrays.get("X_test"),
        y_test=arrays.get("y_test"),
        groups_test=arrays.get("groups_test"),
        notes={"source": "week3", "path": str(path.resolve())},
    )


def check_test_arrays(arrays: dict[str, np.ndarray], path: Path) -> None:
    """A test split needs its patches and their labels; one without the other is a half-exported file."""
    present = [name for name in TEST_ARRAYS if name in arrays]
    if len(present) == 1:
        missing = next(name for name in TEST_ARRAYS if name not in arrays)
        raise DataError(
            f"{path} has {present[0]} but no {missing}; save both X_test and y_test (one label per test patch) "
            "with numpy.savez, or neither for no test split"
        )
    if "groups_test" in arrays and not present:
        raise DataError(f"{path} has groups_test but no X_test and y_test; save those too, or drop groups_test")
