"""The bad-input matrix: each bad input to a script or driver gives exit code != 0, ONE line on stderr
that names the value and the fix, no traceback, and no changed file.

Scripts run in-process through their ``main([...])`` where possible; the drivers, and one step whose
file check must hold in a fresh interpreter (the truncated weights file), run as subprocesses.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from phase4a.cli import report_error
from phase4a.errors import Phase4AError
from phase4a.paths import PROJECT_ROOT
from phase4a.steps import evaluate_compare, load_pretrained, modify_architecture, setup_config, train_transfer

from .conftest import TINY_CNN_OVERRIDES, TINY_OVERRIDES, run_steps


@dataclass
class Call:
    """What to run: ``main(argv)`` in-process, a subprocess ``command``, or a plain ``function``."""

    main: Callable[[list[str]], int] | None = None
    argv: list[str] = field(default_factory=list)
    command: list[str] | None = None
    env: dict[str, str] = field(default_factory=dict)
    function: Callable[[], int] | None = None


@dataclass
class Case:
    build: Callable[[Path, pytest.FixtureRequest], Call]  # (tmp_path, request) -> Call; sets up inputs
    expect: tuple[str, ...]  # substrings of the one stderr line: the bad value and the fix


# ------------------------------------------------------------------ inputs


def write_week3(directory: Path, change: Callable[[dict], None] | None = None) -> Path:
    """A small valid Week 3 directory (reflectance x 10000), optionally broken by ``change``."""
    rng = np.random.default_rng(0)
    arrays = {
        "X_train": rng.uniform(100, 3000, (20, 8, 8, 6)).astype(np.float32),
        "y_train": np.arange(20) % 5,
        "X_val": rng.uniform(100, 3000, (10, 8, 8, 6)).astype(np.float32),
        "y_val": np.arange(10) % 5,
    }
    if change is not None:
        change(arrays)
    directory.mkdir(parents=True, exist_ok=True)
    np.savez(directory / "week3_data.npz", **arrays)
    return directory


def setup_argv(tmp: Path, *options: str) -> Call:
    return Call(setup_config.main, ["--run-dir", str(tmp / "run"), *TINY_CNN_OVERRIDES, *options])


def week3_case(change: Callable[[dict], None] | None) -> Callable[[Path, pytest.FixtureRequest], Call]:
    def build(tmp: Path, request) -> Call:
        data_dir = write_week3(tmp / "week3", change)
        return setup_argv(tmp, "--data_source", "week3", "--data_dir", str(data_dir))

    return build


def step01_only(tmp: Path, *options: str) -> Path:
    """A run directory after step 01 alone (SimpleCNN tiny config plus ``options``)."""
    return run_steps(tmp / "run", [*TINY_CNN_OVERRIDES, *options], 1, tmp)


def copied(fixture: str, tmp: Path, request) -> Path:
    return Path(shutil.copytree(request.getfixturevalue(fixture), tmp / "run"))


def set_item(key: str, value) -> Callable[[dict], None]:
    def change(arrays: dict) -> None:
        arrays[key] = value(arrays) if callable(value) else value

    return change


def _nan(arrays: dict) -> np.ndarray:
    X = arrays["X_train"].copy()
    X[3, 2, 2, 1] = np.nan
    return X


# ------------------------------------------------------------------ cases, one builder each


def unknown_key(tmp, request):
    return setup_argv(tmp, "--learning_rat", "1e-3")


def wrong_type(tmp, request):
    return setup_argv(tmp, "--epochs", "five")


def out_of_range(tmp, request):
    return setup_argv(tmp, "--dropout", "1.5")


def unknown_preset(tmp, request):
    return Call(setup_config.main, ["--run-dir", str(tmp / "run"), "--preset", "repot"])


def missing_week3_dir(tmp, request):
    return setup_argv(tmp, "--data_source", "week3", "--data_dir", str(tmp / "no_such_dir"))


def week3_dir_without_npz(tmp, request):
    (tmp / "week3").mkdir()
    return setup_argv(tmp, "--data_source", "week3", "--data_dir", str(tmp / "week3"))


def corrupt_npz(tmp, request):
    (tmp / "week3").mkdir()
    (tmp / "week3" / "week3_data.npz").write_bytes(b"PK\x03\x04 this is not a zip archive")
    return setup_argv(tmp, "--data_source", "week3", "--data_dir", str(tmp / "week3"))


def unwritable_output_dir(tmp, request):
    (tmp / "a_file").write_text("not a directory\n")
    return Call(setup_config.main, ["--run-dir", str(tmp / "a_file" / "run"), *TINY_CNN_OVERRIDES])


def weights_file_not_found(tmp, request):
    return setup_argv(tmp, "--weights", str(tmp / "missing.weights.h5"))


def other_config_without_overwrite(tmp, request):
    step01_only(tmp)
    return setup_argv(tmp, "--epochs", "3")


def steps_out_of_order(tmp, request):
    run = step01_only(tmp)
    return Call(modify_architecture.main, ["--run-dir", str(run)])


def corrupt_config_json(tmp, request):
    run = step01_only(tmp)
    (run / "config.json").write_text('{"epochs": 1,')
    return Call(load_pretrained.main, ["--run-dir", str(run)])


def offline_imagenet(tmp, request):
    request.getfixturevalue("offline_keras")
    run = run_steps(tmp / "run", [*TINY_OVERRIDES, "--weights", "imagenet"], 1, tmp)
    return Call(load_pretrained.main, ["--run-dir", str(run)])


def partial_imagenet_download(tmp, request):
    """An interrupted download left part of the weights in Keras' cache: the hash check rejects it, the
    re-download fails offline."""
    home = request.getfixturevalue("offline_keras")
    run = run_steps(tmp / "run", [*TINY_OVERRIDES, "--weights", "imagenet"], 1, tmp)
    (home / "models").mkdir()
    partial = home / "models" / "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
    partial.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 4096)
    return Call(load_pretrained.main, ["--run-dir", str(run)])


def truncated_weights_file(tmp, request):
    import h5py

    weights = tmp / "backbone.weights.h5"
    with h5py.File(weights, "w") as handle:
        handle.create_dataset("kernel", data=np.arange(50_000, dtype=np.float32))
    weights.write_bytes(weights.read_bytes()[:30_000])  # an interrupted copy
    run = run_steps(tmp / "run", [*TINY_OVERRIDES, "--weights", str(weights)], 1, tmp)
    return Call(command=[sys.executable, "phase4a_02_load_pretrained.py", "--run-dir", str(run)])


def corrupt_trained_model(tmp, request):
    run = copied("trained_cnn_run", tmp, request)
    model = run / "transfer_model.keras"
    model.write_bytes(model.read_bytes()[: model.stat().st_size // 2])
    os.utime(model, ns=(0, 0))  # a fixed mtime: the snapshot then shows any rewrite
    return Call(evaluate_compare.main, ["--run-dir", str(run)])


def bad_step_option(tmp, request):
    run = copied("prepared_cnn_run", tmp, request)
    return Call(train_transfer.main, ["--run-dir", str(run), "--retrian"])


def bad_mock_driver_option(tmp, request):
    return Call(
        command=["bash", "run_phase4a_mock.sh", "--learning_rat", "0.1"],
        env={"PHASE4A_MOCK_RUN_DIR": str(tmp / "mock_run")},
    )


def real_driver_given_mock(tmp, request):
    return Call(command=["bash", "run_phase4a_real.sh", "--data_source", "mock", "--run-dir", str(tmp / "real")])


def earth_engine_without_credentials(tmp, request):
    pytest.importorskip("ee")
    from phase4a.data import earth_engine

    def no_credentials(*args, **kwargs):
        raise Exception("Please authorize access to your Earth Engine account by running\n\nearthengine authenticate")

    request.getfixturevalue("monkeypatch").setattr(earth_engine.ee, "Initialize", no_credentials)

    def call() -> int:
        try:
            earth_engine.initialize("my-gee-project")
        except Phase4AError as error:
            return report_error(error)
        return 0

    return Call(function=call)


CASES: dict[str, Case] = {
    "unknown config key": Case(unknown_key, ("'learning_rat'", "--learning_rate")),
    "wrong type": Case(wrong_type, ("--epochs", "integer", "'five'")),
    "out-of-range value": Case(out_of_range, ("--dropout 1.5", "out of range", "<= 1")),
    "unknown preset": Case(unknown_preset, ("'repot'", "--list-presets")),
    "missing Week 3 dir": Case(missing_week3_dir, ("no_such_dir", "--data_dir")),
    "Week 3 dir without npz": Case(week3_dir_without_npz, ("week3_data.npz not found",)),
    "corrupt npz": Case(corrupt_npz, ("week3_data.npz", "not a readable .npz", "numpy.savez")),
    "X/y length mismatch": Case(
        week3_case(set_item("y_train", lambda a: a["y_train"][:15])), ("X_train has 20 samples", "one label per patch")
    ),
    "NaN values": Case(week3_case(set_item("X_train", _nan)), ("X_train has 1 NaN", "mask or drop")),
    "labels out of range": Case(
        week3_case(set_item("y_val", lambda a: np.where(a["y_val"] == 4, 7, a["y_val"]))),
        ("y_validation has labels in [0, 7]", "labels must be 0..4"),
    ),
    "class with no samples": Case(
        week3_case(set_item("y_train", lambda a: np.where(a["y_train"] == 3, 0, a["y_train"]))),
        ("class Urban has no samples in the train split", "at least one patch"),
    ),
    "steps out of order": Case(
        steps_out_of_order, ("pretrained_inspection.json not found", "run phase4a_02_load_pretrained.py first")
    ),
    "corrupt config.json": Case(corrupt_config_json, ("config.json is not valid JSON", "phase4a_01_setup_and_config")),
    "unwritable output dir": Case(unwritable_output_dir, ("cannot write to", "a_file", "--run-dir")),
    "run dir holds another config": Case(other_config_without_overwrite, ("different config", "--overwrite")),
    "offline ImageNet weights": Case(
        offline_imagenet, ("cannot get ImageNet weights for resnet50", "--weights none", "~/.keras/models")
    ),
    "partial ImageNet download": Case(partial_imagenet_download, ("cannot get ImageNet weights", "--weights")),
    "weights file not found": Case(weights_file_not_found, ("missing.weights.h5", "existing file")),
    "truncated weights file": Case(truncated_weights_file, ("backbone.weights.h5 is truncated", "--weights none")),
    "corrupt trained model": Case(corrupt_trained_model, ("transfer_model.keras", "damaged", "--retrain")),
    "bad step option": Case(bad_step_option, ("--retrian", "--help")),
    "bad mock driver option": Case(bad_mock_driver_option, ("'learning_rat'", "--learning_rate")),
    "real driver given mock data": Case(real_driver_given_mock, ("--data_source mock", "run_phase4a_mock.sh")),
    "Earth Engine credentials": Case(
        earth_engine_without_credentials, ("'my-gee-project'", "earthengine authenticate")
    ),
}


def run_call(call: Call, capsys) -> tuple[int, str]:
    """Exit code and stderr of ``call``."""
    if call.command is not None:
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **call.env}
        result = subprocess.run(call.command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300)
        return result.returncode, result.stderr
    capsys.readouterr()
    try:
        code = call.function() if call.function is not None else call.main(call.argv)
    except SystemExit as exit_:  # argparse
        code = exit_.code
    return code, capsys.readouterr().err


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_fails_in_one_line_and_changes_nothing(name, tmp_path, request, capsys, snapshot):
    case = CASES[name]
    work = tmp_path / "case"
    work.mkdir()
    call = case.build(work, request)
    before = snapshot(work)
    code, stderr = run_call(call, capsys)
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert code not in (0, None), f"{name}: exit code {code}"
    assert "Traceback" not in stderr
    assert len(lines) == 1, f"{name}: expected one line on stderr, got:\n{stderr}"
    assert lines[0].startswith("error:"), lines[0]
    for expected in case.expect:
        assert expected in lines[0], f"{name}: {expected!r} not in {lines[0]!r}"
    assert snapshot(work) == before, f"{name}: files changed"
