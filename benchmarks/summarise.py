"""docs/performance.md from one benchmark JSON (benchmarks/bench_training.py): the machine and date, each
target with the figure reached and its verdict, the figures' tables, and the decisions list
(benchmarks/decisions.py). Sections the run skipped are left out; their targets read "not measured".

Usage:
  python -m benchmarks.summarise benchmarks/results/<file>.json --out docs/performance.md
  python -m benchmarks.summarise benchmarks/results/<file>.json > docs/performance.md
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .decisions import DECISIONS
from .figures import steady
from .targets import TARGETS, step_peak_rss_bytes

DOCS_COMMAND = "python -m benchmarks.summarise {source} --out docs/performance.md"


def table(header: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    return lines + ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]


def mb(value: float) -> str:
    return f"{value / 1e6:,.1f}"


def seconds(value: float) -> str:
    return f"{value:.2f}"


def optional(figures: dict, key: str, fmt: str = "{:.1f}") -> str:
    return fmt.format(figures[key]) if key in figures else "-"


def machine_section(r: dict, source: str) -> list[str]:
    m, code, settings = r["machine"], r.get("code", {}), r.get("settings", {})
    commit = (code.get("commit") or "unknown")[:12] + (" with uncommitted changes" if code.get("dirty") else "")
    load = m.get("load_average_at_start")
    rows = [
        ["date (UTC)", r["date_utc"]],
        ["CPU", f"{m['cpu_model']}, {m['cpu_count']} cores, {', '.join(m.get('vector_extensions', [])) or '-'}"],
        ["platform", m["platform"]],
        ["Python, TensorFlow, Keras", f"{m.get('python', '-')}, {m.get('tensorflow', '-')}, {m.get('keras', '-')}"],
        ["code", commit],
        [
            "settings",
            f"{settings.get('epochs', '-')} epochs per training run" + (", --quick" if settings.get("quick") else ""),
        ],
        ["load average at start (1, 5, 15 min)", "-" if load is None else ", ".join(f"{x:.2f}" for x in load)],
        ["benchmark's own time", f"{r['benchmark_seconds']:.0f} s" if "benchmark_seconds" in r else "-"],
        [
            "sections",
            (", ".join(settings.get("sections", [])) or "-") + ("" if r.get("complete", True) else ", stopped early"),
        ],
        ["results file", f"`{source}`"],
    ]
    return ["## Machine and run", "", *table(["", ""], rows)]


def targets_section(r: dict) -> list[str]:
    rows = []
    for target in TARGETS:
        value = target.value(r)
        shown = "-" if value is None else target.show(value)
        rows.append([target.issue, target.text, shown, target.measured_as, f"**{target.verdict(r)}**"])
    return ["## Targets", "", *table(["issue", "target", "reached", "figure", "verdict"], rows)]


TRAINING_ROWS = (
    ("plain `model.fit`", "plain_fit", "figures"),
    ("plain `model.fit` with Keras' equivalent callbacks", "plain_fit_keras_callbacks", "figures_with_callbacks"),
    ("step 04, epochs without its saving", "step04", "figures"),
    ("step 04 as users run it (callbacks included)", "step04", "figures_with_callbacks"),
    ("step 04 with TensorFlow's Conv2D gradient", "step04_tf_conv_gradient", "figures"),
)


def training_section(r: dict) -> list[str]:
    t, q = r["training"], r["ratios"]
    rows = []
    for label, name, key in TRAINING_ROWS:
        f = t["runs"][name][key]
        rows.append(
            [
                label,
                f"{f['steady_epoch_seconds']:.3f}",
                f"{f['fastest_epoch_seconds']:.3f}",
                f"{f['samples_per_second']:.1f}",
                f"{f['first_over_steady']:.2f}",
                optional(f, "percent_of_matmul"),
                optional(f, "percent_of_bound"),
            ]
        )
    header = ["run", "steady s/epoch", "fastest s", "samples/s", "first/steady", "% of matmul", "% of bound"]
    keras_callbacks = ", ".join(t["runs"]["plain_fit_keras_callbacks"].get("callbacks", []))
    return [
        "## Training: what users run against plain Keras",
        "",
        f"{t['epochs']} epochs each, {t['n_train']} training and {t['n_val']} validation patches, the report's "
        f"model and config, one after the other in one process (deterministic kernels: {t['deterministic']}). "
        f"Keras' callbacks: {keras_callbacks}.",
        "",
        *table(header, rows),
        "",
        f"- Step 04 as users run it against plain `model.fit` with Keras' callbacks: "
        f"**{q['step04_over_keras_callbacks']:.2f}x** as fast; against plain `model.fit` bare: "
        f"{q['step04_with_callbacks_over_plain']:.2f}x.",
        f"- Training alone (no saving on either side): {q['step04_over_plain']:.2f}x; Keras' callbacks make a "
        f"plain epoch {q['keras_callbacks_over_plain']:.2f}x as long.",
        f"- Step 04's fast Conv2D gradient: {q['step04_over_tf_conv_gradient']:.2f}x TensorFlow's own.",
        "",
        "### Per-epoch saving",
        "",
        f"- Step 04's callbacks add **{100 * q['step04_saving_share']:.1f}%** to an epoch "
        f"({steady(t['runs']['step04']['epoch_seconds']):.3f} s steady without them, "
        f"{steady(t['runs']['step04']['epoch_seconds_with_callbacks']):.3f} s with them).",
        f"- Keras' equivalent callbacks add {100 * q['keras_callbacks_saving_share']:.1f}% to a plain epoch.",
        *(
            [
                f"- With a backup after every epoch (`--backup_every_s 0`): "
                f"{100 * q['step04_every_epoch_saving_share']:.1f}%."
            ]
            if "step04_every_epoch_saving_share" in q
            else []
        ),
    ]


def matmul_section(r: dict) -> list[str]:
    m = r["matmul"]
    kernels, bound = m["matmul_flops_by_kernels"], m["matmul_bound"]
    return [
        "## FLOP share: the references",
        "",
        f"- 2048^2 float32 matmul: {kernels['onednn'] / 1e9:.1f} GFLOP/s with oneDNN's kernels, "
        f"{kernels['tensorflow_own'] / 1e9:.1f} with TensorFlow's own; the faster is the reference.",
        f"- Forward pass: {m['forward_flops_per_sample'] / 1e6:.1f} MFLOP per patch ({r['flop_convention']}).",
        f"- The bound: an epoch of the model's own layer matmuls ({bound['distinct_matmuls']} shapes at batch 32, "
        f"forward and both gradients) takes {bound['epoch_seconds']:.2f} s, {bound['flops_per_second'] / 1e9:.1f} "
        "GFLOP/s; `% of bound` is that epoch over the measured one.",
    ]


def steps_section(r: dict) -> list[str]:
    lines = ["## Time and memory of each step", ""]
    if "driver" in r:
        d = r["driver"]
        lines += [
            f"The mock driver (one process, every step): **{d['wall_seconds']:.1f} s** wall, peak RSS "
            f"{d['peak_rss_mib']:,.0f} MiB; {d['outside_steps_work']:.1f} s outside the steps' work "
            "(interpreter, imports, TensorFlow's start). Work per step: "
            + ", ".join(f"{name} {s['work']:.1f} s" for name, s in d["steps"].items())
            + ".",
            "",
        ]
    if "scripts" in r:
        s = r["scripts"]
        rows = [
            [f"`{script}`", seconds(e["wall"]), seconds(e["startup"]), seconds(e["work"]), f"{e['peak_rss_mib']:,.0f}"]
            for script, e in s["steps"].items()
        ]
        lines += [
            f"The scripts one by one, a process each ({s['wall_seconds']:.1f} s in all):",
            "",
            *table(["script", "wall s", "start-up s", "work s", "peak RSS MiB"], rows),
        ]
        peak = step_peak_rss_bytes(r, "train")
        if peak is not None:
            lines += ["", f"Step 04's peak: {peak / 1e9:.2f} GB."]
    return lines


def disk_rows(disk: dict, smallest: float = 0.1e6) -> list[list]:
    """Each entry of at least ``smallest`` bytes, largest first, then the smaller ones in one row."""
    large = [e for e in disk["entries"] if e["bytes"] >= smallest]
    small = [e for e in disk["entries"] if e["bytes"] < smallest]
    rows = [[f"`{e['name']}`", mb(e["bytes"]), e["files"]] for e in large]
    if small:
        rows.append(
            [f"{len(small)} smaller entries", mb(sum(e["bytes"] for e in small)), sum(e["files"] for e in small)]
        )
    return rows


def disk_section(r: dict) -> list[str]:
    lines = ["## Disk", "", "Sizes of regular files (`du --apparent-size`), a hard-linked file counted once.", ""]
    if "driver" in r:
        disk = r["driver"]["disk"]
        rows = disk_rows(disk)
        lines += [
            f"A finished mock run (report model): **{mb(disk['bytes'])} MB** in {disk['files']} files.",
            "",
            *table(["artefact", "MB", "files"], rows),
            "",
        ]
    if "sweep" in r:
        s = r["sweep"]
        disk = s["disk"]
        rows = disk_rows(disk)
        lines += [
            f"A sweep of {', '.join(s['presets'])} ({s['epochs']} epoch each): **{mb(disk['bytes'])} MB**; the runs "
            f"share {mb(disk['shared_bytes'])} MB of hard-linked files (counted in each run's row below, once "
            "in the total).",
            "",
            *table(["entry", "MB", "files"], rows),
            "",
            *keep_modes_lines(s),
        ]
    return lines


def keep_modes_lines(s: dict) -> list[str]:
    """A sweep run's own bytes under each --keep_models mode, and the 13-arm, 5-seed sweep projected."""
    sizes, projection = s.get("run_bytes_by_keep_mode"), s.get("projection")
    if not sizes or not projection:
        return []
    rows = [[f"`{mode}`", mb(sizes[mode])] for mode in ("best", "none", "all")]
    return [
        f"The sweep's `{s['presets'][0]}` run under each `--keep_models` mode (its own files: the backbone "
        "in the sweep's store not counted):",
        "",
        *table(["--keep_models", "MB per run"], rows),
        "",
        f"Projected, {projection['arms']} arms x {projection['seeds']} seeds at these settings (`best`): "
        f"{projection['arms'] * projection['seeds']} x {mb(projection['run_bytes'])} MB + the store, "
        f"{mb(projection['store_bytes_per_seed'])} MB per seed (weights none: a backbone per seed; ImageNet "
        f"weights: one), + {mb(projection['sweep_files_bytes'])} MB of data and findings = "
        f"**{projection['bytes'] / 1e9:.2f} GB**.",
    ]


