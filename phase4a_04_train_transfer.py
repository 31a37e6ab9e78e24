#!/usr/bin/env python3
"""Step 04: train the transfer model with the report's optimiser, loss and callbacks.

Usage: python phase4a_04_train_transfer.py --help
The logic lives in phase4a/steps/train_transfer.py.
"""

from phase4a.cli import exit_step
from phase4a.steps.train_transfer import main

if __name__ == "__main__":
    exit_step(main())
