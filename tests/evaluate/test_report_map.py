"""The report shows step 06's map for the sources step 06 maps, and says nothing of a map otherwise."""

from __future__ import annotations

import pytest

from phase4a.evaluate.report import map_section


@pytest.mark.parametrize("source", ["mock", "raster", "earth_engine"])
def test_mapped_sources_get_the_map_section(source):
    text = "\n".join(map_section({"config": {"data_source": source}}))
    assert "![Land-cover map](land_cover_map.png)" in text
    assert "phase4a_06_predict_map.py" in text and "land_cover_areas.csv" in text
    assert ("synthetic mock scene" in text) == (source == "mock")


@pytest.mark.parametrize("source", ["week3", "npz", "eurosat"])
def test_sources_without_a_scene_get_no_map_section(source):
    assert map_section({"config": {"data_source": source}}) == []
