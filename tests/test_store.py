"""The store of files many runs share (step 02's backbone weights): beside the run directories under a
name no data folder has, and never inside a folder the project reads data from."""

from __future__ import annotations

import json

import pytest

from phase4a import paths
from phase4a.errors import OutputError
from phase4a.paths import STORE_NAME, backbone_store
from phase4a.steps import load_pretrained, setup_config

from .conftest import TINY_CNN_OVERRIDES, run_steps


@pytest.fixture
def data_folder(tmp_path, monkeypatch):
    """A stand-in for ../shared beside the runs, holding one data file."""
    folder = tmp_path / "shared"
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "tiles.npz").write_bytes(b"data")
    monkeypatch.setattr(paths, "SHARED_DIR", folder)
    return folder


def test_the_default_store_is_beside_the_run_under_its_own_name(tmp_path):
    assert backbone_store(tmp_path / "run", {"shared_dir": ""}) == (tmp_path / STORE_NAME).resolve()
    assert backbone_store(tmp_path / "run", {"shared_dir": str(tmp_path / "elsewhere")}) == tmp_path / "elsewhere"


@pytest.mark.parametrize(
    "config",
    [
        {"shared_dir": "{data}"},
        {"shared_dir": "{data}/data/store"},
        {"shared_dir": "{tmp}/week3/store", "data_dir": "{tmp}/week3"},
    ],
    ids=["the data folder", "inside it", "inside --data_dir"],
)
def test_a_store_inside_a_data_folder_is_refused(tmp_path, data_folder, config):
    config = {key: value.format(data=data_folder, tmp=tmp_path) for key, value in config.items()}
    with pytest.raises(OutputError, match=r"^the backbone store .* is inside .*; pass --shared_dir DIR outside it$"):
        backbone_store(tmp_path / "run", config)


def test_a_run_directory_inside_a_data_folder_is_refused_with_the_fix(data_folder):
    with pytest.raises(OutputError, match=r"use a --run-dir outside it, or --shared_dir DIR$"):
        backbone_store(data_folder / "run", {"shared_dir": ""})


def test_a_run_beside_the_data_folder_leaves_it_untouched(tmp_path, data_folder, snapshot):
    before = snapshot(data_folder)
    run = run_steps(tmp_path / "run", TINY_CNN_OVERRIDES, 2, tmp_path)
    assert snapshot(data_folder) == before
    stored = next((tmp_path / STORE_NAME).glob("backbone-*.weights.h5"))
    assert stored.samefile(run / "backbone.weights.h5")


def test_step_01_refuses_the_store_in_a_data_folder_before_writing_anything(tmp_path, data_folder, capsys, snapshot):
    before = snapshot(data_folder)
    argv = ["--run-dir", str(tmp_path / "run"), *TINY_CNN_OVERRIDES, "--shared_dir", str(data_folder / "store")]
    assert setup_config.main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "pass --shared_dir DIR outside it" in err
    assert str(data_folder.resolve() / "store") in err
    assert not (tmp_path / "run").exists() and snapshot(data_folder) == before


def test_step_02_refuses_a_config_whose_store_is_in_a_data_folder(tmp_path, data_folder, capsys, snapshot):
    run = run_steps(tmp_path / "run", TINY_CNN_OVERRIDES, 1, tmp_path)
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**config, "shared_dir": str(data_folder)}))
    before = snapshot(data_folder)
    assert load_pretrained.main(["--run-dir", str(run)]) == 2
    assert "is inside" in capsys.readouterr().err
    assert snapshot(data_folder) == before and not (run / "backbone.weights.h5").exists()
