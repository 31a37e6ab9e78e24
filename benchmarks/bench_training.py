"""The pipeline's speed, memory and disk: one run, one JSON file in benchmarks/results/, one table.
docs/performance.md is generated from that JSON: ``python -m benchmarks.summarise FILE --out docs/performance.md``.

Usage: python -m benchmarks.bench_training [--epochs N] [--quick] [--work-dir DIR] [--skip SECTION,...]
                                            [--baseline-ref GIT_REF | --baseline-dir DIR] [--pairs N]

Sections, in the order they run (benchmarks/README.md says what each figure means):
  driver         the mock driver's command (every step in one process, phase4a.pipeline): wall time,
                 peak RSS, each step's work (run_manifest.json), and the bytes of the finished run directory
  scripts        the step scripts one by one, a process each: per step wall time, start-up (wall - work),
                 work and peak RSS
  matmul         the 2048^2 float32 matmul with oneDNN's kernels and TensorFlow's own (child processes),
                 and the bound: the model's own layers as matmuls of their shapes at batch 32
  training       in this process, on the driver's model file and data, report config: a plain
                 ``model.fit``; a plain ``model.fit`` with Keras' equivalent callbacks (ModelCheckpoint
                 best only, EarlyStopping restoring the best weights, ReduceLROnPlateau,
                 BackupAndRestore, CSVLogger); step 04 as users run it (its epochs with its callbacks,
                 and without them: the saving's share); step 04 with TensorFlow's Conv2D gradient
  feature_cache  the feature_extraction preset's step 04 with and without cached backbone features
  sweep          a small ablation sweep (python -m phase4a.sweep.ablation, --sweep-presets, --sweep-epochs):
                 wall time and peak RSS against the sum of its runs' training_seconds, its bytes, a run's
                 bytes under each --keep_models mode, and the 13-arm, 5-seed sweep's bytes projected
  baseline       with --baseline-ref or --baseline-dir: the mock driver's wall time and step 04's steady
                 epoch of this checkout and of the baseline, alternated A B A B (--pairs), each run a
                 fresh process and run directory
Timings are noisy on a shared 2-core machine: other processes may run at the same time.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from phase4a.paths import STORE_NAME
from phase4a.stages import STAGES, RunDir

from .figures import bytes_under, disk_usage, epoch_figures, saving_share, slowdown, speedup, steady
from .targets import TARGETS

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
STEPS = tuple(stage.script for stage in STAGES.values())
TRAIN_SCRIPT = STAGES["train"].script
# The mock driver's fast offline config (run_phase4a_mock.sh), on the report's 300/75 mock data.
MOCK_ARGS = ["--overwrite", "--data_source", "mock", "--weights", "none", "--epochs", "2"]
BATCH_SIZE = 32  # the report's
SECTIONS = ("driver", "scripts", "matmul", "training", "feature_cache", "sweep", "baseline")
SWEEP_PRESETS = "report,higher_lr"  # two runs of the same backbone: what a sweep can share between runs
SWEEP_EPOCHS = 10  # the epochs issue 31's sweep targets (overhead, disk) are stated at
# The committed findings' sweep (docs/findings/): report, the eleven single-factor presets and simplecnn, 5 seeds.
PROJECTED_ARMS, PROJECTED_SEEDS = 13, 5


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
        "python": platform.python_version(),
        "tensorflow": importlib.metadata.version("tensorflow"),
        "keras": importlib.metadata.version("keras"),
        "load_average_at_start": list(os.getloadavg()),
    }


def git(checkout: Path, *args: str) -> str | None:
    done = subprocess.run(["git", "-C", str(checkout), *args], capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else None


def code_version(checkout: Path) -> dict:
    """The commit a checkout is at, and whether tracked files differ from it (None: not a git checkout)."""
    status = git(checkout, "status", "--porcelain", "--untracked-files=no")
    return {"commit": git(checkout, "rev-parse", "HEAD"), "dirty": None if status is None else bool(status)}


# Runs a command and writes its wall seconds and peak RSS to the file named first. Linux folds the memory
# image a child is forked from into its ru_maxrss when it execs, so a child of this process, once it has
# trained models, would report at least this process's own peak; a child of this small launcher does not.
LAUNCHER = """
import json, os, subprocess, sys, time
started = time.perf_counter()
child = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(child.pid, 0)
with open(sys.argv[1], "w") as out:
    json.dump({"wall": time.perf_counter() - started, "maxrss_kib": usage.ru_maxrss}, out)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_child(cmd: list[str], cwd: Path = ROOT, env: dict | None = None) -> dict:
    """Run ``cmd``; its wall seconds and its own peak RSS (MiB), whatever this process's size."""
    with tempfile.TemporaryDirectory() as scratch:
        measured = Path(scratch) / "measured.json"
        proc = subprocess.Popen(
            [sys.executable, "-c", LAUNCHER, str(measured), *cmd],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        output = proc.stdout.read().decode(errors="replace")
        code = proc.wait()
        if code != 0:
            raise RuntimeError(f"{' '.join(cmd)} (in {cwd}) failed ({code}):\n{output[-3000:]}")
        figures = read_json(measured)
    return {"wall": round(figures["wall"], 3), "peak_rss_mib": round(figures["maxrss_kib"] / 1024, 1)}


def read_json(path: Path):
    return json.loads(Path(path).read_text())


def step_seconds(run_dir: Path) -> dict[str, dict]:
    """Each step's start-up and work seconds as run_step recorded them in run_manifest.json."""
    manifest = read_json(run_dir / "run_manifest.json")
    return {name: entry["seconds"] for name, entry in sorted(manifest["steps"].items())}


def epoch_seconds(run_dir: Path) -> list[float]:
    """Step 04's epochs (training and validation) as training_history.json records them."""
    return [round(entry["seconds"], 4) for entry in read_json(run_dir / "training_history.json")["epochs"]]


def bench_driver(run_dir: Path, extra: list[str]) -> dict:
    """The mock driver's own command (one process, phase4a.pipeline): wall, peak RSS, per step the
    start-up (config, seeding; the first TensorFlow step also loads TensorFlow) and work, and the bytes
    the finished run leaves on disk."""
    shutil.rmtree(run_dir, ignore_errors=True)  # a finished run would be skipped, not timed
    process = run_child([sys.executable, "-m", "phase4a.pipeline", "--run-dir", str(run_dir), *MOCK_ARGS, *extra])
    steps = step_seconds(run_dir)
    work = sum(entry["work"] for entry in steps.values())
    history = read_json(run_dir / "training_history.json")
    return {
        "wall_seconds": process["wall"],
        "peak_rss_mib": process["peak_rss_mib"],
        "outside_steps_work": round(process["wall"] - work, 3),
        "steps": steps,
        "epoch_seconds": epoch_seconds(run_dir),
        "loss": [entry["loss"] for entry in history["epochs"]],
        "disk": disk_usage(run_dir),
    }


def bench_scripts(run_dir: Path, extra: list[str], scripts: tuple[str, ...] = STEPS) -> dict:
    """The scripts one by one, each its own process (as a student runs them): per step wall time,
    start-up (wall - work: interpreter, imports, TensorFlow start, exit), work and peak RSS."""
    shutil.rmtree(run_dir, ignore_errors=True)
    started = time.perf_counter()
    steps = {}
    for script in scripts:
        args = [sys.executable, script, "--run-dir", str(run_dir)]
        if script == STAGES["setup"].script:
            args += MOCK_ARGS + extra
        steps[script] = run_child(args)
    total = time.perf_counter() - started
    for (name, seconds), script in zip(step_seconds(run_dir).items(), scripts):
        steps[script].update(step=name, work=seconds["work"], startup=round(steps[script]["wall"] - seconds["work"], 3))
    return {"wall_seconds": round(total, 3), "steps": steps}


# ---------------------------------------------------------------- FLOPs and the matmul references


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


def matmul_seconds_by_kernels(shapes: list[list[int]], repeats: int = 10) -> dict[str, list[float]]:
    """``matmul_seconds`` with oneDNN's kernels and with TensorFlow's own, each in a child process (the
    switch is read when TensorFlow loads); ``best``: per shape the faster, the machine's rate."""
    code = "import json, sys; from benchmarks.bench_training import matmul_seconds; "
    code += "print(json.dumps(matmul_seconds(json.loads(sys.argv[1]), int(sys.argv[2]))))"
    times = {}
    for label, switch in (("onednn", "1"), ("tensorflow_own", "0")):
        output = subprocess.run(
            [sys.executable, "-c", code, json.dumps(shapes), str(repeats)],
            cwd=ROOT,
            env={**os.environ, "TF_ENABLE_ONEDNN_OPTS": switch},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        times[label] = json.loads(output.strip().splitlines()[-1])
    return {**times, "best": [min(pair) for pair in zip(*times.values())]}


def matmul_flops_by_kernels(n: int = 2048, repeats: int = 10) -> dict[str, float]:
    """FLOP/s of an n x n float32 matmul, best of ``repeats``, with oneDNN's kernels and TensorFlow's own;
    ``best``: the faster, the machine's rate."""
    seconds = matmul_seconds_by_kernels([[n, n, n]], repeats)
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


def matmul_bound_epoch(model, batch: int, n_train: int, n_val: int, repeats: int = 10) -> dict:
    """The fastest an epoch could be if every layer ran as fast as this machine multiplies matrices of
    that layer's own shapes: per training batch each layer's forward matmul [M, K, N], its input
    gradient [M, N, K] and its kernel gradient [K, M, N] (the 3x convention), per validation batch the
    forward one; partial batches pro rata. A 2048^2 matmul keeps both cores' vector units busy; the
    model's matmuls have as few as ``batch`` rows (1x1 feature maps), which no kernel runs as fast."""
    forward = [tuple(shape) for shape in layer_matmuls(model, batch)]
    training = [shape for m, k, n in forward for shape in ((m, k, n), (m, n, k), (k, m, n))]
    unique = sorted(set(training))
    timed = matmul_seconds_by_kernels([list(shape) for shape in unique], repeats)["best"]
    seconds = dict(zip(unique, timed))
    train_step = sum(seconds[shape] for shape in training)
    validation_step = sum(seconds[shape] for shape in forward)
    epoch = n_train / batch * train_step + n_val / batch * validation_step
    flops = forward_flops(model) * (3 * n_train + n_val)
    return {"epoch_seconds": epoch, "flops_per_second": flops / epoch, "distinct_matmuls": len(unique)}


# ---------------------------------------------------------------- training in this process


class CallbackSpan:
    """Two callbacks around a list of callbacks: ``first`` notes when each epoch begins and when training
    and validation are done (Keras calls ``on_epoch_end`` in list order, after its own validation pass),
    ``last`` when every callback has finished with the epoch (checkpoints, backups, logs)."""

    def __init__(self):
        import keras

        span = self
        self.begins, self.trained, self.ends = [], [], []

        class _First(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                span.begins.append(time.perf_counter())

            def on_epoch_end(self, epoch, logs=None):
                span.trained.append(time.perf_counter())

        class _Last(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                span.ends.append(time.perf_counter())

        self.first, self.last = _First(), _Last()

    def around(self, callbacks: list) -> list:
        return [self.first, *callbacks, self.last]

    def training_seconds(self) -> list[float]:
        return [round(end - begin, 4) for begin, end in zip(self.begins, self.trained)]

    def seconds(self) -> list[float]:
        return [round(end - begin, 4) for begin, end in zip(self.begins, self.ends)]


def link_or_copy(source: Path, target: Path) -> None:
    """A hard link where the file system allows (steps write their outputs by atomic rename, never in
    place, so a linked input is never changed), else a copy."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def copy_run(source: Path, target: Path, **overrides) -> Path:
    """A new run directory holding the outputs of ``source``'s steps before step 04, with config overrides."""
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    before_training = [stage for stage in STAGES.values() if stage.number < STAGES["train"].number]
    for stage in before_training:
        for artefact in stage.writes:
            path = RunDir(source).path(artefact)
            if path.is_file():
                link_or_copy(path, RunDir(target).path(artefact))
    config_path = RunDir(target).path("config")
    config = read_json(config_path)
    config.update(overrides)
    config_path.unlink()  # a hard link to the source's config: write a file of its own
    config_path.write_text(json.dumps(config, indent=2))
    return target


def fresh_runtime(config: dict) -> None:
    """Each training run as a step starts: Keras' global state cleared, seeded, the config's kernels."""
    import keras

    from phase4a.seeding import prepare_runtime

    keras.backend.clear_session()
    prepare_runtime(config)


def keras_equivalent_callbacks(directory: Path, config: dict) -> list:
    """What a plain Keras user would add for what step 04's callbacks do: the best model by
    ``checkpoint_monitor``, early stopping restoring the best weights, the learning-rate reduction, a
    backup for resuming and a CSV log, with the config's monitors and patiences."""
    import keras

    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    return [
        keras.callbacks.ModelCheckpoint(
            str(directory / "best.keras"), monitor=config["checkpoint_monitor"], save_best_only=True
        ),
        keras.callbacks.EarlyStopping(
            monitor=config["monitor"], patience=config["early_stopping_patience"], restore_best_weights=True
        ),
        keras.callbacks.ReduceLROnPlateau(
            monitor=config["monitor"],
            factor=config["reduce_lr_factor"],
            patience=config["reduce_lr_patience"],
            min_lr=config["min_learning_rate"],
        ),
        keras.callbacks.BackupAndRestore(str(directory / "backup")),
        keras.callbacks.CSVLogger(str(directory / "training_log.csv")),
    ]


def untrained_model(run_dir: Path):
    """Step 03's model of a run, as step 04 rebuilds it (not compiled)."""
    from phase4a import config as config_module
    from phase4a.models.transfer import load_run_untrained_model

    run = RunDir(run_dir)
    return load_run_untrained_model(run, config_module.sections(config_module.load(run.path("config"))))


def plain_fit(run_dir: Path, data, config: dict, callbacks_dir: Path | None = None) -> dict:
    """A plain ``model.fit`` of step 03's model file and data, as the keras-io guide writes it: compiled with
    the report's optimiser and loss, no speed-up; with ``callbacks_dir``, Keras' equivalent callbacks too."""
    import keras

    fresh_runtime(config)
    model = untrained_model(run_dir)
    model.compile(
        optimizer=keras.optimizers.Adam(config["learning_rate"]),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    span = CallbackSpan()
    extra = [] if callbacks_dir is None else keras_equivalent_callbacks(callbacks_dir, config)
    started = time.perf_counter()
    history = model.fit(
        data.X_train,
        data.y_train,
        validation_data=(data.X_val, data.y_val),
        batch_size=config["batch_size"],
        epochs=config["epochs"],
        callbacks=span.around(extra),
        verbose=0,
    )
    return {
        "epoch_seconds": span.training_seconds(),
        "epoch_seconds_with_callbacks": span.seconds(),
        "loss": [float(value) for value in history.history["loss"]],
        "wall_seconds": round(time.perf_counter() - started, 3),
        "callbacks": [type(callback).__name__ for callback in extra],
    }


def pipeline_fit(run_dir: Path) -> dict:
    """Step 04's own training path, in this process, as the step runs it (seeded first); its epochs
    without the callbacks after the collapse monitor (EpochRecorder's times) and with all of them."""
    import phase4a.steps.train_transfer as step04
    from phase4a import config as config_module

    config = config_module.load(RunDir(run_dir).path("config"))
    fresh_runtime(config)
    span = CallbackSpan()
    make_callbacks = step04.make_callbacks
    step04.make_callbacks = lambda *args, **kwargs: span.around(make_callbacks(*args, **kwargs))
    started = time.perf_counter()
    try:
        history = step04.train_transfer(RunDir(run_dir), config, retrain=True, verbose=0)
    finally:
        step04.make_callbacks = make_callbacks
    return {
        "epoch_seconds": [round(e["seconds"], 4) for e in history["epochs"]],
        "epoch_seconds_with_callbacks": span.seconds(),
        "val_loss": [e["val_loss"] for e in history["epochs"]],
        "loss": [e["loss"] for e in history["epochs"]],
        "feature_cache": history.get("feature_cache"),
        "wall_seconds": round(time.perf_counter() - started, 3),
        "jit_compile": config["jit_compile"],
    }


def bench_training(driver_dir: Path, work: Path, epochs: int, matmul: dict | None) -> dict:
    """Plain ``model.fit`` bare and with Keras' callbacks, step 04, and step 04 with TensorFlow's Conv2D
    gradient, on the driver's model file and data, one after the other in this process; their figures and
    ratios. ``matmul``: the matmul section's result, for the FLOP shares."""

    from phase4a import config as config_module
    from phase4a.data import dataset as dataset_module

    driver = RunDir(driver_dir)
    data = dataset_module.load(driver.path("data"))
    config = {**config_module.load(driver.path("config")), "epochs": epochs}
    n_train, n_val = len(data.X_train), len(data.X_val)
    model = untrained_model(driver_dir)
    epoch_flops = forward_flops(model) * (3 * n_train + n_val)
    del model
    runs = {}
    print(f"plain model.fit, {epochs} epochs ...", flush=True)
    runs["plain_fit"] = plain_fit(driver_dir, data, config)
    print(f"plain model.fit with Keras' equivalent callbacks, {epochs} epochs ...", flush=True)
    runs["plain_fit_keras_callbacks"] = plain_fit(driver_dir, data, config, work / "keras_callbacks")
    print(f"step 04 as users run it, {epochs} epochs ...", flush=True)
    runs["step04"] = pipeline_fit(copy_run(driver_dir, work / "step04", epochs=epochs))
    print(f"step 04 backing up after every epoch (--backup_every_s 0), {epochs} epochs ...", flush=True)
    every_epoch_dir = copy_run(driver_dir, work / "step04_every_epoch", epochs=epochs, backup_every_s=0)
    runs["step04_backup_every_epoch"] = pipeline_fit(every_epoch_dir)
    print(f"step 04 with TensorFlow's Conv2D gradient, {epochs} epochs ...", flush=True)
    gradient_dir = copy_run(driver_dir, work / "step04_tf_gradient", epochs=epochs, fast_conv_gradient="false")
    runs["step04_tf_conv_gradient"] = pipeline_fit(gradient_dir)
    rate = matmul["matmul_flops"] if matmul else None
    bound = matmul["matmul_bound"]["epoch_seconds"] if matmul else None
    for entry in runs.values():
        entry["figures"] = epoch_figures(entry["epoch_seconds"], n_train, epoch_flops, rate, bound)
        entry["figures_with_callbacks"] = epoch_figures(
            entry["epoch_seconds_with_callbacks"], n_train, epoch_flops, rate, bound
        )
    for name in ("keras_callbacks", "step04", "step04_every_epoch", "step04_tf_gradient"):
        shutil.rmtree(work / name, ignore_errors=True)  # 0.2-0.7 GB each; the figures are kept
    return {
        "runs": runs,
        "n_train": n_train,
        "n_val": n_val,
        "epochs": epochs,
        "deterministic": config["deterministic"],
        "epoch_flops": epoch_flops,
        "ratios": training_ratios(runs),
    }


def training_ratios(runs: dict) -> dict:
    """Step 04 against plain Keras, steady epoch against steady epoch: ``*_over_*`` is a speed-up (>1: step
    04 faster); ``*_saving_share`` what the per-epoch callbacks add to an epoch without them."""

    def steady_of(name: str, key: str = "epoch_seconds") -> float:
        return steady(runs[name][key])

    step04, plain, keras_cb = "step04", "plain_fit", "plain_fit_keras_callbacks"
    with_cb = "epoch_seconds_with_callbacks"
    ratios = {
        # What users run against what they would otherwise write: both with their callbacks.
        "step04_over_keras_callbacks": round(speedup(steady_of(keras_cb, with_cb), steady_of(step04, with_cb)), 3),
        # Step 04 as users run it against a bare model.fit (no checkpoints, no backup).
        "step04_with_callbacks_over_plain": round(speedup(steady_of(plain), steady_of(step04, with_cb)), 3),
        # The training step alone: epochs without any callback's saving.
        "step04_over_plain": round(speedup(steady_of(plain), steady_of(step04)), 3),
        "keras_callbacks_over_plain": round(slowdown(steady_of(keras_cb, with_cb), steady_of(plain)), 3),
        "step04_saving_share": round(saving_share(runs[step04]["epoch_seconds"], runs[step04][with_cb]), 4),
        "keras_callbacks_saving_share": round(
            saving_share(runs[keras_cb]["epoch_seconds"], runs[keras_cb][with_cb]), 4
        ),
        "step04_over_tf_conv_gradient": round(speedup(steady_of("step04_tf_conv_gradient"), steady_of(step04)), 3),
    }
    every = "step04_backup_every_epoch"
    if every in runs:
        # The worst case a user can choose: a backup (and the checkpoint) written after every epoch.
        ratios["step04_every_epoch_saving_share"] = round(
            saving_share(runs[every]["epoch_seconds"], runs[every][with_cb]), 4
        )
    return ratios


def bench_feature_cache(work: Path, epochs: int, step01: list[str]) -> dict:
    """The feature_extraction preset (steps 01-03 as scripts): step 04 with and without cached features."""
    preset_dir = work / "feature_extraction"
    print("feature_extraction preset, steps 01-03 ...", flush=True)
    bench_scripts(preset_dir, ["--preset", "feature_extraction", *step01], STEPS[:3])
    fe = {}
    for cached in (False, True):
        label = "cached" if cached else "uncached"
        print(f"feature extraction, {label}, {epochs} epochs ...", flush=True)
        run_dir = copy_run(preset_dir, work / f"fe_{label}", epochs=epochs, cache_features=str(cached).lower())
        entry = pipeline_fit(run_dir)
        entry["steady_epoch_seconds"] = round(steady(entry["epoch_seconds"]), 4)
        fe[label] = entry
        shutil.rmtree(run_dir, ignore_errors=True)
    fe["later_epoch_speedup"] = round(fe["uncached"]["steady_epoch_seconds"] / fe["cached"]["steady_epoch_seconds"], 1)
    return fe


# ---------------------------------------------------------------- sweep


def bench_sweep(sweep_dir: Path, presets: list[str], epochs: int, step01: list[str]) -> dict:
    """A small ablation sweep in its own process: its wall time against the sum of its runs' training time
    (data, building, evaluation and saving are the rest), its peak RSS, and its bytes on disk."""
    shutil.rmtree(sweep_dir, ignore_errors=True)
    command = [sys.executable, "-m", "phase4a.sweep.ablation", "--presets", ",".join(presets)]
    command += ["--sweep-dir", str(sweep_dir), "--data_source", "mock", "--weights", "none"]
    command += ["--epochs", str(epochs), *step01]
    process = run_child(command)
    runs = {}  # every run the sweep made, wherever its layout puts it (<arm>/seed_<s>, ...)
    for path in sorted(sweep_dir.rglob(RunDir(sweep_dir).path("training_history").name)):
        history = read_json(path)
        name = path.parent.relative_to(sweep_dir).as_posix()
        runs[name] = {"training_seconds": history["training_seconds"], "epochs_run": history["epochs_run"]}
    if not runs:
        raise RuntimeError(f"the sweep in {sweep_dir} left no training history")
    training = sum(run["training_seconds"] for run in runs.values())
    disk = disk_usage(sweep_dir)
    reference = sweep_dir / presets[0] / "seed_42"
    return {
        "presets": presets,
        "epochs": epochs,
        "wall_seconds": process["wall"],
        "peak_rss_mib": process["peak_rss_mib"],
        "training_seconds": round(training, 3),
        "outside_training_seconds": round(process["wall"] - training, 3),
        "wall_over_training": round(slowdown(process["wall"], training), 3),
        "runs": runs,
        "where_the_time_goes": sweep_time_split(sweep_dir, runs, process["wall"], training),
        "command": command[1:],
        "disk": disk,
        "run_bytes_by_keep_mode": keep_mode_bytes(reference, sweep_dir.parent / "keep_modes"),
        "projection": projected_sweep(disk, runs, reference, sweep_dir),
    }


def sweep_time_split(sweep_dir: Path, runs: dict, wall: float, training: float) -> dict[str, float]:
    """The sweep's wall seconds by where they went: each step's work summed over the runs (step 04's
    without its epochs: building, saving), and the sweep's own (start-up, data, pruning, forests, findings)."""
    split: dict[str, float] = {"training epochs": training}
    for name in runs:
        for step, seconds in step_seconds(sweep_dir / name).items():
            split[step] = split.get(step, 0.0) + seconds["work"]
    split["04_train"] = split.get("04_train", 0.0) - training
    split["the sweep's own"] = wall - sum(read_json(sweep_dir / "run_times.json").values())
    return {key: round(value, 3) for key, value in split.items()}


def copy_keeping_store_links(source: str, target: str) -> None:
    """A copy of a run's own file; a file hard-linked from the store (the backbone) linked again, so that
    the copy's own bytes are the run's."""
    if os.stat(source).st_nlink > 1:
        link_or_copy(Path(source), Path(target))
    else:
        shutil.copy2(source, target)


def keep_mode_bytes(run_dir: Path, work: Path) -> dict[str, int]:
    """What one finished sweep run holds of its own (files linked from the store not counted) under each
    --keep_models mode: best as the sweep left it; all with the model file written back (the rebuild
    command) and no weights kept for rebuilding; none pruned so. On copies: the run stays as it was."""
    from phase4a.stages import FINAL_WEIGHTS, PRUNED_RECORD
    from phase4a.sweep import keep
    from phase4a.train import rebuild

    sizes = {"best": disk_usage(run_dir)["own_bytes"]}
    shutil.rmtree(work, ignore_errors=True)
    kept_all = Path(shutil.copytree(run_dir, work / "all", copy_function=copy_keeping_store_links))
    if rebuild.main([str(kept_all)]) != 0:
        raise RuntimeError(f"python -m phase4a.train.rebuild {kept_all} failed (message above)")
    for name in (FINAL_WEIGHTS, PRUNED_RECORD):
        (kept_all / name).unlink(missing_ok=True)
    sizes["all"] = disk_usage(kept_all)["own_bytes"]
    kept_none = Path(shutil.copytree(run_dir, work / "none", copy_function=copy_keeping_store_links))
    keep.prune(RunDir(kept_none), "none")
    sizes["none"] = disk_usage(kept_none)["own_bytes"]
    shutil.rmtree(work)
    return sizes


def projected_sweep(disk: dict, runs: dict, reference: Path, sweep_dir: Path) -> dict:
    """The committed findings' sweep (PROJECTED_ARMS arms x PROJECTED_SEEDS seeds) at this sweep's
    settings: every run the size of the reference run (the report model) with --keep_models best, the
    store once per seed (weights none: each seed has its own backbone; ImageNet weights: one for all),
    and the sweep's own files (data, findings) as measured."""
    store = bytes_under(sweep_dir / STORE_NAME)[0] if (sweep_dir / STORE_NAME).is_dir() else 0
    per_run = disk_usage(reference)["own_bytes"]
    runs_bytes = sum(disk_usage(sweep_dir / name)["own_bytes"] for name in runs)
    seeds = {name.rsplit("seed_", 1)[-1] for name in runs}
    sweep_files = disk["bytes"] - runs_bytes - store
    return {
        "arms": PROJECTED_ARMS,
        "seeds": PROJECTED_SEEDS,
        "run_bytes": per_run,
        "store_bytes_per_seed": round(store / len(seeds)),
        "sweep_files_bytes": sweep_files,
        "bytes": PROJECTED_ARMS * PROJECTED_SEEDS * per_run + PROJECTED_SEEDS * store / len(seeds) + sweep_files,
    }


# ---------------------------------------------------------------- another checkout, A B A B


def baseline_checkout(work: Path, ref: str | None, directory: Path | None) -> Path:
    """The baseline's source tree: ``directory`` as it is, or ``ref`` exported with ``git archive`` into
    the work directory (no worktree, nothing written to the repository)."""
    if directory is not None:
        if not (directory / "phase4a" / "pipeline.py").is_file():
            raise SystemExit(f"error: {directory} is not a checkout of this project (no phase4a/pipeline.py)")
        return directory.resolve()
    commit = git(ROOT, "rev-parse", "--verify", f"{ref}^{{commit}}")
    if commit is None:
        raise SystemExit(f"error: --baseline-ref {ref} is not a commit of {ROOT}")
    target = work / f"baseline_{commit[:12]}"
    if not (target / "phase4a" / "pipeline.py").is_file():
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        archive = subprocess.Popen(["git", "-C", str(ROOT), "archive", "--format=tar", commit], stdout=subprocess.PIPE)
        with tarfile.open(fileobj=archive.stdout, mode="r|") as tar:
            tar.extractall(target, filter="data")
        if archive.wait() != 0:
            raise SystemExit(f"error: git archive {commit} failed")
    return target


def bench_checkout(checkout: Path, run_dir: Path, epochs: int, python: str) -> dict:
    """In ``checkout`` (its own ``phase4a`` package, imported from its directory): the mock driver's
    command, then step 04 run alone for ``epochs`` epochs (``--retrain``) on that run; each a new process.
    Code before the redesign gets an empty graph cache of its own, as a first run finds it."""
    shutil.rmtree(run_dir, ignore_errors=True)
    cache = run_dir.with_name(run_dir.name + "_graph_cache")
    shutil.rmtree(cache, ignore_errors=True)
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env["PHASE4A_GRAPH_CACHE"] = str(cache)  # read only by code that has a graph cache
    driver = run_child([python, "-m", "phase4a.pipeline", "--run-dir", str(run_dir), *MOCK_ARGS], cwd=checkout, env=env)
    driver_steps = step_seconds(run_dir)
    config_path = RunDir(run_dir).path("config")
    config_path.write_text(json.dumps({**read_json(config_path), "epochs": epochs}, indent=2))
    step04 = run_child([python, TRAIN_SCRIPT, "--run-dir", str(run_dir), "--retrain"], cwd=checkout, env=env)
    seconds = epoch_seconds(run_dir)
    manifest = read_json(run_dir / "run_manifest.json")
    entry = {
        "driver_wall_seconds": driver["wall"],
        "driver_peak_rss_mib": driver["peak_rss_mib"],
        "driver_work": {name: value["work"] for name, value in driver_steps.items()},
        "step04_epoch_seconds": seconds,
        "step04_steady_epoch_seconds": round(steady(seconds), 4),
        "step04_work_seconds": step_seconds(run_dir)[next(n for n in driver_steps if n.endswith("_train"))]["work"],
        "step04_wall_seconds": step04["wall"],
        "step04_peak_rss_mib": step04["peak_rss_mib"],
        "code_version": manifest.get("environment", {}).get("code_version"),
    }
    shutil.rmtree(run_dir, ignore_errors=True)  # 0.5-0.7 GB a run
    shutil.rmtree(cache, ignore_errors=True)
    return entry


def bench_baseline(checkout: Path, work: Path, epochs: int, pairs: int, python: str) -> dict:
    """This checkout (A) and the baseline (B), alternated A B A B so that the shared machine's drift falls
    on both; ratios of the medians: this checkout over the baseline (>1: slower than before)."""
    sides = {"current": ROOT, "baseline": checkout}
    runs: dict[str, list[dict]] = {label: [] for label in sides}
    for pair in range(pairs):
        for label, tree in sides.items():
            print(f"{label} ({tree}), pair {pair + 1} of {pairs}: mock driver, then step 04 for {epochs} epochs ...")
            runs[label].append(bench_checkout(tree, work / "ab" / f"{label}_{pair}", epochs, python))

    return {
        "baseline_dir": str(checkout),
        "baseline_code": code_version(checkout),
        "pairs": pairs,
        "epochs": epochs,
        "order": "A B A B: current then baseline, per pair",
        "runs": runs,
        **baseline_ratios(runs),
    }


def baseline_ratios(runs: dict[str, list[dict]]) -> dict:
    """This checkout's median over the baseline's (>1: slower than before): the mock driver's wall time,
    step 04's steady epoch and work, and the driver's work in the steps both have (a step added since
    the baseline, such as step 06, is in the wall time but not in that sum)."""

    def median(label: str, key: str) -> float:
        return statistics.median(run[key] for run in runs[label])

    common = set.intersection(*(set(run["driver_work"]) for side in runs.values() for run in side))
    for side in runs.values():
        for run in side:
            run["driver_common_steps_work"] = round(sum(run["driver_work"][name] for name in common), 3)
    keys = {
        "driver_wall_ratio": "driver_wall_seconds",
        "step04_steady_ratio": "step04_steady_epoch_seconds",
        "step04_work_ratio": "step04_work_seconds",
        "driver_common_steps_work_ratio": "driver_common_steps_work",
    }
    ratios = {name: round(slowdown(median("current", key), median("baseline", key)), 3) for name, key in keys.items()}
    return {**ratios, "common_steps": sorted(common)}


# ---------------------------------------------------------------- the run


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, help="epochs of each training run (>= 2; default 5, --quick 2)")
    parser.add_argument(
        "--quick", action="store_true", help="smallest settings: 2 epochs, matmuls best of 3, one A B pair"
    )
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/phase4a_benchmark"))
    parser.add_argument("--skip", default="", help=f"comma-separated sections to leave out: {', '.join(SECTIONS)}")
    parser.add_argument(
        "--step01", default="", help="extra step-01 options, e.g. '--jit_compile true --deterministic false'"
    )
    parser.add_argument("--sweep-presets", default=SWEEP_PRESETS, help=f"the sweep's presets (default {SWEEP_PRESETS})")
    parser.add_argument(
        "--sweep-epochs", type=int, help=f"epochs of each sweep run (default {SWEEP_EPOCHS}, --quick 1)"
    )
    baseline = parser.add_mutually_exclusive_group()
    baseline.add_argument("--baseline-ref", help="a commit to compare with (exported by git archive), e.g. 8a0fdce")
    baseline.add_argument("--baseline-dir", type=Path, help="an existing checkout to compare with, e.g. /tmp/before")
    parser.add_argument("--pairs", type=int, help="A B pairs of the baseline comparison (default 2, --quick 1)")
    parser.add_argument(
        "--out", type=Path, help="the JSON file to write (default benchmarks/results/<UTC date and time>.json)"
    )
    args = parser.parse_args(argv)
    args.epochs = args.epochs or (2 if args.quick else 5)
    args.pairs = args.pairs or (1 if args.quick else 2)
    args.sweep_epochs = args.sweep_epochs or (1 if args.quick else SWEEP_EPOCHS)
    args.repeats = 3 if args.quick else 10
    if args.epochs < 2:
        parser.error("--epochs must be at least 2: a steady epoch is one after the first")
    skipped = {name.strip() for name in args.skip.split(",") if name.strip()}
    unknown = skipped - set(SECTIONS)
    if unknown:
        parser.error(f"--skip: unknown section(s) {', '.join(sorted(unknown))}; choose from {', '.join(SECTIONS)}")
    args.sections = [name for name in SECTIONS if name not in skipped]
    if not (args.baseline_ref or args.baseline_dir):
        args.sections = [name for name in args.sections if name != "baseline"]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    work = args.work_dir
    work.mkdir(parents=True, exist_ok=True)
    step01 = args.step01.split()
    started = time.perf_counter()
    result: dict = {
        "schema": 2,
        "date_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "code": code_version(ROOT),
        "settings": {
            "epochs": args.epochs,
            "quick": args.quick,
            "sections": args.sections,
            "mock_args": MOCK_ARGS,
            "step01_options": step01,
            "matmul_repeats": args.repeats,
        },
        "notes": "shared machine: other processes may have run concurrently (load_average_at_start)",
        "flop_convention": "forward = 2 x multiply-adds of Conv2D+Dense; train sample = 3x forward, validation = 1x",
        "steady_epoch": "median of the epochs after the first; epoch time includes the validation pass",
        "fastest_epoch": "fastest of the epochs after the first: peak against the matmul's best of n",
    }
    out = args.out or RESULTS / f"{datetime.now(UTC).strftime('%Y-%m-%d_%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)

    def save(complete: bool) -> None:
        """Written after every section, so a section that fails leaves the others' figures."""
        result["complete"] = complete
        result["benchmark_seconds"] = round(time.perf_counter() - started, 1)
        result["targets"] = {t.key: {"value": t.value(result), "met": t.met(result)} for t in TARGETS}
        out.write_text(json.dumps(result, indent=2, default=float))

    driver_dir = work / "driver"
    for section in args.sections:
        if section in ("matmul", "training") and not RunDir(driver_dir).path("model_untrained_weights").is_file():
            raise SystemExit(f"error: {driver_dir} holds no finished driver run; run without --skip driver")
        if section == "driver":
            print("mock driver (one process) ...", flush=True)
            result["driver"] = bench_driver(driver_dir, step01)
        elif section == "scripts":
            print("the step scripts one by one, each its own process ...", flush=True)
            result["scripts"] = bench_scripts(work / "scripts", step01)
        elif section == "matmul":
            result["matmul"] = bench_matmul(driver_dir, args.repeats)
        elif section == "training":
            result["training"] = bench_training(driver_dir, work, args.epochs, result.get("matmul"))
            result["ratios"] = result["training"]["ratios"]
            result["checks"] = consistency_checks(result, work)
        elif section == "feature_cache":
            result["feature_extraction"] = bench_feature_cache(work, args.epochs, step01)
        elif section == "sweep":
            presets = [name.strip() for name in args.sweep_presets.split(",") if name.strip()]
            print(f"sweep of {', '.join(presets)}, {args.sweep_epochs} epoch(s) each ...", flush=True)
            result["sweep"] = bench_sweep(work / "sweep", presets, args.sweep_epochs, step01)
        elif section == "baseline":
            checkout = baseline_checkout(work, args.baseline_ref, args.baseline_dir)
            python = os.environ.get("PHASE4A_PYTHON", sys.executable)
            result["baseline"] = bench_baseline(checkout, work, args.epochs, args.pairs, python)
            result["baseline"]["ref"] = args.baseline_ref
        save(complete=False)
    save(complete=True)
    print_table(result)
    print(f"\nwrote {out}; docs: python -m benchmarks.summarise {out} --out docs/performance.md")
    return 0


def bench_matmul(driver_dir: Path, repeats: int) -> dict:

    from phase4a.data import dataset as dataset_module

    print("matmul, oneDNN's kernels and TensorFlow's own ...", flush=True)
    by_kernels = matmul_flops_by_kernels(repeats=repeats)
    data = dataset_module.load(RunDir(driver_dir).path("data"))
    model = untrained_model(driver_dir)
    print("matmuls of the model's own layer shapes ...", flush=True)
    bound = matmul_bound_epoch(model, BATCH_SIZE, len(data.X_train), len(data.X_val), repeats)
    return {
        "matmul_flops_by_kernels": by_kernels,
        "matmul_flops": by_kernels["best"],
        "matmul_bound": bound,
        "forward_flops_per_sample": forward_flops(model),
        "tf_enable_onednn_opts": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "unset (TensorFlow's default: on)"),
    }


def consistency_checks(result: dict, work: Path) -> dict:
    """Same losses for step 04 in the driver, in the scripts one by one, and in this process (first epochs)."""
    step04 = result["training"]["runs"]["step04"]["loss"]
    checks = {}
    driver = RunDir(work / "driver").path("training_history")
    if driver.is_file():
        driver_loss = [entry["loss"] for entry in read_json(driver)["epochs"]]
        k = min(len(driver_loss), len(step04))
        checks["driver_equals_in_process"] = driver_loss[:k] == step04[:k]
        scripts = RunDir(work / "scripts").path("training_history")
        if "scripts" in result and scripts.is_file():
            checks["driver_equals_scripts"] = driver_loss == [entry["loss"] for entry in read_json(scripts)["epochs"]]
    return checks


def print_table(r: dict) -> None:
    from .targets import TARGETS

    if "driver" in r:
        d = r["driver"]
        print(
            f"\nmock driver (one process): {d['wall_seconds']:.1f} s wall, peak RSS {d['peak_rss_mib']:.0f} MiB; "
            f"outside the steps' work: {d['outside_steps_work']:.1f} s; on disk {d['disk']['bytes'] / 1e6:.1f} MB, "
            f"{d['disk']['own_bytes'] / 1e6:.1f} MB of it the run's own (the rest is in the shared store)"
        )
        print("  work per step: " + ", ".join(f"{name} {s['work']:.1f} s" for name, s in d["steps"].items()))
        print("  largest: " + ", ".join(f"{e['name']} {e['bytes'] / 1e6:.1f} MB" for e in d["disk"]["entries"][:6]))
    if "scripts" in r:
        scripts = r["scripts"]
        print(f"the step scripts one by one (a process each): {scripts['wall_seconds']:.1f} s wall")
        print(f"{'step':<36}{'wall':>7}{'startup':>9}{'work':>7}{'peak RSS MiB':>14}")
        for script, s in scripts["steps"].items():
            print(f"{script:<36}{s['wall']:>7.1f}{s['startup']:>9.1f}{s['work']:>7.1f}{s['peak_rss_mib']:>14.0f}")
    if "matmul" in r:
        m = r["matmul"]
        kernels, bound = m["matmul_flops_by_kernels"], m["matmul_bound"]
        print(
            f"\nmatmul 2048^2 float32: {kernels['onednn'] / 1e9:.1f} GFLOP/s oneDNN, "
            f"{kernels['tensorflow_own'] / 1e9:.1f} TensorFlow's own; forward "
            f"{m['forward_flops_per_sample'] / 1e6:.1f} MFLOP/sample; bound {bound['epoch_seconds']:.2f} s/epoch "
            f"({bound['distinct_matmuls']} shapes, {bound['flops_per_second'] / 1e9:.1f} GFLOP/s)"
        )
    if "training" in r:
        t = r["training"]
        print(f"\ntraining in this process, {t['epochs']} epochs, {t['n_train']}/{t['n_val']} patches:")
        print(f"{'run':<44}{'steady s':>9}{'samples/s':>10}{'1st/steady':>11}{'% matmul':>9}{'% bound':>8}")
        rows = (
            ("plain model.fit", "plain_fit", "figures"),
            ("plain model.fit + Keras' callbacks", "plain_fit_keras_callbacks", "figures_with_callbacks"),
            ("step 04 without its saving", "step04", "figures"),
            ("step 04 as users run it", "step04", "figures_with_callbacks"),
            ("step 04, TensorFlow's Conv2D gradient", "step04_tf_conv_gradient", "figures"),
        )
        for label, name, key in rows:
            f = t["runs"][name][key]
            print(
                f"{label:<44}{f['steady_epoch_seconds']:>9.3f}{f['samples_per_second']:>10.1f}"
                f"{f['first_over_steady']:>11.2f}{f.get('percent_of_matmul', '-'):>9}"
                f"{f.get('percent_of_bound', '-'):>8}"
            )
        q = r["ratios"]
        print(
            f"step 04 / plain+Keras callbacks {q['step04_over_keras_callbacks']:.2f}x; step 04 (callbacks) / plain "
            f"bare {q['step04_with_callbacks_over_plain']:.2f}x; training alone {q['step04_over_plain']:.2f}x; "
            f"saving: step 04 +{100 * q['step04_saving_share']:.1f}%, Keras' callbacks "
            f"+{100 * q['keras_callbacks_saving_share']:.1f}%, step 04 backing up every epoch "
            f"+{100 * q['step04_every_epoch_saving_share']:.1f}%; checks {r.get('checks')}"
        )
    if "feature_extraction" in r:
        fe = r["feature_extraction"]
        print(
            f"feature extraction s/epoch after the first: uncached {fe['uncached']['steady_epoch_seconds']:.3f}, "
            f"cached {fe['cached']['steady_epoch_seconds']:.4f} ({fe['later_epoch_speedup']}x)"
        )
    if "sweep" in r:
        s = r["sweep"]
        print(
            f"sweep {','.join(s['presets'])} ({s['epochs']} epoch each): {s['wall_seconds']:.1f} s wall, "
            f"training {s['training_seconds']:.1f} s ({s['wall_over_training']:.2f}x), peak RSS "
            f"{s['peak_rss_mib']:.0f} MiB, on disk {s['disk']['bytes'] / 1e6:.1f} MB "
            f"({s['disk']['shared_bytes'] / 1e6:.1f} MB shared between runs)"
        )
    if "baseline" in r:
        b = r["baseline"]
        for label, runs in b["runs"].items():
            drivers = ", ".join(f"{x['driver_wall_seconds']:.1f}" for x in runs)
            epochs = ", ".join(f"{x['step04_steady_epoch_seconds']:.3f}" for x in runs)
            print(f"{label:<9} driver s: {drivers}; step 04 steady epoch s: {epochs}")
        print(
            f"current / baseline ({b['baseline_dir']}): driver {b['driver_wall_ratio']:.2f}x, step 04 steady "
            f"epoch {b['step04_steady_ratio']:.2f}x, step 04 work {b['step04_work_ratio']:.2f}x"
        )
    print("\ntargets:")
    for target in TARGETS:
        value = target.value(r)
        shown = "-" if value is None else target.show(value)
        print(f"  issue {target.issue}: {target.text}: {shown} ({target.verdict(r)})")


if __name__ == "__main__":
    sys.exit(main())
