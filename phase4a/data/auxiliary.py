"""Auxiliary rasters (MODIS NDVI, SRTM elevation, any other layer) warped onto one Sentinel-2 grid.

Each auxiliary raster, in whatever CRS, resolution and nodata it comes, is read at its native
resolution, its nodata turned into NaN and its scale factor applied, then warped with
``rasterio.warp.reproject`` onto the exact Sentinel-2 grid (CRS, transform, width, height): bilinear
for continuous layers, nearest for categorical ones. Nodata never enters the interpolation: GDAL
leaves source pixels equal to ``src_nodata`` (NaN here) out of the bilinear kernel and weights the
valid ones, and a grid pixel whose nearest source pixel is nodata is nodata (NaN) in the result,
so a void stays a void instead of being filled from its edges.

A DEM gives four layers: elevation, and slope and aspect computed at the DEM's own resolution
*before* resampling (terrain derived from an interpolated 10 m DEM would show the interpolation's
facets, not the terrain). Aspect is stored as its sine and cosine because an angle cannot be
interpolated (359 and 1 degrees would average to 180) while its sine and cosine can.

Layers are named (``ndvi_modis``, ``elevation``, ``slope``, ``aspect_sin``, ``aspect_cos``, or the
name a generic ``name=path`` spec gives) so they can be appended to the band list.

``ndvi=ee`` and ``dem=ee`` (the earth_engine source) name layers that Earth Engine computes and exports
as bands of the Sentinel-2 composite itself, already on its grid (phase4a.data.earth_engine); they are
read from the raster's bands of those names (:func:`layers_in_raster`) instead of being warped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from affine import Affine
from pyproj import CRS as ProjCRS
from pyproj import Transformer
from pyproj.exceptions import CRSError as ProjCRSError
from pyproj.exceptions import ProjError
from rasterio.crs import CRS
from rasterio.errors import CRSError, RasterioIOError
from rasterio.transform import array_bounds
from rasterio.warp import Resampling, reproject, transform_bounds
from rasterio.windows import Window

from ..errors import ConfigError, DataError
from .dataset import canonical_band

# MOD13Q1 (MODIS/061/MOD13Q1) stores NDVI x 10000 as int16, fill -3000, valid range -2000..10000.
MODIS_NDVI_SCALE = 0.0001
MODIS_NDVI_FILL = -3000
MODIS_NDVI_VALID = (-0.2, 1.0)
# Values whose magnitude exceeds this cannot be NDVI, so the file holds MOD13Q1's stored integers;
# at or below it the file was exported already scaled (Earth Engine exports after .multiply(0.0001)).
NDVI_ALREADY_SCALED_MAX = 1.5
# SRTM (USGS/SRTMGL1_003 and the CGIAR void-filled versions) marks voids with -32768.
SRTM_VOID = -32768

CONTINUOUS = "bilinear"
CATEGORICAL = "nearest"
RESAMPLING = {CONTINUOUS: Resampling.bilinear, CATEGORICAL: Resampling.nearest}

NDVI_KIND, DEM_KIND = "ndvi", "dem"
# A bare item, no file: NDVI of the Sentinel-2 raster's own B4 and B8, computed beside the bands
# (:func:`s2_ndvi`). The fusion ablation's control: what an NDVI layer adds beyond a transform of two
# bands the network already sees.
S2_NDVI = "s2_ndvi"
TERRAIN_LAYERS = ("elevation", "slope", "aspect_sin", "aspect_cos")
LAYERS_OF_KIND = {NDVI_KIND: ("ndvi_modis",), DEM_KIND: TERRAIN_LAYERS}
UNITS = {
    "ndvi_modis": "NDVI",
    "elevation": "metres",
    "slope": "degrees",
    "aspect_sin": "sine of the aspect (1 = facing east)",
    "aspect_cos": "cosine of the aspect (1 = facing north)",
}
SPEC_HELP = "e.g. ndvi=modis.tif,dem=srtm.tif,s2_ndvi,soil=clay.tif,lulc=landcover.tif:nearest"
# The path of an ndvi or dem item Earth Engine makes (ndvi=ee, dem=ee): bands of the exported composite.
EARTH_ENGINE = "ee"
NAME_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
# Step 01 divides every band by reflectance_scale (10000), so a layer is stored as "model unit x 10000",
# like Sentinel-2 reflectance, and reaches the network in its model unit: near [-1, 1] like reflectance
# in [0, 1], rather than hundreds of metres next to values of 0.05. Model unit = physical value x factor.
STORED_SCALE = 10000.0
MODEL_UNIT_FACTOR = {"elevation": 0.001, "slope": 1 / 90}  # km; fraction of a vertical slope; others x 1
MODEL_UNITS = {"elevation": "km", "slope": "degrees / 90"}
# Metres per degree on the WGS84 ellipsoid at latitude phi (the usual series; within 1 m of exact):
# for a DEM in geographic coordinates (SRTM comes in EPSG:4326), so its gradients are per metre.
M_PER_DEG_LAT = (111132.954, -559.822, 1.175)  # a + b cos(2 phi) + c cos(4 phi)
M_PER_DEG_LON = (111412.84, -93.5)  # a cos(phi) + b cos(3 phi)


@dataclass(frozen=True)
class Grid:
    """The Sentinel-2 pixel grid every layer is warped onto."""

    crs: CRS
    transform: Affine
    width: int
    height: int

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(left, bottom, right, top) in the grid's CRS."""
        return array_bounds(self.height, self.width, self.transform)

    @classmethod
    def of_raster(cls, path: str | Path) -> Grid:
        """The grid of a Sentinel-2 GeoTIFF."""
        with _open(path, "Sentinel-2 raster", "--raster_path") as src:
            if src.crs is None:
                raise DataError(f"Sentinel-2 raster {path} has no CRS; re-export it with its CRS")
            return cls(src.crs, src.transform, src.width, src.height)


