"""The ablation sweep: presets (and factorial combinations) x seeds on the same data, side by side.

Usage:
  python -m phase4a.sweep.ablation [--presets a,b,c] [--seeds N | --seeds 42,43,44] [--vary-split true]
      [--factorial key=v1,v2 ...] [--train_fractions 0.1,0.25,0.5,1.0] [--curve-presets report,simplecnn]
      [--sweep-dir DIR] [--findings-out docs/findings/NAME.md] [--keep_models best|none|all] [--key value ...]

Every arm runs the five steps once per seed, in ``<sweep-dir>/<arm>/seed_<s>``; ``--key value`` options
go to every run's step 01 (e.g. ``--weights none --epochs 2``; each run's ``--seed`` is the sweep's).

- ``--presets``: comma-separated presets; ``single_factor`` stands for every ``f_*`` preset (each changes
  exactly one key from ``report``). ``report`` always runs: every comparison is against it.
- ``--seeds``: a count N of at most 20 (seeds 42 .. 42 + N - 1, default 1) or a list (``43,`` is the one
  seed 43; more than 20 seeds are listed). The data are made once, by step 01 of ``report`` with the
  first seed into ``<sweep-dir>/data``, and every run reads that data.npz (``--data_source npz``): all
  seeds share one split and the seed varies the weights' initialisation, the batches, dropout and
  augmentation. ``--vary-split true`` makes the data per seed instead (``<sweep-dir>/data_seed_<s>``,
  step 01 with that seed: for mock data other patches, for polygons or tiles another split), so the
  spread over seeds also covers the split.
- ``--factorial key=v1,v2 [key=v1,v2 ...]``: every combination of the values on top of ``report``, in
  ``<sweep-dir>/fx_<key>-<value>__.../seed_<s>``; a combination equal to an arm already in the sweep
  (e.g. all values at report's) is that arm.
- ``--train_fractions``: a learning curve. For each fraction below 1 and each seed, a nested, grouped,
  seeded subsample of the training split (phase4a/sweep/learning_curve.py) is written as a data.npz
  under ``<sweep-dir>/curve_data`` and the curve presets (``--curve-presets``, default report and
  simplecnn) run on it in ``<sweep-dir>/<arm>/fraction_<f>/seed_<s>``; the forests are fitted on the
  same subsamples.
- ``--keep_models``: what each run keeps once it finished (phase4a/sweep/keep.py). ``best`` (default):
  its model files go, and the weights they are rebuilt from stay (``python -m phase4a.train.rebuild
  RUN_DIR``; step 06 rebuilds by itself); ``none``: only metrics, predictions and histories; ``all``.
- Two random forests (flattened patches; band means and stds) are fitted by the sweep once per split
  (and subsample), seeded by the split's seed, and evaluated on the same patches as the networks.
- ``--findings-only true``: run nothing; write the findings from the runs already in the sweep
  directory (e.g. after the inference rules changed), listing the code version of each run.

Accuracy and macro F1 are on the test split when step 05 evaluated one (evaluation_metrics.json says
so), else on validation. The seed and the test group are the units of inference (phase4a/sweep/stats.py):
an arm is better or worse than ``report`` only with at least 5 seeds, where a two-way cluster bootstrap
over seeds x test groups gives a Holm-corrected p below 0.05 and a 95% interval that excludes 0;
"equivalent" needs its 90% interval within +-5 pp; both arms predicting one class is "uninformative";
otherwise "not distinguishable". A run whose evaluation_metrics.json has the expected config and data
hash is complete and not run again, so a killed sweep resumes where it stopped. Writes
ablation_results.csv (one row per run and seed, forests included), ablation_results.md, the figures
and findings.md (tables, figures, summary, seeds, hashes, code version, wall time);
``--findings-out docs/findings/NAME.md`` also copies findings.md there, with its figures and CSV in
``docs/findings/NAME/``.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

from .. import config as config_module
from ..cli import OneLineParser
from ..errors import ConfigError, Phase4AError
from ..paths import default_run_dir
from ..provenance import code_version
from . import findings, keep, plan
from .forests import FORESTS
from .plan import REFERENCE, Arm
from .runs import INTERRUPTED, Results, RunKey, Runner, SweepPlan, _check, collect, data_caveats, run_preset

__all__ = ["DEFAULT_PRESETS", "INTERRUPTED", "REFERENCE", "_check", "available_presets", "main", "run_preset"]

# The report's configuration, its "Future considerations" in the order the report lists them
# (less freezing, higher learning rate, simpler backbones, feature extraction, progressive
# unfreezing, augmentation), and the Week 3 SimpleCNN. Only those defined in config.PRESETS run.
DEFAULT_PRESETS = (
    "report",
    "less_freezing",
    "higher_lr",
    "mobilenetv2",
    "vgg16",
    "feature_extraction",
    "progressive",
    "augmented",
    "simplecnn",
)
DEFAULT_CURVE_PRESETS = ("report", "simplecnn")
RESULTS_CSV, RESULTS_MD, FINDINGS_MD = findings.RESULTS_CSV, findings.RESULTS_MD, findings.FINDINGS_MD


def available_presets(requested: list[str] | None) -> list[str]:
    """The presets to run: ``requested`` (each must exist), else the defaults that exist now."""
    return plan.parse_presets(",".join(requested) if requested else None, DEFAULT_PRESETS)


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    parser = OneLineParser(
        prog="python -m phase4a.sweep.ablation",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,  # --seed (a config key) must not be taken for --seeds
    )
    parser.add_argument("--presets", help="comma-separated presets; single_factor = every f_* preset")
    parser.add_argument(
        "--seeds",
        help=f"a count N <= {plan.MAX_SEED_COUNT} (seeds 42..42+N-1) or a list 42,43,44 (43, is the one seed 43; "
        "default: 1)",
    )
    parser.add_argument(
        "--vary-split",
        "--vary_split",
        dest="vary_split",
        default="false",
        help="true: make the data (and split) per seed; false (default): once, with the first seed",
    )
    parser.add_argument("--factorial", nargs="+", metavar="KEY=V1,V2", help="every combination on top of report")
    parser.add_argument(
        "--train_fractions",
        "--train-fractions",
        dest="train_fractions",
        help="a learning curve: fractions in (0, 1] of the training split, e.g. 0.1,0.25,0.5,1.0",
    )
    parser.add_argument(
        "--curve-presets",
        "--curve_presets",
        dest="curve_presets",
        help=f"presets on the learning curve (default: {','.join(DEFAULT_CURVE_PRESETS)})",
    )
    parser.add_argument("--sweep-dir", type=Path, help="default: phase4a_outputs/<mock|real>/ablation")
    parser.add_argument("--findings-out", type=Path, help="also copy findings.md here (e.g. docs/findings/mock.md)")
    parser.add_argument(
        "--keep_models",
        "--keep-models",
        dest="keep_models",
        help="what each finished run keeps: best (default; no model files, the weights to rebuild them), "
        "none (only what the findings read) or all (phase4a/sweep/keep.py)",
    )
    parser.add_argument(
        "--findings-only",
        "--findings_only",
        dest="findings_only",
        default="false",
        help="true: run nothing; write the findings from the runs already in --sweep-dir (made by any code "
        "version: each run's is listed)",
    )
    return parser.parse_known_args(argv)


def build_plan(args: argparse.Namespace, overrides: list[str]) -> tuple[SweepPlan, findings.Context]:
    """Check every option and resolve every arm's config: a bad value raises before anything runs."""
    plan.check_sweep_options(overrides)
    seeds = plan.parse_seeds(args.seeds)
    fractions = plan.parse_fractions(args.train_fractions)
    vary_split = config_module.parse_bool("--vary-split", args.vary_split)
    factors = plan.parse_factorial(args.factorial)
    presets = plan.parse_presets(args.presets, DEFAULT_PRESETS)
    curve = []
    if len(fractions) > 1:
        requested = (
            plan.parse_list(args.curve_presets)
            if args.curve_presets
            else [name for name in DEFAULT_CURVE_PRESETS if name in config_module.PRESETS]
        )
        curve = plan.expand_presets(requested, "--curve-presets")
        presets += [name for name in curve if name not in presets]
    elif args.curve_presets:
        raise ConfigError("--curve-presets needs --train_fractions (e.g. 0.1,0.25,0.5,1.0)")
    arms, same_as = plan.build_arms(presets, factors, overrides)
    reference = plan.resolved(Arm(REFERENCE, REFERENCE), overrides)
    sweep_dir = args.sweep_dir or default_run_dir(reference["data_source"]) / "ablation"
    keep_models = keep.parse_keep(args.keep_models)
    sweep_plan = SweepPlan(Path(sweep_dir), list(overrides), arms, seeds, vary_split, fractions, curve, keep_models)
    descriptions = {arm.name: _description(arm) for arm in arms}
    changes = {arm.name: plan.describe_changes(plan.changes_from_reference(arm, overrides)) for arm in arms}
    for name, (description, label) in FORESTS.items():
        descriptions[name] = description
        changes[name] = label
    context = findings.Context(
        command="",
        seeds=seeds,
        vary_split=vary_split,
        data_source=reference["data_source"],
        weights=str(reference["weights"]),
        epochs=int(reference["epochs"]),
        overrides=list(overrides),
        descriptions=descriptions,
        changes=changes,
        curve_arms=curve,
        same_as=same_as,
    )
    return sweep_plan, context


