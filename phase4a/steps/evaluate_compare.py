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

from typing import Any

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


def baseline_model(run: RunDir):
    """The same-run SimpleCNN, when step 04 trained one (train_baseline), else None."""
    path = run.path("baseline_model")
    if not path.is_file():
        return None
    return load_keras_model(path, RETRAIN)


def _classes(model, X: np.ndarray, config: dict[str, Any]) -> np.ndarray:
    return accel.predict(model, X, config["batch_size"], config).argmax(axis=1)


def _predictions_table(y: np.ndarray, probabilities: np.ndarray, class_names: list[str], others: dict[str, np.ndarray]):
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


def evaluate_compare(run: RunDir, config: dict[str, Any]) -> dict[str, Any]:
    data = dataset_module.load(run.require("data"))
    history = read_json(run.require("history"))
    data_summary = read_json(run.require("data_summary"))
    inspection = read_json(run.require("inspection"))
    architecture = read_json(run.require("architecture_counts"))
    model = accel.load_prediction_model(run.require("model_keras"), RETRAIN, config)
    accel.prepare_prediction(model, config)
    # The headline is the test split's when the data have one: validation also chose the epoch.
    has_test = data.X_test is not None
    split = "test" if has_test else "validation"
    X_eval, y_eval = (data.X_test, data.y_test) if has_test else (data.X_val, data.y_val)
    # Patches of one polygon or tile quadrant are near-duplicates: intervals and tests resample them together.
    groups = data.groups_test if has_test else data.groups_val
    probabilities = accel.predict(model, X_eval, config["batch_size"], config)
    predicted = probabilities.argmax(axis=1)
    simple_cnn = baseline_model(run)
    baseline_probabilities = None
    if simple_cnn is not None:
        baseline_probabilities = accel.predict(simple_cnn, X_eval, config["batch_size"], config)
    baseline_predicted = None if simple_cnn is None else baseline_probabilities.argmax(axis=1)
    # The classical baselines: fitted here, in seconds, on the same training split.
    classical_predicted = classical.fit_predict(data.X_train, data.y_train, X_eval, config["seed"])
    metrics = classification_metrics(y_eval, predicted, data.class_names)
    baseline = load_baseline(config)
    comparison = compare_with_baseline(metrics, baseline)
    source = original_source(data_summary["source"])
    statistics = accuracy_statistics(
        y_eval,
        predicted,
        len(data.class_names),
        baseline,
        config,
        baseline_pred=baseline_predicted,
        classical_pred=classical_predicted,
        source=source,
        split=split,
        groups=groups,
    )
    classical_baselines = classical.summarise(
        y_eval, predicted, classical_predicted, len(data.class_names), config["seed"], split, groups=groups
    )
    validation = None
    if has_test:
        val_probabilities = accel.predict(model, data.X_val, config["batch_size"], config)
        val_metrics = classification_metrics(data.y_val, val_probabilities.argmax(axis=1), data.class_names)
        accuracy = accuracy_summary(val_probabilities.argmax(axis=1) == data.y_val, data.groups_val, config["seed"])
        validation = {
            "metrics": val_metrics,
            "accuracy_ci95": accuracy["ci95"],
            "accuracy": accuracy,
            "note": "this split also chose the epoch",
        }
    ensemble = None
    if simple_cnn is not None:
        ensemble = evaluate_ensemble(
            y_eval,
            probabilities,
            baseline_probabilities,
            len(data.class_names),
            config["seed"],
            split,
            model_name=f"the {config['preset']}-preset {model_label(config)} model",
            baseline_name=IN_RUN_BASELINE_NAME,
            groups=groups,
        )
    # One Holm family for the whole report: the model's comparisons and the ensemble's together.
    statistics["family"] = decide([*statistics["verdicts"], *(ensemble["verdicts"] if ensemble else [])])
    record_classical_verdicts(classical_baselines, statistics["verdicts"])
    # Measured on the validation split (the diagnosis explains training, which validation monitored).
    measurements = measure(model, data.X_val, data.y_val, config, history, architecture, data.class_names)
    diagnosis = diagnose(
        history["epochs"],
        config,
        data_summary,
        backbone_layers=inspection.get("layers"),
        architecture=architecture,
        measurements=measurements,
    )
    diagnosis["recorded"] = any("val_collapsed" in entry for entry in history["epochs"])
    baseline_history = read_json(run.path("baseline_history")) if run.path("baseline_history").is_file() else None
    context = {
        "run_dir": str(run.root),
        "config": config,
        "config_hash": config_module.config_hash(config),
        "data_hash": sha256_file(run.path("data")),
        "data_summary": data_summary,
        "inspection": inspection,
        "architecture": architecture,
        "history": history,
        "baseline_history": baseline_history,
        "split": split,
        "metrics": metrics,
        "validation": validation,
        "comparison": comparison,
        "statistics": statistics,
        "classical_baselines": classical_baselines,
        "ensemble": ensemble,
        "diagnosis": diagnosis,
        "environment": environment(),
    }
    others = {} if baseline_predicted is None else {"baseline_predicted": baseline_predicted}
    others.update({f"{key}_predicted": values for key, values in classical_predicted.items()})
    if has_test:
        test_table = _predictions_table(y_eval, probabilities, data.class_names, others)
        write_text(run.path("test_predictions"), test_table.to_csv(index=False, float_format="%.6f"))
        val_others = {} if simple_cnn is None else {"baseline_predicted": _classes(simple_cnn, data.X_val, config)}
        predictions = _predictions_table(data.y_val, val_probabilities, data.class_names, val_others)
    else:
        predictions = _predictions_table(y_eval, probabilities, data.class_names, others)
    matrix = np.array(metrics["confusion_matrix"])
    title = f"{model_label(config)} ({config['preset']}): {split} accuracy {metrics['accuracy']:.2%}"
    save_figure(run.path("confusion_matrix"), plots.confusion_matrix(matrix, data.class_names, title))
    save_figure(run.path("training_curves"), plots.training_curves(history["epochs"]))
    write_text(run.path("predictions"), predictions.to_csv(index=False, float_format="%.6f"))
    write_json(
        run.path("metrics"),
        {
            "metrics": metrics,
            "evaluated_split": split,
            **({"validation": validation} if validation is not None else {}),
            "comparison": comparison,
            "statistics": statistics,
            "classical_baselines": classical_baselines,
            "ensemble": ensemble,
            "diagnosis": diagnosis,
            "config_hash": context["config_hash"],
            "data_hash": context["data_hash"],
            "preset": config["preset"],
            "environment": context["environment"],
        },
    )
    write_text(run.path("report"), build_report(context))
    return context


