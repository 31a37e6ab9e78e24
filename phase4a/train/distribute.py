"""``tf.distribute`` strategy selection from the config, and the global batch it implies.

``distribution_strategy`` in the config:

- ``default``: TensorFlow's default strategy (one device; no replication). What the report ran.
- ``mirrored``: ``tf.distribute.MirroredStrategy`` over every visible GPU (or, on a CPU-only machine,
  every logical CPU device; tests create two with ``tf.config.set_logical_device_configuration``).
- ``multi_worker``: ``tf.distribute.MultiWorkerMirroredStrategy``; the cluster comes from the
  ``TF_CONFIG`` environment variable on each machine (without it, one worker on this machine).

Each replica gets ``batch_size`` samples, so the global batch is ``batch_size x replicas``; the
learning rate is left as configured (scale it yourself with ``--learning_rate`` if you want).
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from ..io import read_json, write_json
from ..stages import MANIFEST

STRATEGIES = ("default", "mirrored", "multi_worker")


def make_strategy(name: str):
    """The ``tf.distribute`` strategy called ``name`` (one of ``STRATEGIES``)."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
        # On CPUs the NCCL all-reduce is unavailable; the hierarchical-copy reduction works everywhere.
        cross = None if gpus else tf.distribute.HierarchicalCopyAllReduce()
        return tf.distribute.MirroredStrategy(devices=devices, cross_device_ops=cross)
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"unknown distribution_strategy {name!r}; one of: {', '.join(STRATEGIES)}")


def global_batch_size(config: dict[str, Any], strategy) -> int:
    return int(config["batch_size"]) * int(strategy.num_replicas_in_sync)


def describe(config: dict[str, Any], strategy) -> dict[str, Any]:
    """What training records about the strategy (training history and run manifest)."""
    return {
        "distribution_strategy": config.get("distribution_strategy", "default"),
        "strategy_class": type(strategy).__name__,
        "replicas": int(strategy.num_replicas_in_sync),
        "per_replica_batch_size": int(config["batch_size"]),
        "global_batch_size": global_batch_size(config, strategy),
    }


def record_in_manifest(run, info: dict[str, Any]) -> None:
    """Put the strategy and global batch in run_manifest.json (the step entry is added afterwards)."""
    path = run.root / MANIFEST
    manifest = read_json(path) if path.is_file() else {}
    manifest["training"] = info
    write_json(path, manifest)
