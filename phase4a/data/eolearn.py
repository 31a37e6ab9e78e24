"""eo-learn's co-registered Slovenian example (``../shared/data/eolearn_slovenia``) as a fused dataset.

Every array of the fixture is on one 10 m grid (101 x 100 pixels, EPSG:32633, SOURCE.md there), so
nothing is warped: the layers are stacked and cut into non-overlapping P x P patches.

- Sentinel-2: a per-pixel median of the clear scenes among REFERENCE_SCENES (Level-1C reflectance,
  already / 10000, multiplied back by 10000 like every other source). A scene is clear when its median
  blue (B2) reflectance is at most 1.25 x the lowest scene median: haze and cloud brighten blue, and
  the clearest scene is the reference (scene 0 is cloudy, scene 1 hazy; scenes 2-4 are kept).
- Auxiliary layers (phase4a.data.auxiliary's names and stored units): the DEM as ``elevation`` with
  ``slope``, ``aspect_sin`` and ``aspect_cos`` computed on it; ``ndvi_series``, the per-pixel median of
  the 68-date NDVI series; and ``s2_ndvi``, NDVI of the composite's own B4 and B8, the control that
  tells what the series adds beyond the scene itself. ``--band_names`` picks any of these and any of
  the 13 Sentinel-2 bands, in order.
- Label: the majority land-use class among a patch's labelled pixels (ties: the lower class code). A
  patch with fewer than half its pixels labelled (class 0, no data) is skipped, as is one whose
  majority class is not in ``--class_names``; both are counted in the notes.
- Groups: contiguous B x B blocks of patches (``block``, default 2: 160 m squares of 8 x 8 patches), so
  that neighbouring patches, which look alike, never sit on both sides of a split. Blocks go to
  train, validation and test whole (:func:`phase4a.data.splits.three_way_split`), stratified by each
  block's class: the class with most of its patches (ties: the class with fewer patches overall, so
  the rare class's blocks are spread over the splits).

The fixture is small and forest-heavy: about three quarters of its pixels are forest, there is no
water, and its 12 x 12 grid of 8 x 8 patches gives 144, of which only Forest (about 110) and
Grassland (about 25) have enough blocks for three splits. A small real case for fusion, not a benchmark.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from affine import Affine
from rasterio.crs import CRS
from rasterio.errors import CRSError

from ..errors import ConfigError, DataError
from ..paths import EOLEARN_SLOVENIA_DIR
from . import auxiliary
from .dataset import Dataset, canonical_band
from .raster_patches import REPORT_BANDS
from .splits import three_way_split

S2_BANDS = ("B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B10", "B11", "B12")  # SOURCE.md order
LULC_CLASSES = {1: "Cultivated", 2: "Forest", 3: "Grassland", 4: "Shrubland", 8: "Artificial"}
NO_DATA_CLASS = 0
DEFAULT_CLASSES = ("Forest", "Grassland")  # the classes with blocks enough for three splits
AUX_LAYERS = ("elevation", "slope", "aspect_sin", "aspect_cos", "ndvi_series", "s2_ndvi")
FUSION_BANDS = (*REPORT_BANDS, *AUX_LAYERS)
CLEAR_BLUE_RATIO = 1.25
MIN_LABELLED_FRACTION = 0.5
DEFAULT_BLOCK = 2
FILES = {
    "scenes": "REFERENCE_SCENES.npy",
    "dem": "DEM.npy",
    "ndvi": "NDVI.npy",
    "lulc": "LULC.npy",
    "bbox": "bbox.geojson",
    "timestamps": "timestamps.json",
}
MISSING_HELP = (
    "pass --data_dir DIR holding eo-learn's example arrays (REFERENCE_SCENES.npy, DEM.npy, NDVI.npy, LULC.npy, "
    "bbox.geojson, timestamps.json)"
)
LIMITS = (
    "small and forest-heavy: about three quarters of the pixels are forest, there is no water, and 144 patches of "
    "8x8 at most; a small real case for fusion, not a benchmark"
)
MOSTLY_NO_DATA = "fewer than half the pixels have a land-use class"
SKIP_CLASS = "majority class {} not in --class_names"
NON_FINITE = "patch with NaN or infinite values"


@dataclass
class Fixture:
    scenes: np.ndarray  # (scenes, rows, cols, 13) reflectance in [0, 1]
    dem: np.ndarray  # (rows, cols) metres
    ndvi: np.ndarray  # (dates, rows, cols)
    lulc: np.ndarray  # (rows, cols) class codes
    grid: auxiliary.Grid
    timestamps: list[str]
    data_dir: Path


@dataclass
class Cut:
    X: np.ndarray  # (N, P, P, C) stored values
    y: np.ndarray  # (N,) class index into class_names
    rows: np.ndarray  # (N,) patch row and column on the patch grid
    cols: np.ndarray
    skipped: dict[str, int]


def load_eolearn_dataset(
    data_dir: str | Path | None = None,
    class_names: list[str] | tuple[str, ...] = DEFAULT_CLASSES,
    band_names: list[str] | tuple[str, ...] = REPORT_BANDS,
    patch_size: int = 8,
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
    seed: int = 42,
    block: int = DEFAULT_BLOCK,
) -> Dataset:
    """Patches of the fixture's chosen bands and layers, split by block into train, validation and
    (``test_fraction`` > 0) test."""
    class_names, band_names = list(class_names), list(band_names)
    codes = class_codes(class_names)
    if patch_size < 1 or block < 1:
        raise ConfigError(f"patch_size {patch_size} and block {block} must both be at least 1")
    fixture = read_fixture(Path(data_dir) if data_dir else EOLEARN_SLOVENIA_DIR)
    clear = clear_scenes(fixture.scenes)
    layers = fixture_layers(fixture, clear)
    stack = np.stack([stored(layers, name) for name in band_names], axis=-1)
    cut = cut_patches(stack, fixture.lulc, codes, class_names, patch_size)
    blocks_across = -(-(fixture.lulc.shape[1] // patch_size) // block)
    groups = (cut.rows // block) * blocks_across + cut.cols // block
    block_class = block_labels(cut.y, groups, len(class_names))
    check_blocks(cut.y, groups, block_class, class_names, block, 3 if test_fraction > 0 else 2)
    train, val, test = three_way_split(
        block_class, groups, val_fraction, test_fraction, seed, class_names=class_names, unit="blocks"
    )
    with_test = test_fraction > 0
    rows_used, cols_used = ((side // patch_size) * patch_size for side in fixture.lulc.shape)
    return Dataset(
        X_train=cut.X[train],
        y_train=cut.y[train],
        X_val=cut.X[val],
        y_val=cut.y[val],
        class_names=class_names,
        band_names=[name if name in AUX_LAYERS else canonical_band(name) for name in band_names],
        groups_train=groups[train],
        groups_val=groups[val],
        X_test=cut.X[test] if with_test else None,
        y_test=cut.y[test] if with_test else None,
        groups_test=groups[test] if with_test else None,
        notes={
            "source": "eolearn",
            "data_dir": str(fixture.data_dir.resolve()),
            "processing_level": "Level-1C top-of-atmosphere reflectance x 10000",
            "limits": LIMITS,
            "composite": {
                "rule": f"per-pixel median of the scenes whose median B2 is <= {CLEAR_BLUE_RATIO} x the lowest",
                "clear_scenes": clear,
                "scene_median_b2": [round(float(np.median(scene[..., 1])), 4) for scene in fixture.scenes],
                "scene_dates": scene_dates(fixture),
            },
            "layers": {name: layer_record(name) for name in band_names if name in AUX_LAYERS},
            "label_rule": (
                "majority land-use class of the patch's labelled pixels; patches with fewer than half their "
                "pixels labelled are skipped"
            ),
            "groups": f"{block}x{block} blocks of patches ({block * patch_size * 10} m squares)",
            "block": block,
            "patch_size": patch_size,
            "grid_used": (
                f"rows 0-{rows_used - 1}, columns 0-{cols_used - 1} of {fixture.grid.height}x{fixture.grid.width}"
            ),
            "crs": fixture.grid.crs.to_string(),
            "transform": list(fixture.grid.transform)[:6],
            "patches": int(len(cut.y)),
            "class_patches": {name: int((cut.y == i).sum()) for i, name in enumerate(class_names)},
            "skipped": cut.skipped,
            "val_fraction": val_fraction,
            "test_fraction": test_fraction,
            "seed": seed,
        },
    )


def class_codes(class_names: list[str]) -> list[int]:
    """The land-use code of each class name, in order."""
    by_name = {name: code for code, name in LULC_CLASSES.items()}
    unknown = [name for name in class_names if name not in by_name]
    if unknown:
        raise DataError(
            f"class {', '.join(repr(n) for n in unknown)} is not an eo-learn land-use class "
            f"({', '.join(LULC_CLASSES.values())}); with --data_source eolearn use --class_names "
            f"{','.join(DEFAULT_CLASSES)} (the classes with enough patches for three splits)"
        )
    return [by_name[name] for name in class_names]


def read_fixture(data_dir: Path) -> Fixture:
    if not data_dir.is_dir():
        raise DataError(f"{data_dir} not found; {MISSING_HELP}")
    paths = {key: data_dir / name for key, name in FILES.items()}
    for path in paths.values():
        if not path.is_file():
            raise DataError(f"{path.name} not found in {data_dir}; {MISSING_HELP}")
    arrays = {key: _load_npy(paths[key]) for key in ("scenes", "dem", "ndvi", "lulc")}
    scenes, dem, ndvi, lulc = arrays["scenes"], arrays["dem"], arrays["ndvi"], arrays["lulc"]
    if scenes.ndim != 4 or scenes.shape[-1] != len(S2_BANDS):
        raise DataError(
            f"{paths['scenes']} has shape {scenes.shape}, not (scenes, rows, cols, {len(S2_BANDS)}); "
            "use eo-learn's REFERENCE_SCENES.npy"
        )
    shape = scenes.shape[1:3]
    for key, array, wanted in (("dem", dem, 3), ("ndvi", ndvi, 4), ("lulc", lulc, 3)):
        if array.ndim != wanted or array.shape[-3:-1] != shape:
            raise DataError(
                f"{paths[key]} has shape {array.shape}, not on the scenes' {shape[0]}x{shape[1]} grid; "
                "use the arrays of one eo-learn example"
            )
    return Fixture(
        scenes=scenes.astype(np.float32),
        dem=dem[..., 0].astype(np.float64),
        ndvi=ndvi[..., 0].astype(np.float32),
        lulc=lulc[..., 0].astype(np.int64),
        grid=read_grid(paths["bbox"], shape),
        timestamps=_read_timestamps(paths["timestamps"]),
        data_dir=data_dir,
    )


def read_grid(path: Path, shape: tuple[int, int]) -> auxiliary.Grid:
    """The 10 m grid of the arrays: bbox.geojson's bounds and CRS over ``shape`` (rows, cols)."""
    try:
        geojson = json.loads(path.read_text())
        coordinates = np.asarray(geojson["coordinates"][0], dtype=np.float64)
        crs = CRS.from_user_input(geojson["crs"]["properties"]["name"])
    except (OSError, ValueError, KeyError, IndexError, TypeError, CRSError) as exc:
        raise DataError(f"{path} is not the fixture's bbox GeoJSON ({type(exc).__name__}); {MISSING_HELP}") from None
    left, bottom = coordinates.min(axis=0)
    right, top = coordinates.max(axis=0)
    rows, cols = shape
    transform = Affine((right - left) / cols, 0, left, 0, -(top - bottom) / rows, top)
    return auxiliary.Grid(crs, transform, cols, rows)


