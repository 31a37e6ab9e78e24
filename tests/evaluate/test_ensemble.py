"""The report's ensemble (phase4a/evaluate/ensemble.py): the mean of the SimpleCNN's and the transfer
model's probabilities, its statistics against independent implementations, and step 05's wiring."""

import json

import keras
import numpy as np
import pytest
from sklearn.metrics import f1_score
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

from phase4a import statistics
from phase4a.data import dataset
from phase4a.evaluate.comparison import NOT_DISTINGUISHABLE, OPTIMISTIC, in_family
from phase4a.evaluate.ensemble import ENSEMBLE_NAME, evaluate_ensemble, mean_probabilities

from ..conftest import TINY_CNN_OVERRIDES, run_steps

N_CLASSES = 3


def one_hot_ish(classes: np.ndarray, confidence: float) -> np.ndarray:
    """Probabilities with ``confidence`` on ``classes`` and the rest spread evenly."""
    p = np.full((len(classes), N_CLASSES), (1 - confidence) / (N_CLASSES - 1))
    p[np.arange(len(classes)), classes] = confidence
    return p


def members():
    """40 patches: the model is confidently right on the first 20 and mildly wrong on the rest; the
    SimpleCNN the other way round, but wrong on patches 30-39 confidently. The mean is right on 0-29."""
    y = np.arange(40) % N_CLASSES
    wrong = (y + 1) % N_CLASSES
    model = np.where((np.arange(40) < 20)[:, None], one_hot_ish(y, 0.9), one_hot_ish(wrong, 0.5))
    baseline = np.where((np.arange(40) < 20)[:, None], one_hot_ish(wrong, 0.5), one_hot_ish(y, 0.9))
    baseline[30:] = one_hot_ish(wrong[30:], 0.95)
    return y, model, baseline


def test_mean_probabilities_is_the_unweighted_mean_and_checks_shapes():
    a = np.array([[0.8, 0.2], [0.4, 0.6]])
    b = np.array([[0.2, 0.8], [0.0, 1.0]])
    np.testing.assert_allclose(mean_probabilities(a, b), [[0.5, 0.5], [0.2, 0.8]])
    with pytest.raises(ValueError, match="at least two"):
        mean_probabilities(a)
    with pytest.raises(ValueError, match="equal"):
        mean_probabilities(a, b[:1])


def test_ensemble_statistics_match_independent_implementations():
    y, model, baseline = members()
    result = evaluate_ensemble(y, model, baseline, N_CLASSES, seed=7, split="test", model_name="the model")
    predicted = ((model + baseline) / 2).argmax(axis=1)
    np.testing.assert_array_equal(predicted[:30], y[:30])  # constructed: right on 0-29 only
    assert (predicted[30:] != y[30:]).all()
    accuracy = result["accuracy"]
    assert (accuracy["correct"], accuracy["total"], accuracy["value"]) == (30, 40, 0.75)
    np.testing.assert_allclose(accuracy["ci95"], proportion_confint(30, 40, method="wilson"), rtol=1e-9)
    f1 = result["f1_macro"]
    assert f1["value"] == pytest.approx(f1_score(y, predicted, average="macro"))
    assert f1["ci95"] == list(statistics.bootstrap_macro_f1(y, predicted, N_CLASSES, seed=7)[1:])
    assert result["predicted_class_counts"] == np.bincount(predicted, minlength=N_CLASSES).tolist()
    verdicts = {verdict["against"]: verdict for verdict in result["verdicts"]}
    assert set(verdicts) == {"model", "in_run_simplecnn"}
    # The model is right on 0-19 only, the SimpleCNN on 20-29 only: the ensemble alone gets 20-29 right
    # against the first and 0-19 against the second; neither member is right where the ensemble is not.
    for against, member, b, c in (("model", model, 10, 0), ("in_run_simplecnn", baseline, 20, 0)):
        test = verdicts[against]["mcnemar"]
        assert (test["b"], test["c"]) == (b, c)
        ensemble_right, member_right = predicted == y, member.argmax(axis=1) == y
        table = [
            [np.sum(ensemble_right & member_right), np.sum(ensemble_right & ~member_right)],
            [np.sum(~ensemble_right & member_right), np.sum(~ensemble_right & ~member_right)],
        ]
        assert test["p_value"] == pytest.approx(mcnemar(table, exact=True).pvalue)
        assert verdicts[against]["verdict"] == "better"  # p <= 2 / 2^10 < 0.05
    assert ENSEMBLE_NAME in verdicts["model"]["text"] and "the model (50.00%)" in verdicts["model"]["text"]
    assert result["split"] == "test" and result["members"] == ["the model", "the SimpleCNN"]
    json.dumps(result)


