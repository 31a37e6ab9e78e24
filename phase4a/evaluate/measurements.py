"""What the trained model does on the validation split, measured for the diagnosis (diagnosis.py).

:func:`measure` makes two kinds of forward pass over the validation split (one inference pass, then
``BATCH_DRAWS`` batch-statistics passes) and changes no weight (tests/evaluate/test_measured_diagnosis.py
checks every one):

1. inference mode, in calls of up to four training batches, through a probe model (public Keras API:
   a ``keras.Model`` from the model's input to tensors inside it, nested backbone included) that
   returns the predictions, the features reaching the head, and the per-channel mean and variance of
   the tensor entering the stem and of every BatchNormalization layer's input (computed in the graph,
   so memory stays that of an inference call); a nested backbone runs once, between the layers
   before and after it;
2. "batch statistics" mode, in batches of the training ``batch_size``: the model as it runs while
   training (``training=True``: every trainable BatchNorm layer normalises with the statistics of its
   own batch), through ``Model.stateless_call``,
   which returns the outputs and leaves every variable as it was (the moving averages included:
   Keras would otherwise assign them). Dropout layers are given rate 0 for this pass and their rates
   restored afterwards, so that the two passes differ in BatchNorm's statistics only. Skipped when
   no BatchNorm layer is trainable: the pass would be the inference pass again. The batches are
   shuffled (``BATCH_DRAWS`` draws of the patch order, numpy ``default_rng`` seeded with the config's
   ``seed``), as training shuffles them: in stored order (EuroSAT's is sorted by class) each batch
   would hold one class and its statistics would carry the label.

It returns numbers only; :func:`diagnosis.diagnose` decides what they support.

- ``batchnorm``: accuracy with moving against batch statistics: ``batch_accuracy`` is the mean over
  the draws, ``batch_accuracy_draws`` and ``accuracy_gap`` (batch minus moving statistics) give each
  draw's value, their mean, sample standard deviation, minimum and maximum; exact McNemar on the same
  patches, a patch counting as right with batch statistics when it is right in most draws. And per
  layer the distance between its moving statistics and the statistics of its input on the whole
  split (so it does not depend on the order): ``mean_shift`` = mean over channels of ``|batch mean -
  moving mean| / sqrt(moving variance + epsilon)``, ``log_variance_ratio`` = mean over channels of
  ``|ln((batch variance + epsilon) / (moving variance + epsilon))|``, summarised over every layer and
  over the trainable ones (those that switch statistics between training and inference). "Not
  applicable" without BatchNorm (VGG16).
- ``features``: the output of the last global pooling or flatten layer (the features the head
  sees): per feature its standard deviation across patches over its mean absolute value, averaged
  over features (``relative_spread``: near 0, the head sees the same input for every patch).
- ``stem``: the per-channel statistics entering the backbone (step 03's architecture.json, training
  split, before training; and measured here on validation, after training) against what ImageNet
  images look like there (models/preprocessing.py), when the weights are pretrained.
- ``accuracy``: training against validation accuracy of the kept epoch (training_history.json).
- ``predictions``: the most frequent predicted class and its share.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from .. import statistics
from ..accel.prediction import TRAINING_BATCHES_PER_CALL
from ..config import sections, uses_pretrained_weights
from ..models.backbones import all_layers
from ..models.inputs import model_inputs
from ..models.normalisation import stem_source_channels, stem_tensor
from ..models.preprocessing import imagenet_stem_targets

# A feature whose standard deviation across patches is below this fraction of its mean absolute value
# (or that is zero everywhere, a dead ReLU) counts as constant: float32 rounding alone gives ~1e-7.
CONSTANT_FEATURE = 1e-6
# Batch-statistics accuracy depends on which patches share a batch, so it is measured over several
# shuffled orders and reported with its spread: five draws show whether the number moves with the
# draw (a spread of zero over five is informative), at the cost of five training-mode passes over the
# validation split, small next to training. Odd, so that "right in most draws" has no ties.
BATCH_DRAWS = 5
STEM = "<stem>"  # the key of the stem's moments among the BatchNorm layers' (not a layer name)
FEATURE_LAYERS = (
    keras.layers.GlobalAveragePooling2D,
    keras.layers.GlobalMaxPooling2D,
    keras.layers.Flatten,
)


class _ChannelMoments:
    """Per-channel mean and (population) variance of a tensor over a split, from those of each call
    (computed in the graph, centred) combined in float64 (Chan et al.'s pairwise update)."""

    def __init__(self) -> None:
        self.mean: np.ndarray | float = 0.0
        self.m2: np.ndarray | float = 0.0  # sum of squared deviations from the mean
        self.count = 0

    def add(self, mean, variance, count: int) -> None:
        mean, variance = np.asarray(mean, dtype=np.float64), np.asarray(variance, dtype=np.float64)
        total = self.count + count
        delta = mean - self.mean
        self.mean = self.mean + delta * count / total
        self.m2 = self.m2 + variance * count + np.square(delta) * self.count * count / total
        self.count = total

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(self.mean), np.asarray(self.m2) / self.count


def _moments(tensor, axis: int) -> list:
    """Symbolic per-channel mean and variance of ``tensor`` over every axis but ``axis``: only these
    leave the graph, so memory stays that of an inference call."""
    axes = tuple(i for i in range(len(tensor.shape)) if i != axis % len(tensor.shape))
    return [keras.ops.mean(tensor, axis=axes), keras.ops.var(tensor, axis=axes)]


def _numpy(value) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(value))


