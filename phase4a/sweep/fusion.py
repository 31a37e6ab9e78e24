"""Phase 4B's fusion ablation: what each auxiliary layer adds to Sentinel-2, through the ablation sweep.

Usage:
  python -m phase4a.sweep.fusion [--seeds N] [--presets simplecnn] [--band-sets s2,s2_ndvi,ndvi_aux,s2_dem,all]
      [--sweep-dir DIR] [--findings-out docs/findings/NAME.md] [--findings-only true] [--key value ...]

``--key value`` options make the data, once, with every band and layer (step 01 of report with the
first seed, into ``<sweep-dir>/data``), and go to every run's step 01 as in the ablation sweep:

- mock: ``--mock_aux_layers true`` (phase4a/data/mock_auxiliary.py);
- raster or earth_engine: ``--aux_layers ndvi=MOD13Q1.tif,dem=SRTM.tif,s2_ndvi`` (phase4a/data/auxiliary.py);
- eolearn: ``--band_names B2,B3,B4,B8,B11,B12,elevation,slope,aspect_sin,aspect_cos,ndvi_series,s2_ndvi``.

Band sets (each a subset of those bands, phase4a/sweep/band_sets.py):

- ``s2``: the Sentinel-2 bands alone, the reference of each model;
- ``s2_ndvi``: + ``s2_ndvi``, NDVI of Sentinel-2's own B4 and B8: the control. It adds no information,
  only a transform of two bands the network already sees, so a layer's gain beyond this one's is new
  information rather than the convenience of a ready-made index;
- ``ndvi_aux``: + the auxiliary NDVI (``ndvi_modis``; the eo-learn fixture's 68-date ``ndvi_series``);
- ``s2_dem``: + ``elevation``, ``slope``, ``aspect_sin``, ``aspect_cos``;
- ``all``: + every layer of the data.

Each network preset (``--presets``, default simplecnn) and each of the sweep's two random forests runs
on every band set over the seeds (default 5) on one split. Within each model, every band set is compared
with that model's ``s2`` arm (the sweep's paired seed x test-group inference, Holm-corrected within the
model), and ``ndvi_aux`` also with the ``s2_ndvi`` control. Writes, in the sweep directory,
``fusion_findings.md`` (tables, figures, the effect of each layer with its interval, the command that
regenerates it), ``ablation_results.csv`` and the figures; ``--findings-out`` copies them.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from .. import config as config_module
from ..cli import OneLineParser
from ..data.auxiliary import TERRAIN_LAYERS
from ..data.sources import input_band_names
from ..errors import ConfigError, Phase4AError
from ..io import read_json, save_figure, write_text
from ..paths import default_run_dir
from ..provenance import code_version
from ..settings import SENTINEL2_BAND, sections
from ..stages import ARTEFACTS
from . import findings, keep, plan, stats
from .ablation import run_sweep
from .band_sets import arm_name
from .forests import FORESTS
from .plan import REFERENCE, Arm
from .runs import INTERRUPTED, Results, SweepPlan, data_caveats, data_root

DEFAULT_PRESETS = ("simplecnn",)
DEFAULT_SEEDS = "5"
REFERENCE_SET = "s2"
CONTROL_SET = "s2_ndvi"
AUX_NDVI_SET = "ndvi_aux"
CONTROL_LAYER = "s2_ndvi"
AUX_NDVI_LAYERS = ("ndvi_modis", "ndvi_series")  # MOD13Q1 for mock, raster and Earth Engine; eo-learn's series
BAND_SETS: dict[str, str] = {
    REFERENCE_SET: "Sentinel-2 bands alone (the reference)",
    CONTROL_SET: "+ NDVI of Sentinel-2's own B4 and B8 (the control: a transform, no new information)",
    AUX_NDVI_SET: "+ the auxiliary NDVI layer",
    "s2_dem": "+ elevation, slope and aspect (sine, cosine)",
    "all": "+ every layer",
}
FINDINGS_FILE = "fusion_findings.md"
ACCURACY_PNG = "fusion_accuracy.png"
HELP_FIX = {
    CONTROL_LAYER: "--mock_aux_layers true (mock), s2_ndvi in --aux_layers (raster), s2_ndvi in --band_names (eolearn)",
    AUX_NDVI_SET: "--mock_aux_layers true, ndvi=MOD13Q1.tif in --aux_layers, ndvi_series in --band_names (eolearn)",
    "s2_dem": "--mock_aux_layers true, dem=SRTM.tif in --aux_layers, the terrain layers in --band_names (eolearn)",
}


def resolve_band_sets(bands: list[str], names: list[str]) -> dict[str, tuple[str, ...]]:
    """Each requested set's bands, from the data's bands (Sentinel-2 bands first, then the layers)."""
    s2 = [band for band in bands if SENTINEL2_BAND.fullmatch(band)]
    layers = [band for band in bands if band not in s2]
    if not s2:
        raise ConfigError(f"the data's bands ({', '.join(bands)}) hold no Sentinel-2 band; add them to --band_names")
    aux_ndvi = next((layer for layer in AUX_NDVI_LAYERS if layer in layers), None)
    wanted = {
        REFERENCE_SET: [],
        CONTROL_SET: [CONTROL_LAYER],
        AUX_NDVI_SET: [aux_ndvi] if aux_ndvi else [],
        "s2_dem": list(TERRAIN_LAYERS),
        "all": layers,
    }
    sets = {}
    for name in names:
        missing = [layer for layer in wanted[name] if layer not in layers]
        if (name == AUX_NDVI_SET and not aux_ndvi) or missing or (name == "all" and not layers):
            need = ", ".join(missing) or ("ndvi_modis or ndvi_series" if name == AUX_NDVI_SET else "a layer")
            fix = HELP_FIX.get(name if name != CONTROL_SET else CONTROL_LAYER, HELP_FIX["s2_dem"])
            raise ConfigError(
                f"band set {name} needs {need}, which the data lack (bands: {', '.join(bands)}); make the data with "
                f"{fix}, or leave {name} out of --band-sets"
            )
        sets[name] = tuple([*s2, *wanted[name]])
    return sets


def parse_band_sets(text: str | None) -> list[str]:
    names = plan.parse_list(text) if text else list(BAND_SETS)
    unknown = [name for name in names if name not in BAND_SETS]
    if unknown:
        raise ConfigError(f"--band-sets names unknown set(s) {', '.join(unknown)}; choose from {', '.join(BAND_SETS)}")
    if REFERENCE_SET not in names:
        names.insert(0, REFERENCE_SET)  # every comparison is against it
    return list(dict.fromkeys(names))


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    parser = OneLineParser(
        prog="python -m phase4a.sweep.fusion",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,  # --seed (a config key) must not be taken for --seeds
    )
    parser.add_argument("--seeds", default=DEFAULT_SEEDS, help="a count N (seeds 42..42+N-1) or a list (default 5)")
    parser.add_argument("--presets", help=f"network presets (default: {','.join(DEFAULT_PRESETS)})")
    parser.add_argument("--band-sets", "--band_sets", dest="band_sets", help=f"default: {','.join(BAND_SETS)}")
    parser.add_argument("--sweep-dir", type=Path, help="default: phase4a_outputs/<mock|real>/fusion")
    parser.add_argument("--findings-out", type=Path, help="also copy the findings here (e.g. docs/findings/x.md)")
    parser.add_argument("--keep_models", "--keep-models", dest="keep_models", help="best (default), none or all")
    parser.add_argument("--findings-only", "--findings_only", dest="findings_only", default="false")
    return parser.parse_known_args(argv)


def build_plan(args: argparse.Namespace, overrides: list[str]) -> tuple[SweepPlan, findings.Context, list[str]]:
    """Every arm (model x band set) resolved before anything runs; the models, forests included."""
    plan.check_sweep_options(overrides)
    seeds = plan.parse_seeds(args.seeds)
    presets = plan.expand_presets(plan.parse_list(args.presets) or list(DEFAULT_PRESETS))
    reference_config = plan.resolved(Arm(REFERENCE, REFERENCE), overrides)
    sets = resolve_band_sets(input_band_names(sections(reference_config).data), parse_band_sets(args.band_sets))
    arms = [
        Arm(arm_name(preset, name), preset, ("--band_names", ",".join(bands)), band_set=name)
        for preset in presets
        for name, bands in sets.items()
    ]
    for arm in arms:
        plan.resolved(arm, overrides)  # a bad combination fails here, before any run
    sweep_dir = args.sweep_dir or default_run_dir(reference_config["data_source"]) / "fusion"
    reference = arm_name(presets[0], REFERENCE_SET)
    sweep_plan = SweepPlan(
        Path(sweep_dir),
        list(overrides),
        arms,
        seeds,
        keep_models=keep.parse_keep(args.keep_models),
        reference=reference,
        band_sets=sets,
    )
    models = [*presets, *FORESTS]
    descriptions, changes = {}, {}
    for model in models:
        what = FORESTS[model][0] if model in FORESTS else f"preset {model}"
        for name, bands in sets.items():
            descriptions[arm_name(model, name)] = f"{what}; bands {','.join(bands)}"
            added = bands[len(sets[REFERENCE_SET]) :]
            changes[arm_name(model, name)] = f"+ {', '.join(added)}" if added else "none"
    first = plan.resolved(arms[0], overrides)
    context = findings.Context(
        command="",
        seeds=seeds,
        vary_split=False,
        data_source=reference_config["data_source"],
        weights=str(first["weights"]),
        epochs=int(first["epochs"]),
        overrides=list(overrides),
        descriptions=descriptions,
        changes=changes,
    )
    return sweep_plan, context, models


# ---------------------------------------------------------------- analysis


def model_results(results: Results, model: str, sets: list[str]) -> Results:
    """The rows and predictions of one model's band-set arms."""
    arms = {arm_name(model, name) for name in sets}
    table = results.table
    if len(table):
        table = table[table["arm"].isin(arms)].reset_index(drop=True)
    predictions = {key: value for key, value in results.predictions.items() if key[0] in arms}
    return Results(table, predictions, results.class_names, results.groups, {})


