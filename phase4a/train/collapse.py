"""The collapse monitor: catches single-class prediction and a flat validation loss while training runs."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from .. import accel
from ..metrics import COLLAPSED, DISTINCT, FLAT, FLAT_SINCE, TOP_CLASS, TOP_SHARE, prediction_spread


def validation_metrics(probabilities: np.ndarray, y_true: np.ndarray) -> dict[str, float]:
    """``val_loss`` and ``val_accuracy`` of softmax outputs, with the loss and metric functions behind
    Keras' validation pass (sparse categorical cross-entropy and accuracy), averaged over samples."""
    loss = keras.losses.sparse_categorical_crossentropy(y_true, probabilities)
    accuracy = keras.metrics.sparse_categorical_accuracy(y_true, probabilities)
    return {"val_loss": float(np.mean(loss)), "val_accuracy": float(np.mean(accuracy))}


class CollapseMonitor(keras.callbacks.Callback):
    """Flags single-class prediction and a flat validation loss after every epoch.

    Epochs are numbered from 1, as in the saved training history. Validation loss is flat at epoch
    ``e`` when the last ``flat_epochs`` values (epochs ``e - K + 1 .. e``) lie within ``flat_tolerance``
    of each other (max - min, absolute).

    When ``fit`` has no validation data, this callback is the validation pass: its one prediction of
    the validation split also gives ``val_loss`` and ``val_accuracy`` (the model must output
    probabilities), which saves Keras' separate evaluation of the same patches, and its traced graph.
    Place it before the callbacks that read those logs (EarlyStopping, ModelCheckpoint, CSVLogger).
    """

    def __init__(
        self,
        x_val: np.ndarray,
        y_val: np.ndarray,
        n_classes: int,
        flat_tolerance: float = 1e-3,
        flat_epochs: int = 5,
        stop_on_collapse: bool = False,
        stop_on_flat: bool = False,
        batch_size: int = 32,
        config: dict[str, Any] | None = None,
    ):
        super().__init__()
        self.batch_size = batch_size
        self.config = config or {}  # which prediction speed-ups apply (accel.predict)
        if flat_epochs < 2:
            raise ValueError(f"flat_epochs must be at least 2 (a single epoch is always flat), got {flat_epochs}")
        self.x_val = x_val
        self.y_val = np.asarray(y_val, dtype=np.int64)
        self.n_classes = n_classes
        self.flat_tolerance = flat_tolerance
        self.flat_epochs = flat_epochs
        self.stop_on_collapse = stop_on_collapse
        self.stop_on_flat = stop_on_flat
        self.records: list[dict[str, Any]] = []
        self.first_collapse_epoch: int | None = None
        self.first_flat_epoch: int | None = None  # first epoch of the first flat stretch
        self.stop_reason: str | None = None

    def on_train_begin(self, logs=None):
        self.records = []
        self.first_collapse_epoch = None
        self.first_flat_epoch = None
        self.stop_reason = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        probabilities = accel.predict(self.model, self.x_val, self.batch_size, self.config)
        spread = prediction_spread(probabilities, self.n_classes)
        if "val_loss" not in logs:
            logs.update(validation_metrics(probabilities, self.y_val))
        val_loss = float(logs["val_loss"])
        record = {
            "epoch": epoch + 1,
            "val_loss": val_loss,
            DISTINCT: spread["distinct_classes"],
            TOP_CLASS: spread["top_class"],
            TOP_SHARE: spread["top_share"],
            COLLAPSED: int(spread["distinct_classes"] == 1),
        }
        record[FLAT_SINCE] = self._flat_since(record)
        record[FLAT] = int(record[FLAT_SINCE] > 0)
        self.records.append(record)
        logs.update({key: value for key, value in record.items() if key not in ("epoch", "val_loss")})
        self._update_firsts(record)
        self._maybe_stop(record)

    def _flat_since(self, record: dict[str, Any]) -> int:
        losses = [past["val_loss"] for past in self.records[-(self.flat_epochs - 1) :]] + [record["val_loss"]]
        if len(losses) < self.flat_epochs or max(losses) - min(losses) > self.flat_tolerance:
            return 0
        previous = self.records[-1][FLAT_SINCE]
        return previous if previous else record["epoch"] - self.flat_epochs + 1

    def _update_firsts(self, record: dict[str, Any]) -> None:
        if record[COLLAPSED] and self.first_collapse_epoch is None:
            self.first_collapse_epoch = record["epoch"]
        if record[FLAT] and self.first_flat_epoch is None:
            self.first_flat_epoch = record[FLAT_SINCE]

    def _maybe_stop(self, record: dict[str, Any]) -> None:
        if self.stop_on_collapse and record[COLLAPSED]:
            self.stop_reason = f"every validation sample predicted as class {record[TOP_CLASS]}"
        elif self.stop_on_flat and record[FLAT]:
            self.stop_reason = (
                f"val_loss within {self.flat_tolerance:g} for {self.flat_epochs} epochs "
                f"since epoch {record[FLAT_SINCE]}"
            )
        else:
            return
        self.model.stop_training = True
