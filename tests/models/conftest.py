"""Small backbones (32x32, random weights), built once per session, and configs for them."""

from __future__ import annotations

import numpy as np
import pytest

from phase4a import config as config_module

PATCH_SHAPE = (8, 8, 6)
N_CLASSES = 5


def make_config(preset: str = "report", **overrides) -> dict:
    return config_module.resolve(preset, {"weights": "none", "jit_compile": False, **overrides})


@pytest.fixture(scope="session")
def backbone_cache():
    """name -> a 32x32x3 backbone with random weights; shared, so tests must not change its freezing."""
    import keras

    from phase4a.models.backbones import build_architecture

    cache: dict = {}

    def get(name: str):
        if name not in cache:
            keras.utils.set_random_seed(0)
            cache[name] = build_architecture(name, (32, 32, 3))
        return cache[name]

    return get


@pytest.fixture
def patches():
    rng = np.random.default_rng(0)
    return rng.uniform(0, 0.4, size=(8, *PATCH_SHAPE)).astype("float32"), np.arange(8) % N_CLASSES
