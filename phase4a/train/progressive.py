"""Progressive unfreezing (the keras-io fine-tuning recipe): train the head, then unfreeze the
backbone's top stages one phase at a time, each phase recompiled at a lower learning rate."""

from __future__ import annotations

import shutil
from typing import Any

import keras

from ..data.dataset import Dataset
from ..io import write_json
from ..models.freezing import freeze_first_layers, progressive_plan, stage_ends
from ..models.transfer import find_backbone, parameter_counts
from ..settings import sections
from ..stages import BACKUP_DIR, RunDir
from .callbacks import EpochRecorder, ResumableEarlyStopping, ResumeState
from .fit import compile_model, fit
from .resume import (
    BEST_WEIGHTS_FILE,
    FINISHED_PHASES_FILE,
    PHASE_END_WEIGHTS_FILE,
    TrainingBackup,
    backed_up_epochs,
    finished_phases,
    phase_backup_dir,
    previous_epochs,
    read_weights,
    stopped_after,
    write_weights,
)


def total_epochs(config: dict[str, Any]) -> int:
    if config["progressive_stages"] > 0:
        return config["phase_epochs"] * (config["progressive_stages"] + 1)
    return config["epochs"]


def fit_progressive(
    model: keras.Model,
    data: Dataset,
    config: dict[str, Any],
    callbacks: list,
    run: RunDir,
    verbose: int | str = "auto",
    global_batch_size: int | None = None,
) -> list[dict[str, Any]]:
    """Phase 0 trains the head (backbone frozen); phase k unfreezes the top k stages, recompiles at
    learning_rate x phase_lr_factor ** k and trains phase_epochs more epochs. Returns one record per phase.

    ``callbacks`` are make_callbacks' for ``run``. EarlyStopping and ReduceLROnPlateau restart with each
    phase. A killed run resumes like a plain one, per phase: a saved optimizer state belongs to one phase's
    trainable set, so each phase has its own backup directory in BACKUP_DIR (in place of
    make_callbacks' one), and each finished phase leaves its record and the weights it ended with, so a
    restart skips the finished phases and continues the unfinished one at its next epoch.
    """
    backbone = find_backbone(model)
    plan = progressive_plan(config["backbone"], backbone, sections(config).model)
    stages = stage_ends(config["backbone"], backbone)
    recorder = next(cb for cb in callbacks if isinstance(cb, EpochRecorder))
    early_stopping = next(cb for cb in callbacks if isinstance(cb, ResumableEarlyStopping))
    resume_state = next(cb for cb in callbacks if isinstance(cb, ResumeState))
    backup = run.root / BACKUP_DIR
    phases = finished_phases(backup)
    if phases:
        # Written before the record that lists the phase (below); when they are a later phase's (killed
        # between the two), that phase's kept backup replaces them.
        model.set_weights(read_weights(backup / PHASE_END_WEIGHTS_FILE))
    for phase in range(len(phases), len(plan)):
        frozen = plan[phase]
        freeze_first_layers(backbone, frozen, config["bn_inference"])
        learning_rate = config["learning_rate"] * config["phase_lr_factor"] ** phase
        compile_model(model, {**config, "learning_rate": learning_rate})
        recorder.phase = phase
        start, end = phase * config["phase_epochs"], (phase + 1) * config["phase_epochs"]
        phase_backup = phase_backup_dir(backup, phase)
        resume_from = backed_up_epochs(phase_backup)
        early_stopping.best_weights_path = phase_backup / BEST_WEIGHTS_FILE
        resume_state.first_epoch = start
        resume_state.previous_epochs = previous_epochs(run, resume_from or start)
        # A phase that had stopped (killed before its record) is over: fit then runs no epoch, and its
        # end restores the phase's best weights as it did before the kill.
        phase_end = resume_from if resume_from and stopped_after(resume_state.this_phase(), config) else end
        # Kept after the phase until its record is written: a kill in between resumes the phase at its
        # end instead of running it again.
        phase_callbacks = [
            TrainingBackup(phase_backup, cb.every_s, cb.savers) if isinstance(cb, TrainingBackup) else cb
            for cb in callbacks
        ]
        fit(
            model,
            data,
            {**config, "epochs": phase_end},
            phase_callbacks,
            verbose,
            global_batch_size,
            initial_epoch=resume_from or start,
        )
        phases.append(
            {
                "phase": phase,
                "first_epoch": start + 1,
                # From the log, which also holds the phase's epochs run before a kill.
                "epochs_run": sum(row["epoch"] >= start for row in previous_epochs(run, end)),
                "learning_rate": learning_rate,
                "frozen_layers": frozen,
                "trainable_stages": [name for name, last in stages if last >= frozen],
                "trainable_parameters": parameter_counts(model)["trainable"],
            }
        )
        # The last phase needs no record: its backup, kept until the run ends, resumes it even after its
        # last epoch. Weights before the record: a kill between them leaves this phase to finish again.
        if phase < len(plan) - 1:
            write_weights(backup / PHASE_END_WEIGHTS_FILE, model.get_weights())
            write_json(backup / FINISHED_PHASES_FILE, phases)
            shutil.rmtree(phase_backup)
    shutil.rmtree(backup, ignore_errors=True)  # training finished: nothing left to resume
    return phases
