"""Step 05: evaluate the trained model on the test split (else validation) and compare it with baselines.

Usage:
  python phase4a_05_evaluate_compare.py [--run-dir DIR]

The headline is the test split's accuracy when the data have one (validation also chose the epoch);
validation is reported too. Comparisons, each naming its baseline: with the published Week 3 figures
(week3_metrics.json from the Week 3 directory when present, else the report's 86.67%), two binomials
and only on the Week 3 validation patches they were measured on; with the SimpleCNN step 04 trained on
the same split (baseline_model.keras, config train_baseline) and with two seeded random forests fitted
here on the training split (evaluate/classical.py), each paired on the same patches.
With the SimpleCNN, the ensemble of the two (the mean of their probabilities, evaluate/ensemble.py)
gets the same statistics and a paired comparison with each member.
Where the evaluated patches have groups (data.npz groups_test / groups_val) intervals and tests resample
whole groups; verdicts are given on the test split only, Holm-corrected across the report
(evaluate/comparison.py). Every evaluation carries the accuracy and macro F1 intervals, the verdicts, the
sample size needed to tell the result from target_accuracy, and the diagnosis: the
trained model measured on the validation split (evaluate/measurements.py: BatchNorm on moving against
batch statistics, the spread of the head's features, the stem's input statistics, training against
validation accuracy, the top class's share; weights unchanged) and the causes those numbers support.
Writes evaluation_metrics.json (no timestamps: identical runs give identical files),
validation_predictions.csv (and test_predictions.csv with a test split), confusion_matrix.png,
training_curves.png and comparison_report.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import pandas as pd

from .. import accel
from .. import config as config_module
from ..cli import exit_step, run_step, step_parser
from ..data import dataset as dataset_module
from ..data.sources import original_source
from ..evaluate import classical, plots
from ..evaluate.comparison import (
    IN_RUN_BASELINE_NAME,
    accuracy_statistics,
    accuracy_summary,
    compare_with_baseline,
    decide,
    groups_text,
    model_label,
    record_classical_verdicts,
)
from ..evaluate.diagnosis import diagnose
from ..evaluate.ensemble import evaluate_ensemble
from ..evaluate.measurements import measure
from ..evaluate.published import load_baseline
from ..evaluate.report import build_report
from ..io import load_keras_model, read_json, save_figure, sha256_file, write_json, write_text
from ..metrics import classification_metrics
from ..provenance import environment
from ..stages import RETRAIN, RunDir

STAGE = "evaluate"


@dataclass(frozen=True)
class Inputs:
    """What step 05 reads from the run directory, besides the models."""

    data: dataset_module.Dataset
    data_hash: str
    data_summary: dict[str, Any]
    inspection: dict[str, Any]
    architecture: dict[str, Any]
    history: dict[str, Any]
    baseline_history: dict[str, Any] | None  # the same-run SimpleCNN's, with config train_baseline


@dataclass(frozen=True)
class Split:
    """The patches the headline is measured on: the test split when the data have one, else validation."""

    name: str
    X: np.ndarray
    y: np.ndarray
    groups: np.ndarray | None  # polygon or tile-quadrant ids: intervals and tests resample whole groups


@dataclass(frozen=True)
class Evaluation:
    """What step 05 computed, with the config and inputs its outputs describe: ``write_outputs`` writes it."""

    config: dict[str, Any]
    inputs: Inputs
    split: str
    metrics: dict[str, Any]
    validation: dict[str, Any] | None  # with a test split: the validation split's figures too
    comparison: dict[str, Any]
    statistics: dict[str, Any]
    classical_baselines: dict[str, Any]
    ensemble: dict[str, Any] | None  # with the same-run SimpleCNN: the mean of the two models' probabilities
    diagnosis: dict[str, Any]
    validation_predictions: pd.DataFrame
    test_predictions: pd.DataFrame | None
    environment: dict[str, Any]


def read_inputs(run: RunDir) -> Inputs:
    baseline_history = run.if_present("baseline_history")
    return Inputs(
        data=dataset_module.load(run.require("data")),
        data_hash=sha256_file(run.require("data")),
        data_summary=read_json(run.require("data_summary")),
        inspection=read_json(run.require("pretrained_inspection")),
        architecture=read_json(run.require("architecture_json")),
        history=read_json(run.require("training_history")),
        baseline_history=None if baseline_history is None else read_json(baseline_history),
    )


def baseline_model(run: RunDir) -> keras.Model | None:
    """The same-run SimpleCNN, when step 04 trained one (train_baseline), else None."""
    path = run.if_present("baseline_model")
    return None if path is None else load_keras_model(path, RETRAIN)


def headline_split(data: dataset_module.Dataset) -> Split:
    # Validation also chose the epoch, so the test split, where there is one, gives the headline.
    if data.X_test is not None:
        return Split("test", data.X_test, data.y_test, data.groups_test)
    return Split("validation", data.X_val, data.y_val, data.groups_val)


@dataclass(frozen=True)
class Predictions:
    """Every model's predictions that step 05 scores."""

    headline: np.ndarray  # the model's class probabilities on the headline split
    validation: np.ndarray  # and on the validation split (the same array where that is the headline)
    baseline: np.ndarray | None  # the same-run SimpleCNN's probabilities on the headline split
    baseline_validation_classes: np.ndarray | None  # and its classes on the validation split
    classical: dict[str, np.ndarray]  # each random forest's classes on the headline split