def sweep_section(r: dict) -> list[str]:
    s = r["sweep"]
    rows = [[f"`{name}`", run["epochs_run"], seconds(run["training_seconds"])] for name, run in s["runs"].items()]
    return [
        "## Sweep time",
        "",
        f"`python -m phase4a.sweep.ablation --presets {','.join(s['presets'])}`, {s['epochs']} epoch(s) per run: "
        f"**{s['wall_seconds']:.1f} s** wall against {s['training_seconds']:.1f} s of training "
        f"({s['wall_over_training']:.2f}x; {s['outside_training_seconds']:.1f} s for data, building, evaluation, "
        f"saving and start-up), peak RSS {s['peak_rss_mib']:,.0f} MiB. With few epochs per run the fixed costs "
        "dominate; the ratio falls as runs train longer.",
        "",
        *table(["run", "epochs", "training s"], rows),
        *time_split_lines(s),
    ]


def time_split_lines(s: dict) -> list[str]:
    split = s.get("where_the_time_goes")
    if not split:
        return []
    rows = [[name, seconds(value), f"{value / s['wall_seconds']:.0%}"] for name, value in split.items()]
    rest = s["wall_seconds"] - sum(split.values())
    rows.append(["between steps (Keras state, manifests, locks)", seconds(rest), f"{rest / s['wall_seconds']:.0%}"])
    return [
        "",
        "Where the wall time went (`04_train`: step 04 outside its epochs):",
        "",
        *table(["part", "s", "share"], rows),
    ]


