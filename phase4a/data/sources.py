"""Load the dataset named by the config's ``data_source``."""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError
from ..io import read_json
from ..settings import DataConfig
from ..stages import ARTEFACTS, STAGES
from .dataset import Dataset, canonical_band
from .dataset import load as load_data_npz
from .dataset import validate as validate_dataset

# What step 01 writes into data.npz (phase4a.data.dataset.save); the polygon ids and the test split
# (X_test, y_test, groups_test) are optional.
STEP01_ARRAYS = ("X_train", "y_train", "X_val", "y_val", "class_names", "band_names")


def load_source(data: DataConfig, seed: int) -> Dataset:
    """The dataset of ``data.data_source``; ``seed`` draws the mock patches and the splits."""
    return LOADERS[data.data_source](data, seed)


def load_mock(data: DataConfig, seed: int) -> Dataset:
    from .mock import generate_mock_dataset

    mock = data.mock
    dataset = generate_mock_dataset(
        train_size=mock.mock_train_size,
        val_counts=list(mock.mock_val_counts),
        class_names=list(data.class_names),
        band_names=list(data.band_names),
        patch_size=data.patch_size,
        seed=seed,
        test_counts=list(mock.mock_test_counts),
    )
    if mock.mock_aux_layers:
        from .mock_auxiliary import add_mock_auxiliary

        dataset = add_mock_auxiliary(dataset, seed)
    return dataset


def split_arguments(data: DataConfig, seed: int) -> dict:
    """What the two real fixtures' loaders (eurosat, eolearn) take alike: where, what, and how to split."""
    return {
        "patch_size": data.patch_size,
        "val_fraction": data.val_fraction,
        "test_fraction": data.test_fraction,
        "seed": seed,
    }


def load_eurosat(data: DataConfig, seed: int) -> Dataset:
    from .eurosat import load_eurosat_dataset

    return load_eurosat_dataset(
        data.data_dir or None,
        list(data.class_names),
        list(data.band_names),
        **split_arguments(data, seed),
        split_unit=data.eurosat.eurosat_split_unit,
    )


def load_eolearn(data: DataConfig, seed: int) -> Dataset:
    from .eolearn import load_eolearn_dataset

    return load_eolearn_dataset(
        data.data_dir or None,
        list(data.class_names),
        list(data.band_names),
        **split_arguments(data, seed),
        block=data.eolearn.eolearn_block,
    )


def load_week3(data: DataConfig, seed: int) -> Dataset:
    """A Week 3 directory brings its own splits: ``seed`` is unused."""
    from .splits import leakage_warning
    from .week3 import load_week3_dir

    dataset = load_week3_dir(data.data_dir, list(data.class_names), list(data.band_names))
    warning = leakage_warning(dataset.groups_train, dataset.groups_val, dataset.groups_test)
    if warning:
        dataset.notes["leakage_warning"] = warning
    return dataset


def load_earth_engine(data: DataConfig, seed: int) -> Dataset:
    """Export the composite to raster_path unless it is there already, then cut it as the raster source."""
    if not Path(data.raster.raster_path).exists():
        from . import auxiliary
        from .earth_engine import export_composite

        ee = data.earth_engine
        export_composite(
            data.raster.polygons_path,
            data.raster.raster_path,
            project=ee.ee_project or None,
            collection=ee.ee_collection,
            start=ee.ee_start,
            end=ee.ee_end,
            bands=list(data.band_names),
            cloud_mask=ee.ee_cloud_mask,
            scale=ee.ee_scale,
            aux_layers=auxiliary.parse_layer_specs(data.aux_layers) if data.aux_layers.strip() else [],
        )
    return load_raster(data, seed)