def clear_scenes(scenes: np.ndarray) -> list[int]:
    """Indexes of the scenes whose median blue is within CLEAR_BLUE_RATIO of the clearest scene's."""
    blue = np.array([np.median(scene[..., S2_BANDS.index("B2")]) for scene in scenes])
    return [int(i) for i in np.flatnonzero(blue <= CLEAR_BLUE_RATIO * blue.min())]


def scene_dates(fixture: Fixture) -> list[str | None]:
    """The date of each scene, where its NDVI equals one date of the NDVI series (the fixture stores no
    scene dates, but the series was computed from the same acquisitions); None where none matches."""
    dates: list[str | None] = []
    for scene in fixture.scenes:
        ndvi = normalised_difference(scene[..., S2_BANDS.index("B8")], scene[..., S2_BANDS.index("B4")])
        error = np.abs(fixture.ndvi - ndvi[None]).mean(axis=(1, 2))
        best = int(np.argmin(error))
        matched = error[best] < 1e-4 and best < len(fixture.timestamps)
        dates.append(fixture.timestamps[best] if matched else None)
    return dates


def fixture_layers(fixture: Fixture, clear: list[int]) -> dict[str, np.ndarray]:
    """Every layer a band name can pick, on the fixture grid, in physical units (reflectance in [0, 1])."""
    composite = np.median(fixture.scenes[clear], axis=0)
    layers = {band: composite[..., index] for index, band in enumerate(S2_BANDS)}
    layers["elevation"] = fixture.dem
    layers.update(auxiliary.terrain(fixture.dem, fixture.grid.transform, fixture.grid.crs))
    layers["ndvi_series"] = np.median(fixture.ndvi, axis=0)
    layers["s2_ndvi"] = normalised_difference(layers["B8"], layers["B4"])
    return layers


