"""The map's files: COG with mode overviews, colour table and class names, areas, preview with a scale bar."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.crs import CRS as RasterioCRS

from phase4a.mapping.classify import CLASS_NODATA
from phase4a.mapping.outputs import (
    area_csv,
    area_rows,
    class_tags,
    colour_table,
    length_label,
    nice_length,
    overview_count,
    pixel_area_m2,
    preview_figure,
    work_profile,
    write_cog,
)

from .conftest import CLASSES, CRS, transform


def test_scale_bar_lengths_are_round_and_labelled_in_m_or_km():
    assert [nice_length(x) for x in (0.9, 3, 7.5, 420, 999, 25_000)] == [0.5, 2, 5, 200, 500, 20_000]
    assert [length_label(m) for m in (500, 2000, 1500)] == ["500 m", "2 km", "1.5 km"]


def test_pixel_area_comes_from_the_crs_units():
    assert pixel_area_m2(transform(), RasterioCRS.from_string(CRS)) == pytest.approx(100.0)
    feet = RasterioCRS.from_epsg(2263)  # NAD83 / New York Long Island (ftUS)
    assert pixel_area_m2(Affine(10, 0, 0, 0, -10, 0), feet) == pytest.approx(100 * 0.3048006**2, rel=1e-6)


def test_the_area_table_gives_hectares_and_shares_of_the_mapped_pixels():
    rows = area_rows(np.array([300, 100, 0, 0, 600]), CLASSES, pixel_area=100.0)
    assert [row["area_ha"] for row in rows] == [3.0, 1.0, 0.0, 0.0, 6.0]
    assert sum(row["share"] for row in rows) == pytest.approx(1.0)
    assert area_csv(rows).splitlines()[:2] == ["class,pixels,area_ha,share", "Agriculture,300,3.0000,0.300000"]


def test_the_colour_table_makes_nodata_transparent_and_the_tags_name_the_classes():
    table = colour_table(CLASSES)
    assert table[CLASS_NODATA] == (0, 0, 0, 0)
    assert len({table[i] for i in range(len(CLASSES))}) == len(CLASSES)
    assert class_tags(CLASSES)["CLASS_4"] == "Water"
    assert colour_table(["Snow"])[0][3] == 255  # a class without a conventional colour still gets one


def write_block_map(path, classes: np.ndarray) -> None:
    profile = work_profile(*classes.shape, CRS, transform(), "uint8", CLASS_NODATA)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(classes, 1)
        dst.write_colormap(1, colour_table(CLASSES))
        dst.update_tags(**class_tags(CLASSES))


@pytest.fixture
def block_map(tmp_path):
    """A 64 x 48 map of 8 x 8 blocks of seeded classes, one block nodata."""
    blocks = np.random.default_rng(0).integers(0, len(CLASSES), size=(8, 6)).astype(np.uint8)
    blocks[2, 3] = CLASS_NODATA
    work = tmp_path / "work.tif"
    write_block_map(work, np.kron(blocks, np.ones((8, 8), dtype=np.uint8)))
    cog = tmp_path / "map.tif"
    write_cog(work, cog, "MODE")
    return cog, blocks


def test_the_cog_keeps_grid_colours_and_tags_and_its_overviews_keep_classes(block_map):
    cog, blocks = block_map
    with rasterio.open(cog) as src:
        assert src.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        assert src.crs == RasterioCRS.from_string(CRS) and src.transform == transform()
        assert src.nodata == CLASS_NODATA and src.dtypes == ("uint8",)
        assert src.colormap(1)[CLASS_NODATA] == (0, 0, 0, 0)
        assert src.tags()["CLASS_0"] == CLASSES[0]
        assert src.overviews(1) == [2]
    with rasterio.open(cog, overview_level=0) as overview:  # mode of 2 x 2 pixels inside one block: the block's class
        np.testing.assert_array_equal(overview.read(1), np.kron(blocks, np.ones((4, 4), dtype=np.uint8)))


def test_overviews_halve_the_map_down_to_a_small_side():
    assert overview_count(48, 40) == 1
    assert overview_count(10_980, 10_980) == 6  # 10980 / 64 = 172 pixels


def test_the_preview_has_a_legend_with_shares_and_a_scale_bar(block_map):
    cog, _ = block_map
    figure = preview_figure(cog, CLASSES, [0.2] * 5, "test map")
    texts = [text.get_text() for text in figure.axes[0].texts]
    legend = [text.get_text() for text in figure.axes[0].get_legend().get_texts()]
    assert texts == ["100 m"]  # a quarter of the 480 m width, rounded down to 1, 2 or 5 x 10^k
    assert legend == [f"{name} (20.0%)" for name in CLASSES] + ["no data / edge"]
    plt.close(figure)
