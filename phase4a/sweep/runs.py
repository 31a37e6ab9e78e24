"""Making a sweep's data and running its (arm, seed[, training fraction]) runs, resumably.

Layout under the sweep directory:

- ``data/``: step 01 of ``report`` with the first seed; every run reads its ``data.npz`` (byte-identical
  splits). With ``vary_split`` each seed has its own, ``data_seed_<s>/`` (step 01 with that seed).
- ``curve_data/seed_<s>/fraction_<f>/data.npz``: a learning-curve subsample of that seed's training split
  (:mod:`phase4a.sweep.learning_curve`), validation and test unchanged; ``subsample.json`` beside it
  says what it was cut from, so it is reused (same bytes, same hash) while that holds.
- ``<arm>/seed_<s>/``: a run on the full training split; ``<arm>/fraction_<f>/seed_<s>/``: on a subsample.
- ``run_times.json``: the wall time of each run, kept across resumed invocations.

A run whose ``evaluation_metrics.json`` carries the expected config hash and data hash is complete and
is not run again, so a sweep killed between runs resumes where it stopped (and step 04 resumes a
training run killed mid-way from its per-epoch backup).
"""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score

from .. import config as config_module
from ..data import dataset as dataset_module
from ..errors import Phase4AError
from ..io import read_json, sha256_file, write_json
from ..pipeline import run_steps
from ..stages import ARTEFACTS, RunDir
from ..steps import setup_config
from . import forests, learning_curve
from .plan import REFERENCE, Arm

INTERRUPTED = 130  # the exit code a step's main returns after Ctrl-C (phase4a.cli.run_step)
RUN_TIMES = "run_times.json"
SUBSAMPLE_RECORD = "subsample.json"
# Where step 05 says which split its headline metrics are on (today: evaluated_split), and where its
# test predictions are (today: test_predictions.csv); read defensively, validation otherwise.
SPLIT_MARKERS = ("split", "evaluation_split", "evaluated_split", "evaluated_on", "headline_split")
TEST_PREDICTIONS = ("test_predictions.csv",)

RunFunction = Callable[[str, Path, list[str]], None]


@dataclass(frozen=True)
class RunKey:
    arm: str
    seed: int
    fraction: float = 1.0


@dataclass
class SweepPlan:
    sweep_dir: Path
    overrides: list[str]  # every run's step-01 options, before its arm's, seed and data file
    arms: list[Arm]  # the networks (forests are added by the sweep itself)
    seeds: list[int]
    vary_split: bool = False
    fractions: list[float] = field(default_factory=lambda: [1.0])
    curve_arms: list[str] = field(default_factory=list)  # the arms run at every fraction below 1

    def arm(self, name: str) -> Arm:
        return next(arm for arm in self.arms if arm.name == name)

    def keys(self) -> list[RunKey]:
        """Every run, in the order they run: full-data runs seed by seed, then the curve's fractions."""
        keys = [RunKey(arm.name, seed) for seed in self.seeds for arm in self.arms]
        for fraction in self.fractions:
            if fraction < 1:
                keys += [RunKey(name, seed, fraction) for seed in self.seeds for name in self.curve_arms]
        return keys


def fraction_label(fraction: float) -> str:
    return f"{fraction:g}"


def run_dir(sweep_dir: Path, key: RunKey) -> Path:
    base = Path(sweep_dir) / key.arm
    if key.fraction < 1:
        base = base / f"fraction_{fraction_label(key.fraction)}"
    return base / f"seed_{key.seed}"


def data_root(plan: SweepPlan, seed: int) -> Path:
    return plan.sweep_dir / (f"data_seed_{seed}" if plan.vary_split else "data")


def data_seed(plan: SweepPlan, seed: int) -> int:
    """The seed the data of ``seed``'s runs were made with: the first seed unless the split varies."""
    return seed if plan.vary_split else plan.seeds[0]


def _check(code: int, script: str, label: str) -> None:
    if code == INTERRUPTED:  # Ctrl-C inside a step: stop the sweep, not just this run
        raise KeyboardInterrupt
    if code != 0:
        raise Phase4AError(f"{label}: {script} exited with {code} (message above); fix it and re-run the sweep")


def expected_hash(preset: str, run_options: list[str]) -> str:
    return config_module.config_hash(config_module.resolve(preset, config_module.parse_overrides(run_options)))


def is_complete(directory: Path, config_hash: str, data_hash: str) -> bool:
    """A finished run: its metrics were computed for this config on these data."""
    path = RunDir(directory).path("metrics")
    if not path.is_file():
        return False
    try:
        stored = read_json(path)
    except (OSError, ValueError):
        return False
    return stored.get("config_hash") == config_hash and stored.get("data_hash") == data_hash


