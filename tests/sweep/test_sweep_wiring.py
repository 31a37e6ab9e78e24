"""The sweep's wiring with a stand-in for steps 02-05 (real step 01, no TensorFlow): run directories per
arm, seed and fraction, data per seed with --vary-split, factorial cells, the test split, the verdicts."""

import numpy as np
import pandas as pd
import pytest

from phase4a import config as config_module
from phase4a.data import dataset as dataset_module
from phase4a.io import read_json, sha256_file, write_json
from phase4a.stages import RunDir
from phase4a.steps import setup_config
from phase4a.sweep import ablation, findings, runs

SWEEP_OPTIONS = [
    "--weights",
    "none",
    "--epochs",
    "1",
    "--mock_train_size",
    "40",
    "--mock_val_counts",
    "2,2,2,2,2",
    "--mock_test_counts",
    "10,10,10,10,10",
]
# Share of evaluation patches each configuration gets right in the stand-in, by learning rate.
QUALITY = {1e-4: 0.3, 5e-4: 0.95}


def fake_run(preset, run_dir, run_options):
    """Step 01 for real, then what step 05 writes: predictions on the test split, from the config alone."""
    run = RunDir(run_dir)
    assert setup_config.main(["--run-dir", str(run_dir), "--overwrite", "--preset", preset, *run_options]) == 0
    config = config_module.load(run.path("config"))
    data = dataset_module.load(run.path("data"))
    rng = np.random.default_rng(config["seed"])  # the same draws for every arm of a seed
    right = rng.uniform(size=len(data.y_test)) < QUALITY[config["learning_rate"]]
    predicted = np.where(right, data.y_test, (data.y_test + 1) % 5)
    names = data.class_names
    table = pd.DataFrame({"true": [names[i] for i in data.y_test], "predicted": [names[i] for i in predicted]})
    table.to_csv(run_dir / "test_predictions.csv", index=False)
    write_json(
        run.path("evaluation_metrics"),
        {
            "metrics": {"accuracy": float(np.mean(right))},
            "split": "test",
            "config_hash": config_module.config_hash(config),
            "data_hash": sha256_file(run.path("data")),
        },
    )


@pytest.fixture
def sweep(tmp_path):
    def run(*arguments):
        args, overrides = ablation.parse_args(["--sweep-dir", str(tmp_path), *SWEEP_OPTIONS, *arguments])
        plan, context = ablation.build_plan(args, overrides)
        results, failures = ablation.run_sweep(plan, run_one=fake_run)
        assert not failures
        analysis = findings.analyse(results, plan.curve_arms)
        findings.write_outputs(tmp_path, results, analysis, context)
        return plan, results, analysis

    return run


def test_seeds_share_one_split_and_runs_live_in_seed_directories(tmp_path, sweep):
    plan, results, analysis = sweep("--presets", "report,f_higher_lr,f_augment", "--seeds", "5")
    for arm in ("report", "f_higher_lr", "f_augment"):
        for seed in (42, 43, 44, 45, 46):
            config = read_json(tmp_path / arm / f"seed_{seed}" / "config.json")
            assert config["seed"] == seed and config["data_npz"] == str((tmp_path / "data" / "data.npz").resolve())
    assert results.table["data_hash"].nunique() == 1
    assert set(results.table["split"]) == {"test"}
    assert analysis.comparisons["f_higher_lr"]["verdict"] == "better"
    # The same draws as report's: identical predictions, so equivalent (not merely "not distinguishable").
    assert analysis.comparisons["f_augment"]["verdict"] == "equivalent within ±5 pp"
    assert analysis.comparisons["f_augment"]["family_size"] == 4  # f_higher_lr, f_augment and the two forests
    forests = results.table[results.table["kind"] == "forest"]
    assert list(forests["seed"]) == [42, 42]  # fitted once on the one split, paired with every seed
    text = (tmp_path / findings.FINDINGS_MD).read_text()
    assert "on the test split (50 patches; the data have no groups" in text
    assert "**f_higher_lr** (learning_rate=0.0005) is better than report" in text
    assert "Equivalent within ±5 pp: f_augment." in text


