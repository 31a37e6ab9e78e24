"""Step 06: map a whole Sentinel-2 scene with the run's trained model.

Usage:
  python phase4a_06_predict_map.py [--run-dir DIR]      # the run's own raster (data_source raster or
                                                         # earth_engine); for a mock run, a synthetic scene
  python phase4a_06_predict_map.py --raster scene.tif [--raster_bands B2,B3,B4,B8,B11,B12 | 1,2,3,7,11,12]
  python phase4a_06_predict_map.py --stride 1           # a centre-pixel map: patch size^2 times the windows
  python phase4a_06_predict_map.py --polygons labels.gpkg   # agreement with labelled polygons
  python phase4a_06_predict_map.py --mock_scene         # the synthetic scene, for a run of mock data
  python phase4a_06_predict_map.py --raster other.tif --aux_layers ndvi=other_modis.tif,dem=other_srtm.tif
                                                         # a fused run on another scene, with its layers

Every window of the run's patch size is predicted. --stride equal to the patch size (the default) makes
a block map, each window's class filling its block; --stride 1 a centre-pixel map, each pixel taking the
class of the window centred on it. Bands are matched by description as step 01 matches them, values are
scaled as step 01 scaled the training data (data_summary.json), and windows that touch nodata are masked.
The scene is read in blocks, so memory does not grow with its size. A run trained with auxiliary layers
(Phase 4B) gets the same layers on the scene's grid (phase4a/mapping/layers.py): the run's aux_layers
files warped onto it (or --aux_layers, the same layers for another scene), Earth Engine's layers from the
scene's own bands, s2_ndvi from its B4 and B8, a mock run's from the mock scene.
Writes land_cover_map.tif (Cloud Optimised GeoTIFF: uint8 class index, nodata 255, colour table, class
names in its tags), land_cover_confidence.tif (max softmax, float32), land_cover_map.png (legend, scale
bar), land_cover_areas.csv (hectares and share per class) and, with polygons, map_agreement.json
(accuracy with Wilson intervals on the polygons outside the training split). A sweep run whose model
file was pruned (--keep_models best) is mapped with its model rebuilt from the weights it kept.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .. import accel
from .. import config as config_module
from ..cli import exit_step, run_step, step_parser
from ..data import dataset as dataset_module
from ..data import mock_scene as mock_scene_module
from ..data.sources import input_band_names
from ..errors import ConfigError, DataError
from ..io import read_json
from ..mapping.agreement import Reference, read_reference
from ..mapping.classify import Predict
from ..mapping.land_cover import write_land_cover_map
from ..mapping.layers import check_layers_can_be_made, open_layers
from ..mapping.outputs import MAP_FILE, PREVIEW_FILE
from ..mapping.scene import Scene, open_scene, recorded_scaling
from ..mapping.windows import WindowGrid, check_positive, check_stride
from ..stages import RETRAIN, RunDir
from ..train import rebuild

STAGE = "map"
PREDICT_BATCH = 256  # windows per model call
BLOCK_SIZE = 1024  # pixels along a block's side: 25 MB of float32 reflectance at a time (51 MB while scaling)
RASTER_SOURCES = ("raster", "earth_engine")  # runs whose config names the raster they were cut from


@dataclass
class MapInputs:
    """What to map and what to compare it with, resolved from the options and the run's config."""

    raster: Path
    bands: list[str | int] | None  # by name or 1-based index; None: the run's band_names
    band_names_in_file: list[str] | None
    polygons: Path | None
    label_column: str
    id_column: str | None
    own_polygons: bool  # the polygons the run's patches were cut from: its training split is known
    mock_layers: Path | None = None  # the mock scene's layer file, for a mock run with mock_aux_layers


@dataclass
class MapOptions:
    """Step 06's options (its command line), as predict_map takes them."""

    raster: Path | None = None
    stride: int | None = None
    polygons: Path | None = None
    bands: list[str | int] | None = None
    mock_scene: bool = False
    batch_size: int = PREDICT_BATCH
    block_size: int = BLOCK_SIZE
    aux_layers: str | None = None  # the scene's auxiliary layer files; None: the run's aux_layers


@dataclass
class MapJob:
    """A map ready to be written: the open scene (bands and layers), its windows, the model, the reference."""

    scene: Scene
    grid: WindowGrid
    predict: Predict
    reference: Reference | None
    tags: dict[str, str]
    raster: Path


def same_file(a: str | Path | None, b: str | Path | None) -> bool:
    return bool(a) and bool(b) and Path(a).resolve() == Path(b).resolve()


