"""Every backbone x band adapter builds with the right shapes; the report's model is unchanged."""

from __future__ import annotations

import numpy as np
import pytest

from phase4a.models.adapters import BAND_ADAPTERS
from phase4a.models.backbones import BACKBONES
from phase4a.models.simple_cnn import build_simple_cnn
from phase4a.models.transfer import backbone_input_side, build_model, find_backbone
from phase4a.settings import sections

from ..conftest import N_CLASSES, PATCH_SHAPE, make_config, model_parts, untrained_model_of

ADAPTERS = [*BAND_ADAPTERS, "first_conv"]


@pytest.mark.parametrize("backbone", list(BACKBONES))
def test_every_backbone_with_every_adapter(backbone, backbone_cache, patches):
    for adapter in ADAPTERS:
        config = make_config(backbone=backbone, band_adapter=adapter, input_normalisation="imagenet")
        model = build_model(*model_parts(config), backbone_cache(backbone), PATCH_SHAPE, N_CLASSES)
        assert model.input_shape == (None, *PATCH_SHAPE)
        assert model.output_shape == (None, N_CLASSES)
        inner = find_backbone(model)
        assert inner.input_shape[-1] == (6 if adapter == "first_conv" else 3)
        probabilities = np.asarray(model(patches[0][:2]))
        assert np.allclose(probabilities.sum(axis=1), 1, atol=1e-5)


def test_report_model_is_the_reports(backbone_cache):
    model = build_model(*model_parts(make_config()), backbone_cache("resnet50"), PATCH_SHAPE, N_CLASSES)
    names = [layer.name for layer in model.layers]
    assert names == ["patches", "upsample", "band_reduction", "resnet50", "global_pool", "head_dense",
                     "head_dropout", "predictions"]  # fmt: skip
    assert find_backbone(model).input_shape == (None, 32, 32, 3)


@pytest.mark.parametrize(("overrides", "side"), [({"input_size": 64}, 64), ({"upsample_factor": 8}, 64)])
def test_input_size_or_upsample_factor(overrides, side):
    assert backbone_input_side(sections(make_config(**overrides)).model, 8) == side
    assert backbone_input_side(sections(make_config(upsample_factor=1)).model, 32) == 32  # larger patches used directly


def test_larger_patches_need_no_upsampling(backbone_cache):
    model = build_model(*model_parts(make_config(upsample_factor=1)), backbone_cache("vgg16"), (32, 32, 6), N_CLASSES)
    assert "upsample" not in [layer.name for layer in model.layers]


def test_simple_cnn_has_about_54k_parameters():
    """53,605 weights, as the report's "about 54K"; standardised (the default) it adds its Normalization
    layer's 13 statistics (6 means, 6 variances, a count), none of them trained."""
    assert build_simple_cnn(PATCH_SHAPE, N_CLASSES).count_params() == 53_605
    standardised = build_model(*model_parts(make_config("simplecnn")), None, PATCH_SHAPE, N_CLASSES)
    assert standardised.count_params() == 53_618

    def trained(model):
        return sum(int(np.prod(weight.shape)) for weight in model.trainable_weights)

    assert trained(standardised) == trained(build_simple_cnn(PATCH_SHAPE, N_CLASSES))


# --- step 03's model, stored as what it adds to step 02's backbone file ---------------------------------


def test_step_03s_model_is_rebuilt_whole_from_the_config_and_both_files(prepared_run):
    """The report's model: the backbone's weights from step 02's file, the head's from step 03's (an
    npz of a small share of the bytes), and the report's frozen layers."""
    model = untrained_model_of(prepared_run)
    backbone = find_backbone(model)
    assert [layer.trainable for layer in backbone.layers[1:]] == [False] * 149 + [True] * 25
    with np.load(prepared_run / "model_untrained.weights.npz") as stored:
        positions = stored["positions"].tolist()
        head = [stored[f"w{i}"] for i in range(len(positions))]
    weights = model.weights
    assert positions and all(np.array_equal(weights[p].numpy(), array) for p, array in zip(positions, head))
    assert len(positions) == len(weights) - len(backbone.weights)
    again = untrained_model_of(prepared_run)
    for a, b in zip(model.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda arrays: {**arrays, "positions": arrays["positions"][:-1]}, id="another-model"),
        pytest.param(
            lambda arrays: {**arrays, "backbone_fingerprint": arrays["backbone_fingerprint"] + 1},
            id="other-backbone-weights",
        ),
    ],
)
def test_an_untrained_weights_file_of_another_model_is_refused_in_one_line(change, prepared_run, copy_run):
    from phase4a.errors import DataError

    run = copy_run(prepared_run)
    with np.load(run / "model_untrained.weights.npz") as stored:
        arrays = dict(stored)
    np.savez(run / "model_untrained.weights.npz", **change(arrays))
    with pytest.raises(DataError, match="written for another config or backbone; re-run phase4a_02"):
        untrained_model_of(run)
