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
from ..paths import STORE_NAME
from ..pipeline import run_steps
from ..stages import ARTEFACTS, RunDir
from ..steps import setup_config
from . import band_sets, forests, keep, learning_curve
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
    keep_models: str = keep.DEFAULT  # what each finished run keeps (phase4a/sweep/keep.py)
    # The arm every other arm is compared with (findings.analyse) and whose evaluation split the forests
    # follow: report, unless a sweep names another (the fusion ablation's Sentinel-2-only arm).
    reference: str = REFERENCE
    # Band sets (phase4a/sweep/band_sets.py): name -> bands; an arm with a band_set reads that set's subset
    # of the sweep's data, and the forests are fitted on each set. Empty: every arm reads the whole data.
    band_sets: dict[str, tuple[str, ...]] = field(default_factory=dict)

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


def is_complete(directory: Path, config_hash: str | None, data_hash: str) -> bool:
    """A finished run: its metrics were computed for this config (any config: None) on these data."""
    path = RunDir(directory).path("evaluation_metrics")
    if not path.is_file():
        return False
    try:
        stored = read_json(path)
    except (OSError, ValueError):
        return False
    return config_hash in (None, stored.get("config_hash")) and stored.get("data_hash") == data_hash


def existing_data(plan: SweepPlan) -> dict[tuple[int, float], Path]:
    """The data files a finished sweep's runs read, without making any: (seed, fraction) -> data.npz."""
    data = {}
    for seed in plan.seeds:
        for fraction in plan.fractions:
            if fraction == 1.0:
                path = RunDir(data_root(plan, data_seed(plan, seed))).path("data")
            else:
                path = plan.sweep_dir / "curve_data" / f"seed_{seed}" / f"fraction_{fraction_label(fraction)}"
                path = path / ARTEFACTS["data"]
            if not path.is_file():
                raise Phase4AError(f"{path} not found; run the sweep without --findings-only first")
            data[(seed, fraction)] = path
    return data


def data_caveats(plan: SweepPlan) -> list[str]:
    """The leakage warnings step 01 recorded for the sweep's data, once each (every split's data)."""
    caveats = []
    for seed in dict.fromkeys(data_seed(plan, seed) for seed in plan.seeds):
        summary_path = RunDir(data_root(plan, seed)).path("data_summary")
        source = read_json(summary_path).get("source", {}) if summary_path.is_file() else {}
        warning = source.get("leakage_warning")
        if warning and warning not in caveats:
            caveats.append(warning)
    return caveats


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

    def __init__(self, plan: SweepPlan, run_one: RunFunction = run_preset, findings_only: bool = False):
        self.plan = plan
        self.run_one = run_one
        # Findings only: read the runs already made (with whatever config and code made them) and run
        # nothing, so new inference rules can be applied to a finished sweep without training it again.
        self.findings_only = findings_only
        self.data: dict[tuple[int, float], Path] = {}
        self.band_data: dict[tuple[str, int], Path] = {}  # (band set, data seed) -> its data.npz
        self.hashes: dict[Path, str] = {}
        self.failures: dict[RunKey, str] = {}
        times_path = plan.sweep_dir / RUN_TIMES
        self.times: dict[str, float] = read_json(times_path) if times_path.is_file() else {}

    def prepare_data(self) -> None:
        """Every seed's data (made once, or per seed with vary_split) and its learning-curve subsamples."""
        plan = self.plan
        if self.findings_only:
            self.data = existing_data(plan)
        full = {}
        for seed in [] if self.findings_only else plan.seeds:
            made_with = data_seed(plan, seed)
            if made_with not in full:
                full[made_with] = make_data(data_root(plan, made_with), plan.overrides, made_with)
            paths = make_subsamples(full[made_with], plan.fractions, seed, plan.sweep_dir / "curve_data")
            for fraction, path in paths.items():
                self.data[(seed, fraction)] = path
        for name, bands in plan.band_sets.items():
            for made_with in dict.fromkeys(data_seed(plan, seed) for seed in plan.seeds):
                folder = plan.sweep_dir / band_sets.BAND_DATA / f"seed_{made_with}" / name
                if self.findings_only:
                    self.band_data[(name, made_with)] = band_sets.existing_band_data(folder)
                else:
                    self.band_data[(name, made_with)] = band_sets.make_band_data(full[made_with], name, bands, folder)
        for path in [*self.data.values(), *self.band_data.values()]:
            if path not in self.hashes:
                self.hashes[path] = sha256_file(path)

    def data_path(self, key: RunKey) -> Path:
        """The data.npz a run reads: its seed's (and fraction's), or its band set's subset of that."""
        band_set = self.plan.arm(key.arm).band_set
        if band_set:
            return self.band_data[(band_set, data_seed(self.plan, key.seed))]
        return self.data[(key.seed, key.fraction)]

    def forest_data(self) -> list[tuple[str, int, float, Path]]:
        """(arm-name suffix, seed, fraction, data.npz) of every fit of the forests: each seed's (and
        fraction's) data, or with band sets each set's data (``forest_flattened__s2``...)."""
        if not self.plan.band_sets:
            return [("", seed, fraction, path) for (seed, fraction), path in sorted(self.data.items())]
        return [
            (band_sets.SEPARATOR + name, seed, 1.0, self.band_data[(name, data_seed(self.plan, seed))])
            for name in self.plan.band_sets
            for seed in self.plan.seeds
        ]

    def run_options(self, key: RunKey) -> list[str]:
        data = self.data_path(key).resolve()
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
            str((self.plan.sweep_dir / STORE_NAME).resolve()),
        ]

    def complete(self, key: RunKey) -> bool:
        data = self.data_path(key)
        if self.findings_only:
            return is_complete(run_dir(self.plan.sweep_dir, key), None, self.hashes[data])
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
            if self.findings_only:
                if not self.complete(key):
                    self.failures[key] = f"not in {directory} (--findings-only runs nothing)"
                continue
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
            keep.prune_finished(RunDir(directory), self.plan.keep_models)
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
    if not run.path("validation_predictions").is_file():
        return None
    table = pd.read_csv(run.path("validation_predictions"))
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
    # (seed, fraction) -> the test groups of the evaluated patches, in prediction order (None: the data
    # have no groups, or the predictions could not be matched to the stored split)
    groups: dict[tuple[int, float], np.ndarray | None] = field(default_factory=dict)
    # (arm, seed) -> the hypotheses of that run's measured diagnosis (evaluation_metrics.json)
    hypotheses: dict[tuple[str, int], list[dict[str, Any]]] = field(default_factory=dict)


