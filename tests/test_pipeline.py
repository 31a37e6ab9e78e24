"""The five steps end to end on tiny mock data, through each script's main([...])."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from phase4a import cli, pipeline
from phase4a.paths import PROJECT_ROOT, STORE_NAME
from phase4a.stages import ARTEFACTS, BACKUP_DIR, MANIFEST, OPTIONAL_ARTEFACTS, STAGES
from phase4a.steps import evaluate_compare, load_pretrained, modify_architecture, setup_config, train_transfer

from .conftest import TINY_CNN_OVERRIDES, TINY_OVERRIDES

STEP_MAINS = [load_pretrained.main, modify_architecture.main, train_transfer.main, evaluate_compare.main]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cli, "LAST_RUN_FILE", root / "LAST_RUN")
        assert setup_config.main(["--run-dir", str(root / "mock"), *TINY_OVERRIDES]) == 0
        for main in STEP_MAINS:
            assert main(["--run-dir", str(root / "mock")]) == 0
    return root / "mock"


def test_every_step_writes_its_artefacts(run_dir):
    for stage in list(STAGES.values())[:5]:  # the fixture ran steps 01-05; tests/mapping has step 06
        for artefact in set(stage.writes) - OPTIONAL_ARTEFACTS:
            assert (run_dir / ARTEFACTS[artefact]).is_file(), f"{stage.script} did not write {ARTEFACTS[artefact]}"


def test_backbone_is_the_report_resnet50(run_dir):
    inspection = json.loads((run_dir / "pretrained_inspection.json").read_text())
    assert inspection["layers"] == 175
    assert inspection["parameters"] == 23_587_712
    assert inspection["weights"]["kind"] == "none"
    assert inspection["feature_map_shape"] == [1, 1, 2048]
    counts = json.loads((run_dir / "architecture.json").read_text())
    assert counts["backbone_layers"] == {"layers": 175, "frozen": 150, "trainable": 25}


def test_model_has_the_report_architecture(run_dir):
    import keras

    model = keras.models.load_model(run_dir / "transfer_model.keras")
    names = [layer.name for layer in model.layers]
    assert names == [
        "patches",
        "upsample",
        "band_reduction",
        "resnet50",
        "global_pool",
        "head_dense",
        "head_dropout",
        "predictions",
    ]
    assert model.get_layer("upsample").output.shape[1:] == (32, 32, 6)
    assert model.get_layer("band_reduction").output.shape[1:] == (32, 32, 3)
    assert model.get_layer("head_dense").units == 128
    assert model.get_layer("head_dropout").rate == 0.3
    assert model.output.shape[1:] == (5,)
    backbone = model.get_layer("resnet50")
    # Layer 0 is the weightless input layer, whose flag Keras does not keep when loading.
    assert [layer.trainable for layer in backbone.layers[1:]] == [False] * 149 + [True] * 25
    # The trained model for prediction, without the optimizer's state (only resuming needs it), once.
    assert getattr(model, "optimizer", None) is None
    assert not (run_dir / "transfer_model.h5").exists()


def test_also_save_h5_writes_the_same_model_as_the_file_the_report_names(run_dir, copy_run):
    import keras

    run = copy_run(run_dir)
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**config, "also_save": "h5"}))
    assert train_transfer.main(["--run-dir", str(run)]) == 0
    model = keras.models.load_model(run / "transfer_model.keras")
    h5 = keras.models.load_model(run / "transfer_model.h5")
    sample = np.load(run / "data.npz")["X_val"][:4]
    np.testing.assert_allclose(h5.predict(sample, verbose=0), model.predict(sample, verbose=0), atol=1e-5)
    assert getattr(h5, "optimizer", None) is None
    # Trained again without it, the run keeps no .h5 of an earlier training.
    (run / "config.json").write_text(json.dumps(config))
    assert train_transfer.main(["--run-dir", str(run)]) == 0
    assert not (run / "transfer_model.h5").exists()


def test_a_finished_run_keeps_what_users_need_and_stores_the_frozen_backbone_once(run_dir):
    """The resume state is gone, the best checkpoint with it (config keep_checkpoint false), the backbone
    weights are a link to the store, the untrained model holds only what step 03 added, and the one
    model for prediction carries no optimizer state."""
    assert not (run_dir / BACKUP_DIR).exists()
    files = [path for path in run_dir.rglob("*") if path.is_file()]
    linked = [path for path in files if path.stat().st_nlink > 1]
    assert [path.name for path in linked] == ["backbone.weights.h5"]
    stored = next((run_dir.parent / STORE_NAME).glob("backbone-*.weights.h5"))
    assert stored.samefile(run_dir / "backbone.weights.h5")
    model = (run_dir / "transfer_model.keras").stat().st_size
    backbone = stored.stat().st_size
    assert model < 1.02 * backbone  # the frozen backbone and a small head: no optimizer state
    assert (run_dir / "model_untrained.weights.npz").stat().st_size < 0.05 * backbone
    assert not (run_dir / "checkpoints").exists()
    own = sum(path.stat().st_size for path in files if path.stat().st_nlink == 1)
    assert own < 1.1 * model  # one model file and small files


def test_history_records_metrics_learning_rate_and_time(run_dir):
    history = json.loads((run_dir / "training_history.json").read_text())
    assert history["epochs_run"] == 1
    epoch = history["epochs"][0]
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "seconds"):
        assert key in epoch
    config = json.loads((run_dir / "config.json").read_text())
    assert epoch["learning_rate"] == pytest.approx(config["learning_rate"])  # the rate the epoch ran at


def test_metrics_and_report_compare_with_the_published_baseline(run_dir):
    metrics = json.loads((run_dir / "evaluation_metrics.json").read_text())
    assert metrics["metrics"]["samples"] == 10
    assert metrics["comparison"]["baseline"]["accuracy"] == 0.8667
    assert sum(map(sum, metrics["metrics"]["confusion_matrix"])) == 10
    report = (run_dir / "comparison_report.md").read_text()
    for heading in (
        "## Summary",
        "## Configuration",
        "## Results",
        "## Confusion matrix",
        "## Training behaviour",
        "## Environment",
    ):
        assert heading in report
    assert "86.67%" in report
    assert "randomly initialised" in report  # a mock run says it transferred no ImageNet features


def test_manifest_records_each_step(run_dir):
    manifest = json.loads((run_dir / MANIFEST).read_text())
    assert [name[:2] for name in sorted(manifest["steps"])] == ["01", "02", "03", "04", "05"]
    assert manifest["environment"]["packages"]["tensorflow"]
    assert "data.npz" in manifest["steps"]["04_train"]["inputs"]


def test_a_finished_training_is_not_repeated(run_dir, capsys):
    before = (run_dir / "transfer_model.keras").stat().st_mtime_ns
    assert train_transfer.main(["--run-dir", str(run_dir)]) == 0
    assert "already trained" in capsys.readouterr().out
    assert (run_dir / "transfer_model.keras").stat().st_mtime_ns == before


def test_a_missing_input_names_the_step_that_makes_it(tmp_path, capsys):
    assert modify_architecture.main(["--run-dir", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: config.json not found in {tmp_path}; run phase4a_01_setup_and_config.py first"
    )


def test_the_drivers_pipeline_runs_the_five_steps_in_one_process(tmp_path, trained_cnn_run, capsys, monkeypatch):
    """The same results as each script's main run one after the other (trained_cnn_run), and no second
    Python process (no warm-up or step beside the steps)."""
    run = tmp_path / "run"
    started = []
    popen = subprocess.Popen

    def recorded(args, *rest, **kwargs):
        started.append(args)
        return popen(args, *rest, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(subprocess, "Popen", recorded)
        assert pipeline.main(["--run-dir", str(run), *TINY_CNN_OVERRIDES]) == 0
    assert not [args for args in started if sys.executable in map(str, args) or "python" in str(args[0])]
    out = capsys.readouterr().out
    assert [line[4:] for line in out.splitlines() if line.startswith("=== ")] == [
        stage.script for stage in STAGES.values()
    ]
    metrics = ARTEFACTS["evaluation_metrics"]
    assert (run / metrics).read_bytes() == (trained_cnn_run / metrics).read_bytes()


def test_the_drivers_pipeline_needs_a_run_directory(capsys):
    with pytest.raises(SystemExit) as stopped:
        pipeline.main([])
    assert stopped.value.code == 2
    assert capsys.readouterr().err.strip() == (
        "error: the following arguments are required: --run-dir; see python -m phase4a.pipeline --help"
    )


def test_the_drivers_pipeline_stops_at_the_failing_step(tmp_path, capsys):
    assert pipeline.main(["--run-dir", str(tmp_path / "run"), "--learning_rat", "0.1"]) == 2
    captured = capsys.readouterr()
    assert "FAILED at phase4a_01_setup_and_config.py" in captured.out
    assert "=== phase4a_02" not in captured.out
    assert "--learning_rat" in captured.err


def test_step_01_does_not_start_tensorflow(tmp_path):
    # Step 01 only reads and writes arrays: importing TensorFlow would cost it seconds for nothing.
    script = (
        "import pathlib, sys; from phase4a import cli; from phase4a.steps.setup_config import main; "
        f"cli.LAST_RUN_FILE = pathlib.Path({str(tmp_path / 'LAST_RUN')!r}); "  # not the project's
        f"code = main(['--run-dir', {str(tmp_path / 'run')!r}, '--weights', 'none']); "
        "sys.exit(code or ('tensorflow' in sys.modules and 3))"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "run" / "data.npz").is_file()


@pytest.mark.parametrize("script", sorted(stage.script for stage in STAGES.values()))
def test_every_script_has_help(script):
    result = subprocess.run([sys.executable, script, "--help"], cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert result.returncode == 0
    assert "usage:" in result.stdout and "--run-dir" in result.stdout


def test_runs_beside_each_other_share_the_backbone_file_and_survive_each_others_deletion(tmp_path):
    """Two runs of one config in one parent directory: step 02's weights are one file (hard links to
    the store); deleting one run, and then the store, leaves the other able to train."""
    from .conftest import run_steps

    first = run_steps(tmp_path / "first", TINY_CNN_OVERRIDES, 3, tmp_path)
    second = run_steps(tmp_path / "second", TINY_CNN_OVERRIDES, 3, tmp_path)
    assert (first / "backbone.weights.h5").samefile(second / "backbone.weights.h5")
    inspection = json.loads((second / "pretrained_inspection.json").read_text())
    assert inspection["backbone_weights_shared"] is True
    shutil.rmtree(first)
    shutil.rmtree(tmp_path / STORE_NAME)
    assert train_transfer.main(["--run-dir", str(second)]) == 0
    assert (second / "transfer_model.keras").is_file()
