"""What a validation set of this size can show: intervals, paired tests, verdicts, sample sizes.

Pure functions on label arrays and counts (numpy, scipy, scikit-learn); no Keras. With 75 validation
samples an accuracy of 86.67% has a 95% interval of about 77% to 93%, so the report's 90% target
cannot be told apart from its baseline; these functions make that visible in every evaluation.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import stats
from sklearn.metrics import f1_score
from statsmodels.stats.proportion import confint_proportions_2indep, test_proportions_2indep

# The verdicts of a comparison, one vocabulary for a run's report and a sweep's findings.
BETTER, WORSE = "better", "worse"
NOT_DISTINGUISHABLE = "not distinguishable"  # which is not "no effect": that needs EQUIVALENT
UNINFORMATIVE = "uninformative: both predict one class"
OPTIMISTIC = "optimistic; no verdict"  # numbers on a split that chose the epoch


def wilson_interval(correct: int, total: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion ``correct / total``."""
    if total <= 0:
        raise ValueError(f"total must be positive, got {total}")
    if not 0 <= correct <= total:
        raise ValueError(f"correct must be in [0, {total}], got {correct}")
    interval = stats.binomtest(int(correct), int(total)).proportion_ci(confidence_level=confidence, method="wilson")
    return float(interval.low), float(interval.high)