def mock_inputs(run: RunDir, config: dict[str, Any], polygons: Path | None) -> MapInputs:
    """Write the seeded synthetic scene and its polygons into the run directory, and map those (or --polygons)."""
    scene = mock_scene_module.write_mock_scene(
        run.root,
        config["class_names"],
        config["band_names"],
        config["seed"],
        patch=config["patch_size"],
        layers=bool(config["mock_aux_layers"]),
    )
    if polygons is None:
        columns = (mock_scene_module.LABEL_COLUMN, mock_scene_module.ID_COLUMN)
    else:
        columns = (config["label_column"], config["id_column"] or None)
    return MapInputs(scene.raster, None, None, polygons or scene.polygons, *columns, False, scene.layers)


def map_inputs(
    run: RunDir,
    config: dict[str, Any],
    raster: Path | None,
    polygons: Path | None,
    bands: list[str | int] | None,
    mock_scene: bool,
) -> MapInputs:
    """The raster: --raster, else the run's own (raster and Earth Engine runs), else for mock runs (or
    with --mock_scene) the synthetic scene. The run's own raster is read with step 01's band options."""
    source = config["data_source"]
    if mock_scene or (raster is None and source == "mock"):
        return mock_inputs(run, config, polygons)
    if raster is None and source not in RASTER_SOURCES:
        raise ConfigError(
            f"a run of data_source {source} names no raster to map; pass --raster PATH (a GeoTIFF with the "
            f"run's bands {','.join(config['band_names'])})"
        )
    raster = Path(raster or config["raster_path"])
    if not raster.is_file():
        raise DataError(f"raster {raster} not found; pass --raster PATH with a GeoTIFF")
    own_raster = source in RASTER_SOURCES and same_file(raster, config["raster_path"])
    if polygons is None and own_raster:
        polygons = Path(config["polygons_path"])
    return MapInputs(
        raster,
        bands or (config["raster_bands"] if own_raster else None) or None,
        (config["raster_band_names"] if own_raster else None) or None,
        polygons,
        config["label_column"],
        config["id_column"] or None,
        own_polygons=source in RASTER_SOURCES and same_file(polygons, config["polygons_path"]),
    )


def training_polygon_ids(run: RunDir, inputs: MapInputs) -> frozenset[str] | None:
    """Ids of the polygons whose patches trained the model (data.npz groups_train), when these are its polygons."""
    if not inputs.own_polygons:
        return None
    data = dataset_module.load(run.require("data"))
    return None if data.groups_train is None else frozenset(str(group) for group in data.groups_train)


def map_reference(run: RunDir, config: dict[str, Any], inputs: MapInputs, scene: Scene) -> Reference | None:
    if inputs.polygons is None:
        return None
    ids = training_polygon_ids(run, inputs)
    return read_reference(inputs.polygons, scene.src, inputs.label_column, inputs.id_column, config["class_names"], ids)


def model_file(run: RunDir) -> Path:
    """The trained model's file; for a sweep run pruned with --keep_models best, the weights it is rebuilt from."""
    return rebuild.trained_weights_file(run) if run.model_pruned() else run.require("transfer_model_keras")


def load_model(run: RunDir, config: dict[str, Any], path: Path):
    """The trained model, ready to predict, checked against the run's patches, bands and layers."""
    if run.model_pruned():
        model = rebuild.rebuild_trained_model(run, config)
    else:
        model = accel.load_prediction_model(path, RETRAIN, config)
    bands = len(input_band_names(config_module.sections(config).data))
    check_model_input(model, config["patch_size"], bands, path)
    accel.prepare_prediction(model, config)
    return model


def check_model_input(model, patch: int, bands: int, path: Path) -> None:
    expected = (patch, patch, bands)
    if tuple(model.input_shape[1:]) != expected:
        raise DataError(
            f"{path} takes inputs of shape {tuple(model.input_shape[1:])}, not the run's patches {expected}; {RETRAIN}"
        )


def map_tags(config: dict[str, Any], raster: Path, stride: int) -> dict[str, str]:
    """Provenance in the GeoTIFFs' own metadata: where the map came from, and how it was made."""
    patch = config["patch_size"]
    kind = "block map" if stride == patch else "centre-pixel map" if stride == 1 else f"{stride}-pixel cells"
    return {
        "SOURCE_RASTER": raster.name,
        "PATCH_SIZE": str(patch),
        "STRIDE": str(stride),
        "MAP_KIND": kind,
        "CONFIG_HASH": config_module.config_hash(config),
    }


def checked_stride(options: MapOptions, patch: int) -> int:
    stride = patch if options.stride is None else options.stride
    check_stride(stride, patch)
    check_positive("--batch_size", options.batch_size)
    check_positive("--block_size", options.block_size)
    return stride


