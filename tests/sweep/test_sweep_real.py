"""Tiny real sweeps (SimpleCNN, 40 patches, 1 epoch): findings written, finished (preset, seed) pairs
skipped on a re-run, and a sweep killed with SIGKILL between two runs resumes without redoing the first."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from phase4a.paths import PROJECT_ROOT
from phase4a.sweep import ablation, findings

# Two real sweeps of tiny runs in processes of their own: about a minute and a half together.
pytestmark = pytest.mark.slow

# Every arm a SimpleCNN (report's model_type overridden for the whole sweep): seconds per run.
CNN = ["--model_type", "simplecnn"]


def metrics_times(sweep_dir: Path) -> dict[str, int]:
    return {
        str(path.relative_to(sweep_dir)): path.stat().st_mtime_ns for path in sweep_dir.rglob("evaluation_metrics.json")
    }


def test_a_tiny_sweep_writes_findings_and_skips_finished_pairs(tmp_path, tiny_overrides, capsys):
    sweep_dir = tmp_path / "sweep"
    out = tmp_path / "docs" / "findings" / "tiny.md"
    argv = ["--presets", "report,f_higher_lr", "--seeds", "2", "--sweep-dir", str(sweep_dir), *CNN, *tiny_overrides]
    assert ablation.main([*argv, "--findings-out", str(out)]) == 0
    first = capsys.readouterr().out
    assert first.count(": running in") == 4
    for arm in ("report", "f_higher_lr"):
        for seed in (42, 43):
            assert (sweep_dir / arm / f"seed_{seed}" / "evaluation_metrics.json").is_file()
            # --keep_models best: the model file went, the weights it is rebuilt from stayed.
            assert not (sweep_dir / arm / f"seed_{seed}" / "transfer_model.keras").exists()
            assert (sweep_dir / arm / f"seed_{seed}" / "checkpoints" / "best.weights.npz").is_file()

    table = pd.read_csv(sweep_dir / findings.RESULTS_CSV)
    networks = sorted((arm, seed) for arm in ("report", "f_higher_lr") for seed in (42, 43))
    forests = [("forest_band_statistics", 42), ("forest_flattened", 42)]  # fitted once on the one split
    assert sorted(zip(table["arm"], table["seed"])) == sorted(networks + forests)
    assert table["data_hash"].nunique() == 1  # one split for every seed

    text = (sweep_dir / findings.FINDINGS_MD).read_text()
    for expected in (
        "## Summary",
        "## Accuracy over seeds",
        "| f_higher_lr | learning_rate=0.0005 | 2 |",
        "## Effects against report",
        "two-way cluster bootstrap over seeds x test groups",
        "Holm",
        "no verdict: fewer than 5 seeds",
        "2 seed(s), 42, 43, each on one split (made with seed 42)",
        "weights none",
        "synthetic",
        "Code version: runs made and findings written by `",
        "Wall time of this invocation",
        findings.ACCURACY_PNG,
    ):
        assert expected in text, expected
    for name in findings.FIGURES[:2]:
        assert (sweep_dir / name).is_file()
    copied = out.read_text()
    assert f"](tiny/{findings.ACCURACY_PNG})" in copied and (out.parent / "tiny" / findings.ACCURACY_PNG).is_file()

    before = metrics_times(sweep_dir)
    assert ablation.main(argv) == 0
    again = capsys.readouterr().out
    assert again.count("not run again") == 4 and ": running in" not in again
    assert metrics_times(sweep_dir) == before


def test_a_sweep_killed_between_two_runs_resumes_without_redoing_the_first(tmp_path, tiny_overrides):
    sweep_dir = tmp_path / "sweep"
    command = [sys.executable, "-m", "phase4a.sweep.ablation", "--presets", "report,f_higher_lr"]
    command += ["--sweep-dir", str(sweep_dir), *CNN, *tiny_overrides]
    environment = {**os.environ, "PYTHONUNBUFFERED": "1"}
    first = sweep_dir / "report" / "seed_42" / "evaluation_metrics.json"
    process = subprocess.Popen(
        command, cwd=PROJECT_ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 120
    while not first.is_file() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    output = process.communicate()[0].decode()
    assert first.is_file(), output
    assert process.returncode == -signal.SIGKILL, "the sweep finished before it could be killed"
    assert not (sweep_dir / findings.FINDINGS_MD).exists()
    finished = first.stat().st_mtime_ns

    resumed = subprocess.run(command, cwd=PROJECT_ROOT, env=environment, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "report (seed 42): complete in" in resumed.stdout
    assert "f_higher_lr (seed 42): running in" in resumed.stdout
    assert "report (seed 42): running in" not in resumed.stdout
    assert first.stat().st_mtime_ns == finished
    assert (sweep_dir / "f_higher_lr" / "seed_42" / "evaluation_metrics.json").is_file()
    assert (sweep_dir / findings.FINDINGS_MD).is_file()