def _optional_json(path: Path) -> dict[str, Any]:
    try:
        return read_json(path) if path.is_file() else {}
    except (OSError, ValueError):
        return {}


def collect(runner: Runner) -> Results:
    """Rows of every complete network run, then the forests fitted on the same data and split."""
    plan = runner.plan
    rows, predictions, groups, hypotheses = [], {}, {}, {}
    class_names: list[str] = []
    for key in plan.keys():
        if key in runner.failures or not runner.complete(key):
            continue
        directory = run_dir(plan.sweep_dir, key)
        run = RunDir(directory)
        stored = read_json(run.path("evaluation_metrics"))
        config = config_module.load(run.path("config"))
        class_names = list(config["class_names"])
        split, y_true, predicted = read_predictions(directory, stored, class_names)
        history = _optional_json(run.path("training_history"))
        architecture = _optional_json(run.path("architecture_json"))
        data = runner.data_path(key)
        rows.append(
            {
                "arm": key.arm,
                "preset": plan.arm(key.arm).preset,
                "kind": "network",
                "seed": key.seed,
                "fraction": key.fraction,
                "train_patches": _train_patches(runner, key),
                "train_class_counts": " ".join(map(str, class_counts(runner, key))),
                "split": split,
                **scores(y_true, predicted, len(class_names)),
                "epochs": history.get("epochs_run"),
                "training_seconds": history.get("training_seconds"),
                "run_seconds": runner.times.get(str(directory.relative_to(plan.sweep_dir))),
                "trainable_parameters": (architecture.get("model_parameters") or {}).get("trainable"),
                "config_hash": stored.get("config_hash"),
                "code_version": (stored.get("environment") or {}).get("code_version"),
                "data_hash": runner.hashes[data],
                "run_dir": str(directory.relative_to(plan.sweep_dir)),
            }
        )
        predictions[(key.arm, key.seed, key.fraction)] = (y_true, predicted)
        groups.setdefault((key.seed, key.fraction), evaluated_groups(data, split, y_true))
        if key.fraction == 1.0:
            hypotheses[(key.arm, key.seed)] = list((stored.get("diagnosis") or {}).get("causes") or [])
    table = pd.DataFrame(rows)
    forest_rows, forest_predictions, names = forest_results(runner, table)
    predictions.update(forest_predictions)
    table = pd.concat([table, pd.DataFrame(forest_rows)], ignore_index=True) if forest_rows else table
    return Results(table, predictions, class_names or names, groups, hypotheses)


