"""The in-run SimpleCNN is a fair baseline: its own epoch budget and early stopping, standardised inputs."""

import numpy as np

from phase4a.data.dataset import Dataset
from phase4a.models.normalisation import STANDARDISE_LAYER, channel_statistics
from phase4a.seeding import seed_everything
from phase4a.train.baseline import train_baseline_model

from ..conftest import N_CLASSES, PATCH_SHAPE, make_config


def tiny_data(seed: int = 0) -> Dataset:
    """Separable classes: band c carries class c's signal, at reflectance-like spreads."""
    rng = np.random.default_rng(seed)

    def split(n):
        y = np.arange(n) % N_CLASSES
        X = 0.05 + 0.01 * rng.standard_normal((n, *PATCH_SHAPE))
        X[np.arange(n), :, :, y] += 0.03
        return X.astype("float32"), y

    X_train, y_train = split(40)
    X_val, y_val = split(10)
    names = ["Agriculture", "Forest", "Parcels", "Urban", "Water"]
    return Dataset(X_train, y_train, X_val, y_val, names, ["B2", "B3", "B4", "B8", "B11", "B12"])


def test_own_budget_and_early_stopping_whatever_the_main_models_epochs():
    data = tiny_data()
    config = make_config("recommended", epochs=1, batch_size=8, baseline_epochs=6, baseline_patience=2)
    seed_everything(config["seed"], True)
    model, history = train_baseline_model(data, config, verbose=0)
    assert history["epoch_budget"] == 6 and history["patience"] == 2
    assert 1 < history["epochs_run"] <= 6  # not the main model's 1 epoch
    assert len(history["epochs"]) == history["epochs_run"]
    assert history["stopped_early"] == (history["epochs_run"] < 6)
    assert 1 <= history["best_epoch"] <= history["epochs_run"]
    losses = [entry["val_loss"] for entry in history["epochs"]]
    assert history["best_epoch"] == int(np.argmin(losses)) + 1
    if history["stopped_early"]:
        assert history["epochs_run"] - history["best_epoch"] == 2  # exactly patience epochs after the best
    # Standardised on the training split, inside the saved model.
    layer = model.get_layer(STANDARDISE_LAYER)
    mean, _ = channel_statistics(data.X_train)
    np.testing.assert_allclose(np.array(layer.adapt_mean), mean, rtol=1e-5)
    assert history["input_normalisation"]["input_normalisation"] == "standardise"


def test_baseline_normalisation_none_keeps_the_reports_inputs():
    config = make_config(batch_size=8, baseline_epochs=1, baseline_normalisation="none")
    seed_everything(config["seed"], True)
    model, history = train_baseline_model(tiny_data(), config, verbose=0)
    assert STANDARDISE_LAYER not in [layer.name for layer in model.layers]
    assert history["epochs_run"] == 1 and history["stopped_early"] is False
