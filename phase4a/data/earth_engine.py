"""Earth Engine acquisition: a cloud-masked Sentinel-2 surface-reflectance median composite over the
polygons' extent, downloaded as a GeoTIFF with named bands. Everything after the GeoTIFF is
``raster_patches`` (tested offline); this module only builds the image and downloads it.
"""

from __future__ import annotations

import os
import tempfile
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import ee
import geopandas as gpd
import rasterio

from ..errors import DataError
from .dataset import canonical_band
from .raster_patches import REPORT_BANDS, read_polygon_file

PROJECT_ENV = "EARTHENGINE_PROJECT"
DEFAULT_COLLECTION = "COPERNICUS/S2_SR_HARMONIZED"
DEFAULT_START = "2019-01-01"
DEFAULT_END = "2019-03-31"  # inclusive, as the report states it
CLOUD_MASKS = ("scl", "qa60")
# Scene classification: saturated/defective, cloud shadow, cloud medium and high probability, cirrus.
CLOUDY_SCL_CLASSES = (1, 3, 8, 9, 10)
QA60_CLOUD_BITS = (10, 11)  # opaque clouds, cirrus
# 0 can be real reflectance (dark water in SWIR); scaled surface reflectance stays far below 65535.
NODATA = 65535
# getDownloadURL refuses requests above 48 MiB; larger areas need an export task.
DOWNLOAD_LIMIT_BYTES = 48 * 2**20

AUTH_HELP = (
    'authenticate with `earthengine authenticate` (or python -c "import ee; ee.Authenticate()"), '
    f"then pass --ee_project or set {PROJECT_ENV}"
)


def export_composite(
    polygons_path: str | Path,
    out_path: str | Path,
    project: str | None = None,
    collection: str = DEFAULT_COLLECTION,
    start: str = DEFAULT_START,
    end: str = DEFAULT_END,
    bands: tuple[str, ...] | list[str] = REPORT_BANDS,
    cloud_mask: str = "scl",
    scale: float = 10.0,
    crs: str | None = None,
) -> Path:
    """Write the composite over the polygons' bounds to ``out_path``; nothing is written on failure."""
    out_path = Path(out_path)
    if out_path.exists():
        raise DataError(f"{out_path} already exists; delete it or choose another --raster_path (nothing overwritten)")
    if cloud_mask not in CLOUD_MASKS:
        raise DataError(f"cloud mask {cloud_mask!r} is unknown; choose one of {', '.join(CLOUD_MASKS)}")
    polygons = read_polygon_file(polygons_path)
    if polygons.crs is None:
        raise DataError(f"polygon file {polygons_path} has no CRS; set it (e.g. gdf.set_crs('EPSG:4326').to_file(...))")
    crs = crs or polygons.estimate_utm_crs().to_string()  # metres, so ``scale`` is a pixel size
    check_download_size(polygons, crs, scale, len(bands))
    initialize(project)
    region = ee.Geometry.Rectangle([float(v) for v in polygons.to_crs("EPSG:4326").total_bounds], "EPSG:4326", False)
    bands = [canonical_band(band) for band in bands]  # Earth Engine's names: B2, B8A, not B02
    image = sentinel2_composite(region, collection, start, end, bands, cloud_mask)
    download(image, region, out_path, bands, scale, crs)
    return out_path


def initialize(project: str | None) -> str:
    """Start Earth Engine for the project (argument, else $EARTHENGINE_PROJECT); one-line error otherwise."""
    project = project or os.environ.get(PROJECT_ENV, "")
    if not project:
        raise DataError(f"no Earth Engine project id given; {AUTH_HELP}")
    try:
        ee.Initialize(project=project)
    except Exception as exc:  # missing credentials, no network and unknown projects all land here
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"Earth Engine did not start for project {project!r} ({reason}); {AUTH_HELP}") from None
    return project


def sentinel2_composite(
    region: Any, collection: str, start: str, end: str, bands: list[str], cloud_mask: str = "scl"
) -> Any:
    """Median of the cloud-masked scenes from ``start`` to ``end`` (both inclusive), as uint16 x 10000."""
    mask = mask_clouds_scl if cloud_mask == "scl" else mask_clouds_qa60
    end_exclusive = (date.fromisoformat(end) + timedelta(days=1)).isoformat()  # filterDate excludes its end
    return (
        ee.ImageCollection(collection)
        .filterBounds(region)
        .filterDate(start, end_exclusive)
        .map(mask)
        .select(bands)
        .median()
        .unmask(NODATA)
        .toUint16()
    )


def mask_clouds_scl(image: Any) -> Any:
    clear = image.select("SCL").remap(list(CLOUDY_SCL_CLASSES), [0] * len(CLOUDY_SCL_CLASSES), 1)
    return image.updateMask(clear)


def mask_clouds_qa60(image: Any) -> Any:
    qa = image.select("QA60")
    opaque, cirrus = (qa.bitwiseAnd(1 << bit).eq(0) for bit in QA60_CLOUD_BITS)
    return image.updateMask(opaque.And(cirrus))


def check_download_size(polygons: gpd.GeoDataFrame, crs: str, scale: float, n_bands: int) -> None:
    left, bottom, right, top = polygons.to_crs(crs).total_bounds
    size = (right - left) / scale * (top - bottom) / scale * n_bands * 2  # uint16
    if size > DOWNLOAD_LIMIT_BYTES:
        raise DataError(
            f"the polygons' extent at {scale} m is about {size / 2**20:.0f} MiB, over Earth Engine's 48 MiB download "
            "limit; split the polygon file by area, or export with ee.batch.Export.image.toDrive and use --raster_path"
        )


def download(image: Any, region: Any, out_path: Path, bands: list[str], scale: float, crs: str) -> None:
    """Download into a temporary file beside ``out_path``, name the bands, then move it into place."""
    import geemap  # slow to import (seconds); only this path needs it

    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_path.parent) as tmp:
        partial = Path(tmp) / out_path.name
        geemap.ee_export_image(image, filename=str(partial), scale=scale, crs=crs, region=region, verbose=False)
        if not partial.is_file():  # geemap prints the cause instead of raising
            raise DataError(
                f"the Earth Engine download to {out_path} failed (cause printed above); check the network and "
                "project, or export with ee.batch.Export.image.toDrive and use --raster_path"
            )
        name_bands(partial, bands)
        partial.replace(out_path)


def name_bands(path: Path, bands: list[str]) -> None:
    """Band descriptions let raster_patches choose bands by name; NODATA marks pixels with no clear scene."""
    with rasterio.open(path, "r+") as raster:
        if raster.count != len(bands):
            raise DataError(f"the download has {raster.count} bands, expected {len(bands)} ({bands}); retry it")
        raster.nodata = NODATA
        for index, name in enumerate(bands, start=1):
            raster.set_band_description(index, name)