def _entering(model: keras.Model, layer) -> Any:
    """The symbolic tensor entering ``layer`` (a nested model) in ``model``'s graph. The layers form a
    chain, as step 03 builds them (models/normalisation.stem_tensor)."""
    layers = list(model.layers)
    before = layers[layers.index(layer) - 1]
    return model.inputs[0] if isinstance(before, keras.layers.InputLayer) else before.output


def _batchnorm_layers(model: keras.Model) -> list:
    found = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            found.append(layer)
        elif isinstance(layer, keras.Model):
            found += _batchnorm_layers(layer)
    return found


def feature_layer(model: keras.Model):
    """The layer whose output reaches the head: the last global pooling or flatten layer, else None."""
    return next((layer for layer in reversed(model.layers) if isinstance(layer, FEATURE_LAYERS)), None)


class _Probe:
    """A model's inner tensors in inference mode: the per-channel moments of its BatchNorm inputs and of
    the stem (accumulated over calls), ``extra`` tensors as they are, and for each nested model the
    tensor entering it, passed on to that model's own probe."""

    def __init__(self, model: keras.Model, extra: list, stem=None) -> None:
        self.batchnorm = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
        self.nested = [layer for layer in model.layers if isinstance(layer, keras.Model)]
        self.extra = len(extra)
        # (name, symbolic tensor, channel axis) whose per-channel moments are accumulated.
        self.watched = [(layer.name, layer.input, layer.axis) for layer in self.batchnorm]
        if stem is not None:
            self.watched.append((STEM, stem, -1))
        moments = [moment for _, tensor, axis in self.watched for moment in _moments(tensor, axis)]
        outputs = [*extra, *moments, *(_entering(model, nested) for nested in self.nested)]
        self.model = keras.Model(model.inputs[0], outputs) if outputs else None
        self.children = [_Probe(nested, []) for nested in self.nested]
        self.moments = {name: _ChannelMoments() for name, _, _ in self.watched}

    def run(self, x) -> list[np.ndarray]:
        if self.model is None:
            return []
        values = self.model(x, training=False)
        values = list(values) if isinstance(values, (list, tuple)) else [values]
        for index, (name, tensor, axis) in enumerate(self.watched):
            mean, variance = values[self.extra + 2 * index], values[self.extra + 2 * index + 1]
            count = len(x) * int(np.prod(tensor.shape[1:])) // int(tensor.shape[axis])  # values per channel
            self.moments[name].add(_numpy(mean), _numpy(variance), count)
        for child, tensor in zip(self.children, values[self.extra + 2 * len(self.watched) :]):
            child.run(tensor)
        return [_numpy(value) for value in values[: self.extra]]

    def all_moments(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        result = {name: moments.result() for name, moments in self.moments.items()}
        for child in self.children:
            result.update(child.all_moments())
        return result


class _BackboneProbe:
    """The same for a model with one nested backbone (every transfer model), running the backbone once:
    the layers before it (to the stem), the backbone with its BatchNorm moments, then the layers after
    it (from the backbone's output, the next layer's input in the chain) to the ``extra`` tensors."""

    def __init__(self, model: keras.Model, extra: list, stem, backbone: keras.Model) -> None:
        layers = list(model.layers)
        index = layers.index(backbone)
        top = [layer for layer in layers if isinstance(layer, keras.layers.BatchNormalization)]
        before = [(layer.name, layer.input, layer.axis) for layer in top if layers.index(layer) < index]
        after = [(layer.name, layer.input, layer.axis) for layer in top if layers.index(layer) > index]
        before += [(STEM, stem, -1)] if stem is not None else []
        self.front = _Segment(keras.Model(model.inputs[0], _entering(model, backbone)), before)
        self.backbone = _Probe(backbone, [backbone.outputs[0]])
        self.back = _Segment(keras.Model(layers[index + 1].input, extra), after)

    @staticmethod
    def applies(model: keras.Model, extra: list) -> keras.Model | None:
        """The nested backbone, when there is exactly one and every ``extra`` tensor comes after it."""
        nested = [layer for layer in model.layers if isinstance(layer, keras.Model)]
        if len(nested) != 1 or model.layers.index(nested[0]) + 1 >= len(model.layers):
            return None
        try:
            keras.Model(model.layers[model.layers.index(nested[0]) + 1].input, extra)
        except ValueError:  # an extra tensor does not depend on the backbone's output
            return None
        return nested[0]

    def run(self, x) -> list[np.ndarray]:
        (entering,) = self.front.run(x)
        (features,) = self.backbone.run(entering)
        return self.back.run(features)

    def all_moments(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        return {**self.front.all_moments(), **self.backbone.all_moments(), **self.back.all_moments()}


class _Segment:
    """A sub-model's outputs, and the per-channel moments of ``watched`` (name, tensor, axis) tensors."""

    def __init__(self, model: keras.Model, watched: list) -> None:
        self.outputs = len(model.outputs)
        self.watched = watched
        moments = [moment for _, tensor, axis in watched for moment in _moments(tensor, axis)]
        self.model = keras.Model(model.inputs[0], [*model.outputs, *moments])
        self.moments = {name: _ChannelMoments() for name, _, _ in watched}

    def run(self, x) -> list[np.ndarray]:
        values = list(self.model(x, training=False))
        for index, (name, tensor, axis) in enumerate(self.watched):
            mean, variance = values[self.outputs + 2 * index], values[self.outputs + 2 * index + 1]
            count = len(x) * int(np.prod(tensor.shape[1:])) // int(tensor.shape[axis])  # values per channel
            self.moments[name].add(_numpy(mean), _numpy(variance), count)
        return [_numpy(value) for value in values[: self.outputs]]

    def all_moments(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        return {name: moments.result() for name, moments in self.moments.items()}


def batchnorm_distance(layer, batch_mean: np.ndarray, batch_variance: np.ndarray) -> dict[str, Any]:
    """How far ``layer``'s moving statistics are from the statistics of its input (see the module)."""
    moving_mean = _numpy(layer.moving_mean).astype(np.float64)
    moving_variance = _numpy(layer.moving_variance).astype(np.float64)
    epsilon = float(layer.epsilon)
    shift = np.abs(batch_mean - moving_mean) / np.sqrt(moving_variance + epsilon)
    ratio = np.abs(np.log((batch_variance + epsilon) / (moving_variance + epsilon)))
    return {
        "layer": layer.name,
        "trainable": bool(layer.trainable),
        "mean_shift": float(shift.mean()),
        "log_variance_ratio": float(ratio.mean()),
    }


def _summarise_distances(entries: list[dict[str, Any]]) -> dict[str, Any] | None:
    if not entries:
        return None
    worst = max(entries, key=lambda entry: entry["mean_shift"])
    return {
        "layers": len(entries),
        "mean_shift": float(np.mean([entry["mean_shift"] for entry in entries])),
        "log_variance_ratio": float(np.mean([entry["log_variance_ratio"] for entry in entries])),
        "largest_shift_layer": worst["layer"],
        "largest_shift": worst["mean_shift"],
    }


def feature_spread(features: np.ndarray) -> dict[str, Any]:
    """Per feature (N, F) its std across patches over its mean absolute value, averaged over features
    (0 for a feature that is 0 everywhere); and how many features are constant (CONSTANT_FEATURE)."""
    values = np.asarray(features, dtype=np.float64).reshape(len(features), -1)
    std = values.std(axis=0)
    size = np.abs(values).mean(axis=0)
    relative = np.divide(std, size, out=np.zeros_like(std), where=size > 0)
    return {
        "features": int(values.shape[1]),
        "relative_spread": float(relative.mean()),
        "constant_features": int(np.sum(std <= CONSTANT_FEATURE * size)),
        "mean_abs_value": float(size.mean()),
    }


def _without_dropout(model: keras.Model) -> list[tuple[Any, float]]:
    """Set every Dropout layer's rate (nested models included) to 0; returns (layer, old rate) pairs."""
    layers = [(layer, layer.rate) for layer in all_layers(model) if isinstance(layer, keras.layers.Dropout)]
    for layer, _ in layers:
        layer.rate = 0.0
    return layers


def _batch_mode_passes(
    model: keras.Model, feature_tensor, X: np.ndarray, batch_size: int, orders: list[np.ndarray]
) -> list[tuple[np.ndarray, float]]:
    """Per order of the patches (an index permutation): the classes predicted with ``training=True``
    (trainable BatchNorm on each batch's own statistics), in batches of ``batch_size`` taken in that
    order and returned in ``X``'s order, and the relative spread of the head's features
    (:func:`feature_spread`; only one draw's features are held at a time). Dropout off, every
    variable untouched (stateless_call)."""
    probe = keras.Model(model.inputs[0], [model.outputs[0], feature_tensor])
    saved = _without_dropout(model)
    results = []
    try:
        for order in orders:
            predicted, features = np.empty(len(X), dtype=int), []
            for start in range(0, len(X), batch_size):
                index = order[start : start + batch_size]
                (probabilities, batch_features), _ = probe.stateless_call(
                    probe.trainable_variables, probe.non_trainable_variables, X[index], training=True
                )
                predicted[index] = _numpy(probabilities).argmax(axis=1)
                features.append(_numpy(batch_features))
            results.append((predicted, feature_spread(np.concatenate(features))["relative_spread"]))
    finally:
        for layer, rate in saved:
            layer.rate = rate
    return results


def _spread(values: list[float]) -> dict[str, Any]:
    """Each draw's value, their mean, sample standard deviation (0 for one draw), minimum and maximum."""
    values = [float(value) for value in values]
    return {
        "values": values,
        "mean": float(np.mean(values)),
        "std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
        "min": min(values),
        "max": max(values),
    }


def _batch_statistics(
    model: keras.Model, feature_tensor, X: np.ndarray, y: np.ndarray, predicted: np.ndarray, config: dict[str, Any]
) -> dict[str, Any]:
    """The batch-statistics measurements over ``BATCH_DRAWS`` seeded shuffled orders (the module's)."""
    batch_size = int(config["batch_size"])
    rng = np.random.default_rng(int(config["seed"]))
    orders = [rng.permutation(len(X)) for _ in range(BATCH_DRAWS)]
    moving_right = predicted == y
    moving_accuracy = float(np.mean(moving_right))
    accuracies, top_shares, spreads, right_draws = [], [], [], np.zeros(len(X), dtype=int)
    for batch_predicted, relative_spread in _batch_mode_passes(model, feature_tensor, X, batch_size, orders):
        right_draws += batch_predicted == y
        accuracies.append(float(np.mean(batch_predicted == y)))
        top_shares.append(float(np.bincount(batch_predicted).max() / len(batch_predicted)))
        spreads.append(relative_spread)
    draws = _spread(accuracies)
    # One paired test on the same patches: a patch is right with batch statistics when it is right in
    # most draws (BATCH_DRAWS is odd), so the test neither picks a draw nor counts a patch five times.
    batch_right = 2 * right_draws > BATCH_DRAWS
    return {
        "batch_order": {"shuffled": True, "draws": BATCH_DRAWS, "seed": int(config["seed"])},
        "batch_accuracy": draws["mean"],
        "batch_accuracy_draws": draws,
        "accuracy_gap": _spread([accuracy - moving_accuracy for accuracy in accuracies]),
        # b: patches only batch statistics get right (in most draws); c: only moving statistics.
        "mcnemar_batch_vs_moving": statistics.mcnemar_exact(np.ones(len(X), dtype=bool), batch_right, moving_right),
        "batch_top_share": float(np.mean(top_shares)),
        "batch_mode_relative_spread": float(np.mean(spreads)),
    }


def _stem_comparison(
    config: dict[str, Any], architecture: dict[str, Any], validation: tuple[np.ndarray, np.ndarray] | None
) -> dict[str, Any]:
    recorded = (architecture or {}).get("normalisation", {}).get("stem")
    result: dict[str, Any] = {
        "entering": recorded.get("entering") if recorded else None,
        "recorded": None if not recorded else {"split": "train", "mean": recorded["mean"], "std": recorded["std"]},
        "validation": None,
        "target": None,
    }
    if validation is not None:
        mean, variance = validation
        result["validation"] = {"split": "validation", "mean": mean.tolist(), "std": np.sqrt(variance).tolist()}
    transfer = config.get("model_type", "transfer") == "transfer"
    if not transfer:
        result["note"] = "the SimpleCNN starts from random weights: no input statistics are expected at its stem"
        return result
    if not uses_pretrained_weights(config):
        result["note"] = "random weights (--weights none): no input statistics are expected at the stem"
        return result
    run_config = sections(config)
    sources = stem_source_channels(run_config.model, model_inputs(run_config.data))
    target_mean, target_std = imagenet_stem_targets(config["backbone"], sources)
    result["target"] = {"mean": list(target_mean), "std": list(target_std), "of": "ImageNet images"}
    observed = result["recorded"] or result["validation"]
    if observed is not None and len(observed["mean"]) == len(target_mean):
        mean, std = np.asarray(observed["mean"]), np.asarray(observed["std"])
        offset = np.abs(mean - np.asarray(target_mean)) / np.asarray(target_std)
        scale = std / np.asarray(target_std)
        result["compared"] = observed["split"]
        result["mean_offset_max"] = float(offset.max())  # in target standard deviations
        result["std_ratio"] = [float(scale.min()), float(scale.max())]
    return result


def _kept_epoch(history: dict[str, Any]) -> dict[str, Any] | None:
    epochs = history.get("epochs") or []
    if not epochs:
        return None
    kept = history.get("restored_best_epoch")
    return next((entry for entry in epochs if entry.get("epoch") == kept), epochs[-1])


def _accuracy(history: dict[str, Any], measured: float) -> dict[str, Any]:
    kept = _kept_epoch(history)
    result: dict[str, Any] = {"measured_validation": measured}
    if kept is None or "accuracy" not in kept:
        return {**result, "epoch": None, "training": None, "validation": None, "gap": None}
    training = float(kept["accuracy"])
    validation = float(kept.get("val_accuracy", measured))
    values = [float(entry["accuracy"]) for entry in history["epochs"] if "accuracy" in entry]
    return {
        **result,
        "epoch": int(kept["epoch"]),
        "training": training,
        "validation": validation,
        "gap": training - validation,
        "training_max": max(values),
        "note": "training accuracy is Keras' running mean over the epoch's batches, in training mode",
    }


def _prediction_share(predicted: np.ndarray, class_names: list[str]) -> dict[str, Any]:
    counts = np.bincount(predicted, minlength=len(class_names))
    top = int(counts.argmax())
    return {"top_class": class_names[top], "top_class_index": top, "top_share": float(counts[top] / len(predicted))}


def measure(
    model: keras.Model,
    X: np.ndarray,
    y: np.ndarray,
    config: dict[str, Any],
    history: dict[str, Any],
    architecture: dict[str, Any] | None,
    class_names: list[str],
    split: str = "validation",
) -> dict[str, Any]:
    """The measurements of the module docstring, on ``X``, ``y`` (the validation split)."""
    y = np.asarray(y)
    batch_size = int(config["batch_size"])
    pooling = feature_layer(model)
    feature_tensor = pooling.output if pooling is not None else model.layers[-1].input
    has_stem = any(isinstance(layer, (keras.Model, keras.layers.Conv2D)) for layer in model.layers)
    extra, stem = [model.outputs[0], feature_tensor], stem_tensor(model) if has_stem else None
    backbone = _BackboneProbe.applies(model, extra)
    probe = _BackboneProbe(model, extra, stem, backbone) if backbone is not None else _Probe(model, extra, stem)
    probabilities, features = [], []
    # Inference mode: a patch's outputs do not depend on its batch, so calls of several training batches
    # (fewer eager steps); only per-channel moments of the inner tensors leave the graph.
    call = TRAINING_BATCHES_PER_CALL * batch_size
    for start in range(0, len(X), call):
        values = probe.run(X[start : start + call])
        probabilities.append(values[0])
        features.append(values[1])
    probabilities, features = np.concatenate(probabilities), np.concatenate(features)
    predicted = probabilities.argmax(axis=1)
    moving_accuracy = float(np.mean(predicted == y))
    layers = _batchnorm_layers(model)
    moments = probe.all_moments()
    batchnorm: dict[str, Any]
    spread = feature_spread(features)
    if not layers:
        batchnorm = {"applicable": False, "reason": "the model has no BatchNormalization layer"}
    else:
        distances = [batchnorm_distance(layer, *moments[layer.name]) for layer in layers]
        trainable = [entry for entry in distances if entry["trainable"]]
        batchnorm = {
            "applicable": True,
            "layers": len(layers),
            "trainable_layers": len(trainable),
            "batch_size": batch_size,
            "moving_accuracy": moving_accuracy,
            "distance_all": _summarise_distances(distances),
            "distance_trainable": _summarise_distances(trainable),
            "statistics_of": f"each layer's input on the {split} split, layers before it in inference mode",
            "per_layer": distances,
        }
        if trainable:
            batch = _batch_statistics(model, feature_tensor, X, y, predicted, config)
            spread["batch_mode_relative_spread"] = batch.pop("batch_mode_relative_spread")  # mean over the draws
            batchnorm.update(batch)
        else:
            batchnorm["batch_accuracy"] = None
            batchnorm["note"] = (
                "every BatchNorm layer is frozen: it used its moving statistics while training too, so there is "
                "no batch-statistics mode to compare"
            )
    spread["layer"] = pooling.name if pooling is not None else f"input of {model.layers[-1].name}"
    return {
        "split": split,
        "samples": int(len(y)),
        "forward_passes": 1 + BATCH_DRAWS * int(bool(layers) and batchnorm.get("batch_accuracy") is not None),
        "batchnorm": batchnorm,
        "features": spread,
        "stem": _stem_comparison(config, architecture, moments[STEM] if has_stem else None),
        "accuracy": _accuracy(history, moving_accuracy),
        "predictions": _prediction_share(predicted, class_names),
    }