def _probabilities(model: keras.Model | None, X: np.ndarray, config: dict[str, Any]) -> np.ndarray | None:
    return None if model is None else accel.predict(model, X, config["batch_size"], config)


def predict_all(
    model: keras.Model,
    simple_cnn: keras.Model | None,
    split: Split,
    data: dataset_module.Dataset,
    config: dict[str, Any],
) -> Predictions:
    headline = _probabilities(model, split.X, config)
    baseline = _probabilities(simple_cnn, split.X, config)
    is_validation = split.name == "validation"
    baseline_validation = baseline if is_validation else _probabilities(simple_cnn, data.X_val, config)
    return Predictions(
        headline=headline,
        validation=headline if is_validation else _probabilities(model, data.X_val, config),
        baseline=baseline,
        baseline_validation_classes=None if baseline_validation is None else baseline_validation.argmax(axis=1),
        # The classical baselines, fitted here on the same training split.
        classical=classical.fit_predict(data.X_train, data.y_train, split.X, config["seed"]),
    )


def validation_figures(probabilities: np.ndarray, data: dataset_module.Dataset, seed: int) -> dict[str, Any]:
    """The validation split's metrics and accuracy interval, reported beside a test-split headline."""
    predicted = probabilities.argmax(axis=1)
    accuracy = accuracy_summary(predicted == data.y_val, data.groups_val, seed)
    return {
        "metrics": classification_metrics(data.y_val, predicted, data.class_names),
        "accuracy_ci95": accuracy["ci95"],
        "accuracy": accuracy,
        "note": "this split also chose the epoch",
    }


def ensemble_figures(split: Split, predictions: Predictions, config: dict[str, Any]) -> dict[str, Any] | None:
    """The mean of the model's and the same-run SimpleCNN's probabilities, compared with each; None without it."""
    if predictions.baseline is None:
        return None
    return evaluate_ensemble(
        split.y,
        predictions.headline,
        predictions.baseline,
        len(config["class_names"]),
        config["seed"],
        split.name,
        model_name=f"the {config['preset']}-preset {model_label(config)} model",
        baseline_name=IN_RUN_BASELINE_NAME,
        groups=split.groups,
    )


