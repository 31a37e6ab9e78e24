"""Explaining a collapse after training: :func:`diagnose` reads the per-epoch records the collapse
monitor (train/collapse.py) wrote into ``training_history.json`` and lists hypotheses, each with the
numbers it rests on.

A hypothesis is consistent with the measurements, not isolated by them: one run changes no factor, so
only the single-factor preset (config.PRESETS ``f_*``) named with it, run against report by the
ablation sweep, can test it (:func:`hypothesis_status` reads that verdict). Each is named only where
its own rule fires. Given the measurements of the trained model on the validation split
(evaluate/measurements.py; step 05 always passes them), the hypotheses are those the measurements
are consistent with, and a configuration rule adds its text only where a measurement agrees. Without
measurements (e.g. a report rebuilt from old files) the configuration rules apply.

Each entry of the diagnosis' ``causes`` list (the key report.py reads) holds:

- ``id``: a short stable identifier: ``input_scale``, ``batchnorm_statistics``, ``simplecnn_batchnorm``,
  ``feature_map_size``, ``frozen_share``, ``learning_rate`` (configuration rules and measurements);
  ``stem_statistics``, ``constant_features``, ``generalisation``, ``underfitting``, ``class_prior``
  (measurements only);
- ``name`` (human-readable), ``hypothesis`` (one sentence saying what it is), ``evidence``,
  ``suggestion``, ``basis`` ("measurements" or "configuration"), ``measured`` (the numbers a measured
  rule read);
- ``preset``: the single-factor preset that would test it, or None where none does (the SimpleCNN,
  whose presets are not single-factor changes of report; a learning rate above the usual range, which
  no preset lowers; underfitting that no rule attributes to a factor).

Where training classes tie for the largest count, the class first in the label order (``class_names``)
is named, and the text says which classes tie.
"""

from __future__ import annotations

import math
from typing import Any

from .. import statistics
from ..config import PRESETS, input_normalisation, uses_pretrained_weights
from ..metrics import COLLAPSED, FLAT, FLAT_SINCE, TOP_CLASS

# What each backbone's ImageNet weights expect at the input, and its total stride to the last stage.
EXPECTED_INPUT = {"resnet50": "caffe-style: RGB in 0-255 turned to BGR minus the ImageNet channel means"}
EXPECTED_INPUT_MAX = {"resnet50": 255.0}
OUTPUT_STRIDE = {"resnet50": 32}
LAST_STAGE_CHANNELS = {"resnet50": 2048}
GOOD_LAST_SIDE = 7  # the last-stage map of a 224x224 ImageNet input

HIGH_FROZEN_SHARE = 0.75
# Training accuracy within this of the majority class's training share counts as "near" it: a network
# that predicts one class on training batches too, i.e. whose head sees no usable features.
NEAR_MAJORITY = 0.05
FINE_TUNE_LR_RANGE = (1e-5, 1e-3)  # usual Adam rates when pretrained layers train

# What the sweep's verdict on a hypothesis' preset (against report) says about the hypothesis.
SUPPORTED, NOT_SUPPORTED, UNTESTED = "supported", "not supported", "untested"
# Only "better" (the preset's change helped, as the hypothesis predicts) supports it; any other verdict
# (worse, not distinguishable, equivalent, both collapsed / uninformative) means it did not help as predicted.
SUPPORTING_VERDICT = statistics.BETTER
NO_VERDICT = "no verdict"  # how the sweep's answers without a verdict begin (e.g. too few seeds)


def _first_epoch(records: list[dict[str, Any]], key: str) -> dict[str, Any] | None:
    return next((record for record in records if record.get(key)), None)


def _class_name(index: int, dataset_stats: dict[str, Any]) -> str:
    names = dataset_stats.get("class_names") or []
    return names[index] if 0 <= index < len(names) else f"class {index}"


def _split(dataset_stats: dict[str, Any], name: str) -> dict[str, Any]:
    return dataset_stats.get("splits", {}).get(name, {})


def _epoch_list(epochs: list[int]) -> str:
    return ("epoch " if len(epochs) == 1 else "epochs ") + ", ".join(str(epoch) for epoch in epochs)


