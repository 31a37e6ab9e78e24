"""Step 01 with --data_source npz: an earlier step 01's data.npz, checked and copied byte for byte."""

import json

import numpy as np
import pytest

from phase4a import config as config_module
from phase4a.io import sha256_file
from phase4a.steps import setup_config

from ..conftest import TINY_OVERRIDES, run_steps


@pytest.fixture(scope="module")
def made_run(tmp_path_factory):
    """A tiny mock run after step 01: the data.npz the tests reuse (read-only)."""
    root = tmp_path_factory.mktemp("npz_source")
    return run_steps(root / "made", TINY_OVERRIDES, 1, root)


def run_step01(run_dir, *options):
    return setup_config.main(["--run-dir", str(run_dir), *TINY_OVERRIDES, "--data_source", "npz", *options])


def one_line_error(capsys) -> str:
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: ") and "\n" not in error, error
    return error


def test_the_copy_is_byte_identical_and_the_manifest_names_its_origin(tmp_path, made_run, capsys):
    source = made_run / "data.npz"
    run_dir = tmp_path / "run"
    assert run_step01(run_dir, "--data_npz", str(source)) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "data.npz copied from" in out
    assert "reflectance scaled as (value + 0) / 10000, by the step 01 that wrote the copied data.npz" in out
    assert sha256_file(run_dir / "data.npz") == sha256_file(source)

    manifest = json.loads((run_dir / "run_manifest.json").read_text())
    assert manifest["source_data"] == {"path": str(source.resolve()), "sha256": sha256_file(source)}
    assert manifest["data_hash"] == sha256_file(source)
    assert manifest["steps"]["01_setup"]["outputs"]["data.npz"] == sha256_file(source)

    made, copied = (json.loads((path / "data_summary.json").read_text()) for path in (made_run, run_dir))
    assert copied["source"]["origin"] == made["source"]  # mock, its seed and generator
    assert copied["source"]["origin_scaling"] == made["scaling"]
    assert copied["scaling"]["already_scaled"]  # step 01's output is never scaled twice
    for split in ("train", "validation"):
        assert copied["splits"][split]["class_counts"] == made["splits"][split]["class_counts"]
        assert copied["splits"][split]["band_ranges_scaled"] == made["splits"][split]["band_ranges_scaled"]
    assert (run_dir / "sample_patches.png").read_bytes() == (made_run / "sample_patches.png").read_bytes()
    assert config_module.load(run_dir / "config.json")["data_npz"] == str(source)


def test_band_names_spelt_otherwise_are_the_same_bands(tmp_path, made_run, capsys):
    options = ["--data_npz", str(made_run / "data.npz"), "--band_names", "B02,B03,B04,B08,B11,B12"]
    assert run_step01(tmp_path / "run", *options) == 0, capsys.readouterr().err


def test_a_missing_file_is_one_line_naming_the_path_and_the_fix(tmp_path, capsys):
    missing = tmp_path / "elsewhere" / "data.npz"
    assert run_step01(tmp_path / "run", "--data_npz", str(missing)) == 2
    error = one_line_error(capsys)
    assert str(missing) in error and "not found" in error and "phase4a_01_setup_and_config.py" in error
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("option", "value", "fix"),
    [
        ("--class_names", "Forest,Agriculture,Parcels,Urban,Water", "--class_names Agriculture,Forest,Parcels"),
        ("--band_names", "B2,B3,B4,B5,B11,B12", "--band_names B2,B3,B4,B8,B11,B12"),
        ("--patch_size", "16", "--patch_size 8"),
    ],
)
def test_data_that_disagree_with_the_config_are_refused(tmp_path, made_run, capsys, option, value, fix):
    assert run_step01(tmp_path / "run", "--data_npz", str(made_run / "data.npz"), option, value) == 2
    error = one_line_error(capsys)
    assert value in error and fix in error
    assert not (tmp_path / "run").exists()


def test_files_no_step_01_wrote_are_refused(tmp_path, made_run, capsys):
    damaged = tmp_path / "damaged.npz"
    damaged.write_bytes((made_run / "data.npz").read_bytes()[:200])
    assert run_step01(tmp_path / "run", "--data_npz", str(damaged)) == 2
    assert "not a readable .npz file" in one_line_error(capsys)

    with np.load(made_run / "data.npz") as data:
        arrays = {name: data[name] for name in data.files}
    bare = tmp_path / "bare.npz"
    np.savez(bare, **{name: arrays[name] for name in ("X_train", "y_train", "X_val", "y_val")})
    assert run_step01(tmp_path / "run", "--data_npz", str(bare)) == 2
    assert "lacks class_names, band_names" in one_line_error(capsys)

    unscaled = tmp_path / "unscaled.npz"
    np.savez(unscaled, **{**arrays, "X_train": arrays["X_train"].astype(np.float64) * 10000})
    assert run_step01(tmp_path / "run", "--data_npz", str(unscaled)) == 2
    assert "float64" in one_line_error(capsys)

    broken = tmp_path / "broken.npz"
    np.savez(broken, **{**arrays, "y_val": arrays["y_val"] + 10})  # the dataset contract still applies
    assert run_step01(tmp_path / "run", "--data_npz", str(broken)) == 2
    assert "y_validation has labels in" in one_line_error(capsys)
    assert not (tmp_path / "run").exists()
