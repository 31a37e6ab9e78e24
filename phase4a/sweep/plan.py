"""What a sweep runs: its arms (presets and factorial combinations), seeds and training fractions.

Pure functions on the command line's values, checked before anything runs: a bad value is a
:class:`ConfigError` (one line, exit 2 in :func:`phase4a.sweep.ablation.main`).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Any

from .. import config as config_module
from ..errors import ConfigError

# The default reference: every other arm is compared with it, on the same patches and seeds. A sweep
# may name another (SweepPlan.reference, findings.analyse's reference; the fusion ablation compares
# each band set with its model's Sentinel-2-only arm).
REFERENCE = "report"
FIRST_SEED = 42  # --seeds N means seeds 42 .. 42 + N - 1
# The most seeds a bare count may ask for. "--seeds 42" reads like the one seed 42 but means 42 seeds
# (42..83), days of runs; a sweep rarely wants more than a handful, so a larger count is taken for that
# mistake. More seeds than this can still be listed.
MAX_SEED_COUNT = 20
FACTOR_PREFIX = "f_"  # the single-factor presets: each changes exactly one key from report
SINGLE_FACTOR_GROUP = "single_factor"  # in --presets: every f_* preset, in config.PRESETS order
FACTORIAL_PREFIX = "fx_"
# Keys that make or describe the data. Every run of a sweep reads the sweep's data.npz, so varying one
# of these per arm would change nothing or contradict the data; they are step-01 options of the sweep.
DATA_KEYS = frozenset(
    {
        "data_source",
        "data_dir",
        "data_npz",
        "raster_path",
        "polygons_path",
        "label_column",
        "id_column",
        "raster_bands",
        "raster_band_names",
        "max_patches_per_polygon",
        "val_fraction",
        "test_fraction",
        "ee_project",
        "ee_collection",
        "ee_start",
        "ee_end",
        "ee_cloud_mask",
        "ee_scale",
        "class_names",
        "band_names",
        "reflectance_scale",
        "reflectance_offset",
        "mock_train_size",
        "mock_val_counts",
        "mock_test_counts",
        "patch_size",
        "seed",
    }
)
# Keys that differ between runs of one arm for reasons other than the arm: not "changes from report".
RUN_KEYS = frozenset({"preset", "seed", "data_source", "data_npz"})


@dataclass(frozen=True)
class Arm:
    """One configuration of the sweep: a preset, plus ``--key value`` tokens for factorial cells."""

    name: str  # its run directory under the sweep and its label in the tables
    preset: str
    overrides: tuple[str, ...] = ()
    kind: str = "network"  # network | forest (fitted by the sweep itself, no run directory)
    band_set: str = ""  # a name of SweepPlan.band_sets: the arm reads that subset of the bands (sweep/band_sets.py)


def single_factor_presets() -> list[str]:
    return [name for name in config_module.PRESETS if name.startswith(FACTOR_PREFIX)]


def parse_list(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def expand_presets(names: list[str], option: str = "--presets") -> list[str]:
    """Preset names in order, once each (``single_factor`` = every ``f_*`` preset); each must exist."""
    expanded: list[str] = []
    for name in names:
        for preset in single_factor_presets() if name == SINGLE_FACTOR_GROUP else [name]:
            if preset not in expanded:
                expanded.append(preset)
    unknown = [name for name in expanded if name not in config_module.PRESETS]
    if unknown:
        raise ConfigError(
            f"{option} names unknown preset(s) {', '.join(unknown)}; choose from {', '.join(config_module.PRESETS)} "
            f"or {SINGLE_FACTOR_GROUP}"
        )
    return expanded


def parse_presets(text: str | None, default: tuple[str, ...]) -> list[str]:
    """``--presets`` (else the defaults that exist), the reference first, added when missing: every
    comparison is against it."""
    requested = parse_list(text) if text else [name for name in default if name in config_module.PRESETS]
    expanded = expand_presets(requested)
    return [REFERENCE, *[name for name in expanded if name != REFERENCE]]


def parse_seeds(text: str | None) -> list[int]:
    """``--seeds``: a count N <= MAX_SEED_COUNT (seeds 42 .. 42 + N - 1) or a comma-separated list
    (``43,`` is one seed, 43)."""
    if text is None:
        return [FIRST_SEED]
    parts = [part.strip() for part in text.split(",")]
    if not any(parts) or any(not re.fullmatch(r"[+-]?\d+", part) for part in parts if part):
        raise ConfigError(f"--seeds {text!r} is neither a count nor a list of integers; e.g. --seeds 5 or 42,43,44")
    values = [int(part) for part in parts if part]
    if "," not in text:
        if values[0] < 1:
            raise ConfigError(f"--seeds {text!r}: a count of seeds must be at least 1; e.g. --seeds 5")
        if values[0] > MAX_SEED_COUNT:
            count = values[0]
            raise ConfigError(
                f"--seeds {text.strip()} would run {count} seeds ({FIRST_SEED}..{FIRST_SEED + count - 1}): for the "
                f"one seed {count} write --seeds {count}, (a list of one); for more than {MAX_SEED_COUNT} seeds "
                f"list them (--seeds {FIRST_SEED},{FIRST_SEED + 1},...)"
            )
        return list(range(FIRST_SEED, FIRST_SEED + values[0]))
    if any(value < 0 for value in values):
        raise ConfigError(f"--seeds {text!r} has a negative seed; seeds are integers >= 0")
    if len(set(values)) != len(values):
        raise ConfigError(f"--seeds {text!r} repeats a seed; give each seed once")
    return values


def parse_fractions(text: str | None) -> list[float]:
    """``--train_fractions``: comma-separated fractions in (0, 1], sorted; 1.0 (the full runs) always included."""
    if text is None:
        return [1.0]
    fractions = []
    for part in parse_list(text) or [text]:
        try:
            value = float(part)
        except ValueError:
            raise ConfigError(f"--train_fractions {text!r}: {part!r} is not a number; e.g. 0.1,0.25,0.5,1.0") from None
        if not 0 < value <= 1:
            raise ConfigError(f"--train_fractions {text!r}: {part} is outside (0, 1]; e.g. 0.1,0.25,0.5,1.0")
        fractions.append(value)
    return sorted({*fractions, 1.0})


def parse_factorial(specs: list[str] | None) -> list[tuple[str, list[str]]]:
    """``--factorial key=v1,v2 [key=v1,v2 ...]``: (key, values) per factor; keys must be config keys
    that do not make the data, each named once, with at least one value."""
    factors: list[tuple[str, list[str]]] = []
    for spec in specs or []:
        name, has_values, values = spec.partition("=")
        key = name.strip().lstrip("-").replace("-", "_")
        if not has_values or not key:
            raise ConfigError(f"--factorial {spec!r} is not key=value1,value2; e.g. bn_inference=false,true")
        if key not in config_module.DEFAULTS:
            raise ConfigError(f"--factorial {spec!r}: unknown config key {key!r}; run with --list-keys to see them")
        if key in DATA_KEYS:
            raise ConfigError(
                f"--factorial {spec!r}: {key} makes the data, which every run of a sweep shares; pass it as an "
                "option of the whole sweep instead"
            )
        if any(key == seen for seen, _ in factors):
            raise ConfigError(f"--factorial names {key} twice; give each factor once with all its values")
        parsed = parse_list(values)
        if not parsed or len(set(parsed)) != len(parsed):
            raise ConfigError(f"--factorial {spec!r}: give distinct values separated by commas, e.g. {key}=a,b")
        factors.append((key, parsed))
    return factors


def _slug(value: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "", value.replace("-", "m")) or "empty"


def factorial_arms(factors: list[tuple[str, list[str]]]) -> list[Arm]:
    """Every combination of the factors' values, each on top of ``report``; named from the values."""
    if not factors:
        return []
    arms = []
    for values in itertools.product(*(values for _, values in factors)):
        pairs = list(zip([key for key, _ in factors], values))
        name = FACTORIAL_PREFIX + "__".join(f"{key}-{_slug(value)}" for key, value in pairs)
        overrides = tuple(token for key, value in pairs for token in (f"--{key}", value))
        arms.append(Arm(name, REFERENCE, overrides))
    return arms


