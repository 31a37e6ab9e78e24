"""The config's typed sections (phase4a/settings.py): every key in exactly one section, each section
checking its own keys, --list-keys grouped by section, and functions that take sections, not the dict."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

from phase4a import cli, config, settings
from phase4a.errors import ConfigError

PACKAGE = Path(__file__).resolve().parents[1] / "phase4a"

# Where a config dict becomes sections: the defaults, parsing and config.json (config.py), and the sections
# themselves (settings.py). These take the whole dict by design.
BOUNDARY = {"config.py", "settings.py"}

# Modules whose public functions still take the whole config dict. Shrink this list: when a module's
# functions take the sections they use (settings.sections(config).model, ...), remove it here; the test
# fails on an entry that no longer takes the dict, and on any module outside the list that does.
NOT_YET_MIGRATED = {
    "accel/__init__.py",
    "evaluate/comparison.py",
    "evaluate/diagnosis.py",
    "evaluate/measurements.py",
    "evaluate/published.py",
    "mapping/layers.py",
    "paths.py",
    "seeding.py",
    "steps/evaluate_compare.py",
    "steps/load_pretrained.py",
    "steps/modify_architecture.py",
    "steps/predict_map.py",
    "steps/setup_config.py",
    "steps/train_transfer.py",
    "sweep/plan.py",
    "train/baseline.py",
    "train/callbacks.py",
    "train/distribute.py",
    "train/fit.py",
    "train/progressive.py",
    "train/rebuild.py",
    "train/resume.py",
}


def functions_taking_the_config_dict(path: Path) -> list[str]:
    """Public functions (and methods) of ``path`` with a parameter named *config annotated dict[str, Any]."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or node.name.startswith("_"):
            continue
        arguments = node.args
        for argument in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]:
            annotation = ast.unparse(argument.annotation).replace(" ", "") if argument.annotation else ""
            if argument.arg.endswith("config") and annotation == "dict[str,Any]":
                found.append(f"{node.name}({argument.arg})")
    return found


def test_public_functions_take_config_sections_not_the_whole_config():
    taking = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = path.relative_to(PACKAGE).as_posix()
        if name not in BOUNDARY:
            taking[name] = functions_taking_the_config_dict(path)
    unlisted = {name: found for name, found in taking.items() if found and name not in NOT_YET_MIGRATED}
    assert not unlisted, f"take settings sections instead of the config dict: {unlisted}"
    migrated = sorted(name for name in NOT_YET_MIGRATED if not taking.get(name))
    assert not migrated, f"no longer take the config dict: remove from NOT_YET_MIGRATED: {migrated}"


def test_the_check_sees_a_function_taking_the_dict(tmp_path):
    module = tmp_path / "module.py"
    module.write_text(
        "from typing import Any\n"
        "def build(config: dict[str, Any]) -> None: ...\n"
        "def _private(config: dict[str, Any]) -> None: ...\n"
        "def fine(model_config: object) -> None: ...\n"
    )
    assert functions_taking_the_config_dict(module) == ["build(config)"]


def test_every_key_belongs_to_exactly_one_section():
    owned = [key for keys in settings.section_keys().values() for key in keys]
    assert sorted(owned) == sorted(config.DEFAULTS), "add each new config key to one section in phase4a/settings.py"
    assert len(owned) == len(set(owned))


def test_each_field_has_its_defaults_type():
    defaults = settings.sections(config.DEFAULTS)
    for section in (defaults.data, *defaults.data.sources(), defaults.model, defaults.train, defaults.runtime):
        for key in section.keys():
            value = getattr(section, key)
            default = config.DEFAULTS[key]
            assert type(value) is (tuple if isinstance(default, list) else type(default)), key


def test_keys_of_one_source_live_in_that_sources_section():
    data = settings.section_keys()
    assert "eurosat_split_unit" in data["data.eurosat"]
    assert "eolearn_block" in data["data.eolearn"]
    assert {key for key in config.DEFAULTS if key.startswith("ee_")} == set(data["data.earth_engine"])
    assert {key for key in config.DEFAULTS if key.startswith("mock_")} == set(data["data.mock"])
    assert {"class_names", "band_names", "patch_size", "val_fraction", "test_fraction", "aux_layers"} <= set(
        data["data"]
    )


def test_sections_are_frozen_and_read_the_resolved_config():
    run = settings.sections(config.resolve("report", {"epochs": "7", "eurosat_split_unit": "quadrant"}))
    assert run.train.epochs == 7 and run.data.eurosat.eurosat_split_unit == "quadrant"
    assert run.data.class_names == tuple(config.REPORT_CLASS_NAMES)
    assert run.data.selected() is run.data.mock
    with pytest.raises(dataclasses.FrozenInstanceError):
        run.train.epochs = 8


def test_a_section_checks_its_own_keys():
    defaults = settings.sections(config.DEFAULTS)
    bad_unit = dataclasses.replace(defaults.data.eurosat, eurosat_split_unit="pixel")
    with pytest.raises(ConfigError, match=r"^--eurosat_split_unit 'pixel' is not one of: tile, quadrant$"):
        bad_unit.check_fields()
    small = dataclasses.replace(defaults.model, input_size=16)
    with pytest.raises(ConfigError, match="--input_size 16 is below 32"):
        small.validate()
    with pytest.raises(ConfigError, match=r"--batch_size 0 is out of range; it must be >= 1"):
        dataclasses.replace(defaults.train, batch_size=0).validate()


def test_a_source_requires_its_keys_only_when_chosen():
    with pytest.raises(ConfigError, match="--data_source earth_engine needs --polygons_path FILE"):
        config.resolve("report", {"data_source": "earth_engine"})
    config.resolve("report", {"ee_start": "", "data_npz": ""})  # unused by the mock source


def test_list_keys_groups_by_section_and_hides_runtime_keys():
    listing = config.describe_keys()
    assert listing.index("data:") < listing.index("data, for --data_source mock:") < listing.index("model:")
    assert "--epochs" in listing and "train:" in listing and "evaluate:" in listing
    assert "--intra_op_threads" not in listing and "--list-keys all shows them" in listing
    everything = config.describe_keys(include_runtime=True)
    assert "runtime:" in everything and "--intra_op_threads" in everything and "--fused_adam" in everything
    assert all(f"--{key} " in everything for key in config.DEFAULTS)


def test_list_keys_option_takes_all():
    parser = cli.OneLineParser()
    cli.add_list_keys_option(parser)
    assert parser.parse_args(["--list-keys"]).list_keys == "sections"
    assert "--shared_dir" in cli.list_keys(parser.parse_args(["--list-keys", "all"]).list_keys)
    assert parser.parse_args([]).list_keys is None
