"""What every step's command line shares: the run directory, error handling, timing and the manifest."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from . import config as config_module
from .errors import Phase4AError
from .io import write_text
from .lock import run_dir_lock
from .paths import MOCK_RUN_DIR, OUTPUTS_ROOT
from .provenance import record_step
from .seeding import prepare_runtime
from .stages import ARTEFACTS, STAGES, RunDir

# Step 01 records the run directory it wrote here, so later steps run alone find it by default.
LAST_RUN_FILE = OUTPUTS_ROOT / "LAST_RUN"

StepWork = Callable[[RunDir, dict[str, Any], argparse.Namespace], None]


class OneLineParser(argparse.ArgumentParser):
    """argparse with the project's error style: one line on stderr naming the problem and the fix, exit 2."""

    def error(self, message: str):
        print(f"error: {message}; see {self.prog} --help", file=sys.stderr)
        sys.exit(2)

    def parse_known_args(self, args=None, namespace=None):
        # Keep the arguments as given (main(argv) in-process, or sys.argv) for the run manifest.
        given = list(sys.argv[1:] if args is None else args)
        parsed, rest = super().parse_known_args(args, namespace)
        parsed.command_args = given
        return parsed, rest


def step_parser(doc: str) -> argparse.ArgumentParser:
    """A parser whose help is the step's module docstring, with the shared --run-dir option."""
    parser = OneLineParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--run-dir",
        type=Path,
        default=None,
        help="run directory written by step 01 (default: the last one step 01 wrote, else phase4a_outputs/mock)",
    )
    return parser


def add_list_keys_option(parser: argparse.ArgumentParser) -> None:
    """``--list-keys``: the keys a run's results depend on, by section; ``--list-keys all`` adds the runtime ones."""
    parser.add_argument(
        "--list-keys",
        nargs="?",
        const="sections",
        choices=("sections", "all"),
        metavar="all",
        help="print the config keys by section with their defaults and exit; all: the runtime keys too",
    )


def list_keys(choice: str) -> str:
    return config_module.describe_keys(include_runtime=choice == "all")


def default_run_dir() -> Path:
    if LAST_RUN_FILE.is_file():
        return Path(LAST_RUN_FILE.read_text().strip())
    return MOCK_RUN_DIR


def remember_run_dir(run_dir: Path) -> None:
    write_text(LAST_RUN_FILE, str(run_dir.resolve()) + "\n")


def exit_step(code: int) -> NoReturn:
    """End a step's process with ``code``.

    With TensorFlow loaded, the interpreter's teardown takes a noticeable part of a step's start-up
    cost and does nothing a finished step needs: every output is written atomically and
    closed. So flush what is printed and leave without it.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    if "tensorflow" in sys.modules:
        os._exit(code)
    sys.exit(code)


def report_error(error: BaseException) -> int:
    print(f"error: {error}", file=sys.stderr)
    return 2


DEBUG_ENV = "PHASE4A_DEBUG"  # set to 1 to see the traceback of an unexpected error


def report_unexpected(error: BaseException, script: str) -> int:
    """An error no check anticipated (often a damaged artefact): one line, unless PHASE4A_DEBUG is set."""
    if os.environ.get(DEBUG_ENV):
        raise error
    reason = (str(error).strip().splitlines() or [""])[0][:200]
    print(
        f"error: {script} failed with {type(error).__name__}: {reason}; if an input file is damaged, re-run the "
        f"step that writes it; set {DEBUG_ENV}=1 to see the traceback",
        file=sys.stderr,
    )
    return 1


def artefact_times(run: RunDir, stage: str) -> dict[str, int | None]:
    paths = {key: run.path(key) for key in STAGES[stage].writes}
    return {key: path.stat().st_mtime_ns if path.is_file() else None for key, path in paths.items()}


def report_written(run: RunDir, stage: str, before: dict[str, int | None]) -> None:
    """Name the artefacts this step (re)wrote, from the one stage table."""
    after = artefact_times(run, stage)
    written = [ARTEFACTS[key] for key, mtime in after.items() if mtime is not None and mtime != before[key]]
    if written:
        print(f"wrote {', '.join(written)} to {run.root}")


def run_step(stage: str, args: argparse.Namespace, work: StepWork) -> int:
    """Check inputs, load the config, seed, run ``work``, record the step; user errors become one line."""
    run = RunDir(args.run_dir or default_run_dir())
    try:
        started = time.perf_counter()
        run.require_inputs(stage)
        with run_dir_lock(run.root):
            config = config_module.load(run.require("config"))
            prepare_runtime(config, STAGES[stage].uses_tensorflow)
            ready = time.perf_counter()
            before = artefact_times(run, stage)
            work(run, config, args)
            finished = time.perf_counter()
            report_written(run, stage, before)
            record_step(
                run,
                stage,
                config_module.config_hash(config),
                {"startup": round(ready - started, 3), "work": round(finished - ready, 3)},
                command=[STAGES[stage].script, *getattr(args, "command_args", sys.argv[1:])],
            )
    except Phase4AError as error:
        return report_error(error)
    except KeyboardInterrupt:
        print("interrupted; outputs written so far are complete, re-run the step to continue", file=sys.stderr)
        return 130
    except Exception as error:
        return report_unexpected(error, STAGES[stage].script)
    return 0
