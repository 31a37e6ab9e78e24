"""The README is a user guide that no re-run makes stale: its generated blocks match the code, it names
no dated measurement, and its Layout names folders that exist."""

from __future__ import annotations

import re

from phase4a.paths import PROJECT_ROOT
from tools import update_readme

README = PROJECT_ROOT / "README.md"


def test_generated_blocks_match_the_code():
    text = README.read_text()
    assert update_readme.updated(text) == text, "run .venv/bin/python tools/update_readme.py"


def test_the_presets_table_lists_every_preset_with_what_it_changes():
    from phase4a.config import PRESETS

    text = README.read_text()
    for name, preset in PRESETS.items():
        row = next(line for line in text.splitlines() if line.startswith(f"| `{name}` |"))
        for key in preset.overrides:
            assert f"`{key} " in row, f"{name}: {key} missing from its README row"


def test_no_dated_measurements_and_short_enough():
    text = README.read_text()
    assert not re.search(r"20\d\d-\d\d-\d\d", text), "dates belong in generated files under docs/"
    assert len(text.splitlines()) < 250


def test_layout_names_existing_folders():
    block = README.read_text().split("## Layout", 1)[1]
    for folder in re.findall(r"^\s+([a-z_]+)/", block, flags=re.MULTILINE):
        assert (PROJECT_ROOT / "phase4a" / folder).is_dir() or (PROJECT_ROOT / folder).is_dir(), folder


def test_the_steps_table_names_what_each_stage_declares_it_reads_and_writes():
    """The steps table against phase4a/stages.py: its reads column names exactly each step's inputs."""
    from phase4a.stages import ARTEFACTS, STAGES

    lines = README.read_text().splitlines()
    for stage in STAGES.values():
        row = next(line for line in lines if line.startswith(f"| {stage.number:02d} | `{stage.script}` |"))
        reads, writes = row.split(" | ")[2:4]
        assert set(re.findall(r"`([^`]+)`", reads)) == {ARTEFACTS[key] for key in stage.inputs}, stage.script
        for key in stage.writes:
            assert f"`{ARTEFACTS[key]}`" in writes, f"{stage.script}: {ARTEFACTS[key]} missing from its README row"
