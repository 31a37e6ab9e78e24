"""``comparison_report.md``: the run's results in the shape of the Week 4 report, derived from numbers.

Every sentence that states a result is computed from the context (metrics, statistics, diagnosis,
history, config); nothing is fixed text about outcomes. No timestamp: the run manifest records when.
"""

from __future__ import annotations

from typing import Any

from ..config import input_normalisation
from ..data.sources import describe_scaling, original_source
from ..stages import ARTEFACTS, STAGES
from .comparison import WORSE, groups_text, model_label
from .diagnosis import measurement_lines


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


def _sample(accuracy: dict[str, Any], patches: int) -> str:
    """'75 patches in 12 groups', '75 ungrouped patches', or '75 patches' where the record predates groups."""
    if "grouped" not in accuracy:
        return f"{patches} patches"
    return groups_text({**accuracy, "patches": patches})


def split_name(ctx: dict[str, Any]) -> str:
    """The split the headline numbers come from: test when the data have one, else validation."""
    return ctx.get("split") or ctx["statistics"].get("split", "validation")


def published_same_patches(ctx: dict[str, Any]) -> bool:
    """Whether the published Week 3 figures were measured on these patches (the report's Week 3
    validation split); they are then compared, though with no verdict (validation chose the epoch)."""
    return ctx["statistics"].get("published_baseline", {}).get("same_patches", True)


def verdicts(ctx: dict[str, Any]) -> list[dict[str, Any]]:
    stats = ctx["statistics"]
    if "verdicts" in stats:
        return stats["verdicts"]
    return [stats["comparison"]] if stats.get("comparison") else []


def _verdict_name(verdict: dict[str, Any]) -> str:
    return verdict.get("name") or "the baseline"


def forest_warning(ctx: dict[str, Any]) -> str | None:
    """The Summary's warning when, and only when, the deep model is below the flattened-patch forest on
    the same patches: its verdict is *worse* (test split, Holm-corrected), or on validation, where no
    verdict is given, the whole 95% interval of the difference lies below 0. Validation chose the deep
    model's epoch, not the forest's, so there its optimism favours the model: a deficit still stands."""
    forest = next((v for v in verdicts(ctx) if v.get("against") == "forest_flattened"), None)
    if not forest or "effect" not in forest:
        return None
    if not (forest["verdict"] == WORSE or (forest["split"] != "test" and forest["interval"][1] < 0)):
        return None
    p_value = f"{forest['test']} p = {forest['p_value']:.3g}"
    if forest.get("p_holm") is not None:
        p_value += f", Holm-adjusted {forest['p_holm']:.3g}"
    return (
        f"**Warning: the model is significantly below {forest['name']}**: {_pct(forest['model_accuracy'])} against "
        f"{_pct(forest['baseline_accuracy'])} on the same {groups_text(forest)} of the {forest['split']} split "
        f"(difference {100 * forest['effect']:+.2f} pp, 95% interval {100 * forest['interval'][0]:+.2f} to "
        f"{100 * forest['interval'][1]:+.2f} pp; {p_value}). A forest fitted in seconds on the same training "
        "split does better here."
    )


def collapse_warning(ctx: dict[str, Any]) -> list[str]:
    """Warnings when, and only when, a model predicts one class for every evaluated patch."""
    split = split_name(ctx)
    lines = []
    collapsed = ctx["metrics"]["single_class_prediction"]
    if collapsed:
        lines.append(
            f"**The model predicts a single class, {collapsed}, for every {split} patch** (model collapse): "
            f"its accuracy equals that class's share of the {split} set."
        )
    in_run = ctx["statistics"].get("in_run_baseline")
    if in_run and in_run.get("single_class_prediction") is not None:
        names = list(ctx["metrics"]["per_class"])
        lines.append(
            f"**{in_run['name'][:1].upper()}{in_run['name'][1:]} predicts a single class, "
            f"{names[in_run['single_class_prediction']]}, for every {split} patch** (collapse)."
        )
    return lines