def stored(layers: dict[str, np.ndarray], name: str) -> np.ndarray:
    """A band x 10000 (reflectance as Sentinel-2 products store it), an auxiliary layer in its stored unit."""
    if name in AUX_LAYERS:
        return auxiliary.stored_values(name, layers[name])
    band = canonical_band(name)
    if band not in S2_BANDS:
        raise DataError(
            f"band {name!r} is not in the eo-learn fixture; choose --band_names from {', '.join(S2_BANDS)} and "
            f"the layers {', '.join(AUX_LAYERS)} (e.g. {','.join(FUSION_BANDS)})"
        )
    return (layers[band].astype(np.float64) * auxiliary.STORED_SCALE).astype(np.float32)


def layer_record(name: str) -> dict[str, str]:
    physical = {"ndvi_series": "NDVI", "s2_ndvi": "NDVI"}.get(name) or auxiliary.UNITS[name]
    origin = {
        "elevation": "DEM.npy (stored on the 10 m grid already; its source resolution is not recorded)",
        "slope": "DEM.npy, numpy gradient on the 10 m grid",
        "aspect_sin": "DEM.npy, numpy gradient on the 10 m grid",
        "aspect_cos": "DEM.npy, numpy gradient on the 10 m grid",
        "ndvi_series": "NDVI.npy, per-pixel median of the 68 dates",
        "s2_ndvi": "(B8 - B4) / (B8 + B4) of the composite",
    }[name]
    return {"from": origin, "unit": physical, "unit_after_step01": auxiliary.model_unit(name, physical)}


