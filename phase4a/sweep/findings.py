"""What a sweep found: tables, figures and ``findings.md``, every sentence derived from the numbers.

- :func:`analyse`: per-arm accuracies over seeds with cluster intervals, the paired comparisons with the
  reference (seed x test group inference, Holm-corrected together, :mod:`phase4a.sweep.stats`), the
  learning curve and the reference's diagnosis hypotheses against the arms that test them.
- :func:`write_outputs`: ``ablation_results.csv`` (one row per run and seed, forests included),
  ``ablation_results.md``, the figures, and ``findings.md`` (the tables, figure links, the summary,
  seeds, config and data hashes, code version and the sweep's wall time).
- :func:`copy_findings`: ``findings.md`` and its figures to a committed location (``--findings-out``).
"""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import statistics
from ..evaluate.diagnosis import hypothesis_status
from ..io import save_figure, write_text
from . import stats
from .forests import FORESTS
from .plan import REFERENCE
from .runs import Results, RunKey, fraction_label

RESULTS_CSV = "ablation_results.csv"
RESULTS_MD = "ablation_results.md"
FINDINGS_MD = "findings.md"
ACCURACY_PNG = "ablation_accuracy.png"
EFFECTS_PNG = "ablation_effects.png"
CURVE_PNG = "learning_curve.png"
FIGURES = (ACCURACY_PNG, EFFECTS_PNG, CURVE_PNG)


@dataclass
class Context:
    """What the findings say about how the sweep was run (besides the numbers)."""

    command: str
    seeds: list[int]
    vary_split: bool
    data_source: str
    weights: str
    epochs: int
    overrides: list[str]
    descriptions: dict[str, str]  # arm -> one line
    changes: dict[str, str]  # arm -> its changes from report, "key=value, ..."
    curve_arms: list[str] = field(default_factory=list)
    same_as: dict[str, str] = field(default_factory=dict)  # factorial cell -> the arm it equals
    failures: dict[RunKey, str] = field(default_factory=dict)
    code_version: str = ""
    wall_seconds: float = 0.0
    findings_only: bool = False  # written from runs made earlier (--findings-only), none run now
    # Step 01's warnings about the data that qualify every accuracy (e.g. tiles that feed two splits).
    data_caveats: list[str] = field(default_factory=list)


@dataclass
class Analysis:
    summary: pd.DataFrame  # one row per arm (full training split)
    comparisons: dict[str, dict[str, Any]]  # arm -> stats.compare_paired + Holm
    curve: pd.DataFrame  # one row per (arm, fraction)
    hypotheses: pd.DataFrame = field(default_factory=pd.DataFrame)  # one row per hypothesis of the reference
    reference: str = REFERENCE  # the arm every comparison is against


# ---------------------------------------------------------------- analysis


def percent_text(value: float | None, digits: int = 1) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.{digits}f}%"


def signed_pp(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:+.1f} pp"


def arm_order(table: pd.DataFrame, reference: str = REFERENCE) -> list[str]:
    arms = list(dict.fromkeys(table["arm"])) if len(table) else []
    return [reference, *[arm for arm in arms if arm != reference]] if reference in arms else arms


def _bootstrap_seed(table: pd.DataFrame) -> int:
    """The sweep's first seed seeds every bootstrap, so the findings are reproducible."""
    return int(table["seed"].min()) if len(table) else 42


def arm_accuracy(results: Results, arm: str, seeds: list[int], fraction: float = 1.0) -> dict[str, Any]:
    """An arm's mean accuracy over its seeds with the two-way cluster bootstrap interval (seeds x test
    groups; the seeds alone where each seed tested its own split)."""
    pairs = [
        results.predictions[(arm, seed, fraction)] for seed in seeds if (arm, seed, fraction) in results.predictions
    ]
    bootstrap_seed = _bootstrap_seed(results.table)
    if not pairs:
        return {"accuracy": math.nan, "interval": None, "groups": None}
    if all(np.array_equal(truth, pairs[0][0]) for truth, _ in pairs):
        correct = np.stack([predicted == truth for truth, predicted in pairs])
        groups = results.groups.get((seeds[0], fraction))
        pooled = statistics.cluster_accuracy(correct, groups, seed=bootstrap_seed, strata=pairs[0][0])
        return {**pooled, "groups": None if groups is None else pooled["groups"]}
    per_seed = np.array([[np.mean(predicted == truth)] for truth, predicted in pairs])
    return {**statistics.cluster_accuracy(per_seed, seed=bootstrap_seed), "groups": None}