def baseline_section(r: dict) -> list[str]:
    b = r["baseline"]
    code = b.get("baseline_code") or {}
    name = b.get("ref") or b["baseline_dir"]
    commit = (code.get("commit") or "")[:12]
    rows = []
    for pair in range(b["pairs"]):
        for label in ("current", "baseline"):
            run = b["runs"][label][pair]
            rows.append(
                [
                    pair + 1,
                    label,
                    seconds(run["driver_wall_seconds"]),
                    f"{run['step04_steady_epoch_seconds']:.3f}",
                    seconds(run["step04_work_seconds"]),
                    f"{run['driver_peak_rss_mib']:,.0f}",
                ]
            )
    return [
        "## Against the code before the redesign",
        "",
        f"Baseline: `{name}`" + (f" (commit {commit})" if commit else "") + f"; {b['order']}, {b['pairs']} pair(s); "
        f"step 04 run alone for {b['epochs']} epochs on each driver run; every run a fresh process and run "
        "directory (the baseline's graph cache empty: a first run).",
        "",
        *table(["pair", "code", "mock driver s", "step 04 steady s", "step 04 work s", "driver peak RSS MiB"], rows),
        "",
        f"- This checkout over the baseline, medians: mock driver **{b['driver_wall_ratio']:.2f}x**, step 04's "
        f"steady epoch **{b['step04_steady_ratio']:.2f}x**, step 04's work {b['step04_work_ratio']:.2f}x "
        "(>1: slower than before).",
        *(
            [
                f"- The driver's work in the steps both have ({', '.join(b['common_steps'])}): "
                f"{b['driver_common_steps_work_ratio']:.2f}x; the wall time also counts the steps only one has."
            ]
            if "common_steps" in b
            else []
        ),
    ]


