"""Metrics of the evaluated split, the comparison with each baseline, and what the sample size can show.

Every comparison of one report ends in one of the verdict strings below, decided in one place
(:func:`decide`):

- better / worse only on the test split, and only where the Holm-corrected p (Holm 1979, across the
  verdicts of the report) is below alpha; validation chose the epoch (early stopping restores the
  best ``monitor`` epoch, the checkpoint keeps the best ``checkpoint_monitor`` one, both val_*
  metrics), so on validation the numbers are shown and called optimistic, with no verdict;
- "equivalent within +-5 pp" only through the equivalence test (Schuirmann 1987's two one-sided tests:
  the 90% interval of the difference inside the margin), never from a large p alone;
- uninformative when both arms predict one class for every patch.

Where the evaluated split has patch groups (polygons, EuroSAT tile quadrants), intervals and tests come
from the cluster bootstrap, which resamples whole groups (Owen 2007): near-duplicate patches of one
group count once. Without groups patches are independent: Wilson intervals and exact McNemar tests.
Every interval and test names its groups beside its patches; the bootstraps are seeded with the run's seed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import f1_score
from statsmodels.stats.multitest import multipletests

from .. import statistics
from .published import PUBLISHED_BASELINE

ALPHA = 0.05
# How verdicts name the forests of evaluate/classical.py (which builds on this module's summaries).
FOREST_NAMES = {
    "forest_flattened": "the random forest on flattened patches",
    "forest_band_statistics": "the random forest on band statistics",
}
BETTER, WORSE, EQUIVALENT = statistics.BETTER, statistics.WORSE, statistics.EQUIVALENT
NOT_DISTINGUISHABLE, OPTIMISTIC, UNINFORMATIVE = (
    statistics.NOT_DISTINGUISHABLE,
    statistics.OPTIMISTIC,
    statistics.UNINFORMATIVE,
)
VERDICTS = (BETTER, WORSE, EQUIVALENT, NOT_DISTINGUISHABLE, OPTIMISTIC, UNINFORMATIVE)
# The only split no choice of the training saw (see the module docstring): verdicts are given on it alone.
VERDICT_SPLIT = "test"
# Macro F1 intervals keep the resample count they always had: they describe, no verdict rests on them.
F1_RESAMPLES = 2000


def compare_with_baseline(metrics: dict[str, Any], baseline: dict[str, Any]) -> dict[str, Any]:
    """Differences to the baseline: accuracy in percentage points, F1 per class where it is known."""
    per_class = {}
    for name, values in metrics["per_class"].items():
        reference = baseline["per_class_f1"].get(name)
        per_class[name] = {
            "baseline_f1": reference,
            "f1_change": None if reference is None else values["f1"] - reference,
        }
    return {
        "baseline": baseline,
        "accuracy_change_pp": 100 * (metrics["accuracy"] - baseline["accuracy"]),
        "per_class": per_class,
    }


def model_label(config: dict[str, Any]) -> str:
    """The main model's name: its backbone, or SimpleCNN when model_type is simplecnn."""
    return "SimpleCNN" if config.get("model_type", "transfer") == "simplecnn" else config["backbone"]


# The report's Week 3 data: the only source whose patches the published Week 3 figures were measured on.
PUBLISHED_DATA_SOURCE = "week3"
# ... and the split of it they were measured on (the report's 75 validation patches).
PUBLISHED_SPLIT = "validation"
IN_RUN_BASELINE_NAME = "the SimpleCNN trained on this split"


def published_label(baseline: dict[str, Any], with_accuracy: bool = True) -> str:
    """How verdicts name the Week 3 figures: 'the published Week 3 SimpleCNN (86.67%)', or the
    week3_metrics.json a Week 3 directory carries."""
    if baseline.get("source") == PUBLISHED_BASELINE["source"]:
        label = "the published Week 3 SimpleCNN"
    else:
        label = f"the {baseline['name']} of week3_metrics.json"
    return f"{label} ({100 * baseline['accuracy']:.2f}%)" if with_accuracy else label


