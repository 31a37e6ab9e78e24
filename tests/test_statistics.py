"""Intervals, McNemar, bootstrap and verdicts against values computed independently of scipy."""

import math

import numpy as np
import pytest
from sklearn.metrics import f1_score

from phase4a import statistics as st

Z95 = 1.959963984540054  # standard normal 97.5% quantile
Z80 = 0.8416212335729143  # standard normal 80% quantile
REPORT_VAL_COUNTS = [10, 21, 19, 8, 17]


def wilson_closed_form(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def report_labels() -> np.ndarray:
    return np.repeat(np.arange(5), REPORT_VAL_COUNTS)


def with_errors(y: np.ndarray, wrong: int, seed: int = 0) -> np.ndarray:
    """A copy of ``y`` with ``wrong`` labels shifted to the next class."""
    pred = y.copy()
    index = np.random.default_rng(seed).choice(len(y), wrong, replace=False)
    pred[index] = (pred[index] + 1) % 5
    return pred


@pytest.mark.parametrize("k, n", [(65, 75), (10, 75), (1, 20), (300, 300)])
def test_wilson_matches_closed_form(k, n):
    assert st.wilson_interval(k, n) == pytest.approx(wilson_closed_form(k, n), abs=1e-9)


def test_wilson_for_the_report_baseline():
    low, high = st.wilson_interval(65, 75)
    assert (round(low, 4), round(high, 4)) == (0.7717, 0.9259)
    assert low < 0.90 < high  # the report's 90% target lies inside the baseline's interval


def test_wilson_edges_and_width():
    assert st.wilson_interval(0, 10)[0] == pytest.approx(0.0, abs=1e-12)
    assert st.wilson_interval(10, 10)[1] == pytest.approx(1.0, abs=1e-12)
    low95, high95 = st.wilson_interval(65, 75, 0.95)
    low99, high99 = st.wilson_interval(65, 75, 0.99)
    assert low99 < low95 and high99 > high95
    with pytest.raises(ValueError):
        st.wilson_interval(5, 0)
    with pytest.raises(ValueError):
        st.wilson_interval(11, 10)


def labels_for_table(b: int, c: int, both_right: int = 5, both_wrong: int = 3):
    """Labels and two prediction vectors with the given McNemar discordant counts."""
    y = np.zeros(b + c + both_right + both_wrong, dtype=int)
    a = np.concatenate([np.zeros(b), np.ones(c), np.zeros(both_right), np.ones(both_wrong)]).astype(int)
    other = np.concatenate([np.ones(b), np.zeros(c), np.zeros(both_right), np.ones(both_wrong)]).astype(int)
    return y, a, other


def test_mcnemar_exact_known_table():
    y, a, b = labels_for_table(b=2, c=10)
    result = st.mcnemar_exact(y, a, b)
    expected = 2 * sum(math.comb(12, i) for i in range(3)) / 2**12  # 158 / 4096
    assert (result["b"], result["c"], result["statistic"]) == (2, 10, 2)
    assert result["p_value"] == pytest.approx(expected, rel=1e-12)
    assert result["p_value"] == pytest.approx(0.0385742, abs=1e-7)


def test_mcnemar_is_symmetric_and_one_without_discordance():
    y, a, b = labels_for_table(b=7, c=1)
    forward, backward = st.mcnemar_exact(y, a, b), st.mcnemar_exact(y, b, a)
    assert (forward["b"], forward["c"]) == (backward["c"], backward["b"])
    assert forward["p_value"] == pytest.approx(backward["p_value"])
    same = st.mcnemar_exact(y, a, a)
    assert (same["b"], same["c"], same["p_value"]) == (0, 0, 1.0)
    with pytest.raises(ValueError):
        st.mcnemar_exact(y, a, b[:-1])


def test_count_based_macro_f1_equals_sklearn():
    rng = np.random.default_rng(3)
    for _ in range(50):
        size = int(rng.integers(1, 40))
        y_true, y_pred = rng.integers(0, 5, size), rng.integers(0, 4, size)  # class 4 never predicted
        expected = f1_score(y_true, y_pred, labels=list(range(6)), average="macro", zero_division=0)
        assert st._macro_f1_batch(y_true, y_pred, 6) == pytest.approx(expected, abs=1e-12)


def test_bootstrap_macro_f1_is_seeded_and_brackets_the_point():
    y = report_labels()
    pred = with_errors(y, 10)
    first = st.bootstrap_macro_f1(y, pred, 5, n_resamples=500, seed=7)
    assert first == st.bootstrap_macro_f1(y, pred, 5, n_resamples=500, seed=7)
    assert first != st.bootstrap_macro_f1(y, pred, 5, n_resamples=500, seed=8)
    point, low, high = first
    assert point == pytest.approx(f1_score(y, pred, average="macro"))
    assert low < point < high


def test_bootstrap_macro_f1_of_the_collapsed_report_run():
    point, low, high = st.bootstrap_macro_f1(report_labels(), np.zeros(75, dtype=int), 5, n_resamples=500, seed=1)
    assert point == pytest.approx(0.047, abs=5e-4)  # the report's macro F1
    assert 0 < low < point < high < 0.1


def test_samples_needed_closed_form_and_report_case():
    expected = math.ceil(((Z95 * math.sqrt(0.6 * 0.4) + Z80 * math.sqrt(0.5 * 0.5)) / 0.1) ** 2)
    assert st.samples_needed(0.5, 0.6) == expected
    needed = st.samples_needed(0.8667, 0.90)
    assert 500 < needed < 1000  # far more than the 75 validation samples


def test_samples_needed_is_monotonic():
    gaps = [st.samples_needed(0.90 - gap, 0.90) for gap in (0.02, 0.05, 0.10, 0.20)]
    assert gaps == sorted(gaps, reverse=True)
    assert st.samples_needed(0.85, 0.9, power=0.9) > st.samples_needed(0.85, 0.9, power=0.8)
    assert st.samples_needed(0.85, 0.9, alpha=0.01) > st.samples_needed(0.85, 0.9, alpha=0.05)
    with pytest.raises(ValueError):
        st.samples_needed(0.9, 0.9)


def test_unpaired_verdicts_follow_the_interval():
    worse = st.unpaired_verdict(10, 75, 0.8667)
    same = st.unpaired_verdict(65, 75, 0.8667)
    better = st.unpaired_verdict(75, 75, 0.8667)
    assert [worse["verdict"], same["verdict"], better["verdict"]] == ["worse", st.NOT_DISTINGUISHABLE, "better"]
    assert "13.33%" in worse["text"] and "above" in worse["text"]
    assert "inside" in same["text"] and "unpaired" in same["text"]
    assert len({worse["text"], same["text"], better["text"]}) == 3


def test_paired_verdicts_follow_mcnemar():
    y = report_labels()
    good, collapsed = with_errors(y, 10), np.zeros(75, dtype=int)
    assert st.paired_verdict(y, good, collapsed)["verdict"] == "better"
    assert st.paired_verdict(y, collapsed, good)["verdict"] == "worse"
    close = st.paired_verdict(y, good, with_errors(y, 12, seed=1))
    assert close["verdict"] == st.NOT_DISTINGUISHABLE
    assert "McNemar" in close["text"] and f"{close['mcnemar']['p_value']:.3g}" in close["text"]


def test_compare_accuracies_dispatch_and_target():
    y = report_labels()
    pred = with_errors(y, 10)
    unpaired = st.compare_accuracies(y, pred, published_accuracy=0.8667, target=0.90)
    assert unpaired["kind"] == "unpaired"
    assert unpaired["samples_needed_for_target"] == st.samples_needed(65 / 75, 0.90)
    assert str(unpaired["samples_needed_for_target"]) in unpaired["text"] and "not enough" in unpaired["text"]
    paired = st.compare_accuracies(y, pred, baseline_pred=np.zeros(75, dtype=int), published_accuracy=0.8667)
    assert paired["kind"] == "paired" and "samples_needed_for_target" not in paired
    other = st.compare_accuracies(y, with_errors(y, 3), published_accuracy=0.8667, target=0.90)
    assert other["text"] != unpaired["text"]
    with pytest.raises(ValueError):
        st.compare_accuracies(y, pred)
