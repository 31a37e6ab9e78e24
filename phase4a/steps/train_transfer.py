"""Step 04: train the transfer model with the report's optimiser, loss and callbacks.

Usage:
  python phase4a_04_train_transfer.py [--run-dir DIR] [--retrain] [--quiet]

Adam, sparse categorical cross-entropy, ModelCheckpoint (best validation), EarlyStopping (best weights
restored), ReduceLROnPlateau and a CSV log. A run killed part-way resumes from its last finished epoch
when started again; a finished run with the same config and data is not trained again unless
--retrain is given. Writes transfer_model.keras (for prediction, without the optimizer's state; with
--also_save h5 the same model as transfer_model.h5 too), training_history.json and training_log.csv;
with keep_checkpoint also checkpoints/best.weights.npz (the trained weights of the best
checkpoint_monitor epoch).
"""

from __future__ import annotations

import shutil
import sys
import time
from dataclasses import dataclass
from typing import Any

import keras

from .. import accel
from .. import config as config_module
from ..cli import exit_step, run_step, step_parser
from ..data import dataset as dataset_module
from ..io import read_json, save_keras_model, sha256_file, write_json
from ..models.transfer import load_run_untrained_model, prediction_copy
from ..seeding import seed_everything
from ..settings import sections
from ..stages import BACKUP_DIR, RunDir
from ..train import distribute
from ..train.baseline import train_baseline_model
from ..train.callbacks import make_callbacks
from ..train.collapse import CollapseMonitor
from ..train.fit import compile_model, fit, fit_with_cached_features, uses_cached_features
from ..train.progressive import fit_progressive, total_epochs
from ..train.resume import history_records, resume_epoch, trim_training_log

# In BACKUP_DIR: the config and data hashes of the run it backs up; another config's backup is not resumed.
BACKUP_OWNER_FILE = "owner.json"


@dataclass(frozen=True)
class Fingerprint:
    """The config and data a training belongs to: a finished run or a backup of another is not reused."""

    config_hash: str
    data_hash: str

    def as_dict(self) -> dict[str, str]:
        return {"config_hash": self.config_hash, "data_hash": self.data_hash}


@dataclass(frozen=True)
class Training:
    """What step 04's fit produced: the trained model and the record of its training."""

    model: keras.Model
    history: dict[str, Any]  # training_history.json


def already_trained(run: RunDir, fingerprint: Fingerprint) -> bool:
    history = run.path("training_history")
    if not (history.is_file() and run.path("transfer_model_keras").is_file()):
        return False
    recorded = read_json(history)
    return recorded.get("config_hash") == fingerprint.config_hash and recorded.get("data_hash") == fingerprint.data_hash


def write_baseline(run: RunDir, data, config: dict[str, Any], verbose: int | str) -> None:
    """The SimpleCNN trained on the same split: baseline_model.keras and baseline_history.json."""
    model, history = train_baseline_model(data, config, verbose)
    save_keras_model(model, run.path("baseline_model"))
    write_json(run.path("baseline_history"), history)


def untrained_model(run: RunDir, config: dict[str, Any]) -> keras.Model:
    """Step 03's model: the one step 03 built, when it ran in this process and its file is unchanged
    (accel.take_saved_model), else rebuilt from the config and the files. A distribution strategy
    needs the model built in its scope, so it always gets a rebuilt one."""
    handed_over = None
    if config["distribution_strategy"] == "default":
        handed_over = accel.take_saved_model(run.path("model_untrained_weights"), config)
    return handed_over if handed_over is not None else load_run_untrained_model(run, sections(config))


