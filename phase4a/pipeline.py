"""Steps 01 to 05 in order, in one Python process: what the shell drivers run.

Usage:
  python -m phase4a.pipeline --run-dir DIR [step-01 options ...]

Step 06 (the land-cover map) runs only where there is a scene to map: mock runs (a synthetic scene)
and runs of raster or Earth Engine data, with their auxiliary layers if they have them.

Each step is the ``main`` its script ``phase4a_0N_*.py`` runs, and steps share the files in the run
directory, as when the scripts run one by one; the one exception is a model a step saved, which the
next step takes from memory while its file is unchanged (config reuse_saved_model, phase4a/accel). One
process imports TensorFlow once instead of once per step (docs/performance.md: the start-up it saves).
Keras' global state is cleared before every step and each step seeds itself, so a step computes what it
computes in a process of its own (a slow test checks the metrics byte for byte, the benchmark the
training losses). Stops at the first step that fails, with its exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from . import config as config_module
from .cli import OneLineParser, exit_step, report_error
from .errors import RunDirBusyError
from .lock import run_dir_lock
from .stages import STAGES, RunDir

StepMain = Callable[[list[str]], int]


def step_mains(run_dir: Path) -> Iterator[tuple[str, StepMain]]:
    """(script, main) of every step the run's data source needs, in order; imported one by one, so step
    01 runs before TensorFlow loads. Which steps apply is read from the config step 01 wrote."""
    for stage in STAGES.values():
        if stage.sources is not None and data_source(run_dir) not in stage.sources:
            continue
        yield stage.script, importlib.import_module(f"{__package__}.steps.{stage.module}").main


def data_source(run_dir: Path) -> str:
    return config_module.load(RunDir(run_dir).require("config"))["data_source"]


def fresh_keras_state() -> None:
    """Forget the layer names and seed generator of the previous step, as a process of its own starts.
    Without the full garbage collection Keras can add (``free_memory``), slow in a process holding
    TensorFlow graphs: Python frees the previous step's objects in its own time."""
    if "keras" in sys.modules:  # step 01 never imports TensorFlow
        import keras

        keras.backend.clear_session(free_memory=False)


def run_steps(run_dir: Path, step01_options: list[str]) -> tuple[int, str | None]:
    """Run every step into ``run_dir``, holding its lock throughout; (0, None), or the failing step's
    exit code and script."""
    with run_dir_lock(run_dir):
        for script, main in step_mains(run_dir):
            print(f"\n=== {script}", flush=True)
            setup = script == STAGES["setup"].script
            fresh_keras_state()
            code = main(["--run-dir", str(run_dir), *(step01_options if setup else [])])
            if code != 0:
                return code, script
    return 0, None


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(
        prog="python -m phase4a.pipeline",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,  # a step-01 option such as --run must not be taken for --run-dir
    )
    parser.add_argument("--run-dir", type=Path, required=True, help="the run directory every step uses")
    args, step01_options = parser.parse_known_args(argv)
    started = time.perf_counter()
    try:
        code, failed = run_steps(args.run_dir, step01_options)
    except RunDirBusyError as error:
        return report_error(error)
    if failed:
        # The step has already said what went wrong, in one line on stderr.
        print(f"FAILED at {failed}; the outputs of earlier steps are in {args.run_dir}")
        return code
    print(f"\nDone in {time.perf_counter() - started:.0f} s.")
    return 0


if __name__ == "__main__":
    exit_step(main())
