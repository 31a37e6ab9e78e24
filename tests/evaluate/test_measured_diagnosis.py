"""The diagnosis that measures (phase4a/evaluate/measurements.py, diagnosis.measured_hypotheses): each
measurement on a small model built to have that pathology, a normal model that has none, and every
weight unchanged afterwards. Tiny models, random weights, no download."""

import copy
import json

import keras
import numpy as np
import pytest

from phase4a.evaluate import diagnosis as diagnosis_module
from phase4a.evaluate import measurements as measurements_module
from phase4a.evaluate.diagnosis import diagnose, measurement_lines
from phase4a.evaluate.measurements import feature_spread, measure
from phase4a.models.preprocessing import imagenet_stem_targets
from phase4a.models.simple_cnn import build_simple_cnn
from phase4a.steps import evaluate_compare

from ..conftest import make_config, tiny_transfer_model

NAMES = ["Agriculture", "Forest", "Parcels", "Urban", "Water"]
DATA_STATS = {
    "class_names": NAMES,
    "splits": {
        "train": {"samples": 300, "class_counts": dict(zip(NAMES, [40, 84, 76, 32, 68]))},  # Forest: 28%
        "validation": {"samples": 64, "class_counts": dict(zip(NAMES, [32, 32, 0, 0, 0]))},
    },
}
# Step 03's record of what enters the stem for the report's model: reflectance in [0, 1] through a
# random 1x1 adapter (the mock run's architecture.json).
REFLECTANCE_STEM = {"entering": "resnet50", "mean": [0.31, 0.07, -0.04], "std": [0.17, 0.06, 0.08]}


def history(training: float, validation: float) -> dict:
    return {"restored_best_epoch": 1, "epochs": [{"epoch": 1, "accuracy": training, "val_accuracy": validation}]}


def two_class_patches(n: int = 64):
    """Class 0 patches near 5.5, class 1 near 4.5, alternating, so every batch holds both."""
    rng = np.random.default_rng(0)
    y = np.arange(n) % 2
    X = (np.where(y == 0, 5.5, 4.5)[:, None, None, None] + rng.normal(0, 0.05, (n, 2, 2, 1))).astype("float32")
    return X, y


def batchnorm_model(moving_mean: float, moving_variance: float, trainable: bool = True) -> keras.Model:
    """patches -> BatchNorm -> GAP -> Dropout(0.5) -> softmax(10 f, -10 f): class 0 when the normalised
    value is positive. With the data's own statistics (batch mode, or moving statistics set to them)
    every patch is right; moving statistics far from them put every patch in one class."""
    inputs = keras.Input((2, 2, 1), name="patches")
    bn = keras.layers.BatchNormalization(center=False, scale=False, name="bn")
    x = keras.layers.GlobalAveragePooling2D(name="global_pool")(bn(inputs))
    x = keras.layers.Dropout(0.5, name="head_dropout")(x)
    head = keras.layers.Dense(2, activation="softmax", name="predictions")
    model = keras.Model(inputs, head(x))
    head.set_weights([np.array([[10.0, -10.0]], "float32"), np.zeros(2, "float32")])
    bn.moving_mean.assign([moving_mean])
    bn.moving_variance.assign([moving_variance])
    bn.trainable = trainable
    return model


def backbone_model(constant: bool) -> keras.Model:
    """A nested backbone (1x1 convolution, ReLU), GAP, softmax. ``constant``: a zero kernel and a bias
    of 1, so the backbone outputs 1 for every patch; else random weights."""
    keras.utils.set_random_seed(3)
    b_in = keras.Input((4, 4, 3))
    conv = keras.layers.Conv2D(8, 1, name="b_conv")
    backbone = keras.Model(b_in, keras.layers.ReLU()(conv(b_in)), name="tiny_backbone")
    if constant:
        conv.set_weights([np.zeros((1, 1, 3, 8), "float32"), np.ones(8, "float32")])
    inputs = keras.Input((4, 4, 3), name="patches")
    x = keras.layers.GlobalAveragePooling2D(name="global_pool")(backbone(inputs))
    return keras.Model(inputs, keras.layers.Dense(5, activation="softmax", name="predictions")(x))


def varied_patches(n: int = 40):
    rng = np.random.default_rng(1)
    brightness = rng.uniform(0.1, 1.0, (n, 1, 1, 1))
    return (brightness * rng.uniform(0, 1, (n, 4, 4, 3))).astype("float32"), np.arange(n) % 5


