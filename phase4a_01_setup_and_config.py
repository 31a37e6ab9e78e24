#!/usr/bin/env python3
"""Step 01: resolve the configuration, load and check the data, and write both to the run directory.

Usage: python phase4a_01_setup_and_config.py --help
The logic lives in phase4a/steps/setup_config.py.
"""

from phase4a.cli import exit_step
from phase4a.steps.setup_config import main

if __name__ == "__main__":
    exit_step(main())