def summarise_arms(results: Results, reference: str = REFERENCE) -> pd.DataFrame:
    """Per arm on the full training split (the reference first): seeds, accuracy (with its cluster
    interval) and macro-F1 spreads over seeds, collapses, split."""
    table = results.table
    full = table[table["fraction"] == 1.0] if len(table) else table
    rows = []
    for arm in arm_order(full, reference):
        mine = full[full["arm"] == arm].sort_values("seed")
        accuracy, f1 = stats.spread(mine["accuracy"]), stats.spread(mine["f1_macro"])
        pooled = arm_accuracy(results, arm, [int(seed) for seed in mine["seed"]])
        rows.append(
            {
                "arm": arm,
                "kind": mine["kind"].iloc[0],
                "seeds": accuracy["n"],
                "split": "/".join(sorted(set(mine["split"]))),
                "samples": int(mine["samples"].iloc[0]),
                "groups": pooled.get("groups"),
                **{f"accuracy_{key}": value for key, value in accuracy.items() if key != "n"},
                "accuracy_low": None if pooled["interval"] is None else pooled["interval"][0],
                "accuracy_high": None if pooled["interval"] is None else pooled["interval"][1],
                **{f"f1_{key}": value for key, value in f1.items() if key != "n"},
                "collapsed_seeds": int(mine["collapsed"].sum()),
            }
        )
    return pd.DataFrame(rows)


def compare_with_reference(
    results: Results, alpha: float = stats.ALPHA, reference_arm: str = REFERENCE
) -> dict[str, dict[str, Any]]:
    """Every other arm against the reference (``reference_arm``, report by default), on the reference's
    seeds and the same patches. A forest, fitted once per split, pairs with every seed of the reference
    that used that split."""
    table = results.table
    full = table[table["fraction"] == 1.0] if len(table) else table
    comparisons = {}
    reference_seeds = sorted(set(full[full["arm"] == reference_arm]["seed"])) if len(full) else []
    for arm in arm_order(full, reference_arm):
        if arm == reference_arm or not reference_seeds:
            continue
        per_seed = {}
        for seed in reference_seeds:
            mine = results.predictions.get((arm, seed, 1.0))
            reference = results.predictions.get((reference_arm, seed, 1.0))
            if mine is None or reference is None or not np.array_equal(mine[0], reference[0]):
                continue  # not the same patches: no paired test for this seed
            per_seed[int(seed)] = (mine[0], mine[1], reference[1])
        groups = results.groups.get((min(per_seed), 1.0)) if per_seed else None
        comparisons[arm] = stats.compare_paired(per_seed, groups, seed=_bootstrap_seed(table))
    return stats.add_holm(comparisons, alpha)


def learning_curve_table(results: Results, arms: list[str]) -> pd.DataFrame:
    """Accuracy against training-set size: per (arm, fraction), the realised share of the training split
    and its class mix, the mean over seeds and its two-way cluster bootstrap interval."""
    table = results.table
    rows = []
    if not len(table):
        return pd.DataFrame(rows)
    fractions = sorted(set(table["fraction"]))
    if len(fractions) < 2:
        return pd.DataFrame(rows)
    full_patches = table[table["fraction"] == 1.0]["train_patches"].mean()
    for arm in [*arms, *FORESTS]:
        for fraction in fractions:
            mine = table[(table["arm"] == arm) & (table["fraction"] == fraction)]
            if not len(mine):
                continue
            accuracy = stats.spread(mine["accuracy"])
            pooled = arm_accuracy(results, arm, [int(seed) for seed in mine["seed"]], fraction)
            counts = np.array([[int(n) for n in str(text).split()] for text in mine["train_class_counts"]])
            mix = counts.mean(axis=0) / counts.mean(axis=0).sum()
            rows.append(
                {
                    "arm": arm,
                    "fraction": fraction,
                    "train_patches": float(mine["train_patches"].mean()),
                    "realised_fraction": float(mine["train_patches"].mean() / full_patches),
                    "class_mix": " / ".join(f"{100 * share:.0f}" for share in mix),
                    "seeds": accuracy["n"],
                    "accuracy_mean": accuracy["mean"],
                    "accuracy_std": accuracy["std"],
                    "accuracy_low": None if pooled["interval"] is None else pooled["interval"][0],
                    "accuracy_high": None if pooled["interval"] is None else pooled["interval"][1],
                }
            )
    return pd.DataFrame(rows)


