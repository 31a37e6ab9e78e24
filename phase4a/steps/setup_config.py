"""Step 01: resolve the configuration, load and check the data, and write both to the run directory.

Usage:
  python phase4a_01_setup_and_config.py                          # the report's config, mock data
  python phase4a_01_setup_and_config.py --preset report --weights none --epochs 5
  python phase4a_01_setup_and_config.py --data_source week3 --data_dir path/to/week3
  python phase4a_01_setup_and_config.py --data_source npz --data_npz other_run/data.npz   # share a split
  python phase4a_01_setup_and_config.py --list-presets           # or --list-keys (all)

Any config key can be overridden with --key value (see --list-keys); unknown keys are rejected.
Writes config.json, data.npz (reflectance scaled to [0, 1]), data_summary.json, sample_patches.png.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path
from typing import Any

from .. import config as config_module
from ..cli import (
    OneLineParser,
    add_list_keys_option,
    exit_step,
    list_keys,
    remember_run_dir,
    report_error,
    report_unexpected,
)
from ..data import dataset as dataset_module
from ..data.sources import describe_scaling, load_source, original_source
from ..errors import OutputError, Phase4AError
from ..evaluate import plots
from ..io import atomic_path, save_figure, write_json
from ..lock import run_dir_lock
from ..paths import backbone_store, default_run_dir
from ..provenance import record_step
from ..seeding import prepare_runtime
from ..settings import sections
from ..stages import ARTEFACTS, BACKUP_DIR, MANIFEST, STAGES, TENSORBOARD_DIR, RunDir


def setup(config: dict[str, Any], run: RunDir) -> dict[str, Any]:
    """Load, validate and scale the data; write config, data, summary and sample figure."""
    run_config = sections(config)
    raw = load_source(run_config.data, run_config.train.seed)
    dataset_module.validate(raw)
    reused = config["data_source"] == "npz"  # an earlier step 01's data.npz: scaled already, never twice
    scale, offset = (1.0, 0.0) if reused else (config["reflectance_scale"], config["reflectance_offset"])
    scaled, decision = dataset_module.normalise(raw, scale, offset)
    summary = dataset_module.summarise(raw, scaled, decision)
    config_module.save(run.path("config"), config)
    if reused:  # copied, not saved again: npz zips hold timestamps, and the copy must hash the same
        with atomic_path(run.path("data")) as tmp:
            shutil.copyfile(config["data_npz"], tmp)
    else:
        dataset_module.save(run.path("data"), scaled)
    write_json(run.path("data_summary"), summary)
    save_figure(run.path("sample_patches"), plots.sample_patches(scaled, seed=config["seed"]))
    return summary


def check_overwrite(run: RunDir, config: dict[str, Any], overwrite: bool) -> bool:
    """True when the run directory holds a run of another config; refuse that unless --overwrite."""
    path = run.path("config")
    if not path.is_file():
        return False
    try:
        previous = config_module.load(path)
    except Phase4AError:
        previous = {}
    if config_module.config_hash(previous) == config_module.config_hash(config):
        return False
    if not overwrite:
        raise OutputError(
            f"{run.root} holds a run with a different config; pass --overwrite to replace it, "
            "or --run-dir NEW_DIR to keep both"
        )
    return True


def clear_downstream(run: RunDir) -> None:
    """Remove what steps 02-05 wrote for the previous config, so nothing stale is mistaken for current."""
    for stage in list(STAGES)[1:]:
        for artefact in STAGES[stage].writes:
            run.path(artefact).unlink(missing_ok=True)
    shutil.rmtree(run.root / BACKUP_DIR, ignore_errors=True)
    shutil.rmtree(run.root / TENSORBOARD_DIR, ignore_errors=True)
    (run.root / MANIFEST).unlink(missing_ok=True)


def print_summary(run: RunDir, config: dict[str, Any], summary: dict[str, Any]) -> None:
    print(f"config: preset {config['preset']!r}, hash {config_module.config_hash(config)}")
    print(f"data source: {config['data_source']}; patches {tuple(summary['patch_shape'])}")
    for split, entry in summary["splits"].items():
        counts = ", ".join(f"{name} {count}" for name, count in entry["class_counts"].items())
        print(f"  {split}: {entry['samples']} patches ({counts})")
    print(f"  reflectance {describe_scaling(summary)}")
    if "warning" in summary["scaling"]:
        print(f"warning: {summary['scaling']['warning']}")
    source = summary["source"]
    if config["data_source"] == "npz":
        origin = original_source(source)
        print(f"  {ARTEFACTS['data']} copied from {source['path']}" + (f" (made from {origin} data)" if origin else ""))
    if config["data_source"] == "mock" or original_source(source) == "mock":
        print("note: mock data is synthetic; its numbers validate the code, not the science")
    if "polygons_used" in source:
        print(f"  {source['polygons_used']} of {source['polygons_total']} polygons gave patches")
    if source.get("source") == "eurosat":
        unit = "tile quadrant" if source.get("groups") == "quadrant" else "tile"
        print(f"  {len(source['tiles'])} EuroSAT-MS tiles, split by {unit}; {source['processing_level']}")
    if source.get("source") == "eolearn":
        from ..data.eolearn import describe  # here: it imports rasterio, which other sources do not need

        print(f"  {describe(source)}")
    layers = (source.get("auxiliary") or {}).get("layers") or []
    if layers:
        print(f"  auxiliary layers after the bands: {', '.join(describe_layer(layer) for layer in layers)}")
    for reason, count in source.get("skipped", {}).items():
        if count:
            print(f"  skipped {count}: {reason}")
    if "leakage_warning" in source:
        print(f"warning: {source['leakage_warning']}")
    print(f"wrote {', '.join(ARTEFACTS[key] for key in STAGES['setup'].writes)} to {run.root}")


def describe_layer(layer: dict[str, Any] | str) -> str:
    """A layer's name, with the share of the grid it had no data on where the source measured it."""
    if isinstance(layer, str):
        return layer
    nodata = layer.get("nodata_fraction")
    return layer["name"] + (f" ({100 * nodata:.1f}% of the grid nodata)" if nodata else "")


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="report", help="named configuration (default: report)")
    parser.add_argument("--run-dir", type=Path, help="output directory (default: phase4a_outputs/mock or /real)")
    parser.add_argument("--overwrite", action="store_true", help="replace a run of another config in --run-dir")
    parser.add_argument("--list-presets", action="store_true", help="print the presets and exit")
    add_list_keys_option(parser)
    args, rest = parser.parse_known_args(argv)
    if args.list_presets:
        print(config_module.describe_presets())
        return 0
    if args.list_keys:
        print(list_keys(args.list_keys))
        return 0

    try:
        started = time.perf_counter()
        config = config_module.resolve(args.preset, config_module.parse_overrides(rest))
        run = RunDir(args.run_dir or default_run_dir(config["data_source"]))
        backbone_store(run.root, config)  # step 02 writes there: refuse a data folder before any file is made
        with run_dir_lock(run.root):
            replacing = check_overwrite(run, config, args.overwrite)
            prepare_runtime(config, STAGES["setup"].uses_tensorflow)
            ready = time.perf_counter()
            summary = setup(config, run.for_stage("setup"))
            if replacing:
                clear_downstream(run)
            remember_run_dir(run.root)
            seconds = {"startup": round(ready - started, 3), "work": round(time.perf_counter() - ready, 3)}
            command = [STAGES["setup"].script, *args.command_args]
            record_step(run, "setup", config_module.config_hash(config), seconds, command=command)
    except Phase4AError as error:
        return report_error(error)
    except Exception as error:
        return report_unexpected(error, STAGES["setup"].script)
    print_summary(run, config, summary)
    return 0


if __name__ == "__main__":
    exit_step(main())