def test_ensemble_of_identical_members_gets_no_better_or_worse_verdict():
    y, model, _ = members()
    result = evaluate_ensemble(y, model, model, N_CLASSES, seed=1, split="validation")
    assert result["accuracy"]["correct"] == int(np.sum(model.argmax(axis=1) == y))
    for verdict in result["verdicts"]:
        assert verdict["mcnemar"] == {"b": 0, "c": 0, "p_value": 1.0, "statistic": 0}
        assert verdict["verdict"] == OPTIMISTIC  # validation chose the members' epochs
    # On a test split: identical on 40 patches is not yet equivalence within 5 pp (up to 1 - 0.05^(1/40),
    # 7.2% of such patches could still differ), so only "not distinguishable".
    on_test = evaluate_ensemble(y, model, model, N_CLASSES, seed=1, split="test")
    for verdict in on_test["verdicts"]:
        assert verdict["equivalence_interval"][1] == pytest.approx(1 - 0.05 ** (1 / 40))
        assert verdict["verdict"] == NOT_DISTINGUISHABLE and not verdict["equivalent"]


def test_wrong_lengths_are_refused():
    y, model, baseline = members()
    with pytest.raises(ValueError, match="labels"):
        evaluate_ensemble(y[:10], model, baseline, N_CLASSES, seed=1, split="test")


@pytest.fixture(scope="module")
def run_with_baseline(tmp_path_factory):
    root = tmp_path_factory.mktemp("ensemble")
    overrides = [*TINY_CNN_OVERRIDES, "--train_baseline", "true", "--baseline_epochs", "2"]
    return run_steps(root / "run", [*overrides, "--mock_test_counts", "2,2,2,2,2"], 5, root)


def test_step_05_evaluates_the_ensemble_of_both_saved_models(run_with_baseline):
    run = run_with_baseline
    metrics = json.loads((run / "evaluation_metrics.json").read_text())
    ensemble = metrics["ensemble"]
    assert ensemble["split"] == "test" and ensemble["accuracy"]["total"] == 10
    assert [verdict["name"] for verdict in ensemble["verdicts"]] == [
        "the simplecnn-preset SimpleCNN model",
        "the SimpleCNN trained on this split",
    ]
    # The same numbers from the two saved models' probabilities, recomputed here.
    data = dataset.load(run / "data.npz")
    model = keras.saving.load_model(run / "transfer_model.keras")
    baseline = keras.saving.load_model(run / "baseline_model.keras")
    probabilities = [m.predict(data.X_test, verbose=0) for m in (model, baseline)]
    predicted = np.mean(probabilities, axis=0).argmax(axis=1)
    assert ensemble["accuracy"]["correct"] == int(np.sum(predicted == data.y_test))
    assert ensemble["predicted_class_counts"] == np.bincount(predicted, minlength=5).tolist()
    # Each member's accuracy in the verdicts is the one step 05 reports for it.
    by_name = {verdict["against"]: verdict for verdict in ensemble["verdicts"]}
    assert by_name["model"]["baseline_accuracy"] == pytest.approx(metrics["metrics"]["accuracy"])
    in_run = metrics["statistics"]["in_run_baseline"]["accuracy"]
    assert by_name["in_run_simplecnn"]["baseline_accuracy"] == pytest.approx(in_run["correct"] / in_run["total"])
    report = (run / "comparison_report.md").read_text()
    assert "| Ensemble: mean of the model's and the SimpleCNN's probabilities |" in report
    assert report.count("- The ensemble against ") == 2
    # One Holm family for the whole report: the model's comparisons and the ensemble's, corrected together.
    everything = [*metrics["statistics"]["verdicts"], *ensemble["verdicts"]]
    family = [verdict for verdict in everything if in_family(verdict)]
    assert metrics["statistics"]["family"]["size"] == len(family) == everything[0]["family_size"]
    if family:
        adjusted = multipletests([verdict["p_value"] for verdict in family], method="holm")[1]
        np.testing.assert_allclose([verdict["p_holm"] for verdict in family], adjusted)
        assert f"Holm (1979) correction across the {len(family)} verdict" in report


def test_no_ensemble_without_the_simplecnn(trained_cnn_run):
    metrics = json.loads((trained_cnn_run / "evaluation_metrics.json").read_text())
    assert metrics["ensemble"] is None
    assert "Ensemble" not in (trained_cnn_run / "comparison_report.md").read_text()
