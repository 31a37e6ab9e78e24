"""The benchmark's FLOP accounting (benchmarks/bench_training.py): what its percentages are made of.
No timing assertions; matmul times are replaced by a fixed rate where a figure is checked."""

import keras
import pytest

from benchmarks import bench_training


@pytest.fixture
def nested_model():
    inner = keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Conv2D(8, 3, padding="same")], name="inner")
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(3, 1, strides=2)(inputs)  # 4x4x3 out: 16 pixels, 1 tap x 3 channels -> 3
    x = inner(x)  # 4x4x8 out: 16 pixels, 9 taps x 3 channels -> 8
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(5)(x)  # 8 -> 5
    return keras.Model(inputs, outputs)


def test_layer_matmuls_cover_nested_models_with_output_pixels_taps_and_channels(nested_model):
    assert bench_training.layer_matmuls(nested_model, batch=2) == [[32, 3, 3], [32, 27, 8], [2, 8, 5]]


def test_forward_flops_count_two_per_multiply_add_per_sample(nested_model):
    assert bench_training.forward_flops(nested_model) == 2 * (16 * 3 * 3 + 16 * 27 * 8 + 8 * 5)


def test_matmul_bound_counts_forward_and_both_gradients_per_training_sample(nested_model, monkeypatch):
    """At a rate of exactly 1 GFLOP/s for every shape, the bound's epoch is the epoch's FLOPs by the
    report's convention (training 3x forward, validation 1x) over that rate: each gradient's matmul has
    the forward one's FLOPs, so the three shapes per layer add up to the convention's count."""
    seen = []

    def at_one_gflops(shapes):
        seen.extend(map(tuple, shapes))
        return {"best": [2 * m * k * n / 1e9 for m, k, n in shapes]}

    monkeypatch.setattr(bench_training, "matmul_seconds_by_kernels", at_one_gflops)
    bound = bench_training.matmul_bound_epoch(nested_model, batch=2, n_train=10, n_val=3)

    flops = bench_training.forward_flops(nested_model) * (3 * 10 + 3)
    assert bound["epoch_seconds"] == pytest.approx(flops / 1e9)
    assert bound["flops_per_second"] == pytest.approx(1e9)
    assert len(seen) == len(set(seen)) == bound["distinct_matmuls"]  # each shape timed once
    assert (27, 32, 8) in seen and (32, 8, 27) in seen  # the kernel and the input gradient of the 3x3


def test_matmul_seconds_is_the_best_per_call_time_of_each_shape(monkeypatch):
    """On a clock that advances by each product's FLOPs at 1 GFLOP/s, plus one stall in the first timed
    run of every shape: each shape gets exactly its FLOPs' time, per call and not per run of calls, and
    the stall (a busy machine) is left out by taking the best run."""
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