def make_data(root: Path, overrides: list[str], seed: int) -> Path:
    """Step 01 of ``report`` into ``root`` with ``seed``; reused while its config stays the same, so a
    resumed sweep keeps its data and a sweep with other options gets data (and runs) of its own."""
    options = [*overrides, "--seed", str(seed)]
    reference = RunDir(root)
    current = reference.path("data").is_file() and reference.path("config").is_file()
    if current:
        try:
            stored = config_module.config_hash(config_module.load(reference.path("config")))
        except Phase4AError:
            stored = None
        current = stored == expected_hash(REFERENCE, options)
    if not current:
        argv = ["--run-dir", str(root), "--overwrite", "--preset", REFERENCE, *options]
        _check(setup_config.main(argv), "step 01", f"data (seed {seed})")
    return reference.path("data")


def make_subsamples(parent: Path, fractions: list[float], seed: int, out_root: Path) -> dict[float, Path]:
    """The learning curve's data.npz files for one seed: nested, grouped subsamples of ``parent``'s
    training split, each written once and reused while its record matches (same parent, fraction, seed)."""
    paths = {1.0: parent}
    below = [fraction for fraction in fractions if fraction < 1]
    if not below:
        return paths
    parent_hash = sha256_file(parent)
    dataset = dataset_module.load(parent)
    indexes = learning_curve.nested_subsamples(dataset.y_train, learning_curve.groups_of(dataset), below, seed)
    summary_path = parent.parent / ARTEFACTS["data_summary"]
    summary = read_json(summary_path) if summary_path.is_file() else {}
    for fraction in below:
        folder = out_root / f"seed_{seed}" / f"fraction_{fraction_label(fraction)}"
        path = folder / ARTEFACTS["data"]
        record = {
            "parent": str(parent.resolve()),
            "parent_sha256": parent_hash,
            "fraction": fraction,
            "seed": seed,
            "train_patches": int(len(indexes[fraction])),
            "train_groups": int(len(np.unique(learning_curve.groups_of(dataset)[indexes[fraction]]))),
            "grouped_by": "groups_train" if dataset.groups_train is not None else "patch",
        }
        record_path = folder / SUBSAMPLE_RECORD
        if path.is_file() and record_path.is_file() and read_json(record_path) == record:
            paths[fraction] = path
            continue
        folder.mkdir(parents=True, exist_ok=True)
        dataset_module.save(path, learning_curve.subsample(dataset, indexes[fraction]))
        # Beside it, what step 01 of a run reading it records as the data's origin.
        write_json(
            folder / ARTEFACTS["data_summary"],
            {
                "source": {
                    "source": "npz",
                    "path": record["parent"],
                    "origin": summary.get("source"),
                    "subsample": record,
                },
                "scaling": summary.get("scaling", {}),
            },
        )
        write_json(record_path, record)
        paths[fraction] = path
    return paths


def run_preset(preset: str, directory: Path, run_options: list[str]) -> None:
    """Steps 01 to 05 for one run, in-process (phase4a.pipeline); step 04 resumes if interrupted."""
    code, script = run_steps(directory, ["--overwrite", "--preset", preset, *run_options])
    if script is not None:
        _check(code, script, f"{preset} in {directory}")