def hypotheses_table(
    results: Results, comparisons: dict[str, dict[str, Any]], reference: str = REFERENCE
) -> pd.DataFrame:
    """The hypotheses the reference's measured diagnosis named, by seed, each with the verdict of the
    single-factor arm that tests it (where the sweep ran it) and what that verdict says of it."""
    named: dict[str, dict[str, Any]] = {}
    seeds = sorted(seed for arm, seed in results.hypotheses if arm == reference)
    for seed in seeds:
        for hypothesis in results.hypotheses[(reference, seed)]:
            key = hypothesis.get("id") or hypothesis.get("name", "?")
            entry = named.setdefault(key, {"hypothesis": key, "preset": hypothesis.get("preset"), "seeds": 0})
            entry["seeds"] += 1
    rows = []
    for entry in named.values():
        verdict = (comparisons.get(entry["preset"]) or {}).get("verdict") if entry["preset"] else None
        rows.append({**entry, "of_seeds": len(seeds), "verdict": verdict, "status": hypothesis_status(entry, verdict)})
    return pd.DataFrame(rows)


def analyse(
    results: Results, curve_arms: list[str], alpha: float = stats.ALPHA, reference: str = REFERENCE
) -> Analysis:
    """Every table's numbers, with ``reference`` (report by default; SweepPlan.reference) the arm the
    others are compared with."""
    comparisons = compare_with_reference(results, alpha, reference)
    return Analysis(
        summarise_arms(results, reference),
        comparisons,
        learning_curve_table(results, curve_arms),
        hypotheses_table(results, comparisons, reference),
        reference,
    )


# ---------------------------------------------------------------- tables


def _spread_cell(row: pd.Series, prefix: str, percent: bool) -> str:
    """Mean (std; range) over seeds, or a plain statement where there is no spread to show: an interval
    of zero width from copies is not an interval."""
    mean, std, low, high = (row[f"{prefix}_{key}"] for key in ("mean", "std", "min", "max"))
    value = f"{100 * mean:.1f}%" if percent else f"{mean:.3f}"
    if std is None or pd.isna(std):
        return f"{value} ({'one fit' if row['kind'] == 'forest' else 'one seed'})"
    if np.isclose(std, 0):
        return f"{value} (identical in every seed)"
    if percent:
        return f"{value} ({100 * std:.1f} pp; {100 * low:.1f} to {100 * high:.1f}%)"
    return f"{value} ({std:.3f}; {low:.3f} to {high:.3f})"


def interval_text(low: float | None, high: float | None, signed: bool = False) -> str:
    if low is None or high is None or pd.isna(low):
        return "-"
    if np.isclose(low, high):
        return "no variation in any resample"
    if signed:
        return f"{100 * low:+.1f} to {100 * high:+.1f} pp"
    return f"{100 * low:.1f} to {100 * high:.1f}%"


def accuracy_table(analysis: Analysis, context: Context) -> str:
    header = (
        f"| arm | changes from {analysis.reference} | seeds | accuracy: mean over seeds (std; range) | 95% cluster "
        f"interval | macro F1: mean (std; range) | collapsed seeds | vs {analysis.reference} |"
        "\n|---|---|---|---|---|---|---|---|"
    )
    rows = []
    for row in analysis.summary.itertuples():
        series = analysis.summary.loc[row.Index]
        comparison = analysis.comparisons.get(row.arm)
        verdict = "reference" if row.arm == analysis.reference else (comparison or {}).get("verdict", "-")
        rows.append(
            f"| {row.arm} | {context.changes.get(row.arm, '-')} | {row.seeds} "
            f"| {_spread_cell(series, 'accuracy', True)} | {interval_text(row.accuracy_low, row.accuracy_high)} "
            f"| {_spread_cell(series, 'f1', False)} | {row.collapsed_seeds}/{row.seeds} | {verdict} |"
        )
    return "\n".join([header, *rows])


