"""Experiment configuration: defaults, presets, ``--key value`` overrides, validation, load/save.

The defaults are the Week 4 report's training table, so a run with no options reproduces the report.
A preset is a named set of overrides; command-line overrides are applied on top of it. Every key has
a type taken from its default, and an unknown key or a value of the wrong type is rejected.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .io import read_json, sha256_json, write_json
from .settings import SECTIONS, SWITCHES, section_keys, sections
from .settings import TRUE_COLOUR as TRUE_COLOUR  # evaluate/plots.py reads it here

REPORT_CLASS_NAMES = ["Agriculture", "Forest", "Parcels", "Urban", "Water"]
REPORT_BAND_NAMES = ["B2", "B3", "B4", "B8", "B11", "B12"]

DEFAULTS: dict[str, Any] = {
    # --- data ---
    # mock | week3 (a Week 3 data directory) | raster (a GeoTIFF and labelled polygons) |
    # earth_engine (a Sentinel-2 composite exported from Earth Engine, then cut like raster) |
    # npz (the data.npz an earlier step 01 wrote, copied byte for byte: runs that must share one split) |
    # eurosat (the real EuroSAT-MS sample tiles in ../shared, cut into patches and split by tile) |
    # eolearn (eo-learn's Slovenian Sentinel-2 + DEM + NDVI + land use in ../shared, split by block of patches)
    "data_source": "mock",
    # The Week 3 data directory, for data_source=week3; for eurosat and eolearn, the fixture's folder
    # (empty = ../shared's).
    "data_dir": "",
    "data_npz": "",  # the step-01 data.npz to reuse, for data_source=npz (the ablation sweep uses it)
    # --- raster and Earth Engine sources (README "Data sources") ---
    "raster_path": "",  # the GeoTIFF to cut; for earth_engine, where the export is written and reused
    "polygons_path": "",  # labelled polygons: GeoJSON, GeoPackage or shapefile
    "label_column": "class",  # polygon attribute holding the class name
    "id_column": "",  # polygon attribute holding its id; empty = row number
    "raster_bands": [],  # bands to cut, by name or 1-based index; empty = band_names
    "raster_band_names": [],  # every band name in file order, for files without band descriptions
    # Phase 4B (docs/phase4b.md): auxiliary rasters warped onto the Sentinel-2 raster's 10 m grid and cut
    # at each patch's window, appended after band_names (raster and earth_engine sources), as
    # name=path items: ndvi=MOD13Q1.tif (ndvi_modis), dem=SRTM.tif (elevation, slope, aspect_sin,
    # aspect_cos), s2_ndvi (no file: NDVI of the raster's own B4 and B8, the control), any other
    # name=path[:nearest]. E.g. ndvi=modis.tif,dem=srtm.tif,s2_ndvi. Empty = none. With earth_engine,
    # ndvi=ee and dem=ee: Earth Engine computes MODIS/061/MOD13Q1 NDVI and USGS/SRTMGL1_003 terrain and
    # exports them as bands of the composite (e.g. ndvi=ee,dem=ee,s2_ndvi).
    "aux_layers": "",
    # Mock source: append synthetic layers tied to each patch's class and bands (data/mock_auxiliary.py):
    # ndvi_modis, elevation, slope, aspect_sin, aspect_cos, s2_ndvi.
    "mock_aux_layers": False,
    # The report had 375 patches from 125 polygons, three each; more per polygon adds near-duplicates.
    "max_patches_per_polygon": 3,
    "val_fraction": 0.2,  # share of each class's polygons held out (the report: 75 of 375 patches)
    # Share of each class's polygons (eurosat: tiles or quadrants) in a test split the model never sees
    # while training or choosing; 0 = no test split. Week 3 directories bring their own (X_test, y_test).
    "test_fraction": 0.2,
    # For eurosat: what goes wholly to one split. tile (default) keeps every 640 m tile out of the other
    # splits; the ten sample tiles in ../shared have one tile for some classes, too few for that, so they
    # need quadrant (32 x 32 pixels), and then a tile's quadrants feed two splits: accuracies are optimistic.
    "eurosat_split_unit": "tile",
    # For eolearn: patches go to the splits in blocks of N x N neighbouring patches, which look alike.
    "eolearn_block": 2,
    "ee_project": "",  # Earth Engine cloud project id; empty = $EARTHENGINE_PROJECT
    "ee_collection": "COPERNICUS/S2_SR_HARMONIZED",
    "ee_start": "2019-01-01",  # the report's austral summer composite, both dates inclusive
    "ee_end": "2019-03-31",
    "ee_cloud_mask": "scl",  # scl (scene classification) | qa60 (cloud bits 10 and 11)
    "ee_scale": 10.0,  # metres per pixel of the export
    "class_names": list(REPORT_CLASS_NAMES),
    "band_names": list(REPORT_BAND_NAMES),
    # Sentinel-2 stores reflectance x 10000; Level-2A products from processing baseline 04.00 on
    # also carry an offset of -1000 (set reflectance_offset to -1000 for those).
    "reflectance_scale": 10000.0,
    "reflectance_offset": 0.0,
    # The report's data: 300 training patches and 75 validation patches with these class counts.
    "mock_train_size": 300,
    "mock_val_counts": [10, 21, 19, 8, 17],
    "mock_test_counts": [],  # a mock test split with these class counts; empty = none (the report had none)
    "patch_size": 8,
    # --- model ---
    "backbone": "resnet50",
    "weights": "imagenet",  # imagenet | none | a path to a weights file
    "frozen_layers": 150,  # the first N backbone layers do not train
    "upsample_factor": 4,  # 8x8 -> 32x32, ResNet50's minimum input
    "upsample_interpolation": "bilinear",
    "band_adapter": "conv1x1",  # a learned 1x1 convolution from 6 bands to 3
    "dense_units": 128,
    "dropout": 0.3,
    # --- model toolkit; the defaults keep the report's model ---
    "model_type": "transfer",  # transfer | simplecnn (the Week 3 baseline as the main model)
    # What the inputs look like when they reach the network (models/normalisation.py), held by layers
    # inside the saved model. none: reflectance in [0, 1] as is (the report); standardise: per-band mean
    # and std of the training split (a Normalization layer adapted in step 03); imagenet (transfer only):
    # standardise, then map the three channels that reach the backbone stem onto ImageNet's per-channel
    # mean and std before the backbone's own preprocess_input. auto: standardise for the SimpleCNN and
    # for any model given auxiliary layers (has_auxiliary_layers: elevation in km beside reflectance of
    # 0.05 must not reach a network unscaled), none for the transfer model (the report's model unchanged).
    "input_normalisation": "auto",
    "input_size": 0,  # backbone input side; 0 = patch side x upsample_factor
    "freeze": "first_n",  # first_n | fraction | until | all (feature extraction) | none
    "frozen_fraction": 0.857,  # for freeze=fraction; 0.857 = the report's 150 of 175
    "freeze_until": "conv3",  # for freeze=until: a stage (conv3, block3...) or a layer name, inclusive
    # Call the backbone with training=False: BatchNorm keeps its ImageNet statistics while layers
    # train; batch statistics from 32 upsampled 8x8 patches are far from ImageNet's.
    "bn_inference": False,
    # Progressive unfreezing: phase 0 trains the head, phase k unfreezes the top k stages, each for
    # phase_epochs epochs at learning_rate x phase_lr_factor ** k (recompiled). 0 = off.
    "progressive_stages": 0,
    "phase_epochs": 5,
    "phase_lr_factor": 0.3,
    "class_weights": "none",  # none | balanced (n / (classes x count)): counters the 8-to-21 imbalance
    "augment": False,  # flips, 90-degree rotations, brightness x (1 +- brightness_delta); training split only
    "brightness_delta": 0.05,
    # Also train the SimpleCNN in step 04 on the same split (baseline_model.keras) for paired comparison.
    "train_baseline": False,
    # That SimpleCNN's own budget, whatever the main model's epochs, so that it converges: at most
    # baseline_epochs epochs, stopped after baseline_patience epochs without a better `monitor` value
    # (best weights restored); its inputs standardised on the training split (or none: as the report).
    "baseline_epochs": 100,
    "baseline_patience": 15,
    "baseline_normalisation": "standardise",
    # --- training ---
    "learning_rate": 1e-4,
    "batch_size": 32,
    "epochs": 50,
    "early_stopping_patience": 10,
    "reduce_lr_patience": 5,
    "reduce_lr_factor": 0.5,
    "min_learning_rate": 1e-7,
    "monitor": "val_loss",  # what early stopping and LR reduction watch
    "checkpoint_monitor": "val_accuracy",  # what "best" means for the saved checkpoint
    "seed": 42,
    # Keras' TensorBoard logs in <run dir>/tensorboard (`tensorboard --logdir phase4a_outputs`); the real
    # driver turns them on, the mock driver and the tests leave them off.
    "tensorboard": False,
    # Step 04 writes its resume backup (and the best checkpoint) when this many seconds of training have
    # passed since the last one, and when a fit ends; 0 = after every epoch. A kill loses at most this
    # much training plus the epoch it interrupts, and each epoch is spared a write of the trained
    # weights and Adam's moments (about 3x the trained weights' bytes).
    "backup_every_s": 60.0,
    # Where files that are the same in many runs (step 02's backbone weights) are stored once and
    # hard-linked into each run directory; empty = ".phase4a_store" beside the run directory. The sweep
    # uses <sweep dir>/.phase4a_store. Never inside ../shared or --data_dir (refused). Deleting it, or a
    # run, leaves every other run whole.
    "shared_dir": "",
    # Step 04 saves the trained model once, as transfer_model.keras (Keras 3's own format, what steps 05
    # and 06 read); h5 also writes the same model as transfer_model.h5, the file the course report
    # names (legacy HDF5, about as large again).
    "also_save": "none",
    # Keep checkpoints/best.weights.npz (the trained weights of the best checkpoint_monitor epoch) once
    # training ends; false: it lives in the resume backup while training and goes with it, since
    # transfer_model.keras holds the model step 05 evaluates (another copy of the trained weights).
    "keep_checkpoint": False,
    # Deterministic TensorFlow kernels: identical numbers on the same machine, at some speed cost.
    "deterministic": True,
    # --- evaluation and collapse diagnosis ---
    # The report's goal; step 05 says how many validation samples would tell the result from it.
    "target_accuracy": 0.90,
    # CollapseMonitor always records collapse and flat loss per epoch; stopping on them is off by
    # default so the report's configuration trains exactly as the report did.
    "collapse_stop": False,  # stop when every validation patch gets the same class
    "flat_stop": False,  # stop when validation loss stays flat (below)
    "flat_tolerance": 1e-3,  # max - min of val_loss over flat_epochs epochs that counts as flat
    "flat_epochs": 5,  # the report's loss sat at 2.308 for all 11 epochs; 5 flags it by epoch 5
    # --- performance (phase4a/accel; docs/performance.md) ---
    # XLA-compile the training step. Keras 3 turns XLA off whenever deterministic kernels are on, so it
    # only takes effect with --deterministic false; off so that the default run stays bit-reproducible.
    "jit_compile": False,
    # The speed-ups behind phase4a/accel, each auto | true | false. auto: on where the benchmark
    # measured it faster (the CPU), off on a GPU until it is measured there. Each computes the same
    # function to float rounding and saves the same plain Keras model.
    # Conv2D input gradients as forward convolutions: TensorFlow's CPU kernel for them is far slower
    # than the forward pass on ResNet50's 1x1 and 2x2 maps, and most of a training step.
    "fast_conv_gradient": "auto",
    # Adam's update as TensorFlow's fused kernel: one pass over each trained weight instead of about ten.
    "fused_adam": "auto",
    # Frozen BatchNorm layers as one fused kernel: a quarter fewer graph operations to trace and optimise.
    # Not used for deterministic training on a GPU, where TensorFlow lacks a deterministic gradient.
    "fused_batchnorm": "auto",
    # When the backbone and everything before it are frozen (feature extraction), compute backbone
    # features once and train the head on them; the saved model is still the full model.
    "cache_features": "auto",
    # Predict in calls of one shape (up to four training batches): one traced graph for every call.
    "fixed_shape_prediction": "auto",
    # In one process (the drivers), a step takes the model the step before saved instead of building
    # it again or reading it back, while its file is unchanged: a build of a ResNet50 costs more than
    # the step's own work.
    "reuse_saved_model": "auto",
    # tf.distribute strategy: default (one device) | mirrored (all local GPUs, or logical CPUs) |
    # multi_worker (several machines via TF_CONFIG). Global batch = batch_size x replicas.
    "distribution_strategy": "default",
    # TensorFlow intra-/inter-op threads; 0 lets TensorFlow choose (all cores).
    "intra_op_threads": 0,
    "inter_op_threads": 0,
}

# List keys whose default is empty, with the type of their elements (others hold strings).
EMPTY_LIST_ELEMENTS: dict[str, Any] = {"mock_test_counts": 0}


@dataclass(frozen=True)
class Preset:
    summary: str  # one line: what it changes and why
    overrides: dict[str, Any] = field(default_factory=dict)


PRESETS: dict[str, Preset] = {
    "report": Preset(
        "the Week 4 report's exact configuration (ResNet50, 150 frozen layers, lr 1e-4; inputs: none, "
        "reflectance in [0, 1] as the report fed it)"
    ),
    "feature_extraction": Preset(
        "freeze the whole backbone, its first convolution widened to all six bands (no trainable adapter), "
        "and train the head at lr 1e-3: the report's 'feature extraction' idea; backbone features are "
        "computed once and cached; inputs: none (reflectance in [0, 1])",
        {"freeze": "all", "band_adapter": "first_conv", "learning_rate": 1e-3},
    ),
    "less_freezing": Preset(
        "freeze 80 of 175 layers instead of 150 (the report suggests 50-100) so conv4 and conv5 can adapt; "
        "inputs: none",
        {"frozen_layers": 80},
    ),
    "higher_lr": Preset(
        "lr 5e-4 instead of 1e-4 (the report suggests 5e-4 to 1e-3): more signal for the few trainable layers; "
        "inputs: none",
        {"learning_rate": 5e-4},
    ),
    "progressive": Preset(
        "train the head at lr 1e-3, then unfreeze conv5, conv4, conv3 one phase at a time (5 epochs each, "
        "lr x0.3 per phase, BN in inference mode): the keras-io fine-tuning recipe; inputs: none",
        {"progressive_stages": 3, "phase_epochs": 5, "learning_rate": 1e-3, "bn_inference": True},
    ),
    "mobilenetv2": Preset(
        "MobileNetV2 (2.3M parameters, 154 layers) with its first half frozen: a smaller backbone for 300 "
        "patches; inputs: none",
        {"backbone": "mobilenetv2", "freeze": "fraction", "frozen_fraction": 0.5},
    ),
    "vgg16": Preset(
        "VGG16 (no BatchNorm, 19 layers) frozen up to block3: tests whether BN is part of the collapse; inputs: none",
        {"backbone": "vgg16", "freeze": "until", "freeze_until": "block3"},
    ),
    "imagenet_preprocessing": Preset(
        "inputs: imagenet (bands standardised on the training split, the three stem channels mapped onto "
        "ImageNet's per-channel mean and std, then ResNet50's preprocess_input), BN in inference mode: the "
        "input statistics the ImageNet weights expect (the report's analysis did not check them; "
        "docs/findings says what they changed)",
        {"input_normalisation": "imagenet", "bn_inference": True},
    ),
    "augmented": Preset(
        "flips, 90-degree rotations, +-5% brightness on the training split, and balanced class weights: "
        "more variety for 300 patches and no reward for predicting the largest class; inputs: none",
        {"augment": True, "class_weights": "balanced"},
    ),
    "simplecnn": Preset(
        "the Week 3 SimpleCNN (~54K parameters, 8x8 input, no backbone) as the main model at lr 1e-3: "
        "the baseline trained by this pipeline on the same split; inputs: standardise (per-band training "
        "mean and std)",
        {"model_type": "simplecnn", "learning_rate": 1e-3, "input_normalisation": "standardise"},
    ),
    "recommended": Preset(
        "inputs: imagenet (standardised, stem matched to ImageNet's channel statistics) + BN inference, "
        "conv1-conv3 frozen, lr 5e-4, augmentation, balanced class weights, and the SimpleCNN (standardised) "
        "trained alongside for a paired comparison",
        {
            "input_normalisation": "imagenet",
            "bn_inference": True,
            "freeze": "until",
            "freeze_until": "conv3",
            "learning_rate": 5e-4,
            "augment": True,
            "class_weights": "balanced",
            "train_baseline": True,
        },
    ),
    # --- one factor at a time (the ablation sweep, issue 21): each changes exactly one key from report ---
    "f_bn_inference": Preset(
        "one factor: bn_inference true (BatchNorm on its moving statistics while layers train); else report",
        {"bn_inference": True},
    ),
    "f_standardise": Preset(
        "one factor: input_normalisation standardise (per-band mean and std of the training split); else report",
        {"input_normalisation": "standardise"},
    ),
    "f_imagenet_preprocessing": Preset(
        "one factor: input_normalisation imagenet (standardised, stem mapped onto ImageNet's channel statistics, "
        "preprocess_input), BatchNorm mode as report; else report",
        {"input_normalisation": "imagenet"},
    ),
    "f_less_freezing": Preset(
        "one factor: frozen_layers 80 instead of 150 (conv4 and conv5 train); else report", {"frozen_layers": 80}
    ),
    "f_higher_lr": Preset("one factor: learning_rate 5e-4 instead of 1e-4; else report", {"learning_rate": 5e-4}),
    "f_augment": Preset(
        "one factor: augment true (flips, 90-degree rotations, +-5% brightness on the training split); else report",
        {"augment": True},
    ),
    "f_class_weights": Preset(
        "one factor: class_weights balanced (n / (classes x count) per class); else report",
        {"class_weights": "balanced"},
    ),
    "f_input_size": Preset(
        "one factor: input_size 64 (patches resized to 64x64 for the backbone instead of 8 x 4 = 32); else report",
        {"input_size": 64},
    ),
    "f_band_adapter": Preset(
        "one factor: band_adapter first_conv (the backbone's first convolution widened to the six bands instead "
        "of a learned 1x1 convolution to three); else report",
        {"band_adapter": "first_conv"},
    ),
}


def parse_bool(flag: str, raw: Any) -> bool:
    """``raw`` as true or false (a bool, or true/false, 1/0, yes/no, on/off); ``flag`` names it in the error."""
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise ConfigError(f"{flag} expects true or false, got {raw!r}")


def _coerce(key: str, raw: Any, default: Any) -> Any:
    """Convert ``raw`` (a string from the command line, or a JSON value) to the type of ``default``."""
    if isinstance(default, bool):
        return parse_bool(f"--{key}", raw)
    if isinstance(default, int):
        if isinstance(raw, bool):
            raise ConfigError(f"--{key} expects an integer, got {raw!r}")
        try:
            value = float(raw) if not isinstance(raw, int) else raw
        except (TypeError, ValueError):
            raise ConfigError(f"--{key} expects an integer, got {raw!r}") from None
        if value != int(value):
            raise ConfigError(f"--{key} expects an integer, got {raw!r}")
        return int(value)
    if isinstance(default, float):
        if isinstance(raw, bool):
            raise ConfigError(f"--{key} expects a number, got {raw!r}")
        try:
            return float(raw)
        except (TypeError, ValueError):
            raise ConfigError(f"--{key} expects a number, got {raw!r}") from None
    if isinstance(default, list):
        items = raw if isinstance(raw, list) else [part.strip() for part in str(raw).split(",") if part.strip()]
        element = default[0] if default else EMPTY_LIST_ELEMENTS.get(key, "")
        return [_coerce(key, item, element) for item in items]
    if isinstance(raw, (dict, list)):
        raise ConfigError(f"--{key} expects a string, got {raw!r}")
    if key in SWITCHES:  # true/false spelled as for boolean keys, or a boolean from an older config.json
        text = str(raw).strip().lower()
        return {"1": "true", "yes": "true", "on": "true", "0": "false", "no": "false", "off": "false"}.get(text, text)
    return str(raw)


def _unknown_key_error(key: str) -> ConfigError:
    close = difflib.get_close_matches(key, DEFAULTS, n=1)
    hint = f"did you mean --{close[0]}?" if close else "run with --list-keys to see every key"
    return ConfigError(f"unknown config key {key!r}; {hint}")


def validate(config: dict[str, Any]) -> None:
    """Reject values out of range or outside their allowed set; the message names key and fix. Each
    section checks its own keys (phase4a/settings.py); auxiliary layers span data, model and train."""
    sections(config).validate()
    check_auxiliary(config)


AUX_SOURCES = ("raster", "earth_engine", "npz")  # npz: the layers are in the data.npz already (a sweep passes it)
MOCK_AUX_SOURCES = ("mock", "npz")
# aux_layers items Earth Engine makes as bands of its composite (phase4a/data/earth_engine.py).
EE_AUX_PATH, EE_AUX_LAYERS, EE_AUX_SOURCES = "ee", ("ndvi", "dem"), ("earth_engine", "npz")


def earth_engine_aux_layers(aux_layers: str) -> list[str]:
    """The names of the aux_layers items of the form name=ee (ndvi=ee, dem=ee), in order."""
    items = (item.partition("=") for item in str(aux_layers).split(","))
    return [name.strip() for name, _, path in items if path.strip() == EE_AUX_PATH]


def check_earth_engine_aux_layers(config: dict[str, Any]) -> None:
    source = config["data_source"]
    for name in earth_engine_aux_layers(config["aux_layers"]):
        if name not in EE_AUX_LAYERS:
            raise ConfigError(
                f"--aux_layers {name}=ee: Earth Engine makes ndvi=ee and dem=ee only; give {name}=PATH (a GeoTIFF)"
            )
        if source not in EE_AUX_SOURCES:
            raise ConfigError(
                f"--aux_layers {name}=ee is computed by Earth Engine, for --data_source earth_engine, not {source}; "
                f"give {name}=PATH (a GeoTIFF) instead"
            )


def check_auxiliary(config: dict[str, Any]) -> None:
    """Auxiliary layers only where a source makes them, and never unstandardised into a network."""
    source = config["data_source"]
    if str(config["aux_layers"]).strip() and source not in AUX_SOURCES:
        raise ConfigError(
            f"--aux_layers is for --data_source raster or earth_engine (it warps files onto their grid), not "
            f"{source}; drop it"
            + (" and use --mock_aux_layers true" if source == "mock" else "")
            + (" and name the fixture's layers in --band_names" if source == "eolearn" else "")
        )
    check_earth_engine_aux_layers(config)
    if config["mock_aux_layers"] and source not in MOCK_AUX_SOURCES:
        raise ConfigError(
            f"--mock_aux_layers true is for --data_source mock, not {source}; drop it"
            + (" and pass --aux_layers ndvi=MODIS.tif,dem=SRTM.tif" if source in AUX_SOURCES else "")
        )
    if not has_auxiliary_layers(config):
        return
    if input_normalisation(config) == "none":
        raise ConfigError(
            "--input_normalisation none would feed the auxiliary layers (elevation in km, slope, NDVI) to the "
            "network unstandardised beside reflectance; use --input_normalisation standardise (or auto)"
        )
    if config["train_baseline"] and config["baseline_normalisation"] == "none":
        raise ConfigError(
            "--baseline_normalisation none would feed the auxiliary layers to the SimpleCNN baseline "
            "unstandardised; use --baseline_normalisation standardise"
        )


def parse_overrides(tokens: list[str]) -> dict[str, Any]:
    """Parse ``--key value`` and ``--key=value`` tokens into raw (string) overrides."""
    overrides: dict[str, Any] = {}
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if not token.startswith("--") or token == "--":
            raise ConfigError(f"unexpected argument {token!r}; config overrides take the form --key value")
        name, has_value, value = token[2:].partition("=")
        key = name.replace("-", "_")
        if key not in DEFAULTS:
            raise _unknown_key_error(key)
        if not has_value:
            if index + 1 >= len(tokens) or tokens[index + 1].startswith("--"):
                raise ConfigError(f"--{key} needs a value, e.g. --{key} {DEFAULTS[key]!r}")
            index += 1
            value = tokens[index]
        overrides[key] = value
        index += 1
    return overrides


def resolve(preset: str = "report", overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Defaults, then the preset, then the overrides; typed and validated."""
    if preset not in PRESETS:
        close = difflib.get_close_matches(preset, PRESETS, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ConfigError(f"unknown preset {preset!r}; {hint}run with --list-presets to see them")
    config = dict(DEFAULTS)
    for source in (PRESETS[preset].overrides, overrides or {}):
        for key, raw in source.items():
            if key not in DEFAULTS:
                raise _unknown_key_error(key)
            config[key] = _coerce(key, raw, DEFAULTS[key])
    config["preset"] = preset
    validate(config)
    return config


def input_normalisation(config: dict[str, Any]) -> str:
    """The main model's input normalisation: none | standardise | imagenet (``auto`` resolved by model type
    and by whether the inputs hold auxiliary layers)."""
    run = sections(config)
    return run.model.normalisation(run.data.has_auxiliary_layers)


def has_auxiliary_layers(config: dict[str, Any]) -> bool:
    """Whether the model's inputs include layers other than Sentinel-2 bands (settings.DataConfig)."""
    return sections(config).data.has_auxiliary_layers


def uses_pretrained_weights(config: dict[str, Any]) -> bool:
    """ImageNet weights, or a weights file (step 02's or another pretrained copy): not a random start."""
    return sections(config).model.uses_pretrained_weights


def uses_xla(config: dict[str, Any]) -> bool:
    """Whether the training step is XLA-compiled: Keras ignores ``jit_compile`` under deterministic kernels."""
    return sections(config).runtime.uses_xla


def config_hash(config: dict[str, Any]) -> str:
    return sha256_json(config)[:12]


def save(path: str | Path, config: dict[str, Any]) -> None:
    write_json(path, config)


def load(path: str | Path) -> dict[str, Any]:
    """Read a saved config, checking it against the current keys so stale files fail clearly."""
    try:
        stored = read_json(path)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"{path} is not valid JSON ({exc}); it is damaged: re-run phase4a_01_setup_and_config.py"
        ) from None
    if not isinstance(stored, dict):
        raise ConfigError(f"{path} does not hold a config object; re-run phase4a_01_setup_and_config.py")
    unknown = sorted(set(stored) - set(DEFAULTS) - {"preset"})
    if unknown:
        raise ConfigError(
            f"{path} has keys this version does not know ({', '.join(unknown)}); re-run phase4a_01_setup_and_config.py"
        )
    config = dict(DEFAULTS)
    config.update({key: _coerce(key, value, DEFAULTS[key]) for key, value in stored.items() if key != "preset"})
    config["preset"] = stored.get("preset", "report")
    return config