def _description(arm: Arm) -> str:
    if arm.overrides:
        pairs = [f"{arm.overrides[i].lstrip('-')}={arm.overrides[i + 1]}" for i in range(0, len(arm.overrides), 2)]
        return f"factorial cell: report with {', '.join(pairs)}"
    return config_module.PRESETS[arm.preset].summary


def run_sweep(
    sweep_plan: SweepPlan, run_one=run_preset, findings_only: bool = False
) -> tuple[Results, dict[RunKey, str]]:
    """Run every run not already complete (none with ``findings_only``), then read them all back
    (forests fitted here)."""
    sweep_plan.sweep_dir.mkdir(parents=True, exist_ok=True)
    runner = Runner(sweep_plan, run_one, findings_only)
    failures = runner.run()
    return collect(runner), failures


def main(argv: list[str] | None = None) -> int:
    started = time.perf_counter()
    args, overrides = parse_args(argv)
    given = list(sys.argv[1:] if argv is None else argv)
    try:
        sweep_plan, context = build_plan(args, overrides)
        findings_only = config_module.parse_bool("--findings-only", args.findings_only)
        # The code the runs are made with: read before they run, since a checkout can move meanwhile.
        context.code_version = code_version()
        context.findings_only = findings_only
        results, failures = run_sweep(sweep_plan, findings_only=findings_only)
        context.command = "python -m phase4a.sweep.ablation " + shlex.join(given)
        context.failures = failures
        context.data_caveats = data_caveats(sweep_plan)
        analysis = findings.analyse(results, sweep_plan.curve_arms)
        context.wall_seconds = time.perf_counter() - started
        findings.write_outputs(sweep_plan.sweep_dir, results, analysis, context)
        copied = None
        if args.findings_out:
            copied = findings.copy_findings(sweep_plan.sweep_dir, args.findings_out, results, analysis, context)
    except Phase4AError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; finished runs are kept: run the same command again to resume", file=sys.stderr)
        return INTERRUPTED
    print(findings.accuracy_table(analysis, context))
    print("\n".join(findings.summary_lines(results, analysis, context)))
    print(f"findings: {sweep_plan.sweep_dir / FINDINGS_MD}" + (f", copied to {copied}" if copied else ""))
    print(f"results: {sweep_plan.sweep_dir / RESULTS_MD}, {sweep_plan.sweep_dir / RESULTS_CSV}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
