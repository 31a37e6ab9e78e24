"""The sweep's across-seed statistics against known values: stratified exact McNemar, Holm, t intervals."""

import numpy as np
import pytest
from scipy import stats as scipy_stats

from phase4a.sweep import stats


def test_stratified_mcnemar_is_the_exact_binomial_test_of_the_summed_discordant_counts():
    result = stats.stratified_mcnemar([(6, 1), (4, 2), (5, 0)])
    assert (result["b"], result["c"], result["strata"]) == (15, 3, 3)
    assert result["p_value"] == pytest.approx(scipy_stats.binomtest(15, 18, 0.5).pvalue)
    assert result["p_value"] == pytest.approx(2 * (1 + 18 + 153 + 816) / 2**18)  # 2 P(X <= 3), X ~ Bin(18, 1/2)
    assert stats.stratified_mcnemar([(0, 0), (0, 0)])["p_value"] == 1.0


def test_summing_strata_keeps_the_direction_that_fisher_on_two_sided_p_values_loses():
    # Two seeds pulling in opposite directions: the stratified test sees no difference...
    opposite = stats.stratified_mcnemar([(8, 0), (0, 8)])
    assert opposite["p_value"] == 1.0
    # ...while combining the two-sided per-seed p-values would call it significant.
    per_seed = scipy_stats.binomtest(8, 8, 0.5).pvalue
    assert scipy_stats.combine_pvalues([per_seed, per_seed], method="fisher").pvalue < 0.01


def test_holm_matches_hand_computed_values():
    # sorted 0.01, 0.03, 0.04 -> 3 x 0.01, 2 x 0.03, 1 x 0.04, made monotone: 0.03, 0.06, 0.06
    assert stats.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert stats.holm([0.5, 0.001]) == pytest.approx([0.5, 0.002])
    assert stats.holm([0.9, 0.8]) == pytest.approx([1.0, 1.0])  # capped at 1
    assert stats.holm([]) == []


def test_holm_matches_statsmodels():
    from statsmodels.stats import multitest

    p_values = np.random.default_rng(3).uniform(0, 0.2, size=9).tolist() + [0.01, 0.01]
    expected = multitest.multipletests(p_values, alpha=0.05, method="holm")[1]
    assert stats.holm(p_values) == pytest.approx(expected.tolist())


def test_t_interval_is_scipys_and_needs_two_values():
    differences = [0.02, 0.05, -0.01, 0.04, 0.03]
    low, high = scipy_stats.t.interval(
        0.95, len(differences) - 1, loc=np.mean(differences), scale=scipy_stats.sem(differences)
    )
    assert stats.t_interval(differences) == pytest.approx((low, high))
    assert stats.t_interval([0.1]) is None
    assert stats.t_interval([0.9, 0.1], bounds=(0.0, 1.0))[1] == 1.0  # an accuracy's interval stops at 100%


def test_compare_paired_counts_per_seed_and_pools_them():
    y = np.array([0, 1, 2, 3, 4, 0, 1, 2, 3, 4])
    arm = y.copy()
    reference = y.copy()
    reference[:4] = (y[:4] + 1) % 5  # seed 1: the arm alone is right on 4 patches
    second_arm = y.copy()
    second_arm[9] = 0  # seed 2: the reference alone is right on 1 patch
    result = stats.compare_paired({1: (y, arm, reference), 2: (y, second_arm, y)})
    assert [(row["b"], row["c"]) for row in result["per_seed"]] == [(4, 0), (0, 1)]
    assert (result["b"], result["c"]) == (4, 1)
    assert result["p_value"] == pytest.approx(scipy_stats.binomtest(4, 5, 0.5).pvalue)
    assert result["effect"] == pytest.approx((0.4 - 0.1) / 2)
    assert result["interval"] == pytest.approx(stats.t_interval([0.4, -0.1]))


def test_verdicts_come_from_holm_corrected_p_values():
    comparisons = {
        "strong": {"seeds": [1, 2], "b": 30, "c": 2, "p_value": 1e-6},
        "weak": {"seeds": [1, 2], "b": 2, "c": 9, "p_value": 0.03},  # < 0.05 alone, not after Holm
        "worse": {"seeds": [1, 2], "b": 1, "c": 40, "p_value": 1e-9},
        "unpaired": {"seeds": [], "b": 0, "c": 0, "p_value": 1.0},
    }
    stats.add_holm(comparisons)
    assert comparisons["strong"]["verdict"] == "better"
    assert comparisons["worse"]["verdict"] == "worse"
    # The largest of three p-values is multiplied by 1 (and the others' adjusted values are below it).
    assert comparisons["weak"]["p_holm"] == pytest.approx(0.03) and comparisons["weak"]["verdict"] == "worse"
    assert comparisons["strong"]["family_size"] == 3 and "verdict" not in comparisons["unpaired"]


def test_a_p_value_below_alpha_alone_is_not_distinguishable_after_holm():
    comparisons = {name: {"seeds": [1], "b": 5, "c": 1, "p_value": p} for name, p in (("a", 0.02), ("b", 0.03))}
    stats.add_holm(comparisons)
    assert comparisons["a"]["p_holm"] == pytest.approx(0.04) and comparisons["a"]["verdict"] == "better"
    assert comparisons["b"]["p_holm"] == pytest.approx(0.04)
    three = {name: {"seeds": [1], "b": 5, "c": 1, "p_value": p} for name, p in (("a", 0.02), ("b", 0.03), ("c", 0.5))}
    stats.add_holm(three)
    assert three["a"]["p_holm"] == pytest.approx(0.06)
    assert {result["verdict"] for result in three.values()} == {stats.NOT_DISTINGUISHABLE}


def test_spread_over_seeds():
    result = stats.spread([0.8, 0.9, 0.7])
    assert result["mean"] == pytest.approx(0.8) and result["std"] == pytest.approx(0.1)
    assert (result["min"], result["max"], result["n"]) == (0.7, 0.9, 3)
    assert stats.spread([0.5])["std"] is None


def test_one_stratum_is_statsmodels_exact_mcnemar():
    from statsmodels.stats import contingency_tables as tables

    # rows: arm right / wrong; columns: reference right / wrong; b = 15 (arm only), c = 3 (reference only)
    expected = tables.mcnemar(np.array([[5, 15], [3, 7]]), exact=True).pvalue
    assert stats.stratified_mcnemar([(15, 3)])["p_value"] == pytest.approx(expected)
