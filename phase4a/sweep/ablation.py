"""The ablation sweep: several presets on the same data and split, side by side.

Usage:
  python -m phase4a.ablation [--presets a,b,c] [--sweep-dir DIR] [--key value ...]

Each preset runs the five steps in its own run directory, ``<sweep-dir>/<preset>``; ``--key value``
options go to every run's step 01 (e.g. ``--weights none --epochs 2``). The sweep's data are made
once, by step 01 into ``<sweep-dir>/data``; every preset's step 01 then reads that file instead of the
source (``--data_source npz --data_npz <sweep-dir>/data/data.npz``: checked, and copied byte for byte),
so all runs train and validate on byte-identical splits and each run's manifest names the file its
data came from. A run whose ``evaluation_metrics.json`` carries the same config and data hash is
complete and is not run again, so an interrupted sweep resumes where it stopped. Writes
``ablation_results.csv``, ``ablation_results.md`` (table and a summary derived from it) and
``ablation_accuracy.png``.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import config as config_module
from .. import statistics
from ..errors import ConfigError, Phase4AError
from ..io import read_json, save_figure, sha256_file, write_text
from ..paths import default_run_dir
from ..stages import RunDir

# The report's configuration, its "Future considerations" in the order the report lists them
# (less freezing, higher learning rate, simpler backbones, feature extraction, progressive
# unfreezing, augmentation), and the Week 3 SimpleCNN. Only those defined in config.PRESETS run.
DEFAULT_PRESETS = (
    "report",
    "less_freezing",
    "higher_lr",
    "mobilenetv2",
    "vgg16",
    "feature_extraction",
    "progressive",
    "augmented",
    "simplecnn",
)
REFERENCE = "report"  # every other run is compared with this one, pairwise, on the same patches
INTERRUPTED = 130  # the exit code a step's main returns after Ctrl-C (phase4a.cli.run_step)
RESULTS_CSV = "ablation_results.csv"
RESULTS_MD = "ablation_results.md"
RESULTS_PNG = "ablation_accuracy.png"

RunFunction = Callable[[str, Path, list[str]], None]


def available_presets(requested: list[str] | None) -> list[str]:
    """The presets to run: ``requested`` (each must exist), else the defaults that exist now."""
    if requested is None:
        return [name for name in DEFAULT_PRESETS if name in config_module.PRESETS]
    unknown = [name for name in requested if name not in config_module.PRESETS]
    if unknown:
        raise ConfigError(
            f"--presets names unknown preset(s) {', '.join(unknown)}; choose from {', '.join(config_module.PRESETS)}"
        )
    return requested


def expected_hash(preset: str, overrides: list[str]) -> str:
    return config_module.config_hash(config_module.resolve(preset, config_module.parse_overrides(overrides)))


def is_complete(run_dir: Path, config_hash: str, data_hash: str) -> bool:
    """A finished run: its metrics were computed for this config on these data."""
    path = RunDir(run_dir).path("metrics")
    if not path.is_file():
        return False
    stored = read_json(path)
    return stored.get("config_hash") == config_hash and stored.get("data_hash") == data_hash


def _check(code: int, script: str, preset: str) -> None:
    if code == INTERRUPTED:  # Ctrl-C inside a step: stop the sweep, not just this preset
        raise KeyboardInterrupt
    if code != 0:
        raise Phase4AError(
            f"preset {preset!r}: {script} exited with {code} (message above); fix it and re-run the sweep"
        )


def shared_data_options(overrides: list[str], reference: Path) -> list[str]:
    """Every preset's step-01 options: the sweep's, then its data.npz as the data source (later options
    win). The path is absolute, so the config (and its hash) does not depend on the working directory."""
    data = RunDir(reference).path("data").resolve()
    return [*overrides, "--data_source", "npz", "--data_npz", str(data)]


def run_preset(preset: str, run_dir: Path, run_options: list[str]) -> None:
    """Steps 01 to 05 for one preset, in-process (phase4a.pipeline); step 04 resumes if interrupted.

    ``run_options``: step 01's options, from :func:`shared_data_options`.
    """
    from ..pipeline import run_steps

    code, script = run_steps(run_dir, ["--overwrite", "--preset", preset, *run_options])
    if script is not None:
        _check(code, script, preset)


def _reference_is_current(reference: RunDir, overrides: list[str]) -> bool:
    if not (reference.path("data").is_file() and reference.path("config").is_file()):
        return False
    stored = config_module.config_hash(config_module.load(reference.path("config")))
    return stored == expected_hash(REFERENCE, overrides)


def make_reference_data(sweep_dir: Path, overrides: list[str]) -> Path:
    """Step 01 once, into ``<sweep>/data``; reused while the step-01 options stay the same, so a
    resumed sweep keeps its data and a sweep with other options gets data (and runs) of its own."""
    from ..steps import setup_config

    reference = RunDir(sweep_dir / "data")
    if not _reference_is_current(reference, overrides):
        argv = ["--run-dir", str(reference.root), "--overwrite", "--preset", REFERENCE, *overrides]
        _check(setup_config.main(argv), "step 01", "data")
    return reference.root


def sweep(
    presets: list[str],
    sweep_dir: Path,
    overrides: list[str],
    run_one: RunFunction = run_preset,
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Run every preset not already complete; returns the results table and failures by preset."""
    reference = make_reference_data(sweep_dir, overrides)
    data_hash = sha256_file(RunDir(reference).path("data"))
    run_options = shared_data_options(overrides, reference)
    failures = {}
    for preset in presets:
        run_dir = sweep_dir / preset
        if is_complete(run_dir, expected_hash(preset, run_options), data_hash):
            print(f"=== {preset}: complete in {run_dir}, not run again")
            continue
        print(f"=== {preset}: running in {run_dir}")
        try:
            run_one(preset, run_dir, run_options)
        except Phase4AError as error:
            failures[preset] = str(error)
            print(f"error: {error}", file=sys.stderr)
        except Exception as error:  # a bug in one preset's code must not cost the other runs
            failures[preset] = f"{type(error).__name__}: {error}"
            traceback.print_exc()
    finished = [
        p for p in presets if p not in failures and is_complete(sweep_dir / p, expected_hash(p, run_options), data_hash)
    ]
    return results_table(sweep_dir, finished), failures