def _collapse_finding(records: list[dict[str, Any]], dataset_stats: dict[str, Any]) -> dict[str, Any]:
    collapsed = [record for record in records if record.get(COLLAPSED)]
    if not collapsed:
        return {"flag": False, "epoch": None}
    # The collapsed class can change between epochs, and the kept (best) weights may come from any of
    # them, so every class is named with its epochs rather than only the first.
    epochs_by_class: dict[str, list[int]] = {}
    for record in collapsed:
        name = _class_name(int(record[TOP_CLASS]), dataset_stats)
        epochs_by_class.setdefault(name, []).append(int(record["epoch"]))
    first = collapsed[0]
    name = _class_name(int(first[TOP_CLASS]), dataset_stats)
    finding = {
        "flag": True,
        "epoch": int(first["epoch"]),
        "class": int(first[TOP_CLASS]),
        "class_name": name,
        "epochs_by_class": epochs_by_class,
    }
    text = f"In {len(collapsed)} of {len(records)} epochs (from epoch {first['epoch']}) every validation sample "
    if len(epochs_by_class) == 1:
        text += f"is predicted as {name}."
    else:
        text += "is predicted as one class, which changes between epochs: "
        text += "; ".join(f"{cls} ({_epoch_list(epochs)})" for cls, epochs in epochs_by_class.items()) + "."
    val_counts = _split(dataset_stats, "validation").get("class_counts", {})
    if val_counts:
        total = max(sum(val_counts.values()), 1)
        shares = {cls: val_counts.get(cls, 0) / total for cls in epochs_by_class}
        finding["accuracy_if_collapsed"] = shares[name]
        text += " That caps validation accuracy at the class's share of the labels: "
        text += ", ".join(f"{cls} {share:.2%}" for cls, share in shares.items()) + "."
    largest = _majority(dataset_stats)
    if largest is not None:
        majority, share, tied = largest
        collapsed_largest = [cls for cls in tied if cls in epochs_by_class]
        finding["is_training_majority"] = name in tied
        finding["majority_training_share"] = share
        finding["majority_training_classes"] = tied
        # Training accuracy of the collapsed epochs: near the majority share, the network predicts one
        # class on training batches too; well above it, it fits them and collapses on validation only.
        train_accuracy = [float(record["accuracy"]) for record in collapsed if "accuracy" in record]
        best = max(train_accuracy) if train_accuracy else None
        finding["training_accuracy_max"] = best
        if collapsed_largest:
            if len(tied) == 1:
                text += f" {majority} is the most frequent training class ({share:.2%} of the training patches)"
            else:
                text += (
                    f" {_and(tied)} are the most frequent training classes ({share:.2%} of the training patches "
                    "each, tied)"
                )
            if best is None:
                text += "."
            elif best <= share + NEAR_MAJORITY:
                finding["no_usable_features"] = len(epochs_by_class) == 1 and name in tied
                head = ", the answer of a head that sees no usable features" if finding["no_usable_features"] else ""
                text += f", and training accuracy stayed at most {best:.2%} in those epochs{head}."
            else:
                text += (
                    f", but training accuracy reached {best:.2%} in those epochs, well above that share: the network "
                    "fits the training batches and predicts one class on the validation patches only."
                )
        elif len(tied) == 1:
            text += f" The most frequent training class, {majority}, is not among them."
        else:
            text += f" The most frequent training classes, {_and(tied)} (tied), are not among them."
    finding["text"] = text
    return finding


def _flat_finding(records: list[dict[str, Any]]) -> dict[str, Any]:
    first = _first_epoch(records, FLAT)
    if first is None:
        return {"flag": False, "epoch": None}
    since = int(first[FLAT_SINCE])
    until = max(int(record["epoch"]) for record in records if record.get(FLAT_SINCE) == since)
    losses = [record["val_loss"] for record in records if since <= record["epoch"] <= until and "val_loss" in record]
    text = f"Validation loss stays flat from epoch {since} to epoch {until}"
    if losses:
        text += f" (between {min(losses):.4f} and {max(losses):.4f})"
    return {"flag": True, "epoch": since, "until": until, "detected_at": int(first["epoch"]), "text": text + "."}


def _scaled_input_max(dataset_stats: dict[str, Any]) -> float | None:
    ranges = _split(dataset_stats, "train").get("band_ranges_scaled", {})
    return max((band["max"] for band in ranges.values()), default=None)


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _rule(key: str, name: str, evidence: str, suggestion: str, preset: str | None) -> dict[str, Any]:
    """What a rule found: the hypothesis' id and name, its evidence, a suggestion and the preset testing it."""
    return {"id": key, "name": name, "evidence": evidence, "suggestion": suggestion, "preset": preset}


def _input_scale_hypothesis(config: dict[str, Any], dataset_stats: dict[str, Any]) -> dict[str, Any] | None:
    backbone = config["backbone"]
    if input_normalisation(config) != "none" or not uses_pretrained_weights(config) or backbone not in EXPECTED_INPUT:
        return None
    expected_max = EXPECTED_INPUT_MAX[backbone]
    observed_max = _scaled_input_max(dataset_stats)
    if observed_max is None:
        observed = "reflectance scaled to [0, 1] (no band ranges in the data summary)"
        observed_max = 1.0
    else:
        observed = f"inputs reach at most {observed_max:.3g} after scaling"
    ratio = expected_max / observed_max if observed_max > 0 else float("inf")
    evidence = (
        f"input_normalisation is 'none': {observed}, while {backbone}'s {config['weights']} weights expect "
        f"{EXPECTED_INPUT[backbone]}; the inputs are about {ratio:.0f}x smaller than expected."
    )
    if config["band_adapter"] == "conv1x1":
        evidence += " The learned 1x1 band adapter starts from small random weights, so its outputs keep that scale."
    return _rule(
        "input_scale",
        "input scale vs the backbone's preprocessing",
        evidence,
        "--input_normalisation imagenet: standardise the bands on the training split and map the stem's "
        f"channels onto ImageNet's statistics before keras.applications.{backbone}.preprocess_input.",
        "f_imagenet_preprocessing",
    )


