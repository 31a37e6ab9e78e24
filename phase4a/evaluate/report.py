"""``comparison_report.md``: the run's results in the shape of the Week 4 report, derived from numbers.

Every sentence that states a result is computed from the context (metrics, statistics, diagnosis,
history, config); nothing is fixed text about outcomes. No timestamp: the run manifest records when.
"""

from __future__ import annotations

from typing import Any

from ..data.sources import describe_scaling, original_source
from .comparison import model_label


def _pct(value: float) -> str:
    return f"{100 * value:.2f}%"


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _signed(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:+.{digits}f}"


def _interval(bounds: list[float] | None, percent: bool = True) -> str:
    if bounds is None:
        return "-"
    low, high = bounds
    return f"{_pct(low)} to {_pct(high)}" if percent else f"{low:.3f} to {high:.3f}"


def summary_lines(ctx: dict[str, Any]) -> list[str]:
    metrics, comparison = ctx["metrics"], ctx["comparison"]
    baseline = comparison["baseline"]
    stats = ctx["statistics"]
    lines = [
        f"Validation accuracy is **{_pct(metrics['accuracy'])}** on {metrics['samples']} patches "
        f"(95% interval {_interval(stats['accuracy']['ci95'])}), against {_pct(baseline['accuracy'])} for "
        f"{baseline['name']}: {comparison['accuracy_change_pp']:+.2f} percentage points.",
        f"Against the baseline the result is **{stats['comparison']['verdict']}** "
        f"({stats['comparison']['kind']} comparison; details under Results).",
    ]
    collapsed = metrics["single_class_prediction"]
    if collapsed:
        lines.append(
            f"**The model predicts a single class, {collapsed}, for every validation patch** (model collapse): "
            "its accuracy equals that class's share of the validation set."
        )
    else:
        spread = ", ".join(f"{name} {count}" for name, count in metrics["predicted_class_counts"].items())
        lines.append(
            f"The model predicts {sum(1 for c in metrics['predicted_class_counts'].values() if c)} classes ({spread})."
        )
    if ctx["config"]["weights"] == "none":
        lines.append(
            "Weights were randomly initialised (`--weights none`), so no ImageNet features were transferred; "
            "this run checks the pipeline, not transfer learning."
        )
    if synthetic_data(ctx):
        lines.append("Data are synthetic (mock): the numbers validate the code, not the science.")
    return lines


def synthetic_data(ctx: dict[str, Any]) -> bool:
    """Mock data, directly or through an npz copy of them (the ablation sweep's shared data)."""
    return original_source(ctx["data_summary"]["source"]) == "mock"


def configuration_table(ctx: dict[str, Any]) -> str:
    config, arch = ctx["config"], ctx["architecture"]
    layers = arch["backbone_layers"]
    params = arch["model_parameters"]
    rows = [
        ["Preset", config["preset"]],
        [
            "Model" if model_label(config) == "SimpleCNN" else "Backbone",
            f"{model_label(config)} ({layers['layers']} layers, {arch['backbone_parameters']['total']:,} parameters)",
        ],
        ["Weights", ctx["inspection"]["weights"]["kind"]],
        [
            "Frozen layers",
            f"{layers['frozen']} / {layers['layers']} ({100 * layers['frozen'] / layers['layers']:.1f}%)",
        ],
        ["Trainable parameters", f"{params['trainable']:,} of {params['total']:,}"],
        [
            "Input",
            f"{tuple(arch['input_shape'])} upsampled x{config['upsample_factor']} ({config['upsample_interpolation']})",
        ],
        ["Band adapter", config["band_adapter"]],
        ["Learning rate", f"{config['learning_rate']:g}"],
        ["Batch size", config["batch_size"]],
        ["Epochs (max)", config["epochs"]],
        ["Optimizer / loss", "Adam / sparse categorical cross-entropy"],
        [
            "Callbacks",
            f"ModelCheckpoint ({config['checkpoint_monitor']}), EarlyStopping ({config['monitor']}, patience "
            f"{config['early_stopping_patience']}), ReduceLROnPlateau (x{config['reduce_lr_factor']:g} after "
            f"{config['reduce_lr_patience']})",
        ],
        ["Seed", config["seed"]],
        [
            "Collapse monitor",
            f"flat = val_loss within {config['flat_tolerance']:g} for {config['flat_epochs']} epochs; stop on "
            f"collapse: {config['collapse_stop']}, on flat loss: {config['flat_stop']}",
        ],
        ["Target accuracy", _pct(config["target_accuracy"])],
    ]
    return _table(["Parameter", "Value"], rows)


