"""The stage table (phase4a/stages.py) is the truth: a step asks only for the artefacts its stage declares
and reads every input it declares, every input comes from an earlier step, and keys name their files."""

from __future__ import annotations

from collections import Counter

import pytest

from phase4a.stages import ARTEFACTS, STAGES, RunDir, UndeclaredArtefactError, producer

# Inputs a step reads only when the model of the step before is not handed over in memory (the
# drivers' one process, accel.take_saved_model): step 04 then rebuilds step 03's model from its files.
READ_WHEN_REBUILT = {"train": {"data_summary", "backbone_weights"}}


def test_a_step_cannot_ask_for_an_artefact_its_stage_does_not_declare(tmp_path):
    run = RunDir(tmp_path).for_stage("evaluate")
    assert run.path("training_history") == tmp_path / "training_history.json"  # an input it declares
    assert run.path("comparison_report") == tmp_path / "comparison_report.md"  # an output
    with pytest.raises(UndeclaredArtefactError, match="phase4a_05_evaluate_compare.py asked for sample_patches.png"):
        run.path("sample_patches")
    assert RunDir(tmp_path).path("sample_patches") == tmp_path / "sample_patches.png"  # unbound: any artefact


def test_each_step_reads_exactly_the_inputs_its_stage_declares(traced_cnn_run):
    _, asked = traced_cnn_run
    for name, stage in STAGES.items():
        if stage.number > 5:
            continue  # the fixture ran steps 01-05; step 06's run directory is bound by predict_map
        read = asked.get(name, set()) - set(stage.writes)
        # cli.run_step loads config.json for every step after 01, before the step's code runs.
        declared = set(stage.inputs) - ({"config"} if name != "setup" else set())
        assert declared - READ_WHEN_REBUILT.get(name, set()) <= read <= declared, stage.script


def test_step_04_reads_the_files_of_step_03s_model_when_it_rebuilds_it(prepared_cnn_run, copy_run):
    """In a process of its own (no model handed over), step 04 reads what READ_WHEN_REBUILT names."""
    from phase4a import config as config_module
    from phase4a.steps.train_transfer import untrained_model

    from .conftest import artefacts_asked_for

    run = RunDir(copy_run(prepared_cnn_run)).for_stage("train")
    with artefacts_asked_for() as asked:
        untrained_model(run, config_module.load(run.path("config")))
    assert READ_WHEN_REBUILT["train"] <= asked["train"] <= set(STAGES["train"].inputs)


def test_every_input_is_written_by_one_earlier_step():
    writers = Counter(artefact for stage in STAGES.values() for artefact in stage.writes)
    assert set(writers) == set(ARTEFACTS) and set(writers.values()) == {1}
    for stage in STAGES.values():
        assert not set(stage.reads) & set(stage.reads_if_present), stage.script
        for artefact in stage.inputs:
            assert producer(artefact).number < stage.number, f"{stage.script} reads {artefact}"


def test_artefact_keys_are_named_after_their_files():
    """The file name without its extension, dots as underscores; with the extension where two share it."""
    stems = {key: name.rsplit("/", 1)[-1].rsplit(".", 1)[0].replace(".", "_") for key, name in ARTEFACTS.items()}
    shared = Counter(stems.values())
    for key, name in ARTEFACTS.items():
        stem = stems[key]
        assert key == (stem if shared[stem] == 1 else f"{stem}_{name.rsplit('.', 1)[1]}"), name