@dataclass(frozen=True)
class LayerSpec:
    """One item of a ``name=path`` list: ``kind`` is ndvi, dem, or the resampling of a generic layer."""

    name: str
    kind: str  # ndvi | dem | s2_ndvi (no file) | bilinear (generic continuous) | nearest (generic categorical)
    path: Path
    earth_engine: bool = False  # ndvi=ee, dem=ee: bands of the Earth Engine composite, not a file

    @property
    def layer_names(self) -> tuple[str, ...]:
        return LAYERS_OF_KIND.get(self.kind, (self.name,))


@dataclass
class Layer:
    """One named layer on the grid, in its physical unit; NaN where it has no data."""

    name: str
    values: np.ndarray  # (height, width) float32
    source: str  # the file it came from
    resampling: str
    unit: str
    notes: dict[str, Any] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        """What the data summary keeps of it: everything but the values, and how much of the grid is nodata."""
        return {
            "name": self.name,
            "source": self.source,
            "resampling": self.resampling,
            "unit": self.unit,
            "nodata_fraction": round(float(np.isnan(self.values).mean()), 6),
            **self.notes,
        }


@dataclass
class Native:
    """A raster as read: values (NaN = nodata, scale applied) on its own grid."""

    values: np.ndarray  # (rows, cols) float64
    transform: Affine
    crs: CRS
    nodata: list[float]  # the stored values taken as nodata
    notes: dict[str, Any] = field(default_factory=dict)


