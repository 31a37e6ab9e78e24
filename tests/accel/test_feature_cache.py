"""Where a model is cut for cached features (phase4a/accel/feature_cache.py); the training on them is
tested in tests/train/test_fit.py."""

from __future__ import annotations

import numpy as np

from phase4a.accel import feature_cache

from ..conftest import tiny_transfer_model


def test_cache_plan_needs_everything_up_to_the_backbone_frozen():
    assert feature_cache.plan_cache(tiny_transfer_model(adapter_trainable=True)) is None
    assert feature_cache.plan_cache(tiny_transfer_model(backbone_trainable=True)) is None
    assert feature_cache.plan_cache(tiny_transfer_model(random_front=True)) is None
    plan = feature_cache.plan_cache(tiny_transfer_model())
    assert plan is not None and plan.backbone == "tiny_backbone"
    assert plan.frozen_layers[-1] == "global_pool"  # weight-free layers after the backbone join the cut
    assert plan.head_layers == ["head_dense", "head_dropout", "predictions"]


def test_split_model_is_the_same_function_over_the_same_layers():
    model = tiny_transfer_model()
    plan = feature_cache.plan_cache(model)
    extractor, head = feature_cache.split_model(model, plan)
    assert {id(layer) for layer in head.layers} <= {id(layer) for layer in model.layers}
    x = np.random.default_rng(0).random((5, 4, 4, 2), dtype=np.float32)
    features = feature_cache.compute_features(extractor, x, batch_size=2)
    assert features.shape == (5, 4)
    np.testing.assert_allclose(head.predict(features, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
