"""Step 01 on each real-data source: raster + polygons, the real EuroSAT tiles, Earth Engine offline."""

import json

import numpy as np
import rasterio
from shapely.geometry import box

from phase4a.data.raster_patches import EUROSAT_BAND_NAMES
from phase4a.steps import setup_config

from .conftest import write_polygons


def run_step01(tmp_path, *options):
    run_dir = tmp_path / "run"
    code = setup_config.main(["--run-dir", str(run_dir), "--weights", "none", *options])
    return code, run_dir


def test_raster_and_polygons_become_a_split_by_polygon(tmp_path, raster, grid_polygons, capsys):
    code, run_dir = run_step01(
        tmp_path,
        "--data_source",
        "raster",
        "--raster_path",
        str(raster),
        "--polygons_path",
        str(grid_polygons),
        "--label_column",
        "label",
        "--id_column",
        "id",
        "--class_names",
        "Forest,Water",
    )
    assert code == 0, capsys.readouterr().err
    with np.load(run_dir / "data.npz") as data:
        assert data["X_train"].shape[1:] == (8, 8, 6)
        assert not set(data["groups_train"]) & set(data["groups_val"])
        assert list(data["band_names"]) == ["B2", "B3", "B4", "B8", "B11", "B12"]  # B8A is not B8
    summary = json.loads((run_dir / "data_summary.json").read_text())
    assert summary["polygons_in_both_splits"] == 0
    splits = summary["splits"]
    assert splits["train"]["polygons"] + splits["validation"]["polygons"] + splits["test"]["polygons"] == 15
    assert splits["test"]["polygons"] > 0  # --test_fraction 0.2 by default: a split no choice saw
    assert "15 of 15 polygons gave patches" in capsys.readouterr().out


def test_real_eurosat_tile_is_cut_and_scaled_through_step01(tmp_path, eurosat_dir, capsys):
    tile = eurosat_dir / "Forest_20.tif"
    with rasterio.open(tile) as src:
        left, bottom, right, top = src.bounds
        crs = src.crs.to_string()
    # Real pixels, labels made up for the test: eight 16x16 squares, alternating two classes.
    step = (right - left) / 4
    rows = [
        {
            "id": i,
            "label": ("Forest", "Water")[i % 2],
            "geometry": box(
                left + (i % 4) * step, top - (i // 4 + 1) * step, left + (i % 4 + 1) * step, top - (i // 4) * step
            ),
        }
        for i in range(8)
    ]
    polygons = write_polygons(tmp_path / "squares.geojson", rows, crs=crs)
    code, run_dir = run_step01(
        tmp_path,
        "--data_source",
        "raster",
        "--raster_path",
        str(tile),
        "--polygons_path",
        str(polygons),
        "--label_column",
        "label",
        "--class_names",
        "Forest,Water",
        "--raster_band_names",
        ",".join(EUROSAT_BAND_NAMES),
    )
    assert code == 0, capsys.readouterr().err
    summary = json.loads((run_dir / "data_summary.json").read_text())
    assert summary["band_names"] == ["B2", "B3", "B4", "B8", "B11", "B12"]
    assert summary["scaling"]["divisor"] == 10000.0  # Level-1C digital numbers, detected and scaled once
    forest_nir = summary["splits"]["train"]["band_ranges_scaled"]["B8"]["median"]
    forest_red = summary["splits"]["train"]["band_ranges_scaled"]["B4"]["median"]
    assert forest_nir > 2 * forest_red  # a real forest tile: bright NIR, dark red


def test_earth_engine_without_credentials_fails_in_one_line_and_writes_nothing(tmp_path, polygons, monkeypatch, capsys):
    import ee

    def refuse(*args, **kwargs):
        raise ee.EEException("Please authorize access to your Earth Engine account")

    monkeypatch.setattr(ee, "Initialize", refuse)
    monkeypatch.delenv("EARTHENGINE_PROJECT", raising=False)
    code, run_dir = run_step01(
        tmp_path,
        "--data_source",
        "earth_engine",
        "--raster_path",
        str(tmp_path / "composite.tif"),
        "--polygons_path",
        str(polygons),
        "--label_column",
        "label",
        "--ee_project",
        "my-project",
    )
    error = capsys.readouterr().err.strip()
    assert code == 2
    assert error.startswith("error: ") and "\n" not in error and "authenticate" in error
    assert not run_dir.exists() and not (tmp_path / "composite.tif").exists()