def _p_text(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def effects_table(analysis: Analysis, context: Context) -> str:
    header = (
        f"| arm | changes from {analysis.reference} | seeds paired | test groups | effect on accuracy (95% cluster "
        "interval) "
        "| seeds differing (exact McNemar per seed) | bootstrap p | Holm p | verdict | seeds a verdict would need |"
        "\n|---|---|---|---|---|---|---|---|---|---|"
    )
    rows = []
    for arm, result in analysis.comparisons.items():
        if not result["seeds"]:
            rows.append(f"| {arm} | {context.changes.get(arm, '-')} | 0 | - | - | - | - | - | no paired seed | - |")
            continue
        low, high = result["interval"]
        groups = result["groups"] if result["groups"] is not None else ("none" if result["crossed"] else "per split")
        needed = result["seeds_needed"]
        rows.append(
            f"| {arm} | {context.changes.get(arm, '-')} | {len(result['seeds'])} | {groups} "
            f"| {signed_pp(result['effect'])} ({interval_text(low, high, signed=True)}) "
            f"| {result['seeds_differing']} of {len(result['seeds'])} | {_p_text(result['p_value'])} "
            f"| {_p_text(result.get('p_holm'))} | {result['verdict']} | {'-' if needed is None else needed} |"
        )
    return "\n".join([header, *rows])


def curve_markdown(curve: pd.DataFrame, class_names: list[str]) -> str:
    header = (
        f"| arm | training fraction asked | realised | training patches | class mix, % ({' / '.join(class_names)}) "
        "| seeds | accuracy: mean | 95% cluster interval |\n|---|---|---|---|---|---|---|---|"
    )
    rows = []
    for row in curve.itertuples():
        rows.append(
            f"| {row.arm} | {fraction_label(row.fraction)} | {100 * row.realised_fraction:.0f}% "
            f"| {row.train_patches:.0f} | {row.class_mix} | {row.seeds} | {percent_text(row.accuracy_mean)} "
            f"| {interval_text(row.accuracy_low, row.accuracy_high)} |"
        )
    return "\n".join([header, *rows])


def hypotheses_markdown(hypotheses: pd.DataFrame) -> str:
    rows = [
        "| hypothesis (report's measured diagnosis) | named in seeds | arm that tests it | its verdict | status |",
        "|---|---|---|---|---|",
    ]
    for row in hypotheses.itertuples():
        rows.append(
            f"| {row.hypothesis} | {row.seeds} of {row.of_seeds} | {row.preset or '-'} | {row.verdict or '-'} "
            f"| {row.status} |"
        )
    return "\n".join(rows)


def arms_markdown(context: Context) -> str:
    rows = ["| arm | changes from report | what it is |", "|---|---|---|"]
    for arm, description in context.descriptions.items():
        rows.append(f"| {arm} | {context.changes.get(arm, '-')} | {description} |")
    return "\n".join(rows)


# ---------------------------------------------------------------- summary sentences


def summary_lines(results: Results, analysis: Analysis, context: Context) -> list[str]:
    """What the numbers show, and no more: each claim is a number of this sweep or a limit of it."""
    summary, table = analysis.summary, results.table
    if not len(summary):
        return ["- No run finished."]
    lines = [_split_sentence(table, summary)]
    seeds = sorted(set(table["seed"]))
    split_text = (
        "its own split (data made per seed)" if context.vary_split else f"one split (made with seed {seeds[0]})"
    )
    lines.append(f"- {len(seeds)} seed(s), {', '.join(map(str, seeds))}, each on {split_text}.")
    if not context.vary_split and (summary["kind"] == "forest").any():
        lines.append(
            "- The forests see only the data, so with one split each is fitted once (seeded by the split's seed) "
            "and that one fit is paired with every seed of report."
        )
    best = summary.loc[summary["accuracy_mean"].idxmax()]
    lines.append(
        f"- Highest mean accuracy: **{best['arm']}**, {percent_text(best['accuracy_mean'])} over {best['seeds']} "
        f"seed(s), 95% cluster interval {interval_text(best['accuracy_low'], best['accuracy_high'])}."
    )
    lines += _comparison_sentences(analysis, context)
    collapsed = summary[summary["collapsed_seeds"] > 0]
    if len(collapsed):
        lines.append(
            "- Predicted one class for every evaluation patch (collapse): "
            + ", ".join(f"{row.arm} in {row.collapsed_seeds} of {row.seeds} seeds" for row in collapsed.itertuples())
            + "."
        )
    else:
        lines.append("- No run predicted a single class for every evaluation patch.")
    lines += _hypothesis_sentences(analysis.hypotheses)
    lines += _curve_sentences(analysis.curve)
    unchanged = [arm for arm, change in context.changes.items() if change == "none" and arm != REFERENCE]
    if unchanged:
        lines.append(
            f"- Same configuration as report under this sweep's options (an option of the sweep overrides the "
            f"preset's key): {', '.join(unchanged)}; their differences from report are seed-to-seed noise only."
        )
    for cell, arm in context.same_as.items():
        lines.append(f"- The factorial cell {cell} has {arm}'s configuration: it is reported as {arm}.")
    lines += _limits(context)
    for key, message in context.failures.items():
        lines.append(f"- Failed: {key.arm} seed {key.seed} fraction {fraction_label(key.fraction)}: {message}")
    return lines


def _split_sentence(table: pd.DataFrame, summary: pd.DataFrame) -> str:
    full = table[table["fraction"] == 1.0]
    splits = set(full["split"])
    samples = int(full["samples"].iloc[0])
    groups = summary["groups"].dropna()
    counted = (
        f"{samples} patches in {int(groups.iloc[0])} groups"
        if len(groups)
        else f"{samples} patches; the data have no groups, so each patch counts as its own"
    )
    if splits == {"test"}:
        return (
            f"- Accuracies are on the test split ({counted}), which no run used for training, early "
            "stopping or choosing its checkpoint."
        )
    if splits == {"validation"}:
        return (
            f"- Accuracies are on the validation split ({counted}): there is no test split, so they are "
            "optimistic (validation also chose each run's epoch and checkpoint)."
        )
    return "- Accuracies are on the test split where a run was evaluated on one, else on validation (see the CSV)."


def _comparison_sentences(analysis: Analysis, context: Context) -> list[str]:
    comparisons = {arm: result for arm, result in analysis.comparisons.items() if result["seeds"]}
    if not comparisons:
        return ["- No arm could be compared with report on the same patches (report did not finish)."]
    family = next(iter(comparisons.values()))["family_size"]
    lines = [
        f"- {stats.UNIT_SENTENCE}",
        f"- Paired comparison with report: {stats.TEST_NAME} across the {family} comparison(s) that can reach a "
        f"verdict, alpha {stats.ALPHA:g}. An arm is better or worse only with at least {stats.MIN_SEEDS_FOR_VERDICT} "
        "seeds, a Holm p below alpha and a 95% interval that excludes 0; equivalent only where its 90% interval "
        f"lies within ±{100 * statistics.EQUIVALENCE_MARGIN:.0f} pp (two one-sided tests); per-seed exact McNemar "
        "tests are description only.",
    ]
    for arm, result in comparisons.items():
        if result["verdict"] not in (stats.BETTER, stats.WORSE):
            continue
        low, high = result["interval"]
        lines.append(
            f"- **{arm}** ({context.changes.get(arm, '-')}) is {result['verdict']} than report: "
            f"{signed_pp(result['effect'])} mean accuracy over {len(result['seeds'])} seeds, 95% cluster interval "
            f"{interval_text(low, high, signed=True)}, Holm p = {result['p_holm']:.3g}; it differs (exact McNemar "
            f"p < {stats.ALPHA:g}) in {result['seeds_differing']} of {len(result['seeds'])} seeds."
        )
    for verdict in (stats.EQUIVALENT, stats.UNINFORMATIVE, stats.TOO_FEW_SEEDS):
        arms = [arm for arm, result in comparisons.items() if result["verdict"] == verdict]
        if arms:
            lines.append(f"- {verdict[:1].upper()}{verdict[1:]}: {', '.join(arms)}.")
    same = [arm for arm, result in comparisons.items() if result["verdict"] == stats.NOT_DISTINGUISHABLE]
    if same:
        lines.append(
            "- Not distinguishable from report (which is not the same as no effect): "
            + ", ".join(_undecided(arm, comparisons[arm]) for arm in same)
            + "."
        )
    return lines


def _undecided(arm: str, result: dict[str, Any]) -> str:
    needed = result["seeds_needed"]
    wanted = "" if needed is None else f", about {needed} seeds to decide at the observed spread"
    return (
        f"{arm} ({signed_pp(result['effect'])}, differs in {result['seeds_differing']} of {len(result['seeds'])} seeds"
        f"{wanted})"
    )


def _hypothesis_sentences(hypotheses: pd.DataFrame) -> list[str]:
    if not len(hypotheses):
        return []
    return [
        "- Hypotheses of report's measured diagnosis (consistent with its measurements, not causes it isolated), "
        "each against the arm that changes that one factor: "
        + "; ".join(
            f"{row.hypothesis} (named in {row.seeds} of {row.of_seeds} seeds): {row.status}"
            + (f" ({row.preset}: {row.verdict})" if row.verdict else "")
            for row in hypotheses.itertuples()
        )
        + "."
    ]


def _curve_sentences(curve: pd.DataFrame) -> list[str]:
    if not len(curve):
        return []
    lines = []
    for arm in dict.fromkeys(curve["arm"]):
        mine = curve[curve["arm"] == arm].sort_values("fraction")
        first, last = mine.iloc[0], mine.iloc[-1]
        lines.append(
            f"- Learning curve, {arm}: {percent_text(first['accuracy_mean'])} with "
            f"{first['train_patches']:.0f} training patches, {percent_text(last['accuracy_mean'])} with "
            f"{last['train_patches']:.0f} (means over seeds)."
        )
    sizes = curve.drop_duplicates("fraction").groupby("train_patches")["fraction"].apply(list)
    for size, same in sizes.items():
        if len(same) > 1:
            lines.append(
                f"- Training fractions {', '.join(fraction_label(f) for f in same)} give the same subsample "
                f"({size:.0f} patches): the training split has too few groups per class to cut finer."
            )
    smallest = curve[curve["fraction"] == curve["fraction"].min()]
    top = smallest.loc[smallest["accuracy_mean"].idxmax()]
    lines.append(
        f"- With the fewest training patches ({top['train_patches']:.0f}), the highest mean accuracy is {top['arm']}'s "
        f"({percent_text(top['accuracy_mean'])}); the curve's intervals are in the table (no test is made on them)."
    )
    return lines


def caveat_lines(context: Context) -> list[str]:
    return [f"- Data caveat (step 01): {caveat}." for caveat in context.data_caveats]


def _limits(context: Context) -> list[str]:
    lines = caveat_lines(context)
    if context.data_source == "mock":
        lines.append(
            "- The data are synthetic (data_source mock): these numbers check the pipeline and its statistics, "
            "not how a model classifies real land cover."
        )
    if context.weights == "none":
        lines.append(
            "- Every network started from random weights (weights none): these runs say nothing about ImageNet "
            "transfer, and a BatchNorm layer in inference mode with untouched statistics (mean 0, variance 1) is "
            "the identity. Where the "
            "weights can be downloaded, the same command with --weights imagenet tests the transfer."
        )
    return lines


# ---------------------------------------------------------------- figures


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def accuracy_figure(table: pd.DataFrame, summary: pd.DataFrame):
    plt = _pyplot()
    full = table[table["fraction"] == 1.0]
    arms = list(summary["arm"])
    figure, axis = plt.subplots(figsize=(max(6, 0.8 * len(arms) + 2), 4.5))
    for position, arm in enumerate(arms):
        mine = full[full["arm"] == arm]
        colour = "tab:green" if mine["kind"].iloc[0] == "forest" else "tab:blue"
        jitter = np.linspace(-0.15, 0.15, len(mine)) if len(mine) > 1 else [0.0]
        axis.scatter(position + np.asarray(jitter), mine["accuracy"], s=14, color=colour, alpha=0.6)
        axis.plot([position - 0.3, position + 0.3], [mine["accuracy"].mean()] * 2, color="black", linewidth=2)
    axis.set_xticks(range(len(arms)), arms, rotation=40, ha="right")
    axis.set_ylim(0, 1)
    split = "/".join(sorted(set(full["split"])))
    axis.set_ylabel(f"{split} accuracy (dots: seeds; bar: mean)")
    axis.set_title("Accuracy over seeds (blue: networks, green: forests)")
    figure.tight_layout()
    return figure


def effects_figure(comparisons: dict[str, dict[str, Any]]):
    plt = _pyplot()
    arms = [arm for arm, result in comparisons.items() if result["seeds"]]
    figure, axis = plt.subplots(figsize=(7, max(2.5, 0.45 * len(arms) + 1.5)))
    colours = {stats.BETTER: "tab:green", stats.WORSE: "tab:red", stats.EQUIVALENT: "tab:blue"}
    for position, arm in enumerate(arms):
        result = comparisons[arm]
        effect = 100 * result["effect"]
        low, high = result["interval"]
        error = [[max(effect - 100 * low, 0)], [max(100 * high - effect, 0)]]
        colour = colours.get(result["verdict"], "tab:gray")
        axis.errorbar(effect, position, xerr=error, fmt="o", capsize=4, color=colour)
    axis.axvline(0, color="black", linewidth=1)
    axis.set_yticks(range(len(arms)), arms)
    axis.invert_yaxis()
    axis.set_xlabel("accuracy minus report's, pp (mean over seeds, 95% two-way cluster interval)")
    axis.set_title("Effects against report (green/red: better/worse after Holm; blue: equivalent)")
    figure.tight_layout()
    return figure


def curve_figure(curve: pd.DataFrame):
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(6.5, 4.5))
    for arm in dict.fromkeys(curve["arm"]) if len(curve) else []:
        mine = curve[curve["arm"] == arm].sort_values("train_patches")
        low = mine["accuracy_low"].astype(float).to_numpy()
        high = mine["accuracy_high"].astype(float).to_numpy()
        mean = mine["accuracy_mean"].to_numpy()
        has = ~np.isnan(low)
        error = np.vstack([np.where(has, mean - low, 0), np.where(has, high - mean, 0)])
        style = "--" if arm in FORESTS else "-"
        axis.errorbar(mine["train_patches"], mean, yerr=error, fmt=f"o{style}", capsize=3, label=arm)
    axis.set_xscale("log")
    if len(curve):
        sizes = sorted(set(curve["train_patches"].round()))
        axis.set_xticks(sizes, [f"{size:.0f}" for size in sizes])
        axis.minorticks_off()
    axis.set_ylim(0, 1)
    axis.set_xlabel("training patches (log scale)")
    axis.set_ylabel("accuracy (mean over seeds, 95% cluster interval)")
    axis.set_title("Learning curve: nested, grouped subsamples of the training split")
    if len(curve):
        axis.legend(fontsize=8)
    figure.tight_layout()
    return figure


