"""The real EuroSAT-MS sample tiles (``../shared/data/eurosat_ms_samples``) as a dataset.

Each ``<Class>_*.tif`` tile (64 x 64 pixels, 13 bands, Level-1C reflectance x 10000, band order in
the folder's SOURCE.md; the files carry no band descriptions) is cut into non-overlapping P x P
patches of the configured bands, kept at their stored values (step 01 scales them as for any source).
The patches of one 640 m tile look alike (one scene, one place), so the tiles are split three ways like
polygons (:func:`phase4a.data.splits.three_way_split`: grouped, stratified by class, seeded): no tile
has patches in two splits and every class is in each. That needs three tiles of every class; the ten
sample tiles in ../shared have one for some classes, so they are split by tile quadrant instead
(``split_unit="quadrant"``, four 32 x 32 quadrants per tile): then quadrants of one tile are in two
splits, and the data summary says so (accuracies measure generalisation within a tile, not to new
ones). The patches' groups are the unit they were split by.

EuroSAT's classes map onto the report's five as SOURCE.md suggests; HerbaceousVegetation and Highway
have no clean counterpart and are not used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.errors import RasterioIOError

from ..errors import ConfigError, DataError
from ..paths import EUROSAT_SAMPLES_DIR
from .dataset import Dataset, canonical_band
from .raster_patches import EUROSAT_BAND_NAMES, REPORT_BANDS
from .splits import leakage_warning, three_way_split

EUROSAT_TO_CLASS: dict[str, str] = {
    "AnnualCrop": "Agriculture",
    "Forest": "Forest",
    "Pasture": "Parcels",
    "PermanentCrop": "Parcels",
    "Residential": "Urban",
    "Industrial": "Urban",
    "River": "Water",
    "SeaLake": "Water",
}
UNUSED_CLASSES = ("HerbaceousVegetation", "Highway")
SPLIT_UNITS = ("tile", "quadrant")
TILE_LEAKAGE_FIX = (
    "accuracies measure generalisation within a tile, not to new tiles; give every class three tiles or more "
    "and use --eurosat_split_unit tile"
)
QUADRANTS = ("NW", "NE", "SW", "SE")  # row-major: top-left, top-right, bottom-left, bottom-right
TILE_PATTERN = "{}_*.tif"
MISSING_HELP = "pass --data_dir DIR holding the EuroSAT-MS <Class>_20.tif files"


@dataclass
class TilePatches:
    X: np.ndarray  # (N, P, P, C) stored values (uint16)
    y: np.ndarray  # (N,) class index
    groups: np.ndarray  # (N,) tile-quadrant id: tile number x 4 + quadrant
    tiles: list[dict[str, Any]] = field(default_factory=list)  # one record per tile read


def load_eurosat_dataset(
    data_dir: str | Path | None = None,
    class_names: list[str] | tuple[str, ...] = ("Agriculture", "Forest", "Parcels", "Urban", "Water"),
    band_names: list[str] | tuple[str, ...] = REPORT_BANDS,
    patch_size: int = 8,
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
    seed: int = 42,
    split_unit: str = "tile",
) -> Dataset:
    """Patches of the tiles, split by ``split_unit`` (tile or quadrant) into train, validation and
    (``test_fraction`` > 0) test."""
    if split_unit not in SPLIT_UNITS:
        raise ConfigError(f"eurosat_split_unit {split_unit!r} is not one of {', '.join(SPLIT_UNITS)}; e.g. tile")
    data_dir = Path(data_dir) if data_dir else EUROSAT_SAMPLES_DIR
    class_names = list(class_names)
    cut = cut_tiles(data_dir, class_names, list(band_names), patch_size)
    groups = cut.groups // len(QUADRANTS) if split_unit == "tile" else cut.groups
    try:
        train, val, test = three_way_split(
            cut.y, groups, val_fraction, test_fraction, seed, class_names=class_names, unit=f"{split_unit}s"
        )
    except ConfigError as error:
        if split_unit != "tile":
            raise
        raise ConfigError(
            f"{error}; or pass --eurosat_split_unit quadrant (a tile's quadrants then feed two splits)"
        ) from None
    split_of = {
        int(g): split
        for split, index in (("train", train), ("validation", val), ("test", test))
        for g in cut.groups[index]
    }
    for record in cut.tiles:
        record["quadrants"] = {name: {"group": g, "split": split_of[g]} for name, g in record["quadrants"].items()}
    with_test = test_fraction > 0
    tiles = cut.groups // len(QUADRANTS)
    notes = {
        "source": "eurosat",
        "data_dir": str(data_dir.resolve()),
        "processing_level": "Level-1C top-of-atmosphere reflectance x 10000",
        "patch_size": patch_size,
        "groups": split_unit,
    }
    warning = leakage_warning(
        tiles[train], tiles[val], tiles[test] if with_test else None, unit="tile", fix=TILE_LEAKAGE_FIX
    )
    if warning:
        notes["leakage_warning"] = warning
    return Dataset(
        X_train=cut.X[train],
        y_train=cut.y[train],
        X_val=cut.X[val],
        y_val=cut.y[val],
        class_names=class_names,
        band_names=list(band_names),
        groups_train=groups[train],
        groups_val=groups[val],
        X_test=cut.X[test] if with_test else None,
        y_test=cut.y[test] if with_test else None,
        groups_test=groups[test] if with_test else None,
        notes={
            **notes,
            "val_fraction": val_fraction,
            "test_fraction": test_fraction,
            "seed": seed,
            "tiles": cut.tiles,
        },
    )


def cut_tiles(data_dir: Path, class_names: list[str], band_names: list[str], patch_size: int) -> TilePatches:
    """Every tile of the wanted classes, cut into patches, with each patch's class and tile quadrant."""
    if not data_dir.is_dir():
        raise DataError(f"{data_dir} not found; {MISSING_HELP}")
    if patch_size < 1:
        raise ConfigError(f"patch_size is {patch_size}; it must be at least 1")
    indexes = band_indexes(band_names)
    X, y, groups, tiles = [], [], [], []
    for path, eurosat_class, label in tile_files(data_dir, class_names):
        values = read_tile(path, indexes)
        number = len(tiles)
        record = {"file": path.name, "eurosat_class": eurosat_class, "class": class_names[label], "quadrants": {}}
        for quadrant, patches in enumerate(quadrant_patches(values, patch_size, path)):
            group = number * len(QUADRANTS) + quadrant
            record["quadrants"][QUADRANTS[quadrant]] = group
            X.append(patches)
            y.append(np.full(len(patches), label, dtype=np.int64))
            groups.append(np.full(len(patches), group, dtype=np.int64))
        tiles.append(record)
    return TilePatches(X=np.concatenate(X), y=np.concatenate(y), groups=np.concatenate(groups), tiles=tiles)