# ---------------------------------------------------------------- results


def _predictions(run_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    table = pd.read_csv(RunDir(run_dir).path("predictions"))
    return table["true"].to_numpy(), table["predicted"].to_numpy()


def _versus_reference(sweep_dir: Path, preset: str, finished: list[str]) -> float | None:
    """Exact McNemar p of this preset against the report's configuration, on the same patches."""
    if preset == REFERENCE or REFERENCE not in finished:
        return None
    y_true, predicted = _predictions(sweep_dir / preset)
    _, reference = _predictions(sweep_dir / REFERENCE)
    return statistics.mcnemar_exact(y_true, predicted, reference)["p_value"]


def result_row(sweep_dir: Path, preset: str, finished: list[str]) -> dict[str, Any]:
    run = RunDir(sweep_dir / preset)
    stored = read_json(run.path("metrics"))
    history = read_json(run.path("history"))
    architecture = read_json(run.path("architecture_counts"))
    metrics, stats = stored["metrics"], stored["statistics"]
    return {
        "preset": preset,
        "accuracy": metrics["accuracy"],
        "accuracy_low": stats["accuracy"]["ci95"][0],
        "accuracy_high": stats["accuracy"]["ci95"][1],
        "f1_macro": metrics["f1_macro"],
        "f1_low": stats["f1_macro"]["ci95"][0],
        "f1_high": stats["f1_macro"]["ci95"][1],
        "collapsed": metrics["single_class_prediction"] is not None,
        "verdict_vs_baseline": stats["comparison"]["verdict"],
        "p_vs_report": _versus_reference(sweep_dir, preset, finished),
        "epochs": history["epochs_run"],
        "training_seconds": history["training_seconds"],
        "trainable_parameters": architecture["model_parameters"]["trainable"],
        "baseline_accuracy": stored["comparison"]["baseline"]["accuracy"],
        "samples": metrics["samples"],
        "config_hash": stored["config_hash"],
        "data_hash": stored["data_hash"],
    }


def results_table(sweep_dir: Path, finished: list[str]) -> pd.DataFrame:
    return pd.DataFrame([result_row(sweep_dir, preset, finished) for preset in finished])


def markdown_table(results: pd.DataFrame) -> str:
    header = "| preset | accuracy (95% CI) | macro F1 (95% CI) | collapse | vs report (McNemar p) | epochs | time (s) "
    header += "| trainable params |\n|---|---|---|---|---|---|---|---|"
    rows = [
        f"| {r.preset} | {r.accuracy:.2%} ({r.accuracy_low:.1%} to {r.accuracy_high:.1%}) | {r.f1_macro:.3f} "
        f"({r.f1_low:.3f} to {r.f1_high:.3f}) | {'yes' if r.collapsed else 'no'} | "
        f"{'-' if pd.isna(r.p_vs_report) else f'{r.p_vs_report:.3g}'} | {r.epochs} | {r.training_seconds:.1f} | "
        f"{r.trainable_parameters:,} |"
        for r in results.itertuples()
    ]
    return "\n".join([header, *rows])


def summary_lines(results: pd.DataFrame) -> list[str]:
    """What the sweep shows, from the numbers: best run, what overlaps it, collapses, the baseline."""
    if results.empty:
        return ["No run finished."]
    best = results.loc[results["accuracy"].idxmax()]
    overlapping = results[(results["accuracy_high"] >= best["accuracy_low"]) & (results["preset"] != best["preset"])]
    lines = [
        f"- Highest accuracy: **{best['preset']}**, {best['accuracy']:.2%} (95% CI {best['accuracy_low']:.1%} to "
        f"{best['accuracy_high']:.1%}) on {best['samples']} validation patches."
    ]
    if len(overlapping):
        lines.append(
            f"- Intervals overlapping the best one: {', '.join(overlapping['preset'])}; this validation set "
            "cannot rank those runs."
        )
    distinct = results[results["p_vs_report"].notna() & (results["p_vs_report"] < 0.05)]
    if len(distinct):
        lines.append(
            "- Different from the report's configuration on the same patches (McNemar p < 0.05): "
            + ", ".join(f"{r.preset} (p = {r.p_vs_report:.3g})" for r in distinct.itertuples())
            + "."
        )
    collapsed = results[results["collapsed"]]
    lines.append(
        f"- Collapsed to one class: {', '.join(collapsed['preset'])}."
        if len(collapsed)
        else "- No run collapsed to a single class."
    )
    baseline = best["baseline_accuracy"]
    above = results[results["accuracy_low"] > baseline]
    lines.append(
        f"- Runs whose whole interval lies above the baseline's {baseline:.2%}: "
        + (", ".join(above["preset"]) if len(above) else "none")
        + "."
    )
    if results["data_hash"].nunique() == 1:
        lines.append(f"- Every run used the same data (data.npz sha256 {results['data_hash'].iloc[0][:16]}).")
    return lines


def accuracy_chart(results: pd.DataFrame):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(max(5, 1.1 * len(results) + 2), 4))
    errors = [results["accuracy"] - results["accuracy_low"], results["accuracy_high"] - results["accuracy"]]
    colours = ["tab:red" if collapsed else "tab:blue" for collapsed in results["collapsed"]]
    axis.bar(results["preset"], results["accuracy"], yerr=errors, capsize=4, color=colours)
    if len(results):
        axis.axhline(results["baseline_accuracy"].iloc[0], color="tab:green", linestyle="--", label="baseline")
        axis.legend()
    axis.set_ylim(0, 1)
    axis.set_ylabel("validation accuracy (95% Wilson CI)")
    axis.set_title("Ablation sweep (red: collapsed to one class)")
    axis.tick_params(axis="x", rotation=30)
    figure.tight_layout()
    return figure


