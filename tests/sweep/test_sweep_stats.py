"""The sweep's verdicts: the seed and the test group are the units, one lucky seed decides nothing,
copies count once, collapse is uninformative, and "no difference" needs an equivalence test."""

import numpy as np
import pytest
from statsmodels.stats import multitest

from phase4a.sweep import stats

N_GROUPS, GROUP_SIZE = 8, 16  # the EuroSAT test split: 8 tile quadrants of 16 patches
GROUPS = np.repeat(np.arange(N_GROUPS), GROUP_SIZE)
Y = np.repeat(np.arange(4), 32)  # 128 patches, 4 classes of 2 groups each


def collapsed(y: np.ndarray, label: int = 0) -> np.ndarray:
    return np.full_like(y, label)


def test_one_seed_of_five_with_22_discordant_patches_is_not_distinguishable():
    # The reviewer's case (f_less_freezing on EuroSAT): per-seed differences +17.2, 0, 0, 0, 0 pp.
    reference = collapsed(Y)
    lucky = reference.copy()
    lucky[32:54] = Y[32:54]  # 22 patches only the arm gets right, 0 only the reference
    per_seed = {42: (Y, lucky, reference), **{seed: (Y, reference.copy(), reference) for seed in (43, 44, 45, 46)}}
    result = stats.add_holm({"f_less_freezing": stats.compare_paired(per_seed, GROUPS)})["f_less_freezing"]
    assert (result["b"], result["c"]) == (22, 0)  # the pooled exact McNemar would give p 5e-7
    assert result["seeds_differing"] == 1
    assert result["interval"][0] <= 0 <= result["interval"][1]
    assert result["verdict"] == stats.NOT_DISTINGUISHABLE


def test_an_effect_in_every_seed_and_group_is_better():
    reference = collapsed(Y)
    arms = {}
    for seed in range(5):
        arm = Y.copy()
        arm[np.random.default_rng(seed).choice(len(Y), 10, replace=False)] = 3  # a few errors, seed by seed
        arms[seed] = (Y, arm, reference)
    result = stats.add_holm({"fix": stats.compare_paired(arms, GROUPS)})["fix"]
    assert result["verdict"] == stats.BETTER
    assert result["interval"][0] > 0 and result["p_holm"] < stats.ALPHA


def test_five_identical_seeds_give_the_same_p_and_interval_as_one():
    arm = Y.copy()
    arm[:40] = 1
    reference = Y.copy()
    reference[60:90] = 2
    one = stats.compare_paired({42: (Y, arm, reference)}, GROUPS)
    five = stats.compare_paired({seed: (Y, arm, reference) for seed in range(42, 47)}, GROUPS)
    assert five["p_value"] == one["p_value"]
    assert five["interval"] == pytest.approx(one["interval"])
    assert five["identical_over_seeds"]


def test_duplicating_each_test_patch_16_times_inside_its_group_does_not_shrink_the_p_value():
    rng = np.random.default_rng(0)
    per_seed, copied = {}, {}
    for seed in range(5):
        arm = np.where(rng.random(len(Y)) < 0.7, Y, 0)
        reference = np.where(rng.random(len(Y)) < 0.6, Y, 0)
        per_seed[seed] = (Y, arm, reference)
        copied[seed] = tuple(np.repeat(values, 16) for values in (Y, arm, reference))
    original = stats.compare_paired(per_seed, GROUPS)
    duplicated = stats.compare_paired(copied, np.repeat(GROUPS, 16))
    assert duplicated["p_value"] >= original["p_value"]
    assert duplicated["interval"] == pytest.approx(original["interval"])
    assert duplicated["groups"] == original["groups"] == N_GROUPS


def test_both_arms_predicting_one_class_is_uninformative_and_outside_the_holm_family():
    per_seed = {seed: (Y, collapsed(Y, 1), collapsed(Y, 2)) for seed in range(5)}
    comparisons = stats.add_holm({"both": stats.compare_paired(per_seed, GROUPS)})
    assert comparisons["both"]["verdict"] == stats.UNINFORMATIVE
    assert comparisons["both"]["family_size"] == 0 and comparisons["both"]["p_holm"] is None


