"""Explaining a collapse after training: :func:`diagnose` reads the per-epoch records the collapse
monitor (train/collapse.py) wrote into ``training_history.json`` and lists likely causes, each with the
numbers that implicate it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..metrics import COLLAPSED, DISTINCT, FLAT, FLAT_SINCE, TOP_CLASS, TOP_SHARE

# What each backbone's ImageNet weights expect at the input, and its total stride to the last stage.
EXPECTED_INPUT = {"resnet50": "caffe-style: RGB in 0-255 turned to BGR minus the ImageNet channel means"}
EXPECTED_INPUT_MAX = {"resnet50": 255.0}
OUTPUT_STRIDE = {"resnet50": 32}
LAST_STAGE_CHANNELS = {"resnet50": 2048}
GOOD_LAST_SIDE = 7  # the last-stage map of a 224x224 ImageNet input

HIGH_FROZEN_SHARE = 0.75
FINE_TUNE_LR_RANGE = (1e-5, 1e-3)  # usual Adam rates when pretrained layers train


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
    train_counts = _split(dataset_stats, "train").get("class_counts", {})
    if train_counts:
        majority = max(train_counts, key=train_counts.get)
        finding["is_training_majority"] = majority == name
        if list(epochs_by_class) == [majority]:
            text += (
                f" {majority} is the most frequent training class, the answer of a head that sees no usable features."
            )
        elif majority in epochs_by_class:
            text += f" {majority} is the most frequent training class."
        else:
            text += f" The most frequent training class, {majority}, is not among them."
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


def _cause(name: str, evidence: str, suggestion: str) -> dict[str, str]:
    return {"name": name, "evidence": evidence, "suggestion": suggestion}


def _input_scale_cause(config: dict[str, Any], dataset_stats: dict[str, Any]) -> dict[str, str] | None:
    backbone = config["backbone"]
    if config.get("preprocessing", "none") != "none" or config["weights"] == "none" or backbone not in EXPECTED_INPUT:
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
        f"preprocessing is 'none': {observed}, while {backbone}'s {config['weights']} weights expect "
        f"{EXPECTED_INPUT[backbone]}; the inputs are about {ratio:.0f}x smaller than expected."
    )
    if config["band_adapter"] == "conv1x1":
        evidence += " The learned 1x1 band adapter starts from small random weights, so its outputs keep that scale."
    return _cause(
        "input scale vs the backbone's preprocessing",
        evidence,
        f"scale bands to 0-255 and apply keras.applications.{backbone}.preprocess_input before the backbone "
        "(or fixed B4, B3, B2 RGB selection scaled to 0-255).",
    )


def _batchnorm_cause(
    config: dict[str, Any], dataset_stats: dict[str, Any], last_side: int | None, trainable_layers: int | None
) -> dict[str, str] | None:
    # Keras runs BatchNorm of frozen layers in inference mode, so only trainable layers are at risk.
    if config.get("bn_inference", False) or trainable_layers == 0:
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
    return _cause(
        "BatchNorm in training mode on small batches",
        evidence,
        "--bn_inference true (or the imagenet_preprocessing preset): BatchNorm keeps its ImageNet "
        "statistics, also after unfreezing, as the keras-io transfer-learning guide's training=False intends.",
    )


def _frozen_share_cause(config: dict[str, Any], backbone_layers: int | None) -> dict[str, str] | None:
    frozen = config["frozen_layers"]
    if backbone_layers is None or backbone_layers <= 0:
        return None
    share = min(frozen, backbone_layers) / backbone_layers
    if share < HIGH_FROZEN_SHARE:
        return None
    trainable = max(backbone_layers - frozen, 0)
    return _cause(
        "share of frozen layers",
        f"{min(frozen, backbone_layers)} of {backbone_layers} backbone layers are frozen ({share:.1%}); "
        f"{trainable} train. Frozen layers cannot adapt to inputs they were not trained on; the band "
        "adapter in front of them still needs the full backward pass through them.",
        "train the head with the whole backbone frozen first, then unfreeze the top stages and recompile "
        "with a learning rate about 10x lower.",
    )


def _learning_rate_cause(config: dict[str, Any], flat: bool) -> dict[str, str] | None:
    rate = config["learning_rate"]
    low, high = FINE_TUNE_LR_RANGE
    if rate > high and config["weights"] != "none":
        return _cause(
            "learning rate",
            f"learning_rate {rate:g} is above the usual fine-tuning range ({low:g} to {high:g}) for pretrained "
            "layers; large steps can wipe out pretrained features and push the head to one class.",
            f"use {high:g} or lower while pretrained layers train.",
        )
    if rate < low and flat:
        return _cause(
            "learning rate",
            f"learning_rate {rate:g} is below {low:g} and the validation loss is flat; steps this small barely "
            "move the weights.",
            f"try {low:g} to {high:g}.",
        )
    return None


def _feature_map_cause(config: dict[str, Any], last_side: int | None) -> dict[str, str] | None:
    backbone = config["backbone"]
    if last_side is None or last_side >= GOOD_LAST_SIDE:
        return None
    patch = config["patch_size"]
    side = patch * config["upsample_factor"]
    factor_for_good = -(-GOOD_LAST_SIDE * OUTPUT_STRIDE[backbone] // patch)
    return _cause(
        "feature-map size at the last stage",
        f"{patch}x{patch} patches upsampled x{config['upsample_factor']} give {side}x{side} inputs; after "
        f"{backbone}'s stride of {OUTPUT_STRIDE[backbone]} the last stage is {last_side}x{last_side}x"
        f"{LAST_STAGE_CHANNELS[backbone]} (ImageNet's 224x224 gives {GOOD_LAST_SIDE}x{GOOD_LAST_SIDE}), and "
        f"upsampling adds no information beyond the {patch * patch} original pixels.",
        f"extract larger patches, or upsample by {factor_for_good} to reach a "
        f"{GOOD_LAST_SIDE}x{GOOD_LAST_SIDE} last stage; a small CNN suits {patch}x{patch} patches directly.",
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
) -> dict[str, Any]:
    """The collapse / flat-loss diagnosis for the report, with likely causes from the configuration.

    ``records``: per-epoch dicts from :class:`CollapseMonitor` or the saved training history (same keys).
    ``dataset_stats``: the data summary of step 01 (class names, per-split class counts, band ranges).
    ``backbone_layers``: the backbone's layer count, for the share of frozen layers.
    Causes are checked only when training collapsed or went flat; each names the numbers behind it.
    """
    collapse = _collapse_finding(records, dataset_stats)
    flat = _flat_finding(records)
    # A SimpleCNN (model_type simplecnn) has no pretrained backbone: only the learning rate applies.
    transfer = config.get("model_type", "transfer") == "transfer"
    last_side = _last_stage_side(config) if transfer else None
    trainable = None if backbone_layers is None else max(backbone_layers - config["frozen_layers"], 0)
    causes = []
    if collapse["flag"] or flat["flag"]:
        candidates = [_learning_rate_cause(config, flat["flag"])]
        if transfer:
            candidates[:0] = [
                _input_scale_cause(config, dataset_stats),
                _batchnorm_cause(config, dataset_stats, last_side, trainable),
                _feature_map_cause(config, last_side),
                _frozen_share_cause(config, backbone_layers),
            ]
        causes = [cause for cause in candidates if cause is not None]
    return {
        "collapse": collapse,
        "flat_loss": flat,
        "epochs": len(records),
        "last_stage_side": last_side,
        "causes": causes,
        "summary": _summary(collapse, flat, causes, len(records)),
    }


def _summary(collapse: dict[str, Any], flat: dict[str, Any], causes: list[dict[str, str]], epochs: int) -> str:
    if not (collapse["flag"] or flat["flag"]):
        return f"No collapse and no flat validation loss in {epochs} epochs."
    parts = [finding["text"] for finding in (collapse, flat) if finding["flag"]]
    if causes:
        parts.append("Likely causes: " + "; ".join(cause["name"] for cause in causes) + ".")
    else:
        parts.append("No likely cause found in the configuration.")
    return " ".join(parts)
