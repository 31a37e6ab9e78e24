"""Real-data fixtures written by seeded code into tmp_path: a small GeoTIFF with a real CRS and known
pixel values, and labelled polygon files placed on its pixel grid.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from affine import Affine
from shapely.geometry import Polygon, box

CRS = "EPSG:32618"  # UTM 18N
ORIGIN = (500_000.0, 4_500_000.0)  # top-left corner, metres
PIXEL = 10.0
SIZE = 40  # rows = cols
# B8A sits before B08 so that a name match confusing them would pick the wrong band.
FILE_BANDS = ["B02", "B03", "B04", "B8A", "B08", "B11", "B12"]
NODATA = 0
NODATA_PIXEL = (31, 31)  # in polygon 106, first band only

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
EUROSAT_DIR = SHARED / "data" / "eurosat_ms_samples"


def pixel_values() -> np.ndarray:
    """(bands, rows, cols) uint16: value = (band + 1) * 2000 + row * 40 + col, so any patch is checkable."""
    band, row, col = np.indices((len(FILE_BANDS), SIZE, SIZE))
    values = ((band + 1) * 2000 + row * SIZE + col).astype(np.uint16)
    values[0][NODATA_PIXEL] = NODATA
    return values


def pixel_box(row: int, col: int, rows: int, cols: int) -> Polygon:
    """The map-coordinate rectangle covering pixels [row, row + rows) x [col, col + cols)."""
    x0, y0 = ORIGIN
    return box(x0 + col * PIXEL, y0 - (row + rows) * PIXEL, x0 + (col + cols) * PIXEL, y0 - row * PIXEL)


def write_raster(path: Path, values: np.ndarray, descriptions: list[str] | None, crs: str | None = CRS) -> Path:
    profile = {
        "driver": "GTiff",
        "width": values.shape[2],
        "height": values.shape[1],
        "count": values.shape[0],
        "dtype": values.dtype.name,
        "crs": crs,
        "transform": Affine(PIXEL, 0.0, ORIGIN[0], 0.0, -PIXEL, ORIGIN[1]),
        "nodata": NODATA,
    }
    with rasterio.open(path, "w", **profile) as raster:
        raster.write(values)
        for index, name in enumerate(descriptions or [], start=1):
            raster.set_band_description(index, name)
    return path


def write_polygons(path: Path, rows: list[dict], crs: str | None = CRS, to_crs: str | None = None) -> Path:
    frame = gpd.GeoDataFrame(rows, geometry="geometry", crs=crs)
    if to_crs:
        frame = frame.to_crs(to_crs)
    frame.to_file(path)
    return path


# id, label, geometry: one polygon per outcome the extractor must tell apart.
def known_polygons() -> list[dict]:
    bowtie = Polygon([pixel_box(36, 2, 2, 2).exterior.coords[i] for i in (0, 2, 1, 3)])
    return [
        {"id": 101, "label": "Forest", "geometry": pixel_box(2, 2, 8, 8)},  # exactly one 8x8 patch
        {"id": 102, "label": "Water", "geometry": pixel_box(2, 20, 10, 10)},  # 9 positions, K=3 taken
        {"id": 103, "label": "Urban", "geometry": None},  # null geometry
        {"id": 104, "label": "Urban", "geometry": bowtie},  # self-intersecting: invalid
        {"id": 105, "label": "Forest", "geometry": pixel_box(20, 2, 4, 4)},  # too small
        {"id": 106, "label": "Water", "geometry": pixel_box(28, 28, 8, 8)},  # its one patch has nodata
        {"id": 107, "label": "Forest", "geometry": pixel_box(-50, -50, 10, 10)},  # outside the raster
        {"id": 108, "label": "Water", "geometry": pixel_box(20, 12, 9, 8)},  # 2 positions, both taken
    ]


@pytest.fixture
def raster(tmp_path) -> Path:
    return write_raster(tmp_path / "composite.tif", pixel_values(), FILE_BANDS)


@pytest.fixture
def polygons(tmp_path) -> Path:
    """The known polygons, stored in WGS84 so that extraction must reproject them to the raster's UTM."""
    return write_polygons(tmp_path / "polygons.geojson", known_polygons(), to_crs="EPSG:4326")


@pytest.fixture
def grid_polygons(tmp_path) -> Path:
    """15 clean 8x8 polygons on a 4x4 grid, alternately Forest and Water: enough for a split by polygon."""
    cells = [(r, c) for r in range(4) for c in range(4) if (r, c) != (3, 3)]  # (3, 3) holds the nodata pixel
    rows = [
        {
            "id": 10 * r + c,
            "label": ("Forest", "Water")[(r + c) % 2],
            "geometry": pixel_box(10 * r + 1, 10 * c + 1, 8, 8),
        }
        for r, c in cells
    ]
    return write_polygons(tmp_path / "grid.gpkg", rows)


@pytest.fixture
def eurosat_dir() -> Path:
    if not EUROSAT_DIR.is_dir():
        pytest.skip(f"real sample GeoTIFFs not found at {EUROSAT_DIR} (../shared is absent in this checkout)")
    return EUROSAT_DIR
