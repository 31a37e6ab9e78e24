"""Figures: sample patches, confusion matrix, training curves. Each returns a matplotlib Figure."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # files only; no display on servers and CI

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import seaborn as sns  # noqa: E402

from ..config import TRUE_COLOUR  # noqa: E402
from ..data.dataset import Dataset, band_index  # noqa: E402

FALSE_COLOUR = ("B8", "B4", "B3")  # NIR-red-green: vegetation shows red


def _composite(patch: np.ndarray, bands: list[int], low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Stretch three bands between per-band percentiles shared by every patch, so classes compare."""
    rgb = (patch[..., bands] - low) / np.maximum(high - low, 1e-6)
    return np.clip(rgb, 0, 1)


def sample_patches(dataset: Dataset, per_class: int = 3, seed: int = 0):
    """For each class, a few training patches in true colour and in false colour (NIR-R-G)."""
    rng = np.random.default_rng(seed)
    composites = []
    for name, bands in (("true colour", TRUE_COLOUR), ("false colour NIR-R-G", FALSE_COLOUR)):
        indexes = [band_index(dataset.band_names, band) for band in bands]
        low, high = np.percentile(dataset.X_train[..., indexes], [2, 98], axis=(0, 1, 2))
        composites.append((name, indexes, low, high))
    n_classes = len(dataset.class_names)
    columns = per_class * len(composites)
    figure, axes = plt.subplots(n_classes, columns, figsize=(1.4 * columns, 1.5 * n_classes), squeeze=False)
    for row, class_name in enumerate(dataset.class_names):
        members = np.flatnonzero(dataset.y_train == row)
        chosen = rng.choice(members, size=min(per_class, len(members)), replace=False)
        for block, (title, indexes, low, high) in enumerate(composites):
            for slot in range(per_class):
                axis = axes[row, block * per_class + slot]
                axis.set_xticks([])
                axis.set_yticks([])
                if slot < len(chosen):
                    axis.imshow(_composite(dataset.X_train[chosen[slot]], indexes, low, high), interpolation="nearest")
                if row == 0 and slot == 0:
                    axis.set_title(title, fontsize=8, loc="left")
            if block == 0:
                axes[row, 0].set_ylabel(class_name, fontsize=8)
    figure.suptitle("Sample training patches per class", fontsize=10)
    return figure


def confusion_matrix(matrix: np.ndarray, class_names: list[str], title: str):
    figure, axis = plt.subplots(figsize=(5.5, 4.5))
    sns.heatmap(matrix, annot=True, fmt="d", cmap="Blues", xticklabels=class_names, yticklabels=class_names, ax=axis)
    axis.set_xlabel("Predicted")
    axis.set_ylabel("Actual")
    axis.set_title(title)
    return figure


def training_curves(epochs: list[dict]):
    """Loss, accuracy and learning rate per epoch, train and validation side by side."""
    numbers = [entry["epoch"] for entry in epochs]
    figure, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for axis, metric, label in ((axes[0], "loss", "Loss"), (axes[1], "accuracy", "Accuracy")):
        axis.plot(numbers, [entry.get(metric) for entry in epochs], marker="o", label="train")
        axis.plot(numbers, [entry.get(f"val_{metric}") for entry in epochs], marker="o", label="validation")
        axis.set_xlabel("epoch")
        axis.set_title(label)
        axis.legend()
    axes[2].plot(numbers, [entry.get("learning_rate") for entry in epochs], marker="o")
    axes[2].set_yscale("log")
    axes[2].set_xlabel("epoch")
    axes[2].set_title("Learning rate")
    figure.tight_layout()
    return figure