def prepare_backup(run: RunDir, config: dict[str, Any], owner: Fingerprint, retrain: bool) -> int:
    """The epoch training resumes from: 0 when no epoch was backed up (nothing to resume), with
    --retrain, or for another config's backup, which is then cleared."""
    backup = run.root / BACKUP_DIR
    owned = (backup / BACKUP_OWNER_FILE).is_file() and read_json(backup / BACKUP_OWNER_FILE) == owner.as_dict()
    resume_from = resume_epoch(backup, config) if owned and not retrain else 0
    if resume_from > 0:
        trim_training_log(run, resume_from)
        return resume_from
    shutil.rmtree(backup, ignore_errors=True)  # leftovers of a run killed in its first epoch, or of another
    run.path("training_log").unlink(missing_ok=True)  # the CSV log is appended across resumed runs
    write_json(backup / BACKUP_OWNER_FILE, owner.as_dict())
    return 0


def run_fit(
    model: keras.Model,
    data: dataset_module.Dataset,
    config: dict[str, Any],
    callbacks: list[keras.callbacks.Callback],
    run: RunDir,
    verbose: int | str,
    global_batch_size: int,
    resume_from: int,
    strategy,
) -> tuple[list[dict[str, Any]] | None, dict[str, Any]]:
    """Fit ``model`` the way the config asks (progressive phases, cached backbone features, or whole);
    returns the phases (progressive only, else None) and what the feature cache did."""
    plan = uses_cached_features(model, config)
    if config["progressive_stages"] > 0:
        with strategy.scope():
            return fit_progressive(model, data, config, callbacks, run, verbose, global_batch_size), {"used": False}
    if plan is not None:
        with strategy.scope():
            _, cache_info = fit_with_cached_features(
                model, data, config, callbacks, plan, verbose, global_batch_size, resume_from
            )
        return None, cache_info
    fit(model, data, config, callbacks, verbose=verbose, global_batch_size=global_batch_size, initial_epoch=resume_from)
    return None, {"used": False}


def history_record(
    run: RunDir,
    config: dict[str, Any],
    callbacks: list[keras.callbacks.Callback],
    fingerprint: Fingerprint,
    *,
    wall: float,
    resumed: bool,
    distribution: dict[str, Any],
    feature_cache: dict[str, Any],
    phases: list[dict[str, Any]] | None,
) -> dict[str, Any]:
    """training_history.json: the epochs of the CSV log, how training stopped, and how it ran."""
    early_stopping = next(cb for cb in callbacks if isinstance(cb, keras.callbacks.EarlyStopping))
    epochs = history_records(run.path("training_log"))
    return {
        "epochs": epochs,
        "epochs_run": len(epochs),
        "max_epochs": total_epochs(config),
        "stopped_early": len(epochs) < total_epochs(config),
        "restored_best_epoch": early_stopping.best_epoch + 1,
        "monitor": config["monitor"],
        "training_seconds": round(sum(entry["seconds"] for entry in epochs), 3),
        "wall_seconds_this_process": round(wall, 3),
        "resumed": resumed,
        **fingerprint.as_dict(),
        "distribution": distribution,
        "jit_compile": config["jit_compile"],
        "feature_cache": feature_cache,
        # Progressive unfreezing: per phase its epochs, learning rate and trainable set; else None.
        "phases": phases,
        # Why CollapseMonitor stopped training (collapse_stop / flat_stop), else None.
        "collapse_stop_reason": next((cb.stop_reason for cb in callbacks if isinstance(cb, CollapseMonitor)), None),
    }


def fit_transfer(
    run: RunDir,
    config: dict[str, Any],
    data: dataset_module.Dataset,
    fingerprint: Fingerprint,
    resume_from: int,
    verbose: int | str,
) -> Training:
    """Build step 03's model, compile it and train it (from ``resume_from``); writes the per-epoch log,
    checkpoint and backup as it goes, not the model."""
    strategy = distribute.make_strategy(config["distribution_strategy"])
    distribution = distribute.describe(config, strategy)
    with strategy.scope():
        model = untrained_model(run, config)
        compile_model(model, config)
    # Seeded again once the model exists, so that training draws the same random numbers whether the
    # model was rebuilt here or handed over by step 03.
    seed_everything(config["seed"], config["deterministic"])
    callbacks = make_callbacks(run, config, data)
    started = time.perf_counter()
    phases, cache_info = run_fit(
        model, data, config, callbacks, run, verbose, distribution["global_batch_size"], resume_from, strategy
    )
    wall = time.perf_counter() - started
    distribute.record_in_manifest(run, {**distribution, "jit_compile": config["jit_compile"]})
    history = history_record(
        run,
        config,
        callbacks,
        fingerprint,
        wall=wall,
        resumed=resume_from > 0,
        distribution=distribution,
        feature_cache=cache_info,
        phases=phases,
    )
    return Training(model, history)


