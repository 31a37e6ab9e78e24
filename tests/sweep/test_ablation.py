"""The ablation runner: preset choice, shared data, resuming without re-running, results and summary."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from phase4a import config as config_module
from phase4a.errors import ConfigError
from phase4a.evaluate.comparison import accuracy_statistics, compare_with_baseline
from phase4a.evaluate.published import PUBLISHED_BASELINE
from phase4a.io import sha256_file, write_json, write_text
from phase4a.metrics import classification_metrics
from phase4a.stages import RunDir
from phase4a.steps import setup_config
from phase4a.sweep import ablation

TINY = ["--weights", "none", "--epochs", "1", "--mock_train_size", "20", "--mock_val_counts", "2,2,2,2,2"]
NAMES = config_module.REPORT_CLASS_NAMES
Y_TRUE = np.repeat(np.arange(5), 2)
# Correct predictions per preset in the fake runs: report collapses, the other learns.
CORRECT = {"report": 2, "higher_lr": 9}


class FakeRun:
    """Stands in for run_preset: runs the real step 01 (on the sweep's data.npz), writes what steps
    02-05 would, and counts calls per preset."""

    def __init__(self):
        self.calls: list[str] = []

    def __call__(self, preset: str, run_dir: Path, run_options: list[str]) -> None:
        self.calls.append(preset)
        run = RunDir(run_dir)
        step01 = ["--run-dir", str(run.root), "--overwrite", "--preset", preset, *run_options]
        ablation._check(setup_config.main(step01), "step 01", preset)
        config = config_module.load(run.path("config"))
        predicted = np.zeros(10, dtype=int) if CORRECT[preset] == 2 else np.r_[Y_TRUE[:9], 0]
        metrics = classification_metrics(Y_TRUE, predicted, NAMES)
        stored = {
            "metrics": metrics,
            "comparison": compare_with_baseline(metrics, PUBLISHED_BASELINE),
            "statistics": accuracy_statistics(Y_TRUE, predicted, 5, PUBLISHED_BASELINE, config),
            "config_hash": config_module.config_hash(config),
            "data_hash": sha256_file(run.path("data")),
        }
        write_json(run.path("metrics"), stored)
        write_json(run.path("history"), {"epochs_run": 1, "training_seconds": 1.5})
        write_json(run.path("architecture_counts"), {"model_parameters": {"trainable": 1000, "total": 5000}})
        table = pd.DataFrame({"true": [NAMES[i] for i in Y_TRUE], "predicted": [NAMES[i] for i in predicted]})
        write_text(run.path("predictions"), table.to_csv(index=False))


@pytest.fixture
def presets(monkeypatch):
    monkeypatch.setitem(config_module.PRESETS, "higher_lr", config_module.Preset("test", {"learning_rate": 5e-4}))
    return ["report", "higher_lr"]


def test_defaults_are_the_presets_that_exist(monkeypatch):
    monkeypatch.setattr(config_module, "PRESETS", {"report": config_module.PRESETS["report"]})
    assert ablation.available_presets(None) == ["report"]


def test_unknown_preset_is_named_in_the_error():
    with pytest.raises(ConfigError, match="no_such_preset"):
        ablation.available_presets(["report", "no_such_preset"])


def test_sweep_resumes_without_rerunning_finished_entries(tmp_path, presets):
    fake = FakeRun()
    results, failures = ablation.sweep(presets, tmp_path, TINY, run_one=fake)
    assert fake.calls == presets and not failures
    assert list(results["preset"]) == presets
    assert results["data_hash"].nunique() == 1  # every run got the sweep's data, byte for byte
    assert results["data_hash"].iloc[0] == sha256_file(tmp_path / "data" / "data.npz")

    again = FakeRun()
    resumed, _ = ablation.sweep(presets, tmp_path, TINY, run_one=again)
    assert again.calls == []
    pd.testing.assert_frame_equal(resumed, results)


def test_a_run_of_another_config_is_run_again(tmp_path, presets):
    ablation.sweep(presets, tmp_path, TINY, run_one=FakeRun())
    changed = FakeRun()
    ablation.sweep(presets, tmp_path, [*TINY, "--dropout", "0.5"], run_one=changed)
    assert changed.calls == presets


def test_each_run_reads_the_sweeps_data_npz_and_the_source_is_loaded_once(tmp_path, presets, monkeypatch):
    from phase4a.data import mock

    generated = []
    generate = mock.generate_mock_dataset

    def counted(**kwargs):
        generated.append(kwargs)
        return generate(**kwargs)

    monkeypatch.setattr(mock, "generate_mock_dataset", counted)
    ablation.sweep(presets, tmp_path, TINY, run_one=FakeRun())
    assert len(generated) == 1  # for <sweep>/data only: each preset's step 01 reads its data.npz

    shared = (tmp_path / "data" / "data.npz").resolve()
    for preset in presets:
        run = RunDir(tmp_path / preset)
        config = config_module.load(run.path("config"))
        assert (config["data_source"], config["data_npz"]) == ("npz", str(shared))
        manifest = json.loads((run.root / "run_manifest.json").read_text())
        assert manifest["source_data"] == {"path": str(shared), "sha256": sha256_file(shared)}
        assert manifest["steps"]["01_setup"]["outputs"]["data.npz"] == sha256_file(shared)
        assert run.path("sample_patches").read_bytes() == (tmp_path / "data" / "sample_patches.png").read_bytes()


def test_a_failed_run_is_reported_and_the_others_still_run(tmp_path, presets):
    fake = FakeRun()

    def failing(preset, run_dir, run_options):
        if preset == "report":
            raise RuntimeError("boom")
        fake(preset, run_dir, run_options)

    results, failures = ablation.sweep(presets, tmp_path, TINY, run_one=failing)
    assert list(failures) == ["report"] and "boom" in failures["report"]
    assert list(results["preset"]) == ["higher_lr"]


def test_results_files_and_summary_follow_the_numbers(tmp_path, presets):
    results, failures = ablation.sweep(presets, tmp_path, TINY, run_one=FakeRun())
    ablation.write_results(tmp_path, results, failures)
    for name in (ablation.RESULTS_CSV, ablation.RESULTS_MD, ablation.RESULTS_PNG):
        assert (tmp_path / name).is_file()
    markdown = (tmp_path / ablation.RESULTS_MD).read_text()
    assert "| report | 20.00% (5.7% to 51.0%) |" in markdown
    assert "Highest accuracy: **higher_lr**, 90.00%" in markdown
    assert "Collapsed to one class: report." in markdown
    assert "McNemar p < 0.05): higher_lr" in markdown  # 7 patches only higher_lr gets right, 0 the reverse
    swapped = results.assign(accuracy=results["accuracy"][::-1].to_numpy(), collapsed=[False, False])
    assert "Highest accuracy: **report**" in "\n".join(ablation.summary_lines(swapped))
    assert "No run collapsed" in "\n".join(ablation.summary_lines(swapped))


@pytest.mark.slow
def test_a_tiny_real_sweep_of_one_preset_then_resume(tmp_path, capsys):
    argv = ["--presets", "simplecnn", "--sweep-dir", str(tmp_path), *TINY, "--batch_size", "8"]
    assert ablation.main(argv) == 0
    assert (tmp_path / "simplecnn" / "comparison_report.md").is_file()
    assert "| simplecnn |" in (tmp_path / ablation.RESULTS_MD).read_text()
    capsys.readouterr()
    assert ablation.main(argv) == 0
    output = capsys.readouterr().out
    assert "simplecnn: complete in" in output and "running in" not in output
    manifest = json.loads((tmp_path / "simplecnn" / "run_manifest.json").read_text())
    assert manifest["source_data"]["path"] == str((tmp_path / "data" / "data.npz").resolve())
    assert manifest["data_hash"] == sha256_file(tmp_path / "data" / "data.npz")


def test_ctrl_c_in_a_step_stops_the_whole_sweep(tmp_path, presets):
    calls = []

    def interrupted(preset, run_dir, run_options):
        calls.append(preset)
        ablation._check(ablation.INTERRUPTED, "step 04", preset)

    with pytest.raises(KeyboardInterrupt):
        ablation.sweep(presets, tmp_path, TINY, run_one=interrupted)
    assert calls == ["report"]
