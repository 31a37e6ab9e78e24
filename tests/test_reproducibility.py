"""Same seed, same numbers; atomic artefacts; the run manifest; no run overwrites another unasked."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys

import pytest

from phase4a import config as config_module
from phase4a.io import atomic_path, sha256_file
from phase4a.paths import MOCK_RUN_DIR, PROJECT_ROOT, REAL_RUN_DIR, default_run_dir
from phase4a.stages import ARTEFACTS, MANIFEST, STAGES
from phase4a.steps import evaluate_compare, setup_config

from .conftest import TINY_CNN_OVERRIDES, TINY_OVERRIDES, run_steps

# ------------------------------------------------------------------ reproducibility


def test_same_seed_same_metrics_byte_for_byte(tmp_path, trained_cnn_run):
    """The whole tiny pipeline (SimpleCNN) again into another directory, then with another seed."""
    first = trained_cnn_run
    second = run_steps(tmp_path / "b", TINY_CNN_OVERRIDES, 5, tmp_path)
    metrics = first / ARTEFACTS["evaluation_metrics"]
    assert metrics.read_bytes() == (second / ARTEFACTS["evaluation_metrics"]).read_bytes()
    for artefact in ("data", "validation_predictions", "training_history"):
        if artefact == "training_history":  # wall-clock seconds per epoch differ; every number learned must not
            strip = ("seconds", "training_seconds", "wall_seconds_this_process", "feature_seconds")
            a, b = (_without(json.loads((run / ARTEFACTS[artefact]).read_text()), strip) for run in (first, second))
            assert a == b
        else:
            assert sha256_file(first / ARTEFACTS[artefact]) == sha256_file(second / ARTEFACTS[artefact]), artefact
    assert str(first) not in metrics.read_text(), "a path in the metrics would differ between run directories"

    other = run_steps(tmp_path / "c", [*TINY_CNN_OVERRIDES, "--seed", "7"], 5, tmp_path)
    assert (other / ARTEFACTS["evaluation_metrics"]).read_bytes() != metrics.read_bytes()
    predictions = ARTEFACTS["validation_predictions"]
    assert (other / predictions).read_bytes() != (first / predictions).read_bytes()


def _without(value, keys):
    if isinstance(value, dict):
        return {k: _without(v, keys) for k, v in value.items() if k not in keys}
    if isinstance(value, list):
        return [_without(v, keys) for v in value]
    return value


@pytest.mark.slow
def test_mock_driver_twice_gives_identical_metrics(tmp_path):
    """The real thing: ./run_phase4a_mock.sh (ResNet50, the five steps in one process) twice, the same
    as the five scripts each in its own process, and another seed gives other numbers."""
    tiny = [option for option in TINY_OVERRIDES]
    env = {**os.environ, "KERAS_HOME": str(tmp_path / "keras")}

    def check(command: list[str], **extra_env: str) -> None:
        result = subprocess.run(command, cwd=PROJECT_ROOT, env={**env, **extra_env}, capture_output=True, text=True)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]

    def drive(name: str, *extra: str) -> bytes:
        check(["bash", "run_phase4a_mock.sh", *tiny, *extra], PHASE4A_MOCK_RUN_DIR=str(tmp_path / name))
        return (tmp_path / name / ARTEFACTS["evaluation_metrics"]).read_bytes()

    first = drive("a")
    assert drive("b") == first
    scripts = tmp_path / "scripts"
    for stage in STAGES.values():
        step01 = ["--data_source", "mock", "--weights", "none", "--epochs", "2", *tiny] if stage.number == 1 else []
        check([sys.executable, stage.script, "--run-dir", str(scripts), *step01])
    assert (scripts / ARTEFACTS["evaluation_metrics"]).read_bytes() == first
    assert drive("c", "--seed", "7") != first


# ------------------------------------------------------------------ atomic outputs


def test_failing_step_leaves_previous_artefacts_intact(trained_cnn_run, copy_run, capsys):
    run = copy_run(trained_cnn_run)
    outputs = [run / ARTEFACTS[key] for key in STAGES["evaluate"].writes if (run / ARTEFACTS[key]).is_file()]
    before = {path.name: path.read_bytes() for path in outputs}
    manifest_before = (run / MANIFEST).read_bytes()
    model = run / ARTEFACTS["transfer_model_keras"]
    model.write_bytes(model.read_bytes()[:1000])  # a damaged model: step 05 fails part-way

    assert evaluate_compare.main(["--run-dir", str(run)]) != 0
    assert "transfer_model.keras" in capsys.readouterr().err
    assert {path.name: path.read_bytes() for path in outputs} == before
    assert (run / MANIFEST).read_bytes() == manifest_before, "a failed step must not be recorded"
    assert not [path.name for path in run.rglob("*") if ".tmp" in path.name], "temporary files left behind"


def test_write_that_fails_half_way_keeps_the_old_file(tmp_path):
    target = tmp_path / "report.md"
    target.write_text("previous report\n")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half of a new rep")
        raise RuntimeError("killed while writing")
    assert target.read_text() == "previous report\n"
    assert [path.name for path in tmp_path.iterdir()] == ["report.md"]


# Writers that take a path; each must be handed a temporary path from phase4a.io.atomic_path.
_DIRECT_WRITERS = {"save", "save_weights", "savefig", "write_text", "write_bytes", "to_csv", "savez", "dump"}


def test_every_artefact_goes_through_atomic_writes():
    """Outside phase4a/io.py, a file is only written through io's helpers or to atomic_path's ``tmp``."""
    offenders = []
    for source in sorted((PROJECT_ROOT / "phase4a").rglob("*.py")):
        if source.name == "io.py":
            continue
        tree = ast.parse(source.read_text(), filename=str(source))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "open":
                modes = [k.value for k in node.keywords if k.arg == "mode"]
                mode = node.args[1] if len(node.args) > 1 else (modes[0] if modes else None)
                if isinstance(mode, ast.Constant) and any(flag in str(mode.value) for flag in "wax"):
                    offenders.append(f"{source.name}:{node.lineno} open(..., {mode.value!r})")
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            if node.func.attr not in _DIRECT_WRITERS or not node.args:
                continue
            target = node.args[0]
            if isinstance(target, ast.Name) and target.id == "tmp":
                continue  # inside `with atomic_path(...) as tmp`
            if node.func.attr == "to_csv" and not node.args:
                continue
            if node.func.attr in ("save", "write_text") and isinstance(node.func.value, ast.Name):
                if node.func.value.id in ("config_module", "dataset_module", "io"):
                    continue  # project helpers that write atomically
            if isinstance(target, ast.Constant) or _is_path_expression(target):
                offenders.append(f"{source.name}:{node.lineno} {ast.unparse(node)[:100]}")
    assert not offenders, "non-atomic writes:\n" + "\n".join(offenders)


def _is_path_expression(node) -> bool:
    text = ast.unparse(node)
    return any(word in text for word in ("path", "run.", "root", "dir", "file"))


# ------------------------------------------------------------------ the manifest


def test_manifest_records_hashes_versions_and_commands(trained_cnn_run):
    manifest = json.loads((trained_cnn_run / MANIFEST).read_text())
    config = config_module.load(trained_cnn_run / "config.json")
    data_hash = sha256_file(trained_cnn_run / "data.npz")
    assert manifest["config_hash"] == config_module.config_hash(config)
    assert manifest["data_hash"] == data_hash
    environment = manifest["environment"]
    assert environment["code_version"].startswith("0.")
    for package in ("tensorflow", "keras", "numpy"):
        assert environment["packages"][package][0].isdigit(), package
    ran = [name for name, stage in STAGES.items() if stage.number <= 5]  # the fixture ran steps 01-05
    assert list(manifest["steps"]) == [f"{STAGES[name].number:02d}_{name}" for name in ran]
    for key, step in manifest["steps"].items():
        stage = STAGES[key[3:]]
        assert step["command"][0] == stage.script
        assert "--run-dir" in step["command"]
        assert step["config_hash"] == manifest["config_hash"]
        assert step["data_hash"] == data_hash
        assert step["code_version"] == environment["code_version"]
        assert 0 < step["peak_memory_mb"] < 1e6 and step["peak_memory_scope"] == "process"
        assert set(step["outputs"]) == {ARTEFACTS[a] for a in stage.writes if (trained_cnn_run / ARTEFACTS[a]).exists()}
        assert set(step["inputs"]) == {ARTEFACTS[a] for a in stage.inputs if (trained_cnn_run / ARTEFACTS[a]).exists()}
        if "data" in stage.reads:
            assert step["inputs"]["data.npz"] == data_hash
    assert manifest["steps"]["01_setup"]["command"][1:3] == ["--run-dir", str(trained_cnn_run)]
    assert "--preset" in manifest["steps"]["01_setup"]["command"]


def test_manifest_hashes_the_real_source_file(tmp_path):
    from .test_bad_inputs import write_week3

    data_dir = write_week3(tmp_path / "week3")
    options = [*TINY_CNN_OVERRIDES, "--data_source", "week3", "--data_dir", str(data_dir)]
    run = run_steps(tmp_path / "run", options, 1, tmp_path)
    source = json.loads((run / MANIFEST).read_text())["source_data"]
    assert source["sha256"] == sha256_file(data_dir / "week3_data.npz")


# ------------------------------------------------------------------ nothing lost


def test_mock_and_real_runs_never_share_a_directory():
    assert default_run_dir("mock") == MOCK_RUN_DIR
    assert default_run_dir("week3") == REAL_RUN_DIR != MOCK_RUN_DIR


def test_other_config_needs_overwrite_and_then_clears_stale_outputs(trained_cnn_run, copy_run, capsys, snapshot):
    run = copy_run(trained_cnn_run)
    argv = ["--run-dir", str(run), *TINY_CNN_OVERRIDES]
    before = snapshot(run)
    assert setup_config.main([*argv, "--epochs", "3"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert snapshot(run) == before, "the refused run changed files"

    # The same config again is not "another run": later artefacts stay.
    assert setup_config.main(argv) == 0
    assert (run / ARTEFACTS["transfer_model_keras"]).is_file()

    assert setup_config.main([*argv, "--epochs", "3", "--overwrite"]) == 0
    assert json.loads((run / "config.json").read_text())["epochs"] == 3
    for stage in list(STAGES)[1:]:
        for artefact in STAGES[stage].writes:
            assert not (run / ARTEFACTS[artefact]).exists(), f"stale {ARTEFACTS[artefact]} kept"
    assert list(json.loads((run / MANIFEST).read_text())["steps"]) == ["01_setup"]


def test_script_help_is_not_an_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        evaluate_compare.main(["--help"])
    assert exit_.value.code == 0
    assert "Usage" in capsys.readouterr().out


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__]))