def weights_of(model: keras.Model) -> list[np.ndarray]:
    return [np.array(w, copy=True) for w in model.get_weights()]


def assert_weights_unchanged(before: list[np.ndarray], model: keras.Model) -> None:
    after = model.get_weights()
    assert len(before) == len(after)
    for old, new in zip(before, after):
        np.testing.assert_array_equal(old, new)


def measured(model, X, y, config, train=1.0, val=1.0, architecture=None):
    return measure(model, X, y, config, history(train, val), architecture or {}, NAMES[: int(y.max()) + 1])


def causes(m, config, **kwargs):
    return {cause["name"]: cause for cause in diagnose([], config, DATA_STATS, measurements=m, **kwargs)["causes"]}


REPORT = make_config("report", batch_size=16)


def test_batchnorm_far_from_its_inputs_gives_a_large_gap_and_a_different_accuracy():
    X, y = two_class_patches()
    model = batchnorm_model(moving_mean=100.0, moving_variance=1.0)
    before = weights_of(model)
    m = measured(model, X, y, REPORT, train=1.0, val=0.5)
    assert_weights_unchanged(before, model)  # the moving statistics too: no assignment in batch mode
    assert model.get_layer("head_dropout").rate == 0.5  # restored after the batch-statistics pass
    bn = m["batchnorm"]
    assert bn["applicable"] and bn["layers"] == 1 and bn["trainable_layers"] == 1
    assert bn["moving_accuracy"] == 0.5  # every patch below 100: one class
    assert bn["batch_accuracy"] == 1.0  # each batch's own statistics (and no dropout): every patch right
    assert bn["mcnemar_batch_vs_moving"]["b"] == 32 and bn["mcnemar_batch_vs_moving"]["c"] == 0
    # |5 - 100| / sqrt(1 + eps) = 95 moving standard deviations; variance 0.25 + noise against 1.
    eps = model.get_layer("bn").epsilon
    assert bn["distance_trainable"]["mean_shift"] == pytest.approx(abs(X.mean() - 100) / np.sqrt(1 + eps), rel=1e-6)
    ratio = np.log((1 + eps) / (X.astype(np.float64).var() + eps))
    assert bn["distance_trainable"]["log_variance_ratio"] == pytest.approx(ratio, rel=1e-6)
    assert m["predictions"]["top_share"] == 1.0 and m["forward_passes"] == 1 + measurements_module.BATCH_DRAWS
    found = causes(m, REPORT)
    assert list(found) == ["BatchNorm in training mode on small batches"]  # constant features follow from it
    cause = found["BatchNorm in training mode on small batches"]
    assert cause["preset"] == "f_bn_inference" and cause["id"] == "batchnorm_statistics"
    assert "gives 100.00% (mean of 5 shuffled orders of batches of 16, seed 42: 100.00% to 100.00%" in cause["evidence"]
    assert "against 50.00% on its moving statistics" in cause["evidence"]
    assert cause["measured"]["mean_shift"] == pytest.approx(95, abs=0.1)
    json.dumps(m)


def test_a_normal_batchnorm_model_gives_neither_a_gap_nor_a_hypothesis():
    X, y = two_class_patches()
    model = batchnorm_model(moving_mean=float(X.mean()), moving_variance=float(X.var()))
    m = measured(model, X, y, REPORT)
    bn = m["batchnorm"]
    assert bn["moving_accuracy"] == bn["batch_accuracy"] == 1.0
    assert bn["distance_all"]["mean_shift"] < 0.1 and bn["distance_all"]["log_variance_ratio"] < 0.1
    assert m["features"]["relative_spread"] > diagnosis_module.FEATURE_SPREAD_LOW
    assert causes(m, REPORT) == {}
    summary = diagnose([], REPORT, DATA_STATS, measurements=m)["summary"]
    assert "No hypothesis is consistent with the measurements on the validation split." in summary


def test_a_large_gap_alone_is_not_a_batchnorm_hypothesis():
    # Moving statistics far from the batch's, but the accuracy is the same both ways: no hypothesis.
    X, y = two_class_patches()
    model = batchnorm_model(moving_mean=float(X.mean()), moving_variance=1e-4)  # variance 2500x too small
    m = measured(model, X, y, REPORT)
    assert m["batchnorm"]["distance_all"]["log_variance_ratio"] > diagnosis_module.BN_LOG_VARIANCE_LARGE
    assert m["batchnorm"]["batch_accuracy"] == m["batchnorm"]["moving_accuracy"] == 1.0
    assert "BatchNorm in training mode on small batches" not in causes(m, REPORT)


