"""The Week 3 SimpleCNN trained on the run's own split, beside the transfer model, for a paired comparison.

It is a fair baseline: its own epoch budget and early stopping (``baseline_epochs``,
``baseline_patience``), whatever the main model's ``epochs``, so that it converges; and its inputs
standardised per band on the training split (``baseline_normalisation``), without which it collapses
onto one class on real reflectance. Its history says the budget, the epochs run, the epoch whose
weights it kept and whether it stopped early.
"""

from __future__ import annotations

from typing import Any

import keras

from ..data.dataset import Dataset
from ..models.inputs import model_inputs
from ..models.normalisation import adapt_normalisation
from ..models.simple_cnn import build_simple_cnn
from ..settings import sections
from .callbacks import EpochRecorder
from .fit import compile_model, fit

BASELINE_LEARNING_RATE = 1e-3  # a small CNN trained from scratch; 1e-4 barely moves it in 50 epochs


def baseline_config(config: dict[str, Any]) -> dict[str, Any]:
    """The main config with the baseline's own learning rate, budget and normalisation."""
    return {
        **config,
        "model_type": "simplecnn",
        "input_normalisation": config["baseline_normalisation"],
        "learning_rate": BASELINE_LEARNING_RATE,
        "epochs": config["baseline_epochs"],
        "progressive_stages": 0,
    }


def train_baseline_model(data: Dataset, config: dict[str, Any], verbose: int | str = "auto"):
    """The SimpleCNN on the same split and training options; returns (model, history dict)."""
    own = baseline_config(config)
    standardised = own["input_normalisation"] == "standardise"
    model = build_simple_cnn(data.X_train.shape[1:], len(data.class_names), config["dropout"], standardise=standardised)
    own_sections = sections(own)
    normalisation = adapt_normalisation(  # training split only
        model, data.X_train, own_sections.model, model_inputs(own_sections.data)
    )
    compile_model(model, own)
    early_stopping = keras.callbacks.EarlyStopping(
        monitor=config["monitor"], patience=config["baseline_patience"], restore_best_weights=True
    )
    result = fit(model, data, own, [EpochRecorder(), early_stopping], verbose)
    epochs = [
        {"epoch": index + 1, **{key: float(values[index]) for key, values in result.history.items()}}
        for index in range(len(result.history["loss"]))
    ]
    # best_epoch is 0-based and stays 0 when no epoch improved on the initial best (inf for a loss).
    best_epoch = early_stopping.best_epoch + 1
    history = {
        "model": "simple_cnn",
        "parameters": model.count_params(),
        "learning_rate": BASELINE_LEARNING_RATE,
        "input_normalisation": normalisation,
        "epoch_budget": config["baseline_epochs"],
        "patience": config["baseline_patience"],
        "monitor": config["monitor"],
        "epochs": epochs,
        "epochs_run": len(epochs),
        "best_epoch": best_epoch,
        "restored_best_epoch": best_epoch,
        "stopped_early": len(epochs) < config["baseline_epochs"],
    }
    return model, history