def test_vary_split_makes_the_data_per_seed(tmp_path, sweep):
    plan, results, _ = sweep("--presets", "report", "--seeds", "42,43", "--vary-split", "true")
    assert not (tmp_path / "data").exists()
    hashes = {seed: sha256_file(tmp_path / f"data_seed_{seed}" / "data.npz") for seed in (42, 43)}
    assert hashes[42] != hashes[43]
    networks = results.table[results.table["kind"] == "network"]
    assert dict(zip(networks["seed"], networks["data_hash"])) == hashes
    assert "its own split (data made per seed)" in (tmp_path / findings.FINDINGS_MD).read_text()


def test_factorial_cells_and_the_learning_curve_get_their_own_run_directories(tmp_path, sweep):
    plan, results, analysis = sweep(
        "--presets", "report", "--factorial", "learning_rate=1e-4,5e-4", "augment=false,true",
        "--train_fractions", "0.5", "--curve-presets", "report",
    )  # fmt: skip
    assert [arm.name for arm in plan.arms] == [
        "report",
        "fx_learning_rate-1em4__augment-true",
        "fx_learning_rate-5em4__augment-false",
        "fx_learning_rate-5em4__augment-true",
    ]
    for arm in plan.arms:
        assert (tmp_path / arm.name / "seed_42" / "evaluation_metrics.json").is_file()
    assert (tmp_path / "report" / "fraction_0.5" / "seed_42" / "evaluation_metrics.json").is_file()
    curve = analysis.curve
    assert set(curve["arm"]) == {"report", "forest_flattened", "forest_band_statistics"}
    half = results.table[(results.table["fraction"] == 0.5) & (results.table["arm"] == "report")]
    assert int(half["train_patches"].iloc[0]) == 20
    text = (tmp_path / findings.FINDINGS_MD).read_text()
    assert "## Learning curve" in text and "fx_learning_rate-5em4__augment-false | learning_rate=0.0005 |" in text
    assert "The factorial cell fx_learning_rate-1em4__augment-false has report's configuration" in text

    # A re-run runs nothing: every (arm, seed, fraction) is complete, the derived data.npz reused.
    calls = []
    args, overrides = ablation.parse_args(
        ["--sweep-dir", str(tmp_path), *SWEEP_OPTIONS, "--presets", "report", "--factorial",
         "learning_rate=1e-4,5e-4", "augment=false,true", "--train_fractions", "0.5", "--curve-presets", "report"]
    )  # fmt: skip
    again, _ = ablation.build_plan(args, overrides)
    ablation.run_sweep(again, run_one=lambda *a: calls.append(a))
    assert calls == []


def test_a_failed_run_is_reported_and_the_others_still_run(tmp_path):
    def failing(preset, run_dir, run_options):
        if preset == "f_higher_lr":
            raise RuntimeError("boom")
        fake_run(preset, run_dir, run_options)

    args, overrides = ablation.parse_args(["--sweep-dir", str(tmp_path), *SWEEP_OPTIONS, "--presets", "f_higher_lr"])
    plan, _ = ablation.build_plan(args, overrides)
    results, failures = ablation.run_sweep(plan, run_one=failing)
    assert [key.arm for key in failures] == ["f_higher_lr"] and "boom" in next(iter(failures.values()))
    assert set(results.table["arm"]) == {"report", "forest_flattened", "forest_band_statistics"}


def test_ctrl_c_in_a_step_stops_the_whole_sweep(tmp_path):
    calls = []

    def interrupted(preset, run_dir, run_options):
        calls.append(preset)
        runs._check(runs.INTERRUPTED, "step 04", preset)

    args, overrides = ablation.parse_args(["--sweep-dir", str(tmp_path), *SWEEP_OPTIONS, "--presets", "f_higher_lr"])
    plan, _ = ablation.build_plan(args, overrides)
    with pytest.raises(KeyboardInterrupt):
        ablation.run_sweep(plan, run_one=interrupted)
    assert calls == ["report"]


def test_the_sweeps_forests_are_step_05s():
    from phase4a.evaluate import classical
    from phase4a.sweep import forests

    assert set(forests.FORESTS) == set(classical.CLASSICAL)