# ---------------------------------------------------------------- files


def training_share_line(table: pd.DataFrame) -> list[str]:
    """How much of the runs' time was training (their epochs, training_history.json): the rest is data,
    building, evaluation, saving and start-up."""
    if "training_seconds" not in table or "run_seconds" not in table:
        return []
    timed = table.dropna(subset=["training_seconds", "run_seconds"])
    training = timed["training_seconds"].sum()
    if timed.empty or training <= 0:
        return []
    return [
        f"- Training (the runs' epochs) took {training:.0f} s of the {timed['run_seconds'].sum():.0f} s those "
        f"{len(timed)} runs took: the runs' time is {timed['run_seconds'].sum() / training:.2f}x their training."
    ]


def provenance_lines(results: Results, context: Context) -> list[str]:
    table = results.table
    made_by = sorted(set(table["code_version"].dropna())) if "code_version" in table else []
    rendered = "findings written by" if context.findings_only else "runs made and findings written by"
    lines = [
        f"- Code version: {rendered} `{context.code_version}`"
        + (f"; the runs' own code version(s): {', '.join(f'`{v}`' for v in made_by)}." if made_by else "."),
        f"- Command: `{context.command}`.",
        f"- Sweep options given to every run's step 01: `{' '.join(context.overrides) or '(none)'}`; weights "
        f"{context.weights}, at most {context.epochs} epochs, data source {context.data_source}.",
        f"- Wall time of this invocation of the sweep: {context.wall_seconds:.0f} s"
        + (
            f"; the runs' own times, including earlier invocations that this one resumed: "
            f"{table['run_seconds'].sum():.0f} s."
            if "run_seconds" in table and table["run_seconds"].notna().any()
            else "."
        ),
        *training_share_line(table),
    ]
    if context.findings_only:
        lines.append(
            "- Written with --findings-only from the runs already in the sweep directory: the same command "
            "without it makes any missing run, then writes these findings."
        )
    data = table.drop_duplicates(["seed", "fraction", "data_hash"]).sort_values(["fraction", "seed"])
    full = data[data["fraction"] == 1.0]
    lines.append(
        "- Data (data.npz sha256, first 16 hex digits) per seed: "
        + ", ".join(f"{row.seed}: `{row.data_hash[:16]}`" for row in full.itertuples())
        + "."
    )
    networks = table[(table["kind"] == "network") & (table["fraction"] == 1.0)]
    if len(networks):
        lines += ["", "| arm | config hash per seed |", "|---|---|"]
        for arm in arm_order(networks):
            mine = networks[networks["arm"] == arm].sort_values("seed")
            lines.append(
                f"| {arm} | " + ", ".join(f"{row.seed}: `{row.config_hash}`" for row in mine.itertuples()) + " |"
            )
    return lines


