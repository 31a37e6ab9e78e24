"""Step 04: train the transfer model with the report's optimiser, loss and callbacks.

Usage:
  python phase4a_04_train_transfer.py [--run-dir DIR] [--retrain] [--quiet]

Adam, sparse categorical cross-entropy, ModelCheckpoint (best validation), EarlyStopping (best weights
restored), ReduceLROnPlateau and a CSV log. A run killed part-way resumes from its last finished epoch
when started again; a finished run with the same config and data is not trained again unless
--retrain is given. Writes transfer_model.keras (for prediction, without the optimizer's state; with
--also_save h5 the same model as transfer_model.h5 too), checkpoints/best.weights.npz (the trained
weights of the best checkpoint_monitor epoch), training_history.json and training_log.csv.
"""

from __future__ import annotations

import shutil
import sys
import time
from typing import Any

import keras

from .. import accel
from .. import config as config_module
from ..cli import exit_step, run_step, step_parser
from ..data import dataset as dataset_module
from ..io import read_json, save_keras_model, sha256_file, write_json
from ..models.transfer import load_run_untrained_model, prediction_copy
from ..seeding import seed_everything
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


def already_trained(run: RunDir, config_hash: str, data_hash: str) -> bool:
    history = run.path("history")
    if not (history.is_file() and run.path("model_keras").is_file()):
        return False
    recorded = read_json(history)
    return recorded.get("config_hash") == config_hash and recorded.get("data_hash") == data_hash


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
        handed_over = accel.take_saved_model(run.path("untrained_model"), config)
    return handed_over if handed_over is not None else load_run_untrained_model(run, config)


def train_transfer(run: RunDir, config: dict[str, Any], retrain: bool = False, verbose: int | str = "auto"):
    """Train (or resume) and write the model and its history; returns the history dict."""
    data = dataset_module.load(run.require("data"))
    config_hash = config_module.config_hash(config)
    data_hash = sha256_file(run.path("data"))
    if not retrain and already_trained(run, config_hash, data_hash):
        return None
    backup = run.root / BACKUP_DIR
    owner = {"config_hash": config_hash, "data_hash": data_hash}
    owned = (backup / BACKUP_OWNER_FILE).is_file() and read_json(backup / BACKUP_OWNER_FILE) == owner
    # 0 when no epoch was backed up (nothing to resume), with --retrain, or for another config's backup.
    resume_from = resume_epoch(backup, config) if owned and not retrain else 0
    resuming = resume_from > 0
    if not resuming:
        shutil.rmtree(backup, ignore_errors=True)  # leftovers of a run killed in its first epoch, or of another
        run.path("training_log").unlink(missing_ok=True)  # the CSV log is appended across resumed runs
        write_json(backup / BACKUP_OWNER_FILE, owner)
    else:
        trim_training_log(run, resume_from)
    strategy = distribute.make_strategy(config["distribution_strategy"])
    distribution = distribute.describe(config, strategy)
    with strategy.scope():
        model = untrained_model(run, config)
        compile_model(model, config)
    # Seeded again once the model exists, so that training draws the same random numbers whether the
    # model was rebuilt here or handed over by step 03.
    seed_everything(config["seed"], config["deterministic"])
    callbacks = make_callbacks(run, config, data)
    plan = uses_cached_features(model, config)
    phases = None
    cache_info: dict[str, Any] = {"used": False}
    started = time.perf_counter()
    if config["progressive_stages"] > 0:
        with strategy.scope():
            phases = fit_progressive(model, data, config, callbacks, run, verbose, distribution["global_batch_size"])
    elif plan is not None:
        with strategy.scope():
            _, cache_info = fit_with_cached_features(
                model, data, config, callbacks, plan, verbose, distribution["global_batch_size"], resume_from
            )
    else:
        fit(
            model,
            data,
            config,
            callbacks,
            verbose=verbose,
            global_batch_size=distribution["global_batch_size"],
            initial_epoch=resume_from,
        )
    wall = time.perf_counter() - started
    distribute.record_in_manifest(run, {**distribution, "jit_compile": config["jit_compile"]})
    early_stopping = next(cb for cb in callbacks if isinstance(cb, keras.callbacks.EarlyStopping))
    epochs = history_records(run.path("training_log"))
    history = {
        "epochs": epochs,
        "epochs_run": len(epochs),
        "max_epochs": total_epochs(config),
        "stopped_early": len(epochs) < total_epochs(config),
        "restored_best_epoch": early_stopping.best_epoch + 1,
        "monitor": config["monitor"],
        "training_seconds": round(sum(entry["seconds"] for entry in epochs), 3),
        "wall_seconds_this_process": round(wall, 3),
        "resumed": resuming,
        "config_hash": config_hash,
        "data_hash": data_hash,
        "distribution": distribution,
        "jit_compile": config["jit_compile"],
        "feature_cache": cache_info,
        # Progressive unfreezing: per phase its epochs, learning rate and trainable set; else None.
        "phases": phases,
        # Why CollapseMonitor stopped training (collapse_stop / flat_stop), else None.
        "collapse_stop_reason": next((cb.stop_reason for cb in callbacks if isinstance(cb, CollapseMonitor)), None),
    }
    # For prediction: without the optimizer's state, which only resuming needs (the backup has it until
    # training ends), so the file is the size of the report's 91 MB transfer_model.h5. One file unless
    # the config asks for the .h5 too: the second is the same model, as many bytes again.
    prediction_model = prediction_copy(model)
    if config["also_save"] == "h5":
        save_keras_model(prediction_model, run.path("model_h5"))
    else:  # an .h5 left by an earlier training would no longer be this run's model
        run.path("model_h5").unlink(missing_ok=True)
    save_keras_model(prediction_model, run.path("model_keras"))
    accel.keep_saved_model(prediction_model, run.path("model_keras"), config)
    if config["train_baseline"]:
        write_baseline(run, data, config, verbose)
    # Written last: its presence marks the run finished (already_trained), baseline included.
    write_json(run.path("history"), history)
    shutil.rmtree(backup, ignore_errors=True)  # finished: nothing left to resume
    return history


def main(argv: list[str] | None = None) -> int:
    parser = step_parser(__doc__)
    parser.add_argument("--retrain", action="store_true", help="train again even if this config already finished")
    parser.add_argument("--quiet", action="store_true", help="one line per epoch instead of progress bars")
    args = parser.parse_args(argv)

    def work(run: RunDir, config: dict[str, Any], args) -> None:
        # Progress bars for a person at a terminal; one line per epoch in logs and CI.
        verbose = 2 if args.quiet or not sys.stdout.isatty() else 1
        history = train_transfer(run, config, retrain=args.retrain, verbose=verbose)
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