def analyse(results: Results, models: list[str], sets: list[str]) -> dict[str, dict[str, Any]]:
    """Per model: its analysis against its s2 arm, and the auxiliary NDVI against the s2_ndvi control."""
    out = {}
    for model in models:
        mine = model_results(results, model, sets)
        if not len(mine.table):
            continue
        analysis = findings.analyse(mine, [], reference=arm_name(model, REFERENCE_SET))
        control = {}
        if CONTROL_SET in sets and AUX_NDVI_SET in sets:
            pair = model_results(results, model, [CONTROL_SET, AUX_NDVI_SET])
            control = findings.compare_with_reference(pair, reference_arm=arm_name(model, CONTROL_SET))
        out[model] = {"analysis": analysis, "control": control.get(arm_name(model, AUX_NDVI_SET))}
    return out


# ---------------------------------------------------------------- findings


def _effect_cell(result: dict[str, Any] | None) -> str:
    if not result or not result.get("seeds"):
        return "-"
    low, high = result["interval"]
    interval = findings.interval_text(low, high, signed=True)
    return f"{findings.signed_pp(result['effect'])} ({interval}); {result['verdict']}"


def layer_table(per_model: dict[str, dict[str, Any]], sets: list[str]) -> str:
    """Rows: what each band set adds; columns: each model's effect on accuracy against its s2 arm."""
    models = list(per_model)
    header = [
        "| band set | adds to the Sentinel-2 bands | " + " | ".join(models) + " |",
        "|---|---|" + "---|" * len(models),
    ]
    rows = []
    for name in sets:
        if name == REFERENCE_SET:
            cells = [findings.percent_text(_reference_accuracy(per_model[m], m)) + " (reference)" for m in models]
        else:
            cells = [_effect_cell(per_model[m]["analysis"].comparisons.get(arm_name(m, name))) for m in models]
        rows.append(f"| {name} | {BAND_SETS[name]} | " + " | ".join(cells) + " |")
    if any(entry["control"] for entry in per_model.values()):
        cells = [_effect_cell(per_model[m]["control"]) for m in models]
        rows.append(
            f"| {AUX_NDVI_SET} vs {CONTROL_SET} | the auxiliary NDVI beyond NDVI of the bands' own B4, B8 | "
            + " | ".join(cells)
            + " |"
        )
    return "\n".join([*header, *rows])