def findings_markdown(results: Results, analysis: Analysis, context: Context, figure_prefix: str = "") -> str:
    body = [
        f"# Findings: ablation sweep on {context.data_source} data",
        "",
        "Written by the sweep (`python -m phase4a.sweep.ablation`, phase4a/sweep/findings.py) from its runs; "
        "regenerate it with the command under Provenance rather than editing it.",
        "",
        "## Summary",
        "",
        *summary_lines(results, analysis, context),
        "",
        "## Accuracy over seeds",
        "",
        accuracy_table(analysis, context),
        "",
        f"![accuracy over seeds]({figure_prefix}{ACCURACY_PNG})",
        "",
        "## Effects against report",
        "",
        f"{stats.UNIT_SENTENCE} Test: {stats.TEST_NAME}; a verdict needs at least {stats.MIN_SEEDS_FOR_VERDICT} "
        f"seeds. Per-seed exact McNemar counts and p-values (description only) are in {RESULTS_CSV} and below.",
        "",
        effects_table(analysis, context),
        "",
        f"![effects against report]({figure_prefix}{EFFECTS_PNG})",
        "",
    ]
    if len(analysis.curve):
        body += [
            "## Learning curve",
            "",
            "Nested, grouped, seeded subsamples of the training split (phase4a/sweep/learning_curve.py): each "
            "class keeps about the asked share of its groups (at least one), so the realised share of patches and "
            "the class mix can differ from the asked fraction (both shown); validation and test unchanged. "
            "Intervals: two-way cluster bootstrap over seeds x test groups.",
            "",
            curve_markdown(analysis.curve, results.class_names),
            "",
            f"![learning curve]({figure_prefix}{CURVE_PNG})",
            "",
        ]
    if len(analysis.hypotheses):
        body += [
            "## Hypotheses of the reference's diagnosis",
            "",
            "Step 05's measured diagnosis of each report run names hypotheses consistent with its measurements; "
            "the single-factor arm that changes one of them tests it: only a better verdict supports it.",
            "",
            hypotheses_markdown(analysis.hypotheses),
            "",
        ]
    body += ["## Arms", "", arms_markdown(context), "", "## Per-seed comparisons", "", per_seed_markdown(analysis), ""]
    body += ["## Provenance", "", *provenance_lines(results, context), ""]
    return "\n".join(body)


