"""One land-cover map from an open scene and a predictor: every output written, or none.

The class and confidence rasters are first written block by block to work files in a hidden temporary
directory beside the outputs (so memory stays bounded), then turned into Cloud Optimised GeoTIFFs, the
preview, the area table and the agreement; each output goes to a temporary name and all are renamed
into place only once every one of them is complete, so a failure leaves no output half-written and the
previous map, if any, intact.
"""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import rasterio

from ..io import atomic_path, save_figure, write_json, write_text
from .agreement import Reference, measure_agreement
from .classify import CLASS_NODATA, MapCounts, Predict, classify_scene
from .outputs import (
    AGREEMENT_FILE,
    AREAS_FILE,
    CONFIDENCE_FILE,
    MAP_FILE,
    PREVIEW_FILE,
    area_csv,
    area_rows,
    class_tags,
    colour_table,
    pixel_area_m2,
    preview_figure,
    work_profile,
    write_cog,
)
from .scene import Scene
from .windows import WindowGrid

# GDAL caches raster blocks up to 5% of the machine's memory by default (1.2 GB here), so the RSS of a
# map grew with the scene up to that cap (945 and 1105 MiB for 2048^2 and 4096^2 pixels, 898 and 899 with
# this cap; benchmarks/bench_mapping.py). Each block is read and written once, so a small cache loses nothing.
GDAL_CACHE_MB = 256


def make_work_rasters(
    scene: Scene,
    grid: WindowGrid,
    predict: Predict,
    class_names: list[str],
    work: Path,
    tags: dict[str, str],
    block_size: int,
    batch_size: int,
) -> MapCounts:
    """Classify the scene into work/classes.tif and work/confidence.tif, tagged and coloured."""
    shape = (scene.height, scene.width, scene.crs, scene.transform)
    with (
        rasterio.open(work / "classes.tif", "w", **work_profile(*shape, "uint8", CLASS_NODATA)) as classes,
        rasterio.open(work / "confidence.tif", "w", **work_profile(*shape, "float32", np.nan)) as confidence,
    ):
        classes.write_colormap(1, colour_table(class_names))
        classes.update_tags(**tags, **class_tags(class_names))
        classes.set_band_description(1, "land_cover")
        confidence.update_tags(**tags)
        confidence.set_band_description(1, "confidence (max softmax probability of the window)")
        return classify_scene(scene, grid, predict, len(class_names), classes, confidence, block_size, batch_size)


def write_land_cover_map(
    scene: Scene,
    grid: WindowGrid,
    predict: Predict,
    class_names: list[str],
    out_dir: Path,
    block_size: int,
    batch_size: int,
    reference: Reference | None = None,
    tags: dict[str, str] | None = None,
    title: str = "land cover",
) -> dict[str, Any]:
    """Map the scene into ``out_dir``: MAP_FILE, CONFIDENCE_FILE, PREVIEW_FILE, AREAS_FILE and, with a
    ``reference``, AGREEMENT_FILE (without one, an earlier AGREEMENT_FILE is removed). Returns the files,
    the counts (windows, pixels per class, timing), the area rows and the agreement."""
    out_dir = Path(out_dir)
    names = [MAP_FILE, CONFIDENCE_FILE, PREVIEW_FILE, AREAS_FILE] + ([AGREEMENT_FILE] if reference else [])
    with contextlib.ExitStack() as outputs:
        outputs.enter_context(rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB))
        tmp = {name: outputs.enter_context(atomic_path(out_dir / name)) for name in names}
        work = Path(outputs.enter_context(tempfile.TemporaryDirectory(dir=out_dir, prefix=".mapping.")))
        counts = make_work_rasters(scene, grid, predict, class_names, work, tags or {}, block_size, batch_size)
        write_cog(work / "classes.tif", tmp[MAP_FILE], "MODE")
        write_cog(work / "confidence.tif", tmp[CONFIDENCE_FILE], "AVERAGE")
        areas = area_rows(counts.class_pixels, class_names, pixel_area_m2(scene.transform, scene.crs))
        write_text(tmp[AREAS_FILE], area_csv(areas))
        figure = preview_figure(tmp[MAP_FILE], class_names, [row["share"] for row in areas], title)
        save_figure(tmp[PREVIEW_FILE], figure)
        agreement = None
        if reference is not None:
            with rasterio.open(tmp[MAP_FILE]) as map_src:
                agreement = measure_agreement(map_src, reference, class_names)
            write_json(tmp[AGREEMENT_FILE], agreement)
    if reference is None:  # an earlier map's agreement does not describe this one
        (out_dir / AGREEMENT_FILE).unlink(missing_ok=True)
    return {
        "files": {name: out_dir / name for name in names},
        "counts": counts,
        "areas": areas,
        "agreement": agreement,
    }