def band_indexes(band_names: list[str]) -> list[int]:
    """1-based file indexes of the wanted bands, by EuroSAT-MS's band order (B8A is the 13th)."""
    canonical = [canonical_band(name) for name in EUROSAT_BAND_NAMES]
    unknown = [name for name in band_names if canonical_band(name) not in canonical]
    if unknown:
        raise DataError(
            f"band {', '.join(unknown)} is not a EuroSAT-MS band ({', '.join(EUROSAT_BAND_NAMES)}); "
            "choose --band_names from those"
        )
    return [canonical.index(canonical_band(name)) + 1 for name in band_names]


def tile_files(data_dir: Path, class_names: list[str]) -> list[tuple[Path, str, int]]:
    """(path, EuroSAT class, class index) of each tile of the wanted classes, in a fixed order."""
    files = []
    for label, name in enumerate(class_names):
        sources = [eurosat for eurosat, target in EUROSAT_TO_CLASS.items() if target == name]
        if not sources:
            targets = ", ".join(dict.fromkeys(EUROSAT_TO_CLASS.values()))
            raise DataError(
                f"class {name!r} has no EuroSAT-MS counterpart; with --data_source eurosat use --class_names "
                f"from {targets}"
            )
        found = [
            (path, eurosat, label)
            for eurosat in sources
            for path in sorted(data_dir.glob(TILE_PATTERN.format(eurosat)))
        ]
        if not found:
            wanted = " or ".join(TILE_PATTERN.format(eurosat) for eurosat in sources)
            raise DataError(f"no tile for class {name} ({wanted}) in {data_dir}; {MISSING_HELP}")
        files.extend(found)
    return files


def read_tile(path: Path, indexes: list[int]) -> np.ndarray:
    """(rows, cols, bands) stored values of the chosen bands."""
    try:
        with rasterio.open(path) as src:
            if src.count != len(EUROSAT_BAND_NAMES):
                raise DataError(
                    f"{path} has {src.count} bands, not EuroSAT-MS's {len(EUROSAT_BAND_NAMES)} "
                    f"({' '.join(EUROSAT_BAND_NAMES)}); use the EuroSAT-MS (multispectral) tiles"
                )
            values = src.read(indexes)
    except RasterioIOError as exc:
        raise DataError(f"{path} is not a readable GeoTIFF ({str(exc).splitlines()[0]}); replace it") from None
    return np.moveaxis(values, 0, -1)


def quadrant_patches(values: np.ndarray, size: int, path: Path) -> list[np.ndarray]:
    """The non-overlapping size x size patches of each quadrant (NW, NE, SW, SE), each (n, P, P, C)."""
    half_rows, half_cols = values.shape[0] // 2, values.shape[1] // 2
    if size > min(half_rows, half_cols):
        raise ConfigError(
            f"--patch_size {size} is larger than a quadrant ({half_rows}x{half_cols}) of {path.name}; "
            f"use --patch_size {min(half_rows, half_cols)} or less"
        )
    rows, cols = half_rows // size, half_cols // size
    quadrants = []
    for top, left in ((0, 0), (0, half_cols), (half_rows, 0), (half_rows, half_cols)):
        block = values[top : top + rows * size, left : left + cols * size]
        patches = (
            block.reshape(rows, size, cols, size, -1).transpose(0, 2, 1, 3, 4).reshape(-1, size, size, block.shape[-1])
        )
        quadrants.append(patches)
    return quadrants