def evaluated_groups(data: Path, split: str, y_true: np.ndarray) -> np.ndarray | None:
    """The stored groups of the evaluated split, when its labels are the predictions' in the same order."""
    dataset = dataset_module.load(data)
    labels, stored = (dataset.y_test, dataset.groups_test) if split == "test" else (dataset.y_val, dataset.groups_val)
    if stored is None or labels is None or not np.array_equal(np.asarray(labels), np.asarray(y_true)):
        return None
    return np.asarray(stored)


def class_counts(runner: Runner, key: RunKey) -> list[int]:
    """Training patches per class of the run's data (a learning-curve subsample: its realised mix)."""
    with np.load(runner.data_path(key), allow_pickle=False) as data:
        n_classes = len(data["class_names"]) if "class_names" in data else int(data["y_train"].max()) + 1
        return np.bincount(data["y_train"], minlength=n_classes).tolist()


def _train_patches(runner: Runner, key: RunKey) -> int:
    path = runner.data_path(key)
    record = path.parent / SUBSAMPLE_RECORD
    if key.fraction < 1 and record.is_file():
        return int(read_json(record)["train_patches"])
    with np.load(path, allow_pickle=False) as data:
        return int(len(data["y_train"]))


def forest_results(runner: Runner, networks: pd.DataFrame) -> tuple[list[dict], dict, list[str]]:
    """The forests on every (seed, fraction) of the sweep, evaluated on the split the seed's network
    runs were evaluated on (so that they pair with them), else on test when the data has one."""
    rows, predictions, class_names = [], {}, []
    fitted: dict[tuple[Path, str, int], dict[str, np.ndarray]] = {}
    for suffix, seed, fraction, path in runner.forest_data():
        dataset = dataset_module.load(path)
        class_names = dataset.class_names
        split = _forest_split(networks, seed, dataset.has_test, runner.plan.reference)
        X_eval, y_eval = (dataset.X_test, dataset.y_test) if split == "test" else (dataset.X_val, dataset.y_val)
        # A forest sees only the data, so the seeds that share one split share one fit (seeded by the
        # split's seed): refitting per training seed would count near-copies as replicates against a
        # network. With band sets forests are compared with forests, so each seed refits them (random_state
        # = the seed): their own randomness is then the replicate, as a network's initialisation is.
        fit_seed = seed if runner.plan.band_sets else data_seed(runner.plan, seed)
        once = (path, split, fit_seed) in fitted
        if not once:
            fitted[(path, split, fit_seed)] = forests.fit_predict(dataset.X_train, dataset.y_train, X_eval, fit_seed)
        for forest, predicted in fitted[(path, split, fit_seed)].items():
            name = forest + suffix
            predictions[(name, seed, fraction)] = (np.asarray(y_eval, dtype=np.int64), predicted)
            if once:
                continue
            rows.append(
                {
                    "arm": name,
                    "preset": "",
                    "kind": "forest",
                    "seed": fit_seed,
                    "fraction": fraction,
                    "train_patches": int(len(dataset.y_train)),
                    "train_class_counts": " ".join(map(str, np.bincount(dataset.y_train, minlength=len(class_names)))),
                    "split": split,
                    **scores(np.asarray(y_eval), predicted, len(class_names)),
                    "data_hash": runner.hashes[path],
                    "run_dir": "",
                }
            )
    return rows, predictions, class_names


def _forest_split(networks: pd.DataFrame, seed: int, has_test: bool, reference_arm: str = REFERENCE) -> str:
    """The reference's evaluation split for this seed (else any network's), else test when there is one."""
    if len(networks):
        mine = networks[(networks["seed"] == seed) & (networks["fraction"] == 1.0)]
        reference = mine[mine["arm"] == reference_arm]
        chosen = reference if len(reference) else mine
        if len(chosen):
            split = str(chosen["split"].iloc[0])
            return split if split != "test" or has_test else "validation"
    return "test" if has_test else "validation"
