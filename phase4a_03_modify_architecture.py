#!/usr/bin/env python3
"""Step 03: build the transfer model around the backbone and freeze its first layers.

Usage: python phase4a_03_modify_architecture.py --help
The logic lives in phase4a/steps/modify_architecture.py.
"""

from phase4a.cli import exit_step
from phase4a.steps.modify_architecture import main

if __name__ == "__main__":
    exit_step(main())
