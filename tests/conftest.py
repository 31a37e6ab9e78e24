"""Fixtures shared by the whole suite."""

import pytest

from phase4a import cli


@pytest.fixture(autouse=True)
def isolated_last_run(tmp_path_factory, monkeypatch):
    """Keep step 01's record of the last run directory out of the project's phase4a_outputs/."""
    monkeypatch.setattr(cli, "LAST_RUN_FILE", tmp_path_factory.mktemp("outputs") / "LAST_RUN")