def main(argv: list[str] | None = None) -> int:
    args = step_parser(__doc__).parse_args(argv)

    def work(run: RunDir, config: dict[str, Any], _args) -> None:
        context = evaluate_compare(run, config)
        metrics, statistics, split = context["metrics"], context["statistics"], context["split"]
        low, high = statistics["accuracy"]["ci95"]
        print(
            f"{split} accuracy {metrics['accuracy']:.2%} (95% interval {low:.2%} to {high:.2%}, "
            f"macro F1 {metrics['f1_macro']:.3f}) on {groups_text(statistics['accuracy'])}"
        )
        for entry in context["classical_baselines"].values():
            print(f"{entry['name']}: {entry['accuracy']:.2%} (the model against it: {entry['deep_model_verdict']})")
        ensemble = context["ensemble"]
        if ensemble is not None:
            print(f"{ensemble['name']}: {ensemble['accuracy']['value']:.2%}")
            for verdict in ensemble["verdicts"]:
                print(verdict["text"])
        if statistics["published_baseline"]["text"]:
            print(statistics["published_baseline"]["text"])
        for verdict in statistics["verdicts"]:
            print(f"{verdict['verdict']}: {verdict['text']}")
        print(statistics["target"]["target_text"])
        collapsed = metrics["single_class_prediction"]
        if collapsed:
            print(f"warning: the model predicts {collapsed} for every {split} patch (collapse)")
        print(f"diagnosis: {context['diagnosis']['summary']}")
        print(f"report: {run.path('report')}")
        print(f"figures: {run.path('confusion_matrix')}, {run.path('training_curves')}, {run.path('sample_patches')}")

    return run_step("evaluate", args, work)


if __name__ == "__main__":
    exit_step(main())