def test_frozen_batchnorm_has_no_batch_statistics_mode():
    X, y = two_class_patches()
    model = batchnorm_model(moving_mean=100.0, moving_variance=1.0, trainable=False)
    m = measured(model, X, y, REPORT)
    assert m["batchnorm"]["batch_accuracy"] is None and "frozen" in m["batchnorm"]["note"]
    assert m["forward_passes"] == 1 and m["batchnorm"]["distance_trainable"] is None
    assert "BatchNorm in training mode on small batches" not in causes(m, REPORT)


def test_a_backbone_with_constant_output_gives_a_near_zero_feature_spread():
    X, y = varied_patches()
    constant = measured(backbone_model(constant=True), X, y, REPORT)
    assert constant["features"]["layer"] == "global_pool" and constant["features"]["features"] == 8
    assert constant["features"]["relative_spread"] == 0.0 and constant["features"]["constant_features"] == 8
    assert constant["batchnorm"] == {"applicable": False, "reason": "the model has no BatchNormalization layer"}
    found = causes(constant, REPORT)
    assert found["constant features at the head"]["preset"] == "f_standardise"  # random weights
    pretrained = {**REPORT, "weights": "imagenet"}
    assert causes(constant, pretrained)["constant features at the head"]["preset"] == "f_imagenet_preprocessing"
    normal = measured(backbone_model(constant=False), X, y, REPORT)
    assert normal["features"]["relative_spread"] > 0.2 and normal["features"]["constant_features"] < 8
    assert "constant features at the head" not in causes(normal, REPORT)


def test_feature_spread_definition():
    features = np.array([[1.0, 0.0, 2.0], [3.0, 0.0, 2.0]])  # std 1, 0, 0; mean |x| 2, 0, 2
    spread = feature_spread(features)
    assert spread["relative_spread"] == pytest.approx((0.5 + 0 + 0) / 3)
    assert spread["constant_features"] == 2 and spread["features"] == 3


def test_stem_statistics_against_imagenet_only_for_pretrained_weights():
    X, y = two_class_patches()
    model = batchnorm_model(moving_mean=float(X.mean()), moving_variance=float(X.var()))
    architecture = {"normalisation": {"stem": REFLECTANCE_STEM}}
    pretrained = {**REPORT, "weights": "imagenet"}
    m = measured(model, X, y, pretrained, architecture=architecture)
    stem = m["stem"]
    target_mean, target_std = imagenet_stem_targets("resnet50")
    assert stem["target"]["mean"] == pytest.approx(target_mean) and stem["compared"] == "train"
    # caffe: BGR minus the ImageNet means, std about 57: reflectance is ~1000x too narrow.
    assert stem["std_ratio"][1] == pytest.approx(0.17 / target_std[0]) and stem["std_ratio"][1] < 0.01
    cause = causes(m, pretrained)["input scale vs the backbone's preprocessing"]
    assert cause["preset"] == "f_imagenet_preprocessing" and "ImageNet standard deviations" in cause["evidence"]
    matched = {"entering": "resnet50", "mean": list(target_mean), "std": list(target_std)}
    m = measured(model, X, y, pretrained, architecture={"normalisation": {"stem": matched}})
    assert m["stem"]["mean_offset_max"] == pytest.approx(0) and m["stem"]["std_ratio"] == pytest.approx([1, 1])
    assert "input scale vs the backbone's preprocessing" not in causes(m, pretrained)
    m = measured(model, X, y, REPORT, architecture=architecture)  # weights none
    assert m["stem"]["target"] is None and "no input statistics are expected" in m["stem"]["note"]
    assert "input scale vs the backbone's preprocessing" not in causes(m, REPORT)


@pytest.fixture(scope="module")
def normal_measurements():
    X, y = two_class_patches()
    model = batchnorm_model(moving_mean=float(X.mean()), moving_variance=float(X.var()))
    return measured(model, X, y, REPORT)


def with_fit(m, training, validation, top_share=None, top_class="Forest"):
    m = copy.deepcopy(m)
    m["accuracy"].update(training=training, validation=validation, gap=training - validation, epoch=1)
    if top_share is not None:
        m["predictions"].update(top_share=top_share, top_class=top_class)
    return m


