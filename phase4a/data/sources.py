"""Load the dataset named by the config's ``data_source``."""

from __future__ import annotations

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
        from .week3 import load_week3_dir

        return load_week3_dir(config["data_dir"], config["class_names"], config["band_names"])
    raise AssertionError(f"unhandled data_source {source!r}")  # config.validate guards the choices