def per_seed_markdown(analysis: Analysis) -> str:
    rows = [
        "| arm | seed | accuracy minus report's | only arm right | only report right | exact McNemar p (description) |",
        "|---|---|---|---|---|---|",
    ]
    for arm, result in analysis.comparisons.items():
        for row in result["per_seed"]:
            rows.append(
                f"| {arm} | {row['seed']} | {signed_pp(row['difference'])} | {row['b']} | {row['c']} "
                f"| {row['p_value']:.3g} |"
            )
    return "\n".join(rows)


def write_outputs(sweep_dir: Path, results: Results, analysis: Analysis, context: Context) -> None:
    table = results.table
    csv = table.copy()
    for column in ("epochs", "trainable_parameters"):
        if column in csv:
            csv[column] = csv[column].astype("Int64")
    write_text(sweep_dir / RESULTS_CSV, csv.to_csv(index=False, float_format="%.6f"))
    results_md = [
        "# Ablation sweep",
        "",
        accuracy_table(analysis, context),
        "",
        effects_table(analysis, context),
        "",
        "## Summary",
        "",
        *summary_lines(results, analysis, context),
    ]
    write_text(sweep_dir / RESULTS_MD, "\n".join(results_md) + "\n")
    if len(table):
        save_figure(sweep_dir / ACCURACY_PNG, accuracy_figure(table, analysis.summary))
    save_figure(sweep_dir / EFFECTS_PNG, effects_figure(analysis.comparisons))
    if len(analysis.curve):
        save_figure(sweep_dir / CURVE_PNG, curve_figure(analysis.curve))
    write_text(sweep_dir / FINDINGS_MD, findings_markdown(results, analysis, context))


def findings_path(out: Path) -> Path:
    out = Path(out)
    return out if out.suffix == ".md" else out.with_suffix(".md")


def copy_figures(sweep_dir: Path, out: Path, names: list[str]) -> None:
    """The sweep's figures and CSV among ``names`` into ``<out stem>/`` beside the findings ``out``."""
    folder = out.parent / out.stem
    folder.mkdir(parents=True, exist_ok=True)
    # --findings-out SWEEP_DIR.md makes that folder the sweep's own, where they are already.
    if folder.resolve() == Path(sweep_dir).resolve():
        return
    for name in names:
        if (sweep_dir / name).is_file():
            shutil.copyfile(sweep_dir / name, folder / name)


def copy_findings(sweep_dir: Path, out: Path, results: Results, analysis: Analysis, context: Context) -> Path:
    """findings.md as ``out`` (e.g. docs/findings/mock.md), its figures and CSV in ``<out stem>/`` beside it."""
    out = findings_path(out)
    copy_figures(sweep_dir, out, [*FIGURES, RESULTS_CSV])
    write_text(out, findings_markdown(results, analysis, context, figure_prefix=f"{out.stem}/"))
    return out
