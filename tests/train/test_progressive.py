"""Progressive unfreezing changes the trainable set at the phase boundaries and records each phase."""

from __future__ import annotations

import keras
import numpy as np

from phase4a.data.dataset import Dataset
from phase4a.models.backbones import build_architecture
from phase4a.models.freezing import freeze_first_layers, initial_frozen_count
from phase4a.models.transfer import build_model, find_backbone
from phase4a.settings import sections
from phase4a.stages import BACKUP_DIR, RunDir
from phase4a.train import progressive
from phase4a.train.callbacks import make_callbacks

from ..conftest import N_CLASSES, PATCH_SHAPE, make_config, model_parts


class TrainableAtEpochStart(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.counts: dict[int, int] = {}

    def on_epoch_begin(self, epoch, logs=None):
        self.counts[epoch] = len(self.model.trainable_weights)


def eager_compile(model, config, steps_per_execution=1):
    """compile_model without graph tracing: the same optimiser and loss, faster for two-sample epochs."""
    model.compile(keras.optimizers.Adam(config["learning_rate"]), "sparse_categorical_crossentropy",
                  metrics=["accuracy"], run_eagerly=True, steps_per_execution=steps_per_execution)  # fmt: skip


def test_phases_unfreeze_at_the_right_epochs(patches, monkeypatch, tmp_path):
    monkeypatch.setattr(progressive, "compile_model", eager_compile)
    config = make_config("progressive", backbone="mobilenetv2", progressive_stages=2, phase_epochs=2, batch_size=8)
    keras.utils.set_random_seed(0)
    model = build_model(*model_parts(config), build_architecture("mobilenetv2", (32, 32, 3)), PATCH_SHAPE, N_CLASSES)
    backbone = find_backbone(model)
    freeze_first_layers(
        backbone, initial_frozen_count("mobilenetv2", backbone, sections(config).model), config["bn_inference"]
    )
    X, y = patches
    data = Dataset(X, y, X[:5], np.arange(5), ["a", "b", "c", "d", "e"], list(config["band_names"]))
    watcher, run = TrainableAtEpochStart(), RunDir(tmp_path)
    phases = progressive.fit_progressive(model, data, config, [watcher, *make_callbacks(run, config)], run, 0)

    assert [p["frozen_layers"] for p in phases] == [154, 143, 116]  # all; then top; then top + block_15
    assert [p["first_epoch"] for p in phases] == [1, 3, 5]
    assert phases[1]["trainable_stages"] == ["top"] and phases[2]["trainable_stages"] == ["block_15", "top"]
    assert [p["learning_rate"] for p in phases] == [1e-3, 1e-3 * 0.3, 1e-3 * 0.3**2]
    counts = watcher.counts
    assert counts[0] == counts[1] < counts[2] == counts[3] < counts[4] == counts[5]  # changes at epochs 3 and 5
    assert phases[0]["trainable_parameters"] < phases[1]["trainable_parameters"] < phases[2]["trainable_parameters"]
    assert not (tmp_path / BACKUP_DIR).exists(), "the phases' backups are removed when training finishes"
