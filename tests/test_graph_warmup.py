"""The drivers' warm-up process builds the graphs of steps 04 and 05 while steps 02 and 03 run; the
steps read exactly those graphs (their keys agree), or wait for them, and trace nothing themselves."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from phase4a import graph_warmup, pipeline
from phase4a.graph_warmup import graph_built
from phase4a.paths import PROJECT_ROOT

from .conftest import TINY_OVERRIDES

PLAN = ("plan", "train predict predict")


@pytest.mark.parametrize(
    "reports, kind, expected",
    [
        ([], "train", None),  # not started: it may still build it
        ([PLAN], "train", None),
        ([PLAN, ("train", "k1")], "train", True),
        ([PLAN, ("train", "other")], "train", False),  # its only train graph has another key
        ([PLAN, ("train", "-")], "train", False),  # it could not cache it
        ([PLAN, ("train", "k0"), ("predict", "other")], "predict", None),  # one predict graph to come
        ([PLAN, ("train", "k0"), ("predict", "other"), ("predict", "k1")], "predict", True),
        ([("plan", "predict")], "train", False),  # planned none (e.g. progressive unfreezing)
    ],
)
def test_whether_a_graph_is_built_follows_the_reports(reports, kind, expected):
    assert graph_built(reports, kind, "k1") is expected


@pytest.fixture
def warmup_reports(monkeypatch):
    """What the warm-up process reported by the time the pipeline stopped it, per run."""
    reports, stop = [], graph_warmup.Warmup.stop

    def recording_stop(self):
        reports.append(self._reports())
        stop(self)
        assert self.process.poll() is not None and not self.progress.exists()

    monkeypatch.setattr(graph_warmup.Warmup, "stop", recording_stop)
    return reports


def test_the_steps_read_the_graphs_the_warmup_built(tmp_path):
    """The driver's own command, in a process of its own as the drivers run it, on an empty cache (a
    first run, as on a new machine)."""
    cache = tmp_path / "graph_cache"
    command = [sys.executable, "-m", "phase4a.pipeline", "--run-dir", str(tmp_path / "run"), *TINY_OVERRIDES]
    env = {**os.environ, "PHASE4A_GRAPH_CACHE": str(cache)}
    done = subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "The warm-up built 3 graphs of steps 04-05 ahead (train, predict, predict)." in done.stdout
    # Step 04 (a model loaded from step 03's file, compiled) and step 05 (the trained model) asked for
    # the keys the warm-up built from the config alone: had any differed, a step would have traced and
    # written a graph of its own.
    assert sorted(path.name.split("-")[0] for path in cache.glob("*.json")) == ["predict", "predict", "train"]


def test_no_warmup_without_a_graph_cache(tmp_path, monkeypatch, warmup_reports):
    monkeypatch.setenv("PHASE4A_GRAPH_CACHE", str(tmp_path / "graph_cache"))
    run = ["--run-dir", str(tmp_path / "run"), "--preset", "simplecnn", *TINY_OVERRIDES, "--graph_cache", "false"]
    assert pipeline.main(run) == 0
    assert warmup_reports and not any(warmup_reports)  # stopped once step 01 had written the config
    assert not (tmp_path / "graph_cache").exists()


def test_a_step_01_that_writes_no_config_ends_the_warmup(tmp_path, capsys, warmup_reports):
    assert pipeline.main(["--run-dir", str(tmp_path / "run"), "--list-presets"]) == 2
    captured = capsys.readouterr()
    assert "FAILED at phase4a_02_load_pretrained.py" in captured.out
    assert "config.json not found" in captured.err and "Traceback" not in captured.err
    assert warmup_reports and not any(warmup_reports)
