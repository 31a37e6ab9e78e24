"""``comparison_report.md``: the run's results in the shape of the Week 4 report, derived from numbers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def _pct(value: float) -> str:
    return f"{100 * value:.2f}%"


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _signed(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:+.{digits}f}"


def summary_lines(ctx: dict[str, Any]) -> list[str]:
    metrics, comparison = ctx["metrics"], ctx["comparison"]
    baseline = comparison["baseline"]
    lines = [
        f"Validation accuracy is **{_pct(metrics['accuracy'])}** on {metrics['samples']} patches, against "
        f"{_pct(baseline['accuracy'])} for {baseline['name']}: {comparison['accuracy_change_pp']:+.2f} "
        "percentage points."
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
    if ctx["config"]["data_source"] == "mock":
        lines.append("Data are synthetic (mock): the numbers validate the code, not the science.")
    return lines


def configuration_table(ctx: dict[str, Any]) -> str:
    config, arch = ctx["config"], ctx["architecture"]
    layers = arch["backbone_layers"]
    params = arch["model_parameters"]
    rows = [
        ["Preset", config["preset"]],
        [
            "Backbone",
            f"{config['backbone']} ({layers['layers']} layers, {arch['backbone_parameters']['total']:,} parameters)",
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
    ]
    return _table(["Parameter", "Value"], rows)


def data_section(ctx: dict[str, Any]) -> list[str]:
    summary = ctx["data_summary"]
    names = summary["class_names"]
    rows = [[name] + [summary["splits"][split]["class_counts"][name] for split in summary["splits"]] for name in names]
    rows.append(["**Total**"] + [summary["splits"][split]["samples"] for split in summary["splits"]])
    scaling = summary["scaling"]
    note = (
        "already in [0, 1], not rescaled"
        if scaling["already_scaled"]
        else f"scaled as (value + {scaling['offset']:g}) / {scaling['divisor']:g}"
    )
    lines = [_table(["Class", *summary["splits"].keys()], rows), "", f"Reflectance: {note}."]
    if "polygons_in_both_splits" in summary:
        lines.append(f"Polygons shared by both splits: {summary['polygons_in_both_splits']}.")
    return lines


def results_section(ctx: dict[str, Any]) -> list[str]:
    metrics, comparison = ctx["metrics"], ctx["comparison"]
    baseline = comparison["baseline"]
    headline = _table(
        ["Metric", baseline["name"], "Phase 4A", "Change"],
        [
            [
                "Accuracy",
                _pct(baseline["accuracy"]),
                f"**{_pct(metrics['accuracy'])}**",
                f"{comparison['accuracy_change_pp']:+.2f} pp",
            ],
            ["Precision (macro)", "-", f"{metrics['precision_macro']:.3f}", "-"],
            ["Recall (macro)", "-", f"{metrics['recall_macro']:.3f}", "-"],
            ["F1 (macro)", "-", f"{metrics['f1_macro']:.3f}", "-"],
        ],
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
    return ["### Headline metrics", "", headline, "", "### Per-class performance", "", per_class]


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
        "",
        "![Training curves](training_curves.png)",
    ]


def environment_section(ctx: dict[str, Any]) -> list[str]:
    env = ctx["environment"]
    packages = ", ".join(f"{name} {version}" for name, version in env["packages"].items())
    machine = env["machine"]
    return [
        f"- Code version: {env['code_version']}",
        f"- Packages: {packages}",
        f"- Machine: {machine['platform']}, {machine['cpu_count']} CPUs",
        f"- Seed: {ctx['config']['seed']}; deterministic kernels: {ctx['config']['deterministic']}",
        f"- Config hash: {ctx['config_hash']}; data hash (data.npz sha256): {ctx['data_hash'][:16]}",
    ]


def build_report(ctx: dict[str, Any]) -> str:
    """The whole Markdown report from a context of metrics, history, config and provenance."""
    created = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    sections = [
        "# Phase 4A transfer learning: comparison report",
        "",
        f"Generated {created} from run directory `{ctx['run_dir']}`.",
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
        "## Results",
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
        "## Environment",
        "",
        *environment_section(ctx),
        "",
    ]
    return "\n".join(sections)
