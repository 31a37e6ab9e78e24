"""Step 06's work, predict_map, on a raster of known class blocks with a model that classifies them exactly."""

import json

import numpy as np
import pandas as pd
import pytest
import rasterio

from phase4a.data.mock_scene import MOCK_POLYGONS_FILE, MOCK_SCENE_FILE
from phase4a.errors import ConfigError, DataError, MissingInputError
from phase4a.mapping.agreement import TRAINING_POLYGON
from phase4a.mapping.classify import CLASS_NODATA
from phase4a.mapping.outputs import AGREEMENT_FILE, AREAS_FILE, CONFIDENCE_FILE, MAP_FILE, PREVIEW_FILE
from phase4a.mapping.windows import WindowGrid
from phase4a.steps.predict_map import main, predict_map

from .conftest import (
    CLASSES,
    FILE_BANDS,
    HEIGHT,
    LAYOUT,
    NODATA_PIXEL,
    WIDTH,
    run_config,
    stored_values,
    truth,
    write_raster,
    write_run,
)

OUTPUTS = [MAP_FILE, CONFIDENCE_FILE, PREVIEW_FILE, AREAS_FILE, AGREEMENT_FILE]
PATCH = 8


def read_map(run) -> np.ndarray:
    with rasterio.open(run.root / MAP_FILE) as src:
        return src.read(1)


def inside_one_block(grid: WindowGrid) -> np.ndarray:
    """(HEIGHT, WIDTH) bool: pixels whose labelling window lies wholly inside one class block."""
    classes = truth()
    inside = np.zeros(classes.shape, dtype=bool)
    for row in range(HEIGHT):
        for col in range(WIDTH):
            r, c = grid.labelling_window(row, HEIGHT), grid.labelling_window(col, WIDTH)
            if r is not None and c is not None:
                window = classes[r * grid.stride : r * grid.stride + PATCH, c * grid.stride : c * grid.stride + PATCH]
                inside[row, col] = (window == window[0, 0]).all()
    return inside


def touches_nodata(grid: WindowGrid) -> np.ndarray:
    """(HEIGHT, WIDTH) bool: pixels whose labelling window holds the nodata pixel."""
    touched = np.zeros((HEIGHT, WIDTH), dtype=bool)
    for row in range(HEIGHT):
        for col in range(WIDTH):
            r, c = grid.labelling_window(row, HEIGHT), grid.labelling_window(col, WIDTH)
            if r is not None and c is not None:
                touched[row, col] = (
                    r * grid.stride <= NODATA_PIXEL[0] < r * grid.stride + PATCH
                    and c * grid.stride <= NODATA_PIXEL[1] < c * grid.stride + PATCH
                )
    return touched


@pytest.mark.parametrize("stride", [PATCH, 1])
def test_the_map_is_the_class_blocks_masked_where_windows_touch_nodata(raster_run, stride):
    summary = predict_map(raster_run, run_config(raster_run), stride=stride)
    classes = read_map(raster_run)
    grid = WindowGrid(HEIGHT, WIDTH, PATCH, stride)
    inside, masked = inside_one_block(grid), touches_nodata(grid)
    assert masked.any() and (inside & ~masked).sum() > 0.25 * classes.size
    np.testing.assert_array_equal(classes[inside & ~masked], truth()[inside & ~masked])
    assert (classes[masked] == CLASS_NODATA).all()
    unlabelled = np.array(
        [
            [grid.labelling_window(r, HEIGHT) is None or grid.labelling_window(c, WIDTH) is None for c in range(WIDTH)]
            for r in range(HEIGHT)
        ]
    )
    assert (classes[unlabelled] == CLASS_NODATA).all()  # the edge strips
    assert summary["counts"].masked == (1 if stride == PATCH else PATCH * PATCH)
    assert summary["counts"].predicted + summary["counts"].masked == grid.windows


def test_the_map_sits_on_the_input_grid_with_its_colours_class_names_and_confidence(raster_run):
    predict_map(raster_run, run_config(raster_run))
    assert sorted(p.name for p in raster_run.root.iterdir() if p.name in OUTPUTS) == sorted(OUTPUTS)
    assert not [p.name for p in raster_run.root.iterdir() if p.name.startswith(".")], "temporary files left"
    with (
        rasterio.open(raster_run.root / MAP_FILE) as src,
        rasterio.open(raster_run.root / CONFIDENCE_FILE) as confidence,
        rasterio.open(run_config(raster_run)["raster_path"]) as scene,
    ):
        assert (src.crs, src.transform, src.shape) == (scene.crs, scene.transform, scene.shape)
        assert src.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG" and src.overviews(1)
        assert [src.tags()[f"CLASS_{i}"] for i in range(len(CLASSES))] == CLASSES
        assert src.tags()["STRIDE"] == str(PATCH) and src.tags()["MAP_KIND"] == "block map"
        assert src.colormap(1)[CLASS_NODATA] == (0, 0, 0, 0)
        assert (confidence.crs, confidence.transform) == (scene.crs, scene.transform)
        assert confidence.dtypes == ("float32",)
        probability, classes = confidence.read(1), src.read(1)
    assert np.isnan(probability[classes == CLASS_NODATA]).all()
    assert (probability[classes != CLASS_NODATA] > 0.99).all()


def test_the_area_table_sums_to_the_mapped_area(raster_run):
    predict_map(raster_run, run_config(raster_run))
    areas = pd.read_csv(raster_run.root / AREAS_FILE)
    classes = read_map(raster_run)
    mapped = int((classes != CLASS_NODATA).sum())
    assert areas["class"].tolist() == CLASSES
    assert areas["pixels"].tolist() == [int((classes == i).sum()) for i in range(len(CLASSES))]
    assert areas["area_ha"].sum() == pytest.approx(mapped * 100 / 10_000)  # 10 m pixels
    assert areas["share"].sum() == pytest.approx(1.0)