@contextlib.contextmanager
def prepared_map(run: RunDir, config: dict[str, Any], options: MapOptions) -> Iterator[MapJob]:
    """Every input of the map, checked before the first output is written, open while it is written."""
    check_layers_can_be_made(config, options.aux_layers)
    stride = checked_stride(options, config["patch_size"])
    path = model_file(run)
    scaling = recorded_scaling(read_json(run.require("data_summary")))
    inputs = map_inputs(run, config, options.raster, options.polygons, options.bands, options.mock_scene)
    with contextlib.ExitStack() as stack:
        scene = stack.enter_context(
            open_scene(inputs.raster, config["band_names"], scaling, inputs.bands, inputs.band_names_in_file)
        )
        layers = stack.enter_context(open_layers(config, scene.src, options.aux_layers, inputs.mock_layers))
        scene = replace(scene, layers=layers)
        grid = WindowGrid(scene.height, scene.width, config["patch_size"], stride)
        reference = map_reference(run, config, inputs, scene)
        predict = accel.predictor(load_model(run, config, path), options.batch_size, config)
        yield MapJob(scene, grid, predict, reference, map_tags(config, inputs.raster, stride), inputs.raster)


def write_map(job: MapJob, config: dict[str, Any], out_dir: Path, options: MapOptions) -> dict[str, Any]:
    """Write the map's files into ``out_dir``; the summary print_summary prints."""
    patch = config["patch_size"]
    result = write_land_cover_map(
        job.scene,
        job.grid,
        job.predict,
        config["class_names"],
        out_dir,
        options.block_size,
        options.batch_size,
        job.reference,
        job.tags,
        title=f"{job.raster.name}: {job.tags['MAP_KIND']} of {patch}x{patch} windows",
    )
    return {**result, "raster": job.raster, "stride": job.grid.stride, "map_kind": job.tags["MAP_KIND"]}


def predict_map(
    run: RunDir,
    config: dict[str, Any],
    raster: Path | None = None,
    stride: int | None = None,
    polygons: Path | None = None,
    bands: list[str | int] | None = None,
    mock_scene: bool = False,
    batch_size: int = PREDICT_BATCH,
    block_size: int = BLOCK_SIZE,
    aux_layers: str | None = None,
) -> dict[str, Any]:
    """Map the scene into the run directory; every check comes before the first output is written."""
    options = MapOptions(raster, stride, polygons, bands, mock_scene, batch_size, block_size, aux_layers)
    with prepared_map(run, config, options) as job:
        return write_map(job, config, run.root, options)


def print_summary(summary: dict[str, Any]) -> None:
    counts = summary["counts"]
    print(
        f"mapped {summary['raster']} ({summary['map_kind']}): {counts.predicted} windows predicted, "
        f"{counts.masked} masked for nodata, in {counts.seconds:.1f} s ({counts.windows_per_second:.0f} windows/s)"
    )
    for row in summary["areas"]:
        print(f"  {row['class']}: {row['area_ha']:.2f} ha ({row['share']:.1%})")
    agreement = summary["agreement"]
    if agreement is not None:
        for unit in ("polygons", "pixels"):
            entry = agreement[unit]
            if entry["evaluated"]:
                low, high = entry["ci95"]
                print(
                    f"agreement with {entry['evaluated']} {unit} outside the training split: {entry['accuracy']:.1%} "
                    f"(95% interval {low:.1%} to {high:.1%})"
                )
    print(f"map: {summary['files'][MAP_FILE]}; preview: {summary['files'][PREVIEW_FILE]}")


def band_list(text: str) -> list[str]:
    """--raster_bands B2,B3,... or 1,2,...: names or 1-based indexes (raster_patches.band_position reads both)."""
    return [item.strip() for item in text.split(",") if item.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = step_parser(__doc__)
    parser.add_argument("--raster", type=Path, help="GeoTIFF to map (default: the run's raster, or the mock scene)")
    parser.add_argument("--raster_bands", type=band_list, help="bands in the run's order, by name or 1-based index")
    parser.add_argument("--stride", type=int, help="pixels between windows: the patch size (default) or 1")
    parser.add_argument("--polygons", type=Path, help="labelled polygons to measure the map's agreement with")
    parser.add_argument("--mock_scene", action="store_true", help="map the synthetic scene (runs of mock data)")
    parser.add_argument("--batch_size", type=int, default=PREDICT_BATCH, help=f"windows per call ({PREDICT_BATCH})")
    parser.add_argument("--block_size", type=int, default=BLOCK_SIZE, help=f"pixels per block side ({BLOCK_SIZE})")
    parser.add_argument(
        "--aux_layers",
        help="a fused run's layer files for this scene, the run's layers in its order (default: the run's aux_layers)",
    )
    args = parser.parse_args(argv)

    def work(run: RunDir, config: dict[str, Any], args: argparse.Namespace) -> None:
        summary = predict_map(
            run.for_stage(STAGE),
            config,
            raster=args.raster,
            stride=args.stride,
            polygons=args.polygons,
            bands=args.raster_bands,
            mock_scene=args.mock_scene,
            batch_size=args.batch_size,
            block_size=args.block_size,
            aux_layers=args.aux_layers,
        )
        print_summary(summary)

    return run_step(STAGE, args, work)


if __name__ == "__main__":
    exit_step(main())