def describe_presets() -> str:
    width = max(len(name) for name in PRESETS)
    return "\n".join(f"{name:<{width}}  {preset.summary}" for name, preset in PRESETS.items())


def presets_markdown() -> str:
    """The presets as a Markdown table, made from their definitions: the README shows this table
    (tools/update_readme.py writes it there; a test checks that it matches)."""
    rows = ["| preset | changes from `report` | what it is for |", "| --- | --- | --- |"]
    for name, preset in PRESETS.items():
        changes = ", ".join(f"`{key} {markdown_value(value)}`" for key, value in preset.overrides.items()) or "none"
        rows.append(f"| `{name}` | {changes} | {preset.summary} |")
    return "\n".join(rows)


def markdown_value(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    return str(value)


HIDDEN_SECTIONS = ("runtime",)  # how a run computes, not what: shown by --list-keys all


def describe_keys(include_runtime: bool = False) -> str:
    """Every key with its default, grouped by section (phase4a/settings.py); runtime keys only on request."""
    table = {title: keys for title, keys in section_keys().items() if include_runtime or title not in HIDDEN_SECTIONS}
    width = max(len(key) for keys in table.values() for key in keys)
    blocks = []
    for title, keys in table.items():
        if not keys:
            continue
        section, _, source = title.partition(".")
        heading = f"{section}, for --data_source {source}:" if source else f"{section}:"
        blocks.append("\n".join([heading, *(f"  --{key:<{width}}  default {DEFAULTS[key]!r}" for key in keys)]))
    if not include_runtime:
        hidden = sum(len(SECTIONS[name].keys()) for name in HIDDEN_SECTIONS)
        blocks.append(f"({hidden} runtime keys: threads, speed-ups, backups, the store; --list-keys all shows them)")
    return "\n\n".join(blocks)