def test_training_far_above_validation_without_batchnorm_explaining_it(normal_measurements):
    found = causes(with_fit(normal_measurements, 0.95, 0.55), REPORT)
    assert found["the model does not generalise beyond the training patches"]["preset"] == "f_augment"
    assert causes(with_fit(normal_measurements, 0.95, 0.90), REPORT) == {}


def test_training_accuracy_at_the_majority_share_is_underfitting(normal_measurements):
    m = with_fit(normal_measurements, 0.30, 0.28)  # the majority (Forest) is 28% of the training patches
    frozen = {"backbone_layers": {"layers": 175, "frozen": 150, "trainable": 25}}
    found = causes(m, REPORT, backbone_layers=175, architecture=frozen)
    assert found["share of frozen layers"]["preset"] == "f_less_freezing"
    assert "within 5 percentage points" in found["share of frozen layers"]["evidence"]
    # Few frozen layers and a learning rate inside the usual range: no rule names a factor
    # (tests/evaluate/test_diagnosis_hypotheses.py covers the learning rate's own rule).
    few = {"backbone_layers": {"layers": 175, "frozen": 10, "trainable": 165}}
    found = causes(m, {**REPORT, "frozen_layers": 10}, backbone_layers=175, architecture=few)
    assert list(found) == ["the network does not fit the training patches"]
    assert found["the network does not fit the training patches"]["preset"] is None


def test_predicting_the_training_majority_with_varied_features(normal_measurements):
    m = with_fit(normal_measurements, 0.6, 0.5, top_share=0.95, top_class="Forest")
    assert causes(m, REPORT)["the head predicts the most frequent training class"]["preset"] == "f_class_weights"
    m = with_fit(normal_measurements, 0.6, 0.5, top_share=0.95, top_class="Water")  # not the majority
    assert "the head predicts the most frequent training class" not in causes(m, REPORT)


def test_an_existing_factor_is_named_as_already_set():
    X, y = two_class_patches()
    m = measured(batchnorm_model(100.0, 1.0), X, y, REPORT)
    config = {**REPORT, "bn_inference": True}  # the measurement, not the config, decides here
    assert "this run already has it" in causes(m, config)["BatchNorm in training mode on small batches"]["suggestion"]


def test_transfer_model_measurements_leave_every_weight_unchanged(patches):
    model = tiny_transfer_model(backbone_trainable=True, adapter_trainable=True)
    X = patches[0][:, :4, :4, :2]
    y = patches[1] % 3
    before = weights_of(model)
    m = measure(model, X, y, make_config("report", batch_size=4), history(0.5, 0.5), {}, NAMES[:3])
    assert_weights_unchanged(before, model)
    assert model.get_layer("head_dropout").rate == 0.3
    assert m["batchnorm"]["layers"] == 1 and m["batchnorm"]["per_layer"][0]["layer"] == "b_bn"
    assert m["batchnorm"]["batch_accuracy"] is not None  # batch mode ran, through the nested backbone
    # The BatchNorm input's statistics, read inside the nested backbone, against a sub-model's.
    backbone = model.get_layer("tiny_backbone")
    front = keras.Model(model.inputs[0], model.get_layer("band_reduction").output)
    inner = keras.Model(backbone.inputs[0], backbone.get_layer("b_bn").input)
    values = np.asarray(inner(front(X)), dtype=np.float64)
    bn = backbone.get_layer("b_bn")
    moving_mean, moving_variance = np.asarray(bn.moving_mean), np.asarray(bn.moving_variance)
    shift = np.abs(values.mean(axis=(0, 1, 2)) - moving_mean) / np.sqrt(moving_variance + bn.epsilon)
    assert m["batchnorm"]["per_layer"][0]["mean_shift"] == pytest.approx(shift.mean(), rel=1e-5)
    ratio = np.log((values.var(axis=(0, 1, 2)) + bn.epsilon) / (moving_variance + bn.epsilon))
    assert m["batchnorm"]["per_layer"][0]["log_variance_ratio"] == pytest.approx(np.abs(ratio).mean(), rel=1e-5)
    assert m["features"]["layer"] == "global_pool" and m["features"]["features"] == 4
    assert m["stem"]["validation"] is not None and len(m["stem"]["validation"]["mean"]) == 3  # adapter output