def test_no_difference_is_claimed_only_through_the_equivalence_margin():
    rng = np.random.default_rng(1)
    same = {seed: (Y, np.where(rng.random(len(Y)) < 0.8, Y, 0), None) for seed in range(5)}
    near = {seed: (y, arm, arm.copy()) for seed, (y, arm, _) in same.items()}
    for _, _, reference in near.values():
        reference[rng.choice(len(Y), 2, replace=False)] = 3  # at most 2 of 128 patches differ
    equivalent = stats.add_holm({"near": stats.compare_paired(near, GROUPS)})["near"]
    assert equivalent["verdict"] == stats.EQUIVALENT
    wide = {
        seed: (Y, np.where(rng.random(len(Y)) < 0.6, Y, 0), np.where(rng.random(len(Y)) < 0.6, Y, 0))
        for seed in range(5)
    }
    undecided = stats.add_holm({"wide": stats.compare_paired(wide, GROUPS)})["wide"]
    assert undecided["verdict"] == stats.NOT_DISTINGUISHABLE and not undecided["equivalent"]


def test_fewer_seeds_than_the_minimum_give_no_verdict_but_say_how_many_would():
    arm, reference = Y.copy(), collapsed(Y)
    per_seed = {seed: (Y, arm, reference) for seed in range(stats.MIN_SEEDS_FOR_VERDICT - 1)}
    result = stats.add_holm({"strong": stats.compare_paired(per_seed, GROUPS)})["strong"]
    assert result["verdict"] == stats.TOO_FEW_SEEDS
    assert result["seeds_needed"] == stats.MIN_SEEDS_FOR_VERDICT  # no spread over seeds: the minimum


def test_seeds_needed_grows_with_the_spread_over_seeds():
    assert stats.seeds_needed_for([0.172, 0, 0, 0, 0]) > 5
    assert stats.seeds_needed_for([0.0, 0.0, 0.0]) is None  # nothing to detect
    narrow = stats.seeds_needed_for([0.10, 0.11, 0.09, 0.10, 0.10])
    wide = stats.seeds_needed_for([0.30, -0.10, 0.25, -0.05, 0.10])
    assert narrow == stats.MIN_SEEDS_FOR_VERDICT < wide


def test_holm_corrects_the_judged_comparisons_together():
    rng = np.random.default_rng(2)
    comparisons = {}
    for name, keep in (("strong", 0.95), ("weaker", 0.5)):
        per_seed = {seed: (Y, np.where(rng.random(len(Y)) < keep, Y, 0), collapsed(Y, 1)) for seed in range(5)}
        comparisons[name] = stats.compare_paired(per_seed, GROUPS)
    raw = [comparisons[name]["p_value"] for name in comparisons]
    stats.add_holm(comparisons)
    assert [comparisons[name]["p_holm"] for name in comparisons] == pytest.approx(
        multitest.multipletests(raw, method="holm")[1].tolist()
    )
    assert comparisons["strong"]["family_size"] == 2


def test_each_seed_on_its_own_split_resamples_the_seeds():
    per_seed = {}
    for seed in range(5):
        y = np.random.default_rng(seed).integers(0, 4, size=60 + seed)  # other patches per seed
        per_seed[seed] = (y, y.copy(), np.where(np.arange(len(y)) < 20, y, (y + 1) % 4))
    result = stats.compare_paired(per_seed)
    assert not result["crossed"] and result["groups"] is None
    assert result["effect"] == pytest.approx(np.mean([1 - 20 / (60 + s) for s in range(5)]))


def test_spread_over_seeds():
    result = stats.spread([0.8, 0.9, 0.7])
    assert result["mean"] == pytest.approx(0.8) and result["std"] == pytest.approx(0.1)
    assert (result["min"], result["max"], result["n"]) == (0.7, 0.9, 3)
    assert stats.spread([0.5])["std"] is None
