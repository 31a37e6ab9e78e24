#!/usr/bin/env python3
"""Step 06: map a whole Sentinel-2 scene with the run's trained model (a land-cover GeoTIFF and its areas).

Usage: python phase4a_06_predict_map.py [--run-dir DIR] [--raster scene.tif] [--stride 8|1] [--polygons FILE]
       python phase4a_06_predict_map.py --help
The logic lives in phase4a/steps/predict_map.py.
"""

from phase4a.cli import exit_step
from phase4a.steps.predict_map import main

if __name__ == "__main__":
    exit_step(main())