def _reference_accuracy(entry: dict[str, Any], model: str) -> float | None:
    summary = entry["analysis"].summary
    row = summary[summary["arm"] == arm_name(model, REFERENCE_SET)]
    return float(row["accuracy_mean"].iloc[0]) if len(row) else None


def summary_lines(per_model: dict[str, dict[str, Any]], context: findings.Context, notes: dict[str, Any]) -> list[str]:
    """Each sentence a number of this sweep or a limit of it."""
    lines = []
    for model, entry in per_model.items():
        analysis = entry["analysis"]
        reference = _reference_accuracy(entry, model)
        verdicts = {arm: r.get("verdict") for arm, r in analysis.comparisons.items()}
        helped = [arm for arm, verdict in verdicts.items() if verdict == stats.BETTER]
        hurt = [arm for arm, verdict in verdicts.items() if verdict == stats.WORSE]
        text = f"- {model}: Sentinel-2 alone {findings.percent_text(reference)} (mean over seeds)"
        if stats.TOO_FEW_SEEDS in verdicts.values():
            text += f"; {stats.TOO_FEW_SEEDS} (the effects are described, not judged)"
        else:
            text += f"; better with {', '.join(helped)}" if helped else "; no band set is better after Holm"
        text += f"; worse with {', '.join(hurt)}." if hurt else "."
        lines.append(text)
        if reference is not None and reference >= 0.99:
            lines.append(
                f"- {model} is at the ceiling with Sentinel-2 alone ({findings.percent_text(reference)}): "
                "on these data no layer can show a gain for it."
            )
        control = entry["control"]
        if control and control.get("seeds"):
            lines.append(
                f"- {model}, new information vs transform: the auxiliary NDVI minus the S2-NDVI control is "
                f"{_effect_cell(control)}."
            )
        if any(result.get("identical_over_seeds") for result in analysis.comparisons.values()):
            lines.append(
                f"- {model} gives the same predictions in every seed: its intervals rest on the test patches "
                "(or groups) alone."
            )
        if model in FORESTS:
            lines.append(
                f"- {model} is refitted per seed (random_state = the seed), so its seeds replicate the forest's own "
                "randomness on one split, as a network's seeds replicate its initialisation."
            )
    if context.data_source == "mock":
        lines.append(
            "- Mock data (synthetic): the mock ndvi_modis is the patch mean of the patch's own B4/B8 NDVI plus "
            "noise, so by construction it holds no information the bands lack; the mock terrain is drawn per "
            "class (phase4a/data/mock_auxiliary.py TERRAIN), so by construction it does. These numbers check the "
            "pipeline, not the value of MODIS or SRTM."
        )
    lines += findings.caveat_lines(context)
    if notes.get("limits"):
        lines.append(f"- The data: {notes['limits']}; classes {', '.join(notes.get('class_patches', {}))}.")
    if context.weights == "none" and any(model not in FORESTS and model != "simplecnn" for model in per_model):
        lines.append("- The transfer networks started from random weights (weights none): no ImageNet transfer.")
    lines.append(
        f"- Every network at most {context.epochs} epochs (early stopping as its preset says); seeds "
        f"{', '.join(map(str, context.seeds))} on one split."
    )
    for key, message in context.failures.items():
        lines.append(f"- Failed: {key.arm} seed {key.seed}: {message}")
    return lines


