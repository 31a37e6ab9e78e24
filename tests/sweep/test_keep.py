"""What a sweep keeps of a finished run (--keep_models): the model files go, the weights to rebuild the
model stay (best), step 06 maps a pruned run with the rebuilt model, and the rebuild command writes it back."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest
import rasterio

from phase4a import config as config_module
from phase4a.errors import MissingInputError
from phase4a.stages import FINAL_WEIGHTS, PRUNED_RECORD, RunDir
from phase4a.steps import predict_map
from phase4a.sweep import ablation, keep, runs
from phase4a.train import rebuild
from phase4a.train.resume import write_changing_weights

from ..conftest import untrained_model_of
from .test_sweep_wiring import SWEEP_OPTIONS


def _predictions(model_file, run_dir):
    import keras

    sample = np.load(run_dir / "data.npz")["X_val"]
    return keras.models.load_model(model_file, compile=False).predict(sample, verbose=0)


def _map(run_dir):
    assert predict_map.main(["--run-dir", str(run_dir)]) == 0
    with rasterio.open(run_dir / "land_cover_map.tif") as src:
        return src.read(1)


def test_best_drops_the_model_files_and_keeps_what_rebuilds_them(trained_cnn_run, copy_run):
    run = copy_run(trained_cnn_run)
    before = {path.name for path in run.iterdir()}
    removed = keep.prune(RunDir(run), "best")
    assert removed == ["transfer_model.keras"]
    assert {path.name for path in run.iterdir()} == before - {"transfer_model.keras"} | {PRUNED_RECORD, "checkpoints"}
    record = json.loads((run / PRUNED_RECORD).read_text())
    assert record["keep_models"] == "best" and record["rebuild"].endswith(f"phase4a.train.rebuild {run.resolve()}")
    # The best checkpoint went with step 04's backup: the saved model's trained weights are kept instead.
    assert (run / FINAL_WEIGHTS).is_file()
    assert keep.prune(RunDir(run), "best") == [] and json.loads((run / PRUNED_RECORD).read_text()) == record


def test_step_06_maps_a_pruned_run_with_the_rebuilt_model(trained_cnn_run, copy_run):
    whole, pruned = copy_run(trained_cnn_run, "whole"), copy_run(trained_cnn_run, "pruned")
    keep.prune(RunDir(pruned), "best")
    np.testing.assert_array_equal(_map(pruned), _map(whole))
    assert not (pruned / "transfer_model.keras").exists()  # rebuilt in memory, the run stays pruned


def test_the_rebuild_command_writes_back_the_model_step_04_saved(trained_cnn_run, copy_run, capsys):
    """Even where the best checkpoint holds another epoch's weights than the saved model: the sweep keeps
    the saved model's trained weights beside it, so the rebuilt model is the one step 05 evaluated."""
    run = copy_run(trained_cnn_run)
    config = config_module.load(run / "config.json")
    untrained = untrained_model_of(run)  # a checkpoint of other weights: as if another epoch were best
    write_changing_weights(run / "checkpoints" / "best.weights.npz", untrained, untrained.get_weights(), epoch=0)
    expected = _predictions(run / "transfer_model.keras", run)
    keep.prune(RunDir(run), "best")
    assert (run / FINAL_WEIGHTS).is_file()
    assert rebuild.main([str(run)]) == 0
    assert "rebuilt the trained model from final.weights.npz" in capsys.readouterr().out
    np.testing.assert_allclose(_predictions(run / "transfer_model.keras", run), expected, atol=1e-6)
    assert config_module.load(run / "config.json") == config


def test_the_kept_weights_rebuild_the_saved_model_bit_for_bit_in_fewer_bytes(trained_cnn_run, copy_run):
    import keras

    run = copy_run(trained_cnn_run)
    saved = keras.models.load_model(run / "transfer_model.keras", compile=False)
    keep.prune(RunDir(run), "best")
    rebuilt = rebuild.rebuild_trained_model(RunDir(run), config_module.load(run / "config.json"))
    for expected, got in zip(saved.get_weights(), rebuilt.get_weights()):
        np.testing.assert_array_equal(got, expected)
    changed = sum(
        a.nbytes for a, b in zip(saved.get_weights(), untrained_model_of(run).get_weights()) if (a != b).any()
    )
    assert (run / FINAL_WEIGHTS).stat().st_size < changed


