"""Provenance: the code version is the one the process loaded, and each step records its peak memory."""

import json
import subprocess

from phase4a import provenance
from phase4a.stages import MANIFEST, RunDir


def checkout_changed(monkeypatch):
    """From now on git fails (as if the checkout had gone or changed); returns the git commands run."""
    calls = []

    run = subprocess.run

    def no_git(command, *args, **kwargs):
        if command[0] != "git":
            return run(command, *args, **kwargs)  # platform.platform() runs uname
        calls.append(command)
        raise subprocess.CalledProcessError(128, command)

    monkeypatch.setattr(subprocess, "run", no_git)
    return calls


def test_the_code_version_is_the_one_described_at_import(monkeypatch):
    loaded = provenance.code_version()
    assert loaded == provenance.CODE_VERSION and loaded.startswith(provenance.__version__)
    calls = checkout_changed(monkeypatch)
    # Describing the checkout now would give another answer...
    assert provenance._describe() == f"{provenance.__version__} (not a git checkout)"
    calls.clear()
    # ...but the process records the code it loaded, without asking git again.
    assert provenance.code_version() == loaded
    assert provenance.environment()["code_version"] == loaded
    assert calls == []


def test_a_step_records_the_loaded_code_version_and_its_peak_memory(tmp_path, monkeypatch, capsys):
    loaded = provenance.code_version()
    checkout_changed(monkeypatch)
    provenance.record_step(RunDir(tmp_path), "setup", "abc", {"startup": 0.1, "work": 0.2}, command=["x.py"])
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    (step,) = manifest["steps"].values()
    assert step["code_version"] == manifest["environment"]["code_version"] == loaded
    assert isinstance(step["peak_memory_mb"], float) and 0 < step["peak_memory_mb"] < 1e6
    assert step["peak_memory_scope"] == "process"
    assert capsys.readouterr() == ("", "")


def test_peak_memory_is_in_mebibytes(monkeypatch):
    class Usage:
        ru_maxrss = 512 * 1024  # kilobytes, as Linux reports it

    monkeypatch.setattr(provenance.sys, "platform", "linux")
    monkeypatch.setattr(provenance.resource, "getrusage", lambda who: Usage())
    assert provenance.peak_memory_mb() == 512.0
    monkeypatch.setattr(provenance, "resource", None)
    assert provenance.peak_memory_mb() is None
