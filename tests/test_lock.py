"""One run per directory: a second process is refused with the holder's PID, a dead holder's lock is
taken over, and a step that fails before writing leaves no lock file and no new directory."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from phase4a.errors import RunDirBusyError
from phase4a.lock import LOCK_FILE, run_dir_lock
from phase4a.paths import PROJECT_ROOT
from phase4a.steps import setup_config

HOLD = """
import sys, time
from phase4a.lock import run_dir_lock
with run_dir_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(120)
"""


@pytest.fixture
def holder(tmp_path):
    """A real second process that holds tmp_path/run's lock until killed."""
    run_dir = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(run_dir)], cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout.readline().strip() == "held"
    yield run_dir, process
    process.kill()
    process.wait()


def test_a_second_process_is_refused_with_the_holders_pid(holder):
    run_dir, process = holder
    with pytest.raises(RunDirBusyError, match=rf"in use by process {process.pid} "), run_dir_lock(run_dir):
        pass


def test_a_step_on_a_busy_directory_exits_2_with_one_line(holder, capsys):
    run_dir, process = holder
    code = setup_config.main(["--run-dir", str(run_dir), "--weights", "none"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and str(process.pid) in err[0] and "--run-dir" in err[0]
    assert sorted(path.name for path in run_dir.iterdir()) == [LOCK_FILE]  # nothing of the step's


def test_the_lock_of_a_killed_process_is_taken_over(holder):
    run_dir, process = holder
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    with run_dir_lock(run_dir):
        assert str(os.getpid()) in (run_dir / LOCK_FILE).read_text()
    assert not (run_dir / LOCK_FILE).exists()


def test_the_lock_is_reentrant_within_a_process(tmp_path):
    with run_dir_lock(tmp_path), run_dir_lock(tmp_path):
        assert (tmp_path / LOCK_FILE).is_file()
    assert not (tmp_path / LOCK_FILE).exists()


def test_a_failing_step_leaves_no_new_directory(tmp_path, capsys):
    run_dir = tmp_path / "new"
    code = setup_config.main(["--run-dir", str(run_dir), "--data_source", "week3", "--data_dir", str(tmp_path / "no")])
    assert code == 2
    assert not run_dir.exists()
