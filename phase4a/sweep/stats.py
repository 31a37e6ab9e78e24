"""Across-seed statistics of a sweep: the seed and the test group are the units of inference.

A sweep asks whether a change to the method (an arm) helps, and the method's result varies with the
training seed and with which patches are tested; patches cut from one polygon or tile quadrant are
near-duplicates, not independent evidence. So the comparison of an arm with the reference is made on
seeds x test groups:

- **Effect**: the arm's accuracy minus the reference's, on the same seeds and patches, averaged.
- **Interval and p**: Owen's two-way ("pigeonhole") cluster bootstrap, which resamples seeds and test
  groups independently (:func:`phase4a.statistics.cluster_paired_difference`). One lucky seed out of
  five is drawn in only two thirds of the resamples, so it cannot make a verdict by itself; an arm that
  is identical in every seed counts once; duplicating patches inside their groups changes nothing.
- **Verdicts**, Holm-corrected across the sweep's comparisons: "better"/"worse" only with at least
  :data:`MIN_SEEDS_FOR_VERDICT` seeds, a corrected p below alpha and a 95% interval that excludes 0;
  "equivalent within +-5 pp" only from the equivalence test (TOST); "uninformative" where both arms
  predict one class in every seed; otherwise "not distinguishable", which is not "no effect".
- Per-seed exact McNemar tests stay as description ("differs in 1 of 5 seeds"), never as the verdict.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from statsmodels.stats.multitest import multipletests

from .. import statistics

ALPHA = 0.05
# Fewer seeds give the bootstrap too few distinct resamples of the seed factor (with 3 seeds there are
# 10) for its interval to cover: below five, a sweep describes but does not judge.
MIN_SEEDS_FOR_VERDICT = 5
BETTER, WORSE, EQUIVALENT = statistics.BETTER, statistics.WORSE, statistics.EQUIVALENT
NOT_DISTINGUISHABLE, UNINFORMATIVE = statistics.NOT_DISTINGUISHABLE, statistics.UNINFORMATIVE
TOO_FEW_SEEDS = f"no verdict: fewer than {MIN_SEEDS_FOR_VERDICT} seeds"
TEST_NAME = (
    "two-way cluster bootstrap over seeds x test groups (Owen 2007), "
    f"{statistics.BOOTSTRAP_RESAMPLES} resamples, Holm-corrected"
)
UNIT_SENTENCE = (
    "Unit of inference: the training seed crossed with the test group (polygon or tile quadrant; a patch "
    "where the data have no groups); patches are not counted as independent."
)


def spread(values: list[float] | np.ndarray) -> dict[str, Any]:
    """Mean, sample standard deviation (None for one value), minimum and maximum."""
    values = np.asarray(values, dtype=float)
    return {
        "n": int(len(values)),
        "mean": float(values.mean()) if len(values) else math.nan,
        "std": float(values.std(ddof=1)) if len(values) > 1 else None,
        "min": float(values.min()) if len(values) else math.nan,
        "max": float(values.max()) if len(values) else math.nan,
    }


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values (statsmodels' ``multipletests``)."""
    if not p_values:
        return []
    return multipletests(p_values, method="holm")[1].tolist()


def _per_seed_rows(seeds: list[int], y_true, arm, reference) -> list[dict[str, Any]]:
    """Description per seed: the accuracy difference and that seed's exact McNemar counts and p."""
    rows = []
    for seed, truth, mine, theirs in zip(seeds, y_true, arm, reference):
        test = statistics.mcnemar_exact(truth, mine, theirs)
        rows.append(
            {
                "seed": seed,
                "difference": float(np.mean(mine == truth) - np.mean(theirs == truth)),
                "b": test["b"],
                "c": test["c"],
                "p_value": test["p_value"],
            }
        )
    return rows


def _single_class(predictions: np.ndarray) -> bool:
    """Every seed predicts one class for every patch."""
    return all(len(np.unique(row)) == 1 for row in predictions)


