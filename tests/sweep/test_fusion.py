"""Phase 4B's fusion ablation (phase4a/sweep/fusion.py) through the sweep, with a stand-in for steps 02-05
(real step 01 and real forests, no TensorFlow): band sets, their data files, the reference parameter,
each model compared with its own Sentinel-2-only arm, the control, and the findings."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from phase4a import config as config_module
from phase4a.data import dataset as dataset_module
from phase4a.data.mock_auxiliary import MOCK_LAYERS
from phase4a.errors import ConfigError
from phase4a.io import read_json, sha256_file, write_json
from phase4a.stages import RunDir
from phase4a.steps import setup_config
from phase4a.sweep import ablation, band_sets, findings, fusion, runs
from phase4a.sweep import plan as plan_module

S2 = ("B2", "B3", "B4", "B8", "B11", "B12")
OPTIONS = [
    "--mock_aux_layers",
    "true",
    "--weights",
    "none",
    "--epochs",
    "1",
    "--mock_train_size",
    "60",
    "--mock_val_counts",
    "4,4,4,4,4",
    "--mock_test_counts",
    "10,10,10,10,10",
]


def fake_run(preset, run_dir, run_options):
    """Step 01 for real, then test predictions that are right more often with the terrain layers."""
    run = RunDir(run_dir)
    assert setup_config.main(["--run-dir", str(run_dir), "--overwrite", "--preset", preset, *run_options]) == 0
    config = config_module.load(run.path("config"))
    data = dataset_module.load(run.path("data"))
    assert data.band_names == config["band_names"]  # the arm's band set, read from its own data.npz
    rng = np.random.default_rng(config["seed"])  # the same draws for every arm of a seed
    right = rng.uniform(size=len(data.y_test)) < (0.95 if "elevation" in data.band_names else 0.4)
    predicted = np.where(right, data.y_test, (data.y_test + 1) % 5)
    names = data.class_names
    table = pd.DataFrame({"true": [names[i] for i in data.y_test], "predicted": [names[i] for i in predicted]})
    table.to_csv(run_dir / "test_predictions.csv", index=False)
    write_json(
        run.path("evaluation_metrics"),
        {
            "split": "test",
            "config_hash": config_module.config_hash(config),
            "data_hash": sha256_file(run.path("data")),
        },
    )


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    sweep_dir = tmp_path_factory.mktemp("fusion")
    args, overrides = fusion.parse_args(["--sweep-dir", str(sweep_dir), *OPTIONS])
    plan, context, models = fusion.build_plan(args, overrides)
    results, failures = ablation.run_sweep(plan, run_one=fake_run)
    assert not failures
    sets = list(plan.band_sets)
    per_model = fusion.analyse(results, models, sets)
    context.command = "python -m phase4a.sweep.fusion (test)"
    fusion.write_outputs(sweep_dir, results, per_model, sets, context, fusion.data_notes(plan))
    return sweep_dir, plan, results, per_model


def test_band_sets_are_the_s2_bands_plus_their_layers():
    bands = [*S2, *MOCK_LAYERS]
    sets = fusion.resolve_band_sets(bands, fusion.parse_band_sets(None))
    assert sets["s2"] == S2 and sets["s2_ndvi"] == (*S2, "s2_ndvi") and sets["ndvi_aux"] == (*S2, "ndvi_modis")
    assert sets["s2_dem"] == (*S2, "elevation", "slope", "aspect_sin", "aspect_cos")
    assert sets["all"] == tuple(bands)
    eolearn = [*S2, "elevation", "slope", "aspect_sin", "aspect_cos", "ndvi_series", "s2_ndvi"]
    assert fusion.resolve_band_sets(eolearn, ["s2", "ndvi_aux"])["ndvi_aux"] == (*S2, "ndvi_series")
    assert fusion.parse_band_sets("s2_dem") == ["s2", "s2_dem"]  # the reference is always there


@pytest.mark.parametrize(
    ("bands", "names", "message"),
    [
        (list(S2), ["s2", "s2_dem"], r"band set s2_dem needs elevation, .* --mock_aux_layers true"),
        ([*S2, "elevation"], ["ndvi_aux"], r"band set ndvi_aux needs ndvi_modis or ndvi_series"),
    ],
)
def test_a_band_set_the_data_cannot_give_is_a_one_line_error(bands, names, message):
    with pytest.raises(ConfigError, match=message) as error:
        fusion.resolve_band_sets(bands, names)
    assert "\n" not in str(error.value)
    with pytest.raises(ConfigError, match=r"unknown set\(s\) dem; choose from s2, s2_ndvi"):
        fusion.parse_band_sets("s2,dem")


def test_every_arm_reads_its_band_sets_subset_of_one_split(swept):
    sweep_dir, plan, results, _ = swept
    full = dataset_module.load(sweep_dir / "data" / "data.npz")
    for name, bands in plan.band_sets.items():
        subset = dataset_module.load(sweep_dir / band_sets.BAND_DATA / "seed_42" / name / "data.npz")
        index = [full.band_names.index(band) for band in bands]
        np.testing.assert_array_equal(subset.X_test, full.X_test[..., index])
        np.testing.assert_array_equal(subset.y_train, full.y_train)
        config = read_json(sweep_dir / band_sets.arm_name("simplecnn", name) / "seed_44" / "config.json")
        assert config["band_names"] == list(bands) and config["preset"] == "simplecnn"
    networks = results.table[results.table["kind"] == "network"]
    assert len(networks) == 5 * 5 and set(networks["split"]) == {"test"}
    forests = results.table[results.table["kind"] == "forest"]
    assert len(forests) == 2 * 5 * 5  # refitted per seed on every band set
    assert set(forests["arm"]) == {band_sets.arm_name(f, s) for f in runs.forests.FORESTS for s in plan.band_sets}


def test_each_model_is_compared_with_its_own_s2_arm_and_the_control(swept):
    _, plan, _, per_model = swept
    assert plan.reference == "simplecnn__s2"
    simplecnn = per_model["simplecnn"]
    comparisons = simplecnn["analysis"].comparisons
    assert simplecnn["analysis"].reference == "simplecnn__s2" and "simplecnn__s2" not in comparisons
    assert set(comparisons) == {f"simplecnn__{name}" for name in ("s2_ndvi", "ndvi_aux", "s2_dem", "all")}
    assert comparisons["simplecnn__s2_dem"]["verdict"] == "better"
    assert comparisons["simplecnn__all"]["verdict"] == "better"
    assert comparisons["simplecnn__s2_ndvi"]["verdict"] == "equivalent within ±5 pp"  # the same draws
    assert simplecnn["control"]["seeds"] == [42, 43, 44, 45, 46]
    forest = per_model["forest_flattened"]["analysis"]
    assert forest.reference == "forest_flattened__s2" and len(forest.comparisons) == 4


def test_the_findings_show_the_effect_of_each_layer_and_the_command(swept):
    sweep_dir, _, _, _ = swept
    text = (sweep_dir / fusion.FINDINGS_FILE).read_text()
    assert "| s2_dem | + elevation, slope and aspect (sine, cosine) | +" in text
    assert "| ndvi_aux vs s2_ndvi |" in text and "changes from simplecnn__s2" in text
    assert "python -m phase4a.sweep.fusion (test)" in text and "Mock data (synthetic)" in text
    for name in (fusion.ACCURACY_PNG, "fusion_effects_simplecnn.png", findings.RESULTS_CSV):
        assert (sweep_dir / name).is_file()


def test_a_band_data_file_is_reused_while_its_parent_and_bands_are_the_same(swept, tmp_path):
    sweep_dir, _, _, _ = swept
    parent = sweep_dir / "data" / "data.npz"
    path = band_sets.make_band_data(parent, "x", ("B4", "elevation"), tmp_path / "x")
    stamp = path.stat().st_mtime_ns
    assert band_sets.make_band_data(parent, "x", ("B4", "elevation"), tmp_path / "x").stat().st_mtime_ns == stamp
    assert dataset_module.load(band_sets.make_band_data(parent, "x", ("B04",), tmp_path / "x")).band_names == ["B4"]
    with pytest.raises(ConfigError, match=r"band set x needs soil, which the sweep's data lack"):
        band_sets.make_band_data(parent, "x", ("B4", "soil"), tmp_path / "y")


def test_the_default_reference_is_still_report():
    assert runs.SweepPlan(Path("."), [], [], [42]).reference == "report" == plan_module.REFERENCE
    assert findings.Analysis(pd.DataFrame(), {}, pd.DataFrame()).reference == "report"