def _batchnorm_hypothesis(
    config: dict[str, Any],
    dataset_stats: dict[str, Any],
    last_side: int | None,
    trainable_layers: int | None,
    batchnorm_layers: int | None = None,
) -> dict[str, Any] | None:
    # Keras runs BatchNorm of frozen layers in inference mode, so only trainable layers are at risk;
    # and for a network without BatchNorm (VGG16) the hypothesis does not arise at all.
    if config.get("bn_inference", False) or trainable_layers == 0 or batchnorm_layers == 0:
        return None
    batch = config.get("batch_size", 32)
    evidence = "bn_inference is off: BatchNormalization in the trainable backbone layers runs in training mode"
    if trainable_layers is not None:
        evidence += f" ({trainable_layers} layers trainable)"
    evidence += f" and normalises each channel with statistics of a batch of {batch}"
    if last_side is not None:
        evidence += f" over {last_side}x{last_side} positions, i.e. {batch * last_side * last_side} values per channel"
    n_train = _split(dataset_stats, "train").get("samples")
    if n_train and n_train % batch:
        evidence += f"; the last batch of each epoch holds only {n_train % batch} of the {n_train} samples"
    evidence += ". Validation then uses moving averages that differ from those batch statistics."
    if uses_pretrained_weights(config):
        suggestion = (
            "--bn_inference true (or the imagenet_preprocessing preset): BatchNorm keeps its ImageNet "
            "statistics, also after unfreezing, as the keras-io transfer-learning guide's training=False intends."
        )
    else:
        suggestion = (
            "--bn_inference true keeps BatchNorm in inference mode while layers train (with random weights its "
            "moving statistics are the initial ones: no pretrained statistics to keep)."
        )
    return _rule(
        "batchnorm_statistics", "BatchNorm in training mode on small batches", evidence, suggestion, "f_bn_inference"
    )


def _simplecnn_batchnorm_hypothesis(
    config: dict[str, Any], dataset_stats: dict[str, Any], batchnorm_layers: int | None, stem_std: list[float] | None
) -> dict[str, Any] | None:
    """The SimpleCNN's own BatchNorm layers on unstandardised reflectance (the issue-20 collapse)."""
    if not batchnorm_layers:
        return None
    batch = config.get("batch_size", 32)
    evidence = (
        f"the SimpleCNN's {batchnorm_layers} BatchNormalization layers normalise with statistics of batches of "
        f"{batch} while training and with their moving averages on validation"
    )
    if input_normalisation(config) == "none":
        evidence += "; its inputs are not standardised (input_normalisation none)"
        if stem_std:
            evidence += (
                f": per-band standard deviations at its first convolution {min(stem_std):.3g} to "
                f"{max(stem_std):.3g} on the training split"
            )
        suggestion = "--input_normalisation standardise: per-band mean and std of the training split, inside the model."
    else:
        suggestion = "more epochs or a lower learning rate, so that the moving averages settle."
    # No preset: the f_* presets change the report's transfer model one factor at a time, not the SimpleCNN.
    return _rule("simplecnn_batchnorm", "BatchNorm statistics in the SimpleCNN", evidence + ".", suggestion, None)


def _frozen_share_hypothesis(
    config: dict[str, Any], backbone_layers: int | None, frozen_layers: int | None = None
) -> dict[str, Any] | None:
    frozen = config["frozen_layers"] if frozen_layers is None else frozen_layers
    if backbone_layers is None or backbone_layers <= 0:
        return None
    share = min(frozen, backbone_layers) / backbone_layers
    if share < HIGH_FROZEN_SHARE:
        return None
    trainable = max(backbone_layers - frozen, 0)
    return _rule(
        "frozen_share",
        "share of frozen layers",
        f"{min(frozen, backbone_layers)} of {backbone_layers} backbone layers are frozen ({share:.1%}); "
        f"{trainable} train. Frozen layers cannot adapt to inputs they were not trained on; the band "
        "adapter in front of them still needs the full backward pass through them.",
        "train the head with the whole backbone frozen first, then unfreeze the top stages and recompile "
        "with a learning rate about 10x lower.",
        "f_less_freezing",
    )


def _learning_rate_hypothesis(config: dict[str, Any], flat: bool) -> dict[str, Any] | None:
    rate = config["learning_rate"]
    low, high = FINE_TUNE_LR_RANGE
    if rate > high and config["weights"] != "none":
        return _rule(
            "learning_rate",
            "learning rate",
            f"learning_rate {rate:g} is above the usual fine-tuning range ({low:g} to {high:g}) for pretrained "
            "layers; large steps can wipe out pretrained features and push the head to one class.",
            f"use {high:g} or lower while pretrained layers train.",
            None,  # every single-factor preset keeps report's 1e-4 or raises it: none tests a lower rate
        )
    if rate < low and flat:
        return _rule(
            "learning_rate",
            "learning rate",
            f"learning_rate {rate:g} is below {low:g} and the validation loss is flat; steps this small barely "
            "move the weights.",
            f"try {low:g} to {high:g}.",
            "f_higher_lr",
        )
    return None


