"""Small backbones (32x32, random weights), built once per session."""

from __future__ import annotations

import pytest


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
