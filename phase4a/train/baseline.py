"""The Week 3 SimpleCNN trained on the run's own split, beside the transfer model, for a paired comparison."""

from __future__ import annotations

from typing import Any

import keras

from ..data.dataset import Dataset
from ..models.simple_cnn import build_simple_cnn
from .callbacks import EpochRecorder
from .fit import compile_model, fit


BASELINE_LEARNING_RATE = 1e-3  # a small CNN trained from scratch; 1e-4 barely moves it in 50 epochs


def train_baseline_model(data: Dataset, config: dict[str, Any], verbose: int | str = "auto"):
    """The SimpleCNN on the same split and training options; returns (model, history dict)."""
    model = build_simple_cnn(data.X_train.shape[1:], len(data.class_names), config["dropout"])
    baseline_config = {**config, "learning_rate": BASELINE_LEARNING_RATE}
    compile_model(model, baseline_config)
    early_stopping = keras.callbacks.EarlyStopping(
        monitor=config["monitor"], patience=config["early_stopping_patience"], restore_best_weights=True
    )
    result = fit(model, data, baseline_config, [EpochRecorder(), early_stopping], verbose)
    epochs = [
        {"epoch": index + 1, **{key: float(values[index]) for key, values in result.history.items()}}
        for index in range(len(result.history["loss"]))
    ]
    history = {
        "model": "simple_cnn",
        "parameters": model.count_params(),
        "learning_rate": BASELINE_LEARNING_RATE,
        "epochs": epochs,
        "epochs_run": len(epochs),
        "restored_best_epoch": early_stopping.best_epoch + 1,
    }
    return model, history
