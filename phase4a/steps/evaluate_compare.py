"""Step 05: evaluate the trained model on the validation split and compare it with the baseline.

Usage:
  python phase4a_05_evaluate_compare.py [--run-dir DIR]

The baseline is week3_metrics.json from the Week 3 data directory when present, else the figures the
report published for the Week 3 SimpleCNN (86.67%). When step 04 also trained the SimpleCNN on the same
split (baseline_model.keras, config train_baseline), both models' predictions are compared pairwise
(exact McNemar); otherwise only an unpaired comparison with the baseline's accuracy is possible.
Every evaluation carries a Wilson interval for accuracy, a seeded bootstrap interval for macro F1, a
verdict, the sample size needed to tell the result from target_accuracy, and the collapse diagnosis.
Writes evaluation_metrics.json (no timestamps: identical runs give identical files),
validation_predictions.csv, confusion_matrix.png, training_curves.png and comparison_report.md.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .. import accel
from .. import config as config_module
from ..cli import exit_step, run_step, step_parser
from ..data import dataset as dataset_module
from ..evaluate import plots
from ..evaluate.comparison import accuracy_statistics, compare_with_baseline, model_label
from ..evaluate.diagnosis import diagnose
from ..evaluate.published import load_baseline
from ..evaluate.report import build_report
from ..io import load_keras_model, read_json, save_figure, sha256_file, write_json, write_text
from ..metrics import classification_metrics
from ..provenance import environment
from ..stages import RunDir


def baseline_predictions(run: RunDir, X_val: np.ndarray, config: dict[str, Any]) -> np.ndarray | None:
    """The same-run SimpleCNN's class predictions on the validation split, when step 04 trained one."""
    path = run.path("baseline_model")
    if not path.is_file():
        return None
    model = load_keras_model(path, "re-run phase4a_04_train_transfer.py --retrain")
    return accel.predict(model, X_val, config["batch_size"], config).argmax(axis=1)


def evaluate_compare(run: RunDir, config: dict[str, Any]) -> dict[str, Any]:
    data = dataset_module.load(run.require("data"))
    history = read_json(run.require("history"))
    data_summary = read_json(run.require("data_summary"))
    inspection = read_json(run.require("inspection"))
    model = load_keras_model(run.require("model_keras"), "re-run phase4a_04_train_transfer.py --retrain")
    accel.prepare_prediction(model, config)
    probabilities = accel.predict(model, data.X_val, config["batch_size"], config)
    predicted = probabilities.argmax(axis=1)
    baseline_predicted = baseline_predictions(run, data.X_val, config)
    metrics = classification_metrics(data.y_val, predicted, data.class_names)
    baseline = load_baseline(config)
    comparison = compare_with_baseline(metrics, baseline)
    statistics = accuracy_statistics(
        data.y_val, predicted, len(data.class_names), baseline, config, baseline_pred=baseline_predicted
    )
    diagnosis = diagnose(history["epochs"], config, data_summary, backbone_layers=inspection.get("layers"))
    diagnosis["recorded"] = any("val_collapsed" in entry for entry in history["epochs"])
    context = {
        "run_dir": str(run.root),
        "config": config,
        "config_hash": config_module.config_hash(config),
        "data_hash": sha256_file(run.path("data")),
        "data_summary": data_summary,
        "inspection": inspection,
        "architecture": read_json(run.require("architecture_counts")),
        "history": history,
        "metrics": metrics,
        "comparison": comparison,
        "statistics": statistics,
        "diagnosis": diagnosis,
        "environment": environment(),
    }
    predictions = pd.DataFrame(
        {
            "index": np.arange(len(data.y_val)),
            "true": [data.class_names[i] for i in data.y_val],
            "predicted": [data.class_names[i] for i in predicted],
            **{f"p_{name}": probabilities[:, i] for i, name in enumerate(data.class_names)},
        }
    )
    if baseline_predicted is not None:
        predictions["baseline_predicted"] = [data.class_names[i] for i in baseline_predicted]
    matrix = np.array(metrics["confusion_matrix"])
    title = f"{model_label(config)} ({config['preset']}): accuracy {metrics['accuracy']:.2%}"
    save_figure(run.path("confusion_matrix"), plots.confusion_matrix(matrix, data.class_names, title))
    save_figure(run.path("training_curves"), plots.training_curves(history["epochs"]))
    write_text(run.path("predictions"), predictions.to_csv(index=False, float_format="%.6f"))
    write_json(
        run.path("metrics"),
        {
            "metrics": metrics,
            "comparison": comparison,
            "statistics": statistics,
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
        metrics, comparison = context["metrics"], context["comparison"]
        print(
            f"validation accuracy {metrics['accuracy']:.2%} (macro F1 {metrics['f1_macro']:.3f}) vs baseline "
            f"{comparison['baseline']['accuracy']:.2%}: {comparison['accuracy_change_pp']:+.2f} pp"
        )
        low, high = context["statistics"]["accuracy"]["ci95"]
        print(f"95% interval for accuracy: {low:.2%} to {high:.2%}")
        print(context["statistics"]["comparison"]["text"])
        collapsed = metrics["single_class_prediction"]
        if collapsed:
            print(f"warning: the model predicts {collapsed} for every validation patch (collapse)")
        print(f"diagnosis: {context['diagnosis']['summary']}")
        print(f"report: {run.path('report')}")
        print(f"figures: {run.path('confusion_matrix')}, {run.path('training_curves')}, {run.path('sample_patches')}")

    return run_step("evaluate", args, work)


if __name__ == "__main__":
    exit_step(main())
