"""Issue 7 benchmark: one run, one JSON file in benchmarks/results/, one table.

Usage: python -m benchmarks.bench_training [--epochs N] [--work-dir DIR] [--skip-driver]

1. The mock driver's command (steps 01..05 in one process, phase4a.pipeline, the mock's fast config):
   wall time, peak RSS, and each step's work (from run_manifest.json); then the five scripts one by
   one, each its own process: per step wall time split into start-up (wall - work: interpreter,
   imports, TensorFlow start, exit) and work, and peak RSS (os.wait4 per child).
2. Step 04's training path (phase4a.steps.train_transfer, report config, mock 300/75 data) vs a
   minimal hand-written ``model.fit`` of the identical model file and data, in this process:
   steady-state samples/s (median epoch after the first; epoch time includes validation), the ratio, and
   what the first epoch costs on top of a steady one (tracing and building the graphs). Step 04's
   epochs are also timed with its per-epoch callbacks (checkpoint, early-stopping weights, backup),
   which plain ``model.fit`` does not have.
   The pipeline is also run with ``fast_conv_gradient false`` (TensorFlow's own Conv2D gradient).
3. FLOP/s: forward FLOPs counted per layer (Conv2D and Dense multiply-adds x 2; BatchNorm, ReLU,
   adds and pooling ignored: under 1%). Convention: a training sample costs 3x forward, a validation
   sample 1x. Compared with dense float32 matmul FLOP/s (tf.linalg.matmul 2048^2) measured here in two
   child processes, with TensorFlow's oneDNN kernels and with its own (TF_ENABLE_ONEDNN_OPTS=1 / 0): the
   faster is the machine's rate. The steady epoch (median) and the fastest epoch after the first
   (peak, like the matmul's best of 10) each give a share. A second reference, the bound: the model's
   own layers as matmuls of their shapes at batch 32 (forward, input and kernel gradients), timed the
   same way; an epoch of them is as fast as this machine's kernels can multiply those shapes.
4. The feature_extraction preset (steps 01-03 run for it): step 04 with and without cached backbone
   features, per-epoch seconds.
5. The graph cache (phase4a/graph_cache.py): every run above starts with it empty, as a first run
   does; then step 04's training path runs once more in a new process, which reads the graphs the
   in-process run traced and optimised: its first epoch against its steady one, and its losses
   against the in-process run's. The mock driver is also run again, reading its own graphs.
6. The drivers' warm-up (phase4a/graph_warmup.py): the mock driver with --epochs N and an empty
   cache, a first run whose warm-up process builds step 04's graphs while steps 02-03 run; its step
   04's epochs as in 2 (first against steady, share of the matmul), and its losses against 2's.
Timings are noisy on a shared 2-core machine: other processes may run at the same time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from phase4a.stages import STAGES

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
STEPS = tuple(stage.script for stage in STAGES.values())
# The mock driver's fast offline config (run_phase4a_mock.sh), on the report's 300/75 mock data.
MOCK_ARGS = ["--overwrite", "--data_source", "mock", "--weights", "none", "--epochs", "2"]
BATCH_SIZE = 32  # the report's


def machine() -> dict:
    """Where the figures come from: the CPU model and the vector units its kernels can use matter as
    much as the core count (oneDNN's matmul ran 2x faster on an AVX-512 machine than on an AVX2 one)."""
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    fields = dict(line.split(":", 1) for line in cpuinfo.splitlines() if ":" in line)
    fields = {key.strip(): value.strip() for key, value in fields.items()}
    flags = set(fields.get("flags", "").split())
    return {
        "platform": platform.platform(),
        "processor": platform.machine(),
        "cpu_model": fields.get("model name", platform.processor()),
        "cpu_count": os.cpu_count(),
        "vector_extensions": sorted(flags & {"avx2", "fma", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16"}),
    }


def run_child(cmd: list[str]) -> dict:
    """Run ``cmd``; wall seconds and the child's own peak RSS (MiB)."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output = proc.stdout.read().decode(errors="replace")
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({code}):\n{output[-3000:]}")
    return {"wall": round(wall, 3), "peak_rss_mib": round(usage.ru_maxrss / 1024, 1)}


def step_seconds(run_dir: Path) -> dict[str, dict]:
    """Each step's start-up and work seconds as run_step recorded them in run_manifest.json."""
    manifest = json.loads((run_dir / "run_manifest.json").read_text())
    return {name: entry["seconds"] for name, entry in sorted(manifest["steps"].items())}


def empty_graph_cache() -> Path:
    """Empty the graph cache the benchmark's runs (this process and its children) use, as a first run finds it."""
    cache = Path(os.environ["PHASE4A_GRAPH_CACHE"])
    shutil.rmtree(cache, ignore_errors=True)
    return cache


def bench_driver(run_dir: Path, extra: list[str]) -> dict:
    """The mock driver's own command (one process, phase4a.pipeline): wall, peak RSS, and per step
    the start-up (config, seeding; the first TensorFlow step also loads TensorFlow) and work."""
    shutil.rmtree(run_dir, ignore_errors=True)  # a finished run would be skipped, not timed
    process = run_child([sys.executable, "-m", "phase4a.pipeline", "--run-dir", str(run_dir), *MOCK_ARGS, *extra])
    steps = step_seconds(run_dir)
    work = sum(entry["work"] for entry in steps.values())
    history = json.loads((run_dir / "training_history.json").read_text())
    return {
        "wall_seconds": process["wall"],
        "peak_rss_mib": process["peak_rss_mib"],
        "outside_steps_work": round(process["wall"] - work, 3),
        "steps": steps,
        "epoch_seconds": [round(entry["seconds"], 3) for entry in history["epochs"]],
        "loss": [entry["loss"] for entry in history["epochs"]],
    }


def bench_scripts(run_dir: Path, extra: list[str], scripts: tuple[str, ...] = STEPS) -> dict:
    """The scripts one by one, each its own process (as a student runs them): per step wall time,
    start-up (wall - work: interpreter, imports, TensorFlow start, exit), work and peak RSS."""
    shutil.rmtree(run_dir, ignore_errors=True)
    started = time.perf_counter()
    steps = {}
    for script in scripts:
        args = [sys.executable, script, "--run-dir", str(run_dir)]
        if script.startswith("phase4a_01"):
            args += MOCK_ARGS + extra
        steps[script] = run_child(args)
    total = time.perf_counter() - started
    for (name, seconds), script in zip(step_seconds(run_dir).items(), scripts):
        steps[script].update(step=name, work=seconds["work"], startup=round(steps[script]["wall"] - seconds["work"], 3))
    return {"wall_seconds": round(total, 3), "steps": steps}


def matmul_seconds(shapes: list[list[int]], repeats: int = 10) -> list[float]:
    """Best-of-``repeats`` seconds of a float32 (M, K) x (K, N) matmul for each [M, K, N], in this
    process; a small product is timed over a run of calls, each call's share of the run."""
    import tensorflow as tf

    seconds = []
    for m, k, n in shapes:
        a = tf.random.uniform((m, k), dtype=tf.float32)
        b = tf.random.uniform((k, n), dtype=tf.float32)
        tf.linalg.matmul(a, b).numpy()  # warm-up
        calls = min(200, max(1, int(2e8 // (2 * m * k * n))))  # about 1 ms at 200 GFLOP/s
        best = float("inf")
        for _ in range(repeats):
            started = time.perf_counter()
            for _ in range(calls):
                product = tf.linalg.matmul(a, b)
            product.numpy()
            best = min(best, (time.perf_counter() - started) / calls)
        seconds.append(best)
    return seconds


def matmul_seconds_by_kernels(shapes: list[list[int]]) -> dict[str, list[float]]:
    """``matmul_seconds`` with oneDNN's kernels and with TensorFlow's own, each in a child process (the
    switch is read when TensorFlow loads); ``best``: per shape the faster, the machine's rate."""
    code = "import json, sys; from benchmarks.bench_training import matmul_seconds; "
    code += "print(json.dumps(matmul_seconds(json.loads(sys.argv[1]))))"
    times = {}
    for label, switch in (("onednn", "1"), ("tensorflow_own", "0")):
        output = subprocess.run(
            [sys.executable, "-c", code, json.dumps(shapes)],
            cwd=ROOT,
            env={**os.environ, "TF_ENABLE_ONEDNN_OPTS": switch},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        times[label] = json.loads(output.strip().splitlines()[-1])
    return {**times, "best": [min(pair) for pair in zip(*times.values())]}


def matmul_flops_by_kernels(n: int = 2048) -> dict[str, float]:
    """FLOP/s of an n x n float32 matmul, best of 10, with oneDNN's kernels and TensorFlow's own;
    ``best``: the faster, the machine's rate."""
    seconds = matmul_seconds_by_kernels([[n, n, n]])
    return {label: 2 * n**3 / times[0] for label, times in seconds.items()}


def layer_matmuls(model, batch: int) -> list[list[int]]:
    """Every Conv2D and Dense layer's forward pass as the matmul it amounts to at ``batch``, nested
    models included: [M, K, N] = [batch x output pixels, kernel taps x input channels, output channels]."""
    import keras

    shapes = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            shapes += layer_matmuls(layer, batch)
        elif isinstance(layer, keras.layers.Conv2D):
            _, h, w, c_out = layer.output.shape
            kh, kw = layer.kernel_size
            shapes.append([batch * h * w, kh * kw * layer.kernel.shape[2], c_out])
        elif isinstance(layer, keras.layers.Dense):
            shapes.append([batch, layer.kernel.shape[0], layer.kernel.shape[1]])
    return shapes


def forward_flops(model) -> int:
    """Multiply-adds x 2 of every Conv2D and Dense layer, nested models included, per sample."""
    return sum(2 * m * k * n for m, k, n in layer_matmuls(model, 1))


def matmul_bound_epoch(model, batch: int, n_train: int, n_val: int) -> dict:
    """The fastest an epoch could be if every layer ran as fast as this machine multiplies matrices of
    that layer's own shapes: per training batch each layer's forward matmul [M, K, N], its input
    gradient [M, N, K] and its kernel gradient [K, M, N] (the 3x convention), per validation batch the
    forward one; partial batches pro rata. A 2048^2 matmul keeps both cores' vector units busy; the
    model's matmuls have as few as ``batch`` rows (1x1 feature maps), which no kernel runs as fast."""
    forward = layer_matmuls(model, batch)
    training = [shape for m, k, n in forward for shape in ((m, k, n), (m, n, k), (k, m, n))]
    unique = sorted(set(training))
    seconds = dict(zip(unique, matmul_seconds_by_kernels([list(shape) for shape in unique])["best"]))
    train_step = sum(seconds[shape] for shape in training)
    validation_step = sum(seconds[tuple(shape)] for shape in forward)
    epoch = n_train / batch * train_step + n_val / batch * validation_step
    flops = forward_flops(model) * (3 * n_train + n_val)
    return {"epoch_seconds": epoch, "flops_per_second": flops / epoch, "distinct_matmuls": len(unique)}


def steady(seconds: list[float]) -> float:
    """A steady epoch: the median of the epochs after the first (one slow epoch, when the shared
    machine stalls, moves a mean by half an epoch)."""
    return statistics.median(seconds[1:] or seconds)


class EpochTimer:
    def __new__(cls):
        import keras

        class _Timer(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                self.seconds = []

            def on_epoch_begin(self, epoch, logs=None):
                self._t = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                self.seconds.append(time.perf_counter() - self._t)

        return _Timer()


def plain_fit(model_path: Path, data, epochs: int, batch_size: int) -> dict:
    """A minimal hand-written model.fit of the identical model file and data."""
    import keras

    model = keras.models.load_model(model_path)
    model.compile(optimizer=keras.optimizers.Adam(1e-4), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    timer = EpochTimer()
    model.fit(
        data.X_train,
        data.y_train,
        validation_data=(data.X_val, data.y_val),
        batch_size=batch_size,
        epochs=epochs,
        callbacks=[timer],
        verbose=0,
    )
    return {"epoch_seconds": [round(s, 3) for s in timer.seconds]}


def copy_run(source: Path, target: Path, **overrides) -> Path:
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for name in ("config.json", "data.npz", "data_summary.json", "model_untrained.keras"):
        shutil.copy2(source / name, target / name)
    config = json.loads((target / "config.json").read_text())
    config.update(overrides)
    (target / "config.json").write_text(json.dumps(config, indent=2))
    return target


class CallbackSpan:
    """Two callbacks around step 04's own list: the first notes when each epoch begins, the last when
    every callback has finished with it (checkpoint, early-stopping weights, backup)."""

    def __init__(self):
        import keras

        span = self
        self.begins, self.ends = [], []

        class _First(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                span.begins.append(time.perf_counter())

        class _Last(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                span.ends.append(time.perf_counter())

        self.first, self.last = _First(), _Last()

    def seconds(self) -> list[float]:
        return [round(end - begin, 3) for begin, end in zip(self.begins, self.ends)]


def pipeline_fit(run_dir: Path) -> dict:
    """Step 04's own training path, in this process, as the step runs it (seeded first)."""
    from phase4a import config as config_module
    from phase4a import training
    from phase4a.seeding import prepare_runtime
    from phase4a.stages import RunDir
    from phase4a.steps.train_transfer import train_transfer

    run = RunDir(run_dir)
    config = config_module.load(run_dir / "config.json")
    prepare_runtime(config)
    span = CallbackSpan()
    make_callbacks = training.make_callbacks
    training.make_callbacks = lambda *args, **kwargs: [span.first, *make_callbacks(*args, **kwargs), span.last]
    started = time.perf_counter()
    try:
        history = train_transfer(run, config, retrain=True, verbose=0)
    finally:
        training.make_callbacks = make_callbacks
    return {
        "epoch_seconds": [round(e["seconds"], 3) for e in history["epochs"]],
        "epoch_seconds_with_callbacks": span.seconds(),
        "val_loss": [e["val_loss"] for e in history["epochs"]],
        "loss": [e["loss"] for e in history["epochs"]],
        "feature_cache": history.get("feature_cache"),
        "wall_seconds": round(time.perf_counter() - started, 3),
        "jit_compile": config["jit_compile"],
    }


def pipeline_fit_in_new_process(run_dir: Path) -> dict:
    """``pipeline_fit`` in a child process: what a re-run, a resumed run or another step finds."""
    code = "import json, sys; from pathlib import Path; from benchmarks.bench_training import pipeline_fit; "
    code += "print(json.dumps(pipeline_fit(Path(sys.argv[1]))))"
    output = subprocess.run(
        [sys.executable, "-c", code, str(run_dir)], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3, help="epochs for the throughput runs (>= 2)")
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/phase4a_benchmark"))
    parser.add_argument("--skip-driver", action="store_true", help="reuse the driver run in --work-dir")
    parser.add_argument(
        "--step01", default="", help="extra step-01 options, e.g. '--jit_compile true --deterministic false'"
    )
    args = parser.parse_args(argv)
    work = args.work_dir
    work.mkdir(parents=True, exist_ok=True)
    os.environ["PHASE4A_GRAPH_CACHE"] = str(work / "graph_cache")  # inherited by every child process
    result: dict = {
        "date_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "notes": "shared 2-core machine: other processes may have run concurrently; expect +-20% noise",
        "flop_convention": "forward = 2 x multiply-adds of Conv2D+Dense; train sample = 3x forward, validation = 1x",
        "steady_epoch": "median of the epochs after the first; epoch time includes the validation pass",
        "fastest_epoch": "fastest of the epochs after the first: peak against the matmul's best of 10",
    }
    driver_dir = work / "driver"
    if not args.skip_driver:
        print("mock driver (one process) ...", flush=True)
        empty_graph_cache()
        result["driver"] = bench_driver(driver_dir, args.step01.split())
        print("mock driver again, its graphs cached ...", flush=True)
        result["driver_graphs_cached"] = bench_driver(work / "driver_again", args.step01.split())
        print(f"mock driver, {args.epochs} epochs, graphs empty (built by its warm-up process) ...", flush=True)
        empty_graph_cache()
        epochs_option = ["--epochs", str(args.epochs)]
        result["driver_epochs"] = bench_driver(work / "driver_epochs", [*args.step01.split(), *epochs_option])
        print("the five scripts, each its own process ...", flush=True)
        empty_graph_cache()
        result["scripts"] = bench_scripts(work / "scripts", args.step01.split())
    result["step01_options"] = MOCK_ARGS + args.step01.split()
    import tensorflow as tf

    from phase4a.data import dataset as dataset_module

    print("matmul, oneDNN's kernels and TensorFlow's own ...", flush=True)
    result["matmul_flops_by_kernels"] = matmul_flops_by_kernels()
    result["matmul_flops"] = result["matmul_flops_by_kernels"]["best"]
    result["tf_enable_onednn_opts"] = os.environ.get("TF_ENABLE_ONEDNN_OPTS", "unset (TensorFlow's default: on)")
    data = dataset_module.load(driver_dir / "data.npz")
    n_train, n_val = len(data.X_train), len(data.X_val)
    import keras

    model = keras.models.load_model(driver_dir / "model_untrained.keras")
    fwd = forward_flops(model)
    epoch_flops = fwd * (3 * n_train + n_val)
    print("matmuls of the model's own layer shapes ...", flush=True)
    result["matmul_bound"] = matmul_bound_epoch(model, BATCH_SIZE, n_train, n_val)
    del model
    result["forward_flops_per_sample"] = fwd
    result["tensorflow"] = tf.__version__

    print(f"plain model.fit, {args.epochs} epochs ...", flush=True)
    plain = plain_fit(driver_dir / "model_untrained.keras", data, args.epochs, BATCH_SIZE)
    print(f"pipeline (step 04 path), {args.epochs} epochs ...", flush=True)
    empty_graph_cache()
    pipe = pipeline_fit(copy_run(driver_dir, work / "pipeline", epochs=args.epochs))
    print(f"pipeline in a new process, graphs from the cache, {args.epochs} epochs ...", flush=True)
    cached = pipeline_fit_in_new_process(copy_run(driver_dir, work / "pipeline_cached", epochs=args.epochs))
    print(f"pipeline with TensorFlow's Conv2D gradient, {args.epochs} epochs ...", flush=True)
    tf_gradient = pipeline_fit(copy_run(driver_dir, work / "tf_gradient", epochs=args.epochs, fast_conv_gradient=False))

    def summarise(entry: dict, epoch_seconds: list[float], suffix: str = "") -> None:
        sec = steady(epoch_seconds)
        entry["steady_epoch_seconds" + suffix] = round(sec, 3)
        entry["samples_per_second" + suffix] = round(n_train / sec, 2)
        entry["first_over_steady" + suffix] = round(epoch_seconds[0] / sec, 2)
        entry["first_epoch_overhead_seconds" + suffix] = round(epoch_seconds[0] - sec, 2)
        entry["achieved_flops" + suffix] = epoch_flops / sec
        entry["percent_of_matmul" + suffix] = round(100 * epoch_flops / sec / result["matmul_flops"], 1)
        # Peak against peak: the machine's stalls only ever slow a measurement down, and the matmul
        # rate is a best-of-10, so the fastest epoch after the first is its like.
        fastest = min(epoch_seconds[1:] or epoch_seconds)
        entry["fastest_epoch_seconds" + suffix] = round(fastest, 3)
        entry["first_over_fastest" + suffix] = round(epoch_seconds[0] / fastest, 2)
        entry["percent_of_matmul_fastest" + suffix] = round(100 * epoch_flops / fastest / result["matmul_flops"], 1)
        # Against the matmuls of the model's own shapes: what this machine's kernels leave reachable.
        bound = result["matmul_bound"]["epoch_seconds"]
        entry["percent_of_matmul_bound" + suffix] = round(100 * bound / sec, 1)
        entry["percent_of_matmul_bound_fastest" + suffix] = round(100 * bound / fastest, 1)

    for entry in (plain, pipe, cached, tf_gradient, *[result[key] for key in ("driver_epochs",) if key in result]):
        summarise(entry, entry["epoch_seconds"])
    for entry in (pipe, cached):
        summarise(entry, entry["epoch_seconds_with_callbacks"], "_with_callbacks")
    result["plain_keras"] = plain
    result["pipeline"] = pipe
    result["pipeline_graphs_cached"] = cached
    result["cached_equals_traced"] = cached["loss"] == pipe["loss"] and cached["val_loss"] == pipe["val_loss"]
    if "driver_epochs" in result:
        result["driver_epochs_equals_traced"] = result["driver_epochs"]["loss"] == pipe["loss"]
    result["pipeline_tf_conv_gradient"] = tf_gradient
    result["pipeline_over_plain"] = round(pipe["samples_per_second"] / plain["samples_per_second"], 3)

    def losses(run_dir: Path) -> list[float]:
        return [e["loss"] for e in json.loads((run_dir / "training_history.json").read_text())["epochs"]]

    # Determinism: the driver's step 04 (2 epochs) vs the scripts' (own processes) and this run's first 2.
    driver_loss = losses(driver_dir)
    if (work / "scripts").is_dir():
        result["driver_equals_scripts"] = driver_loss == losses(work / "scripts")
    k = min(len(driver_loss), len(pipe["loss"]))
    result["deterministic_across_processes"] = driver_loss[:k] == pipe["loss"][:k]

    fe = {}
    preset_dir = work / "feature_extraction"
    print("feature_extraction preset, steps 01-03 ...", flush=True)
    bench_scripts(preset_dir, ["--preset", "feature_extraction", *args.step01.split()], STEPS[:3])
    for cached in (False, True):
        label = "cached" if cached else "uncached"
        print(f"feature extraction, {label}, {args.epochs} epochs ...", flush=True)
        entry = pipeline_fit(copy_run(preset_dir, work / f"fe_{label}", epochs=args.epochs, cache_features=cached))
        entry["steady_epoch_seconds"] = round(steady(entry["epoch_seconds"]), 4)
        fe[label] = entry
    fe["later_epoch_speedup"] = round(fe["uncached"]["steady_epoch_seconds"] / fe["cached"]["steady_epoch_seconds"], 1)
    result["feature_extraction"] = fe

    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{datetime.now(UTC).strftime('%Y-%m-%d_%H%M%S')}.json"
    out.write_text(json.dumps(result, indent=2, default=float))
    print_table(result)
    print(f"\nwrote {out}")
    return 0


def print_table(r: dict) -> None:
    p, q = r["plain_keras"], r["pipeline"]
    kernels, mflop = r["matmul_flops_by_kernels"], r["forward_flops_per_sample"] / 1e6
    print(
        f"\nmatmul float32: {kernels['onednn'] / 1e9:.1f} GFLOP/s with oneDNN, "
        f"{kernels['tensorflow_own'] / 1e9:.1f} with TensorFlow's own kernels (% below: of the faster); "
        f"forward {mflop:.1f} MFLOP per sample; TF_ENABLE_ONEDNN_OPTS: {r['tf_enable_onednn_opts']}"
    )
    print(f"convention: {r['flop_convention']}")
    bound = r["matmul_bound"]
    print(
        f"bound: an epoch of the model's own layer matmuls ({bound['distinct_matmuls']} shapes, batch {BATCH_SIZE}, "
        f"forward and both gradients, each the faster kernel) {bound['epoch_seconds']:.2f} s, "
        f"{bound['flops_per_second'] / 1e9:.1f} GFLOP/s; % bound = that epoch / the steady epoch"
    )
    print(
        f"{'training':<24}{'steady s/epoch':>15}{'samples/s':>11}{'1st/steady':>11}{'1st - steady':>13}"
        f"{'% matmul':>10}{'% bound':>9}{'fastest s':>10}{'1st/fastest':>12}{'% matmul':>10}{'% bound':>9}"
    )
    c = r["pipeline_graphs_cached"]
    rows = (
        ("plain model.fit", p, ""),
        ("pipeline (step 04)", q, ""),
        ("step 04 with callbacks", q, "_with_callbacks"),
        ("step 04, graphs cached", c, ""),
        ("  with callbacks", c, "_with_callbacks"),
        ("pipeline, TF conv grad", r["pipeline_tf_conv_gradient"], ""),
        *([("driver's step 04, warm-up", r["driver_epochs"], "")] if "driver_epochs" in r else []),
    )
    for name, e, suffix in rows:
        print(
            f"{name:<24}{e['steady_epoch_seconds' + suffix]:>15.2f}{e['samples_per_second' + suffix]:>11.1f}"
            f"{e['first_over_steady' + suffix]:>11.2f}{e['first_epoch_overhead_seconds' + suffix]:>12.1f}s"
            f"{e['percent_of_matmul' + suffix]:>10.1f}{e['percent_of_matmul_bound' + suffix]:>9.1f}"
            f"{e['fastest_epoch_seconds' + suffix]:>10.2f}"
            f"{e['first_over_fastest' + suffix]:>12.2f}{e['percent_of_matmul_fastest' + suffix]:>10.1f}"
            f"{e['percent_of_matmul_bound_fastest' + suffix]:>9.1f}"
        )
    print("(with callbacks: each epoch also counts step 04's checkpoint, early-stopping weights and backup)")
    print(
        "(graphs cached: step 04 in a new process that reads the graphs the run above traced; "
        f"same losses: {r['cached_equals_traced']})"
    )
    if "driver_epochs" in r:
        print(
            "(driver's step 04: the mock driver's first run, whose warm-up process built the graphs while "
            f"steps 02-03 ran; same losses as step 04 tracing its own: {r['driver_epochs_equals_traced']}; "
            f"driver {r['driver_epochs']['wall_seconds']:.1f} s)"
        )
    print(
        f"pipeline / plain: {r['pipeline_over_plain']:.2f}x; same losses as the driver's step 04: "
        f"{r['deterministic_across_processes']}; driver (one process) = scripts (a process each): "
        f"{r.get('driver_equals_scripts')}"
    )
    fe = r["feature_extraction"]
    print(
        f"feature extraction s/epoch after the first: uncached {fe['uncached']['steady_epoch_seconds']:.3f}, "
        f"cached {fe['cached']['steady_epoch_seconds']:.4f} ({fe['later_epoch_speedup']}x); "
        f"first epochs {fe['uncached']['epoch_seconds'][0]:.2f} vs {fe['cached']['epoch_seconds'][0]:.2f}"
    )
    if "driver" in r:
        d = r["driver"]
        print(
            f"\nmock driver (one process): {d['wall_seconds']:.1f} s wall, peak RSS {d['peak_rss_mib']:.0f} MiB; "
            f"outside the steps' work (interpreter, imports, TensorFlow start, exit): {d['outside_steps_work']:.1f} s"
        )
        print("  work per step: " + ", ".join(f"{name} {s['work']:.1f} s" for name, s in d["steps"].items()))
        again = r["driver_graphs_cached"]
        print(
            f"mock driver again, graphs cached: {again['wall_seconds']:.1f} s wall; work per step: "
            + ", ".join(f"{name} {s['work']:.1f} s" for name, s in again["steps"].items())
        )
        scripts = r["scripts"]
        print(f"the five scripts one by one (a process each): {scripts['wall_seconds']:.1f} s wall")
        print(f"{'step':<36}{'wall':>7}{'startup':>9}{'work':>7}{'peak RSS MiB':>14}")
        for script, s in scripts["steps"].items():
            print(f"{script:<36}{s['wall']:>7.1f}{s['startup']:>9.1f}{s['work']:>7.1f}{s['peak_rss_mib']:>14.0f}")


if __name__ == "__main__":
    sys.exit(main())
