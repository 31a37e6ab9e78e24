"""Band sets of a sweep: arms that read a subset of the sweep's bands (Phase 4B's fusion ablation).

The sweep makes its data once, with every band and layer (step 01 into ``<sweep-dir>/data``); a band
set is a named choice of those bands (``s2``: the Sentinel-2 bands; ``s2_dem``: those and the terrain
layers). For each set the sweep writes ``band_data/seed_<s>/<set>/data.npz``: the same patches, labels,
groups and splits with only that set's channels, in the set's order. An arm of a band set reads that
file as every arm reads the sweep's data (``--data_source npz``, copied byte for byte), so its runs are
complete, resumable and hashed like any other; the forests are fitted on each set's file. The file is
reused while ``band_set.json`` beside it matches (same parent file, same bands).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..data import dataset as dataset_module
from ..data.dataset import canonical_band
from ..errors import ConfigError
from ..io import read_json, sha256_file, write_json
from ..stages import ARTEFACTS

BAND_DATA = "band_data"
RECORD = "band_set.json"
SEPARATOR = "__"  # an arm of a band set is named <preset>__<set>; a forest <forest>__<set>


def arm_name(model: str, band_set: str) -> str:
    return f"{model}{SEPARATOR}{band_set}"


def select(dataset: dataset_module.Dataset, bands: tuple[str, ...], name: str) -> dataset_module.Dataset:
    """``dataset`` with only ``bands`` (by name, B02 = B2), in that order."""
    have = [canonical_band(band) for band in dataset.band_names]
    missing = [band for band in bands if canonical_band(band) not in have]
    if missing:
        raise ConfigError(
            f"band set {name} needs {', '.join(missing)}, which the sweep's data lack (its bands: "
            f"{', '.join(dataset.band_names)}); add them to the data options (--band_names, --aux_layers, "
            "--mock_aux_layers true) or drop the set"
        )
    index = [have.index(canonical_band(band)) for band in bands]
    subset = replace(
        dataset,
        X_train=dataset.X_train[..., index],
        X_val=dataset.X_val[..., index],
        band_names=[dataset.band_names[i] for i in index],
    )
    if dataset.X_test is not None:
        subset.X_test = dataset.X_test[..., index]
    return subset


def make_band_data(parent: Path, name: str, bands: tuple[str, ...], folder: Path) -> Path:
    """The data.npz of band set ``name`` cut from ``parent`` into ``folder``; written once, then reused."""
    path = folder / ARTEFACTS["data"]
    record = {"parent": str(parent.resolve()), "parent_sha256": sha256_file(parent), "band_set": name}
    record["bands"] = list(bands)
    record_path = folder / RECORD
    if path.is_file() and record_path.is_file() and read_json(record_path) == record:
        return path
    subset = select(dataset_module.load(parent), bands, name)
    folder.mkdir(parents=True, exist_ok=True)
    dataset_module.save(path, subset)
    summary_path = parent.parent / ARTEFACTS["data_summary"]
    summary = read_json(summary_path) if summary_path.is_file() else {}
    # Beside it, what step 01 of a run reading it records as the data's origin and scaling.
    origin = {"source": "npz", "path": record["parent"], "origin": summary.get("source"), "band_set": record}
    write_json(folder / ARTEFACTS["data_summary"], {"source": origin, "scaling": summary.get("scaling", {})})
    write_json(record_path, record)
    return path


def existing_band_data(folder: Path) -> Path:
    """A band set's data.npz that a finished sweep made (for --findings-only, which makes nothing)."""
    path = folder / ARTEFACTS["data"]
    if not path.is_file():
        raise ConfigError(f"{path} not found; run the sweep without --findings-only first")
    return path