class Runner:
    """Runs a plan's runs that are not complete; remembers data files, their hashes and run times."""

    def __init__(self, plan: SweepPlan, run_one: RunFunction = run_preset):
        self.plan = plan
        self.run_one = run_one
        self.data: dict[tuple[int, float], Path] = {}
        self.hashes: dict[Path, str] = {}
        self.failures: dict[RunKey, str] = {}
        times_path = plan.sweep_dir / RUN_TIMES
        self.times: dict[str, float] = read_json(times_path) if times_path.is_file() else {}

    def prepare_data(self) -> None:
        """Every seed's data (made once, or per seed with vary_split) and its learning-curve subsamples."""
        plan = self.plan
        full = {}
        for seed in plan.seeds:
            made_with = data_seed(plan, seed)
            if made_with not in full:
                full[made_with] = make_data(data_root(plan, made_with), plan.overrides, made_with)
            paths = make_subsamples(full[made_with], plan.fractions, seed, plan.sweep_dir / "curve_data")
            for fraction, path in paths.items():
                self.data[(seed, fraction)] = path
        for path in self.data.values():
            if path not in self.hashes:
                self.hashes[path] = sha256_file(path)

    def run_options(self, key: RunKey) -> list[str]:
        data = self.data[(key.seed, key.fraction)].resolve()
        arm = self.plan.arm(key.arm)
        return [
            *self.plan.overrides,
            *arm.overrides,
            "--seed",
            str(key.seed),
            "--data_source",
            "npz",
            "--data_npz",
            str(data),
            # Step 02's backbone weights are the same for every arm of a seed: stored once for the sweep.
            "--shared_dir",
            str((self.plan.sweep_dir / "shared").resolve()),
        ]

    def complete(self, key: RunKey) -> bool:
        data = self.data[(key.seed, key.fraction)]
        options = self.run_options(key)
        return is_complete(
            run_dir(self.plan.sweep_dir, key), expected_hash(self.plan.arm(key.arm).preset, options), self.hashes[data]
        )

    def label(self, key: RunKey) -> str:
        fraction = f", training fraction {fraction_label(key.fraction)}" if key.fraction < 1 else ""
        return f"{key.arm} (seed {key.seed}{fraction})"

    def run(self) -> dict[RunKey, str]:
        """Run every run not already complete; returns the failures (a failed run does not stop the others)."""
        self.prepare_data()
        for key in self.plan.keys():
            directory = run_dir(self.plan.sweep_dir, key)
            if self.complete(key):
                print(f"=== {self.label(key)}: complete in {directory}, not run again", flush=True)
                continue
            print(f"=== {self.label(key)}: running in {directory}", flush=True)
            started = time.perf_counter()
            try:
                self.run_one(self.plan.arm(key.arm).preset, directory, self.run_options(key))
            except Phase4AError as error:
                self.failures[key] = str(error)
                print(f"error: {error}", file=sys.stderr)
                continue
            except Exception as error:  # a bug in one run's code must not cost the other runs
                self.failures[key] = f"{type(error).__name__}: {error}"
                traceback.print_exc()
                continue
            self.times[str(directory.relative_to(self.plan.sweep_dir))] = round(time.perf_counter() - started, 3)
            write_json(self.plan.sweep_dir / RUN_TIMES, self.times)
        return self.failures


# ---------------------------------------------------------------- reading finished runs


def evaluation_split(stored: dict[str, Any]) -> str:
    """``test`` where evaluation_metrics.json says its headline metrics are on the test split, else
    ``validation``."""
    for container in (stored, stored.get("metrics") or {}):
        for key in SPLIT_MARKERS:
            value = container.get(key) if isinstance(container, dict) else None
            if isinstance(value, str) and value.strip().lower().startswith("test"):
                return "test"
    return "validation"


def _prediction_table(directory: Path, split: str) -> pd.DataFrame | None:
    run = RunDir(directory)
    names = [ARTEFACTS.get("test_predictions", TEST_PREDICTIONS[0]), *TEST_PREDICTIONS] if split == "test" else []
    for name in dict.fromkeys(names):
        if (directory / name).is_file():
            return pd.read_csv(directory / name)
    if not run.path("predictions").is_file():
        return None
    table = pd.read_csv(run.path("predictions"))
    if "split" in table.columns:
        wanted = ("test",) if split == "test" else ("validation", "val")
        table = table[table["split"].astype(str).str.lower().isin(wanted)]
        return table if len(table) else None
    return None if split == "test" else table


def read_predictions(
    directory: Path, stored: dict[str, Any], class_names: list[str]
) -> tuple[str, np.ndarray, np.ndarray]:
    """(split, true, predicted) of a finished run on the split its headline metrics are on: the test
    split when evaluation_metrics.json says so and its predictions are found, else validation."""
    split = evaluation_split(stored)
    table = _prediction_table(directory, split)
    if table is None and split == "test":
        split, table = "validation", _prediction_table(directory, "validation")
    if table is None:
        raise Phase4AError(f"no predictions in {directory}; re-run the sweep to evaluate it again")
    index = {name: i for i, name in enumerate(class_names)}
    y_true = table["true"].map(index).to_numpy(dtype=np.int64)
    predicted = table["predicted"].map(index).to_numpy(dtype=np.int64)
    return split, y_true, predicted


def scores(y_true: np.ndarray, predicted: np.ndarray, n_classes: int) -> dict[str, Any]:
    return {
        "samples": int(len(y_true)),
        "accuracy": float(np.mean(predicted == y_true)),
        "f1_macro": float(f1_score(y_true, predicted, labels=list(range(n_classes)), average="macro", zero_division=0)),
        "collapsed": bool(len(np.unique(predicted)) == 1),
    }


