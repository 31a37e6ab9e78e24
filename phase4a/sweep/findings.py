"""What a sweep found: tables, figures and ``findings.md``, every sentence derived from the numbers.

- :func:`analyse`: per-arm spreads over seeds, the paired comparisons with the reference (Holm-corrected
  together, :mod:`phase4a.sweep.stats`) and the learning curve.
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


@dataclass
class Analysis:
    summary: pd.DataFrame  # one row per arm (full training split)
    comparisons: dict[str, dict[str, Any]]  # arm -> stats.compare_paired + Holm
    curve: pd.DataFrame  # one row per (arm, fraction)


# ---------------------------------------------------------------- analysis


def _percent(value: float | None, digits: int = 1) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.{digits}f}%"


def _pp(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:+.1f} pp"


def arm_order(table: pd.DataFrame) -> list[str]:
    arms = list(dict.fromkeys(table["arm"])) if len(table) else []
    return [REFERENCE, *[arm for arm in arms if arm != REFERENCE]] if REFERENCE in arms else arms


def summarise_arms(table: pd.DataFrame) -> pd.DataFrame:
    """Per arm on the full training split: seeds, accuracy and macro-F1 spreads, collapses, split."""
    full = table[table["fraction"] == 1.0] if len(table) else table
    rows = []
    for arm in arm_order(full):
        mine = full[full["arm"] == arm].sort_values("seed")
        accuracy, f1 = stats.spread(mine["accuracy"]), stats.spread(mine["f1_macro"])
        rows.append(
            {
                "arm": arm,
                "kind": mine["kind"].iloc[0],
                "seeds": accuracy["n"],
                "split": "/".join(sorted(set(mine["split"]))),
                "samples": int(mine["samples"].iloc[0]),
                **{f"accuracy_{key}": value for key, value in accuracy.items() if key != "n"},
                **{f"f1_{key}": value for key, value in f1.items() if key != "n"},
                "collapsed_seeds": int(mine["collapsed"].sum()),
            }
        )
    return pd.DataFrame(rows)


def compare_with_reference(results: Results, alpha: float = stats.ALPHA) -> dict[str, dict[str, Any]]:
    """Every other arm against the reference, on the seeds both finished and the same patches."""
    table = results.table
    full = table[table["fraction"] == 1.0] if len(table) else table
    comparisons = {}
    for arm in arm_order(full):
        if arm == REFERENCE or REFERENCE not in set(full["arm"]):
            continue
        per_seed = {}
        for seed in sorted(set(full[full["arm"] == arm]["seed"])):
            mine = results.predictions.get((arm, seed, 1.0))
            reference = results.predictions.get((REFERENCE, seed, 1.0))
            if mine is None or reference is None or not np.array_equal(mine[0], reference[0]):
                continue  # not the same patches: no paired test for this seed
            per_seed[int(seed)] = (mine[0], mine[1], reference[1])
        comparisons[arm] = stats.compare_paired(per_seed)
    return stats.add_holm(comparisons, alpha)


def learning_curve_table(table: pd.DataFrame, arms: list[str]) -> pd.DataFrame:
    """Accuracy against training-set size: per (arm, fraction), the mean over seeds and its t interval."""
    rows = []
    if not len(table):
        return pd.DataFrame(rows)
    fractions = sorted(set(table["fraction"]))
    if len(fractions) < 2:
        return pd.DataFrame(rows)
    for arm in [*arms, *FORESTS]:
        for fraction in fractions:
            mine = table[(table["arm"] == arm) & (table["fraction"] == fraction)]
            if not len(mine):
                continue
            accuracy = stats.spread(mine["accuracy"])
            interval = stats.t_interval(mine["accuracy"], bounds=(0.0, 1.0))
            rows.append(
                {
                    "arm": arm,
                    "fraction": fraction,
                    "train_patches": float(mine["train_patches"].mean()),
                    "seeds": accuracy["n"],
                    "accuracy_mean": accuracy["mean"],
                    "accuracy_std": accuracy["std"],
                    "accuracy_low": None if interval is None else interval[0],
                    "accuracy_high": None if interval is None else interval[1],
                }
            )
    return pd.DataFrame(rows)


def analyse(results: Results, curve_arms: list[str], alpha: float = stats.ALPHA) -> Analysis:
    return Analysis(
        summarise_arms(results.table),
        compare_with_reference(results, alpha),
        learning_curve_table(results.table, curve_arms),
    )


# ---------------------------------------------------------------- tables


def _spread_cell(row: pd.Series, prefix: str, percent: bool) -> str:
    mean, std, low, high = (row[f"{prefix}_{key}"] for key in ("mean", "std", "min", "max"))
    if percent:
        std_text = "-" if std is None or pd.isna(std) else f"{100 * std:.1f} pp"
        return f"{100 * mean:.1f}% ({std_text}; {100 * low:.1f} to {100 * high:.1f}%)"
    std_text = "-" if std is None or pd.isna(std) else f"{std:.3f}"
    return f"{mean:.3f} ({std_text}; {low:.3f} to {high:.3f})"


def accuracy_table(analysis: Analysis, context: Context) -> str:
    header = (
        "| arm | changes from report | seeds | accuracy: mean (std; range) | macro F1: mean (std; range) "
        "| collapsed seeds | vs report (Holm) |\n|---|---|---|---|---|---|---|"
    )
    rows = []
    for row in analysis.summary.itertuples():
        series = analysis.summary.loc[row.Index]
        comparison = analysis.comparisons.get(row.arm)
        verdict = "reference" if row.arm == REFERENCE else (comparison or {}).get("verdict", "-")
        rows.append(
            f"| {row.arm} | {context.changes.get(row.arm, '-')} | {row.seeds} "
            f"| {_spread_cell(series, 'accuracy', True)} | {_spread_cell(series, 'f1', False)} "
            f"| {row.collapsed_seeds}/{row.seeds} | {verdict} |"
        )
    return "\n".join([header, *rows])


def effects_table(analysis: Analysis, context: Context) -> str:
    header = (
        "| arm | changes from report | seeds paired | effect on accuracy (95% t interval) | discordant patches "
        "(arm only / report only) | p | Holm p | verdict |\n|---|---|---|---|---|---|---|---|"
    )
    rows = []
    for arm, result in analysis.comparisons.items():
        if not result["seeds"]:
            rows.append(f"| {arm} | {context.changes.get(arm, '-')} | 0 | - | - | - | - | no paired seed |")
            continue
        interval = result["interval"]
        interval_text = "-" if interval is None else f"{100 * interval[0]:+.1f} to {100 * interval[1]:+.1f} pp"
        rows.append(
            f"| {arm} | {context.changes.get(arm, '-')} | {len(result['seeds'])} | {_pp(result['effect'])} "
            f"({interval_text}) | {result['b']} / {result['c']} | {result['p_value']:.3g} | {result['p_holm']:.3g} "
            f"| {result['verdict']} |"
        )
    return "\n".join([header, *rows])


def curve_markdown(curve: pd.DataFrame) -> str:
    header = (
        "| arm | training fraction | training patches | seeds | accuracy: mean | 95% t interval |\n"
        "|---|---|---|---|---|---|"
    )
    rows = []
    for row in curve.itertuples():
        interval = (
            "-"
            if row.accuracy_low is None or pd.isna(row.accuracy_low)
            else (f"{100 * row.accuracy_low:.1f} to {100 * row.accuracy_high:.1f}%")
        )
        rows.append(
            f"| {row.arm} | {fraction_label(row.fraction)} | {row.train_patches:.0f} | {row.seeds} "
            f"| {_percent(row.accuracy_mean)} | {interval} |"
        )
    return "\n".join([header, *rows])


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
    lines = [_split_sentence(table)]
    seeds = sorted(set(table["seed"]))
    split_text = (
        "its own split (data made per seed)" if context.vary_split else f"one split (made with seed {seeds[0]})"
    )
    lines.append(f"- {len(seeds)} seed(s), {', '.join(map(str, seeds))}, each on {split_text}.")
    best = summary.loc[summary["accuracy_mean"].idxmax()]
    std = (
        ""
        if best["accuracy_std"] is None or pd.isna(best["accuracy_std"])
        else f", std {100 * best['accuracy_std']:.1f} pp"
    )
    lines.append(
        f"- Highest mean accuracy: **{best['arm']}**, {_percent(best['accuracy_mean'])} over {best['seeds']} seed(s)"
        f"{std}, range {_percent(best['accuracy_min'])} to {_percent(best['accuracy_max'])}."
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


def _split_sentence(table: pd.DataFrame) -> str:
    full = table[table["fraction"] == 1.0]
    splits = set(full["split"])
    samples = int(full["samples"].iloc[0])
    if splits == {"test"}:
        return (
            f"- Accuracies are on the test split ({samples} patches), which no run used for training, early "
            "stopping or choosing its checkpoint."
        )
    if splits == {"validation"}:
        return (
            f"- Accuracies are on the validation split ({samples} patches): there is no test split, so they are "
            "optimistic (validation also chose each run's epoch and checkpoint)."
        )
    return "- Accuracies are on the test split where a run was evaluated on one, else on validation (see the CSV)."


def _comparison_sentences(analysis: Analysis, context: Context) -> list[str]:
    comparisons = {arm: result for arm, result in analysis.comparisons.items() if result["seeds"]}
    if not comparisons:
        return ["- No arm could be compared with report on the same patches (report did not finish)."]
    family = len(comparisons)
    lines = [
        f"- Paired test: {stats.TEST_NAME} across the {family} comparison(s) with report, alpha "
        f"{stats.ALPHA:g}; effects are mean per-seed differences in accuracy with 95% t intervals over seeds."
    ]
    one_seed = all(len(result["seeds"]) < 2 for result in comparisons.values())
    for arm, result in comparisons.items():
        if result["verdict"] == stats.NOT_DISTINGUISHABLE:
            continue
        interval = result["interval"]
        interval_text = (
            "" if interval is None else f", 95% interval {100 * interval[0]:+.1f} to {100 * interval[1]:+.1f} pp"
        )
        if interval is not None and interval[0] <= 0 <= interval[1]:
            interval_text += (
                " (that interval over seeds includes 0: the seed-to-seed spread is wide for this few seeds)"
            )
        lines.append(
            f"- **{arm}** ({context.changes.get(arm, '-')}) is {result['verdict']} than report: "
            f"{_pp(result['effect'])} mean accuracy over {len(result['seeds'])} seed(s){interval_text}; "
            f"{result['b']} patches only {arm} got right, {result['c']} only report, Holm p = {result['p_holm']:.3g}."
        )
    same = [arm for arm, result in comparisons.items() if result["verdict"] == stats.NOT_DISTINGUISHABLE]
    if same:
        lines.append(
            "- Not distinguishable from report (Holm-corrected p >= 0.05): "
            + ", ".join(
                f"{arm} ({_pp(comparisons[arm]['effect'])}, Holm p {comparisons[arm]['p_holm']:.2g})" for arm in same
            )
            + "."
        )
    if one_seed:
        lines.append(
            "- One seed only: no interval across seeds; run with --seeds 5 or more before drawing conclusions."
        )
    return lines


def _curve_sentences(curve: pd.DataFrame) -> list[str]:
    if not len(curve):
        return []
    lines = []
    for arm in dict.fromkeys(curve["arm"]):
        mine = curve[curve["arm"] == arm].sort_values("fraction")
        first, last = mine.iloc[0], mine.iloc[-1]
        lines.append(
            f"- Learning curve, {arm}: {_percent(first['accuracy_mean'])} with {first['train_patches']:.0f} training "
            f"patches, {_percent(last['accuracy_mean'])} with {last['train_patches']:.0f} (means over seeds)."
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
        f"({_percent(top['accuracy_mean'])}); the curve's intervals are in the table (no test is made on them)."
    )
    return lines


def _limits(context: Context) -> list[str]:
    lines = []
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
    colours = {"better": "tab:green", "worse": "tab:red", stats.NOT_DISTINGUISHABLE: "tab:gray"}
    for position, arm in enumerate(arms):
        result = comparisons[arm]
        effect = 100 * result["effect"]
        interval = result["interval"]
        error = None if interval is None else [[effect - 100 * interval[0]], [100 * interval[1] - effect]]
        axis.errorbar(effect, position, xerr=error, fmt="o", capsize=4, color=colours[result["verdict"]])
    axis.axvline(0, color="black", linewidth=1)
    axis.set_yticks(range(len(arms)), arms)
    axis.invert_yaxis()
    axis.set_xlabel("accuracy minus report's, pp (mean over seeds, 95% t interval)")
    axis.set_title("Effects against report (green/red: distinguishable after Holm)")
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
    axis.set_ylabel("accuracy (mean over seeds, 95% t interval)")
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
    lines = [
        f"- Code version: `{context.code_version}`.",
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
        f"Test: {stats.TEST_NAME}; per-seed counts and p-values are in {RESULTS_CSV} and below.",
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
            "Nested, grouped, seeded subsamples of the training split (phase4a/sweep/learning_curve.py); every "
            "class keeps at least one group; validation and test unchanged.",
            "",
            curve_markdown(analysis.curve),
            "",
            f"![learning curve]({figure_prefix}{CURVE_PNG})",
            "",
        ]
    body += ["## Arms", "", arms_markdown(context), "", "## Per-seed comparisons", "", per_seed_markdown(analysis), ""]
    body += ["## Provenance", "", *provenance_lines(results, context), ""]
    return "\n".join(body)


def per_seed_markdown(analysis: Analysis) -> str:
    rows = [
        "| arm | seed | accuracy minus report's | only arm right | only report right | exact McNemar p |",
        "|---|---|---|---|---|---|",
    ]
    for arm, result in analysis.comparisons.items():
        for row in result["per_seed"]:
            rows.append(
                f"| {arm} | {row['seed']} | {_pp(row['difference'])} | {row['b']} | {row['c']} | {row['p_value']:.3g} |"
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


def copy_findings(sweep_dir: Path, out: Path, results: Results, analysis: Analysis, context: Context) -> Path:
    """findings.md as ``out`` (e.g. docs/findings/mock.md), its figures and CSV in ``<out stem>/`` beside it."""
    out = Path(out)
    if out.suffix != ".md":
        out = out.with_suffix(".md")
    figures = out.parent / out.stem
    figures.mkdir(parents=True, exist_ok=True)
    for name in (*FIGURES, RESULTS_CSV):
        if (sweep_dir / name).is_file():
            shutil.copyfile(sweep_dir / name, figures / name)
    write_text(out, findings_markdown(results, analysis, context, figure_prefix=f"{out.stem}/"))
    return out