def published_applies(source: str | None, split: str = PUBLISHED_SPLIT) -> bool:
    """The published figures describe only the report's own Week 3 validation patches."""
    return source == PUBLISHED_DATA_SOURCE and split == PUBLISHED_SPLIT


def _pct(value: float) -> str:
    return f"{100 * value:.2f}%"


def _checked_groups(groups: np.ndarray | None, patches: int) -> np.ndarray | None:
    if groups is None:
        return None
    groups = np.asarray(groups)
    if groups.shape != (patches,):
        raise ValueError(f"{len(groups)} group ids for {patches} patches; give one id per patch")
    return groups


def groups_text(entry: dict[str, Any]) -> str:
    """'75 patches in 12 groups' or '75 ungrouped patches' (no groups in the data: each independent)."""
    if entry.get("grouped"):
        return f"{entry['patches']} patches in {entry['groups']} groups"
    return f"{entry['patches']} ungrouped patches"


def accuracy_summary(correct: np.ndarray, groups: np.ndarray | None, seed: int) -> dict[str, Any]:
    """Accuracy of a model on the evaluated patches with its 95% interval: the cluster bootstrap over
    groups where there are groups (Wilson alongside, as description), else Wilson."""
    correct = np.asarray(correct, dtype=bool)
    groups = _checked_groups(groups, len(correct))
    hits, total = int(correct.sum()), len(correct)
    wilson = list(statistics.wilson_interval(hits, total))
    if groups is None:
        interval, method, n_groups = wilson, "Wilson (patches independent)", total
    else:
        cluster = statistics.cluster_accuracy(correct, groups, seed=seed)
        interval, n_groups = list(cluster["interval"]), cluster["groups"]
        method = f"cluster bootstrap over groups (Owen 2007), {statistics.BOOTSTRAP_RESAMPLES} resamples, seed {seed}"
    return {
        "value": hits / total,
        "correct": hits,
        "total": total,
        "ci95": interval,
        "method": method,
        "grouped": groups is not None,
        "groups": int(n_groups),
        "patches": total,
        "wilson_ci95": wilson,
    }


def _grouped_macro_f1(
    y_true: np.ndarray, y_pred: np.ndarray, groups: np.ndarray, n_classes: int, draws: np.ndarray
) -> np.ndarray:
    """Macro F1 of each resample, ``draws`` (resamples x groups) saying how often each group is drawn:
    per group and class the true positives and the true and predicted counts, summed over the drawn
    groups (F1 = 2 TP / (true + predicted), 0 where a class is absent from both, as sklearn's
    zero_division=0). Groups are numbered in sorted order of their ids."""
    _, inverse = np.unique(groups, return_inverse=True)
    n_groups = int(inverse.max()) + 1
    hits, counts = np.zeros((n_groups, n_classes)), np.zeros((n_groups, n_classes))
    right = y_true == y_pred
    np.add.at(hits, (inverse[right], y_true[right]), 1)
    np.add.at(counts, (inverse, y_true), 1)
    np.add.at(counts, (inverse, y_pred), 1)
    positives, denominator = draws @ hits, draws @ counts
    per_class = np.divide(2 * positives, denominator, out=np.zeros(denominator.shape), where=denominator > 0)
    return per_class.mean(axis=1)


def _cluster_macro_f1(
    y_true: np.ndarray, y_pred: np.ndarray, groups: np.ndarray, n_classes: int, seed: int
) -> tuple[float, float, float]:
    """Macro F1 with a seeded percentile interval from resampling whole groups (F1_RESAMPLES draws)."""
    n_groups = len(np.unique(groups))
    draws = np.random.default_rng(seed).multinomial(n_groups, np.full(n_groups, 1 / n_groups), size=F1_RESAMPLES)
    resampled = _grouped_macro_f1(y_true, y_pred, groups, n_classes, draws)
    point = f1_score(y_true, y_pred, labels=list(range(n_classes)), average="macro", zero_division=0)
    low, high = np.quantile(resampled, [0.025, 0.975])
    return float(point), float(low), float(high)


