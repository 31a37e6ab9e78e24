"""Earth Engine acquisition: a cloud-masked Sentinel-2 surface-reflectance median composite over the
polygons' extent, downloaded as a GeoTIFF with named bands. Everything after the GeoTIFF is
``raster_patches`` (tested offline); this module only builds the image and downloads it.

An extent over Earth Engine's single-download limit is downloaded in tiles under it, on one pixel grid
(edges at multiples of the scale, in the polygons' UTM zone): each tile is a GeoTIFF in a cache folder
beside the output (``<output>.tiles/``), written whole or not at all, and a tile already there and valid
is not downloaded again, so an interrupted download resumes. The tiles are then mosaicked into the
output (rasterio.merge) and the cache is removed.

With ``aux_layers`` ``ndvi=ee`` and ``dem=ee`` (Phase 4B), the auxiliary layers are computed in Earth
Engine and added as bands after the Sentinel-2 bands, so they are exported on the composite's grid through
the same (tiled, resumable) download: MOD13Q1 NDVI, quality-masked and composited over the Sentinel-2
dates, and SRTM elevation with its slope and aspect, each resampled bilinearly onto the export grid. The
bands are named as phase4a.data.auxiliary names the layers of local files, in the same physical units
(NDVI, metres, degrees, sine and cosine), and read back from the composite by those names.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import ee
import rasterio
from rasterio.crs import CRS
from rasterio.errors import RasterioError
from rasterio.merge import merge

from ..errors import DataError
from . import auxiliary
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
# getDownloadURL refuses requests above 48 MiB; larger areas are downloaded in tiles.
DOWNLOAD_LIMIT_BYTES = 48 * 2**20
# A tile's share of the limit: Earth Engine counts a request's bytes its own way (headers, rounding of
# the region to whole pixels), so a tile planned at exactly the limit could be refused.
TILE_FILL = 0.9
# Past this many tiles (about 40 GiB of six bands) the area is more than a patch dataset needs, and an
# export task (or a coarser scale) is the better tool.
MAX_TILES = 1000
TILE_CACHE_SUFFIX = ".tiles"  # <output>.tiles/: the tiles of a download in progress
TILE_REQUEST = "request.json"  # in the cache: what its tiles are of; tiles of another request are discarded

MODIS_NDVI_COLLECTION = "MODIS/061/MOD13Q1"
MODIS_QUALITY_BAND = "SummaryQA"
MODIS_GOOD_QUALITY = 1  # SummaryQA 0 good, 1 marginal (usable); 2 snow or ice, 3 cloudy
SRTM_IMAGE = "USGS/SRTMGL1_003"
LAYER_RESAMPLING = "bilinear"
# A download holds one data type: with layers (NDVI, sines) the whole image is float32, 4 bytes a value.
UINT16_BYTES, FLOAT32_BYTES = 2, 4

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
    aux_layers: list[auxiliary.LayerSpec] | None = None,
) -> Path:
    """Write the composite over the polygons' bounds to ``out_path``; nothing is written there on failure
    (a tiled download keeps the tiles it finished in ``<out_path>.tiles/``, so that running again resumes).
    The ``aux_layers`` Earth Engine makes (``ndvi=ee``, ``dem=ee``) are bands after the Sentinel-2 bands."""
    out_path = Path(out_path)
    if out_path.exists():
        raise DataError(f"{out_path} already exists; delete it or choose another --raster_path (nothing overwritten)")
    if cloud_mask not in CLOUD_MASKS:
        raise DataError(f"cloud mask {cloud_mask!r} is unknown; choose one of {', '.join(CLOUD_MASKS)}")
    polygons = read_polygon_file(polygons_path)
    if polygons.crs is None:
        raise DataError(f"polygon file {polygons_path} has no CRS; set it (e.g. gdf.set_crs('EPSG:4326').to_file(...))")
    crs = crs or polygons.estimate_utm_crs().to_string()  # metres, so ``scale`` is a pixel size
    layers = [spec for spec in aux_layers or [] if spec.earth_engine]
    bands = [canonical_band(band) for band in bands]  # Earth Engine's names: B2, B8A, not B02
    names = [*bands, *(name for spec in layers for name in spec.layer_names)]
    value_bytes = FLOAT32_BYTES if layers else UINT16_BYTES
    tiles = plan_tiles(tuple(polygons.to_crs(crs).total_bounds), scale, len(names), value_bytes)
    initialize(project)
    region = ee.Geometry.Rectangle([float(v) for v in polygons.to_crs("EPSG:4326").total_bounds], "EPSG:4326", False)
    image = sentinel2_composite(region, collection, start, end, bands, cloud_mask)
    if layers:
        image = with_auxiliary_layers(image, region, start, end, layers)
    if not tiles:
        download(image, region, out_path, names, scale, crs)
        return out_path
    request = {
        "collection": collection,
        "start": start,
        "end": end,
        "bands": names,
        "cloud_mask": cloud_mask,
        "scale": scale,
        "crs": crs,
        "tiles": [list(tile.bounds) for tile in tiles],
    }
    download_tiled(image, tiles, out_path, names, scale, crs, request)
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
    return (
        ee.ImageCollection(collection)
        .filterBounds(region)
        .filterDate(start, exclusive_end(end))
        .map(mask)
        .select(bands)
        .median()
        .unmask(NODATA)
        .toUint16()
    )


def exclusive_end(end: str) -> str:
    """The day after ``end``: filterDate excludes its end, the config's ee_end is inclusive."""
    return (date.fromisoformat(end) + timedelta(days=1)).isoformat()