def normalised_difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return ((a - b) / (a + b)).astype(np.float32)


def cut_patches(stack: np.ndarray, lulc: np.ndarray, codes: list[int], class_names: list[str], size: int) -> Cut:
    """Every non-overlapping size x size patch (row-major) with its majority class, skipped ones counted."""
    rows, cols = lulc.shape[0] // size, lulc.shape[1] // size
    if rows == 0 or cols == 0:
        raise ConfigError(f"--patch_size {size} is larger than the fixture's {lulc.shape[0]}x{lulc.shape[1]} grid")
    label_of_code = {code: index for index, code in enumerate(codes)}
    X, y, patch_rows, patch_cols, skipped = [], [], [], [], {}
    for row in range(rows):
        for col in range(cols):
            window = (slice(row * size, (row + 1) * size), slice(col * size, (col + 1) * size))
            classes = lulc[window].ravel()
            labelled = classes[classes != NO_DATA_CLASS]
            reason = None
            if len(labelled) < MIN_LABELLED_FRACTION * classes.size:
                reason = MOSTLY_NO_DATA
            else:
                majority = int(np.bincount(labelled).argmax())  # ties: the lower code
                if majority not in label_of_code:
                    reason = SKIP_CLASS.format(LULC_CLASSES.get(majority, f"code {majority}"))
                elif not np.isfinite(stack[window]).all():
                    reason = NON_FINITE
            if reason:
                skipped[reason] = skipped.get(reason, 0) + 1
                continue
            X.append(stack[window])
            y.append(label_of_code[majority])
            patch_rows.append(row)
            patch_cols.append(col)
    if not y:
        raise DataError(
            f"no patch of the eo-learn fixture has a majority class among {', '.join(class_names)}; "
            f"use --class_names {','.join(DEFAULT_CLASSES)}"
        )
    return Cut(
        X=np.stack(X).astype(np.float32),
        y=np.asarray(y, dtype=np.int64),
        rows=np.asarray(patch_rows, dtype=np.int64),
        cols=np.asarray(patch_cols, dtype=np.int64),
        skipped=skipped,
    )