def parse_layer_specs(value: str | list[str]) -> list[LayerSpec]:
    """``ndvi=modis.tif,dem=srtm.tif,name=path[:nearest]`` (or its items as a list) as layer specs.

    ``ndvi`` is a MOD13Q1 NDVI raster (x 0.0001, fill -3000), ``dem`` an SRTM elevation raster (void
    -32768; adds slope and aspect), any other name a generic layer of that name, continuous (bilinear)
    unless the path ends in ``:nearest`` (categorical: classes must not be averaged). ``ndvi=ee`` and
    ``dem=ee``: the same layers, made by Earth Engine as bands of the composite.
    """
    items = value if isinstance(value, list) else [part for part in str(value).split(",")]
    specs: list[LayerSpec] = []
    for item in (part.strip() for part in items):
        if not item:
            continue
        if item == S2_NDVI:
            specs.append(LayerSpec(S2_NDVI, S2_NDVI, Path()))
            continue
        name, equals, path = item.partition("=")
        name, path = name.strip(), path.strip()
        if not equals or not name or not path:
            raise ConfigError(f"auxiliary layer {item!r} is not name=path; {SPEC_HELP}")
        if not NAME_PATTERN.fullmatch(name):
            raise ConfigError(f"auxiliary layer name {name!r} must be a letter then letters, digits or _; {SPEC_HELP}")
        kind = name if name in LAYERS_OF_KIND else CONTINUOUS
        base, colon, suffix = path.rpartition(":")
        if colon and suffix in RESAMPLING:
            if name in LAYERS_OF_KIND:
                raise ConfigError(
                    f"auxiliary layer {item!r}: {name} layers are always continuous (bilinear); drop ':{suffix}'"
                )
            kind, path = suffix, base
        if path == EARTH_ENGINE:
            specs.append(earth_engine_spec(name, kind))
            continue
        specs.append(LayerSpec(name, kind, Path(path)))
    names = [layer for spec in specs for layer in spec.layer_names]
    repeated = sorted({layer for layer in names if names.count(layer) > 1})
    if repeated:
        raise ConfigError(f"auxiliary layer {', '.join(repeated)} is given twice; give each layer once ({SPEC_HELP})")
    return specs


def earth_engine_spec(name: str, kind: str) -> LayerSpec:
    if kind not in LAYERS_OF_KIND:
        raise ConfigError(
            f"auxiliary layer {name}={EARTH_ENGINE}: Earth Engine makes ndvi={EARTH_ENGINE} and dem={EARTH_ENGINE} "
            f"only; give {name}=PATH (a GeoTIFF)"
        )
    return LayerSpec(name, kind, Path(), earth_engine=True)


def load_layers(grid: Grid, specs: list[LayerSpec], raster: str | Path | None = None) -> list[Layer]:
    """Every layer of ``specs`` on ``grid``, in spec order (a DEM's four layers in TERRAIN_LAYERS order):
    files warped onto it, Earth Engine layers read from the bands of ``raster`` (the composite, whose grid
    ``grid`` is); ``s2_ndvi`` has no file and is left to :func:`s2_ndvi`, which computes it from the bands."""
    layers: list[Layer] = []
    for spec in specs:
        if spec.earth_engine:
            layers.extend(layers_in_raster(raster, spec.layer_names, EE_LAYERS_FIX, "bilinear (by Earth Engine)"))
        elif spec.kind != S2_NDVI:
            layers.extend(load_spec(grid, spec))
    return layers


# An earth_engine raster_path is reused when it exists, so one exported before the layers were asked for lacks them.
EE_LAYERS_FIX = "it was exported without these layers: delete it (or choose another --raster_path) to export it again"


def layer_band_indexes(src: rasterio.DatasetReader, names: tuple[str, ...] | list[str], fix: str) -> list[int]:
    """1-based indexes of the bands of ``src`` whose descriptions are ``names``; DataError naming the missing."""
    descriptions = list(src.descriptions)
    missing = [name for name in names if name not in descriptions]
    if missing:
        shown = ", ".join(str(name) for name in descriptions)
        raise DataError(f"raster {src.name} has no band {', '.join(missing)} (its bands: {shown}); {fix}")
    return [descriptions.index(name) + 1 for name in names]


def read_layer_band(src: rasterio.DatasetReader, index: int, window: Window | None = None) -> np.ndarray:
    """A band of ``src`` holding a layer in physical units, as float32 with NaN where it is masked."""
    return src.read(index, window=window, masked=True).astype(np.float32).filled(np.nan)


def layers_in_raster(
    path: str | Path | None, names: tuple[str, ...] | list[str], fix: str, resampling: str = "none (on the grid)"
) -> list[Layer]:
    """The bands of ``path`` named ``names``, already on its grid and in physical units (masked as NaN)."""
    if path is None:
        raise DataError(f"layers {', '.join(names)} are bands of a raster, and none was given; {fix}")
    with _open(path, "raster", "--raster_path") as src:
        layers = []
        for name, index in zip(names, layer_band_indexes(src, names, fix)):
            values = read_layer_band(src, index)
            nodata = [] if src.nodata is None else [float(src.nodata)]
            layer = Layer(name, values, str(path), resampling, UNITS.get(name, "as stored in the file"))
            check_has_data(layer, nodata)
            layers.append(layer)
    return layers


