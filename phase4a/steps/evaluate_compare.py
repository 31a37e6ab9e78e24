"""Step 05: evaluate the trained model on the validation split and compare it with the baseline.

Usage:
  python phase4a_05_evaluate_compare.py [--run-dir DIR]

The baseline is week3_metrics.json from the Week 3 data directory when present, else the figures the
report published for the Week 3 SimpleCNN (86.67%). Writes evaluation_metrics.json,
validation_predictions.csv, confusion_matrix.png, training_curves.png and comparison_report.md.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import pandas as pd

from .. import config as config_module
from .. import plots
from ..baseline import load_baseline
from ..cli import run_step, step_parser
from ..data import dataset as dataset_module
from ..evaluation import classification_metrics, compare_with_baseline
from ..io import read_json, save_figure, sha256_file, write_json, write_text
from ..provenance import environment
from ..report import build_report
from ..stages import RunDir


def evaluate_compare(run: RunDir, config: dict[str, Any]) -> dict[str, Any]:
    import keras

    data = dataset_module.load(run.require("data"))
    history = read_json(run.require("history"))
    model = keras.models.load_model(run.require("model_keras"))
    probabilities = model.predict(data.X_val, batch_size=config["batch_size"], verbose=0)
    predicted = probabilities.argmax(axis=1)
    metrics = classification_metrics(data.y_val, predicted, data.class_names)
    comparison = compare_with_baseline(metrics, load_baseline(config))
    context = {
        "run_dir": str(run.root),
        "config": config,
        "config_hash": config_module.config_hash(config),
        "data_hash": sha256_file(run.path("data")),
        "data_summary": read_json(run.require("data_summary")),
        "inspection": read_json(run.require("inspection")),
        "architecture": read_json(run.require("architecture_counts")),
        "history": history,
        "metrics": metrics,
        "comparison": comparison,
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
    matrix = np.array(metrics["confusion_matrix"])
    title = f"{config['backbone']} ({config['preset']}): accuracy {metrics['accuracy']:.2%}"
    save_figure(run.path("confusion_matrix"), plots.confusion_matrix(matrix, data.class_names, title))
    save_figure(run.path("training_curves"), plots.training_curves(history["epochs"]))
    write_text(run.path("predictions"), predictions.to_csv(index=False, float_format="%.6f"))
    write_json(
        run.path("metrics"),
        {
            "metrics": metrics,
            "comparison": comparison,
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
        collapsed = metrics["single_class_prediction"]
        if collapsed:
            print(f"warning: the model predicts {collapsed} for every validation patch (collapse)")
        print(f"report: {run.path('report')}")
        print(f"figures: {run.path('confusion_matrix')}, {run.path('training_curves')}, {run.path('sample_patches')}")

    return run_step("evaluate", args, work)


if __name__ == "__main__":
    sys.exit(main())
