"""What made an output: code version, package versions, machine, peak memory, and the run manifest."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

try:
    import resource
except ImportError:  # Windows: no getrusage, so no peak memory in the manifest
    resource = None

from . import __version__
from .io import read_json, sha256_file, write_json
from .paths import PROJECT_ROOT
from .stages import ARTEFACTS, MANIFEST, STAGES, RunDir


def _describe() -> str:
    """``git describe`` of the checkout now (with -dirty for uncommitted changes), else the package version."""
    try:
        described = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--tags"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        return f"{__version__}+git.{described}"
    except (OSError, subprocess.SubprocessError):
        return f"{__version__} (not a git checkout)"


# Described once, when this module is first imported: a process runs the code it loaded then. A long
# sweep runs many steps in one process; describing the checkout at each step would name whatever is
# checked out by then (another commit, a dirty tree), not the code that actually ran.
CODE_VERSION = _describe()


def code_version() -> str:
    """The code this process loaded: ``git describe`` when provenance was first imported."""
    return CODE_VERSION


def package_versions() -> dict[str, str]:
    """Installed versions of every package named in requirements.txt."""
    names = []
    requirements = PROJECT_ROOT / "requirements.txt"
    for line in requirements.read_text().splitlines() if requirements.is_file() else []:
        match = re.match(r"^\s*([A-Za-z0-9_.\-]+)", line)
        if match:
            names.append(match.group(1))
    versions = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def machine() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "processor": platform.machine(),
        "cpu_count": os.cpu_count(),
    }


def peak_memory_mb() -> float | None:
    """This process's peak resident memory so far, in MiB (1 decimal); None where the OS cannot say."""
    if resource is None:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # ru_maxrss is in kilobytes on Linux, in bytes on macOS.
    return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)


def environment() -> dict[str, Any]:
    return {"code_version": code_version(), "packages": package_versions(), "machine": machine()}


def _hashes(run: RunDir, artefacts: tuple[str, ...]) -> dict[str, str]:
    return {ARTEFACTS[key]: sha256_file(run.path(key)) for key in artefacts if run.path(key).is_file()}


def source_data_hash(run: RunDir) -> dict[str, str] | None:
    """The sha256 of the source data file step 01 read (Week 3 npz, GeoTIFF...), when it names one."""
    summary = run.path("data_summary")
    if not summary.is_file():
        return None
    source = read_json(summary).get("source", {})
    path = Path(source["path"]) if isinstance(source, dict) and source.get("path") else None
    if path is None or not path.is_file():
        return None
    return {"path": str(path), "sha256": sha256_file(path)}


def record_step(
    run: RunDir, stage: str, config_hash: str, seconds: dict[str, float], command: list[str] | None = None
) -> None:
    """Add this step's entry to the run manifest: command, config hash, input data hash, the sha256 of
    every input and output the stage declares (stages.py) that exists, peak memory; the environment
    (code version, package versions, machine) of the latest step.

    ``peak_memory_mb`` is the peak resident memory of the process that ran the step, so far
    (``peak_memory_scope``: process). Each step run by its script is a process of its own, so that is
    the step's peak; where steps share a process (a sweep, main() called in-process) it is the peak of
    this step and every step before it in that process.
    """
    path = run.root / MANIFEST
    manifest = read_json(path) if path.is_file() else {}
    manifest.setdefault("steps", {})
    manifest["environment"] = environment()
    manifest["config_hash"] = config_hash
    data = run.path("data")
    # data.npz: the scaled patches every step reads, whatever the source (mock or real).
    manifest["data_hash"] = sha256_file(data) if data.is_file() else None
    if stage == "setup":
        manifest["source_data"] = source_data_hash(run)
    manifest["steps"][f"{STAGES[stage].number:02d}_{stage}"] = {
        "command": command or [Path(sys.argv[0]).name, *sys.argv[1:]],
        "finished_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "config_hash": config_hash,
        "data_hash": manifest["data_hash"],
        "code_version": manifest["environment"]["code_version"],
        "seconds": seconds,
        "peak_memory_mb": peak_memory_mb(),
        "peak_memory_scope": "process",
        "inputs": _hashes(run, STAGES[stage].inputs),
        "outputs": _hashes(run, STAGES[stage].writes),
    }
    write_json(path, manifest)