def compare_paired(
    per_seed: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]],
    groups: np.ndarray | None = None,
    seed: int = 42,
) -> dict[str, Any]:
    """An arm against the reference: ``{seed: (y_true, arm's predictions, reference's predictions)}`` on
    the same patches, whose test groups are ``groups`` (None: each patch its own group).

    Returns the effect with its two-way cluster bootstrap interval and p (before Holm), the equivalence
    check, the per-seed description, how many seeds differ at alpha, whether both arms collapsed, and
    the seeds a verdict on the observed effect would need."""
    seeds = sorted(per_seed)
    result: dict[str, Any] = {"seeds": seeds, "per_seed": [], "confidence": 0.95}
    if not seeds:
        return result
    y_true, arm, reference = ([np.asarray(per_seed[s][i]) for s in seeds] for i in range(3))
    rows = _per_seed_rows(seeds, y_true, arm, reference)
    crossed = all(np.array_equal(truth, y_true[0]) for truth in y_true)
    if crossed:
        y_true, arm, reference = np.stack(y_true), np.stack(arm), np.stack(reference)
        paired = statistics.cluster_paired_difference(
            arm == y_true, reference == y_true, groups, seed=seed, strata=y_true[0]
        )
        if groups is None:
            paired["groups"] = None  # the data have none: each patch is its own
    else:
        # Each seed tested its own split (vary_split): the groups are nested in seeds and the seeds are
        # independent replicates of the whole experiment, so the seeds alone are resampled.
        accuracies = [[float(np.mean(a == t)) for a, t in zip(predicted, y_true)] for predicted in (arm, reference)]
        paired = statistics.cluster_paired_difference(*(np.asarray(a)[:, None] for a in accuracies), seed=seed)
        paired["groups"] = None
    differences = [row["difference"] for row in rows]
    result.update(
        per_seed=rows,
        crossed=crossed,
        effect=paired["effect"],
        interval=paired["interval"],
        p_value=paired["p_value"],
        equivalence_interval=paired["equivalence_interval"],
        equivalent=paired["equivalent"],
        groups=paired["groups"],
        patches=int(np.mean([len(truth) for truth in y_true])),
        b=int(sum(row["b"] for row in rows)),
        c=int(sum(row["c"] for row in rows)),
        seeds_differing=int(sum(row["p_value"] < ALPHA for row in rows)),
        both_collapsed=_single_class(arm) and _single_class(reference),
        identical_over_seeds=crossed
        and all(np.array_equal(a, arm[0]) for a in arm)
        and all(np.array_equal(r, reference[0]) for r in reference),
        seeds_needed=seeds_needed_for(differences),
    )
    return result


def seeds_needed_for(differences: list[float]) -> int | None:
    """Seeds a verdict on this observed mean per-seed difference would need (80% power, alpha 0.05),
    never fewer than the minimum; None when there is nothing to detect or no spread to size it by."""
    needed = statistics.seeds_needed(differences, ALPHA)
    if needed is None:
        differences = np.asarray(differences, dtype=float)
        no_spread = len(differences) > 1 and not np.isclose(differences.mean(), 0)
        return MIN_SEEDS_FOR_VERDICT if no_spread else None
    return max(needed, MIN_SEEDS_FOR_VERDICT)


def interval_excludes_zero(interval: tuple[float, float] | None) -> bool:
    return interval is not None and (interval[0] > 0 or interval[1] < 0)


def verdict_of(result: dict[str, Any], p_holm: float | None, alpha: float = ALPHA) -> str:
    """The verdict of one comparison from its numbers (see the module docstring for the rules)."""
    if result["both_collapsed"]:
        return UNINFORMATIVE
    if len(result["seeds"]) < MIN_SEEDS_FOR_VERDICT:
        return TOO_FEW_SEEDS
    if p_holm is not None and p_holm < alpha and interval_excludes_zero(result["interval"]):
        return BETTER if result["effect"] > 0 else WORSE
    if result["equivalent"]:
        return EQUIVALENT
    return NOT_DISTINGUISHABLE


def add_holm(comparisons: dict[str, dict[str, Any]], alpha: float = ALPHA) -> dict[str, dict[str, Any]]:
    """Holm-correct, together, the comparisons that can reach a verdict (enough seeds, not both
    collapsed) and give every comparison its verdict (in place; returned)."""
    judged = [
        name
        for name, result in comparisons.items()
        if result["seeds"] and not result["both_collapsed"] and len(result["seeds"]) >= MIN_SEEDS_FOR_VERDICT
    ]
    adjusted = dict(zip(judged, holm([comparisons[name]["p_value"] for name in judged])))
    for name, result in comparisons.items():
        if not result["seeds"]:
            continue
        result["p_holm"] = adjusted.get(name)
        result["family_size"] = len(judged)
        result["alpha"] = alpha
        result["verdict"] = verdict_of(result, adjusted.get(name), alpha)
    return comparisons