def save_model(run: RunDir, config: dict[str, Any], model: keras.Model) -> None:
    """transfer_model.keras, and transfer_model.h5 where the config asks for it."""
    # For prediction: without the optimizer's state, which only resuming needs (the backup has it until
    # training ends), so the file is the size of the report's 91 MB transfer_model.h5. One file unless
    # the config asks for the .h5 too: the second is the same model, as many bytes again.
    prediction_model = prediction_copy(model)
    if config["also_save"] == "h5":
        save_keras_model(prediction_model, run.path("transfer_model_h5"))
    else:  # an .h5 left by an earlier training would no longer be this run's model
        run.path("transfer_model_h5").unlink(missing_ok=True)
    save_keras_model(prediction_model, run.path("transfer_model_keras"))
    accel.keep_saved_model(prediction_model, run.path("transfer_model_keras"), config)


def train_transfer(run: RunDir, config: dict[str, Any], retrain: bool = False, verbose: int | str = "auto"):
    """Train (or resume) and write the model and its history; returns the history dict, or None when
    this config and data finished training already."""
    data = dataset_module.load(run.require("data"))
    fingerprint = Fingerprint(config_module.config_hash(config), sha256_file(run.path("data")))
    if not retrain and already_trained(run, fingerprint):
        return None
    resume_from = prepare_backup(run, config, fingerprint, retrain)
    training = fit_transfer(run, config, data, fingerprint, resume_from, verbose)
    save_model(run, config, training.model)
    if config["train_baseline"]:  # after save_model: the SimpleCNN draws its initial weights after it
        write_baseline(run, data, config, verbose)
    # Written last: its presence marks the run finished (already_trained), baseline included.
    write_json(run.path("training_history"), training.history)
    shutil.rmtree(run.root / BACKUP_DIR, ignore_errors=True)  # finished: nothing left to resume
    return training.history


def main(argv: list[str] | None = None) -> int:
    parser = step_parser(__doc__)
    parser.add_argument("--retrain", action="store_true", help="train again even if this config already finished")
    parser.add_argument("--quiet", action="store_true", help="one line per epoch instead of progress bars")
    args = parser.parse_args(argv)

    def work(run: RunDir, config: dict[str, Any], args) -> None:
        # Progress bars for a person at a terminal; one line per epoch in logs and CI.
        verbose = 2 if args.quiet or not sys.stdout.isatty() else 1
        history = train_transfer(run.for_stage("train"), config, retrain=args.retrain, verbose=verbose)
        if history is None:
            print(f"already trained with this config and data in {run.root}; pass --retrain to train again")
            return
        last = history["epochs"][-1]
        # A resumed run's epochs span processes, its wall time this process only: no difference then.
        saving = history["wall_seconds_this_process"] - history["training_seconds"]
        outside = "" if history["resumed"] else f" (+{saving:.1f} s outside them: checkpoints, backups)"
        print(
            f"trained {history['epochs_run']} of {history['max_epochs']} epochs "
            f"in {history['training_seconds']:.1f} s{outside}; "
            f"last val_accuracy {last['val_accuracy']:.4f}, val_loss {last['val_loss']:.4f}; "
            f"kept weights of epoch {history['restored_best_epoch']} (best {history['monitor']})"
        )

    return run_step("train", args, work)


if __name__ == "__main__":
    exit_step(main())
