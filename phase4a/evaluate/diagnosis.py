"""Explaining a collapse after training: :func:`diagnose` reads the per-epoch records the collapse
monitor (train/collapse.py) wrote into ``training_history.json`` and lists likely causes, each with the
numbers that implicate it.
"""

from __future__ import annotations

from typing import Any

from ..config import input_normalisation, uses_pretrained_weights
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
        share = train_counts[majority] / max(sum(train_counts.values()), 1)
        finding["is_training_majority"] = majority == name
        finding["majority_training_share"] = share
        # Training accuracy of the collapsed epochs: near the majority share, the network predicts one
        # class on training batches too; well above it, it fits them and collapses on validation only.
        train_accuracy = [float(record["accuracy"]) for record in collapsed if "accuracy" in record]
        best = max(train_accuracy) if train_accuracy else None
        finding["training_accuracy_max"] = best
        if majority in epochs_by_class:
            text += f" {majority} is the most frequent training class ({share:.2%} of the training patches)"
            if best is None:
                text += "."
            elif best <= share + NEAR_MAJORITY:
                finding["no_usable_features"] = list(epochs_by_class) == [majority]
                head = ", the answer of a head that sees no usable features" if finding["no_usable_features"] else ""
                text += f", and training accuracy stayed at most {best:.2%} in those epochs{head}."
            else:
                text += (
                    f", but training accuracy reached {best:.2%} in those epochs, well above that share: the network "
                    "fits the training batches and predicts one class on the validation patches only."
                )
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
    return _cause(
        "input scale vs the backbone's preprocessing",
        evidence,
        "--input_normalisation imagenet: standardise the bands on the training split and map the stem's "
        f"channels onto ImageNet's statistics before keras.applications.{backbone}.preprocess_input.",
    )


def _batchnorm_cause(
    config: dict[str, Any],
    dataset_stats: dict[str, Any],
    last_side: int | None,
    trainable_layers: int | None,
    batchnorm_layers: int | None = None,
) -> dict[str, str] | None:
    # Keras runs BatchNorm of frozen layers in inference mode, so only trainable layers are at risk;
    # and a network without BatchNorm (VGG16) cannot have this cause at all.
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
    return _cause("BatchNorm in training mode on small batches", evidence, suggestion)


def _simplecnn_batchnorm_cause(
    config: dict[str, Any], dataset_stats: dict[str, Any], batchnorm_layers: int | None, stem_std: list[float] | None
) -> dict[str, str] | None:
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
    return _cause("BatchNorm statistics in the SimpleCNN", evidence + ".", suggestion)


def _frozen_share_cause(
    config: dict[str, Any], backbone_layers: int | None, frozen_layers: int | None = None
) -> dict[str, str] | None:
    frozen = config["frozen_layers"] if frozen_layers is None else frozen_layers
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
    architecture: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The collapse / flat-loss diagnosis for the report, with likely causes from the configuration.

    ``records``: per-epoch dicts from :class:`CollapseMonitor` or the saved training history (same keys).
    ``dataset_stats``: the data summary of step 01 (class names, per-split class counts, band ranges).
    ``backbone_layers``: the backbone's layer count, for the share of frozen layers.
    ``architecture``: step 03's architecture.json, when known: the frozen layer count, the number of
    BatchNorm layers (no BatchNorm cause for a network without any) and the statistics at the stem.
    Causes are checked only when training collapsed or went flat; each names the numbers behind it.
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
    causes = []
    if collapse["flag"] or flat["flag"]:
        candidates = [_learning_rate_cause(config, flat["flag"])]
        if transfer:
            candidates[:0] = [
                _input_scale_cause(config, dataset_stats),
                _batchnorm_cause(config, dataset_stats, last_side, trainable, batchnorm_layers),
                _feature_map_cause(config, last_side),
                _frozen_share_cause(config, backbone_layers, frozen_layers),
            ]
        else:
            candidates[:0] = [_simplecnn_batchnorm_cause(config, dataset_stats, batchnorm_layers, stem_std)]
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
