"""The mock generator: shapes, class balance, determinism, spectral behaviour, separability."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from phase4a.config import REPORT_BAND_NAMES, REPORT_CLASS_NAMES
from phase4a.data.mock import generate_mock_dataset, proportional_counts
from phase4a.errors import ConfigError


@pytest.fixture(scope="module")
def mock():
    return generate_mock_dataset(300, [10, 21, 19, 8, 17], REPORT_CLASS_NAMES, REPORT_BAND_NAMES, 8, seed=42)


def test_shapes_and_class_balance_follow_the_report(mock):
    assert mock.X_train.shape == (300, 8, 8, 6)
    assert mock.X_val.shape == (75, 8, 8, 6)
    assert np.bincount(mock.y_val).tolist() == [10, 21, 19, 8, 17]
    assert np.bincount(mock.y_train).tolist() == [40, 84, 76, 32, 68]


def test_values_are_stored_like_sentinel2_products(mock):
    assert mock.X_train.dtype == np.uint16
    assert 1000 < np.percentile(mock.X_train, 99) < 10000


def test_same_seed_same_data_other_seed_other_data(mock):
    again = generate_mock_dataset(300, [10, 21, 19, 8, 17], REPORT_CLASS_NAMES, REPORT_BAND_NAMES, 8, seed=42)
    other = generate_mock_dataset(300, [10, 21, 19, 8, 17], REPORT_CLASS_NAMES, REPORT_BAND_NAMES, 8, seed=43)
    np.testing.assert_array_equal(mock.X_train, again.X_train)
    assert not np.array_equal(mock.X_train, other.X_train)


def class_mean(mock, name):
    return mock.X_train[mock.y_train == REPORT_CLASS_NAMES.index(name)].mean(axis=(0, 1, 2)) / 10000


def test_class_spectra_behave_like_real_land_cover(mock):
    b2, b3, b4, b8, b11, b12 = range(6)
    water, forest, urban = class_mean(mock, "Water"), class_mean(mock, "Forest"), class_mean(mock, "Urban")
    assert water[b8] < 0.05 and water[b11] < 0.03  # water absorbs NIR and SWIR
    assert forest[b8] > 5 * forest[b4]  # bright NIR, dark red
    assert urban.max() / urban.min() < 2.5  # bright and flat across bands
    agriculture, parcels = class_mean(mock, "Agriculture"), class_mean(mock, "Parcels")
    assert np.abs(agriculture - parcels).max() < 0.06  # the two hard-to-separate classes


def test_a_simple_classifier_learns_it_well_but_not_perfectly(mock):
    features = lambda X: X.mean(axis=(1, 2)) / 10000  # noqa: E731
    model = LogisticRegression(max_iter=5000, C=100).fit(features(mock.X_train), mock.y_train)
    accuracy = model.score(features(mock.X_val), mock.y_val)
    assert 0.75 <= accuracy < 1.0


def test_proportional_counts_sum_and_keep_every_class():
    assert sum(proportional_counts(300, [10, 21, 19, 8, 17])) == 300
    assert min(proportional_counts(6, [100, 1, 1, 1, 1])) >= 1


def test_unknown_class_names_are_rejected():
    with pytest.raises(ConfigError, match="no signature for class Wetland"):
        generate_mock_dataset(
            50, [1, 1, 1, 1, 1], ["Agriculture", "Forest", "Parcels", "Urban", "Wetland"], REPORT_BAND_NAMES, 8, seed=0
        )
