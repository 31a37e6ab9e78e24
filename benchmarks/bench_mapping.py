"""Issue 23 benchmark: how fast and in how much memory step 06 maps a scene, and what a full tile would take.

Usage: python -m benchmarks.bench_mapping [--throughput-side PX] [--memory-sides PX,PX] [--batch-size N]

1. Throughput: windows per second of the mapping loop (read a block, scale, predict, write the work
   rasters; phase4a.mapping.classify) for the report's ResNet50 transfer model (random weights, built
   by phase4a.models.transfer.build_untrained_model as step 03 builds it) and for the SimpleCNN, on a
   synthetic scene of --throughput-side pixels at stride 8, in a child process each. The first call
   traces the model's graph; it is made before the clock starts, as any long map amortises it. The
   whole step's outputs (COGs, preview, areas) are timed too.
2. Memory: peak RSS of a child that maps a synthetic scene of each --memory-sides with the SimpleCNN
   (the model's own memory does not grow with the scene; the blocks should not either), and of one that
   builds the model and maps nothing: the difference is what mapping adds. Each side's share of a full
   Sentinel-2 tile (10980 x 10980 pixels, 1.88 M windows at stride 8) is recorded. The sides must be
   several blocks (step 06 reads 1024-pixel blocks): below one block, memory grows with the scene.
3. Extrapolated to a full tile: hours at the measured rates, at stride 8 and at stride 1 (P^2 times
   the windows); and the RSS from a straight line through the measured sizes (flat if memory is bounded).
Writes benchmarks/results/mapping-<date>.json, measured and extrapolated figures apart.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
TILE_SIDE = 10_980  # a Sentinel-2 tile at 10 m
PATCH = 8
MODELS = ("resnet50", "simplecnn")


def tile_windows(stride: int) -> int:
    return ((TILE_SIDE - PATCH) // stride + 1) ** 2


def write_synthetic_scene(path: Path, side: int, seed: int = 0) -> Path:
    """A uint16 six-band scene of plausible reflectance x 10000 (content does not change the speed), in rows
    of blocks so that writing it needs no more memory than mapping it."""
    import rasterio
    from affine import Affine
    from rasterio.windows import Window

    from phase4a.config import REPORT_BAND_NAMES

    profile = {
        "driver": "GTiff",
        "height": side,
        "width": side,
        "count": len(REPORT_BAND_NAMES),
        "dtype": "uint16",
        "crs": "EPSG:32633",
        "transform": Affine(10.0, 0.0, 500_000.0, 0.0, -10.0, 5_100_000.0),
        "nodata": 0,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
    }
    rng = np.random.default_rng(seed)
    with rasterio.open(path, "w", **profile) as dst:
        for row in range(0, side, 256):
            height = min(256, side - row)
            values = rng.integers(200, 4000, size=(len(REPORT_BAND_NAMES), height, side), dtype=np.uint16)
            dst.write(values, window=Window(0, row, side, height))
        for index, name in enumerate(REPORT_BAND_NAMES, start=1):
            dst.set_band_description(index, name)
    return path


def build_model(name: str):
    """The report's transfer model (step 03's builder, --weights none) or the Week 3 SimpleCNN."""
    from phase4a import config as config_module
    from phase4a.models.simple_cnn import build_simple_cnn
    from phase4a.models.transfer import build_untrained_model

    shape = (PATCH, PATCH, 6)
    if name == "simplecnn":
        return build_simple_cnn(shape, 5)
    config = config_module.resolve("report", {"weights": "none"})
    model, _ = build_untrained_model(config_module.sections(config), shape, len(config["class_names"]), None)
    return model


def child_map(model_name: str, raster: Path | None, stride: int, batch_size: int) -> dict:
    """In a child process: build the model, trace it, then map ``raster`` (None: map nothing) into a tmp dir."""
    from phase4a import accel
    from phase4a.config import REPORT_BAND_NAMES, REPORT_CLASS_NAMES
    from phase4a.mapping.land_cover import write_land_cover_map
    from phase4a.mapping.scene import Scaling, open_scene
    from phase4a.mapping.windows import WindowGrid
    from phase4a.steps.predict_map import BLOCK_SIZE

    model = build_model(model_name)
    predict = accel.predictor(model, batch_size, {})
    predict(np.zeros((1, PATCH, PATCH, 6), dtype=np.float32))  # trace the graph before timing
    if raster is None:
        return {"model": model_name}
    scaling = Scaling(10000.0, 0.0, already_scaled=False)
    with tempfile.TemporaryDirectory() as out, open_scene(raster, list(REPORT_BAND_NAMES), scaling) as scene:
        grid = WindowGrid(scene.height, scene.width, PATCH, stride)
        started = time.perf_counter()
        result = write_land_cover_map(scene, grid, predict, list(REPORT_CLASS_NAMES), Path(out), BLOCK_SIZE, batch_size)
        total = time.perf_counter() - started
    counts = result["counts"]
    return {
        "model": model_name,
        "side": scene.width,
        "stride": stride,
        "batch_size": batch_size,
        "windows": counts.predicted,
        "mapping_seconds": round(counts.seconds, 3),
        "windows_per_second": round(counts.windows_per_second, 1),
        "step_outputs_seconds": round(total, 3),
    }


def run_child(args: list[str]) -> dict:
    """Run this module as a child with ``args``: its JSON result and its own peak RSS (MiB, os.wait4)."""
    command = [sys.executable, "-m", "benchmarks.bench_mapping", "--child", *args]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output = proc.stdout.read().decode(errors="replace")
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{output[-3000:]}")
    result = json.loads(output.strip().splitlines()[-1])
    return {**result, "peak_rss_mib": round(usage.ru_maxrss / 1024, 1)}


def machine() -> dict:
    import tensorflow as tf

    return {
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "gpus": [device.name for device in tf.config.list_physical_devices("GPU")],
        "tensorflow": tf.__version__,
    }


def extrapolate(throughput: dict, memory: list[dict], baseline_rss: float) -> dict:
    """A full tile at the measured rates; its RSS from a line through (pixels, RSS) of the measured sizes."""
    pixels = np.array([entry["side"] ** 2 for entry in memory], dtype=float)
    rss = np.array([entry["peak_rss_mib"] for entry in memory])
    slope, intercept = np.polyfit(pixels, rss, 1) if len(memory) > 1 else (0.0, rss[0])
    hours = {
        model: {
            f"stride_{stride}": round(tile_windows(stride) / entry["windows_per_second"] / 3600, 2)
            for stride in (PATCH, 1)
        }
        for model, entry in throughput.items()
    }
    return {
        "tile": f"{TILE_SIDE} x {TILE_SIDE} pixels; {tile_windows(PATCH)} windows at stride 8, {tile_windows(1)} at 1",
        "hours_on_this_machine": hours,
        "peak_rss_mib_simplecnn": round(float(intercept + slope * TILE_SIDE**2), 1),
        "rss_growth_mib_per_megapixel": round(float(slope * 1e6), 3),
        "mapping_adds_mib_at_largest_side": round(float(rss[-1] - baseline_rss), 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--throughput-side", type=int, default=256, help="scene side for windows/s (256: 1024 windows)")
    parser.add_argument("--memory-sides", default="2048,4096", help="scene sides for peak RSS, comma-separated")
    parser.add_argument("--batch-size", type=int, default=256, help="windows per model call")
    parser.add_argument("--child", nargs=4, metavar=("MODEL", "RASTER", "STRIDE", "BATCH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        model, raster, stride, batch = args.child
        print(json.dumps(child_map(model, None if raster == "-" else Path(raster), int(stride), int(batch))))
        return 0
    sides = [int(side) for side in args.memory_sides.split(",")]
    batch = str(args.batch_size)
    with tempfile.TemporaryDirectory() as work:
        small = write_synthetic_scene(Path(work) / "small.tif", args.throughput_side)
        throughput = {model: run_child([model, str(small), str(PATCH), batch]) for model in MODELS}
        baseline = run_child(["simplecnn", "-", str(PATCH), batch])
        memory = []
        for side in sides:
            scene = write_synthetic_scene(Path(work) / f"scene{side}.tif", side)
            entry = run_child(["simplecnn", str(scene), str(PATCH), batch])
            memory.append({**entry, "share_of_tile": round(side**2 / TILE_SIDE**2, 4)})
            scene.unlink()
    result = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "measured": {
            "throughput": throughput,
            "memory": memory,
            "rss_without_mapping_mib": baseline["peak_rss_mib"],
        },
        "extrapolated": extrapolate(throughput, memory, baseline["peak_rss_mib"]),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"mapping-{datetime.now(UTC):%Y-%m-%dT%H%M%S}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
