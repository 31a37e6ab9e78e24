"""Step 04's and step 05's graphs built in a second process while the drivers run steps 02 and 03.

Usage (the drivers start it with a run and write "begin" to its input after step 01; a run never
needs it):
  python -m phase4a.graph_warmup --run-dir DIR --progress FILE

A first run of a configuration traces its train step and its predictions (graph_cache.py): about
4.5 s of step 04's first epoch and 1-2 s of step 05 for the report's model on a 2-core machine, in
Python, on one core. Steps 02 and 03 keep only one core busy too. So this process imports TensorFlow
while step 01 runs; once step 01 has written the config and the data, it builds the same model from
the config (with random weights, since a graph does not depend on their values), takes it through
step 04's preparation and then step 05's, and calls each graph once, which writes it to the graph
cache. Step 04 reads them, or waits for the one being built instead of tracing it a second time
(``graph_cache.expect_graphs_from``).

It writes to the graph cache only, never to the run directory. If it fails or is stopped, the steps
trace what they do not find, as without it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import config as config_module
from . import paths
from .stages import RunDir

# How often step 04 looks at the progress file while it waits for a graph.
POLL_SECONDS = 0.02
# Once step 04's graphs are built, step 05's wait for the CPU that training leaves: their build would
# otherwise slow step 04's first epochs down.
STEP05_NICENESS = 19


def trains_through_cache(model, config: dict[str, Any]) -> bool:
    """Whether step 04 trains ``model`` through the graph cache's train step, on (patches, labels)
    batches: its plain ``fit``, without class weights (a third, per-sample input) and without the
    cached-feature head (several steps per call)."""
    from .feature_cache import cached_feature_plan

    return (
        config["progressive_stages"] == 0
        and config["class_weights"] == "none"
        and cached_feature_plan(model, config) is None
    )


def warm_graphs(
    run: RunDir,
    config: dict[str, Any],
    report: Callable[[str, str], None],
    before_step05: Callable[[], Any] = lambda: None,
) -> None:
    """Call, through the graph cache, every graph steps 04 and 05 will call, in their order;
    ``report(kind, key)`` after each ("-" when the graph could not be cached), ``before_step05()``
    between step 04's and step 05's."""
    from . import graph_cache
    from .data import dataset as dataset_module
    from .models.inference import predict_probabilities, prepare_for_inference
    from .models.transfer import build_untrained_model
    from .training import build_training_variables, compile_model

    cache = graph_cache.graph_cache_for(config)
    if cache is None:
        return
    data = dataset_module.load(run.require("data"))

    def untrained_model():
        return build_untrained_model(config, data.X_train.shape[1:], len(data.class_names), None)[0]

    def call(kind: str, step: Callable[[], Any]) -> None:
        before = len(cache.ready)
        step()
        report(kind, cache.ready[-1][1] if len(cache.ready) > before else "-")

    def predict(model) -> None:
        predict_probabilities(model, data.X_val, config["batch_size"], cache)

    model = untrained_model()
    trains = trains_through_cache(model, config)
    report("plan", " ".join([*(["train", "predict"] if trains else []), "predict"]))
    if trains:  # step 04: its train step, then the collapse monitor's prediction after the first epoch
        compile_model(model, config)
        build_training_variables(model, data)
        batch = (data.X_train[: config["batch_size"]], data.y_train[: config["batch_size"]])
        call("train", lambda: graph_cache.train_step(model, cache, batch))
        call("predict", lambda: predict(model))
    before_step05()
    model = untrained_model()  # step 05 loads the trained model uncompiled
    prepare_for_inference(model, config)
    call("predict", lambda: predict(model))


def graph_built(reports: list[tuple[str, str]], kind: str, key: str) -> bool | None:
    """From a warm-up's reports so far: whether it has built graph ``key`` of ``kind`` (True), will not
    (False: it has built every graph of that kind it planned, or planned none), or may still (None)."""
    if (kind, key) in reports:
        return True
    plan = next((value.split() for name, value in reports if name == "plan"), None)
    if plan is not None and sum(name == kind for name, _ in reports) >= plan.count(kind):
        return False
    return None


class Warmup:
    """The warm-up process of one pipeline run, and what step 04 asks of it (graph_cache.GraphsAhead).

    Started with the run, so that it imports TensorFlow while step 01 runs; told to ``begin`` once step
    01 has written the config and the data, which it then reads; ended by ``stop``.
    """

    def __init__(self, run_dir: Path):
        self.run = RunDir(run_dir)
        handle, name = tempfile.mkstemp(prefix="phase4a_graph_warmup_", suffix=".txt")
        os.close(handle)
        self.progress = Path(name)
        self.expected = False  # whether the graph cache waits for it
        self.process = subprocess.Popen(
            [sys.executable, "-m", __name__, "--run-dir", str(self.run.root.resolve()), "--progress", name],
            cwd=paths.PROJECT_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def begin(self) -> None:
        """Build the graphs of the config step 01 wrote; stop instead when it wrote none (it only listed
        presets or keys) or the config keeps no graph cache."""
        config = self.run.path("config")
        if not config.is_file() or not config_module.uses_graph_cache(config_module.load(config)):
            self.stop()
            return
        self._send(b"begin\n")
        from . import graph_cache

        graph_cache.expect_graphs_from(self)
        self.expected = True

    def _send(self, data: bytes) -> None:
        """Write ``data`` to the process and close its input (an empty input tells it to end)."""
        if self.process.stdin.closed:
            return
        try:
            self.process.stdin.write(data)
            self.process.stdin.close()
        except OSError:
            pass  # it has ended already: the steps trace their own graphs

    def _reports(self) -> list[tuple[str, str]]:
        text = self.progress.read_text(encoding="utf-8") if self.progress.is_file() else ""
        lines = [line.split(" ", 1) for line in text.splitlines(keepends=True) if line.endswith("\n")]
        return [(kind, value.strip()) for kind, value in lines]

    def wait_for(self, kind: str, key: str) -> bool:
        while (built := graph_built(self._reports(), kind, key)) is None and self.process.poll() is None:
            time.sleep(POLL_SECONDS)
        return bool(built) or bool(graph_built(self._reports(), kind, key))

    def stop(self) -> list[str]:
        """End the process if it is still running (the cache's files are written atomically); returns
        the kinds of the graphs it built."""
        built = [kind for kind, key in self._reports() if kind != "plan" and key != "-"]
        if self.expected:
            from . import graph_cache

            graph_cache.expect_graphs_from(None)
            self.expected = False
        if self.process.poll() is None:
            self._send(b"")
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.progress.unlink(missing_ok=True)
        return built


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m phase4a.graph_warmup", description=__doc__)
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--progress", type=Path, required=True, help="file to append 'kind key' lines to")
    args = parser.parse_args(argv)
    from . import training  # noqa: F401 - TensorFlow and Keras load while step 01 runs
    from .seeding import prepare_runtime

    if sys.stdin.readline() != "begin\n":
        return 0  # the run stopped, or keeps no graph cache
    run = RunDir(args.run_dir)
    config = config_module.load(run.require("config"))
    # One core: the steps running meanwhile have the other. Thread counts are not part of a graph.
    prepare_runtime({**config, "intra_op_threads": 1, "inter_op_threads": 1})
    with args.progress.open("a", encoding="utf-8") as progress:

        def report(kind: str, key: str) -> None:
            progress.write(f"{kind} {key}\n")
            progress.flush()

        warm_graphs(run, config, report, before_step05=lambda: os.nice(STEP05_NICENESS))
    return 0


if __name__ == "__main__":
    from .cli import exit_step

    exit_step(main())
