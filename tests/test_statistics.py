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


def test_two_way_bootstrap_with_one_seed_and_singleton_groups_is_the_ordinary_bootstrap_mean():
    values = np.random.default_rng(0).random(50)
    resampled = st.two_way_bootstrap(values, None, n_resamples=4000, seed=1)
    assert resampled.mean() == pytest.approx(values.mean(), abs=0.01)
    assert resampled.std() == pytest.approx(values.std() / math.sqrt(50), rel=0.1)


def test_cluster_interval_widens_when_the_errors_sit_in_whole_groups():
    groups = np.repeat(np.arange(10), 10)
    clustered = np.repeat(np.arange(10) < 7, 10)  # 7 groups right, 3 wrong: 70%
    scattered = np.tile(np.arange(10) < 7, 10)  # 7 of 10 in every group: 70%
    wide = st.cluster_accuracy(clustered, groups)
    narrow = st.cluster_accuracy(scattered, groups)
    assert wide["accuracy"] == narrow["accuracy"] == pytest.approx(0.7)
    assert wide["interval"][1] - wide["interval"][0] > 3 * (narrow["interval"][1] - narrow["interval"][0])
    assert (wide["groups"], wide["patches"]) == (10, 100)


def test_cluster_paired_difference_is_unchanged_by_copies_inside_groups():
    rng = np.random.default_rng(4)
    groups = np.repeat(np.arange(12), 5)
    a, b = rng.random(60) < 0.8, rng.random(60) < 0.6
    once = st.cluster_paired_difference(a, b, groups)
    copies = st.cluster_paired_difference(np.repeat(a, 7), np.repeat(b, 7), np.repeat(groups, 7))
    assert copies["p_value"] == once["p_value"] and copies["interval"] == pytest.approx(once["interval"])


def test_bootstrap_p_value_is_two_sided_and_never_zero():
    assert st.bootstrap_p_value(np.full(99, 0.1)) == pytest.approx(2 / 100)
    assert st.bootstrap_p_value(np.zeros(99)) == 1.0
    assert st.bootstrap_p_value(np.r_[np.full(50, -1.0), np.full(49, 1.0)]) == 1.0


def test_two_binomial_test_of_the_published_65_of_75():
    from statsmodels.stats.proportion import test_proportions_2indep

    result = st.two_binomial_test(50, 75, 65, 75)
    assert result["difference"] == pytest.approx(50 / 75 - 65 / 75)
    assert result["p_value"] == pytest.approx(test_proportions_2indep(50, 75, 65, 75, method="score").pvalue)
    assert result["interval"][0] < result["difference"] < result["interval"][1] < 0
