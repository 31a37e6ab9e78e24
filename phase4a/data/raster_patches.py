"""Patches from a Sentinel-2 GeoTIFF and a labelled polygon file (GeoJSON, GeoPackage, shapefile).

Each polygon gives up to K square P x P patches aligned to the raster's pixel grid and lying wholly
inside it (a pixel is inside when its centre is, rasterio's rasterize rule). Patches keep the raw
stored values (reflectance x 10000 for Sentinel-2) and the id of their polygon, so the split can be
made by polygon. Polygons and patches that cannot be used are skipped and counted by reason.

Auxiliary layers (``aux_layers``, phase4a.data.auxiliary: MODIS NDVI, SRTM elevation and its terrain, any
other raster) are warped once onto the raster's whole grid and cut at each patch's window like the
bands, after them; a patch where a layer has no data is skipped like one with a band's nodata.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import rasterio
from numpy.lib.stride_tricks import sliding_window_view
from rasterio.errors import RasterioIOError, WindowError
from rasterio.features import geometry_mask
from rasterio.windows import Window, from_bounds
from shapely.geometry import box

from ..errors import ConfigError, DataError
from . import auxiliary
from .dataset import Dataset, canonical_band
from .splits import polygons_per_class, three_way_split

log = logging.getLogger(__name__)

REPORT_BANDS = ("B2", "B3", "B4", "B8", "B11", "B12")
# EuroSAT-MS GeoTIFFs carry no band descriptions; this is their band order.
EUROSAT_BAND_NAMES = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B09", "B10", "B11", "B12", "B8A")

NULL_GEOMETRY = "null geometry"
INVALID_GEOMETRY = "invalid geometry"
OUTSIDE_RASTER = "polygon outside the raster"
TOO_SMALL = "polygon too small for one patch"
NODATA_PATCH = "patch with nodata or masked pixels"
AUX_NODATA_PATCH = "patch where an auxiliary layer has no data"


@dataclass
class PolygonPatches:
    """What one polygon gave: its patches, or the reason it gave none, and patches skipped inside it."""

    patches: list[np.ndarray] = field(default_factory=list)
    candidates: int = 0  # grid-aligned patch positions wholly inside the polygon
    reason: str | None = None
    skipped: dict[str, int] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        return {"patches": len(self.patches), "candidates": self.candidates, "reason": self.reason}

    def skip(self, reason: str) -> PolygonPatches:
        self.reason = reason
        self.skipped[reason] = self.skipped.get(reason, 0) + 1
        return self


@dataclass
class PatchSet:
    X: np.ndarray  # (N, P, P, C) values as stored in the raster
    y: np.ndarray  # (N,) class index
    groups: np.ndarray  # (N,) polygon id of each patch
    band_names: list[str]
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> count (polygons or patches)
    polygons: list[dict[str, Any]] = field(default_factory=list)  # one entry per polygon row
    layers: list[dict[str, Any]] = field(default_factory=list)  # what each auxiliary layer was (Layer.record)


def extract_patches(
    raster_path: str | Path,
    polygons_path: str | Path,
    label_column: str,
    class_names: list[str],
    patch_size: int = 8,
    max_patches_per_polygon: int = 3,
    bands: list[str | int] | None = None,
    band_names_in_file: list[str] | None = None,
    id_column: str | None = None,
    seed: int = 42,
    aux_layers: list[auxiliary.LayerSpec] | None = None,
) -> PatchSet:
    """Cut labelled patches; ``bands`` are names (B2, B02, B8A) or 1-based indexes, default the report's six;
    ``aux_layers`` are warped onto the raster's grid and appended after the bands (stored units)."""
    for option, value in (("patch_size", patch_size), ("max_patches_per_polygon", max_patches_per_polygon)):
        if value < 1:
            raise ConfigError(f"{option} is {value}; it must be at least 1")
    polygons = read_polygons(polygons_path, label_column, id_column)
    labels = label_indexes(polygons[label_column], class_names, polygons_path)
    ids = polygons[id_column].to_numpy() if id_column else polygons.index.to_numpy()
    with open_raster(raster_path) as src:
        indexes, names = resolve_bands(src, list(bands or REPORT_BANDS), band_names_in_file)
        polygons = to_raster_crs(polygons, src, polygons_path, raster_path)
        check_overlap(polygons, src, polygons_path, raster_path)
        layers = warped_layers(src, raster_path, aux_layers or [])
        extra = stacked_layers(layers)
        rng = np.random.default_rng(seed)
        results = [
            polygon_patches(src, geometry, indexes, patch_size, max_patches_per_polygon, rng, extra)
            for geometry in polygons.geometry
        ]
    skipped = dict(sum((Counter(result.skipped) for result in results), Counter()))
    records = [
        {"id": to_builtin(polygon_id), "label": class_names[label], **result.record()}
        for result, label, polygon_id in zip(results, labels, ids)
    ]
    check_some_patches(results, skipped, patch_size)
    counts = [len(result.patches) for result in results]
    log.info("cut %d patches from %d polygons; skipped %s", sum(counts), len(results), skipped or "nothing")
    return PatchSet(
        X=np.stack([patch for result in results for patch in result.patches]),
        y=np.repeat(labels, counts),
        groups=np.repeat(np.asarray(ids), counts),
        band_names=[*names, *(layer.name for layer in layers)],
        skipped=skipped,
        polygons=records,
        layers=[layer.record() for layer in layers],
    )


