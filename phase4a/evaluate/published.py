"""The Week 3 SimpleCNN baseline that Phase 4A is compared with."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import DataError
from ..io import read_json

# The figures the Week 4 report published for the Week 3 model on the same 75 validation patches:
# 86.67% is 65 of them, a sample with its own sampling error (step 05 compares it as that binomial).
PUBLISHED_BASELINE: dict[str, Any] = {
    "name": "Week 3 SimpleCNN (published figures)",
    "accuracy": 0.8667,
    "per_class_f1": {"Agriculture": 0.83, "Forest": 1.00, "Parcels": 0.81, "Urban": 0.83, "Water": 1.00},
    "validation_samples": 75,
    "source": "Week 4 Phase 4A report",
}
METRICS_FILE = "week3_metrics.json"


def load_baseline(config: dict[str, Any]) -> dict[str, Any]:
    """``week3_metrics.json`` from the Week 3 data directory when present, else the published figures."""
    path = Path(config["data_dir"]) / METRICS_FILE if config["data_dir"] else None
    if path is None or not path.is_file():
        return dict(PUBLISHED_BASELINE)
    try:
        stored = read_json(path)
        accuracy = float(stored["accuracy"])
    except (ValueError, KeyError, TypeError) as exc:
        raise DataError(
            f"{path} is not a baseline file ({type(exc).__name__}: {exc}); "
            'it needs {"accuracy": 0.8667, "per_class_f1": {"Forest": 1.0, ...}}'
        ) from None
    if not 0 <= accuracy <= 1:
        raise DataError(f"{path} gives accuracy {accuracy}; write it as a fraction in [0, 1]")
    return {
        "name": stored.get("name", "Week 3 SimpleCNN"),
        "accuracy": accuracy,
        "per_class_f1": {str(k): float(v) for k, v in stored.get("per_class_f1", {}).items()},
        "validation_samples": stored.get("validation_samples"),
        "source": str(path),
    }