def f1_summary(
    y_true: np.ndarray, y_pred: np.ndarray, n_classes: int, groups: np.ndarray | None, seed: int
) -> dict[str, Any]:
    """Macro F1 with a seeded percentile bootstrap interval, over groups where there are groups."""
    y_true, y_pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    groups = _checked_groups(groups, len(y_true))
    if groups is None:
        value, low, high = statistics.bootstrap_macro_f1(y_true, y_pred, n_classes, F1_RESAMPLES, seed=seed)
        method, n_groups = f"percentile bootstrap over patches, {F1_RESAMPLES} resamples", len(y_true)
    else:
        value, low, high = _cluster_macro_f1(y_true, y_pred, groups, n_classes, seed)
        method, n_groups = f"percentile bootstrap over groups, {F1_RESAMPLES} resamples", len(np.unique(groups))
    return {
        "value": value,
        "ci95": [low, high],
        "method": method,
        "grouped": groups is not None,
        "groups": int(n_groups),
        "patches": len(y_true),
    }


def _model_summary(
    y_true: np.ndarray, y_pred: np.ndarray, n_classes: int, seed: int, groups: np.ndarray | None
) -> dict[str, Any]:
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    classes = np.unique(y_pred)
    return {
        "accuracy": accuracy_summary(y_true == y_pred, groups, seed),
        "f1_macro": f1_summary(y_true, y_pred, n_classes, groups, seed),
        "predicted_classes": int(len(classes)),
        "single_class_prediction": int(classes[0]) if len(classes) == 1 else None,
    }


def _no_discordance_bound(units: int, alpha: float) -> float:
    """Largest share of discordant units still compatible, at one-sided level ``alpha``, with seeing none
    in ``units`` (the exact Clopper-Pearson bound 1 - alpha^(1/n)); it bounds the accuracy difference."""
    return 1 - alpha ** (1 / units)


def paired_comparison(
    y_true: np.ndarray,
    pred_model: np.ndarray,
    pred_baseline: np.ndarray,
    *,
    against: str,
    name: str,
    model_name: str,
    split: str,
    groups: np.ndarray | None,
    seed: int,
    alpha: float = ALPHA,
) -> dict[str, Any]:
    """The numbers of one paired comparison on the same patches; :func:`decide` gives its verdict.

    ``effect`` (model minus baseline accuracy) with its 95% interval and the 90% interval of the
    equivalence test always come from the bootstrap (over groups, else over patches); the test of "no
    difference" is the bootstrap's where there are groups and the exact McNemar test where patches are
    independent (exact beats a bootstrap there). The McNemar counts are kept as description either way.
    """
    y_true, pred_model, pred_baseline = (np.asarray(values) for values in (y_true, pred_model, pred_baseline))
    groups = _checked_groups(groups, len(y_true))
    mcnemar = statistics.mcnemar_exact(y_true, pred_model, pred_baseline)
    difference = statistics.cluster_paired_difference(
        pred_model == y_true, pred_baseline == y_true, groups, confidence=1 - alpha, seed=seed
    )
    equivalence, equivalent = list(difference["equivalence_interval"]), difference["equivalent"]
    if mcnemar["b"] + mcnemar["c"] == 0:
        # Identical correctness everywhere: every resample is 0, a point, not an interval. The exact bound
        # on the share of units that could differ bounds the difference instead (about 3/n).
        bound = _no_discordance_bound(difference["groups"], alpha)
        equivalence, equivalent = [-bound, bound], bound < difference["margin"]
    grouped = groups is not None
    return {
        "against": against,
        "name": name,
        "subject": model_name,
        "kind": "paired",
        "split": split,
        "model_accuracy": float(np.mean(pred_model == y_true)),
        "baseline_accuracy": float(np.mean(pred_baseline == y_true)),
        "effect": difference["effect"],
        "interval": list(difference["interval"]),
        "confidence": difference["confidence"],
        "test": "cluster bootstrap over groups (Owen 2007)" if grouped else "exact McNemar",
        "p_value": difference["p_value"] if grouped else mcnemar["p_value"],
        "equivalence_interval": equivalence,
        "margin": difference["margin"],
        "equivalent": bool(equivalent),
        "grouped": grouped,
        "groups": difference["groups"],
        "patches": difference["patches"],
        "resamples": statistics.BOOTSTRAP_RESAMPLES,
        "seed": seed,
        "both_single_class": bool(len(np.unique(pred_model)) == 1 and len(np.unique(pred_baseline)) == 1),
        "mcnemar": mcnemar,
        "alpha": alpha,
    }