def block_labels(y: np.ndarray, groups: np.ndarray, n_classes: int) -> np.ndarray:
    """Each patch's block class: the class with most patches in its block, ties to the rarer class overall."""
    totals = np.bincount(y, minlength=n_classes)
    # Rank classes so that a tie in a block goes to the class with fewer patches in the whole fixture.
    rarity = np.argsort(np.argsort(totals, kind="stable"), kind="stable")
    labels = np.empty_like(y)
    for group in np.unique(groups):
        members = groups == group
        counts = np.bincount(y[members], minlength=n_classes)
        best = np.flatnonzero(counts == counts.max())
        labels[members] = best[np.argmin(rarity[best])]
    return labels


def check_blocks(
    y: np.ndarray, groups: np.ndarray, block_class: np.ndarray, class_names: list[str], block: int, splits: int
) -> None:
    """Each class must lead a block for each split; said here with the fixes this fixture allows (the split's
    own message would suggest adding blocks, which a fixed fixture cannot)."""
    for index, name in enumerate(class_names):
        patches = int((y == index).sum())
        if not patches:
            raise ConfigError(
                f"class {name} is the majority class of no patch of the eo-learn fixture; drop it from "
                f"--class_names (e.g. --class_names {','.join(DEFAULT_CLASSES)})"
            )
        led = len(np.unique(groups[block_class == index]))
        if led < splits:
            fixes = "drop it from --class_names" + (", pass --test_fraction 0" if splits == 3 else "")
            raise ConfigError(
                f"class {name} ({patches} patches) leads {led} of the {len(np.unique(groups))} {block}x{block} blocks "
                f"of patches, too few for one in each of the {splits} splits; {fixes}, or a smaller --eolearn_block"
            )


def _load_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"{path} is not a readable .npy file ({type(exc).__name__}); copy it again") from None


def _read_timestamps(path: Path) -> list[str]:
    try:
        stamps = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"{path} is not readable JSON ({type(exc).__name__}); copy it again") from None
    return [str(stamp) for stamp in stamps] if isinstance(stamps, list) else []


def describe(notes: dict[str, Any]) -> str:
    """One line for step 01's output: what was read and its limits."""
    return (
        f"eo-learn Slovenia fixture: {notes['patches']} patches, scenes {notes['composite']['clear_scenes']} "
        f"composited, split by {notes['groups']}; {notes['limits']}"
    )
