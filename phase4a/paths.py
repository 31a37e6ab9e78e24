"""Every default location the project uses, in one place."""

from pathlib import Path
from typing import Any

from .errors import OutputError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
OUTPUTS_ROOT = PROJECT_ROOT / "phase4a_outputs"
# Mock and real runs live apart so that a mock run can never overwrite real results.
MOCK_RUN_DIR = OUTPUTS_ROOT / "mock"
REAL_RUN_DIR = OUTPUTS_ROOT / "real"
SHARED_DIR = PROJECT_ROOT.parent / "shared"
EUROSAT_SAMPLES_DIR = SHARED_DIR / "data" / "eurosat_ms_samples"
# eo-learn's co-registered Slovenian example: Sentinel-2, DEM, NDVI series and land use on one 10 m grid.
EOLEARN_SLOVENIA_DIR = SHARED_DIR / "data" / "eolearn_slovenia"
# The store of files that many runs share (step 02's backbone weights), beside the run directories
# unless config shared_dir says where. A dot name that no data folder has: a plain name such as
# "shared" beside a run directory next to ../shared would be the data folder itself.
STORE_NAME = ".phase4a_store"


def default_run_dir(data_source: str) -> Path:
    return MOCK_RUN_DIR if data_source == "mock" else REAL_RUN_DIR


def data_folders(config: dict[str, Any]) -> list[Path]:
    """The folders the project reads data from: ../shared, and the run's --data_dir when it has one."""
    folders = [SHARED_DIR]
    if config.get("data_dir"):
        folders.append(Path(config["data_dir"]))
    return [folder.resolve() for folder in folders]


def backbone_store(run_root: str | Path, config: dict[str, Any]) -> Path:
    """Where the runs beside ``run_root`` store their shared files (config shared_dir; default
    ``.phase4a_store`` beside the run directory). Refuses a store inside a data folder, so that a 95 MB
    weights file never lands among the data (nor a data file is taken for a stored one)."""
    given = bool(config.get("shared_dir"))
    store = Path(config["shared_dir"]) if given else Path(run_root).resolve().parent / STORE_NAME
    store = store.resolve()
    for folder in data_folders(config):
        if store == folder or folder in store.parents:
            fix = "pass --shared_dir DIR outside it" if given else "use a --run-dir outside it, or --shared_dir DIR"
            raise OutputError(
                f"the backbone store {store} is inside {folder}, a folder the project reads data from; {fix}"
            )
    return store