def load_raster(data: DataConfig, seed: int) -> Dataset:
    from . import auxiliary
    from .raster_patches import load_raster_dataset

    specs = auxiliary.parse_layer_specs(data.aux_layers) if data.aux_layers.strip() else []
    raster = data.raster
    dataset = load_raster_dataset(
        raster.raster_path,
        raster.polygons_path,
        raster.label_column,
        list(data.class_names),
        patch_size=data.patch_size,
        max_patches_per_polygon=raster.max_patches_per_polygon,
        bands=list(raster.raster_bands or data.band_names),
        band_names_in_file=list(raster.raster_band_names) or None,
        id_column=raster.id_column or None,
        val_fraction=data.val_fraction,
        seed=seed,
        test_fraction=data.test_fraction,
        aux_layers=specs,
    )
    # Bands picked by index from a file without descriptions get placeholder names; use the configured ones.
    layers = dataset.band_names[len(dataset.band_names) - len(warped_names(specs)) :] if specs else []
    bands = dataset.band_names[: len(dataset.band_names) - len(layers)]
    if all(name.startswith("band") for name in bands) and len(data.band_names) == len(bands):
        dataset.band_names = [*data.band_names, *layers]
    if any(spec.kind == auxiliary.S2_NDVI for spec in specs):
        dataset = with_s2_ndvi(dataset, len(bands), specs, data.reflectance_offset)
    return dataset


def load_npz(data: DataConfig, seed: int) -> Dataset:
    """Step 01's arrays as they are: their split was drawn when they were written."""
    return load_step01_npz(data)


def warped_names(specs: list[Any]) -> list[str]:
    """The names of the layers warped from files (every spec's layers but s2_ndvi), in spec order."""
    from . import auxiliary

    return [name for spec in specs if spec.kind != auxiliary.S2_NDVI for name in spec.layer_names]


def with_s2_ndvi(dataset: Dataset, bands: int, specs: list[Any], offset: float) -> Dataset:
    """``dataset`` with s2_ndvi (from its own B4 and B8) inserted where the spec list names it."""
    from . import auxiliary

    names = [name for spec in specs for name in spec.layer_names]
    position = bands + names.index(auxiliary.S2_NDVI)
    s2_names = dataset.band_names[:bands]
    for split, X, _, _ in dataset.splits():
        ndvi = auxiliary.s2_ndvi(X[..., :bands], s2_names, offset)[..., None]
        fused = np.concatenate([X[..., :position].astype(np.float32), ndvi, X[..., position:]], axis=-1)
        setattr(dataset, {"train": "X_train", "validation": "X_val", "test": "X_test"}[split], fused)
    dataset.band_names = [*dataset.band_names[:position], auxiliary.S2_NDVI, *dataset.band_names[position:]]
    layers = dataset.notes.setdefault("auxiliary", {}).setdefault("layers", [])
    layers.insert(names.index(auxiliary.S2_NDVI), {"name": auxiliary.S2_NDVI, "source": "(B8 - B4) / (B8 + B4)"})
    return dataset


def input_band_names(data: DataConfig) -> list[str]:
    """Every input band of the run's model, in order: band_names, then the layers the source appends
    (mock_aux_layers for mock, aux_layers for raster and earth_engine). Other sources (eolearn, npz) take
    their layers from band_names itself. Known from the config alone, without reading the data."""
    bands = list(data.band_names)
    if data.data_source == "mock" and data.mock.mock_aux_layers:
        from .mock_auxiliary import MOCK_LAYERS

        return [*bands, *MOCK_LAYERS]
    if data.data_source in ("raster", "earth_engine") and data.aux_layers.strip():
        from . import auxiliary

        specs = auxiliary.parse_layer_specs(data.aux_layers)
        return [*bands, *(name for spec in specs for name in spec.layer_names)]
    return bands


def load_step01_npz(data: DataConfig) -> Dataset:
    """The ``data.npz`` an earlier step 01 wrote, checked against the dataset contract and this config.

    Its values are step 01's scaled reflectance, so step 01 stores the file as it is (a byte copy, see
    phase4a.steps.setup_config) and never scales it again. The notes name the file, so the manifest
    records its path and sha256 (``source_data``), and carry the summary of the step 01 that made it.
    """
    path = Path(data.npz.data_npz)
    script = STAGES["setup"].script
    if not path.is_file():
        raise DataError(
            f"--data_npz {path} not found; point it at the {ARTEFACTS['data']} an earlier {script} wrote "
            "(in its --run-dir), or run that step first"
        )
    try:
        with np.load(path, allow_pickle=False) as arrays:
            missing = [name for name in STEP01_ARRAYS if name not in arrays]
        if missing:
            raise DataError(
                f"{path} lacks {', '.join(missing)}, so no step 01 wrote it; --data_source npz reads "
                f"the {ARTEFACTS['data']} of {script} (for other arrays use --data_source week3)"
            )
        dataset = load_data_npz(path)
    except (zipfile.BadZipFile, zlib.error, OSError, ValueError, EOFError) as exc:
        raise DataError(
            f"{path} is not a readable .npz file ({exc}); it is damaged: re-run {script} to write it again"
        ) from None
    validate_dataset(dataset)
    for split, X, y, _ in dataset.splits():
        if X.dtype != np.float32 or y.dtype != np.int64:
            raise DataError(
                f"{path} holds X_{split} as {X.dtype} and y_{split} as {y.dtype}, not step 01's float32 and "
                f"int64; --data_source npz reads the {ARTEFACTS['data']} of {script} (for other arrays use "
                "--data_source week3)"
            )
    check_matches_config(dataset, data, path)
    dataset.notes = {"source": "npz", "path": str(path.resolve()), **_made_by(path)}
    if dataset.groups_train is not None and dataset.groups_val is not None:
        from .splits import leakage_warning

        warning = leakage_warning(dataset.groups_train, dataset.groups_val, dataset.groups_test)
        if warning:
            dataset.notes["leakage_warning"] = warning
    return dataset


