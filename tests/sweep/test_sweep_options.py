"""The sweep's options: seeds, fractions, factorial cells, bad input (one line, exit 2, nothing run),
and which split a finished run's numbers are read from."""

import json

import numpy as np
import pandas as pd
import pytest

from phase4a.errors import ConfigError
from phase4a.sweep import ablation, plan, runs

TINY = ["--weights", "none", "--epochs", "1", "--mock_train_size", "20", "--mock_val_counts", "2,2,2,2,2"]


def test_seeds_are_a_count_or_a_list():
    assert plan.parse_seeds(None) == [42]
    assert plan.parse_seeds("3") == [42, 43, 44]
    assert plan.parse_seeds("7,3,5") == [7, 3, 5]
    assert plan.parse_seeds("43,") == [43]
    assert plan.parse_seeds(str(plan.MAX_SEED_COUNT)) == list(range(42, 42 + plan.MAX_SEED_COUNT))
    assert plan.parse_seeds("42,") == [42]
    assert plan.parse_seeds(",".join(str(seed) for seed in range(42, 72))) == list(range(42, 72))


def test_a_large_seed_count_is_taken_for_a_seed_and_refused():
    """``--seeds 42`` reads like the one seed 42 but would be 42 seeds (42..83): refused, naming both fixes."""
    with pytest.raises(ConfigError) as raised:
        plan.parse_seeds("42")
    message = str(raised.value)
    assert "\n" not in message
    assert "--seeds 42 would run 42 seeds (42..83)" in message
    assert "--seeds 42," in message and "list them" in message
    with pytest.raises(ConfigError, match="21 seeds"):
        plan.parse_seeds(str(plan.MAX_SEED_COUNT + 1))


def test_fractions_are_sorted_and_include_the_full_split():
    assert plan.parse_fractions("0.5,0.1") == [0.1, 0.5, 1.0]
    assert plan.parse_fractions("1") == [1.0]
    assert plan.parse_fractions(None) == [1.0]


def test_factorial_cells_are_every_combination_named_from_their_values():
    factors = plan.parse_factorial(["bn_inference=false,true", "input_normalisation=none,standardise"])
    arms, same_as = plan.build_arms(["report"], factors, TINY)
    names = [arm.name for arm in arms]
    assert names == [
        "report",
        "fx_bn_inference-false__input_normalisation-standardise",
        "fx_bn_inference-true__input_normalisation-none",
        "fx_bn_inference-true__input_normalisation-standardise",
    ]
    # bn_inference false with input_normalisation none is report's model (its auto means none): not run twice
    assert same_as == {"fx_bn_inference-false__input_normalisation-none": "report"}
    cell = arms[2]
    assert cell.preset == "report" and cell.overrides == ("--bn_inference", "true", "--input_normalisation", "none")
    assert plan.changes_from_reference(arms[3], TINY) == {"bn_inference": True, "input_normalisation": "standardise"}


def test_a_factorial_cell_equal_to_an_arm_is_that_arm():
    arms, same_as = plan.build_arms(
        ["report", "f_bn_inference"], plan.parse_factorial(["bn_inference=false,true"]), TINY
    )
    assert [arm.name for arm in arms] == ["report", "f_bn_inference"]
    assert same_as == {"fx_bn_inference-false": "report", "fx_bn_inference-true": "f_bn_inference"}


BAD = {
    "unknown preset": (["--presets", "report,no_such_preset"], "no_such_preset"),
    "unknown curve preset": (["--train_fractions", "0.5", "--curve-presets", "nope"], "nope"),
    "unknown factorial key": (["--factorial", "no_such_key=1,2"], "no_such_key"),
    "factorial without values": (["--factorial", "bn_inference"], "key=value1,value2"),
    "factorial value of the wrong type": (["--factorial", "bn_inference=maybe"], "bn_inference"),
    "factorial on a data key": (["--factorial", "mock_train_size=20,40"], "makes the data"),
    "fraction of zero": (["--train_fractions", "0,0.5"], "outside (0, 1]"),
    "fraction above one": (["--train_fractions", "0.5,1.5"], "outside (0, 1]"),
    "fraction not a number": (["--train_fractions", "0.5,half"], "not a number"),
    "seeds not integers": (["--seeds", "42,forty-three"], "list of integers"),
    "seed count not an integer": (["--seeds", "2.5"], "list of integers"),
    "seed count zero": (["--seeds", "0"], "at least 1"),
    "seed count that looks like a seed": (["--seeds", "42"], "for the one seed 42 write --seeds 42,"),
    "repeated seed": (["--seeds", "42,42"], "repeats"),
    "seed as a config key": (["--seed", "43"], "--seeds"),
    "vary-split not a boolean": (["--vary-split", "sometimes"], "true or false"),
    "unknown config key": (["--no_such_option", "1"], "no_such_option"),
}