def warped_layers(
    src: rasterio.DatasetReader, raster_path: str | Path, specs: list[auxiliary.LayerSpec]
) -> list[auxiliary.Layer]:
    """The auxiliary layers with a file, on the raster's grid, and those Earth Engine exported as the raster's
    own bands (``s2_ndvi`` is computed from the cut bands)."""
    if not any(spec.kind != auxiliary.S2_NDVI for spec in specs):
        return []
    if src.crs is None:
        raise DataError(
            f"raster {raster_path} has no CRS, so auxiliary layers cannot be warped onto it; re-export it with its CRS"
        )
    return auxiliary.load_layers(auxiliary.Grid(src.crs, src.transform, src.width, src.height), specs, raster_path)


def stacked_layers(layers: list[auxiliary.Layer]) -> np.ndarray | None:
    """(rows, cols, layers) in stored units (model unit x 10000, like reflectance), NaN where nodata."""
    if not layers:
        return None
    return np.stack([auxiliary.stored_values(layer.name, layer.values) for layer in layers], axis=-1)


def load_raster_dataset(
    raster_path: str | Path,
    polygons_path: str | Path,
    label_column: str,
    class_names: list[str],
    patch_size: int = 8,
    max_patches_per_polygon: int = 3,
    bands: list[str | int] | None = None,
    band_names_in_file: list[str] | None = None,
    id_column: str | None = None,
    val_fraction: float = 0.2,
    seed: int = 42,
    test_fraction: float = 0.0,
    aux_layers: list[auxiliary.LayerSpec] | None = None,
) -> Dataset:
    """Patches from the raster, split into train/validation (and test, when ``test_fraction`` > 0) by
    polygon: the pipeline's Dataset. The config's default test_fraction is 0.2; here 0 keeps the
    two-way split of earlier versions. ``aux_layers``: see :func:`extract_patches`."""
    patch_set = extract_patches(
        raster_path,
        polygons_path,
        label_column,
        class_names,
        patch_size=patch_size,
        max_patches_per_polygon=max_patches_per_polygon,
        bands=bands,
        band_names_in_file=band_names_in_file,
        id_column=id_column,
        seed=seed,
        aux_layers=aux_layers,
    )
    check_two_polygons_per_class(patch_set, class_names)
    train, val, test = three_way_split(
        patch_set.y, patch_set.groups, val_fraction, test_fraction, seed, class_names=list(class_names)
    )
    return Dataset(
        X_train=patch_set.X[train],
        y_train=patch_set.y[train],
        X_val=patch_set.X[val],
        y_val=patch_set.y[val],
        class_names=list(class_names),
        band_names=patch_set.band_names,
        groups_train=patch_set.groups[train],
        groups_val=patch_set.groups[val],
        X_test=patch_set.X[test] if test_fraction > 0 else None,
        y_test=patch_set.y[test] if test_fraction > 0 else None,
        groups_test=patch_set.groups[test] if test_fraction > 0 else None,
        notes={
            "source": "raster",
            "raster": str(Path(raster_path).resolve()),
            "polygons": str(Path(polygons_path).resolve()),
            "label_column": label_column,
            "patch_size": patch_size,
            "max_patches_per_polygon": max_patches_per_polygon,
            "val_fraction": val_fraction,
            "test_fraction": test_fraction,
            "polygons_total": len(patch_set.polygons),
            "polygons_used": int(len(np.unique(patch_set.groups))),
            "skipped": patch_set.skipped,
            "skipped_polygons": [p for p in patch_set.polygons if p["patches"] == 0],
            **({"auxiliary": {"layers": patch_set.layers}} if patch_set.layers else {}),
        },
    )


def read_polygons(path: str | Path, label_column: str, id_column: str | None) -> gpd.GeoDataFrame:
    polygons = read_polygon_file(path)
    columns = [c for c in polygons.columns if c != polygons.geometry.name]
    for option, column in (("--label_column", label_column), ("--id_column", id_column)):
        if column and column not in polygons.columns:
            raise DataError(f"polygon file {path} has no column {column!r} (columns: {columns}); set {option}")
    return polygons