def test_agreement_leaves_out_the_training_polygons(raster_run):
    summary = predict_map(raster_run, run_config(raster_run))
    agreement = json.loads((raster_run.root / AGREEMENT_FILE).read_text())
    assert agreement == json.loads(json.dumps(summary["agreement"]))
    blocks = LAYOUT.size
    assert agreement["skipped"] == {TRAINING_POLYGON: LAYOUT.shape[1]}
    assert agreement["polygons"]["evaluated"] == blocks - LAYOUT.shape[1]
    assert agreement["polygons"]["accuracy"] == 1.0
    low, high = agreement["polygons"]["ci95"]
    assert 0.6 < low < 1.0 and high == pytest.approx(1.0)
    # Polygons are 12 x 12 pixels; the masked 8 x 8 block around the nodata pixel covers 6 x 6 of one of them.
    assert agreement["pixels"]["evaluated"] == (blocks - LAYOUT.shape[1]) * 144 - 36
    assert agreement["pixels"]["accuracy"] == 1.0
    assert agreement["pixels"]["correct"] == np.trace(agreement["confusion_matrix_pixels"]["matrix"])


def test_reading_in_small_blocks_with_the_halo_gives_the_same_map_as_reading_it_whole(raster_run, copy_run):
    for stride in (PATCH, 1):
        whole, blocks = copy_run(raster_run.root, f"whole{stride}"), copy_run(raster_run.root, f"blocks{stride}")
        config = run_config(raster_run)
        predict_map(type(raster_run)(whole), config, stride=stride, block_size=10_000)
        predict_map(type(raster_run)(blocks), config, stride=stride, block_size=16, batch_size=50)
        with rasterio.open(whole / MAP_FILE) as a, rasterio.open(blocks / MAP_FILE) as b:
            np.testing.assert_array_equal(a.read(1), b.read(1))
        with rasterio.open(whole / CONFIDENCE_FILE) as a, rasterio.open(blocks / CONFIDENCE_FILE) as b:
            np.testing.assert_array_equal(a.read(1), b.read(1))


def test_another_raster_is_mapped_with_bands_by_index_and_without_the_runs_polygons(raster_run, tmp_path):
    predict_map(raster_run, run_config(raster_run))
    assert (raster_run.root / AGREEMENT_FILE).is_file()
    path = write_raster(tmp_path / "other.tif", stored_values(), descriptions=None)
    bands = [str(FILE_BANDS.index(name) + 1) for name in ("B02", "B03", "B04", "B08", "B11", "B12")]
    summary = predict_map(raster_run, run_config(raster_run), raster=path, bands=bands)
    assert summary["agreement"] is None and not (raster_run.root / AGREEMENT_FILE).exists()  # not the old map's
    grid = WindowGrid(HEIGHT, WIDTH, PATCH, PATCH)
    inside = inside_one_block(grid) & ~touches_nodata(grid)
    np.testing.assert_array_equal(read_map(raster_run)[inside], truth()[inside])


def test_a_mock_run_maps_the_synthetic_scene_into_its_run_directory(tmp_path, tiny_model_file):
    run = write_run(tmp_path / "mock", tiny_model_file)
    summary = predict_map(run, run_config(run))
    assert (run.root / MOCK_SCENE_FILE).is_file() and (run.root / MOCK_POLYGONS_FILE).is_file()
    agreement = summary["agreement"]
    assert agreement["polygons"]["evaluated"] == 25 and agreement["skipped"] == {}
    assert agreement["training_split"].startswith("not recorded")
    assert summary["counts"].masked > 0  # the scene's nodata square


def bands_mismatch(run, tmp_path):
    path = write_raster(tmp_path / "five.tif", stored_values()[:6], descriptions=FILE_BANDS[:6])
    return {"raster": path}, DataError, r"^band 'B12' is not in .*five.tif"


def no_georeference(run, tmp_path):
    path = write_raster(tmp_path / "plain.tif", stored_values(), crs=None)
    return {"raster": path}, DataError, r"^raster .*plain.tif has no CRS"


def no_trained_model(run, tmp_path):
    run.path("transfer_model_keras").unlink()
    message = f"^transfer_model.keras not found in {run.root}; run phase4a_04_train_transfer.py first$"
    return {}, MissingInputError, message


def stride_zero(run, tmp_path):
    return {"stride": 0}, ConfigError, r"^--stride 0 is out of range"


def week3_run_without_raster(run, tmp_path):
    config = run_config(run) | {"data_source": "week3"}
    return {"config": config}, ConfigError, r"^a run of data_source week3 names no raster to map; pass --raster"


@pytest.mark.parametrize(
    "case", [bands_mismatch, no_georeference, no_trained_model, stride_zero, week3_run_without_raster]
)
def test_bad_input_is_one_line_and_writes_nothing(raster_run, tmp_path, snapshot, case):
    options, error, message = case(raster_run, tmp_path)
    config = options.pop("config", run_config(raster_run))
    before = snapshot(raster_run.root)
    with pytest.raises(error, match=message) as raised:
        predict_map(raster_run, config, **options)
    assert "\n" not in str(raised.value)
    assert snapshot(raster_run.root) == before


def test_the_script_reports_a_bad_stride_as_one_line_with_exit_code_2(raster_run, capsys):
    assert main(["--run-dir", str(raster_run.root), "--stride", "0"]) == 2
    assert capsys.readouterr().err.startswith("error: --stride 0 is out of range")
    assert main(["--run-dir", str(raster_run.root)]) == 0
    assert f"wrote {MAP_FILE}" in capsys.readouterr().out
