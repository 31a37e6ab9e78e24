"""Across-seed statistics of a sweep: spreads over seeds, paired tests against the reference, Holm.

The paired test of an arm against the reference is an **exact stratified McNemar test**: per seed, on
the same evaluation patches, ``b`` patches only the arm gets right and ``c`` only the reference does
(each seed's exact McNemar p is kept too); the discordant counts are summed over seeds (the strata)
and ``B = sum b`` is tested against Binomial(``B + C``, 1/2), two-sided. Under the null hypothesis that
on every patch the two configurations are equally likely to be the one that is right, each discordant
patch of each (independent) seed is a fair coin, so the test is exact and keeps the direction of the
difference (Fisher's combination of two-sided p-values would not). It is the Mantel-Haenszel test for
matched pairs, in its exact form. The p-values of all comparisons a sweep makes are Holm-corrected
together; an arm is called better or worse only where the corrected p is below alpha.

The effect of an arm is the mean over seeds of its accuracy minus the reference's on the same seed,
with a Student t interval over those per-seed differences (needs two seeds or more).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import stats as scipy_stats
from statsmodels.stats.multitest import multipletests

from ..statistics import mcnemar_exact

ALPHA = 0.05
NOT_DISTINGUISHABLE = "not distinguishable"
TEST_NAME = "exact stratified McNemar (discordant patches summed over seeds), Holm-corrected"


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


def t_interval(
    differences: list[float] | np.ndarray, confidence: float = 0.95, bounds: tuple[float, float] = (-1.0, 1.0)
) -> tuple[float, float] | None:
    """Student t interval for the mean of per-seed values (differences of accuracies by default), cut to
    ``bounds`` (what the quantity can be); None with fewer than two values."""
    differences = np.asarray(differences, dtype=float)
    n = len(differences)
    if n < 2:
        return None
    mean = float(differences.mean())
    half = float(scipy_stats.t.ppf(0.5 + confidence / 2, n - 1) * differences.std(ddof=1) / math.sqrt(n))
    return max(bounds[0], mean - half), min(bounds[1], mean + half)


def stratified_mcnemar(discordant: list[tuple[int, int]]) -> dict[str, Any]:
    """Exact McNemar on discordant counts summed over strata: ``[(b_k, c_k), ...]`` -> b, c, p."""
    b = int(sum(pair[0] for pair in discordant))
    c = int(sum(pair[1] for pair in discordant))
    p_value = 1.0 if b + c == 0 else float(scipy_stats.binomtest(b, b + c, 0.5).pvalue)
    return {"b": b, "c": c, "p_value": p_value, "strata": len(discordant)}


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values (statsmodels' ``multipletests``)."""
    if not p_values:
        return []
    return multipletests(p_values, method="holm")[1].tolist()


def compare_paired(
    per_seed: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]], confidence: float = 0.95
) -> dict[str, Any]:
    """An arm against the reference: ``{seed: (y_true, arm's predictions, reference's predictions)}``
    on the same patches. Per-seed accuracy differences and McNemar counts, the effect with its t
    interval, and the stratified exact McNemar (p before Holm)."""
    seeds = sorted(per_seed)
    rows = []
    for seed in seeds:
        y_true, arm, reference = (np.asarray(values) for values in per_seed[seed])
        test = mcnemar_exact(y_true, arm, reference)
        difference = float(np.mean(arm == y_true) - np.mean(reference == y_true))
        rows.append(
            {"seed": seed, "difference": difference, "b": test["b"], "c": test["c"], "p_value": test["p_value"]}
        )
    differences = [row["difference"] for row in rows]
    pooled = stratified_mcnemar([(row["b"], row["c"]) for row in rows])
    return {
        "seeds": seeds,
        "per_seed": rows,
        "effect": float(np.mean(differences)) if rows else math.nan,
        "interval": t_interval(differences, confidence),
        "confidence": confidence,
        **{key: pooled[key] for key in ("b", "c", "p_value")},
    }


def add_holm(comparisons: dict[str, dict[str, Any]], alpha: float = ALPHA) -> dict[str, dict[str, Any]]:
    """Holm-correct the comparisons' p-values together and give each its verdict (in place; returned)."""
    names = [name for name, result in comparisons.items() if result["seeds"]]
    adjusted = holm([comparisons[name]["p_value"] for name in names])
    for name, p_holm in zip(names, adjusted):
        result = comparisons[name]
        result["p_holm"] = p_holm
        result["family_size"] = len(names)
        result["alpha"] = alpha
        if p_holm < alpha and result["b"] != result["c"]:
            result["verdict"] = "better" if result["b"] > result["c"] else "worse"
        else:
            result["verdict"] = NOT_DISTINGUISHABLE
    return comparisons