def test_a_kept_checkpoint_of_the_saved_weights_is_not_written_twice(trained_cnn_run, copy_run):
    """With --keep_checkpoint true, where the checkpoint's epoch is the one step 04 saved, the checkpoint
    alone rebuilds the model: no final weights beside it."""
    import keras

    run = copy_run(trained_cnn_run)
    saved = keras.models.load_model(run / "transfer_model.keras", compile=False)
    write_changing_weights(run / "checkpoints" / "best.weights.npz", saved, saved.get_weights(), epoch=0)
    keep.prune(RunDir(run), "best")
    assert not (run / FINAL_WEIGHTS).exists()
    rebuilt = rebuild.rebuild_trained_model(RunDir(run), config_module.load(run / "config.json"))
    np.testing.assert_allclose(
        rebuilt.predict(np.load(run / "data.npz")["X_val"], verbose=0),
        saved.predict(np.load(run / "data.npz")["X_val"], verbose=0),
        atol=1e-6,
    )


def test_none_keeps_only_what_the_findings_read(trained_cnn_run, copy_run, capsys):
    run = copy_run(trained_cnn_run)
    keep.prune(RunDir(run), "none")
    names = {path.name for path in run.iterdir()}
    for gone in ("transfer_model.keras", "checkpoints", "model_untrained.weights.npz", "backbone.weights.h5"):
        assert gone not in names
    for kept in ("evaluation_metrics.json", "validation_predictions.csv", "training_history.json", "config.json"):
        assert kept in names
    assert predict_map.main(["--run-dir", str(run)]) == 2
    assert "transfer_model.keras not found" in capsys.readouterr().err


def test_all_keeps_everything(trained_cnn_run, copy_run, snapshot):
    run = copy_run(trained_cnn_run)
    before = snapshot(run)
    assert keep.prune(RunDir(run), "all") == [] and snapshot(run) == before


@pytest.mark.parametrize("keep_models", [None, "none", "all"])
def test_the_sweep_prunes_each_run_it_finishes(tmp_path, trained_cnn_run, keep_models):
    def copy_finished_run(preset, directory, options):  # a stand-in for steps 01-05
        shutil.copytree(trained_cnn_run, directory)

    option = [] if keep_models is None else ["--keep_models", keep_models]
    args, overrides = ablation.parse_args(
        ["--sweep-dir", str(tmp_path), *SWEEP_OPTIONS, *option, "--presets", "report"]
    )
    plan, _ = ablation.build_plan(args, overrides)
    assert runs.Runner(plan, copy_finished_run).run() == {}
    run = tmp_path / "report" / "seed_42"
    assert (run / "transfer_model.keras").exists() == (keep_models == "all")
    assert (run / FINAL_WEIGHTS).exists() == (keep_models is None)


def test_a_bad_keep_value_is_one_line_naming_the_choices(tmp_path, capsys):
    assert ablation.main(["--sweep-dir", str(tmp_path), "--keep_models", "some"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "error: --keep_models 'some' is not one of: best, none, all"


def test_a_step_that_needs_the_pruned_model_file_names_the_rebuild_command(trained_cnn_run, copy_run):
    run = copy_run(trained_cnn_run)
    keep.prune(RunDir(run), "best")
    with pytest.raises(MissingInputError, match=rf"by its sweep .*: python -m phase4a.train.rebuild {run}$"):
        RunDir(run).require_inputs("evaluate")
    RunDir(run).require_inputs("map")  # step 06 rebuilds it


@pytest.mark.parametrize(
    "argv, message",
    [
        (["{tmp}/nowhere"], r"^error: config.json not found in .*nowhere; run phase4a_01_setup_and_config.py first$"),
        (["{run}", "--out", "{tmp}/model.zip"], r"^error: --out .*model.zip has neither a .keras nor a .h5 suffix"),
    ],
    ids=["no run", "bad --out"],
)
def test_the_rebuild_command_says_what_is_wrong_in_one_line(trained_cnn_run, tmp_path, capsys, argv, message):
    argv = [arg.format(tmp=tmp_path, run=trained_cnn_run) for arg in argv]
    assert rebuild.main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and re.match(message, err.strip())
