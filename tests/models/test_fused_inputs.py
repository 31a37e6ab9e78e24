"""Phase 4B: models take Sentinel-2 bands plus auxiliary layers. The SimpleCNN takes any number of bands
and standardises each on the training split (elevation included); the transfer model takes them through
its band adapter; a band the adapter needs, or a band count that does not match, is a one-line error."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from phase4a.data.mock_auxiliary import MOCK_LAYERS
from phase4a.errors import ConfigError, DataError
from phase4a.models.backbones import BACKBONES
from phase4a.models.normalisation import STANDARDISE_LAYER, adapt_normalisation
from phase4a.models.transfer import build_model, find_backbone

from ..conftest import make_config, model_parts

BANDS = 6 + len(MOCK_LAYERS)
SHAPE = (8, 8, BANDS)


def fused_patches(n: int = 40) -> np.ndarray:
    """Reflectance-like bands (0-0.4) then layers on other scales: NDVI, elevation in km, slope / 90..."""
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 0.4, size=(n, *SHAPE))
    X[..., 6] = rng.uniform(-0.1, 0.9, size=(n, 8, 8))  # ndvi_modis
    X[..., 7] = rng.normal(0.4, 0.08, size=(n, 8, 8))  # elevation, km
    X[..., 8] = rng.uniform(0, 0.35, size=(n, 8, 8))  # slope / 90
    return X.astype("float32")


@pytest.mark.parametrize("bands", [8, BANDS, 20])
def test_the_simplecnn_takes_any_number_of_bands(bands):
    model = build_model(*model_parts(make_config("simplecnn")), None, (8, 8, bands), 5)
    assert model.input_shape[1:] == (8, 8, bands) and model.output_shape == (None, 5)


def test_every_band_and_layer_is_standardised_on_the_training_split():
    config = make_config("simplecnn", mock_aux_layers="true")
    model = build_model(*model_parts(config), None, SHAPE, 5)
    X = fused_patches()
    record = adapt_normalisation(model, X, *model_parts(config))
    assert len(record["band_mean"]) == BANDS
    standardised = keras.Model(model.inputs[0], model.get_layer(STANDARDISE_LAYER).output)(X)
    values = np.asarray(standardised).reshape(-1, BANDS)
    np.testing.assert_allclose(values.mean(axis=0), 0, atol=1e-4)
    np.testing.assert_allclose(values.std(axis=0), 1, atol=1e-3)


@pytest.mark.parametrize("adapter", ["conv1x1", "rgb", "first_conv"])
def test_the_transfer_model_takes_the_layers_through_each_adapter(adapter, backbone_cache):
    config = make_config(mock_aux_layers="true", band_adapter=adapter, backbone="mobilenetv2")
    model = build_model(*model_parts(config), backbone_cache("mobilenetv2"), SHAPE, 5)
    assert model.get_layer(STANDARDISE_LAYER) is not None  # auto: standardised, since there are layers
    assert np.asarray(model(fused_patches(2))).shape == (2, 5)
    if adapter == "first_conv":
        conv = find_backbone(model).get_layer(BACKBONES["mobilenetv2"].first_conv)
        assert conv.kernel.shape[2] == BANDS


def test_an_adapter_lacking_a_true_colour_band_names_it():
    with pytest.raises(ConfigError, match=r"lacks B4; the rgb and first_conv adapters need B4, B3 and B2"):
        make_config(mock_aux_layers="true", band_adapter="first_conv", band_names="B2,B3,B8,B11,B12")


def test_patches_with_more_bands_than_the_config_names_are_a_one_line_error(backbone_cache):
    config = make_config(band_adapter="first_conv", backbone="mobilenetv2")  # six bands, no layers
    with pytest.raises(DataError, match=r"the patches have 12 bands but the config names 6") as error:
        build_model(*model_parts(config), backbone_cache("mobilenetv2"), SHAPE, 5)
    assert "\n" not in str(error.value)