def with_auxiliary_layers(composite: Any, region: Any, start: str, end: str, layers: list[auxiliary.LayerSpec]) -> Any:
    """The composite (uint16, NODATA where no clear scene) with the layers' bands after it, in spec order,
    named as auxiliary.LAYERS_OF_KIND names them; all float32 (one type per download), NODATA where a
    layer has no data, which the raster's nodata then masks like a band's."""
    made = {auxiliary.NDVI_KIND: lambda: modis_ndvi(region, start, end), auxiliary.DEM_KIND: srtm_terrain}
    image = composite.toFloat()
    for spec in layers:
        image = image.addBands(made[spec.kind]().unmask(NODATA).toFloat())
    return image


def modis_ndvi(region: Any, start: str, end: str) -> Any:
    """MOD13Q1 NDVI over the Sentinel-2 dates: each 16-day image quality-masked (SummaryQA <= 1) and set to
    bilinear resampling before the median (a composite's own resampling would be nearest), x 0.0001."""
    return (
        ee.ImageCollection(MODIS_NDVI_COLLECTION)
        .filterBounds(region)
        .filterDate(start, exclusive_end(end))
        .map(mask_modis_quality)
        .select("NDVI")
        .median()
        .multiply(auxiliary.MODIS_NDVI_SCALE)
        .rename(list(auxiliary.LAYERS_OF_KIND[auxiliary.NDVI_KIND]))
    )


def mask_modis_quality(image: Any) -> Any:
    good = image.select(MODIS_QUALITY_BAND).lte(MODIS_GOOD_QUALITY)
    return image.updateMask(good).resample(LAYER_RESAMPLING)


def srtm_terrain() -> Any:
    """SRTM elevation (m), slope (degrees) and aspect as sine and cosine, computed on SRTM's own 30 m grid
    (reproject) before the bilinear resampling onto the export grid, as auxiliary.terrain does for a file:
    terrain from an interpolated DEM would show the interpolation's facets. A flat pixel's aspect is 0, 0."""
    dem = ee.Image(SRTM_IMAGE).select("elevation")
    slope = ee.Terrain.slope(dem)
    aspect = ee.Terrain.aspect(dem).multiply(math.pi / 180)
    sloped = slope.gt(0)
    terrain = dem.addBands(slope).addBands(aspect.sin().multiply(sloped)).addBands(aspect.cos().multiply(sloped))
    return terrain.rename(list(auxiliary.TERRAIN_LAYERS)).reproject(dem.projection()).resample(LAYER_RESAMPLING)


def mask_clouds_scl(image: Any) -> Any:
    clear = image.select("SCL").remap(list(CLOUDY_SCL_CLASSES), [0] * len(CLOUDY_SCL_CLASSES), 1)
    return image.updateMask(clear)


def mask_clouds_qa60(image: Any) -> Any:
    qa = image.select("QA60")
    opaque, cirrus = (qa.bitwiseAnd(1 << bit).eq(0) for bit in QA60_CLOUD_BITS)
    return image.updateMask(opaque.And(cirrus))


@dataclass(frozen=True)
class Tile:
    row: int
    col: int
    bounds: tuple[float, float, float, float]  # left, bottom, right, top in the download's CRS

    @property
    def name(self) -> str:
        return f"r{self.row:03d}_c{self.col:03d}.tif"