def data_section(ctx: dict[str, Any]) -> list[str]:
    summary = ctx["data_summary"]
    names = summary["class_names"]
    rows = [[name] + [summary["splits"][split]["class_counts"][name] for split in summary["splits"]] for name in names]
    rows.append(["**Total**"] + [summary["splits"][split]["samples"] for split in summary["splits"]])
    lines = [_table(["Class", *summary["splits"].keys()], rows), "", f"Reflectance: {describe_scaling(summary)}."]
    if "polygons_in_both_splits" in summary:
        lines.append(f"Polygons shared by both splits: {summary['polygons_in_both_splits']}.")
    return lines


def results_section(ctx: dict[str, Any]) -> list[str]:
    metrics, comparison, stats = ctx["metrics"], ctx["comparison"], ctx["statistics"]
    baseline = comparison["baseline"]
    headline = _table(
        ["Metric", baseline["name"], "95% interval", "Phase 4A", "95% interval", "Change"],
        [
            [
                "Accuracy",
                _pct(baseline["accuracy"]),
                _interval(stats["baseline_accuracy_ci95"]),
                f"**{_pct(metrics['accuracy'])}**",
                _interval(stats["accuracy"]["ci95"]),
                f"{comparison['accuracy_change_pp']:+.2f} pp",
            ],
            ["Precision (macro)", "-", "-", f"{metrics['precision_macro']:.3f}", "-", "-"],
            ["Recall (macro)", "-", "-", f"{metrics['recall_macro']:.3f}", "-", "-"],
            ["F1 (macro)", "-", "-", f"{metrics['f1_macro']:.3f}", _interval(stats["f1_macro"]["ci95"], False), "-"],
        ],
    )
    verdict = stats["comparison"]
    test = (
        "Paired comparison on the same validation patches (exact McNemar)."
        if verdict["kind"] == "paired"
        else "Unpaired comparison: the baseline's predictions on these patches are not available "
        "(set train_baseline to train the SimpleCNN on this split), so only its published accuracy can be used."
    )
    per_class_rows = []
    for name, values in metrics["per_class"].items():
        change = comparison["per_class"][name]
        reference = change["baseline_f1"]
        per_class_rows.append(
            [
                name,
                f"{values['precision']:.3f}",
                f"{values['recall']:.3f}",
                f"{values['f1']:.3f}",
                values["support"],
                "-" if reference is None else f"{reference:.3f}",
                _signed(change["f1_change"]),
            ]
        )
    per_class = _table(["Class", "Precision", "Recall", "F1", "Support", "Week 3 F1", "Change"], per_class_rows)
    return [
        "### Headline metrics",
        "",
        headline,
        "",
        f"Verdict: **{verdict['verdict']}**. {test} {verdict['text']}",
        "",
        "### Per-class performance",
        "",
        per_class,
    ]


def confusion_section(ctx: dict[str, Any]) -> list[str]:
    names = ctx["metrics"]["per_class"].keys()
    short = [name[:2] for name in names]
    width = max(len(name) for name in names)
    lines = ["```", " " * (width + 9) + "Predicted", " " * (width + 9) + "  ".join(f"{s:>3}" for s in short)]
    for position, (name, row) in enumerate(zip(names, ctx["metrics"]["confusion_matrix"])):
        label = "Actual " if position == 0 else " " * 7
        lines.append(f"{label}{name:>{width}}  " + "  ".join(f"{count:>3}" for count in row))
    lines.append("```")
    return [*lines, "", "![Confusion matrix](confusion_matrix.png)"]


