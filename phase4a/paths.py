"""Every default location the project uses, in one place."""

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
OUTPUTS_ROOT = PROJECT_ROOT / "phase4a_outputs"
# Mock and real runs live apart so that a mock run can never overwrite real results.
MOCK_RUN_DIR = OUTPUTS_ROOT / "mock"
REAL_RUN_DIR = OUTPUTS_ROOT / "real"
SHARED_DIR = PROJECT_ROOT.parent / "shared"
EUROSAT_SAMPLES_DIR = SHARED_DIR / "data" / "eurosat_ms_samples"


def default_run_dir(data_source: str) -> Path:
    return MOCK_RUN_DIR if data_source == "mock" else REAL_RUN_DIR


def graph_cache_dir() -> Path:
    """Where traced graphs are kept (phase4a/graph_cache.py): shared by every run of this checkout;
    ``PHASE4A_GRAPH_CACHE`` moves it (the tests keep theirs apart)."""
    return Path(os.environ.get("PHASE4A_GRAPH_CACHE") or OUTPUTS_ROOT / "graph_cache")
