"""tf.distribute strategy selection and the global batch (phase4a/train/distribute.py); training under
the mirrored strategy runs in tests/train/test_fit.py (a fresh process)."""

from __future__ import annotations

import pytest

from phase4a.train import distribute

from ..conftest import make_config


def test_default_strategy_has_one_replica_and_the_global_batch_is_the_batch():
    strategy = distribute.make_strategy("default")
    info = distribute.describe(make_config(batch_size=16), strategy)
    assert info["replicas"] == 1 and info["global_batch_size"] == info["per_replica_batch_size"] == 16
    with pytest.raises(ValueError, match="unknown distribution_strategy"):
        distribute.make_strategy("parameter_server")


def test_the_global_batch_is_the_batch_times_the_replicas():
    class FourReplicas:
        num_replicas_in_sync = 4

    info = distribute.describe(make_config(batch_size=8, distribution_strategy="mirrored"), FourReplicas())
    assert info["global_batch_size"] == 32 and info["replicas"] == 4
    assert info["distribution_strategy"] == "mirrored" and info["strategy_class"] == "FourReplicas"