def write_results(sweep_dir: Path, results: pd.DataFrame, failures: dict[str, str]) -> None:
    write_text(sweep_dir / RESULTS_CSV, results.to_csv(index=False, float_format="%.6f"))
    failed = [f"- {preset} failed: {message}" for preset, message in failures.items()]
    body = ["# Ablation sweep", "", markdown_table(results), "", "## Summary", "", *summary_lines(results), *failed]
    write_text(sweep_dir / RESULTS_MD, "\n".join(body) + "\n")
    save_figure(sweep_dir / RESULTS_PNG, accuracy_chart(results))


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--presets", help=f"comma-separated presets (default: those of {', '.join(DEFAULT_PRESETS)} that exist)"
    )
    parser.add_argument("--sweep-dir", type=Path, help="default: phase4a_outputs/<mock|real>/ablation")
    return parser.parse_known_args(argv)


def main(argv: list[str] | None = None) -> int:
    args, overrides = parse_args(argv)
    try:
        requested = [name.strip() for name in args.presets.split(",") if name.strip()] if args.presets else None
        presets = available_presets(requested)
        data_source = config_module.resolve("report", config_module.parse_overrides(overrides))["data_source"]
        sweep_dir = args.sweep_dir or default_run_dir(data_source) / "ablation"
        results, failures = sweep(presets, sweep_dir, overrides)
        write_results(sweep_dir, results, failures)
    except Phase4AError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(markdown_table(results))
    print(f"results: {sweep_dir / RESULTS_MD}, {sweep_dir / RESULTS_CSV}, {sweep_dir / RESULTS_PNG}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