def plan_tiles(
    bounds: tuple[float, float, float, float], scale: float, n_bands: int, value_bytes: int = UINT16_BYTES
) -> list[Tile]:
    """The tiles of an extent (left, bottom, right, top, in metres) over the download limit, row by row
    from the top left; [] when one download takes it. Edges sit at multiples of ``scale``, the grid
    Earth Engine samples in a CRS at that scale, so neighbouring tiles meet without gap or overlap."""
    left, bottom, right, top = (float(value) for value in bounds)
    size = (right - left) / scale * (top - bottom) / scale * n_bands * value_bytes
    if size <= DOWNLOAD_LIMIT_BYTES:
        return []
    left, bottom = math.floor(left / scale) * scale, math.floor(bottom / scale) * scale
    right, top = math.ceil(right / scale) * scale, math.ceil(top / scale) * scale
    side = max(1, math.isqrt(int(DOWNLOAD_LIMIT_BYTES * TILE_FILL / (n_bands * value_bytes))))  # pixels
    cols = math.ceil(round((right - left) / scale) / side)
    rows = math.ceil(round((top - bottom) / scale) / side)
    if rows * cols > MAX_TILES:
        raise DataError(
            f"the polygons' extent at {scale} m is about {size / 2**30:.1f} GiB, {rows * cols} downloads of Earth "
            f"Engine's 48 MiB limit (at most {MAX_TILES}); raise --ee_scale, split the polygon file by area, or "
            "export with ee.batch.Export.image.toDrive and use --raster_path"
        )
    step = side * scale
    return [
        Tile(
            row,
            col,
            (
                left + col * step,
                max(bottom, top - (row + 1) * step),
                min(right, left + (col + 1) * step),
                top - row * step,
            ),
        )
        for row in range(rows)
        for col in range(cols)
    ]


def download(image: Any, region: Any, out_path: Path, bands: list[str], scale: float, crs: str) -> None:
    """Download into a temporary file beside ``out_path``, name the bands, then move it into place."""
    import geemap  # slow to import; only this path needs it

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


def tile_cache(out_path: Path) -> Path:
    return out_path.with_name(out_path.name + TILE_CACHE_SUFFIX)


def download_tiled(
    image: Any, tiles: list[Tile], out_path: Path, bands: list[str], scale: float, crs: str, request: dict[str, Any]
) -> None:
    """Download every tile not already in the cache, with a line per tile, then mosaic them into ``out_path``."""
    import geemap  # slow to import; only this path needs it

    cache = tile_cache(out_path)
    record = cache / TILE_REQUEST
    if cache.is_dir() and (not record.is_file() or json.loads(record.read_text()) != request):
        print(f"{cache} holds tiles of another request (area, dates, bands or scale): downloading afresh", flush=True)
        shutil.rmtree(cache)
    cache.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps(request, indent=1))
    for number, tile in enumerate(tiles, start=1):
        path = cache / tile.name
        progress = f"tile {number}/{len(tiles)} (row {tile.row}, column {tile.col})"
        if valid_tile(path, tile, len(bands), crs, scale):
            print(f"{progress}: already in {cache}", flush=True)
            continue
        region = ee.Geometry.Rectangle(list(tile.bounds), crs, False)
        with tempfile.TemporaryDirectory(dir=cache) as tmp:
            partial = Path(tmp) / tile.name
            geemap.ee_export_image(image, filename=str(partial), scale=scale, crs=crs, region=region, verbose=False)
            if not valid_tile(partial, tile, len(bands), crs, scale):  # geemap prints the cause instead of raising
                done = sum(valid_tile(cache / t.name, t, len(bands), crs, scale) for t in tiles)
                raise DataError(
                    f"the Earth Engine download of {progress} failed (cause printed above); run the same command "
                    f"again to resume: the {done} tiles downloaded are kept in {cache}"
                )
            partial.replace(path)
        print(f"{progress}: downloaded", flush=True)
    with tempfile.TemporaryDirectory(dir=out_path.parent) as tmp:
        partial = Path(tmp) / out_path.name
        # Written block by block (mem_limit), so a mosaic larger than memory can be made.
        merge(
            [str(cache / tile.name) for tile in tiles],
            nodata=NODATA,
            dst_path=partial,
            dst_kwds={
                "tiled": True,
                "blockxsize": 256,
                "blockysize": 256,
                "compress": "deflate",
                "BIGTIFF": "IF_SAFER",
            },
        )
        name_bands(partial, bands)
        partial.replace(out_path)
    shutil.rmtree(cache)  # the mosaic holds every tile; re-running with the output present downloads nothing
    print(f"mosaicked {len(tiles)} tiles into {out_path}", flush=True)


def valid_tile(path: Path, tile: Tile, n_bands: int, crs: str, scale: float) -> bool:
    """A whole tile of this request: readable to its last pixel, with its bands, CRS and bounds."""
    if not path.is_file():
        return False
    try:
        with rasterio.open(path) as raster:
            if raster.count != n_bands or raster.crs != CRS.from_user_input(crs):
                return False
            if any(abs(got - want) > scale / 2 for got, want in zip(raster.bounds, tile.bounds)):
                return False
            raster.read()  # a truncated file opens, and fails here
    except RasterioError:
        return False
    return True


def name_bands(path: Path, bands: list[str]) -> None:
    """Band descriptions let raster_patches choose bands by name; NODATA marks pixels with no clear scene."""
    with rasterio.open(path, "r+") as raster:
        if raster.count != len(bands):
            raise DataError(f"the download has {raster.count} bands, expected {len(bands)} ({bands}); retry it")
        raster.nodata = NODATA
        for index, name in enumerate(bands, start=1):
            raster.set_band_description(index, name)