def _feature_map_hypothesis(config: dict[str, Any], last_side: int | None) -> dict[str, Any] | None:
    backbone = config["backbone"]
    if last_side is None or last_side >= GOOD_LAST_SIDE:
        return None
    patch = config["patch_size"]
    side = patch * config["upsample_factor"]
    factor_for_good = -(-GOOD_LAST_SIDE * OUTPUT_STRIDE[backbone] // patch)
    return _rule(
        "feature_map_size",
        "feature-map size at the last stage",
        f"{patch}x{patch} patches upsampled x{config['upsample_factor']} give {side}x{side} inputs; after "
        f"{backbone}'s stride of {OUTPUT_STRIDE[backbone]} the last stage is {last_side}x{last_side}x"
        f"{LAST_STAGE_CHANNELS[backbone]} (ImageNet's 224x224 gives {GOOD_LAST_SIDE}x{GOOD_LAST_SIDE}), and "
        f"upsampling adds no information beyond the {patch * patch} original pixels.",
        f"extract larger patches, or upsample by {factor_for_good} to reach a "
        f"{GOOD_LAST_SIDE}x{GOOD_LAST_SIDE} last stage; a small CNN suits {patch}x{patch} patches directly.",
        "f_input_size",
    )


def _last_stage_side(config: dict[str, Any]) -> int | None:
    stride = OUTPUT_STRIDE.get(config["backbone"])
    if stride is None:
        return None
    return max(config["patch_size"] * config["upsample_factor"] // stride, 1)


def diagnose(
    records: list[dict[str, Any]],
    config: dict[str, Any],
    dataset_stats: dict[str, Any],
    backbone_layers: int | None = None,
    architecture: dict[str, Any] | None = None,
    measurements: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The collapse / flat-loss diagnosis for the report, with the hypotheses that would explain it.

    ``records``: per-epoch dicts from :class:`CollapseMonitor` or the saved training history (same keys).
    ``dataset_stats``: the data summary of step 01 (class names, per-split class counts, band ranges).
    ``backbone_layers``: the backbone's layer count, for the share of frozen layers.
    ``architecture``: step 03's architecture.json, when known: the frozen layer count, the number of
    BatchNorm layers (no BatchNorm hypothesis for a network without any) and the statistics at the stem.
    ``measurements``: :func:`measurements.measure` of the trained model on the validation split. With
    them, ``causes`` holds the hypotheses consistent with them (:func:`measured_hypotheses`, whether or
    not training collapsed) and ``basis`` is "measurements"; without them, hypotheses come from the
    configuration ("configuration") and are checked only when training collapsed or went flat. Each
    names the numbers behind it (the entries are described in the module docstring).
    """
    architecture = architecture or {}
    batchnorm_layers = architecture.get("batchnorm_layers")
    frozen_layers = architecture.get("backbone_layers", {}).get("frozen")
    stem_std = architecture.get("normalisation", {}).get("stem", {}).get("std")
    collapse = _collapse_finding(records, dataset_stats)
    flat = _flat_finding(records)
    # A SimpleCNN (model_type simplecnn) has no pretrained backbone: its BatchNorm layers and the learning rate apply.
    transfer = config.get("model_type", "transfer") == "transfer"
    last_side = _last_stage_side(config) if transfer else None
    frozen = config["frozen_layers"] if frozen_layers is None else frozen_layers
    trainable = None if backbone_layers is None else max(backbone_layers - frozen, 0)
    hypotheses = []
    if measurements is not None:
        hypotheses = measured_hypotheses(
            measurements, config, dataset_stats, backbone_layers, architecture, last_side, trainable, flat["flag"]
        )
        return {
            "collapse": collapse,
            "flat_loss": flat,
            "epochs": len(records),
            "last_stage_side": last_side,
            "basis": "measurements",
            "measurements": measurements,
            "causes": hypotheses,  # the key report.py reads
            "summary": _summary(collapse, flat, hypotheses, len(records), measurements),
        }
    if collapse["flag"] or flat["flag"]:
        candidates = [_learning_rate_hypothesis(config, flat["flag"])]
        if transfer:
            candidates[:0] = [
                _input_scale_hypothesis(config, dataset_stats),
                _batchnorm_hypothesis(config, dataset_stats, last_side, trainable, batchnorm_layers),
                _feature_map_hypothesis(config, last_side),
                _frozen_share_hypothesis(config, backbone_layers, frozen_layers),
            ]
        else:
            candidates[:0] = [_simplecnn_batchnorm_hypothesis(config, dataset_stats, batchnorm_layers, stem_std)]
        hypotheses = [_entry(rule, config, "configuration") for rule in candidates if rule is not None]
    return {
        "collapse": collapse,
        "flat_loss": flat,
        "epochs": len(records),
        "last_stage_side": last_side,
        "basis": "configuration",
        "causes": hypotheses,  # the key report.py reads
        "summary": _summary(collapse, flat, hypotheses, len(records)),
    }


def _named(hypotheses: list[dict[str, Any]]) -> str:
    """Each hypothesis' name, its id in brackets and the preset that would test it."""
    return "; ".join(
        f"{entry['name']} [{entry['id']}]" + (f" (test: --preset {entry['preset']})" if entry["preset"] else "")
        for entry in hypotheses
    )


def _summary(
    collapse: dict[str, Any],
    flat: dict[str, Any],
    hypotheses: list[dict[str, Any]],
    epochs: int,
    measurements: dict[str, Any] | None = None,
) -> str:
    if measurements is not None:
        parts = [finding["text"] for finding in (collapse, flat) if finding["flag"]]
        if not parts:
            parts.append(f"No collapse and no flat validation loss in {epochs} epochs.")
        if hypotheses:
            parts.append(
                f"Hypotheses consistent with the measurements on the {measurements['split']} split, none isolated "
                f"by this run: {_named(hypotheses)}."
            )
        else:
            parts.append(f"No hypothesis is consistent with the measurements on the {measurements['split']} split.")
        return " ".join(parts)
    if not (collapse["flag"] or flat["flag"]):
        return f"No collapse and no flat validation loss in {epochs} epochs."
    parts = [finding["text"] for finding in (collapse, flat) if finding["flag"]]
    if hypotheses:
        parts.append(f"Hypotheses from the configuration alone, not measured: {_named(hypotheses)}.")
    else:
        parts.append("No hypothesis found in the configuration.")
    return " ".join(parts)


def hypothesis_status(hypothesis: dict[str, Any], verdict: str | None) -> str:
    """Whether the sweep's verdict on ``hypothesis``' preset against report supports it: "supported"
    when the preset's change made it better, "not supported" for any other verdict (worse, not
    distinguishable, equivalent, both collapsed: the change did not help), "untested" without a
    verdict (None, or an answer beginning "no verdict") or without a preset (no single-factor run
    tests it)."""
    # "no verdict: ..." (the sweep's too-few-seeds answer) is an absent verdict, not a failed test.
    if verdict is None or verdict.startswith(NO_VERDICT) or hypothesis.get("preset") is None:
        return UNTESTED
    return SUPPORTED if verdict == SUPPORTING_VERDICT else NOT_SUPPORTED


# --- Hypotheses from measurements (evaluate/measurements.py) ----------------------------------------

ALPHA = 0.05  # the batch- against moving-statistics accuracy: exact McNemar at the report's usual level
# BatchNorm moving statistics count as "far" from the statistics of the layer's input when, averaged
# over the trainable layers, the means differ by more than one moving standard deviation (normalised
# activations then sit off-centre by more than their own spread) or the variances by more than 4x
# (activations scaled by more than 2x): beyond either, inference computes a different function.
BN_SHIFT_LARGE = 1.0
BN_LOG_VARIANCE_LARGE = math.log(4.0)
# Features reaching the head that vary across patches by less than 5% of their size (on average per
# feature) give every patch almost the same softmax: the head can learn little more than the prior.
FEATURE_SPREAD_LOW = 0.05
# The stem's inputs count as "far" from what ImageNet weights expect when a channel's mean is more than
# one ImageNet standard deviation away, or its spread more than 4x too small or too large: the first
# convolution's pretrained filters then respond to a range they were not trained on.
STEM_OFFSET_LARGE = 1.0
STEM_SCALE_FACTOR = 4.0
# Training accuracy (of the kept epoch) this far above validation, with batch statistics not explaining
# it, means the model fits the training patches but does not generalise: about 11 of 75 patches.
GENERALISATION_GAP = 0.15
# Predictions this concentrated on one class count as (near) collapse in the class-prior hypothesis.
TOP_SHARE_HIGH = 0.9


def _preset(config: dict[str, Any], name: str) -> tuple[str, str]:
    """(preset name, what it changes), noting when this run already has that value."""
    changes = ", ".join(f"{key} {value}" for key, value in PRESETS[name].overrides.items())
    already = all(config.get(key) == value for key, value in PRESETS[name].overrides.items())
    return name, changes + (
        " (this run already has it: that factor alone does not account for this run)" if already else ""
    )


def _entry(
    rule: dict[str, Any], config: dict[str, Any], basis: str, measured: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A hypothesis of the diagnosis (the module docstring's fields) from what its rule found."""
    where = "consistent with the measurements" if basis == "measurements" else "from the configuration alone"
    entry: dict[str, Any] = {
        "id": rule["id"],
        "name": rule["name"],
        "hypothesis": f"Hypothesis {where}, not isolated by this run: {rule['name']}.",
        "evidence": rule["evidence"],
        "suggestion": rule["suggestion"],
        "basis": basis,
        "preset": None,
    }
    if measured is not None:
        entry["measured"] = measured
    # The f_* presets are single-factor changes of the report's transfer model: they test nothing in a SimpleCNN.
    if rule["preset"] is not None and config.get("model_type", "transfer") == "transfer":
        entry["preset"], changes = _preset(config, rule["preset"])
        entry["suggestion"] = f"{rule['suggestion']} Test with the single-factor preset {entry['preset']} ({changes})."
    return entry


def _measured(
    key: str,
    name: str,
    evidence: str,
    suggestion: str,
    config: dict[str, Any],
    preset: str | None,
    measured: dict[str, Any],
) -> dict[str, Any]:
    return _entry(_rule(key, name, evidence, suggestion, preset), config, "measurements", measured)


def _mean_batch_accuracy(batchnorm: dict[str, Any]) -> float:
    """The batch-statistics accuracy the rules read: the mean over the shuffled orders (measurements
    from before the draws hold one pass's accuracy, in stored order, under ``batch_accuracy``)."""
    draws = batchnorm.get("batch_accuracy_draws")
    return draws["mean"] if draws else batchnorm["batch_accuracy"]


def _batch_accuracy_text(batchnorm: dict[str, Any]) -> str:
    """The batch-statistics accuracy with its spread over the draws, for the evidence and the lines."""
    draws = batchnorm.get("batch_accuracy_draws")
    if not draws:
        return f"{batchnorm['batch_accuracy']:.2%} (batches of {batchnorm['batch_size']} in stored order)"
    order = batchnorm.get("batch_order", {})
    return (
        f"{draws['mean']:.2%} (mean of {len(draws['values'])} shuffled orders of batches of "
        f"{batchnorm['batch_size']}, seed {order.get('seed')}: {draws['min']:.2%} to {draws['max']:.2%}, std "
        f"{100 * draws['std']:.1f} percentage points)"
    )


def _batch_statistics_explain(batchnorm: dict[str, Any]) -> bool:
    """Batch-statistics accuracy (the mean over the draws) clearly above moving-statistics accuracy
    (exact McNemar p < ALPHA, a patch right with batch statistics when right in most draws)."""
    if not batchnorm.get("applicable") or batchnorm.get("batch_accuracy") is None:
        return False
    test = batchnorm["mcnemar_batch_vs_moving"]
    return _mean_batch_accuracy(batchnorm) > batchnorm["moving_accuracy"] and test["p_value"] < ALPHA


def _batchnorm_gap_large(batchnorm: dict[str, Any]) -> bool:
    distance = batchnorm.get("distance_trainable") if batchnorm.get("applicable") else None
    if not distance:
        return False
    return distance["mean_shift"] > BN_SHIFT_LARGE or distance["log_variance_ratio"] > BN_LOG_VARIANCE_LARGE


def _measured_batchnorm_hypothesis(m, config, dataset_stats, last_side, trainable, architecture) -> dict | None:
    batchnorm = m["batchnorm"]
    if not (_batchnorm_gap_large(batchnorm) and _batch_statistics_explain(batchnorm)):
        return None
    distance, test = batchnorm["distance_trainable"], batchnorm["mcnemar_batch_vs_moving"]
    evidence = (
        f"on the {m['samples']} {m['split']} patches, BatchNorm on each batch's own statistics (as in training) "
        f"gives {_batch_accuracy_text(batchnorm)} against {batchnorm['moving_accuracy']:.2%} on its moving "
        f"statistics ({test['b']} patches only batch statistics get right, {test['c']} only moving ones; exact "
        f"McNemar p = {test['p_value']:.3g}); the moving statistics of the {distance['layers']} trainable BatchNorm "
        f"layers are far from their inputs' statistics: mean shift {distance['mean_shift']:.3g} moving standard "
        f"deviations, |ln variance ratio| {distance['log_variance_ratio']:.3g} (thresholds {BN_SHIFT_LARGE:g} and "
        f"{BN_LOG_VARIANCE_LARGE:.3g})."
    )
    features = m["features"]
    if "batch_mode_relative_spread" in features:
        evidence += (
            f" The head's features vary across patches by {features['relative_spread']:.3g} of their size with "
            f"moving statistics and {features['batch_mode_relative_spread']:.3g} with batch statistics."
        )
    measured = {"batch_accuracy": _mean_batch_accuracy(batchnorm), "moving_accuracy": batchnorm["moving_accuracy"]}
    if batchnorm.get("batch_accuracy_draws"):
        draws, gap = batchnorm["batch_accuracy_draws"], batchnorm["accuracy_gap"]
        measured.update(batch_accuracy_std=draws["std"], accuracy_gap=gap["mean"], accuracy_gap_std=gap["std"])
    if config.get("model_type", "transfer") != "transfer":
        rule = _simplecnn_batchnorm_hypothesis(
            config,
            dataset_stats,
            batchnorm["layers"],
            architecture.get("normalisation", {}).get("stem", {}).get("std"),
        )
        suggestion = rule["suggestion"] if rule else "more epochs, so that the moving averages settle."
        name = "BatchNorm statistics in the SimpleCNN"
        return _measured("simplecnn_batchnorm", name, evidence, suggestion, config, None, measured)
    rule = _batchnorm_hypothesis(config, dataset_stats, last_side, trainable, batchnorm["layers"])
    suggestion = rule["suggestion"] if rule else "--bn_inference true keeps BatchNorm on its moving statistics."
    if rule:
        evidence += f" Configuration: {rule['evidence'][0].lower()}{rule['evidence'][1:]}"
    measured.update(
        mcnemar_p=test["p_value"], mean_shift=distance["mean_shift"], log_variance_ratio=distance["log_variance_ratio"]
    )
    name = "BatchNorm in training mode on small batches"
    return _measured("batchnorm_statistics", name, evidence, suggestion, config, "f_bn_inference", measured)


def _measured_feature_hypothesis(m, config, explained: bool) -> dict | None:
    features = m["features"]
    if features["relative_spread"] >= FEATURE_SPREAD_LOW:
        return None
    if explained and features.get("batch_mode_relative_spread", 0.0) >= FEATURE_SPREAD_LOW:
        return None  # the features vary with batch statistics: part of the BatchNorm hypothesis, not one of its own
    share = m["predictions"]
    evidence = (
        f"the {features['features']} features reaching the head ({features['layer']}) vary across the "
        f"{m['samples']} {m['split']} patches by {features['relative_spread']:.3g} of their mean absolute value on "
        f"average (threshold {FEATURE_SPREAD_LOW:g}; {features['constant_features']} are constant): the head sees "
        f"nearly the same input for every patch and can only learn the class prior; {share['top_class']} takes "
        f"{share['top_share']:.2%} of the predictions."
    )
    measured = {"relative_spread": features["relative_spread"], "constant_features": features["constant_features"]}
    name = "constant features at the head"
    if config.get("model_type", "transfer") != "transfer":
        suggestion = (
            "--input_normalisation standardise gives the convolutions inputs that vary on their own scale."
            if input_normalisation(config) == "none"
            else "check the inputs: standardised patches that still give constant features carry little signal."
        )
        return _measured("constant_features", name, evidence, suggestion, config, None, measured)
    if uses_pretrained_weights(config):
        preset, suggestion = "f_imagenet_preprocessing", "give the backbone the input statistics its weights expect."
    else:
        preset, suggestion = "f_standardise", "standardise the bands, so that the random backbone's inputs vary."
    return _measured("constant_features", name, evidence, suggestion, config, preset, measured)


def _measured_stem_hypothesis(m, config, dataset_stats) -> dict | None:
    stem = m["stem"]
    if stem.get("target") is None or "mean_offset_max" not in stem:
        return None
    low, high = stem["std_ratio"]
    far = stem["mean_offset_max"] > STEM_OFFSET_LARGE or low < 1 / STEM_SCALE_FACTOR or high > STEM_SCALE_FACTOR
    if not far:
        return None
    evidence = (
        f"at the stem ({stem['entering']}, {stem['compared']} split) the channel means are up to "
        f"{stem['mean_offset_max']:.3g} ImageNet standard deviations from ImageNet's and the spreads "
        f"{low:.3g} to {high:.3g} times ImageNet's (thresholds {STEM_OFFSET_LARGE:g} and x{STEM_SCALE_FACTOR:g})."
    )
    rule = _input_scale_hypothesis(config, dataset_stats)
    if rule:
        evidence += f" Configuration: {rule['evidence']}"
    suggestion = rule["suggestion"] if rule else "map the stem's channels onto ImageNet's statistics."
    measured = {"mean_offset_max": stem["mean_offset_max"], "std_ratio": stem["std_ratio"]}
    name = "input scale vs the backbone's preprocessing"
    return _measured("stem_statistics", name, evidence, suggestion, config, "f_imagenet_preprocessing", measured)


def _majority(dataset_stats: dict[str, Any]) -> tuple[str, float, list[str]] | None:
    """The most frequent training class, its share of the training patches, and every class with that
    count (``tied``, in label order). A tie goes to the class first in the label order (class_names;
    classes missing there after them, alphabetically), so the answer does not hang on the order in
    which a data summary lists its counts; the texts name every tied class."""
    counts = _split(dataset_stats, "train").get("class_counts", {})
    if not counts:
        return None
    rank = {name: index for index, name in enumerate(dataset_stats.get("class_names") or [])}
    top = max(counts.values())
    tied = sorted(
        (name for name, count in counts.items() if count == top), key=lambda name: (rank.get(name, len(rank)), name)
    )
    return tied[0], top / max(sum(counts.values()), 1), tied


def _majority_text(majority: tuple[str, float, list[str]]) -> str:
    """The majority for a sentence: Forest, 28.00%; with a tie, Forest, tied with Parcels, 26.67%."""
    name, share, tied = majority
    others = [other for other in tied if other != name]
    return f"{name}, {'tied with ' + _and(others) + ', ' if others else ''}{share:.2%}"


def _measured_fit_hypotheses(m, config, dataset_stats, backbone_layers, architecture, flat, explained) -> list[dict]:
    accuracy = m["accuracy"]
    if accuracy.get("training") is None:
        return []
    found = []
    training, validation = accuracy["training"], accuracy["validation"]
    if accuracy["gap"] >= GENERALISATION_GAP and not explained:
        evidence = (
            f"training accuracy {training:.2%} against validation {validation:.2%} at the kept epoch "
            f"{accuracy['epoch']} ({100 * accuracy['gap']:.1f} percentage points, threshold "
            f"{100 * GENERALISATION_GAP:.0f}), and batch statistics do not explain it: the model fits the "
            "training patches but not new ones."
        )
        found.append(
            _measured(
                "generalisation",
                "the model does not generalise beyond the training patches",
                evidence,
                "more variety in the training patches.",
                config,
                "f_augment",
                {"training_accuracy": training, "validation_accuracy": validation},
            )
        )
    majority = _majority(dataset_stats)
    if majority is None or training > majority[1] + NEAR_MAJORITY:
        return found
    evidence = (
        f"training accuracy at the kept epoch is {training:.2%}, within {100 * NEAR_MAJORITY:.0f} percentage points "
        f"of the most frequent training class's share ({_majority_text(majority)}): the network does not fit even "
        "the training patches."
    )
    measured = {"training_accuracy": training, "majority_training_share": majority[1]}
    transfer = config.get("model_type", "transfer") == "transfer"
    frozen = (architecture.get("backbone_layers") or {}).get("frozen")
    # A factor is named only where its own rule fires; otherwise the underfitting is reported as what it
    # is, with no factor (and no preset) attached to it.
    for rule in (
        _frozen_share_hypothesis(config, backbone_layers, frozen) if transfer else None,
        _learning_rate_hypothesis(config, flat),
    ):
        if rule is not None:
            evidence = f"{evidence} {rule['evidence']}"
            return found + [
                _measured(rule["id"], rule["name"], evidence, rule["suggestion"], config, rule["preset"], measured)
            ]
    suggestion = (
        "no configuration rule (frozen share, learning rate) attributes it to one factor: look at the training "
        "curves and the inputs before choosing a single-factor run."
    )
    name = "the network does not fit the training patches"
    return found + [_measured("underfitting", name, evidence, suggestion, config, None, measured)]


def _measured_prior_hypothesis(m, config, dataset_stats, explained, constant) -> dict | None:
    majority = _majority(dataset_stats)
    share = m["predictions"]
    if majority is None or explained or constant or share["top_share"] < TOP_SHARE_HIGH:
        return None
    _, training_share, tied = majority
    if share["top_class"] not in tied:
        return None
    if len(tied) == 1:
        largest = f"the most frequent training class ({training_share:.2%} of the training patches)"
    else:
        largest = (
            f"one of the most frequent training classes ({_and(tied)} are tied at {training_share:.2%} of the "
            "training patches each)"
        )
    evidence = (
        f"{share['top_share']:.2%} of the {m['samples']} {m['split']} predictions are {share['top_class']}, {largest}, "
        f"although the head's features vary (relative spread {m['features']['relative_spread']:.3g}) and batch "
        "statistics do not change the answer: the head rewards predicting the largest class."
    )
    return _measured(
        "class_prior",
        "the head predicts the most frequent training class",
        evidence,
        "weight each class by n / (classes x count).",
        config,
        "f_class_weights",
        {"top_share": share["top_share"]},
    )


def measured_hypotheses(
    measurements: dict[str, Any],
    config: dict[str, Any],
    dataset_stats: dict[str, Any],
    backbone_layers: int | None = None,
    architecture: dict[str, Any] | None = None,
    last_side: int | None = None,
    trainable: int | None = None,
    flat: bool = False,
) -> list[dict[str, Any]]:
    """The hypotheses consistent with the measurements, each with its number and (for the transfer
    model) the single-factor preset that would test it; thresholds are the constants above."""
    architecture = architecture or {}
    m = measurements
    explained = _batch_statistics_explain(m["batchnorm"])
    constant = m["features"]["relative_spread"] < FEATURE_SPREAD_LOW
    candidates = [
        _measured_batchnorm_hypothesis(m, config, dataset_stats, last_side, trainable, architecture),
        _measured_feature_hypothesis(m, config, explained),
        _measured_stem_hypothesis(m, config, dataset_stats),
        *_measured_fit_hypotheses(m, config, dataset_stats, backbone_layers, architecture, flat, explained),
        _measured_prior_hypothesis(m, config, dataset_stats, explained, constant),
    ]
    return [entry for entry in candidates if entry is not None]


def _numbers(values: list[float]) -> str:
    return "(" + ", ".join(f"{round(value, 3) + 0.0:.3g}" for value in values) + ")"


def measurement_lines(measurements: dict[str, Any]) -> list[str]:
    """One sentence per measurement, for the report's diagnosis."""
    m = measurements
    where = f"{m['samples']} {m['split']} patches"
    batchnorm = m["batchnorm"]
    if not batchnorm.get("applicable"):
        bn = f"BatchNorm: not applicable ({batchnorm['reason']})."
    else:
        every, trained = batchnorm["distance_all"], batchnorm["distance_trainable"]
        bn = f"BatchNorm ({batchnorm['layers']} layers, {batchnorm['trainable_layers']} trainable): "
        if batchnorm.get("batch_accuracy") is None:
            bn += f"{batchnorm['moving_accuracy']:.2%} on its moving statistics; {batchnorm['note']}"
        else:
            test = batchnorm["mcnemar_batch_vs_moving"]
            bn += (
                f"{batchnorm['moving_accuracy']:.2%} on its moving statistics, {_batch_accuracy_text(batchnorm)} on "
                "each batch's own"
            )
            gap = batchnorm.get("accuracy_gap")
            if gap:
                bn += (
                    f"; batch minus moving {100 * gap['mean']:+.1f} percentage points ({100 * gap['min']:+.1f} to "
                    f"{100 * gap['max']:+.1f})"
                )
            bn += f"; exact McNemar p = {test['p_value']:.3g}"
        bn += (
            f"; moving against input statistics, mean over {every['layers']} layers: mean shift "
            f"{every['mean_shift']:.3g} moving std, |ln variance ratio| {every['log_variance_ratio']:.3g}"
        )
        if trained:
            bn += f" ({trained['mean_shift']:.3g} and {trained['log_variance_ratio']:.3g} over the trainable ones)"
        bn += f"; largest shift in {every['largest_shift_layer']} ({every['largest_shift']:.3g})."
    features = m["features"]
    feature_text = (
        f"Features reaching the head ({features['layer']}, {features['features']}): relative spread across patches "
        f"{features['relative_spread']:.3g} ({features['constant_features']} constant)"
    )
    if "batch_mode_relative_spread" in features:
        feature_text += f"; {features['batch_mode_relative_spread']:.3g} with batch statistics"
    stem = m["stem"]
    observed = stem.get("recorded") or stem.get("validation")
    if observed is None:
        stem_text = "Stem: no statistics recorded."
    else:
        stem_text = (
            f"Stem ({stem['entering'] or 'first layer'}, {observed['split']} split): "
            f"mean {_numbers(observed['mean'])}, std {_numbers(observed['std'])}"
        )
        if stem.get("validation") and observed is not stem["validation"]:
            stem_text += f"; after training, on validation: std {_numbers(stem['validation']['std'])}"
        if stem.get("target") is None:
            stem_text += f"; no target: {stem.get('note', 'no pretrained weights')}."
        else:
            target = stem["target"]
            stem_text += f"; ImageNet images there: mean {_numbers(target['mean'])}, std {_numbers(target['std'])}"
            if "mean_offset_max" in stem:
                low, high = stem["std_ratio"]
                stem_text += (
                    f": means up to {stem['mean_offset_max']:.3g} ImageNet std away, spreads {low:.3g} to {high:.3g}x"
                )
            stem_text += "."
    accuracy = m["accuracy"]
    if accuracy.get("training") is None:
        fit = "Training accuracy: not recorded."
    else:
        fit = (
            f"Training accuracy {accuracy['training']:.2%} against validation {accuracy['validation']:.2%} at the kept "
            f"epoch {accuracy['epoch']} (gap {100 * accuracy['gap']:.1f} percentage points; training up to "
            f"{accuracy['training_max']:.2%})."
        )
    share = m["predictions"]
    return [
        f"Measured on the {where} after training ({m['forward_passes']} forward passes, weights unchanged):",
        bn,
        feature_text + ".",
        stem_text,
        fit,
        f"Most frequent predicted class: {share['top_class']}, {share['top_share']:.2%} of the {m['split']} patches.",
    ]
