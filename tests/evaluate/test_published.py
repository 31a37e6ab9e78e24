"""The Week 3 baseline: week3_metrics.json when present, else the report's published figures."""

import json

import pytest

from phase4a.errors import DataError
from phase4a.evaluate.published import PUBLISHED_BASELINE, load_baseline


def test_published_figures_without_a_metrics_file(tmp_path):
    assert load_baseline({"data_dir": ""})["accuracy"] == 0.8667
    assert load_baseline({"data_dir": str(tmp_path)}) == PUBLISHED_BASELINE


def test_week3_metrics_file_replaces_the_published_figures(tmp_path):
    (tmp_path / "week3_metrics.json").write_text(json.dumps({"accuracy": 0.8, "per_class_f1": {"Forest": 0.9}}))
    baseline = load_baseline({"data_dir": str(tmp_path)})
    assert baseline["accuracy"] == 0.8
    assert baseline["per_class_f1"] == {"Forest": 0.9}
    assert baseline["source"].endswith("week3_metrics.json")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"acc": 0.8}', "is not a baseline file"),
        ('{"accuracy": 86.67}', "as a fraction"),
        ("[1, 2]", "not a baseline"),
        ('{"accuracy": ', "not a baseline"),
    ],
)
def test_a_bad_metrics_file_is_rejected(tmp_path, content, message):
    (tmp_path / "week3_metrics.json").write_text(content)
    with pytest.raises(DataError, match=message):
        load_baseline({"data_dir": str(tmp_path)})