def check_matches_config(dataset: Dataset, data: DataConfig, path: Path) -> None:
    """Later steps build the model from the config's classes, bands and patch size: they must be the data's."""
    if dataset.class_names != list(data.class_names):
        raise DataError(
            f"{path} has classes {','.join(dataset.class_names)} but --class_names is "
            f"{','.join(data.class_names)}; pass --class_names {','.join(dataset.class_names)} "
            "(in that order: it fixes the label indices)"
        )
    if [canonical_band(name) for name in dataset.band_names] != [canonical_band(name) for name in data.band_names]:
        raise DataError(
            f"{path} has bands {','.join(dataset.band_names)} but --band_names is "
            f"{','.join(data.band_names)}; pass --band_names {','.join(dataset.band_names)}"
        )
    side = dataset.X_train.shape[1]
    if side != data.patch_size:
        raise DataError(
            f"{path} has {side}x{side} patches but --patch_size is {data.patch_size}; pass --patch_size {side}"
        )


def _made_by(path: Path) -> dict[str, Any]:
    """The source and scaling recorded by the step 01 that wrote ``path`` (its data_summary.json beside
    it), so a run on shared data still says where the data first came from; empty if there is none."""
    summary_path = path.parent / ARTEFACTS["data_summary"]
    try:
        summary = read_json(summary_path)
    except (OSError, ValueError):
        return {}
    if not isinstance(summary, dict) or not isinstance(summary.get("source"), dict):
        return {}
    made_by = {"origin": summary["source"]}
    if isinstance(summary.get("scaling"), dict):
        made_by["origin_scaling"] = summary["scaling"]
    return made_by


def original_source(notes: dict[str, Any]) -> str | None:
    """The source the data first came from (mock, week3...), following npz copies back to it."""
    while notes.get("source") == "npz" and isinstance(notes.get("origin"), dict):
        notes = notes["origin"]
    source = notes.get("source")
    return None if source == "npz" else source


def original_scaling(summary: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The scaling the step 01 that saw the stored values recorded, and whether the run's data are a copy.

    A run on another run's data.npz (data_source npz) records "already scaled": its data were scaled by
    the step 01 that made them, whose decision the summary carries as ``source.origin_scaling``; this
    follows those copies back."""
    scaling, notes, copied = summary["scaling"], summary.get("source") or {}, False
    while scaling.get("already_scaled") and isinstance(notes.get("origin_scaling"), dict):
        scaling, notes, copied = notes["origin_scaling"], notes.get("origin") or {}, True
    return scaling, copied


def describe_scaling(summary: dict[str, Any]) -> str:
    """How the run's reflectance was scaled, in words; for copied data, by the step 01 that first scaled it."""
    scaling, copied = original_scaling(summary)
    if scaling.get("already_scaled"):
        return "already in [0, 1], not rescaled"
    text = f"scaled as (value + {scaling['offset']:g}) / {scaling['divisor']:g}"
    return text + (f", by the step 01 that wrote the copied {ARTEFACTS['data']}" if copied else "")


LOADERS = {
    "mock": load_mock,
    "week3": load_week3,
    "raster": load_raster,
    "earth_engine": load_earth_engine,
    "npz": load_npz,
    "eurosat": load_eurosat,
    "eolearn": load_eolearn,
}
