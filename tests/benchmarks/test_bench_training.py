"""The benchmark's arithmetic and its report (benchmarks/): FLOP accounting, bytes on disk, ratios, the
targets' verdicts and docs/performance.md. Nothing here trains or times anything: matmul times are
replaced by a fixed rate, and results are constructed."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import keras
import pytest

from benchmarks import bench_training, figures, summarise, targets
from benchmarks.decisions import DECISIONS
from phase4a.stages import RunDir

# ---------------------------------------------------------------- FLOP accounting


@pytest.fixture
def nested_model():
    inner = keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Conv2D(8, 3, padding="same")], name="inner")
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(3, 1, strides=2)(inputs)  # 4x4x3 out: 16 pixels, 1 tap x 3 channels -> 3
    x = inner(x)  # 4x4x8 out: 16 pixels, 9 taps x 3 channels -> 8
    x = keras.layers.BatchNormalization()(x)  # not counted
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(5)(x)  # 8 -> 5
    return keras.Model(inputs, outputs)


def test_layer_matmuls_cover_nested_models_with_output_pixels_taps_and_channels(nested_model):
    assert bench_training.layer_matmuls(nested_model, batch=2) == [[32, 3, 3], [32, 27, 8], [2, 8, 5]]


def test_forward_flops_count_two_per_multiply_add_per_sample(nested_model):
    # 2 x (16 x 3 x 3 + 16 x 27 x 8 + 8 x 5) = 2 x (144 + 3456 + 40)
    assert bench_training.forward_flops(nested_model) == 7280


def test_matmul_bound_counts_forward_and_both_gradients_per_training_sample(nested_model, monkeypatch):
    """At exactly 1 GFLOP/s for every shape, the bound's epoch is the epoch's FLOPs by the convention
    (training 3x forward, validation 1x) over that rate: 7280 x (3 x 10 + 3) FLOPs = 240.24 us."""
    seen = []

    def at_one_gflops(shapes, repeats=10):
        seen.extend(map(tuple, shapes))
        return {"best": [2 * m * k * n / 1e9 for m, k, n in shapes]}

    monkeypatch.setattr(bench_training, "matmul_seconds_by_kernels", at_one_gflops)
    bound = bench_training.matmul_bound_epoch(nested_model, batch=2, n_train=10, n_val=3)

    assert bound["epoch_seconds"] == pytest.approx(7280 * 33 / 1e9)
    assert bound["flops_per_second"] == pytest.approx(1e9)
    # 3 layers x 3 shapes; the 1x1's input gradient [32, 3, 3] is its forward shape: timed once.
    assert sorted(seen) == sorted(set(seen)) and len(seen) == bound["distinct_matmuls"] == 8
    assert (27, 32, 8) in seen and (32, 8, 27) in seen  # the kernel and the input gradient of the 3x3


def test_matmul_seconds_is_the_best_per_call_time_of_each_shape(monkeypatch):
    """On a clock that advances by each product's FLOPs at 1 GFLOP/s, plus one stall in the first timed
    run of every shape: each shape gets exactly its FLOPs' time, per call and not per run of calls, and
    the stall (a busy machine) is left out by taking the best run. (From tests/test_benchmark.py.)"""
    import tensorflow as tf

    clock = {"now": 0.0, "stalls": 0, "runs": 0}
    matmul = tf.linalg.matmul

    def timed_matmul(a, b):
        clock["now"] += 2 * a.shape[0] * a.shape[1] * b.shape[1] / 1e9
        return matmul(a, b)

    def perf_counter():
        clock["runs"] += 1
        if clock["runs"] % 4 == 2:  # the end of each shape's first run (2 repeats: 4 readings a shape)
            clock["now"] += 1.0
            clock["stalls"] += 1
        return clock["now"]

    monkeypatch.setattr(tf.linalg, "matmul", timed_matmul)
    monkeypatch.setattr(bench_training.time, "perf_counter", perf_counter)
    shapes = [[64, 32, 16], [1, 8, 2]]
    seconds = bench_training.matmul_seconds(shapes, repeats=2)
    assert clock["stalls"] == len(shapes)
    assert seconds == pytest.approx([2 * m * k * n / 1e9 for m, k, n in shapes], rel=1e-9)


# ---------------------------------------------------------------- bytes on disk


def write(path, size: int):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    return path


def test_disk_usage_counts_each_file_once_however_many_hard_links_and_ignores_symlinks(tmp_path):
    root = tmp_path / "sweep"
    big = write(root / "report" / "backbone.weights.h5", 1000)
    write(root / "report" / "checkpoints" / "best.keras", 300)
    os.link(big, root / "report" / "checkpoints" / "same_file_again.h5")  # a second link inside one entry
    (root / "higher_lr").mkdir()
    os.link(big, root / "higher_lr" / "backbone.weights.h5")  # shared with another run
    write(root / "higher_lr" / "training_log.csv", 20)
    write(root / "ablation_results.md", 5)
    os.symlink(big, root / "higher_lr" / "link_to_weights.h5")  # not followed, not counted
    os.symlink(root / "report", root / "link_to_report")

    usage = figures.disk_usage(root)

    assert usage["bytes"] == 1000 + 300 + 20 + 5
    assert usage["files"] == 4
    assert usage["entries"] == [
        {"name": "report/", "bytes": 1300, "files": 2},
        {"name": "higher_lr/", "bytes": 1020, "files": 2},
        {"name": "ablation_results.md", "bytes": 5, "files": 1},
        {"name": "link_to_report", "bytes": 0, "files": 0},
    ]
    assert usage["shared_bytes"] == 1000  # the weights, in both runs' rows, once in the total


def test_disk_usage_of_plain_files_is_the_sum_of_their_sizes(tmp_path):
    for name, size in (("a", 7), ("b/c", 11), ("b/d/e", 13)):
        write(tmp_path / name, size)
    usage = figures.disk_usage(tmp_path)
    assert (usage["bytes"], usage["files"], usage["shared_bytes"]) == (31, 3, 0)
    assert [entry["name"] for entry in usage["entries"]] == ["b/", "a"]  # largest first


# ---------------------------------------------------------------- ratios


def test_steady_is_the_median_after_the_first_epoch_and_fastest_the_minimum():
    seconds = [9.0, 2.0, 7.0, 3.0, 2.5]
    assert figures.steady(seconds) == 2.75
    assert figures.fastest(seconds) == 2.0
    assert figures.steady([4.0]) == figures.fastest([4.0]) == 4.0


def test_speedup_and_slowdown_are_reciprocal_ratios():
    assert figures.speedup(3.0, 1.5) == 2.0  # twice as fast as the reference
    assert figures.slowdown(3.0, 2.5) == 1.2  # 1.2x the reference


def test_saving_share_spreads_a_save_every_other_epoch_over_the_epochs_it_covers():
    without = [5.0, 1.0, 1.0, 1.0, 1.0]
    with_saving = [6.0, 1.0, 1.4, 1.0, 1.4]  # saves of 0.4 s every other epoch; a median would say 0%
    assert figures.saving_share(without, with_saving) == pytest.approx(0.2)
    with pytest.raises(ValueError):
        figures.saving_share(without, with_saving[:-1])


def test_epoch_figures_give_shares_of_the_matmul_and_of_the_bound():
    f = figures.epoch_figures(
        [4.0, 2.0, 1.0, 3.0], n_train=300, epoch_flops=100e9, matmul_flops=200e9, bound_seconds=0.5
    )
    assert f["steady_epoch_seconds"] == 2.0 and f["fastest_epoch_seconds"] == 1.0
    assert f["samples_per_second"] == 150.0
    assert (f["first_over_steady"], f["first_epoch_overhead_seconds"]) == (2.0, 2.0)
    assert (f["percent_of_matmul"], f["percent_of_matmul_fastest"]) == (25.0, 50.0)
    assert (f["percent_of_bound"], f["percent_of_bound_fastest"]) == (25.0, 50.0)
    assert "percent_of_matmul" not in figures.epoch_figures([4.0, 2.0], n_train=300)


def training_runs(step04_with: list[float]) -> dict:
    return {
        "plain_fit": {"epoch_seconds": [5.0, 2.0, 2.0], "epoch_seconds_with_callbacks": [5.0, 2.0, 2.0]},
        "plain_fit_keras_callbacks": {"epoch_seconds": [5.0, 2.0, 2.0], "epoch_seconds_with_callbacks": [6, 2.6, 2.6]},
        "step04": {"epoch_seconds": [3.0, 1.0, 1.0], "epoch_seconds_with_callbacks": step04_with},
        "step04_tf_conv_gradient": {"epoch_seconds": [9.0, 4.0, 4.0], "epoch_seconds_with_callbacks": [9, 4, 4]},
    }


def test_training_ratios_compare_steady_epochs_with_and_without_callbacks():
    ratios = bench_training.training_ratios(training_runs([4.0, 1.3, 1.3]))
    assert ratios == {
        "step04_over_keras_callbacks": 2.0,  # 2.6 / 1.3: what users run against plain Keras with its callbacks
        "step04_with_callbacks_over_plain": 1.538,  # 2.0 / 1.3
        "step04_over_plain": 2.0,  # 2.0 / 1.0: training alone
        "keras_callbacks_over_plain": 1.3,  # 2.6 / 2.0
        "step04_saving_share": 0.3,  # (2.6 - 2.0) / 2.0
        "keras_callbacks_saving_share": 0.3,
        "step04_over_tf_conv_gradient": 4.0,
    }


def test_baseline_ratios_are_medians_over_medians_and_count_only_the_steps_both_drivers_have():
    def run(wall, epoch, work, map_step=None):
        steps = {"01_setup": 1.0, "04_train": work, **({"06_map": map_step} if map_step else {})}
        return {
            "driver_wall_seconds": wall,
            "step04_steady_epoch_seconds": epoch,
            "step04_work_seconds": work,
            "driver_work": steps,
        }

    runs = {
        "current": [run(30.0, 1.5, 10.0, 6.0), run(24.0, 1.2, 8.0, 6.0), run(27.0, 1.4, 9.0, 6.0)],
        "baseline": [run(20.0, 1.0, 9.0), run(25.0, 1.4, 8.0), run(30.0, 2.0, 10.0)],
    }
    ratios = bench_training.baseline_ratios(runs)
    assert ratios == {
        "driver_wall_ratio": 1.08,  # 27 / 25
        "step04_steady_ratio": 1.0,  # 1.4 / 1.4
        "step04_work_ratio": 1.0,
        "driver_common_steps_work_ratio": 1.0,  # (1 + 9) / (1 + 9): step 06 only in the wall time
        "common_steps": ["01_setup", "04_train"],
    }


# ---------------------------------------------------------------- targets and docs/performance.md


def constructed_result(good: bool) -> dict:
    """A benchmark result of every section, whose figures meet every target (``good``) or none."""
    runs = training_runs([4.0, 1.05, 1.05] if good else [4.0, 2.4, 2.4])
    for entry in runs.values():
        entry["figures"] = figures.epoch_figures(entry["epoch_seconds"], 300, 3e11, 3e11, 0.8)
        entry["figures_with_callbacks"] = figures.epoch_figures(entry["epoch_seconds_with_callbacks"], 300)
    runs["plain_fit_keras_callbacks"]["callbacks"] = ["ModelCheckpoint", "EarlyStopping"]
    ratios = bench_training.training_ratios(runs)
    disk = {"bytes": 150e6 if good else 250e6, "files": 2, "shared_bytes": 0, "entries": []}
    disk["entries"] = [{"name": "transfer_model.h5", "bytes": disk["bytes"] - 1e6, "files": 1}]
    disk["entries"].append({"name": "checkpoints/", "bytes": 1e6, "files": 1})

    def side(driver: float, epoch: float) -> dict:
        return {
            "driver_wall_seconds": driver,
            "driver_peak_rss_mib": 1400,
            "step04_steady_epoch_seconds": epoch,
            "step04_work_seconds": 10.0,
        }

    current = side(22.0, 1.4) if good else side(26.0, 1.5)
    return {
        "schema": 2,
        "date_utc": "2026-12-01T20:00:00+00:00",
        "machine": {
            "platform": "Linux-test",
            "cpu_model": "Test CPU 9000",
            "cpu_count": 2,
            "vector_extensions": ["avx2"],
            "python": "3.11.7",
            "tensorflow": "2.20.0",
            "keras": "3.15.1",
            "load_average_at_start": [0.5, 0.4, 0.3],
        },
        "code": {"commit": "0123456789abcdef", "dirty": True},
        "settings": {"epochs": 3, "quick": False},
        "flop_convention": "forward = 2 x multiply-adds",
        "driver": {
            "wall_seconds": 22.0,
            "peak_rss_mib": 1450,
            "outside_steps_work": 6.0,
            "steps": {"04_train": {"startup": 0.1, "work": 9.0}},
            "disk": disk,
        },
        "scripts": {
            "wall_seconds": 40.0,
            "steps": {
                "phase4a_04_train_transfer.py": {
                    "step": "04_train",
                    "wall": 15.0,
                    "startup": 5.0,
                    "work": 10.0,
                    "peak_rss_mib": 1500 if good else 2000,  # 1.57 GB against 2.10 GB
                }
            },
        },
        "matmul": {
            "matmul_flops_by_kernels": {"onednn": 3e11, "tensorflow_own": 2e11, "best": 3e11},
            "matmul_flops": 3e11,
            "matmul_bound": {"epoch_seconds": 0.8, "flops_per_second": 1.6e11, "distinct_matmuls": 90},
            "forward_flops_per_sample": 158e6,
        },
        "training": {"runs": runs, "n_train": 300, "n_val": 75, "epochs": 3, "deterministic": True, "ratios": ratios},
        "ratios": ratios,
        "sweep": {
            "presets": ["report", "higher_lr"],
            "epochs": 10,
            "wall_seconds": 33.0 if good else 90.0,
            "training_seconds": 30.0,
            "outside_training_seconds": 3.0 if good else 60.0,
            "wall_over_training": 1.1 if good else 3.0,
            "peak_rss_mib": 1600,
            "runs": {"report": {"training_seconds": 15.0, "epochs_run": 1}},
            "disk": {**disk, "shared_bytes": 90e6},
            "run_bytes_by_keep_mode": {"best": 21e6, "none": 0.6e6, "all": 94e6},
            "projection": {
                "arms": 13,
                "seeds": 5,
                "run_bytes": 21e6,
                "store_bytes_per_seed": 95e6,
                "sweep_files_bytes": 1e6,
                "bytes": 1.9e9 if good else 5.4e9,
            },
            "where_the_time_goes": {"training epochs": 30.0, "05_evaluate": 2.0, "the sweep's own": 0.5},
        },
        "baseline": {
            "baseline_dir": "/tmp/before",
            "ref": None,
            "baseline_code": {"commit": "8a0fdce0000000"},
            "pairs": 1,
            "epochs": 3,
            "order": "A B A B",
            "runs": {"current": [current], "baseline": [side(20.0, 1.45)]},
            "driver_wall_ratio": round(22.0 / 20.0, 3) if good else round(26.0 / 20.0, 3),
            "step04_steady_ratio": round(1.4 / 1.45, 3) if good else round(1.5 / 1.45, 3),
            "step04_work_ratio": 1.0,
            "driver_common_steps_work_ratio": 1.0,
            "common_steps": ["01_setup", "04_train"],
        },
        "feature_extraction": {
            "uncached": {"steady_epoch_seconds": 0.5},
            "cached": {"steady_epoch_seconds": 0.02},
            "later_epoch_speedup": 25.0,
        },
    }


def target_rows(markdown: str) -> dict[str, list[str]]:
    """The targets table: target text -> its cells."""
    rows = {}
    for line in markdown.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if len(cells) == 5 and cells[0] in {"19", "22", "31"}:
            rows[cells[1]] = cells
    return rows


@pytest.mark.parametrize(
    ("good", "verdict", "shown"),
    [
        (
            True,
            "**met**",
            ["2.48x", "5.0%", "150 MB", "1.57 GB", "1.10x", "150 MB", "1.90 GB", "1.10x", "0.97x", "1.10x"],
        ),
        (
            False,
            "**not met**",
            ["1.08x", "140.0%", "250 MB", "2.10 GB", "3.00x", "250 MB", "5.40 GB", "3.00x", "1.03x", "1.30x"],
        ),
    ],
)
def test_summary_gives_each_target_the_figure_reached_and_its_verdict_from_the_numbers(good, verdict, shown, tmp_path):
    result = constructed_result(good)
    source = tmp_path / "result.json"
    source.write_text(json.dumps(result))
    out = tmp_path / "docs" / "performance.md"

    assert summarise.main([str(source), "--out", str(out)]) == 0

    markdown = out.read_text()
    rows = target_rows(markdown)
    assert list(rows) == [target.text for target in targets.TARGETS]
    assert [cells[2] for cells in rows.values()] == shown
    assert all(cells[4] == verdict for cells in rows.values())
    assert "2026-12-01T20:00:00+00:00" in markdown and "Test CPU 9000, 2 cores" in markdown
    assert "TensorFlow, Keras | 3.11.7, 2.20.0, 3.15.1" in markdown
    assert "0123456789ab with uncommitted changes" in markdown
    assert all(f"- **{decision.name}** ({decision.outcome}). {decision.why}" in markdown for decision in DECISIONS)


def test_a_skipped_section_leaves_its_targets_not_measured_and_its_tables_out():
    result = constructed_result(good=True)
    del result["baseline"], result["sweep"]
    markdown = summarise.render(result, "benchmarks/results/x.json")
    rows = target_rows(markdown)
    verdicts = {target.key: rows[target.text][4] for target in targets.TARGETS}
    assert (
        verdicts["step04_vs_before"] == verdicts["driver_vs_before"] == verdicts["sweep_overhead"] == "**not measured**"
    )
    assert verdicts["run_bytes"] == "**met**"
    assert "## Against the code before the redesign" not in markdown and "## Sweep time" not in markdown
    assert "python -m benchmarks.summarise benchmarks/results/x.json --out docs/performance.md" in markdown


def test_a_target_on_its_bound_is_met():
    share = next(target for target in targets.TARGETS if target.key == "saving_share")
    assert share.met({"ratios": {"step04_saving_share": 0.10}}) is True
    assert share.met({"ratios": {"step04_saving_share": 0.1001}}) is False
    assert share.met({}) is None


def test_summary_refuses_a_result_of_the_old_benchmark(tmp_path, capsys):
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"date_utc": "2026-11-30", "pipeline": {}}))
    assert summarise.main([str(old)]) == 2
    assert "schema 2" in capsys.readouterr().err


# ---------------------------------------------------------------- the benchmark's own plumbing


def test_copy_run_links_the_inputs_and_gives_the_copy_a_config_of_its_own(tmp_path):
    source = RunDir(tmp_path / "source")
    source.root.mkdir()
    source.path("config").write_text(json.dumps({"epochs": 2, "cache_features": "auto"}))
    write(source.path("model_untrained_weights"), 50)
    write(source.path("data"), 30)
    write(source.path("training_history"), 10)  # step 04's: not an input, not copied

    copy = RunDir(bench_training.copy_run(source.root, tmp_path / "copy", epochs=5, cache_features="false"))

    assert json.loads(copy.path("config").read_text()) == {"epochs": 5, "cache_features": "false"}
    assert json.loads(source.path("config").read_text()) == {"epochs": 2, "cache_features": "auto"}
    assert copy.path("model_untrained_weights").stat().st_ino == source.path("model_untrained_weights").stat().st_ino
    assert copy.path("data").read_bytes() == source.path("data").read_bytes()
    assert not copy.path("training_history").exists()


def test_baseline_ref_is_exported_without_touching_the_repository(tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    write(repo / "phase4a" / "pipeline.py", 12)
    for command in (["init", "-q"], ["add", "."], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "a"]):
        subprocess.run(["git", "-C", str(repo), *command], check=True)
    (repo / "phase4a" / "pipeline.py").write_text("changed after the commit")
    monkeypatch.setattr(bench_training, "ROOT", repo)

    tree = bench_training.baseline_checkout(tmp_path / "work", "HEAD", None)

    assert (tree / "phase4a" / "pipeline.py").read_bytes() == b"x" * 12  # the commit, not the working tree
    worktrees = subprocess.run(["git", "-C", str(repo), "worktree", "list"], capture_output=True, text=True).stdout
    assert len(worktrees.splitlines()) == 1
    with pytest.raises(SystemExit, match="not a commit"):
        bench_training.baseline_checkout(tmp_path / "work", "no-such-ref", None)


def test_quick_settings_and_the_baseline_section_only_with_a_baseline():
    quick = bench_training.parse_args(["--quick"])
    assert (quick.epochs, quick.pairs, quick.repeats) == (2, 1, 3)
    assert "baseline" not in quick.sections
    full = bench_training.parse_args(["--baseline-ref", "8a0fdce", "--skip", "sweep,scripts"])
    assert (full.epochs, full.pairs) == (5, 2)
    assert full.sections == ["driver", "matmul", "training", "feature_cache", "baseline"]
    with pytest.raises(SystemExit):
        bench_training.parse_args(["--skip", "graph_cache"])


def test_a_childs_peak_rss_is_its_own_not_the_benchmark_process_it_was_started_from():
    """Linux folds the memory a child is forked from into its ru_maxrss: started straight from a process
    holding 400 MiB, an empty interpreter reported 426 MiB. The benchmark's children come through a
    small launcher, so a step run after the in-process training reports its own peak."""
    import numpy as np

    held = np.ones(400 * 2**20 // 8)  # 400 MiB, touched
    idle = bench_training.run_child([sys.executable, "-c", "pass"])
    busy = bench_training.run_child([sys.executable, "-c", "import numpy as np; a = np.ones(300 * 2**20 // 8)"])
    assert held.sum() > 0
    assert idle["peak_rss_mib"] < 100
    assert 300 < busy["peak_rss_mib"] < 400
    with pytest.raises(RuntimeError, match="failed \\(3\\)"):
        bench_training.run_child([sys.executable, "-c", "import sys; sys.exit(3)"])


def test_the_every_epoch_backup_run_gives_its_own_saving_share():
    runs = {
        **training_runs([4.0, 1.3, 1.3]),
        "step04_backup_every_epoch": {"epoch_seconds": [3.0, 1.0, 1.0], "epoch_seconds_with_callbacks": [4, 1.5, 1.5]},
    }
    assert bench_training.training_ratios(runs)["step04_every_epoch_saving_share"] == 0.5


def test_the_sweep_disk_targets_are_measured_at_10_epochs_only_and_the_keep_modes_are_listed():
    result = constructed_result(good=True)
    markdown = summarise.render(result, "benchmarks/results/x.json")
    assert "| `best` | 21.0 |" in markdown and "| `none` | 0.6 |" in markdown and "| `all` | 94.0 |" in markdown
    assert "= **1.90 GB**" in markdown and "| 05_evaluate | 2.00 |" in markdown
    result["sweep"]["epochs"] = 1
    rows = target_rows(summarise.render(result, "benchmarks/results/x.json"))
    for key in ("projected_sweep_bytes", "sweep_overhead_10_epochs"):
        target = next(t for t in targets.TARGETS if t.key == key)
        assert rows[target.text][4] == "**not measured**"