def load_spec(grid: Grid, spec: LayerSpec) -> list[Layer]:
    native = read_native(spec)
    check_transformable(native.crs, grid, spec.path)
    check_covers(native, grid, spec.path)
    if spec.kind == DEM_KIND:
        derived = {"elevation": native.values, **terrain(native.values, native.transform, native.crs)}
    else:
        derived = {spec.layer_names[0]: native.values}
    resampling = CATEGORICAL if spec.kind == CATEGORICAL else CONTINUOUS
    layers = []
    for name, values in derived.items():
        warped = warp_to_grid(values, native.transform, native.crs, grid, resampling)
        layer = Layer(name, warped, str(spec.path), resampling, UNITS.get(name, "as stored in the file"), native.notes)
        check_has_data(layer, native.nodata)
        layers.append(layer)
    return layers


def read_native(spec: LayerSpec) -> Native:
    """Band 1 of the file at its own resolution, nodata as NaN, MOD13Q1's scale applied to an ndvi layer."""
    with _open(spec.path, "auxiliary raster", f"--aux_layers {spec.name}=PATH") as src:
        if src.crs is None:
            raise DataError(
                f"auxiliary raster {spec.path} has no CRS, so it cannot be placed on the Sentinel-2 grid; "
                "re-export it with its CRS or assign one (gdal_edit.py -a_srs EPSG:<code> FILE)"
            )
        raw = src.read(1).astype(np.float64)
        transform, crs, file_nodata = src.transform, src.crs, src.nodata
        bands = src.count
    nodata = [] if file_nodata is None or np.isnan(file_nodata) else [float(file_nodata)]
    nodata += {NDVI_KIND: [float(MODIS_NDVI_FILL)], DEM_KIND: [float(SRTM_VOID)]}.get(spec.kind, [])
    nodata = sorted(set(nodata))
    values = np.where(np.isin(raw, nodata) | ~np.isfinite(raw), np.nan, raw)
    notes: dict[str, Any] = {"nodata_values": nodata, "native_resolution": [abs(transform.a), abs(transform.e)]}
    if bands > 1:
        notes["bands_in_file"] = bands  # only band 1 is read: a layer is one band
    if spec.kind == NDVI_KIND:
        values, notes["scaling"] = scale_modis_ndvi(values)
    if abs(transform.b) > 0 or abs(transform.d) > 0:
        raise DataError(
            f"auxiliary raster {spec.path} has a rotated grid; warp it north-up first (gdalwarp FILE OUT.tif)"
        )
    return Native(values, transform, crs, nodata, notes)


def scale_modis_ndvi(values: np.ndarray) -> tuple[np.ndarray, str]:
    """MOD13Q1's stored integers x 0.0001, unless already scaled; values outside its valid range are nodata."""
    valid = values[np.isfinite(values)]
    if valid.size and np.abs(valid).max() > NDVI_ALREADY_SCALED_MAX:
        values, decision = values * MODIS_NDVI_SCALE, f"stored NDVI x {MODIS_NDVI_SCALE:g} (MOD13Q1)"
    else:
        decision = "already NDVI (|values| <= 1.5), not rescaled"
    low, high = MODIS_NDVI_VALID
    return np.where((values < low) | (values > high), np.nan, values), decision