def fusion_markdown(
    results: Results,
    per_model: dict[str, dict[str, Any]],
    sets: list[str],
    context: findings.Context,
    notes: dict[str, Any],
    prefix: str = "",
) -> str:
    body = [
        f"# Findings: Phase 4B fusion ablation on {context.data_source} data",
        "",
        "Written by `python -m phase4a.sweep.fusion` (phase4a/sweep/fusion.py, on the ablation sweep's runs, "
        "inference and tables) from its runs; regenerate it with the command under Provenance rather than "
        "editing it.",
        "",
        "## Summary",
        "",
        *summary_lines(per_model, context, notes),
        "",
        "## The effect of each layer",
        "",
        "Accuracy minus the same model's Sentinel-2-only arm, mean over seeds, with its 95% two-way cluster "
        "bootstrap interval (seeds x test groups) and the verdict after Holm's correction within the model; "
        f"the last row compares the auxiliary NDVI with the {CONTROL_SET} control instead. {stats.UNIT_SENTENCE}",
        "",
        layer_table(per_model, sets),
        "",
        f"![accuracy of every arm]({prefix}{ACCURACY_PNG})",
        "",
    ]
    for model, entry in per_model.items():
        analysis = entry["analysis"]
        body += [
            f"## {model}",
            "",
            findings.accuracy_table(analysis, context),
            "",
            findings.effects_table(analysis, context),
            "",
            f"![{model}: effects against its s2 arm]({prefix}{_effects_png(model)})",
            "",
        ]
    body += ["## Band sets", "", "| arm | what it is |", "|---|---|"]
    body += [f"| {arm} | {text} |" for arm, text in context.descriptions.items()]
    body += ["", "## Provenance", "", *findings.provenance_lines(results, context), ""]
    return "\n".join(body)


