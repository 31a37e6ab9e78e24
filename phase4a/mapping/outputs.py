"""The map's files: Cloud Optimised GeoTIFFs of class and confidence, a PNG preview, and an area table.

The class raster is uint8 (255 = nodata) with a colour table and the class names in its tags, so GIS
software shows it as a legend without this project; its overviews use mode resampling, so a zoomed-out
view shows the commonest class, never an average of class numbers.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import rasterio.shutil
from affine import Affine
from matplotlib import colormaps
from matplotlib.colors import to_rgba

from .classify import CLASS_NODATA

MAP_FILE = "land_cover_map.tif"
CONFIDENCE_FILE = "land_cover_confidence.tif"
PREVIEW_FILE = "land_cover_map.png"
AREAS_FILE = "land_cover_areas.csv"
AGREEMENT_FILE = "map_agreement.json"

# Conventional land-cover colours for the report's classes; any other class takes a tab10 colour.
CLASS_COLOURS = {
    "Agriculture": "#e8c547",
    "Forest": "#1b7837",
    "Parcels": "#c2703d",
    "Urban": "#d7301f",
    "Water": "#2c7bb6",
}
NODATA_PREVIEW_COLOUR = "#d9d9d9"
OVERVIEW_SIDE = 256  # overviews halve the map until its longer side is at most this
PREVIEW_SIDE = 1000  # pixels along the preview's longer side, at most
COG_OPTIONS = {"COMPRESS": "DEFLATE", "BIGTIFF": "IF_SAFER"}
WORK_TILE = 256


def class_colours(class_names: list[str]) -> list[tuple[float, float, float, float]]:
    palette = colormaps["tab10"]
    return [to_rgba(CLASS_COLOURS.get(name, palette(index % 10))) for index, name in enumerate(class_names)]


def colour_table(class_names: list[str]) -> dict[int, tuple[int, int, int, int]]:
    """GDAL colour table: each class its colour, nodata transparent."""
    table = {
        index: tuple(round(255 * channel) for channel in colour)
        for index, colour in enumerate(class_colours(class_names))
    }
    return {**table, CLASS_NODATA: (0, 0, 0, 0)}


def class_tags(class_names: list[str]) -> dict[str, str]:
    return {f"CLASS_{index}": name for index, name in enumerate(class_names)}


def work_profile(height: int, width: int, crs, transform: Affine, dtype: str, nodata: float) -> dict[str, Any]:
    """A tiled GeoTIFF written block by block while mapping; converted to a COG once complete."""
    return {
        "driver": "GTiff",
        "height": height,
        "width": width,
        "count": 1,
        "dtype": dtype,
        "crs": crs,
        "transform": transform,
        "nodata": nodata,
        "tiled": True,
        "blockxsize": WORK_TILE,
        "blockysize": WORK_TILE,
        "compress": "deflate",
        "BIGTIFF": "IF_SAFER",
    }


def overview_count(height: int, width: int) -> int:
    """Halvings until the longer side is at most OVERVIEW_SIDE; at least one, so every map has an overview."""
    return max(1, math.ceil(math.log2(max(height, width) / OVERVIEW_SIDE)))


def write_cog(work_path: Path, destination: Path, resampling: str) -> None:
    """Copy a complete work GeoTIFF to a Cloud Optimised GeoTIFF with overviews (GDAL's COG driver)."""
    with rasterio.open(work_path) as work:
        count = overview_count(work.height, work.width)
    rasterio.shutil.copy(
        work_path,
        destination,
        driver="COG",
        OVERVIEW_RESAMPLING=resampling,
        OVERVIEW_COUNT=str(count),
        **COG_OPTIONS,
    )


def pixel_area_m2(transform: Affine, crs) -> float:
    """One pixel's area in square metres, from a projected CRS's units (metres, US feet...)."""
    _, metres_per_unit = crs.linear_units_factor
    return abs(transform.determinant) * metres_per_unit**2


def area_rows(class_pixels: np.ndarray, class_names: list[str], pixel_area: float) -> list[dict[str, Any]]:
    """Each class's pixels, hectares and share of the mapped (not nodata) pixels."""
    mapped = int(class_pixels.sum())
    return [
        {
            "class": name,
            "pixels": int(pixels),
            "area_ha": pixels * pixel_area / 10_000,
            "share": pixels / mapped if mapped else 0.0,
        }
        for name, pixels in zip(class_names, class_pixels)
    ]


def area_csv(rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["class", "pixels", "area_ha", "share"], lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({**row, "area_ha": f"{row['area_ha']:.4f}", "share": f"{row['share']:.6f}"})
    return buffer.getvalue()


def nice_length(limit: float) -> float:
    """The longest 1, 2 or 5 x 10^k not above ``limit``: a scale bar's round length."""
    power = 10 ** math.floor(math.log10(limit))
    return max(step * power for step in (1, 2, 5) if step * power <= limit)


def length_label(metres: float) -> str:
    return f"{metres / 1000:g} km" if metres >= 1000 else f"{metres:g} m"


def read_preview(map_path: Path) -> tuple[np.ndarray, Any, Any]:
    """The class raster at most PREVIEW_SIDE pixels a side (from its overviews), its bounds and CRS."""
    with rasterio.open(map_path) as src:
        factor = max(1, math.ceil(max(src.height, src.width) / PREVIEW_SIDE))
        shape = (math.ceil(src.height / factor), math.ceil(src.width / factor))
        classes = src.read(1, out_shape=shape, resampling=rasterio.enums.Resampling.mode)
        return classes, src.bounds, src.crs


def preview_figure(map_path: Path, class_names: list[str], shares: list[float], title: str):
    """The map in its CRS coordinates, a legend with each class's share, and a scale bar."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    classes, bounds, crs = read_preview(map_path)
    colours = np.array([*class_colours(class_names), to_rgba(NODATA_PREVIEW_COLOUR)])
    image = colours[np.where(classes == CLASS_NODATA, len(class_names), classes)]
    figure, axes = plt.subplots(figsize=(8, 7))
    axes.imshow(image, extent=(bounds.left, bounds.right, bounds.bottom, bounds.top), interpolation="nearest")
    unit = crs.linear_units_factor[0]
    axes.set_xlabel(f"easting ({unit})")
    axes.set_ylabel(f"northing ({unit})")
    axes.ticklabel_format(style="plain", useOffset=False)  # whole metres, not an offset of 5e6
    axes.set_title(title)
    handles = [
        Patch(color=colour, label=f"{name} ({share:.1%})") for name, colour, share in zip(class_names, colours, shares)
    ]
    handles.append(Patch(color=NODATA_PREVIEW_COLOUR, label="no data / edge"))
    axes.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    add_scale_bar(axes, bounds, crs.linear_units_factor[1])
    return figure


def add_scale_bar(axes, bounds, metres_per_unit: float) -> None:
    """A bar of a round length, about a quarter of the map's width at most, in its lower left corner."""
    width_m = (bounds.right - bounds.left) * metres_per_unit
    metres = nice_length(width_m / 4)
    length = metres / metres_per_unit
    height = bounds.top - bounds.bottom
    x0, y0 = bounds.left + 0.05 * (bounds.right - bounds.left), bounds.bottom + 0.05 * height
    axes.plot([x0, x0 + length], [y0, y0], color="black", linewidth=4, solid_capstyle="butt")
    axes.text(
        x0 + length / 2,
        y0 + 0.02 * height,
        length_label(metres),
        ha="center",
        va="bottom",
        bbox={"facecolor": "white", "alpha": 0.7, "edgecolor": "none"},
    )
