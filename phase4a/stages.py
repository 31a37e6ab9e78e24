"""The one table of the pipeline: every artefact, the step that writes it, and what each step reads.

Steps find their inputs here, so any step can be re-run alone, and a missing input names the step
that makes it. A step's code asks for artefacts through a run directory bound to its stage
(``RunDir.for_stage``), which refuses any artefact the stage does not declare: the declarations that
``require_inputs``, the run manifest and the README's steps table use are the ones the code obeys.
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
    reads: tuple[str, ...]  # inputs the step cannot run without: require_inputs checks each one
    writes: tuple[str, ...]
    # Inputs read only where they exist (an optional artefact, or the weights a pruned run is rebuilt from).
    reads_if_present: tuple[str, ...] = ()
    # Only steps that run TensorFlow pay for starting it (docs/performance.md).
    uses_tensorflow: bool = True
    # The data sources for which the drivers run the step (None: all); step 06 needs a scene to map.
    sources: tuple[str, ...] | None = None

    @property
    def inputs(self) -> tuple[str, ...]:
        """Every artefact of earlier steps this step may read: the run manifest hashes those present."""
        return self.reads + self.reads_if_present

    def declares(self, artefact: str) -> bool:
        return artefact in self.inputs or artefact in self.writes


# Artefact key -> file name inside the run directory. Each key is its file's name without the extension
# (dots as underscores), with the extension added where two files share that name (tests/test_stages.py).
ARTEFACTS: dict[str, str] = {
    "config": "config.json",
    "data": "data.npz",
    "data_summary": "data_summary.json",
    "sample_patches": "sample_patches.png",
    "pretrained_inspection": "pretrained_inspection.json",
    "backbone_layers": "backbone_layers.csv",
    "backbone_weights": "backbone.weights.h5",
    # With backbone_weights: the model step 03 built.
    "model_untrained_weights": "model_untrained.weights.npz",
    "architecture_txt": "architecture.txt",
    "architecture_json": "architecture.json",
    "transfer_model_keras": "transfer_model.keras",
    # Only with config also_save h5: the same model as transfer_model_keras.
    "transfer_model_h5": "transfer_model.h5",
    # Only with config keep_checkpoint: the trained weights only (train.callbacks.load_best_checkpoint).
    "best_weights": "checkpoints/best.weights.npz",
    "training_history": "training_history.json",
    "training_log": "training_log.csv",
    # Only with train_baseline: the SimpleCNN's per-epoch history (its model: baseline_model below).
    "baseline_history": "baseline_history.json",
    "evaluation_metrics": "evaluation_metrics.json",
    "validation_predictions": "validation_predictions.csv",
    # Only when the data have a test split: the headline predictions (step 05).
    "test_predictions": "test_predictions.csv",
    "confusion_matrix": "confusion_matrix.png",
    "training_curves": "training_curves.png",
    "comparison_report": "comparison_report.md",
    # Written by step 04 when config train_baseline is true; step 05 pairs its predictions (McNemar).
    "baseline_model": "baseline_model.keras",
    "land_cover_map_tif": "land_cover_map.tif",
    "land_cover_confidence": "land_cover_confidence.tif",
    "land_cover_map_png": "land_cover_map.png",
    "land_cover_areas": "land_cover_areas.csv",
    # Only where labelled polygons are known: the map against the polygons outside the training split.
    "map_agreement": "map_agreement.json",
    # Only for mock runs: the synthetic scene step 06 maps, and its labelled regions.
    "mock_scene": "mock_scene.tif",
    "mock_scene_polygons": "mock_scene_polygons.geojson",
    # Only for mock runs with mock_aux_layers: the scene's synthetic auxiliary layers.
    "mock_scene_layers": "mock_scene_layers.tif",
}
# Artefacts a step writes only when the config asks for them.
OPTIONAL_ARTEFACTS = frozenset(
    {
        "transfer_model_h5",
        "best_weights",
        "baseline_model",
        "baseline_history",
        "test_predictions",
        "map_agreement",
        "mock_scene",
        "mock_scene_polygons",
        "mock_scene_layers",
    }
)

# In the order the steps run. Every step after 01 reads config.json: cli.run_step loads it.
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
        ("pretrained_inspection", "backbone_layers", "backbone_weights"),
    ),
    "architecture": Stage(
        3,
        "phase4a_03_modify_architecture.py",
        "modify_architecture",
        ("config", "data", "pretrained_inspection", "backbone_weights"),
        ("model_untrained_weights", "architecture_txt", "architecture_json"),
    ),
    "train": Stage(
        4,
        "phase4a_04_train_transfer.py",
        "train_transfer",
        ("config", "data", "data_summary", "backbone_weights", "model_untrained_weights"),
        (
            "transfer_model_keras",
            "transfer_model_h5",
            "best_weights",
            "training_history",
            "training_log",
            "baseline_model",
            "baseline_history",
        ),
    ),
    "evaluate": Stage(
        5,
        "phase4a_05_evaluate_compare.py",
        "evaluate_compare",
        (
            "config",
            "data",
            "data_summary",
            "pretrained_inspection",
            "architecture_json",
            "transfer_model_keras",
            "training_history",
        ),
        (
            "evaluation_metrics",
            "validation_predictions",
            "test_predictions",
            "confusion_matrix",
            "training_curves",
            "comparison_report",
        ),
        reads_if_present=("baseline_model", "baseline_history"),
    ),
    "map": Stage(
        6,
        "phase4a_06_predict_map.py",
        "predict_map",
        ("config", "data", "data_summary", "transfer_model_keras"),
        (
            "land_cover_map_tif",
            "land_cover_confidence",
            "land_cover_map_png",
            "land_cover_areas",
            "map_agreement",
            "mock_scene",
            "mock_scene_polygons",
            "mock_scene_layers",
        ),
        # A run a sweep pruned (keep_models best) has no model file: step 06 rebuilds the model from these.
        reads_if_present=("backbone_weights", "model_untrained_weights", "best_weights"),
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


class UndeclaredArtefactError(LookupError):
    """A step asked for an artefact its Stage does not declare: a fault of the code (fix STAGES or the
    step), not of the run directory."""


class RunDir:
    """A run directory: artefact paths by key, and checks that inputs exist.

    Bound to a stage (``for_stage``), it gives only the artefacts that stage declares it reads or writes,
    so a step cannot read an input that require_inputs and the manifest do not know of.
    """

    def __init__(self, root: str | Path, stage: str | None = None):
        self.root = Path(root)
        self.stage = stage

    def for_stage(self, stage: str) -> RunDir:
        """This run directory as step ``stage`` sees it."""
        return RunDir(self.root, stage)

    def path(self, artefact: str) -> Path:
        if self.stage is not None and not STAGES[self.stage].declares(artefact):
            step = STAGES[self.stage]
            raise UndeclaredArtefactError(
                f"{step.script} asked for {ARTEFACTS[artefact]} ({artefact!r}), which its stage {self.stage!r} "
                "in phase4a/stages.py does not declare"
            )
        return self.root / ARTEFACTS[artefact]

    def require(self, artefact: str) -> Path:
        path = self.path(artefact)
        if not path.is_file() and artefact == "transfer_model_keras" and self.model_pruned():
            raise MissingInputError(
                f"{path.name} was removed from {self.root} by its sweep (--keep_models best); "
                f"write it back from the run's weights: python -m phase4a.train.rebuild {self.root}"
            )
        if not path.is_file():
            raise MissingInputError(f"{path.name} not found in {self.root}; run {producer(artefact).script} first")
        return path

    def if_present(self, artefact: str) -> Path | None:
        """The artefact's path where its file exists, else None: for inputs a step reads only if present."""
        path = self.path(artefact)
        return path if path.is_file() else None

    def require_inputs(self, stage: str) -> None:
        for artefact in STAGES[stage].reads:
            if artefact == "transfer_model_keras" and stage == "map" and self.model_pruned():
                continue  # step 06 rebuilds it from the weights the run kept
            self.require(artefact)

    def model_pruned(self) -> bool:
        """Whether a sweep removed this run's model file and kept the weights to rebuild it from."""
        record = self.root / PRUNED_RECORD
        if self.path("transfer_model_keras").is_file() or not record.is_file():
            return False
        try:
            return json.loads(record.read_text()).get("keep_models") == "best"
        except (OSError, ValueError, AttributeError):  # unreadable: the model counts as missing
            return False