def training_section(ctx: dict[str, Any]) -> list[str]:
    history = ctx["history"]
    epochs = history["epochs"]

    def span(key: str, fmt: str) -> str:
        values = [entry[key] for entry in epochs if key in entry]
        return f"{format(min(values), fmt)} to {format(max(values), fmt)}" if values else "-"

    stop = "stopped early" if history["stopped_early"] else "ran every epoch"
    return [
        f"- Epochs: {history['epochs_run']} of {history['max_epochs']} ({stop}); weights kept from epoch "
        f"{history['restored_best_epoch']} (best {history['monitor']}).",
        f"- Training time: {history['training_seconds']:.1f} s"
        + (" (resumed after an interruption)" if history.get("resumed") else "")
        + ".",
        f"- Validation loss {span('val_loss', '.3f')}; validation accuracy {span('val_accuracy', '.2%')}.",
        f"- Training loss {span('loss', '.3f')}; training accuracy {span('accuracy', '.2%')}.",
        f"- Learning rate {span('learning_rate', '.2g')}.",
        *diagnosis_lines(ctx),
        "",
        "![Training curves](training_curves.png)",
    ]


def diagnosis_lines(ctx: dict[str, Any]) -> list[str]:
    diagnosis = ctx["diagnosis"]
    if not diagnosis.get("recorded", True):
        return ["- Collapse diagnosis: not recorded (this history predates the collapse monitor; re-run step 04)."]
    per_epoch = ", ".join(str(int(entry["val_distinct_classes"])) for entry in ctx["history"]["epochs"])
    lines = [
        f"- Classes predicted on the validation set, per epoch: {per_epoch}.",
        f"- Collapse diagnosis: {diagnosis['summary']}",
    ]
    stop = ctx["history"].get("collapse_stop_reason")
    if stop:
        lines.append(f"- Training was stopped by the collapse monitor: {stop}.")
    lines += [f"  - *{c['name']}*: {c['evidence']} Suggested: {c['suggestion']}" for c in diagnosis["causes"]]
    return lines


def findings(ctx: dict[str, Any]) -> list[str]:
    """Numbered findings, each computed from this run's numbers."""
    items = [_interval_finding(ctx), _target_finding(ctx), _collapse_or_spread_finding(ctx)]
    items += [_per_class_finding(ctx), _training_finding(ctx), _caveat_finding(ctx)]
    return [f"{number}. {text}" for number, text in enumerate((item for item in items if item), start=1)]


def _interval_finding(ctx: dict[str, Any]) -> str:
    stats = ctx["statistics"]
    low, high = stats["accuracy"]["ci95"]
    verdict = stats["comparison"]
    return (
        f"With {stats['accuracy']['total']} validation patches the 95% interval on accuracy is "
        f"{100 * (high - low):.1f} percentage points wide ({_interval([low, high])}); against the baseline the "
        f"result is **{verdict['verdict']}** ({verdict['kind']} comparison)."
    )


def _target_finding(ctx: dict[str, Any]) -> str:
    stats, target = ctx["statistics"], ctx["config"]["target_accuracy"]
    needed = stats["comparison"].get("samples_needed_for_target")
    size = f" Telling them apart would take about {needed} validation patches." if needed else ""
    if stats["target_in_ci95"]:
        return (
            f"The {_pct(target)} target lies inside the interval: this run can neither confirm nor rule it out.{size}"
        )
    side = "below" if stats["accuracy"]["ci95"][1] < target else "above"
    return f"The whole interval lies {side} the {_pct(target)} target.{size}"