def test_a_run_of_another_config_is_run_again_and_the_source_is_loaded_once_per_data(tmp_path, monkeypatch):
    from phase4a.data import mock

    generated = []
    generate = mock.generate_mock_dataset

    def counted(**kwargs):
        generated.append(kwargs["seed"])
        return generate(**kwargs)

    monkeypatch.setattr(mock, "generate_mock_dataset", counted)
    calls = []

    def counting(preset, run_dir, run_options):
        calls.append((preset, run_dir.name))
        fake_run(preset, run_dir, run_options)

    def sweep_with(*options):
        args, overrides = ablation.parse_args(["--sweep-dir", str(tmp_path), *SWEEP_OPTIONS, *options])
        plan, _ = ablation.build_plan(args, overrides)
        ablation.run_sweep(plan, run_one=counting)

    sweep_with("--presets", "f_higher_lr", "--seeds", "2")
    assert generated == [42]  # for <sweep>/data only: every run's step 01 reads its data.npz
    assert len(calls) == 4
    sweep_with("--presets", "f_higher_lr", "--seeds", "2")
    assert len(calls) == 4  # all complete
    sweep_with("--presets", "f_higher_lr", "--seeds", "2", "--dropout", "0.5")
    assert len(calls) == 8 and generated == [42, 42]  # another config: new data step 01 and every run again


def test_findings_say_how_much_of_the_runs_time_was_training():
    """Forest rows have no training time and are left out; the ratio is the runs' time over their epochs'."""
    table = pd.DataFrame(
        {
            "arm": ["report", "simplecnn", "forest_flattened"],
            "training_seconds": [30.0, 10.0, np.nan],
            "run_seconds": [50.0, 20.0, np.nan],
        }
    )
    (line,) = findings.training_share_line(table)
    assert "took 40 s of the 70 s those 2 runs took" in line and "1.75x their training" in line
    assert findings.training_share_line(table.drop(columns="training_seconds")) == []


def test_findings_only_reads_the_finished_runs_and_runs_nothing(tmp_path, sweep):
    sweep("--presets", "report,f_higher_lr", "--seeds", "5")
    written = (tmp_path / findings.FINDINGS_MD).read_text()

    def must_not_run(*_):
        raise AssertionError("--findings-only ran a run")

    args, overrides = ablation.parse_args(
        ["--sweep-dir", str(tmp_path), *SWEEP_OPTIONS, "--presets", "report,f_higher_lr", "--seeds", "5"]
    )
    plan, context = ablation.build_plan(args, overrides)
    results, failures = ablation.run_sweep(plan, run_one=must_not_run, findings_only=True)
    assert not failures and len(results.table[results.table["kind"] == "network"]) == 10
    analysis = findings.analyse(results, plan.curve_arms)
    assert analysis.comparisons["f_higher_lr"]["verdict"] == "better"
    context.findings_only = True
    assert "Written with --findings-only" in findings.findings_markdown(results, analysis, context)
    assert "Written with --findings-only" not in written
    # A run that is not there is reported, not made.
    (tmp_path / "f_higher_lr" / "seed_46" / "evaluation_metrics.json").unlink()
    _, failures = ablation.run_sweep(plan, run_one=must_not_run, findings_only=True)
    assert [key.seed for key in failures] == [46]


def test_findings_carry_step_01s_leakage_warning(tmp_path, sweep):
    """A split whose groups feed two splits (EuroSAT by quadrant) qualifies every accuracy the findings give."""
    plan, results, analysis = sweep("--presets", "report", "--seeds", "42,")
    context = ablation.build_plan(*ablation.parse_args(["--sweep-dir", str(tmp_path), *SWEEP_OPTIONS]))[1]
    assert runs.data_caveats(plan) == []
    summary_path = tmp_path / "data" / "data_summary.json"
    summary = read_json(summary_path)
    warning = "2 tile(s) have patches in both test and train (0, 1); test accuracy is optimistic"
    summary["source"]["leakage_warning"] = warning
    write_json(summary_path, summary)
    context.data_caveats = runs.data_caveats(plan)
    text = findings.findings_markdown(results, analysis, context)
    assert f"- Data caveat (step 01): {warning}." in text


def test_findings_out_beside_the_sweep_dir_keeps_its_figures(tmp_path, sweep):
    """--findings-out SWEEP_DIR.md makes the figures' folder the sweep's own: written once, no error."""
    plan, results, analysis = sweep("--presets", "report", "--seeds", "42,")
    context = ablation.build_plan(*ablation.parse_args(["--sweep-dir", str(tmp_path), *SWEEP_OPTIONS]))[1]
    out = findings.copy_findings(tmp_path, tmp_path.with_suffix(".md"), results, analysis, context)
    assert out == tmp_path.with_suffix(".md") and f"]({tmp_path.name}/{findings.ACCURACY_PNG})" in out.read_text()
    assert (tmp_path / findings.ACCURACY_PNG).is_file()