def read_polygon_file(path: str | Path) -> gpd.GeoDataFrame:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"polygon file {path} not found; pass --polygons_path with a GeoJSON, GeoPackage or shapefile")
    try:
        return gpd.read_file(path)
    except Exception as exc:  # pyogrio and fiona raise several unrelated types for unreadable files
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(
            f"polygon file {path} is unreadable ({reason}); give a valid GeoJSON, GeoPackage or shapefile"
        ) from None


def label_indexes(labels: Any, class_names: list[str], path: str | Path) -> np.ndarray:
    """Class index of each polygon's label; labels outside ``class_names`` are an error, not a skip."""
    position = {name: index for index, name in enumerate(class_names)}
    as_text = [str(label) for label in labels]
    unknown = sorted({label for label in as_text if label not in position})
    if unknown:
        raise DataError(
            f"labels {unknown} in {path} are not in class_names {list(class_names)}; "
            "fix the labels or pass --class_names"
        )
    return np.asarray([position[label] for label in as_text], dtype=np.int64)


def open_raster(path: str | Path) -> rasterio.DatasetReader:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"raster {path} not found; pass --raster_path with a GeoTIFF")
    try:
        return rasterio.open(path)
    except RasterioIOError as exc:
        raise DataError(f"raster {path} is not a readable GeoTIFF ({str(exc).splitlines()[0]}); re-export it") from None


def resolve_bands(
    src: rasterio.DatasetReader, bands: list[str | int], band_names_in_file: list[str] | None
) -> tuple[list[int], list[str]]:
    """1-based raster indexes and the names of the chosen bands (``band<i>`` where the file has none)."""
    file_names = file_band_names(src, band_names_in_file)
    indexes = [band_position(src, band, file_names) for band in bands]
    names = [canonical_band(file_names[i - 1]) if file_names else f"band{i}" for i in indexes]
    return indexes, names


def file_band_names(src: rasterio.DatasetReader, band_names_in_file: list[str] | None) -> list[str] | None:
    if band_names_in_file:
        if len(band_names_in_file) != src.count:
            raise DataError(
                f"{len(band_names_in_file)} band names given for {src.name} but it has {src.count} bands; "
                "give one name per band in file order (--raster_band_names)"
            )
        return list(band_names_in_file)
    descriptions = list(src.descriptions)
    return descriptions if all(descriptions) else None


def band_position(src: rasterio.DatasetReader, band: str | int, file_names: list[str] | None) -> int:
    if isinstance(band, int) or str(band).isdigit():
        index = int(band)
        if not 1 <= index <= src.count:
            raise DataError(f"band index {index} is outside 1..{src.count} for {src.name}; indexes count from 1")
        return index
    if file_names is None:
        raise DataError(
            f"{src.name} has no band descriptions, so band {band!r} cannot be found by name; "
            "pass --raster_band_names with the file's band names in order, or choose bands by 1-based index"
        )
    canonical = [canonical_band(name) for name in file_names]
    if canonical_band(band) not in canonical:
        raise DataError(f"band {band!r} is not in {src.name} (its bands: {file_names}); choose from those")
    return canonical.index(canonical_band(band)) + 1


def to_raster_crs(
    polygons: gpd.GeoDataFrame, src: rasterio.DatasetReader, polygons_path: str | Path, raster_path: str | Path
) -> gpd.GeoDataFrame:
    if polygons.crs is None and src.crs is not None:
        raise DataError(
            f"polygon file {polygons_path} has no CRS but the raster is in {src.crs.to_string()}; set it "
            "(e.g. gdf.set_crs('EPSG:4326').to_file(...), or add the .prj of a shapefile)"
        )
    if src.crs is None and polygons.crs is not None:
        raise DataError(
            f"raster {raster_path} has no CRS, so polygons in {polygons.crs.to_string()} cannot be placed on it; "
            "re-export the raster with its CRS"
        )
    if polygons.crs is None:  # neither has one: both are taken to be in the same coordinates
        return polygons
    return polygons.to_crs(src.crs)


def check_overlap(
    polygons: gpd.GeoDataFrame, src: rasterio.DatasetReader, polygons_path: str | Path, raster_path: str | Path
) -> None:
    """At least one usable polygon must touch the raster; null and invalid ones are skipped later."""
    geometries = polygons.geometry
    usable = geometries[geometries.notna() & ~geometries.is_empty & geometries.is_valid]
    if usable.empty or usable.intersects(box(*src.bounds)).any():
        return
    polygon_bounds = [round(float(v), 1) for v in usable.total_bounds]
    raster_bounds = [round(float(v), 1) for v in src.bounds]
    raise DataError(
        f"raster {raster_path} (bounds {raster_bounds}) does not overlap the polygons of {polygons_path} "
        f"(bounds {polygon_bounds} in the raster's CRS); use a raster that covers them"
    )


