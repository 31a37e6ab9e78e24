"""The one table of the pipeline: every artefact, the step that writes it, and what each step reads.

Steps find their inputs here, so any step can be re-run alone, and a missing input names the step
that makes it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .errors import MissingInputError


@dataclass(frozen=True)
class Stage:
    number: int
    script: str
    module: str  # in phase4a/steps: the module whose ``main`` the script runs
    reads: tuple[str, ...]
    writes: tuple[str, ...]
    # Only steps that run TensorFlow pay for starting it (seconds per process).
    uses_tensorflow: bool = True
    # The data sources for which the drivers run the step (None: all); step 06 needs a scene to map.
    sources: tuple[str, ...] | None = None


# Artefact key -> file name inside the run directory.
ARTEFACTS: dict[str, str] = {
    "config": "config.json",
    "data": "data.npz",
    "data_summary": "data_summary.json",
    "sample_patches": "sample_patches.png",
    "inspection": "pretrained_inspection.json",
    "backbone_layers": "backbone_layers.csv",
    "backbone_weights": "backbone.weights.h5",
    "untrained_model": "model_untrained.weights.npz",  # with backbone_weights: the model step 03 built
    "architecture": "architecture.txt",
    "architecture_counts": "architecture.json",
    "model_keras": "transfer_model.keras",
    "model_h5": "transfer_model.h5",  # only with config also_save h5: the same model as model_keras
    "best_checkpoint": "checkpoints/best.weights.npz",  # the trained weights only: train.callbacks.load_best_checkpoint
    "history": "training_history.json",
    "training_log": "training_log.csv",
    # Only with train_baseline: the SimpleCNN's per-epoch history (its model: baseline_model below).
    "baseline_history": "baseline_history.json",
    "metrics": "evaluation_metrics.json",
    "predictions": "validation_predictions.csv",
    # Only when the data have a test split: the headline predictions (step 05).
    "test_predictions": "test_predictions.csv",
    "confusion_matrix": "confusion_matrix.png",
    "training_curves": "training_curves.png",
    "report": "comparison_report.md",
    # Written by step 04 when config train_baseline is true; step 05 pairs its predictions (McNemar).
    "baseline_model": "baseline_model.keras",
    "land_cover_map": "land_cover_map.tif",
    "land_cover_confidence": "land_cover_confidence.tif",
    "land_cover_preview": "land_cover_map.png",
    "land_cover_areas": "land_cover_areas.csv",
    # Only where labelled polygons are known: the map against the polygons outside the training split.
    "map_agreement": "map_agreement.json",
    # Only for mock runs: the synthetic scene step 06 maps, and its labelled regions.
    "mock_scene": "mock_scene.tif",
    "mock_scene_polygons": "mock_scene_polygons.geojson",
}
# Artefacts a step writes only when the config asks for them.
OPTIONAL_ARTEFACTS = frozenset(
    {
        "model_h5",
        "baseline_model",
        "baseline_history",
        "test_predictions",
        "map_agreement",
        "mock_scene",
        "mock_scene_polygons",
    }
)

# In the order the steps run.
STAGES: dict[str, Stage] = {
    "setup": Stage(
        1,
        "phase4a_01_setup_and_config.py",
        "setup_config",
        (),
        ("config", "data", "data_summary", "sample_patches"),
        uses_tensorflow=False,
    ),
    "pretrained": Stage(
        2,
        "phase4a_02_load_pretrained.py",
        "load_pretrained",
        ("config", "data_summary"),
        ("inspection", "backbone_layers", "backbone_weights"),
    ),
    "architecture": Stage(
        3,
        "phase4a_03_modify_architecture.py",
        "modify_architecture",
        ("config", "data", "inspection", "backbone_weights"),
        ("untrained_model", "architecture", "architecture_counts"),
    ),
    "train": Stage(
        4,
        "phase4a_04_train_transfer.py",
        "train_transfer",
        ("config", "data", "data_summary", "backbone_weights", "untrained_model"),
        ("model_keras", "model_h5", "best_checkpoint", "history", "training_log", "baseline_model", "baseline_history"),
    ),
    "evaluate": Stage(
        5,
        "phase4a_05_evaluate_compare.py",
        "evaluate_compare",
        ("config", "data", "model_keras", "history"),
        ("metrics", "predictions", "test_predictions", "confusion_matrix", "training_curves", "report"),
    ),
    "map": Stage(
        6,
        "phase4a_06_predict_map.py",
        "predict_map",
        ("config", "data", "data_summary", "model_keras"),
        (
            "land_cover_map",
            "land_cover_confidence",
            "land_cover_preview",
            "land_cover_areas",
            "map_agreement",
            "mock_scene",
            "mock_scene_polygons",
        ),
        sources=("mock", "raster", "earth_engine"),
    ),
}
MANIFEST = "run_manifest.json"
# The fix for a damaged or outdated trained model, named by the steps that read one.
RETRAIN = f"re-run {STAGES['train'].script} --retrain"
BACKUP_DIR = "training_backup"  # step 04's per-epoch backup: lets a killed training run resume
# A sweep's record of the model files it removed from a finished run (phase4a/sweep/keep.py). With
# keep_models best the run keeps the weights its trained model is rebuilt from (phase4a/train/rebuild.py).
PRUNED_RECORD = "pruned.json"
# With keep_models best, where the trained model's weights differ from the best checkpoint's: the weights
# training changed in the model step 04 saved (written like the checkpoint, rebuilt the same way).
FINAL_WEIGHTS = "checkpoints/final.weights.npz"
TENSORBOARD_DIR = "tensorboard"  # step 04's TensorBoard logs, with config tensorboard


def producer(artefact: str) -> Stage:
    return next(stage for stage in STAGES.values() if artefact in stage.writes)


class RunDir:
    """A run directory: artefact paths by key, and checks that inputs exist."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def path(self, artefact: str) -> Path:
        return self.root / ARTEFACTS[artefact]

    def require(self, artefact: str) -> Path:
        path = self.path(artefact)
        if not path.is_file() and artefact == "model_keras" and self.model_pruned():
            raise MissingInputError(
                f"{path.name} was removed from {self.root} by its sweep (--keep_models best); "
                f"write it back from the run's weights: python -m phase4a.train.rebuild {self.root}"
            )
        if not path.is_file():
            raise MissingInputError(f"{path.name} not found in {self.root}; run {producer(artefact).script} first")
        return path

    def require_inputs(self, stage: str) -> None:
        for artefact in STAGES[stage].reads:
            if artefact == "model_keras" and stage == "map" and self.model_pruned():
                continue  # step 06 rebuilds it from the weights the run kept
            self.require(artefact)

    def model_pruned(self) -> bool:
        """Whether a sweep removed this run's model file and kept the weights to rebuild it from."""
        record = self.root / PRUNED_RECORD
        if self.path("model_keras").is_file() or not record.is_file():
            return False
        try:
            return json.loads(record.read_text()).get("keep_models") == "best"
        except (OSError, ValueError, AttributeError):  # unreadable: the model counts as missing
            return False
