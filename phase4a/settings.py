"""The experiment configuration as typed, frozen sections: data (with one section per source), model,
train, evaluate and runtime.

Each section owns its keys and their validation; a field's name is its config key, so ``config.json``,
``--key value``, presets and did-you-mean errors are unchanged (phase4a/config.py keeps the defaults, the
presets and the parsing). ``sections(config)`` makes a :class:`RunConfig` from a resolved config dict:
a function given a section can read only the keys it is given, and says so in its signature.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

from .errors import ConfigError

# The speed-up switches (phase4a/accel): auto | true | false.
SWITCHES = (
    "fast_conv_gradient",
    "fused_adam",
    "fused_batchnorm",
    "cache_features",
    "fixed_shape_prediction",
    "reuse_saved_model",
)
TRUE_COLOUR = ("B4", "B3", "B2")  # Sentinel-2 red, green, blue: what an RGB stem is given
SENTINEL2_BAND = re.compile(r"[Bb]0*\d+[Aa]?")  # B2, B02, B8A: what canonical_band (data/dataset.py) reads


def choice(*allowed: str) -> Any:
    """A field whose value must be one of ``allowed``."""
    return field(metadata={"choices": allowed})


def bounded(low: float | None, high: float | None = None, include_low: bool = True) -> Any:
    """A numeric field with its allowed range."""
    return field(metadata={"range": (low, high, include_low)})


def check_range(key: str, value: float, low: float | None, high: float | None, include_low: bool) -> None:
    too_low = low is not None and (value < low if include_low else value <= low)
    too_high = high is not None and value > high
    if too_low or too_high:
        bound = f">= {low}" if include_low else f"> {low}"
        if high is not None:
            bound += f" and <= {high}"
        raise ConfigError(f"--{key} {value!r} is out of range; it must be {bound}")


class Section:
    """A frozen dataclass whose fields are config keys, and its sub-sections (``parts``: field name -> class)."""

    parts: ClassVar[dict[str, type[Section]]] = {}

    @classmethod
    def subsections(cls) -> dict[str, type[Section]]:
        return cls.parts

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        """The config keys this section owns itself (its sub-sections' keys are theirs)."""
        return tuple(item.name for item in fields(cls) if item.name not in cls.subsections())

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Any:
        values = {key: _frozen(config[key]) for key in cls.keys()}
        values.update({name: sub.from_config(config) for name, sub in cls.subsections().items()})
        return cls(**values)

    def check_fields(self) -> None:
        """Each field against its allowed set or range; the message names the key and what it allows."""
        for item in fields(self):
            value = getattr(self, item.name)
            allowed = item.metadata.get("choices")
            if allowed is not None and value not in allowed:
                raise ConfigError(f"--{item.name} {value!r} is not one of: {', '.join(allowed)}")
            if "range" in item.metadata:
                check_range(item.name, value, *item.metadata["range"])


def _frozen(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


# --- data: one section per source, each checking what it needs of the common data keys ---


@dataclass(frozen=True)
class MockSource(Section):
    """Synthetic patches with the report's class counts (data/mock.py)."""

    source: ClassVar[str] = "mock"
    mock_train_size: int = bounded(1)
    mock_val_counts: tuple[int, ...]
    mock_test_counts: tuple[int, ...]
    mock_aux_layers: bool

    def check_requirements(self, data: DataConfig) -> None:
        classes = len(data.class_names)
        if len(self.mock_val_counts) != classes:
            raise ConfigError(
                f"--mock_val_counts has {len(self.mock_val_counts)} entries but there are {classes} classes; "
                "give one count per class"
            )
        if self.mock_test_counts and len(self.mock_test_counts) != classes:
            raise ConfigError(
                f"--mock_test_counts has {len(self.mock_test_counts)} entries but there are {classes} classes; "
                "give one count per class, or none for no test split"
            )


@dataclass(frozen=True)
class Week3Source(Section):
    """A Week 3 data directory (data/week3.py): its keys are common ones (data_dir)."""

    source: ClassVar[str] = "week3"

    def check_requirements(self, data: DataConfig) -> None:
        if not data.data_dir:
            raise ConfigError("--data_source week3 needs --data_dir DIR (the Week 3 data directory)")


@dataclass(frozen=True)
class RasterSource(Section):
    """A GeoTIFF and labelled polygons, cut into patches (data/raster_patches.py); Earth Engine's export
    is cut the same way."""

    source: ClassVar[str] = "raster"
    raster_path: str
    polygons_path: str
    label_column: str
    id_column: str
    raster_bands: tuple[str, ...]
    raster_band_names: tuple[str, ...]
    max_patches_per_polygon: int = bounded(1)

    def check_requirements(self, data: DataConfig) -> None:
        for key in ("polygons_path", "raster_path"):
            if not getattr(self, key):
                raise ConfigError(f"--data_source {data.data_source} needs --{key} FILE; see README 'Data sources'")


@dataclass(frozen=True)
class EarthEngineSource(Section):
    """A Sentinel-2 composite exported from Earth Engine to raster_path, then cut as the raster source."""

    source: ClassVar[str] = "earth_engine"
    ee_project: str
    ee_collection: str
    ee_start: str
    ee_end: str
    ee_cloud_mask: str = choice("scl", "qa60")
    ee_scale: float = bounded(0, None, False)

    def check_requirements(self, data: DataConfig) -> None:
        data.raster.check_requirements(data)


@dataclass(frozen=True)
class NpzSource(Section):
    """The data.npz an earlier step 01 wrote (data/sources.py)."""

    source: ClassVar[str] = "npz"
    data_npz: str

    def check_requirements(self, data: DataConfig) -> None:
        if not self.data_npz:
            raise ConfigError("--data_source npz needs --data_npz FILE (the data.npz an earlier step 01 wrote)")


@dataclass(frozen=True)
class EuroSATSource(Section):
    """The EuroSAT-MS sample tiles, cut into patches and split by tile (data/eurosat.py)."""

    source: ClassVar[str] = "eurosat"
    eurosat_split_unit: str = choice("tile", "quadrant")

    def check_requirements(self, data: DataConfig) -> None:
        """Nothing beyond the common keys: an empty data_dir means the fixture in ../shared."""


@dataclass(frozen=True)
class EOLearnSource(Section):
    """eo-learn's Slovenian patches, split by block (data/eolearn.py)."""

    source: ClassVar[str] = "eolearn"
    eolearn_block: int = bounded(1)

    def check_requirements(self, data: DataConfig) -> None:
        """Nothing beyond the common keys: an empty data_dir means the fixture in ../shared."""


@dataclass(frozen=True)
class DataConfig(Section):
    """What every source shares (classes, bands, patch size, splits, scaling, auxiliary layers), and one
    sub-section per source, named as its data_source value."""

    parts: ClassVar[dict[str, type[Section]]] = {
        "mock": MockSource,
        "week3": Week3Source,
        "raster": RasterSource,
        "earth_engine": EarthEngineSource,
        "npz": NpzSource,
        "eurosat": EuroSATSource,
        "eolearn": EOLearnSource,
    }
    data_source: str = choice("mock", "week3", "raster", "earth_engine", "npz", "eurosat", "eolearn")
    data_dir: str  # week3's directory; eurosat's and eolearn's fixture folder
    aux_layers: str
    class_names: tuple[str, ...]
    band_names: tuple[str, ...]
    patch_size: int = bounded(1)
    val_fraction: float = bounded(0, 0.5, False)
    test_fraction: float = bounded(0, 0.5)  # 0 = no test split
    reflectance_scale: float = bounded(0, None, False)
    reflectance_offset: float
    mock: MockSource
    week3: Week3Source
    raster: RasterSource
    earth_engine: EarthEngineSource
    npz: NpzSource
    eurosat: EuroSATSource
    eolearn: EOLearnSource

    def sources(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.subsections())

    def selected(self) -> Any:
        """The section of the chosen data_source."""
        return getattr(self, self.data_source)

    def validate(self) -> None:
        self.check_fields()
        for source in self.sources():
            source.check_fields()
        if self.val_fraction + self.test_fraction >= 1:
            raise ConfigError(
                f"--val_fraction {self.val_fraction} and --test_fraction {self.test_fraction} leave no "
                "polygons for training; lower one so that they sum below 1"
            )
        self.selected().check_requirements(self)

    @property
    def has_auxiliary_layers(self) -> bool:
        """Whether the inputs include layers other than Sentinel-2 bands: aux_layers, mock_aux_layers, or
        band_names naming a layer (eolearn's elevation, a sweep's band set read from a data.npz)."""
        named_layer = any(not SENTINEL2_BAND.fullmatch(str(name).strip()) for name in self.band_names)
        return bool(self.aux_layers.strip()) or self.mock.mock_aux_layers or named_layer


# --- model, train, evaluate, runtime ---

BACKBONE_NAMES = ("resnet50", "resnet50v2", "mobilenetv2", "vgg16", "efficientnetb0")  # models/backbones.py


@dataclass(frozen=True)
class ModelConfig(Section):
    """The network: backbone, adapter, input normalisation, resizing, head, and which layers train."""

    model_type: str = choice("transfer", "simplecnn")
    backbone: str = choice(*BACKBONE_NAMES)
    weights: str  # imagenet | none | a weights file
    band_adapter: str = choice("conv1x1", "rgb", "first_conv")  # models/adapters.py
    input_normalisation: str = choice("auto", "none", "standardise", "imagenet")
    upsample_factor: int = bounded(1, 28)
    upsample_interpolation: str = choice("bilinear", "nearest")
    input_size: int = bounded(0, 224)  # 224: the ImageNet training size; 1-31 below every backbone's minimum
    dense_units: int = bounded(1)
    dropout: float = bounded(0, 1)
    freeze: str = choice("first_n", "fraction", "until", "all", "none")
    frozen_layers: int = bounded(0)
    frozen_fraction: float = bounded(0, 1)
    freeze_until: str
    bn_inference: bool
    progressive_stages: int = bounded(0)  # the freezing plan's phases; their epochs and rates are train's

    def validate(self) -> None:
        self.check_fields()
        if 0 < self.input_size < 32:
            raise ConfigError(f"--input_size {self.input_size} is below 32, every backbone's minimum; use 0 or 32-224")
        if self.input_normalisation == "imagenet" and self.model_type == "simplecnn":
            raise ConfigError(
                "--input_normalisation imagenet maps inputs onto a pretrained backbone's statistics, and the "
                "SimpleCNN has no backbone; use --input_normalisation standardise (or none)"
            )
        if self.weights not in ("imagenet", "none") and not Path(self.weights).is_file():
            raise ConfigError(
                f"--weights {self.weights!r} is neither 'imagenet', 'none' nor an existing file; "
                "give the path to a saved weights file (.h5 or .weights.h5)"
            )

    def check_bands(self, band_names: tuple[str, ...]) -> None:
        """The rgb and first_conv adapters give the stem red, green and blue: band_names must hold them."""
        missing = [band for band in TRUE_COLOUR if band not in band_names]
        if self.band_adapter in ("rgb", "first_conv") and missing:
            raise ConfigError(
                f"--band_names {','.join(band_names)} lacks {','.join(missing)}; the rgb and first_conv "
                "adapters need B4, B3 and B2 (or use --band_adapter conv1x1)"
            )

    def normalisation(self, auxiliary: bool) -> str:
        """none | standardise | imagenet: ``auto`` is standardise for the SimpleCNN and for inputs holding
        auxiliary layers (elevation in km must not reach a network unscaled), none for the transfer model."""
        if self.input_normalisation != "auto":
            return self.input_normalisation
        return "standardise" if self.model_type == "simplecnn" or auxiliary else "none"

    @property
    def uses_pretrained_weights(self) -> bool:
        """ImageNet weights, or a weights file (step 02's or another pretrained copy): not a random start."""
        return self.weights != "none"


MONITORED = ("val_loss", "val_accuracy")


@dataclass(frozen=True)
class TrainConfig(Section):
    """Step 04: optimiser, budget, callbacks, the progressive phases, augmentation and the SimpleCNN
    baseline trained alongside."""

    seed: int  # also the data split's and the initial weights' seed
    learning_rate: float = bounded(0, None, False)
    batch_size: int = bounded(1)
    epochs: int = bounded(1)
    early_stopping_patience: int = bounded(1)
    reduce_lr_patience: int = bounded(1)
    reduce_lr_factor: float = bounded(0, 1, False)
    min_learning_rate: float = bounded(0)
    monitor: str = choice(*MONITORED)
    checkpoint_monitor: str = choice(*MONITORED)
    phase_epochs: int = bounded(1)
    phase_lr_factor: float = bounded(0, 1, False)
    class_weights: str = choice("none", "balanced")
    augment: bool
    brightness_delta: float = bounded(0, 0.5)  # beyond +-50% it is no longer a "small" change
    train_baseline: bool
    baseline_epochs: int = bounded(1)
    baseline_patience: int = bounded(1)
    baseline_normalisation: str = choice("standardise", "none")
    collapse_stop: bool
    flat_stop: bool
    flat_tolerance: float = bounded(0)
    flat_epochs: int = bounded(2)  # one epoch is always "flat"
    tensorboard: bool
    also_save: str = choice("none", "h5")
    keep_checkpoint: bool
    keep_checkpoint: bool

    def validate(self) -> None:
        self.check_fields()


@dataclass(frozen=True)
class EvaluateConfig(Section):
    """Step 05."""

    # A target of exactly 0 or 1 cannot be told apart by any sample size (samples_needed needs 0 < p < 1).
    target_accuracy: float = bounded(0, 0.999, False)

    def validate(self) -> None:
        self.check_fields()


SWITCH_VALUES = ("auto", "true", "false")


@dataclass(frozen=True)
class RuntimeConfig(Section):
    """How the run computes, not what: kernels, speed-ups, threads, distribution, backups, the store.
    ``--list-keys`` shows these only with ``all``."""

    deterministic: bool
    jit_compile: bool
    fast_conv_gradient: str = choice(*SWITCH_VALUES)
    fused_adam: str = choice(*SWITCH_VALUES)
    fused_batchnorm: str = choice(*SWITCH_VALUES)
    cache_features: str = choice(*SWITCH_VALUES)
    fixed_shape_prediction: str = choice(*SWITCH_VALUES)
    reuse_saved_model: str = choice(*SWITCH_VALUES)
    distribution_strategy: str = choice("default", "mirrored", "multi_worker")
    intra_op_threads: int = bounded(0)
    inter_op_threads: int = bounded(0)
    backup_every_s: float = bounded(0)
    shared_dir: str

    def validate(self) -> None:
        self.check_fields()

    @property
    def uses_xla(self) -> bool:
        """Whether the training step is XLA-compiled: Keras ignores ``jit_compile`` under deterministic kernels."""
        return self.jit_compile and not self.deterministic


@dataclass(frozen=True)
class RunConfig:
    """Every section of one run's config."""

    data: DataConfig
    model: ModelConfig
    train: TrainConfig
    evaluate: EvaluateConfig
    runtime: RuntimeConfig

    def validate(self) -> None:
        """Each section's own checks, then those spanning two (the adapter's bands)."""
        self.data.validate()
        self.model.validate()
        self.model.check_bands(self.data.band_names)
        self.train.validate()
        self.evaluate.validate()
        self.runtime.validate()


SECTIONS: dict[str, type[Section]] = {
    "data": DataConfig,
    "model": ModelConfig,
    "train": TrainConfig,
    "evaluate": EvaluateConfig,
    "runtime": RuntimeConfig,
}


def section_keys() -> dict[str, tuple[str, ...]]:
    """Section title -> its keys, in order; a source's title is ``data.<source>``."""
    table: dict[str, tuple[str, ...]] = {}
    for name, section in SECTIONS.items():
        table[name] = section.keys()
        for source, sub in section.subsections().items():
            table[f"{name}.{source}"] = sub.keys()
    return table


def sections(config: dict[str, Any]) -> RunConfig:
    """The sections of a resolved (or loaded) config dict; not validated again (config.resolve did)."""
    return RunConfig(**{name: section.from_config(config) for name, section in SECTIONS.items()})