def headline_figures(split: Split, predictions: Predictions, inputs: Inputs, config: dict[str, Any]) -> dict[str, Any]:
    """The headline split's metrics and every comparison: with the published figures, the same-run
    SimpleCNN, the forests and the ensemble, their verdicts decided as one Holm family."""
    n_classes, seed = len(inputs.data.class_names), config["seed"]
    predicted = predictions.headline.argmax(axis=1)
    baseline_predicted = None if predictions.baseline is None else predictions.baseline.argmax(axis=1)
    metrics = classification_metrics(split.y, predicted, inputs.data.class_names)
    published = load_baseline(config)
    statistics = accuracy_statistics(
        split.y,
        predicted,
        n_classes,
        published,
        config,
        baseline_pred=baseline_predicted,
        classical_pred=predictions.classical,
        source=original_source(inputs.data_summary["source"]),
        split=split.name,
        groups=split.groups,
    )
    classical_baselines = classical.summarise(
        split.y, predicted, predictions.classical, n_classes, seed, split.name, groups=split.groups
    )
    ensemble = ensemble_figures(split, predictions, config)
    statistics["family"] = decide([*statistics["verdicts"], *(ensemble["verdicts"] if ensemble else [])])
    record_classical_verdicts(classical_baselines, statistics["verdicts"])
    return {
        "metrics": metrics,
        "comparison": compare_with_baseline(metrics, published),
        "statistics": statistics,
        "classical_baselines": classical_baselines,
        "ensemble": ensemble,
    }


def diagnosis_of(model: keras.Model, inputs: Inputs, config: dict[str, Any]) -> dict[str, Any]:
    """The causes the training records and the model's measurements support, measured on the
    validation split: the diagnosis explains training, which validation monitored."""
    data, history = inputs.data, inputs.history
    measurements = measure(model, data.X_val, data.y_val, config, history, inputs.architecture, data.class_names)
    diagnosis = diagnose(
        history["epochs"],
        config,
        inputs.data_summary,
        backbone_layers=inputs.inspection.get("layers"),
        architecture=inputs.architecture,
        measurements=measurements,
    )
    diagnosis["recorded"] = any("val_collapsed" in entry for entry in history["epochs"])
    return diagnosis


def predictions_table(
    y: np.ndarray, probabilities: np.ndarray, class_names: list[str], others: dict[str, np.ndarray]
) -> pd.DataFrame:
    """One row per patch: true and predicted class, each class's probability, and other models' classes."""
    predicted = probabilities.argmax(axis=1)
    table = pd.DataFrame(
        {
            "index": np.arange(len(y)),
            "true": [class_names[i] for i in y],
            "predicted": [class_names[i] for i in predicted],
            **{f"p_{name}": probabilities[:, i] for i, name in enumerate(class_names)},
        }
    )
    for column, values in others.items():
        table[column] = [class_names[i] for i in values]
    return table


def prediction_tables(split: Split, predictions: Predictions, data: dataset_module.Dataset) -> dict[str, Any]:
    """validation_predictions.csv and, with a test split, test_predictions.csv; the forests' classes are
    known on the headline split only."""
    names = data.class_names
    baseline = {} if predictions.baseline is None else {"baseline_predicted": predictions.baseline.argmax(axis=1)}
    headline = {**baseline, **{f"{key}_predicted": values for key, values in predictions.classical.items()}}
    headline_table = predictions_table(split.y, predictions.headline, names, headline)
    if split.name == "validation":
        return {"validation_predictions": headline_table, "test_predictions": None}
    validation_baseline = predictions.baseline_validation_classes
    validation = {} if validation_baseline is None else {"baseline_predicted": validation_baseline}
    return {
        "validation_predictions": predictions_table(data.y_val, predictions.validation, names, validation),
        "test_predictions": headline_table,
    }


def evaluate(run: RunDir, config: dict[str, Any]) -> Evaluation:
    """Step 05's numbers: the model on the headline split, against each baseline, and the diagnosis."""
    inputs = read_inputs(run)
    model = accel.load_prediction_model(run.require("transfer_model_keras"), RETRAIN, config)
    accel.prepare_prediction(model, config)
    split = headline_split(inputs.data)
    predictions = predict_all(model, baseline_model(run), split, inputs.data, config)
    validation = None
    if split.name == "test":
        validation = validation_figures(predictions.validation, inputs.data, config["seed"])
    return Evaluation(
        config=config,
        inputs=inputs,
        split=split.name,
        validation=validation,
        **headline_figures(split, predictions, inputs, config),
        diagnosis=diagnosis_of(model, inputs, config),
        **prediction_tables(split, predictions, inputs.data),
        environment=environment(),
    )