def feature_cache_section(r: dict) -> list[str]:
    fe = r["feature_extraction"]
    return [
        "## Feature cache",
        "",
        "The feature_extraction preset's step 04, epochs after the first: "
        f"{fe['uncached']['steady_epoch_seconds']:.3f} s without cached backbone features, "
        f"{fe['cached']['steady_epoch_seconds']:.4f} s with them (**{fe['later_epoch_speedup']}x**).",
    ]


def decisions_section() -> list[str]:
    return [
        "## Decisions",
        "",
        "Speed-ups and alternatives measured, and what became of each (kept in `benchmarks/decisions.py`):",
        "",
        *[f"- **{d.name}** ({d.outcome}). {d.why}" for d in DECISIONS],
    ]


def render(result: dict, source: str) -> str:
    parts = [
        [
            "# Performance",
            "",
            f"Generated from one benchmark run by `{DOCS_COMMAND.format(source=source)}`; do not edit by hand "
            "(re-run the benchmark, or edit `benchmarks/decisions.py`). What each figure means: "
            "`benchmarks/README.md`.",
        ],
        machine_section(result, source),
        targets_section(result),
    ]
    sections = (
        ("training", training_section),
        ("matmul", matmul_section),
        ("baseline", baseline_section),
        ("sweep", sweep_section),
        ("feature_extraction", feature_cache_section),
    )
    if "driver" in result or "scripts" in result:
        parts.append(steps_section(result))
    if "driver" in result or "sweep" in result:
        parts.append(disk_section(result))
    parts += [render_section(result) for key, render_section in sections if key in result]
    parts.append(decisions_section())
    return "\n\n".join("\n".join(part) for part in parts) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", type=Path, help="a JSON file the benchmark wrote (benchmarks/results/)")
    parser.add_argument("--out", type=Path, help="the markdown file to write (default: standard output)")
    args = parser.parse_args(argv)
    result = json.loads(args.results.read_text())
    if result.get("schema") != 2:
        print(f"error: {args.results} is not a result of this benchmark (schema 2); re-run it", file=sys.stderr)
        return 2
    text = render(result, args.results.as_posix())
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
