"""Phase 4A: transfer learning on Sentinel-2 land-cover patches, as a reproducible pipeline."""

import os

# TensorFlow prints CUDA probing noise on CPU-only machines; real errors still raise in Python.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

__version__ = "0.1.0"
