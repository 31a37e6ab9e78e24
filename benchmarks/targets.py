"""The issues' performance targets, each a figure of the benchmark's JSON and a bound on it.

The benchmark prints them and ``benchmarks.summarise`` writes them to docs/performance.md; both take
the verdict from here, computed from the numbers of one JSON, never kept by hand.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MB = 1e6  # the issues' MB and GB are decimal: 200 MB = 200e6 bytes, 2 GB = 2e9 bytes
GB = 1e9
MIB = 2**20


def _get(result: dict, *keys: str) -> Any:
    """``result[k0][k1]...``, or None where any level is missing (a section the run skipped)."""
    value: Any = result
    for key in keys:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def step_peak_rss_bytes(result: dict, stage: str) -> float | None:
    """Peak RSS of step ``stage`` (e.g. "train") run as its own script, in bytes."""
    for entry in (_get(result, "scripts", "steps") or {}).values():
        if str(entry.get("step", "")).endswith(f"_{stage}"):
            return entry["peak_rss_mib"] * MIB
    return None


def times(value: float) -> str:
    return f"{value:.2f}x"


def percent(value: float) -> str:
    return f"{100 * value:.1f}%"


def megabytes(value: float) -> str:
    return f"{value / MB:,.0f} MB"


def gigabytes(value: float) -> str:
    return f"{value / GB:.2f} GB"


@dataclass(frozen=True)
class Target:
    key: str
    issue: int
    text: str  # the target as the issue states it
    figure: Callable[[dict], float | None]  # the measured figure, from the benchmark's JSON
    compare: str  # "<=" or ">="
    bound: float
    show: Callable[[float], str]  # how the figure and the bound are written
    measured_as: str  # what the figure is, in a few words

    def value(self, result: dict) -> float | None:
        return self.figure(result)

    def met(self, result: dict) -> bool | None:
        """True or False from the figure; None where the run did not measure it."""
        value = self.value(result)
        if value is None:
            return None
        return {"<=": operator.le, ">=": operator.ge}[self.compare](value, self.bound)

    def verdict(self, result: dict) -> str:
        return {True: "met", False: "not met", None: "not measured"}[self.met(result)]


TARGETS: tuple[Target, ...] = (
    Target(
        "step04_vs_keras_callbacks",
        22,
        "step 04 as users run it, callbacks included, >= 1.3x a plain model.fit with Keras' equivalent callbacks",
        lambda r: _get(r, "ratios", "step04_over_keras_callbacks"),
        ">=",
        1.3,
        times,
        "steady epoch with callbacks: plain fit + Keras callbacks / step 04",
    ),
    Target(
        "saving_share",
        22,
        "saving costs <= 10% of a steady epoch of the report model",
        lambda r: _get(r, "ratios", "step04_saving_share"),
        "<=",
        0.10,
        percent,
        "step 04's per-epoch callbacks over its epoch without them (epochs after the first)",
    ),
    Target(
        "run_bytes",
        22,
        "a finished report run <= 200 MB on disk",
        lambda r: _get(r, "driver", "disk", "bytes"),
        "<=",
        200 * MB,
        megabytes,
        "the finished mock run directory (report model), hard links once",
    ),
    Target(
        "step04_peak_rss",
        22,
        "step 04 <= 2 GB peak memory for the report model",
        lambda r: step_peak_rss_bytes(r, "train"),
        "<=",
        2 * GB,
        gigabytes,
        "peak RSS of phase4a_04_train_transfer.py run on its own",
    ),
    Target(
        "sweep_overhead",
        22,
        "a sweep's wall time <= 1.2x the sum of its runs' training time",
        lambda r: _get(r, "sweep", "wall_over_training"),
        "<=",
        1.2,
        times,
        "sweep wall / sum of training_history.json training_seconds",
    ),
    Target(
        "mock_run_bytes",
        31,
        "a finished mock run (default settings) <= 200 MB on disk",
        lambda r: _get(r, "driver", "disk", "bytes"),
        "<=",
        200 * MB,
        megabytes,
        "the mock driver's run directory, its backbone link to the store beside it counted, hard links once",
    ),
    Target(
        "projected_sweep_bytes",
        31,
        "a 13-arm, 5-seed sweep <= 2 GB for the report model at 10 epochs (--keep_models best)",
        lambda r: _get(r, "sweep", "projection", "bytes") if _get(r, "sweep", "epochs") == 10 else None,
        "<=",
        2 * GB,
        gigabytes,
        "65 x the sweep's report run, its store once per seed, its data and findings",
    ),
    Target(
        "sweep_overhead_10_epochs",
        31,
        "a sweep's wall time <= 1.5x its training time at 10 epochs",
        lambda r: _get(r, "sweep", "wall_over_training") if _get(r, "sweep", "epochs") == 10 else None,
        "<=",
        1.5,
        times,
        "sweep wall / sum of training_history.json training_seconds, 10 epochs per run",
    ),
    Target(
        "step04_vs_before",
        19,
        "step 04 no slower on CPU than before the redesign",
        lambda r: _get(r, "baseline", "step04_steady_ratio"),
        "<=",
        1.0,
        times,
        "step 04's steady epoch, this checkout / the baseline's (A B A B medians)",
    ),
    Target(
        "driver_vs_before",
        19,
        "the mock driver no slower than 1.2x before the redesign",
        lambda r: _get(r, "baseline", "driver_wall_ratio"),
        "<=",
        1.2,
        times,
        "the mock driver's wall time, this checkout / the baseline's (A B A B medians)",
    ),
)