def polygon_patches(
    src: rasterio.DatasetReader,
    geometry: Any,
    indexes: list[int],
    size: int,
    limit: int,
    rng: np.random.Generator,
    extra: np.ndarray | None = None,
) -> PolygonPatches:
    """Up to ``limit`` patches at seeded random grid positions wholly inside one polygon; ``extra``
    (rows, cols, layers) on the raster's grid is cut at the same pixels and appended to the bands."""
    result = PolygonPatches()
    if geometry is None or geometry.is_empty:
        return result.skip(NULL_GEOMETRY)
    if not geometry.is_valid:
        return result.skip(INVALID_GEOMETRY)
    window = polygon_window(src, geometry)
    if window is None:
        return result.skip(OUTSIDE_RASTER)
    inside = geometry_mask(
        [geometry], out_shape=(window.height, window.width), transform=src.window_transform(window), invert=True
    )
    corners = patch_corners(inside, size)
    result.candidates = len(corners)
    if not result.candidates:
        return result.skip(TOO_SMALL)
    data = src.read(indexes, window=window, masked=True)
    valid = ~np.ma.getmaskarray(data).any(axis=0) & np.isfinite(data.filled(0)).all(axis=0)
    values = np.moveaxis(data.data, 0, -1)  # (rows, cols, bands)
    layers_valid = np.ones_like(valid)
    if extra is not None:
        rows, cols = window.toslices()
        cut = extra[rows, cols]
        layers_valid = np.isfinite(cut).all(axis=-1)
        values = np.concatenate([values.astype(np.float32), cut], axis=-1)
    chosen = []
    # Walk the positions in seeded random order, so a patch with nodata is replaced by the next one.
    for row, col in corners[rng.permutation(len(corners))]:
        if len(chosen) == limit:
            break
        block = (slice(row, row + size), slice(col, col + size))
        if valid[block].all() and layers_valid[block].all():
            chosen.append((row, col))
        else:
            reason = NODATA_PATCH if not valid[block].all() else AUX_NODATA_PATCH
            result.skipped[reason] = result.skipped.get(reason, 0) + 1
    result.patches = [values[r : r + size, c : c + size] for r, c in sorted(chosen)]
    if not chosen:
        result.reason = NODATA_PATCH
    return result


def patch_corners(inside: np.ndarray, size: int) -> np.ndarray:
    """(row, col) of every size x size block of ``inside`` that is all True."""
    if inside.shape[0] < size or inside.shape[1] < size:
        return np.empty((0, 2), dtype=np.int64)
    return np.argwhere(sliding_window_view(inside, (size, size)).all(axis=(2, 3)))


def polygon_window(src: rasterio.DatasetReader, geometry: Any) -> Window | None:
    """The raster window covering the polygon's bounds, clipped to the raster; None when outside it."""
    exact = from_bounds(*geometry.bounds, transform=src.transform)
    col, row = math.floor(exact.col_off), math.floor(exact.row_off)  # outward: keep every pixel it touches
    width = math.ceil(exact.col_off + exact.width) - col
    height = math.ceil(exact.row_off + exact.height) - row
    window = Window(col, row, width, height)
    try:
        return window.intersection(Window(0, 0, src.width, src.height))
    except WindowError:  # empty intersection
        return None


def check_some_patches(results: list[PolygonPatches], skipped: dict[str, int], size: int) -> None:
    if any(result.patches for result in results):
        return
    if skipped.get(TOO_SMALL):
        raise DataError(
            f"patch size {size} is larger than every polygon ({skipped[TOO_SMALL]} too small for a "
            f"{size}x{size} patch); lower --patch_size or use larger polygons"
        )
    raise DataError(f"no patches could be cut: skipped {skipped}; check the polygons and the raster's nodata")


def check_two_polygons_per_class(patch_set: PatchSet, class_names: list[str]) -> None:
    counts = polygons_per_class(patch_set.y, patch_set.groups, len(class_names))
    short = [f"{name} ({count})" for name, count in zip(class_names, counts) if count < 2]
    if short:
        raise DataError(
            f"classes {', '.join(short)} have fewer than 2 polygons with patches; a split by polygon needs one "
            "per side: add polygons or drop those classes from --class_names"
        )


def to_builtin(value: Any) -> Any:
    """numpy scalars -> Python values, so the per-polygon log is JSON-serialisable."""
    return value.item() if isinstance(value, np.generic) else value