def resolved(arm: Arm, sweep_options: list[str]) -> dict[str, Any]:
    """The arm's config under the sweep's step-01 options (before its seed and data file)."""
    tokens = [*sweep_options, *arm.overrides]
    return config_module.resolve(arm.preset, config_module.parse_overrides(tokens))


def effective(config: dict[str, Any]) -> dict[str, Any]:
    """The config with ``auto`` values replaced by what they mean for it (input_normalisation auto is
    none for the transfer model), so that two spellings of one model compare equal."""
    config = dict(config)
    resolve_normalisation = getattr(config_module, "input_normalisation", None)
    if callable(resolve_normalisation) and "input_normalisation" in config:
        config["input_normalisation"] = resolve_normalisation(config)
    return config


def changes_from_reference(arm: Arm, sweep_options: list[str]) -> dict[str, Any]:
    """The keys whose (effective) value differs from the reference's under the same options."""
    reference = effective(resolved(Arm(REFERENCE, REFERENCE), sweep_options))
    config = effective(resolved(arm, sweep_options))
    return {key: value for key, value in config.items() if key not in RUN_KEYS and reference.get(key) != value}


def describe_changes(changes: dict[str, Any]) -> str:
    if not changes:
        return "none"
    return ", ".join(f"{key}={config_module.markdown_value(value)}" for key, value in changes.items())


def build_arms(
    presets: list[str], factors: list[tuple[str, list[str]]], sweep_options: list[str]
) -> tuple[list[Arm], dict[str, str]]:
    """The presets' arms, then the factorial cells, and {cell: arm} for each cell whose config equals an
    earlier arm's but for the preset's name (e.g. every factor at report's value: report): such a cell
    is that arm, not run twice. Resolves every arm, so a bad factor value fails here, before anything runs."""
    arms = [Arm(name, name) for name in presets]
    configs = {arm.name: _comparable(effective(resolved(arm, sweep_options))) for arm in arms}
    same_as: dict[str, str] = {}
    for arm in factorial_arms(factors):
        config = _comparable(effective(resolved(arm, sweep_options)))
        earlier = next((name for name, other in configs.items() if other == config), None)
        if earlier is not None:
            same_as[arm.name] = earlier
            continue
        configs[arm.name] = config
        arms.append(arm)
    return arms, same_as


def _comparable(config: dict[str, Any]) -> str:
    return repr(sorted((key, repr(value)) for key, value in config.items() if key != "preset"))


def check_sweep_options(overrides: list[str]) -> None:
    """The sweep's step-01 options: valid config overrides, without the per-run keys the sweep sets."""
    parsed = config_module.parse_overrides(overrides)
    if "seed" in parsed:
        raise ConfigError("the sweep sets each run's seed: use --seeds N or --seeds 42,43 instead of --seed")
    if "data_npz" in parsed and parsed.get("data_source") != "npz":
        raise ConfigError("--data_npz is for --data_source npz; the sweep passes each run its own data.npz")
    config_module.resolve(REFERENCE, parsed)