def summary_lines(ctx: dict[str, Any]) -> list[str]:
    metrics, comparison = ctx["metrics"], ctx["comparison"]
    baseline = comparison["baseline"]
    stats = ctx["statistics"]
    split = split_name(ctx)
    headline = (
        f"{split[:1].upper()}{split[1:]} accuracy is **{_pct(metrics['accuracy'])}** on "
        f"{_sample(stats['accuracy'], metrics['samples'])} (95% interval {_interval(stats['accuracy']['ci95'])})"
    )
    if published_same_patches(ctx):
        name = stats.get("published_baseline", {}).get("name", baseline["name"])
        headline += f", against {name}: {comparison['accuracy_change_pp']:+.2f} percentage points."
    else:
        headline += "."
    lines = [headline]
    validation = ctx.get("validation")
    if split == "test" and validation:
        lines.append(
            f"Validation accuracy (these patches also chose the epoch, so it is optimistic): "
            f"{_pct(validation['metrics']['accuracy'])} on "
            f"{_sample(validation.get('accuracy', {}), validation['metrics']['samples'])} "
            f"(95% interval {_interval(validation['accuracy_ci95'])})."
        )
    elif split == "validation":
        lines.append(
            "There is no test split: these validation patches also chose the epoch whose weights were kept "
            f"(early stopping on {ctx['config']['monitor']}), so this accuracy is optimistic. A test split "
            "(`--test_fraction`, or X_test/y_test in a Week 3 directory) gives one the model never saw."
        )
    for verdict in verdicts(ctx):
        lines.append(
            f"Against {_verdict_name(verdict)} the result is **{verdict['verdict']}** ({verdict['kind']} comparison)."
        )
    if not published_same_patches(ctx):
        lines.append(stats["published_baseline"]["text"])
    warning = forest_warning(ctx)
    if warning:
        lines.append(warning)
    lines += collapse_warning(ctx)
    if not metrics["single_class_prediction"]:
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
        ["Input normalisation", normalisation_text(ctx)],
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


def normalisation_text(ctx: dict[str, Any]) -> str:
    """The main model's input normalisation, with the per-channel statistics step 03 measured at the stem."""
    record = ctx["architecture"].get("normalisation")
    if not record:
        return input_normalisation(ctx["config"])
    text = record["input_normalisation"]
    if "band_mean" in record:
        text += " (per-band mean and std of the training split, inside the model)"
    stem = record.get("stem")
    if stem:
        mean = ", ".join(f"{round(value, 3) + 0.0:.3g}" for value in stem["mean"])
        std = ", ".join(f"{round(value, 3) + 0.0:.3g}" for value in stem["std"])
        text += f"; at the stem on the training split: mean ({mean}), std ({std})"
    return text


def data_section(ctx: dict[str, Any]) -> list[str]:
    summary = ctx["data_summary"]
    names = summary["class_names"]
    rows = [[name] + [summary["splits"][split]["class_counts"][name] for split in summary["splits"]] for name in names]
    rows.append(["**Total**"] + [summary["splits"][split]["samples"] for split in summary["splits"]])
    lines = [_table(["Class", *summary["splits"].keys()], rows), "", f"Reflectance: {describe_scaling(summary)}."]
    if "polygons_in_both_splits" in summary:
        lines.append(f"Polygons shared by both splits: {summary['polygons_in_both_splits']}.")
    return lines


def _summary_row(name: str, summary: dict[str, Any], verdict: dict[str, Any] | None) -> list[Any]:
    """A table row of a model summarised like the main one (accuracy and macro F1 with intervals)."""
    return [
        name,
        _pct(summary["accuracy"]["value"]),
        _interval(summary["accuracy"]["ci95"]),
        f"{summary['f1_macro']['value']:.3f}",
        _interval(summary["f1_macro"]["ci95"], False),
        _p_cell(verdict),
    ]


def _p_cell(verdict: dict[str, Any] | None) -> str:
    """The table's p of a comparison with the model: its test's p, and the Holm-adjusted one where the
    comparison is in the report's family."""
    if not verdict or verdict.get("p_value") is None:
        return "-"
    cell = f"{verdict['p_value']:.3g}"
    if verdict.get("p_holm") is not None:
        cell += f" (Holm {verdict['p_holm']:.3g})"
    return cell if verdict.get("kind") == "paired" else f"{cell} (two binomials)"


def model_rows(ctx: dict[str, Any]) -> list[list[Any]]:
    """Every model evaluated on these patches, the deep model first, then the published figures where
    they were measured on these patches."""
    metrics, stats = ctx["metrics"], ctx["statistics"]
    rows = [
        [
            f"**{model_label(ctx['config'])} ({ctx['config']['preset']})**",
            f"**{_pct(metrics['accuracy'])}**",
            _interval(stats["accuracy"]["ci95"]),
            f"{metrics['f1_macro']:.3f}",
            _interval(stats["f1_macro"]["ci95"], False),
            "-",
        ]
    ]
    by_name = {verdict.get("against"): verdict for verdict in verdicts(ctx)}
    in_run = stats.get("in_run_baseline")
    if in_run:
        rows.append(_summary_row("SimpleCNN trained on this split", in_run, by_name.get("in_run_simplecnn")))
    ensemble = ctx.get("ensemble")
    if ensemble:
        against_model = next(v for v in ensemble["verdicts"] if v["against"] == "model")
        name = "Ensemble: mean of the model's and the SimpleCNN's probabilities"
        rows.append(_summary_row(name, ensemble, against_model))
    for key, entry in (ctx.get("classical_baselines") or {}).items():
        rows.append(
            [
                entry["name"][4:].capitalize() if entry["name"].startswith("the ") else entry["name"],
                _pct(entry["accuracy"]),
                _interval(entry["ci95"]),
                f"{entry['f1_macro']['value']:.3f}",
                _interval(entry["f1_macro"]["ci95"], False),
                _p_cell(by_name.get(key)),
            ]
        )
    if published_same_patches(ctx):
        baseline = ctx["comparison"]["baseline"]
        rows.append(
            [
                f"{baseline['name']}: not these patches' predictions",
                _pct(baseline["accuracy"]),
                _interval(stats["baseline_accuracy_ci95"]),
                "-",
                "-",
                _p_cell(by_name.get("published")),
            ]
        )
    return rows