def _macro_f1_batch(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Macro F1 along the last axis, defined exactly as sklearn's f1_score(average='macro', zero_division=0).

    Counting per class (F1 = 2 TP / (true + predicted), 0 where a class is absent from both) lets
    scipy evaluate all resamples at once instead of calling sklearn once per resample.
    """
    classes = np.arange(n_classes)
    is_true = y_true[..., None] == classes
    is_pred = y_pred[..., None] == classes
    true_positives = (is_true & is_pred).sum(axis=-2)
    denominator = is_true.sum(axis=-2) + is_pred.sum(axis=-2)
    per_class = np.divide(2 * true_positives, denominator, out=np.zeros(denominator.shape), where=denominator > 0)
    return per_class.mean(axis=-1)


def bootstrap_macro_f1(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    n_classes: int,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 42,
) -> tuple[float, float, float]:
    """Macro F1 with a seeded percentile bootstrap interval over samples: ``(point, low, high)``.

    Every class in ``range(n_classes)`` counts, so a resample missing a class scores 0 for it, as
    sklearn does with ``labels=range(n_classes)``.
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    if y_true.shape != y_pred.shape or y_true.ndim != 1 or len(y_true) == 0:
        raise ValueError(f"y_true and y_pred must be equal-length 1-D arrays, got {y_true.shape} and {y_pred.shape}")
    point = f1_score(y_true, y_pred, labels=list(range(n_classes)), average="macro", zero_division=0)
    result = stats.bootstrap(
        (y_true, y_pred),
        lambda t, p, axis=-1: _macro_f1_batch(t, p, n_classes),
        paired=True,
        vectorized=True,
        n_resamples=n_resamples,
        confidence_level=confidence,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return float(point), float(result.confidence_interval.low), float(result.confidence_interval.high)


def mcnemar_exact(y_true: np.ndarray, pred_a: np.ndarray, pred_b: np.ndarray) -> dict[str, Any]:
    """Exact (binomial) McNemar test of two classifiers on the same samples.

    ``b``: samples only A gets right; ``c``: samples only B gets right. Under equal accuracy each
    discordant sample is a fair coin, so p is the two-sided binomial p of ``b`` in ``b + c`` trials
    (1 when there are no discordant pairs). ``statistic`` is ``min(b, c)``, as in statsmodels.
    """
    y_true, pred_a, pred_b = (np.asarray(values) for values in (y_true, pred_a, pred_b))
    if not y_true.shape == pred_a.shape == pred_b.shape:
        raise ValueError(f"shapes differ: y_true {y_true.shape}, pred_a {pred_a.shape}, pred_b {pred_b.shape}")
    a_right = pred_a == y_true
    b_right = pred_b == y_true
    b = int(np.sum(a_right & ~b_right))
    c = int(np.sum(~a_right & b_right))
    p_value = 1.0 if b + c == 0 else float(stats.binomtest(b, b + c, 0.5).pvalue)
    return {"b": b, "c": c, "p_value": p_value, "statistic": min(b, c)}


def samples_needed(p1: float, p2: float, alpha: float = 0.05, power: float = 0.8) -> int:
    """Validation samples needed to tell a true accuracy ``p1`` from a fixed figure ``p2``.

    One-sample two-sided test of a proportion against ``p2`` (a published figure or target is a fixed
    number, not a second sample), normal approximation:
    ``n = ((z_{1-alpha/2} sqrt(p2 q2) + z_{power} sqrt(p1 q1)) / (p1 - p2))^2``, rounded up.
    """
    if p1 == p2:
        raise ValueError("p1 equals p2: no sample size tells identical accuracies apart")
    if not 0 <= p1 <= 1:
        raise ValueError(f"p1 must be in [0, 1], got {p1}")
    for name, value in (("p2", p2), ("alpha", alpha), ("power", power)):
        if not 0 < value < 1:
            raise ValueError(f"{name} must be strictly between 0 and 1, got {value}")
    z_alpha = stats.norm.ppf(1 - alpha / 2)
    z_power = stats.norm.ppf(power)
    spread = z_alpha * math.sqrt(p2 * (1 - p2)) + z_power * math.sqrt(p1 * (1 - p1))
    return math.ceil((spread / (p1 - p2)) ** 2)


# The normal approximation to the binomial is taken as good when n p (1 - p) is at least this for
# both accuracies at the sample size it gives (the usual rule of thumb: 5 to 10).
NORMAL_APPROXIMATION_MIN = 10
EXACT_SEARCH_LIMIT = 100_000


def exact_binomial_power(n: np.ndarray, p1: float, p2: float, alpha: float = 0.05) -> np.ndarray:
    """Power at true accuracy ``p1`` of the exact two-sided binomial test of ``p = p2`` (equal tails,
    each at most alpha / 2) with ``n`` samples; ``n`` may be an array."""
    n = np.asarray(n)
    low = stats.binom.ppf(alpha / 2, n, p2)
    low = np.where(stats.binom.cdf(low, n, p2) <= alpha / 2, low, low - 1)  # largest k with cdf <= alpha/2
    high = stats.binom.ppf(1 - alpha / 2, n, p2) + 1  # smallest k with P(K >= k) <= alpha/2
    return stats.binom.cdf(low, n, p1) + stats.binom.sf(high - 1, n, p1)


def samples_needed_exact(p1: float, p2: float, alpha: float = 0.05, power: float = 0.8) -> int | None:
    """Smallest n at which the exact two-sided binomial test of ``p = p2`` reaches ``power`` when the
    true accuracy is ``p1`` (searched up to ``EXACT_SEARCH_LIMIT``; None beyond it). Exact power
    saw-tooths in n, so a few larger n can fall just below ``power`` again."""
    if p1 == p2:
        raise ValueError("p1 equals p2: no sample size tells identical accuracies apart")
    start = 1
    while start <= EXACT_SEARCH_LIMIT:
        n = np.arange(start, min(start * 4, EXACT_SEARCH_LIMIT) + 1)
        reached = np.flatnonzero(exact_binomial_power(n, p1, p2, alpha) >= power)
        if reached.size:
            return int(n[reached[0]])
        start = int(n[-1]) + 1
    return None


def sample_size_for_target(p1: float, p2: float, alpha: float = 0.05, power: float = 0.8) -> dict[str, Any]:
    """Samples needed to tell a true accuracy ``p1`` from ``p2``: the normal approximation where it holds
    (n p (1 - p) >= NORMAL_APPROXIMATION_MIN for both), else the exact binomial search."""
    normal = samples_needed(p1, p2, alpha, power)
    spread = min(p1 * (1 - p1), p2 * (1 - p2))
    if normal * spread >= NORMAL_APPROXIMATION_MIN:
        return {"samples": normal, "method": "normal approximation"}
    return {"samples": samples_needed_exact(p1, p2, alpha, power), "method": "exact binomial"}


def _percent(value: float) -> str:
    return f"{100 * value:.2f}%"


def target_statement(
    observed: float, target: float, n: int, alpha: float = 0.05, power: float = 0.8, split: str = "validation"
) -> dict[str, Any]:
    """The conditional sample-size sentence: if the true accuracy were the observed one, about how many
    patches would tell it from ``target`` (normal approximation, or exact binomial where it is poor)."""
    if observed == target:
        return {
            "target": target,
            "samples_needed_for_target": None,
            "sample_size_method": None,
            "target_text": (
                f"The observed accuracy equals the {_percent(target)} target; no sample size tells them apart."
            ),
        }
    size = sample_size_for_target(observed, target, alpha, power)
    needed = size["samples"]
    if needed is None:
        text = (
            f"If the true accuracy were {_percent(observed)}, even {EXACT_SEARCH_LIMIT:,} {split} patches would "
            f"not tell it from the {_percent(target)} target with {power:.0%} power (alpha {alpha:g})."
        )
    else:
        enough = "enough" if n >= needed else "not enough"
        text = (
            f"If the true accuracy were {_percent(observed)}, about {needed} {split} patches would tell it from "
            f"the {_percent(target)} target with {power:.0%} power (alpha {alpha:g}, {size['method']}); "
            f"the {n} here are {enough}."
        )
    return {
        "target": target,
        "samples_needed_for_target": needed,
        "sample_size_method": size["method"],
        "target_text": text,
    }


# Resamples of the cluster bootstrap: its smallest p-value is 1 / (n + 1), so 9,999 lets a p of about
# 1e-4 survive Holm's correction across a sweep's dozen comparisons (0.05 / 12 = 4e-3) with room.
BOOTSTRAP_RESAMPLES = 9999
# Resample x group cells drawn at once: about 16 MB of counts, whatever the number of patches.
BOOTSTRAP_CELLS = 2_000_000
# A claim of "no effect" needs an equivalence test: an arm whose 90% interval lies within +-5 pp of the
# reference is called equivalent (two one-sided tests at alpha 0.05). 5 pp is 4 of the report's 75
# validation patches: a smaller margin could not be met by any sample this size.
EQUIVALENCE_MARGIN = 0.05
EQUIVALENT = f"equivalent within ±{100 * EQUIVALENCE_MARGIN:g} pp"


def _as_replicates(values: np.ndarray) -> np.ndarray:
    """(replicates, patches) from (patches,) or (replicates, patches)."""
    values = np.asarray(values, dtype=float)
    if values.ndim == 1:
        values = values[None, :]
    if values.ndim != 2 or values.shape[1] == 0:
        raise ValueError(f"expected (patches,) or (seeds, patches) values, got shape {values.shape}")
    return values


def cluster_totals(values: np.ndarray, groups: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Per (replicate, group) sums of ``values`` (replicates x patches) and each group's patch count.

    ``groups`` None makes every patch its own group (independent patches)."""
    values = _as_replicates(values)
    if groups is None:
        return values, np.ones(values.shape[1])
    groups = np.asarray(groups)
    if groups.shape != (values.shape[1],):
        raise ValueError(f"{len(groups)} group ids for {values.shape[1]} patches; give one id per patch")
    _, inverse = np.unique(groups, return_inverse=True)
    totals = np.zeros((values.shape[0], inverse.max() + 1))
    for replicate in range(values.shape[0]):
        totals[replicate] = np.bincount(inverse, weights=values[replicate], minlength=totals.shape[1])
    return totals, np.bincount(inverse).astype(float)


def _group_strata(groups: np.ndarray | None, strata: np.ndarray | None, n_patches: int) -> np.ndarray | None:
    """The stratum (class) of each group, in :func:`cluster_totals`' group order; None without strata."""
    if strata is None:
        return None
    strata = np.asarray(strata)
    if strata.shape != (n_patches,):
        raise ValueError(f"{len(strata)} strata for {n_patches} patches; give one per patch")
    if groups is None:
        return strata
    _, first = np.unique(np.asarray(groups), return_index=True)
    return strata[first]


def _draw_groups(rng: np.random.Generator, n_groups: int, strata: np.ndarray | None, n_resamples: int) -> np.ndarray:
    """How often each group is drawn in each resample: with replacement, within each stratum when given
    (the split stratified the groups by class, so a resample keeps the class mix the design fixed)."""
    if strata is None:
        return rng.multinomial(n_groups, np.full(n_groups, 1 / n_groups), size=n_resamples)
    draws = np.zeros((n_resamples, n_groups), dtype=np.int64)
    for stratum in np.unique(strata):
        members = np.flatnonzero(strata == stratum)
        draws[:, members] = rng.multinomial(len(members), np.full(len(members), 1 / len(members)), size=n_resamples)
    return draws


def two_way_bootstrap(
    values: np.ndarray,
    groups: np.ndarray | None = None,
    n_resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 42,
    strata: np.ndarray | None = None,
) -> np.ndarray:
    """Resampled means of ``values`` (seeds x patches) under Owen's two-way ("pigeonhole") bootstrap.

    Seeds and test groups are crossed random factors: a resample draws seeds with replacement and,
    independently, groups with replacement, and takes the mean over every drawn (seed, group) cell,
    weighted by patch count. Patches of one group (a polygon, a tile quadrant) are never resampled
    apart, so near-duplicates count once; with one seed only the groups vary. The seeds and the
    groups are drawn from two generators spawned from ``seed``, so the group draws do not depend on
    how many seeds there are: five identical seeds give exactly the resamples of one. With ``strata``
    (each patch's class) the groups are drawn within their class, as the split drew them.

    Reference: A. B. Owen (2007), "The pigeonhole bootstrap", Annals of Applied Statistics 1(2), 386-411.
    """
    totals, counts = cluster_totals(values, groups)
    n_seeds, n_groups = totals.shape
    seed_rng, group_rng = (np.random.default_rng(child) for child in np.random.SeedSequence(seed).spawn(2))
    group_strata = _group_strata(groups, strata, np.shape(values)[-1])
    seed_draws = seed_rng.multinomial(n_seeds, np.full(n_seeds, 1 / n_seeds), size=n_resamples)
    means = np.empty(n_resamples)
    # In chunks, so that thousands of ungrouped patches do not need a resamples x patches array at once.
    chunk = max(1, BOOTSTRAP_CELLS // max(n_groups, 1))
    for start in range(0, n_resamples, chunk):
        stop = min(start + chunk, n_resamples)
        group_draws = _draw_groups(group_rng, n_groups, group_strata, stop - start)
        # Sum over drawn cells of totals[s, g], divided by the drawn patch count (each drawn seed sees
        # all the drawn groups' patches).
        numerator = np.einsum("bs,sg,bg->b", seed_draws[start:stop], totals, group_draws)
        means[start:stop] = numerator / (n_seeds * (group_draws @ counts))
    return means


def bootstrap_p_value(resampled: np.ndarray) -> float:
    """Two-sided p of 'the mean is 0' from bootstrap resamples: twice the smaller tail at 0, with the
    +1 correction that keeps it above 0 (Davison and Hinkley 1997, ch. 4)."""
    resampled = np.asarray(resampled)
    below = (np.sum(resampled <= 0) + 1) / (len(resampled) + 1)
    above = (np.sum(resampled >= 0) + 1) / (len(resampled) + 1)
    return float(min(1.0, 2 * min(below, above)))


def cluster_accuracy(
    correct: np.ndarray,
    groups: np.ndarray | None = None,
    confidence: float = 0.95,
    n_resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 42,
    strata: np.ndarray | None = None,
) -> dict[str, Any]:
    """Mean accuracy over seeds x patches with a two-way cluster bootstrap percentile interval.

    ``correct``: (patches,) or (seeds, patches) booleans. The interval carries seed-to-seed and
    test-group variance; ``groups`` None treats patches as independent; ``strata`` (each patch's
    true class) resamples groups within their class."""
    correct = _as_replicates(correct)
    resampled = two_way_bootstrap(correct, groups, n_resamples, seed, strata)
    tail = (1 - confidence) / 2
    n_groups = correct.shape[1] if groups is None else len(np.unique(groups))
    return {
        "accuracy": float(correct.mean()),
        "interval": (float(np.quantile(resampled, tail)), float(np.quantile(resampled, 1 - tail))),
        "confidence": confidence,
        "seeds": int(correct.shape[0]),
        "groups": int(n_groups),
        "patches": int(correct.shape[1]),
    }


def cluster_paired_difference(
    correct_a: np.ndarray,
    correct_b: np.ndarray,
    groups: np.ndarray | None = None,
    confidence: float = 0.95,
    margin: float = EQUIVALENCE_MARGIN,
    n_resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 42,
    strata: np.ndarray | None = None,
) -> dict[str, Any]:
    """Accuracy of A minus B on the same patches (and seeds), with the two-way cluster bootstrap.

    ``correct_a``, ``correct_b``: (patches,) or (seeds, patches) booleans, paired cell by cell. Gives
    the mean difference, its percentile interval, the bootstrap p of 'no difference' and the TOST
    equivalence check: A and B are equivalent within ``margin`` when the (1 - 2 alpha) interval
    (90% for alpha 0.05) lies inside (-margin, +margin) (Schuirmann 1987's two one-sided tests in
    their interval form). Duplicating patches inside their groups changes none of these numbers.
    """
    correct_a, correct_b = _as_replicates(correct_a), _as_replicates(correct_b)
    if correct_a.shape != correct_b.shape:
        raise ValueError(f"paired arrays differ in shape: {correct_a.shape} and {correct_b.shape}")
    resampled = two_way_bootstrap(correct_a - correct_b, groups, n_resamples, seed, strata)
    tail = (1 - confidence) / 2
    alpha = 1 - confidence
    equivalence_interval = (float(np.quantile(resampled, alpha)), float(np.quantile(resampled, 1 - alpha)))
    n_groups = correct_a.shape[1] if groups is None else len(np.unique(groups))
    return {
        "effect": float((correct_a - correct_b).mean()),
        "interval": (float(np.quantile(resampled, tail)), float(np.quantile(resampled, 1 - tail))),
        "confidence": confidence,
        "p_value": bootstrap_p_value(resampled),
        "equivalence_interval": equivalence_interval,
        "margin": margin,
        "equivalent": bool(-margin < equivalence_interval[0] and equivalence_interval[1] < margin),
        "seeds": int(correct_a.shape[0]),
        "groups": int(n_groups),
        "patches": int(correct_a.shape[1]),
    }


def seeds_needed(differences: list[float] | np.ndarray, alpha: float = 0.05, power: float = 0.8) -> int | None:
    """Seeds a paired comparison would need to detect its observed mean per-seed difference with
    ``power`` at two-sided ``alpha`` (normal approximation, n = ((z_{1-alpha/2} + z_power) sd / mean)^2);
    None when the mean difference is 0 (nothing to detect) or there are fewer than two seeds."""
    differences = np.asarray(differences, dtype=float)
    if len(differences) < 2 or np.isclose(differences.mean(), 0):
        return None
    sd = differences.std(ddof=1)
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    return max(2, math.ceil((z * sd / abs(differences.mean())) ** 2))


def two_binomial_test(correct_a: int, total_a: int, correct_b: int, total_b: int) -> dict[str, Any]:
    """Two independent accuracies on different patches (e.g. a run against a published figure with its
    own sample count): the difference with a Newcombe score interval and its p (statsmodels'
    ``test_proportions_2indep`` and ``confint_proportions_2indep``)."""
    test = test_proportions_2indep(correct_a, total_a, correct_b, total_b, method="score")
    low, high = confint_proportions_2indep(correct_a, total_a, correct_b, total_b, method="newcomb")
    return {
        "difference": correct_a / total_a - correct_b / total_b,
        "interval": (float(low), float(high)),
        "p_value": float(test.pvalue),
    }