@dataclass
class Results:
    """Every finished run's row (``table``) and its predictions, by (arm, seed, fraction)."""

    table: pd.DataFrame
    predictions: dict[tuple[str, int, float], tuple[np.ndarray, np.ndarray]]
    class_names: list[str]


def _optional_json(path: Path) -> dict[str, Any]:
    try:
        return read_json(path) if path.is_file() else {}
    except (OSError, ValueError):
        return {}


def collect(runner: Runner) -> Results:
    """Rows of every complete network run, then the forests fitted on the same data and split."""
    plan = runner.plan
    rows, predictions = [], {}
    class_names: list[str] = []
    for key in plan.keys():
        if key in runner.failures or not runner.complete(key):
            continue
        directory = run_dir(plan.sweep_dir, key)
        run = RunDir(directory)
        stored = read_json(run.path("metrics"))
        config = config_module.load(run.path("config"))
        class_names = list(config["class_names"])
        split, y_true, predicted = read_predictions(directory, stored, class_names)
        history = _optional_json(run.path("history"))
        architecture = _optional_json(run.path("architecture_counts"))
        data = runner.data[(key.seed, key.fraction)]
        rows.append(
            {
                "arm": key.arm,
                "preset": plan.arm(key.arm).preset,
                "kind": "network",
                "seed": key.seed,
                "fraction": key.fraction,
                "train_patches": _train_patches(runner, key),
                "split": split,
                **scores(y_true, predicted, len(class_names)),
                "epochs": history.get("epochs_run"),
                "training_seconds": history.get("training_seconds"),
                "run_seconds": runner.times.get(str(directory.relative_to(plan.sweep_dir))),
                "trainable_parameters": (architecture.get("model_parameters") or {}).get("trainable"),
                "config_hash": stored.get("config_hash"),
                "data_hash": runner.hashes[data],
                "run_dir": str(directory.relative_to(plan.sweep_dir)),
            }
        )
        predictions[(key.arm, key.seed, key.fraction)] = (y_true, predicted)
    table = pd.DataFrame(rows)
    forest_rows, forest_predictions, names = forest_results(runner, table)
    predictions.update(forest_predictions)
    table = pd.concat([table, pd.DataFrame(forest_rows)], ignore_index=True) if forest_rows else table
    return Results(table, predictions, class_names or names)


def _train_patches(runner: Runner, key: RunKey) -> int:
    path = runner.data[(key.seed, key.fraction)]
    record = path.parent / SUBSAMPLE_RECORD
    if key.fraction < 1 and record.is_file():
        return int(read_json(record)["train_patches"])
    with np.load(path, allow_pickle=False) as data:
        return int(len(data["y_train"]))


def forest_results(runner: Runner, networks: pd.DataFrame) -> tuple[list[dict], dict, list[str]]:
    """The forests on every (seed, fraction) of the sweep, evaluated on the split the seed's network
    runs were evaluated on (so that they pair with them), else on test when the data has one."""
    rows, predictions, class_names = [], {}, []
    for (seed, fraction), path in sorted(runner.data.items()):
        dataset = dataset_module.load(path)
        class_names = dataset.class_names
        split = _forest_split(networks, seed, dataset.has_test)
        X_eval, y_eval = (dataset.X_test, dataset.y_test) if split == "test" else (dataset.X_val, dataset.y_val)
        for name, predicted in forests.fit_predict(dataset.X_train, dataset.y_train, X_eval, seed).items():
            rows.append(
                {
                    "arm": name,
                    "preset": "",
                    "kind": "forest",
                    "seed": seed,
                    "fraction": fraction,
                    "train_patches": int(len(dataset.y_train)),
                    "split": split,
                    **scores(np.asarray(y_eval), predicted, len(class_names)),
                    "data_hash": runner.hashes[path],
                    "run_dir": "",
                }
            )
            predictions[(name, seed, fraction)] = (np.asarray(y_eval, dtype=np.int64), predicted)
    return rows, predictions, class_names


def _forest_split(networks: pd.DataFrame, seed: int, has_test: bool) -> str:
    """The reference's evaluation split for this seed (else any network's), else test when there is one."""
    if len(networks):
        mine = networks[(networks["seed"] == seed) & (networks["fraction"] == 1.0)]
        reference = mine[mine["arm"] == REFERENCE]
        chosen = reference if len(reference) else mine
        if len(chosen):
            split = str(chosen["split"].iloc[0])
            return split if split != "test" or has_test else "validation"
    return "test" if has_test else "validation"
