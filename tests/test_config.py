"""Config resolution: defaults are the report's table; presets and overrides apply; bad keys fail."""

import pytest

from phase4a import config
from phase4a.errors import ConfigError


def test_defaults_are_the_report_training_table():
    """A run with no options is the report's run: its training table is the specification here."""
    resolved = config.resolve()
    assert resolved == config.resolve("report") and config.PRESETS["report"].overrides == {}
    assert resolved["backbone"] == "resnet50"
    assert resolved["weights"] == "imagenet"
    assert resolved["frozen_layers"] == 150
    assert resolved["learning_rate"] == 1e-4
    assert resolved["batch_size"] == 32
    assert resolved["epochs"] == 50
    assert resolved["seed"] == 42
    assert resolved["upsample_factor"] == 4
    assert resolved["dense_units"] == 128
    assert resolved["dropout"] == 0.3
    assert resolved["preset"] == "report"


def test_overrides_are_typed_from_defaults():
    overrides = config.parse_overrides(["--epochs", "5", "--learning-rate=5e-4", "--deterministic", "false"])
    resolved = config.resolve("report", overrides)
    assert resolved["epochs"] == 5
    assert resolved["learning_rate"] == 5e-4
    assert resolved["deterministic"] is False


def test_list_overrides_split_on_commas():
    resolved = config.resolve("report", config.parse_overrides(["--mock_val_counts", "2,3,4,5,6"]))
    assert resolved["mock_val_counts"] == [2, 3, 4, 5, 6]


def test_unknown_key_suggests_the_close_one():
    with pytest.raises(ConfigError, match=r"unknown config key 'epoch'; did you mean --epochs"):
        config.parse_overrides(["--epoch", "3"])


@pytest.mark.parametrize(
    ("tokens", "message"),
    [
        (["--epochs", "five"], "--epochs expects an integer, got 'five'"),
        (["--epochs", "2.5"], "--epochs expects an integer"),
        (["--learning_rate", "fast"], "--learning_rate expects a number"),
        (["--deterministic", "maybe"], "--deterministic expects true or false"),
        (["--epochs", "0"], "--epochs 0 is out of range"),
        (["--dropout", "1.5"], "--dropout 1.5 is out of range"),
        (["--monitor", "loss"], "--monitor 'loss' is not one of"),
        (["--weights", "/nonexistent/w.h5"], "neither 'imagenet', 'none' nor an existing file"),
        (["--data_source", "week3"], "needs --data_dir"),
        (["--data_source", "npz"], "--data_source npz needs --data_npz FILE"),
        (["--mock_val_counts", "1,2"], "give one count per class"),
    ],
)
def test_bad_values_are_rejected_with_the_key_named(tokens, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        config.resolve("report", config.parse_overrides(tokens))


def test_override_without_value_and_stray_argument_are_rejected():
    with pytest.raises(ConfigError, match="--epochs needs a value"):
        config.parse_overrides(["--epochs"])
    with pytest.raises(ConfigError, match="unexpected argument 'fast'"):
        config.parse_overrides(["fast"])


def test_unknown_preset_is_rejected():
    with pytest.raises(ConfigError, match="unknown preset 'reprot'; did you mean 'report'"):
        config.resolve("reprot")


def test_every_preset_resolves_and_has_a_summary():
    for name, preset in config.PRESETS.items():
        assert preset.summary
        assert config.resolve(name)["preset"] == name


def test_save_load_round_trip_and_hash(tmp_path):
    resolved = config.resolve("report", {"epochs": "3"})
    config.save(tmp_path / "config.json", resolved)
    loaded = config.load(tmp_path / "config.json")
    assert loaded == resolved
    assert config.config_hash(loaded) == config.config_hash(resolved)
    assert config.config_hash(config.resolve("report", {"epochs": "4"})) != config.config_hash(resolved)


def test_loading_a_config_with_stale_keys_fails_clearly(tmp_path):
    (tmp_path / "config.json").write_text('{"epochs": 3, "no_such_key": 1}')
    with pytest.raises(ConfigError, match="no_such_key.*re-run phase4a_01_setup_and_config.py"):
        config.load(tmp_path / "config.json")


@pytest.mark.parametrize("key", config.SWITCHES)
def test_each_speed_up_switch_is_auto_true_or_false(key, tmp_path):
    assert config.resolve("report")[key] == "auto"  # the seam decides per device (tests/accel/test_seam.py)
    for spelled, value in (("true", "true"), ("on", "true"), ("1", "true"), ("no", "false"), ("FALSE", "false")):
        assert config.resolve("report", {key: spelled})[key] == value
    with pytest.raises(ConfigError, match=rf"--{key} 'fast' is not one of: auto, true, false"):
        config.resolve("report", {key: "fast"})
    # A config.json written when the switch was a boolean still loads.
    (tmp_path / "config.json").write_text(f'{{"{key}": false}}')
    assert config.load(tmp_path / "config.json")[key] == "false"


def test_performance_keys_are_validated():
    resolved = config.resolve("report", {"distribution_strategy": "mirrored", "jit_compile": "false"})
    assert resolved["distribution_strategy"] == "mirrored" and resolved["jit_compile"] is False
    with pytest.raises(ConfigError, match="distribution_strategy"):
        config.resolve("report", {"distribution_strategy": "tpu"})
    with pytest.raises(ConfigError, match="intra_op_threads"):
        config.resolve("report", {"intra_op_threads": "-1"})
