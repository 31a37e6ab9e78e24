"""Every default location the project uses, in one place."""

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