def _collapse_or_spread_finding(ctx: dict[str, Any]) -> str:
    metrics, diagnosis = ctx["metrics"], ctx["diagnosis"]
    collapsed = metrics["single_class_prediction"]
    if not collapsed:
        counts = metrics["predicted_class_counts"]
        top = max(counts, key=counts.get)
        return (
            f"Predictions use {sum(1 for c in counts.values() if c)} of {len(counts)} classes; the most predicted, "
            f"{top}, takes {counts[top] / metrics['samples']:.0%} of them."
        )
    since = diagnosis["collapse"].get("epoch")
    start = f", from epoch {since} of training on" if since else ""
    return (
        f"The model collapsed to a single class, {collapsed}{start}: its accuracy is exactly {collapsed}'s share "
        f"of the validation labels ({metrics['per_class'][collapsed]['support']}/{metrics['samples']})."
    )


def _per_class_finding(ctx: dict[str, Any]) -> str:
    changes = {name: entry["f1_change"] for name, entry in ctx["comparison"]["per_class"].items()}
    known = {name: change for name, change in changes.items() if change is not None}
    f1 = {name: entry["f1"] for name, entry in ctx["metrics"]["per_class"].items()}
    best, worst = max(f1, key=f1.get), min(f1, key=f1.get)
    text = f"Best class {best} (F1 {f1[best]:.3f}), worst {worst} (F1 {f1[worst]:.3f})"
    if known:
        largest = min(known, key=known.get)
        text += f"; the largest change from Week 3 is {largest} ({known[largest]:+.3f})"
    zero = [name for name, value in f1.items() if value == 0]
    if zero:
        text += f"; F1 is 0 for {', '.join(zero)}"
    return text + "."


def _training_finding(ctx: dict[str, Any]) -> str:
    history = ctx["history"]
    text = (
        f"Training ran {history['epochs_run']} of {history['max_epochs']} epochs in "
        f"{history['training_seconds']:.1f} s and kept the weights of epoch {history['restored_best_epoch']}"
    )
    flat = ctx["diagnosis"]["flat_loss"]
    if flat["flag"]:
        text += f"; {flat['text'][0].lower()}{flat['text'][1:-1]}"
    causes = ctx["diagnosis"]["causes"]
    if causes:
        text += "; likely causes from the configuration: " + ", ".join(cause["name"] for cause in causes)
    return text + "."


def _caveat_finding(ctx: dict[str, Any]) -> str | None:
    caveats = []
    if ctx["config"]["weights"] == "none":
        caveats.append("random-initialised weights (nothing was transferred)")
    if synthetic_data(ctx):
        caveats.append("synthetic data")
    if not caveats:
        return None
    return "These numbers come from " + " and ".join(caveats) + ": they check the pipeline, not the science."


def environment_section(ctx: dict[str, Any]) -> list[str]:
    env = ctx["environment"]
    packages = ", ".join(f"{name} {version}" for name, version in env["packages"].items())
    machine = env["machine"]
    return [
        f"- Code version: {env['code_version']}",
        f"- Packages: {packages}",
        f"- Hardware: {machine['platform']} ({machine['processor']}), {machine['cpu_count']} CPUs",
        f"- Seed: {ctx['config']['seed']}; deterministic kernels: {ctx['config']['deterministic']}",
        f"- Config hash: {ctx['config_hash']}; data hash (data.npz sha256): {ctx['data_hash'][:16]}",
    ]


def build_report(ctx: dict[str, Any]) -> str:
    """The whole Markdown report from a context of metrics, history, config and provenance."""
    sections = [
        "# Phase 4A transfer learning: comparison report",
        "",
        f"Generated from run directory `{ctx['run_dir']}` (when: see `run_manifest.json`).",
        "",
        "## Summary",
        "",
        *summary_lines(ctx),
        "",
        "## Configuration",
        "",
        configuration_table(ctx),
        "",
        "## Data",
        "",
        *data_section(ctx),
        "",
        "## Results vs baseline",
        "",
        *results_section(ctx),
        "",
        "## Confusion matrix",
        "",
        *confusion_section(ctx),
        "",
        "## Training behaviour",
        "",
        *training_section(ctx),
        "",
        "## Findings",
        "",
        *findings(ctx),
        "",
        "## Environment (appendix)",
        "",
        *environment_section(ctx),
        "",
    ]
    return "\n".join(sections)
