#!/usr/bin/env python3
"""Step 02: load the pretrained backbone and record what it is.

Usage: python phase4a_02_load_pretrained.py --help
The logic lives in phase4a/steps/load_pretrained.py.
"""

from phase4a.cli import exit_step
from phase4a.steps.load_pretrained import main

if __name__ == "__main__":
    exit_step(main())