def terrain(dem: np.ndarray, transform: Affine, crs: CRS) -> dict[str, np.ndarray]:
    """Slope (degrees) and aspect (sine, cosine) of a north-up DEM on its own grid.

    With z the elevation, x east and y north in metres, and the gradient from ``numpy.gradient``
    (central differences inside, one-sided at the edges):

        slope  = degrees(arctan(hypot(dz/dx, dz/dy)))
        aspect = the compass direction the slope faces (downhill), clockwise from north:
                 aspect_sin = -dz/dx / |grad z|   (1 = facing east)
                 aspect_cos = -dz/dy / |grad z|   (1 = facing north)

    A flat pixel has no aspect: both are 0 there. NaN elevation gives NaN around it.
    """
    dx, dy = pixel_size_metres(transform, crs, dem.shape[0])
    d_row, d_col = np.gradient(dem)  # change per pixel down the rows and along the columns
    # y = f + e x row, so dz/dy = d_row / e: north-up rasters (e < 0) run south down the rows; likewise x and a.
    dz_dx = d_col * np.sign(transform.a) / dx
    dz_dy = d_row * np.sign(transform.e) / dy
    steepness = np.hypot(dz_dx, dz_dy)
    with np.errstate(invalid="ignore", divide="ignore"):
        aspect_sin = np.where(steepness > 0, -dz_dx / steepness, 0.0)
        aspect_cos = np.where(steepness > 0, -dz_dy / steepness, 0.0)
    nan = np.isnan(steepness)
    aspect_sin[nan] = np.nan
    aspect_cos[nan] = np.nan
    return {"slope": np.degrees(np.arctan(steepness)), "aspect_sin": aspect_sin, "aspect_cos": aspect_cos}


def pixel_size_metres(transform: Affine, crs: CRS, rows: int) -> tuple[np.ndarray | float, float]:
    """(x, y) pixel size in metres: x per row (a column, shape (rows, 1)) for geographic CRSs, whose
    degrees of longitude shrink with latitude; the CRS's linear unit otherwise."""
    if crs.is_geographic:
        centre_rows = np.arange(rows) + 0.5
        lat = np.radians(transform.f + transform.e * centre_rows)[:, None]
        a, b, c = M_PER_DEG_LAT
        per_lat = a + b * np.cos(2 * lat) + c * np.cos(4 * lat)
        per_lon = M_PER_DEG_LON[0] * np.cos(lat) + M_PER_DEG_LON[1] * np.cos(3 * lat)
        return abs(transform.a) * per_lon, float(abs(transform.e) * np.mean(per_lat))
    factor = crs.linear_units_factor[1] if crs.linear_units else 1.0
    return abs(transform.a) * factor, abs(transform.e) * factor


def warp_to_grid(values: np.ndarray, transform: Affine, crs: CRS, grid: Grid, resampling: str) -> np.ndarray:
    """``values`` (NaN = nodata) on ``grid``; NaN where the nearest source pixel is nodata or outside."""
    source = np.asarray(values, dtype=np.float64)
    out = np.full((grid.height, grid.width), np.nan, dtype=np.float64)
    common = {"src_transform": transform, "src_crs": crs, "dst_transform": grid.transform, "dst_crs": grid.crs}
    reproject(source, out, resampling=RESAMPLING[resampling], src_nodata=np.nan, dst_nodata=np.nan, **common)
    if resampling != CATEGORICAL:
        # GDAL's bilinear kernel fills a void from its valid neighbours; a void must stay a void.
        has_data = np.zeros((grid.height, grid.width), dtype=np.uint8)
        reproject(np.isfinite(source).astype(np.uint8), has_data, resampling=Resampling.nearest, **common)
        out[has_data == 0] = np.nan
    return out.astype(np.float32)


def check_transformable(crs: CRS, grid: Grid, path: Path) -> None:
    """PROJ must know a way from the file's CRS to the grid's; checked with pyproj, whose error is one
    line, rather than left to GDAL, which prints its own lines before rasterio raises."""
    try:
        Transformer.from_crs(ProjCRS.from_wkt(crs.to_wkt()), ProjCRS.from_wkt(grid.crs.to_wkt()), always_xy=True)
    except (ProjError, ProjCRSError, CRSError):
        raise DataError(
            f"auxiliary raster {path} is in {_crs_name(crs)}, which cannot be transformed to the Sentinel-2 grid's "
            f"{_crs_name(grid.crs)}; re-export it in an Earth CRS (e.g. gdalwarp -t_srs {_crs_name(grid.crs)})"
        ) from None


