"""How well the map agrees with labelled polygons the model did not train on.

Polygons whose patches trained the model (the run's data.npz ``groups_train``) would flatter the map, so
they are left out; validation polygons and polygons that gave no patch are kept. Agreement is given per
pixel and per polygon (its mapped pixels' majority class), each with a Wilson interval: pixels of one
polygon are strongly correlated, so the pixel interval is narrower than the evidence, while the polygon
interval counts each independent unit once.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import rasterio
from rasterio.features import geometry_mask
from scipy import stats

from ..data.raster_patches import (
    INVALID_GEOMETRY,
    NULL_GEOMETRY,
    OUTSIDE_RASTER,
    check_overlap,
    label_indexes,
    polygon_window,
    read_polygons,
    to_builtin,
    to_raster_crs,
)
from .classify import CLASS_NODATA

TRAINING_POLYGON = "polygon in the training split"
NO_MAPPED_PIXEL = "no mapped pixel inside"
CONFIDENCE = 0.95


@dataclass
class Reference:
    """Labelled polygons in the scene's CRS, with the ids step 01 would give them."""

    path: Path
    polygons: gpd.GeoDataFrame
    labels: np.ndarray  # class index of each polygon
    ids: np.ndarray
    training_ids: frozenset[str] | None  # ids of the training split; None when the run records none


def read_reference(
    path: str | Path,
    scene_src: rasterio.DatasetReader,
    label_column: str,
    id_column: str | None,
    class_names: list[str],
    training_ids: frozenset[str] | None,
) -> Reference:
    """Read and check the polygons before any mapping, so a bad file costs no prediction time."""
    path = Path(path)
    polygons = read_polygons(path, label_column, id_column)
    labels = label_indexes(polygons[label_column], class_names, path)
    ids = polygons[id_column].to_numpy() if id_column else polygons.index.to_numpy()  # as step 01 numbers them
    polygons = to_raster_crs(polygons, scene_src, path, scene_src.name)
    check_overlap(polygons, scene_src, path, scene_src.name)
    return Reference(path, polygons, labels, ids, training_ids)


def polygon_class_counts(map_src: rasterio.DatasetReader, geometry: Any, n_classes: int) -> np.ndarray | str:
    """Mapped pixels of each class whose centre lies inside the polygon, or why there are none."""
    if geometry is None or geometry.is_empty:
        return NULL_GEOMETRY
    if not geometry.is_valid:
        return INVALID_GEOMETRY
    window = polygon_window(map_src, geometry)
    if window is None:
        return OUTSIDE_RASTER
    inside = geometry_mask(
        [geometry], out_shape=(window.height, window.width), transform=map_src.window_transform(window), invert=True
    )
    classes = map_src.read(1, window=window)[inside]
    counts = np.bincount(classes[classes != CLASS_NODATA], minlength=n_classes)[:n_classes]
    return counts if counts.sum() else NO_MAPPED_PIXEL


def wilson(correct: int, total: int) -> list[float] | None:
    if not total:
        return None
    interval = stats.binomtest(correct, total).proportion_ci(confidence_level=CONFIDENCE, method="wilson")
    return [float(interval.low), float(interval.high)]


def accuracy(correct: int, total: int) -> dict[str, Any]:
    return {
        "evaluated": total,
        "correct": correct,
        "accuracy": correct / total if total else None,
        "ci95": wilson(correct, total),
    }


def measure_agreement(map_src: rasterio.DatasetReader, reference: Reference, class_names: list[str]) -> dict[str, Any]:
    """Agreement of the class raster with every polygon outside the training split."""
    n_classes = len(class_names)
    confusion = np.zeros((n_classes, n_classes), dtype=np.int64)  # rows: polygon label, columns: map
    skipped: Counter[str] = Counter()
    per_polygon = []
    for geometry, label, polygon_id in zip(reference.polygons.geometry, reference.labels, reference.ids):
        if reference.training_ids is not None and str(polygon_id) in reference.training_ids:
            skipped[TRAINING_POLYGON] += 1
            continue
        counts = polygon_class_counts(map_src, geometry, n_classes)
        if isinstance(counts, str):
            skipped[counts] += 1
            continue
        confusion[label] += counts
        majority = int(counts.argmax())
        per_polygon.append(
            {
                "id": to_builtin(polygon_id),
                "label": class_names[label],
                "pixels": int(counts.sum()),
                "agreeing_pixels": int(counts[label]),
                "majority": class_names[majority],
            }
        )
    correct_polygons = sum(entry["majority"] == entry["label"] for entry in per_polygon)
    return {
        "polygons_file": str(reference.path),
        "training_split": (
            "excluded: the ids of the run's training polygons (data.npz groups_train)"
            if reference.training_ids is not None
            else "not recorded for these polygons (the run's data did not come from them): every polygon is used"
        ),
        "pixels": accuracy(int(np.trace(confusion)), int(confusion.sum())),
        "polygons": {**accuracy(correct_polygons, len(per_polygon)), "rule": "majority class of its mapped pixels"},
        "interval": f"Wilson, {CONFIDENCE:.0%}; pixels of one polygon are correlated, so trust the polygon interval",
        "skipped": dict(skipped),
        "confusion_matrix_pixels": {"rows": "polygon label", "columns": "map", "matrix": confusion.tolist()},
        "class_names": list(class_names),
        "per_polygon": per_polygon,
    }
