#!/usr/bin/env python3
"""Step 05: evaluate the trained model on the validation split and compare it with the baseline.

Usage: python phase4a_05_evaluate_compare.py --help
The logic lives in phase4a/steps/evaluate_compare.py.
"""

from phase4a.cli import exit_step
from phase4a.steps.evaluate_compare import main

if __name__ == "__main__":
    exit_step(main())
