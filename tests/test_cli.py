"""What every step's command line shares (phase4a/cli.py)."""

from __future__ import annotations

import subprocess
import sys

from phase4a.paths import PROJECT_ROOT


def test_exit_step_skips_teardown_but_keeps_output_and_exit_code():
    script = (
        "import tensorflow, sys; from phase4a.cli import exit_step; "
        "print('written'); print('warned', file=sys.stderr); exit_step(3)"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 3
    assert done.stdout.strip() == "written" and done.stderr.strip().endswith("warned")