def methods_line(ctx: dict[str, Any]) -> str:
    """How the intervals and tests treat the patches: whole groups resampled, or patches independent."""
    accuracy = ctx["statistics"]["accuracy"]
    if accuracy.get("grouped"):
        return (
            f"The {accuracy['patches']} patches fall in {accuracy['groups']} groups (polygons or tile quadrants); "
            "intervals and tests resample whole groups (Owen 2007's cluster bootstrap, seeded with the run's "
            "seed), so near-duplicate patches of one group count once; exact McNemar counts are description."
        )
    return (
        "The data have no patch groups, so patches are treated as independent: Wilson intervals for accuracy, "
        "exact McNemar tests for the paired comparisons, seeded bootstraps for the differences and macro F1."
    )


def family_line(ctx: dict[str, Any]) -> str:
    """Which comparisons get a verdict, and the Holm family they are corrected in."""
    family = ctx["statistics"].get("family") or {}
    size = family.get("size", 0)
    if split_name(ctx) != "test":
        return (
            f"No better or worse verdict on the {split_name(ctx)} split: it chose the epoch, so its numbers are "
            "optimistic (shown, with their tests, as description); a test split gives verdicts."
        )
    return (
        f"Verdicts on the test split: Holm (1979) correction across the {size} verdict{'' if size == 1 else 's'} "
        f"of this report (alpha {family.get('alpha', 0.05):g}); *better* or *worse* only where the adjusted p is "
        "below it, *equivalent* only where the 90% interval of the difference lies within the margin (two "
        "one-sided tests, Schuirmann 1987), else *not distinguishable*."
    )


def results_section(ctx: dict[str, Any]) -> list[str]:
    metrics, comparison = ctx["metrics"], ctx["comparison"]
    split = split_name(ctx)
    headline = _table(
        ["Model", "Accuracy", "95% interval", "F1 (macro)", "95% interval", "p vs the model"],
        model_rows(ctx),
    )
    lines = [
        "### Headline metrics",
        "",
        f"On the {metrics['samples']} {split} patches (precision {metrics['precision_macro']:.3f}, recall "
        f"{metrics['recall_macro']:.3f}, both macro, for the model). The forests are fitted on the training split "
        f"in step 05. {methods_line(ctx)}",
        "",
        headline,
        "",
        "### Verdicts",
        "",
        f"- {family_line(ctx)}",
    ]
    for verdict in verdicts(ctx):
        lines.append(f"- Against {_verdict_name(verdict)}: **{verdict['verdict']}**. {verdict['text']}")
    for verdict in (ctx.get("ensemble") or {}).get("verdicts", []):
        lines.append(f"- The ensemble against {_verdict_name(verdict)}: **{verdict['verdict']}**. {verdict['text']}")
    if not published_same_patches(ctx):
        lines.append(f"- {ctx['statistics']['published_baseline']['text']}")
    if ctx["statistics"].get("in_run_baseline") is None:
        lines.append(
            "- No SimpleCNN was trained on this split (set `--train_baseline true` for a paired comparison with it)."
        )
    target = ctx["statistics"].get("target")
    if target:
        lines.append(f"- {target['target_text']}")
    with_week3 = published_same_patches(ctx)
    per_class_rows = []
    for name, values in metrics["per_class"].items():
        row = [name, f"{values['precision']:.3f}", f"{values['recall']:.3f}", f"{values['f1']:.3f}", values["support"]]
        if with_week3:
            change = comparison["per_class"][name]
            reference = change["baseline_f1"]
            row += ["-" if reference is None else f"{reference:.3f}", _signed(change["f1_change"])]
        per_class_rows.append(row)
    header = ["Class", "Precision", "Recall", "F1", "Support"] + (["Week 3 F1", "Change"] if with_week3 else [])
    lines += ["", "### Per-class performance", "", _table(header, per_class_rows)]
    if not with_week3:
        lines += ["", "Week 3's per-class F1 were measured on other patches; they are not compared here."]
    return lines


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
        *baseline_training_lines(ctx),
        *diagnosis_lines(ctx),
        "",
        "![Training curves](training_curves.png)",
    ]


