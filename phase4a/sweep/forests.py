"""The sweep's classical baselines: step 05's seeded random forests (phase4a/evaluate/classical.py),
fitted by the sweep itself on every seed's training split and learning-curve subsample, and
evaluated on the same patches as the networks, so they take part in the paired tests and the curve."""

from __future__ import annotations

import numpy as np

from ..evaluate import classical

# arm name -> (one-line description, short label for the tables); the names are step 05's keys.
FORESTS: dict[str, tuple[str, str]] = {
    "forest_flattened": (
        f"random forest ({classical.FOREST_TREES} trees, random_state = seed) on the flattened patches",
        "forest: flattened patches",
    ),
    "forest_band_statistics": (
        f"random forest ({classical.FOREST_TREES} trees, random_state = seed) on each band's mean and std",
        "forest: band means and stds",
    ),
}


def fit_predict(X_train: np.ndarray, y_train: np.ndarray, X_eval: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """Every forest's class predictions on ``X_eval`` after fitting on the training patches."""
    return classical.fit_predict(X_train, y_train, X_eval, seed)