def check_covers(native: Native, grid: Grid, path: Path) -> None:
    """The file must cover the whole grid (to half a grid pixel): a partial layer is not a layer."""
    rows, cols = native.values.shape
    bounds = transform_bounds(native.crs, grid.crs, *array_bounds(rows, cols, native.transform), densify_pts=21)
    left, bottom, right, top = grid.bounds
    tolerance = 0.5 * min(abs(grid.transform.a), abs(grid.transform.e))
    covers = (
        bounds[0] <= left + tolerance
        and bounds[1] <= bottom + tolerance
        and bounds[2] >= right - tolerance
        and bounds[3] >= top - tolerance
    )
    if not covers:
        shown = [round(float(v), 1) for v in bounds]
        wanted = [round(float(v), 1) for v in grid.bounds]
        raise DataError(
            f"auxiliary raster {path} (bounds {shown} in {_crs_name(grid.crs)}) does not cover the Sentinel-2 grid "
            f"(bounds {wanted}); export it over the whole scene"
        )


def check_has_data(layer: Layer, nodata_values: list[float]) -> None:
    if np.isnan(layer.values).all():
        nodata = ", ".join(f"{value:g}" for value in nodata_values) or "NaN"
        raise DataError(
            f"layer {layer.name} from {layer.source} is all nodata over the Sentinel-2 grid (nodata {nodata}); "
            "export it with data over the scene, or drop it from --aux_layers"
        )


def stack(layers: list[Layer]) -> tuple[np.ndarray, list[str]]:
    """(height, width, layers) values in their physical units, and the layer names in that order."""
    return np.stack([layer.values for layer in layers], axis=-1), [layer.name for layer in layers]


def stored_values(name: str, values: np.ndarray) -> np.ndarray:
    """A layer as a source stores it beside Sentinel-2 bands: model unit x 10000, so step 01's division by
    reflectance_scale gives NDVI as NDVI, elevation in km, slope / 90 degrees, aspect sine and cosine."""
    return (np.asarray(values, dtype=np.float64) * MODEL_UNIT_FACTOR.get(name, 1.0) * STORED_SCALE).astype(np.float32)


def s2_ndvi(X: np.ndarray, band_names: list[str], offset: float = 0.0) -> np.ndarray:
    """(N, P, P) NDVI of stored Sentinel-2 patches' own B4 and B8, as :func:`stored_values` stores it.

    ``offset`` is the config's reflectance_offset: stored values v are reflectance x 10000 - offset, so
    (v8 - v4) / (v8 + v4 + 2 offset) is the NDVI of the reflectance. 0 where both bands are 0."""
    canonical = [canonical_band(name) for name in band_names]
    missing = [band for band in ("B4", "B8") if band not in canonical]
    if missing:
        raise ConfigError(
            f"aux layer s2_ndvi needs B4 and B8 among the bands ({', '.join(band_names)} lack {', '.join(missing)}); "
            "add them to --band_names or drop s2_ndvi from --aux_layers"
        )
    red = X[..., canonical.index("B4")].astype(np.float64) + offset
    nir = X[..., canonical.index("B8")].astype(np.float64) + offset
    with np.errstate(invalid="ignore", divide="ignore"):
        ndvi = np.where(nir + red != 0, (nir - red) / (nir + red), 0.0)
    return stored_values(S2_NDVI, ndvi)


def model_unit(name: str, unit: str) -> str:
    """The unit a layer reaches the network in, after step 01's scaling of :func:`stored_values`."""
    return MODEL_UNITS.get(name, unit)


def _open(path: str | Path, what: str, option: str) -> rasterio.DatasetReader:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{what} {path} not found; fix the path ({option})")
    try:
        return rasterio.open(path)
    except RasterioIOError as exc:
        raise DataError(f"{what} {path} is not a readable raster ({str(exc).splitlines()[0]}); re-export it") from None


def _crs_name(crs: CRS) -> str:
    """EPSG:32633 or an authority code where there is one, else the CRS's own name (a WKT is no one-liner)."""
    text = crs.to_string()
    if len(text) <= 40:
        return text
    try:
        return repr(ProjCRS.from_wkt(crs.to_wkt()).name)
    except ProjCRSError:
        return text[:40] + "..."