def _holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values (statsmodels' multipletests, as the sweep's statistics)."""
    return multipletests(p_values, method="holm")[1].tolist() if p_values else []


def in_family(entry: dict[str, Any]) -> bool:
    """Whether a comparison can get a better / worse verdict, and so counts in the Holm family."""
    return entry["kind"] == "paired" and entry["split"] == VERDICT_SPLIT and not entry["both_single_class"]


def decide(entries: list[dict[str, Any]], alpha: float = ALPHA) -> dict[str, Any]:
    """Holm-correct the paired comparisons of one report together and give every entry its verdict and
    text (in place); returns the family: its method, size, alpha and members."""
    family = [entry for entry in entries if in_family(entry)]
    for entry, adjusted in zip(family, _holm([entry["p_value"] for entry in family])):
        entry["p_holm"] = adjusted
    for entry in entries:
        if entry["kind"] != "paired":
            continue
        entry["family_size"] = len(family)
        if not in_family(entry):
            entry["p_holm"] = None
        entry["verdict"] = _paired_verdict(entry, alpha)
        entry["text"] = _paired_text(entry)
    return {
        "method": "Holm (1979) step-down, statsmodels multipletests",
        "size": len(family),
        "alpha": alpha,
        "members": [f"{entry['subject']} against {entry['name']}" for entry in family],
    }


def _paired_verdict(entry: dict[str, Any], alpha: float) -> str:
    if entry["both_single_class"]:
        return UNINFORMATIVE
    if entry["split"] != VERDICT_SPLIT:
        return OPTIMISTIC
    if entry["p_holm"] < alpha and entry["effect"] != 0:
        return BETTER if entry["effect"] > 0 else WORSE
    return EQUIVALENT if entry["equivalent"] else NOT_DISTINGUISHABLE


def _paired_text(entry: dict[str, Any]) -> str:
    subject, name, test = entry["subject"], entry["name"], entry["mcnemar"]
    low, high = entry["equivalence_interval"]
    inside = "inside" if entry["equivalent"] else "not inside"
    how = "whole groups resampled" if entry["grouped"] else "patches resampled"
    text = (
        f"On the same {groups_text(entry)} of the {entry['split']} split, {subject} ({_pct(entry['model_accuracy'])}) "
        f"minus {name} ({_pct(entry['baseline_accuracy'])}) is {100 * entry['effect']:+.2f} pp, "
        f"{entry['confidence']:.0%} interval {100 * entry['interval'][0]:+.2f} to {100 * entry['interval'][1]:+.2f} pp "
        f"(bootstrap, {how}, {entry['resamples']} resamples, seed {entry['seed']}); {entry['test']} "
        f"p = {entry['p_value']:.3g}"
    )
    if entry.get("p_holm") is not None:
        text += f", Holm-adjusted p = {entry['p_holm']:.3g} across the {entry['family_size']} verdicts of this report"
    text += (
        f" (alpha {entry['alpha']:g}); the {1 - 2 * entry['alpha']:.0%} interval {100 * low:+.2f} to "
        f"{100 * high:+.2f} pp is {inside} the ±{100 * entry['margin']:g} pp equivalence margin. "
        f"{test['b']} patch{'' if test['b'] == 1 else 'es'} only {subject} gets right, {test['c']} only {name}"
    )
    text += "." if not entry["grouped"] else f" (exact McNemar p = {test['p_value']:.3g} if patches were independent)."
    verdict = entry["verdict"]
    if verdict == UNINFORMATIVE:
        text += " Both predict a single class for every patch: the comparison says nothing about what either learned."
    elif verdict == OPTIMISTIC:
        text += (
            f" These {entry['split']} patches also chose the epoch whose weights were kept (early stopping and the "
            "checkpoint), so the numbers are optimistic and no verdict is given; a test split gives one."
        )
    return text


def _published_entry(
    model: dict[str, Any], baseline: dict[str, Any], label: str, model_name: str, split: str
) -> dict[str, Any]:
    """The published figure on its own patches: two independent binomials (its predictions are not
    known, so the pairing cannot be used), described; these validation patches chose the epoch, so
    no verdict."""
    total = baseline.get("validation_samples")
    entry = {
        "against": "published",
        "name": label,
        "subject": model_name,
        "kind": "unpaired",
        "split": split,
        "verdict": OPTIMISTIC,
        "model_accuracy": model["value"],
        "baseline_accuracy": baseline["accuracy"],
        "baseline_total": total,
        "patches": model["total"],
    }
    counts = f"{model['correct']}/{model['total']}"
    scored = f"{model_name[:1].upper()}{model_name[1:]} scores {_pct(model['value'])} ({counts})"
    optimistic = (
        f" These {split} patches also chose the model's epoch, so its accuracy is optimistic and no verdict is given."
    )
    if not total:
        entry["text"] = (
            f"{scored}; {label} gives no sample count (validation_samples), so not even a description of the "
            f"difference is possible.{optimistic}"
        )
        return entry
    published_correct = round(baseline["accuracy"] * total)
    test = statistics.two_binomial_test(model["correct"], model["total"], published_correct, total)
    entry.update(
        {
            "baseline_correct": published_correct,
            "effect": test["difference"],
            "interval": list(test["interval"]),
            "p_value": test["p_value"],
            "test": "two independent binomials: score test, Newcombe interval (Newcombe 1998)",
        }
    )
    entry["text"] = (
        f"{scored} and {label} {published_correct}/{total} on the same validation patches; without Week 3's "
        f"predictions the two are compared as independent binomials (patches independent): difference "
        f"{100 * test['difference']:+.2f} pp, 95% Newcombe interval {100 * test['interval'][0]:+.2f} to "
        f"{100 * test['interval'][1]:+.2f} pp, score-test p = {test['p_value']:.3g}.{optimistic}"
    )
    return entry


def accuracy_statistics(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    n_classes: int,
    baseline: dict[str, Any],
    config: dict[str, Any],
    baseline_pred: np.ndarray | None = None,
    classical_pred: dict[str, np.ndarray] | None = None,
    source: str | None = None,
    split: str = "validation",
    groups: np.ndarray | None = None,
) -> dict[str, Any]:
    """What the evaluated split can show: intervals, one comparison per baseline (each named), the target.

    Comparisons, in this order, each only where it is fair:
    - against the published Week 3 figures, only on the patches they were measured on (the report's
      Week 3 validation split): two binomials, described, optimistic (no verdict); for any other data
      or split ``published_baseline.text`` says where the figure was measured and gives no verdict;
    - against the SimpleCNN trained on this split (``baseline_pred``), paired on the same patches;
    - against each classical baseline (``classical_pred``, evaluate/classical.py), paired.
    Verdicts come from :func:`decide` over these comparisons (step 05 decides again with the
    ensemble's, so its Holm family is the whole report's). ``comparison`` is the first of them (None
    when there is none). ``groups``: the evaluated patches' group ids, or None. The bootstraps are
    seeded with the run's seed. ``source``: the data's original source (default config data_source).
    """
    source = config["data_source"] if source is None else source
    seed = config["seed"]
    summary = _model_summary(y_true, y_pred, n_classes, seed, groups)
    low, high = summary["accuracy"]["ci95"]
    model_name = f"the {config['preset']}-preset {model_label(config)} model"
    label = published_label(baseline)
    entries: list[dict[str, Any]] = []
    same_patches = published_applies(source, split)
    if same_patches:
        entries.append(_published_entry(summary["accuracy"], baseline, label, model_name, split))
        note = None
    else:
        samples = baseline.get("validation_samples")
        where = f"the report's {samples} Week 3 validation patches" if samples else "the report's Week 3 patches"
        these = f"these {source} patches" if source != PUBLISHED_DATA_SOURCE else f"these {split} patches"
        note = (
            f"{label[:1].upper()}{label[1:]} was measured on other patches ({where}), not on {these}, "
            "so no verdict is given against it."
        )
    in_run = None
    common = {"model_name": model_name, "split": split, "groups": groups, "seed": seed}
    if baseline_pred is not None:
        entries.append(
            paired_comparison(
                y_true, y_pred, baseline_pred, against="in_run_simplecnn", name=IN_RUN_BASELINE_NAME, **common
            )
        )
        in_run = {"name": IN_RUN_BASELINE_NAME, **_model_summary(y_true, baseline_pred, n_classes, seed, groups)}
    for key, pred in (classical_pred or {}).items():
        entries.append(paired_comparison(y_true, y_pred, pred, against=key, name=FOREST_NAMES[key], **common))
    family = decide(entries)
    target = statistics.target_statement(
        summary["accuracy"]["value"], config["target_accuracy"], len(y_true), split=split
    )
    if groups is not None:
        # The count assumes independent patches; patches of one group carry less than one patch each.
        target["target_text"] += (
            f" That count is of independent patches; these {len(y_true)} fall in "
            f"{summary['accuracy']['groups']} groups, so grouped patches would need more."
        )
    published_total = baseline.get("validation_samples")
    return {
        "split": split,
        "accuracy": {key: value for key, value in summary["accuracy"].items() if key != "value"},
        "f1_macro": summary["f1_macro"],
        "predicted_classes": summary["predicted_classes"],
        "baseline_accuracy_ci95": _published_interval(baseline),
        "published_baseline": {
            "name": label,
            "accuracy": baseline["accuracy"],
            "correct": round(baseline["accuracy"] * published_total) if published_total else None,
            "total": published_total,
            "same_patches": same_patches,
            "text": note,
        },
        "in_run_baseline": in_run,
        "target_in_ci95": low <= config["target_accuracy"] <= high,
        "target": target,
        "verdicts": entries,
        "family": family,
        "comparison": entries[0] if entries else None,
    }


def record_classical_verdicts(classical_baselines: dict[str, Any], entries: list[dict[str, Any]]) -> None:
    """Give each forest's summary (classical_baselines) the report's decided verdict against it, so
    evaluation_metrics.json carries one verdict per comparison (in place)."""
    for entry in entries:
        summary = classical_baselines.get(entry["against"])
        if summary is not None:
            summary["deep_model_verdict"] = entry["verdict"]
            summary["deep_model_significantly_below"] = entry["verdict"] == WORSE


def _published_interval(baseline: dict[str, Any]) -> list[float] | None:
    """The published accuracy's own Wilson interval, when its sample count is known (75 in the report)."""
    total = baseline.get("validation_samples")
    if not total:
        return None
    return list(statistics.wilson_interval(round(baseline["accuracy"] * total), total))