def test_simplecnn_measurements(patches):
    keras.utils.set_random_seed(0)
    model = build_simple_cnn((8, 8, 6), 5, standardise=True)
    X, y = patches
    before = weights_of(model)
    config = make_config("simplecnn", batch_size=4)
    m = measure(model, X, y, config, history(0.5, 0.5), {}, NAMES)
    assert_weights_unchanged(before, model)
    assert m["batchnorm"]["layers"] == 2 and m["batchnorm"]["trainable_layers"] == 2
    assert m["features"]["layer"] == "flatten" and m["features"]["features"] == 4 * 4 * 64
    assert "SimpleCNN" in m["stem"]["note"]
    lines = measurement_lines(m)
    assert lines[0].startswith("Measured on the 8 validation patches") and "BatchNorm (2 layers" in lines[1]
    for cause in diagnose([], config, DATA_STATS, measurements=m)["causes"]:
        assert cause["preset"] is None  # the f_* presets change the report's transfer model, not the SimpleCNN


def test_step_05_writes_the_measurements_and_the_report_lines(trained_cnn_run):
    metrics = json.loads((trained_cnn_run / "evaluation_metrics.json").read_text())
    diagnosis = metrics["diagnosis"]
    assert diagnosis["basis"] == "measurements"
    m = diagnosis["measurements"]
    assert m["split"] == "validation" and m["samples"] == 10
    assert m["batchnorm"]["layers"] == 2 and m["features"]["layer"] == "flatten"
    assert m["accuracy"]["measured_validation"] == pytest.approx(
        metrics["metrics"]["accuracy"]
    )  # no test split: the evaluated split is validation, the same predictions
    report = (trained_cnn_run / "comparison_report.md").read_text()
    assert "- Measured on the 10 validation patches after training" in report
    assert "  - Features reaching the head (flatten, 1024)" in report


def test_step_05_again_gives_identical_measurements(trained_cnn_run, copy_run):
    run = copy_run(trained_cnn_run)
    before = (run / "evaluation_metrics.json").read_bytes()
    weights = (run / "transfer_model.keras").read_bytes()
    assert evaluate_compare.main(["--run-dir", str(run)]) == 0
    assert (run / "evaluation_metrics.json").read_bytes() == before
    assert (run / "transfer_model.keras").read_bytes() == weights  # measuring saves nothing


@pytest.mark.parametrize("batch_size", [16, 4])  # 4: some shuffled batches hold one class, the draws differ
def test_batch_statistics_do_not_follow_the_stored_order(batch_size):
    # EuroSAT stores its patches sorted by class: batches in that order hold one class each, and a
    # BatchNorm layer on its own batch's statistics then sees the label through the batch's mean.
    X, y = two_class_patches()
    model = batchnorm_model(moving_mean=100.0, moving_variance=1.0)
    config = make_config("report", batch_size=batch_size)
    by_class = np.argsort(y, kind="stable")
    permuted = np.random.default_rng(7).permutation(len(y))
    sorted_bn = measured(model, X[by_class], y[by_class], config)["batchnorm"]
    permuted_bn = measured(model, X[permuted], y[permuted], config)["batchnorm"]
    # In stored order the class-sorted split gave about 55% (against 94% to 100% permuted).
    assert sorted_bn["batch_accuracy"] > 0.8 and permuted_bn["batch_accuracy"] > 0.8
    for bn in (sorted_bn, permuted_bn):
        draws = bn["batch_accuracy_draws"]
        assert len(draws["values"]) == measurements_module.BATCH_DRAWS and bn["batch_accuracy"] == draws["mean"]
        assert draws["min"] <= draws["mean"] <= draws["max"] and (draws["std"] > 0) is (batch_size == 4)
        gap = bn["accuracy_gap"]  # batch minus moving statistics, per draw
        assert gap["values"] == pytest.approx([value - bn["moving_accuracy"] for value in draws["values"]])
        assert gap["mean"] == pytest.approx(draws["mean"] - bn["moving_accuracy"])
    # Either order's mean lies inside the other's range of draws, and within their spreads of each other.
    for key in ("batch_accuracy_draws", "accuracy_gap"):
        a, b = sorted_bn[key], permuted_bn[key]
        assert b["min"] - 1e-12 <= a["mean"] <= b["max"] + 1e-12 and a["min"] - 1e-12 <= b["mean"] <= a["max"] + 1e-12
        assert abs(a["mean"] - b["mean"]) <= a["std"] + b["std"] + 1e-12