def _effects_png(model: str) -> str:
    return f"fusion_effects_{model}.png"


def data_notes(sweep_plan: SweepPlan) -> dict[str, Any]:
    """What step 01 recorded of the sweep's data (the eo-learn fixture's limits, its class counts)."""
    path = data_root(sweep_plan, sweep_plan.seeds[0]) / ARTEFACTS["data_summary"]
    try:
        return (read_json(path).get("source") or {}) if path.is_file() else {}
    except (OSError, ValueError):
        return {}


def write_outputs(
    sweep_dir: Path, results: Results, per_model: dict, sets: list[str], context, notes: dict[str, Any]
) -> list[Path]:
    """fusion_findings.md, ablation_results.csv and the figures in the sweep directory; their paths."""
    written = [sweep_dir / findings.RESULTS_CSV, sweep_dir / ACCURACY_PNG]
    write_text(written[0], results.table.to_csv(index=False, float_format="%.6f"))
    everything = findings.summarise_arms(results)
    if len(results.table):
        save_figure(written[1], findings.accuracy_figure(results.table, everything))
    for model, entry in per_model.items():
        figure = findings.effects_figure(entry["analysis"].comparisons)
        axis = figure.axes[0]
        reference = arm_name(model, REFERENCE_SET)
        axis.set_xlabel(f"accuracy minus {reference}'s, pp (mean over seeds, 95% cluster interval)")
        axis.set_title(f"{model}: each band set against Sentinel-2 alone (green/red: better/worse after Holm)")
        save_figure(sweep_dir / _effects_png(model), figure)
        written.append(sweep_dir / _effects_png(model))
    write_text(sweep_dir / FINDINGS_FILE, fusion_markdown(results, per_model, sets, context, notes))
    return [sweep_dir / FINDINGS_FILE, *written]


def copy_findings(
    sweep_dir: Path, out: Path, results: Results, per_model: dict, sets: list[str], context, notes: dict[str, Any]
) -> Path:
    """The findings as ``out`` (e.g. docs/findings/phase4b_mock.md), figures and CSV in ``<out stem>/``."""
    out = findings.findings_path(out)
    findings.copy_figures(sweep_dir, out, [findings.RESULTS_CSV, ACCURACY_PNG, *map(_effects_png, per_model)])
    write_text(out, fusion_markdown(results, per_model, sets, context, notes, prefix=f"{out.stem}/"))
    return out


def main(argv: list[str] | None = None) -> int:
    started = time.perf_counter()
    args, overrides = parse_args(argv)
    given = list(sys.argv[1:] if argv is None else argv)
    try:
        sweep_plan, context, models = build_plan(args, overrides)
        findings_only = config_module.parse_bool("--findings-only", args.findings_only)
        context.code_version = code_version()
        context.findings_only = findings_only
        results, failures = run_sweep(sweep_plan, findings_only=findings_only)
        context.command = "python -m phase4a.sweep.fusion " + shlex.join(given)
        context.failures = failures
        context.data_caveats = data_caveats(sweep_plan)
        notes = data_notes(sweep_plan)
        sets = list(sweep_plan.band_sets)
        per_model = analyse(results, models, sets)
        context.wall_seconds = time.perf_counter() - started
        written = write_outputs(sweep_plan.sweep_dir, results, per_model, sets, context, notes)
        copied = None
        if args.findings_out:
            copied = copy_findings(sweep_plan.sweep_dir, args.findings_out, results, per_model, sets, context, notes)
    except Phase4AError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; finished runs are kept: run the same command again to resume", file=sys.stderr)
        return INTERRUPTED
    print(layer_table(per_model, sets))
    print("\n".join(summary_lines(per_model, context, notes)))
    print(f"findings: {written[0]}" + (f", copied to {copied}" if copied else ""))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