def baseline_training_lines(ctx: dict[str, Any]) -> list[str]:
    """The in-run SimpleCNN's own budget and where it stopped (baseline_history.json)."""
    history = ctx.get("baseline_history")
    if not history:
        return []
    if "epoch_budget" not in history:  # written before the SimpleCNN had its own budget
        return [f"- SimpleCNN trained on this split: {history['epochs_run']} epochs."]
    stop = (
        f"stopped early after {history['patience']} epochs without a better {history['monitor']}"
        if history["stopped_early"]
        else "used its whole budget"
    )
    val = [entry["val_accuracy"] for entry in history["epochs"] if "val_accuracy" in entry]
    best = f"; validation accuracy up to {max(val):.2%}" if val else ""
    return [
        f"- SimpleCNN trained on this split: {history['epochs_run']} of its own {history['epoch_budget']} epochs "
        f"({stop}), weights kept from epoch {history['best_epoch']}; inputs "
        f"{history.get('input_normalisation', {}).get('input_normalisation', 'none')}{best}."
    ]


def diagnosis_lines(ctx: dict[str, Any]) -> list[str]:
    diagnosis = ctx["diagnosis"]
    measurements = diagnosis.get("measurements")
    measured = []
    if measurements:
        first, *rest = measurement_lines(measurements)
        measured = [f"- {first}", *(f"  - {line}" for line in rest)]
    if not diagnosis.get("recorded", True):
        return [
            "- Collapse diagnosis: not recorded (this history predates the collapse monitor; re-run step 04).",
            *measured,
        ]
    per_epoch = ", ".join(str(int(entry["val_distinct_classes"])) for entry in ctx["history"]["epochs"])
    lines = [
        f"- Classes predicted on the validation set, per epoch: {per_epoch}.",
        f"- Collapse diagnosis: {diagnosis['summary']}",
    ]
    stop = ctx["history"].get("collapse_stop_reason")
    if stop:
        lines.append(f"- Training was stopped by the collapse monitor: {stop}.")
    if measured:
        lines += measured
        lines.append(
            "- Hypotheses consistent with the measurements above (none isolated by this run; each names the "
            "single-factor preset that tests it):"
            if diagnosis["causes"]
            else "- No hypothesis is consistent with the measurements."
        )
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
    text = (
        f"With {_sample(stats['accuracy'], stats['accuracy']['total'])} of the {split_name(ctx)} split the 95% "
        "interval on accuracy is "
        f"{100 * (high - low):.1f} percentage points wide ({_interval([low, high])})"
    )
    named = [f"against {_verdict_name(v)} **{v['verdict']}** ({v['kind']})" for v in verdicts(ctx)]
    if named:
        text += "; " + "; ".join(named)
    return text + "."


def _target_finding(ctx: dict[str, Any]) -> str:
    stats, target = ctx["statistics"], ctx["config"]["target_accuracy"]
    statement = stats.get("target") or {}
    size = f" {statement['target_text']}" if statement.get("target_text") else ""
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
        f"of the {split_name(ctx)} labels ({metrics['per_class'][collapsed]['support']}/{metrics['samples']})."
    )


def _per_class_finding(ctx: dict[str, Any]) -> str:
    changes = {name: entry["f1_change"] for name, entry in ctx["comparison"]["per_class"].items()}
    known = {name: change for name, change in changes.items() if change is not None and published_same_patches(ctx)}
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
        basis = "measured" if ctx["diagnosis"].get("basis") == "measurements" else "from the configuration"
        text += f"; hypotheses {basis}: " + ", ".join(cause["name"] for cause in causes)
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


def map_section(ctx: dict[str, Any]) -> list[str]:
    """Where step 06 puts the run's land-cover map, for the sources it maps (it runs after this report)."""
    source = ctx["config"]["data_source"]
    if source not in (STAGES["map"].sources or ()):
        return []
    scene = "the synthetic mock scene (known class regions)" if source == "mock" else "the run's own raster"
    preview, areas = ARTEFACTS["land_cover_map_png"], ARTEFACTS["land_cover_areas"]
    return [
        "## Land-cover map",
        "",
        f"Step 06 (`{STAGES['map'].script}`) maps {scene} with this model: class areas in `{areas}`, "
        f"agreement with the labelled polygons outside the training split in `{ARTEFACTS['map_agreement']}`.",
        "",
        f"![Land-cover map]({preview})",
        "",
    ]


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
        "## Results vs baselines",
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
        *map_section(ctx),
        "## Environment (appendix)",
        "",
        *environment_section(ctx),
        "",
    ]
    return "\n".join(sections)
