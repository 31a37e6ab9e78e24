"""Load the dataset named by the config's ``data_source``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .dataset import Dataset


def load_source(config: dict[str, Any]) -> Dataset:
    source = config["data_source"]
    if source == "mock":
        from .mock import generate_mock_dataset

        return generate_mock_dataset(
            train_size=config["mock_train_size"],
            val_counts=config["mock_val_counts"],
            class_names=config["class_names"],
            band_names=config["band_names"],
            patch_size=config["patch_size"],
            seed=config["seed"],
        )
    if source == "week3":
        from .splits import leakage_warning
        from .week3 import load_week3_dir

        dataset = load_week3_dir(config["data_dir"], config["class_names"], config["band_names"])
        warning = leakage_warning(dataset.groups_train, dataset.groups_val)
        if warning:
            dataset.notes["leakage_warning"] = warning
        return dataset
    if source == "earth_engine" and not Path(config["raster_path"]).exists():
        from .earth_engine import export_composite

        export_composite(
            config["polygons_path"],
            config["raster_path"],
            project=config["ee_project"] or None,
            collection=config["ee_collection"],
            start=config["ee_start"],
            end=config["ee_end"],
            bands=config["band_names"],
            cloud_mask=config["ee_cloud_mask"],
            scale=config["ee_scale"],
        )
    from .raster_patches import load_raster_dataset

    dataset = load_raster_dataset(
        config["raster_path"],
        config["polygons_path"],
        config["label_column"],
        config["class_names"],
        patch_size=config["patch_size"],
        max_patches_per_polygon=config["max_patches_per_polygon"],
        bands=config["raster_bands"] or config["band_names"],
        band_names_in_file=config["raster_band_names"] or None,
        id_column=config["id_column"] or None,
        val_fraction=config["val_fraction"],
        seed=config["seed"],
    )
    # Bands picked by index from a file without descriptions get placeholder names; use the configured ones.
    if all(name.startswith("band") for name in dataset.band_names) and len(config["band_names"]) == len(
        dataset.band_names
    ):
        dataset.band_names = list(config["band_names"])
    return dataset