@pytest.mark.parametrize("case", BAD, ids=list(BAD))
def test_bad_input_is_one_line_exit_2_and_nothing_runs(case, tmp_path, capsys, monkeypatch):
    arguments, fragment = BAD[case]

    def no_runs(*args, **kwargs):
        raise AssertionError("nothing may run on bad input")

    monkeypatch.setattr(runs, "make_data", no_runs)
    monkeypatch.setattr(runs, "run_preset", no_runs)
    sweep_dir = tmp_path / "sweep"
    assert ablation.main(["--sweep-dir", str(sweep_dir), *TINY, *arguments]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and error.startswith("error: ") and fragment in error, error
    assert not sweep_dir.exists()


def test_parse_errors_are_config_errors():
    for call, value in ((plan.parse_seeds, "x"), (plan.parse_fractions, "2"), (plan.parse_factorial, ["a=b"])):
        with pytest.raises(ConfigError):
            call(value)


# ---------------------------------------------------------------- which split a run's numbers are on


def write_run(directory, stored, validation, test=None, split_column=False):
    directory.mkdir(parents=True)
    (directory / "evaluation_metrics.json").write_text(json.dumps(stored))
    names = ["A", "B"]
    table = pd.DataFrame({"true": [names[i] for i in validation[0]], "predicted": [names[i] for i in validation[1]]})
    if split_column and test is not None:
        extra = pd.DataFrame({"true": [names[i] for i in test[0]], "predicted": [names[i] for i in test[1]]})
        table = pd.concat([table.assign(split="validation"), extra.assign(split="test")])
    elif test is not None:
        pd.DataFrame({"true": [names[i] for i in test[0]], "predicted": [names[i] for i in test[1]]}).to_csv(
            directory / "test_predictions.csv", index=False
        )
    table.to_csv(directory / "validation_predictions.csv", index=False)


VALIDATION = ([0, 1, 1], [0, 1, 0])
TEST = ([1, 0, 0, 1], [1, 1, 0, 1])


@pytest.mark.parametrize("marker", [{"evaluated_split": "test"}, {"split": "test"}, {"metrics": {"split": "test"}}])
def test_a_run_that_says_it_was_evaluated_on_test_is_read_on_test(tmp_path, marker):
    stored = {"metrics": {"accuracy": 0.75}, **marker}
    write_run(tmp_path / "run", stored, VALIDATION, TEST)
    split, y_true, predicted = runs.read_predictions(tmp_path / "run", stored, ["A", "B"])
    assert split == "test" and y_true.tolist() == TEST[0] and predicted.tolist() == TEST[1]


def test_test_rows_in_the_predictions_file_are_found_by_their_split_column(tmp_path):
    stored = {"split": "test", "metrics": {}}
    write_run(tmp_path / "run", stored, VALIDATION, TEST, split_column=True)
    split, y_true, _ = runs.read_predictions(tmp_path / "run", stored, ["A", "B"])
    assert split == "test" and y_true.tolist() == TEST[0]


def test_without_a_test_marker_or_test_predictions_the_run_is_read_on_validation(tmp_path):
    write_run(tmp_path / "plain", {"metrics": {}}, VALIDATION, TEST)
    assert runs.read_predictions(tmp_path / "plain", {"metrics": {}}, ["A", "B"])[0] == "validation"
    write_run(tmp_path / "no_file", {"split": "test"}, VALIDATION)
    split, y_true, _ = runs.read_predictions(tmp_path / "no_file", {"split": "test"}, ["A", "B"])
    assert split == "validation" and y_true.tolist() == VALIDATION[0]


def test_scores_are_computed_from_the_predictions():
    result = runs.scores(np.array([0, 1, 1, 0]), np.array([0, 0, 0, 0]), 2)
    assert result == {"samples": 4, "accuracy": 0.5, "f1_macro": pytest.approx(1 / 3), "collapsed": True}
