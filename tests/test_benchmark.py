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


def test_matmul_seconds_times_each_shape():
    seconds = bench_training.matmul_seconds([[64, 32, 16], [1, 8, 2]], repeats=2)
    assert len(seconds) == 2 and all(value > 0 for value in seconds)