def metrics_record(evaluation: Evaluation) -> dict[str, Any]:
    """evaluation_metrics.json: every number step 05 computed, and no timestamp (identical runs give
    identical files)."""
    validation = evaluation.validation
    return {
        "metrics": evaluation.metrics,
        "evaluated_split": evaluation.split,
        **({"validation": validation} if validation is not None else {}),
        "comparison": evaluation.comparison,
        "statistics": evaluation.statistics,
        "classical_baselines": evaluation.classical_baselines,
        "ensemble": evaluation.ensemble,
        "diagnosis": evaluation.diagnosis,
        "config_hash": config_module.config_hash(evaluation.config),
        "data_hash": evaluation.inputs.data_hash,
        "preset": evaluation.config["preset"],
        "environment": evaluation.environment,
    }


def report_context(run: RunDir, evaluation: Evaluation) -> dict[str, Any]:
    """What comparison_report.md is written from (evaluate/report.py): the metrics record and the inputs."""
    inputs = evaluation.inputs
    return {
        **metrics_record(evaluation),
        "run_dir": str(run.root),
        "config": evaluation.config,
        "data_summary": inputs.data_summary,
        "inspection": inputs.inspection,
        "architecture": inputs.architecture,
        "history": inputs.history,
        "baseline_history": inputs.baseline_history,
        "split": evaluation.split,
        "validation": evaluation.validation,
    }


def write_outputs(run: RunDir, evaluation: Evaluation) -> None:
    config, class_names = evaluation.config, evaluation.inputs.data.class_names
    if evaluation.test_predictions is not None:
        write_text(run.path("test_predictions"), evaluation.test_predictions.to_csv(index=False, float_format="%.6f"))
    metrics = evaluation.metrics
    matrix = np.array(metrics["confusion_matrix"])
    title = f"{model_label(config)} ({config['preset']}): {evaluation.split} accuracy {metrics['accuracy']:.2%}"
    save_figure(run.path("confusion_matrix"), plots.confusion_matrix(matrix, class_names, title))
    save_figure(run.path("training_curves"), plots.training_curves(evaluation.inputs.history["epochs"]))
    write_text(
        run.path("validation_predictions"), evaluation.validation_predictions.to_csv(index=False, float_format="%.6f")
    )
    write_json(run.path("evaluation_metrics"), metrics_record(evaluation))
    write_text(run.path("comparison_report"), build_report(report_context(run, evaluation)))


def print_summary(run: RunDir, evaluation: Evaluation) -> None:
    metrics, statistics, split = evaluation.metrics, evaluation.statistics, evaluation.split
    low, high = statistics["accuracy"]["ci95"]
    print(
        f"{split} accuracy {metrics['accuracy']:.2%} (95% interval {low:.2%} to {high:.2%}, "
        f"macro F1 {metrics['f1_macro']:.3f}) on {groups_text(statistics['accuracy'])}"
    )
    for entry in evaluation.classical_baselines.values():
        print(f"{entry['name']}: {entry['accuracy']:.2%} (the model against it: {entry['deep_model_verdict']})")
    if evaluation.ensemble is not None:
        print(f"{evaluation.ensemble['name']}: {evaluation.ensemble['accuracy']['value']:.2%}")
        for verdict in evaluation.ensemble["verdicts"]:
            print(verdict["text"])
    if statistics["published_baseline"]["text"]:
        print(statistics["published_baseline"]["text"])
    for verdict in statistics["verdicts"]:
        print(f"{verdict['verdict']}: {verdict['text']}")
    print(statistics["target"]["target_text"])
    collapsed = metrics["single_class_prediction"]
    if collapsed:
        print(f"warning: the model predicts {collapsed} for every {split} patch (collapse)")
    print(f"diagnosis: {evaluation.diagnosis['summary']}")
    print(f"report: {run.path('comparison_report')}")
    print(f"figures: {run.path('confusion_matrix')}, {run.path('training_curves')}")


def main(argv: list[str] | None = None) -> int:
    args = step_parser(__doc__).parse_args(argv)

    def work(run: RunDir, config: dict[str, Any], _args) -> None:
        step_run = run.for_stage(STAGE)
        evaluation = evaluate(step_run, config)
        write_outputs(step_run, evaluation)
        print_summary(step_run, evaluation)

    return run_step(STAGE, args, work)


if __name__ == "__main__":
    exit_step(main())
