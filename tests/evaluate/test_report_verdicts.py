"""Verdicts a statistician would sign (issue 28), for one run's step 05 report: intervals and tests that
resample whole patch groups, no better / worse on the validation split that chose the epoch, the
published figure as two binomials on its own patches, Holm across the report, collapse and equivalence
named. Constructed predictions: no training."""

import json

import numpy as np
import pytest
from sklearn.metrics import f1_score
from statsmodels.stats.multitest import multipletests

from phase4a import config as config_module
from phase4a import statistics as st
from phase4a.evaluate import classical, comparison
from phase4a.evaluate.comparison import (
    BETTER,
    EQUIVALENT,
    NOT_DISTINGUISHABLE,
    OPTIMISTIC,
    UNINFORMATIVE,
    VERDICTS,
    WORSE,
    accuracy_statistics,
)
from phase4a.evaluate.published import PUBLISHED_BASELINE
from phase4a.evaluate.report import build_report, forest_warning, summary_lines
from phase4a.steps import evaluate_compare

from .test_verdicts import Y_TRUE, context, wrong

CONFIG = config_module.resolve("report")
RASTER = {**CONFIG, "data_source": "raster"}
GROUPS = np.arange(75) // 3  # 25 groups of 3 consecutive patches (polygons)


def statistics(predicted, split="test", groups=None, source="raster", **comparisons):
    config = {**CONFIG, "data_source": source}
    return accuracy_statistics(
        Y_TRUE, predicted, 5, PUBLISHED_BASELINE, config, source=source, split=split, groups=groups, **comparisons
    )


def grouped_context(predicted, forest, groups=GROUPS, split="test"):
    """test_verdicts' report context with the statistics and forests of grouped patches."""
    ctx = context(predicted, source="raster", forest_pred=forest, split=split)
    classical_pred = {"forest_flattened": forest, "forest_band_statistics": forest}
    ctx["statistics"] = statistics(predicted, split, groups, classical_pred=classical_pred)
    ctx["classical_baselines"] = classical.summarise(
        Y_TRUE, predicted, classical_pred, 5, seed=42, split=split, groups=groups
    )
    return ctx


def test_duplicating_each_patch_inside_its_group_changes_no_interval_or_p_value():
    model, baseline = wrong(6, start=30), wrong(18, start=30)  # 12 patches (4 groups) only the model gets right
    once = statistics(model, groups=GROUPS, baseline_pred=baseline)
    # Each patch 16 times, the copies in its own group: near-duplicates, no new information.
    copies = {"groups": np.repeat(GROUPS, 16), "baseline_pred": np.repeat(baseline, 16)}
    config = {**RASTER}
    sixteen = accuracy_statistics(
        np.repeat(Y_TRUE, 16), np.repeat(model, 16), 5, PUBLISHED_BASELINE, config, source="raster", split="test",
        **copies,
    )  # fmt: skip
    first, again = once["comparison"], sixteen["comparison"]
    assert (first["patches"], first["groups"]) == (75, 25) and (again["patches"], again["groups"]) == (1200, 25)
    assert again["p_value"] == pytest.approx(first["p_value"]) and again["p_value"] >= first["p_value"] - 1e-12
    for key in ("effect", "interval", "equivalence_interval", "p_holm"):
        assert again[key] == pytest.approx(first[key]), key
    assert again["verdict"] == first["verdict"]
    assert sixteen["accuracy"]["ci95"] == pytest.approx(once["accuracy"]["ci95"])
    assert sixteen["f1_macro"]["ci95"] == pytest.approx(once["f1_macro"]["ci95"])
    assert (sixteen["accuracy"]["groups"], sixteen["accuracy"]["patches"]) == (25, 1200)
    # Treated as independent the copies would shrink the p-value: that is what the groups prevent.
    independent = accuracy_statistics(
        np.repeat(Y_TRUE, 16), np.repeat(model, 16), 5, PUBLISHED_BASELINE, config, source="raster", split="test",
        baseline_pred=np.repeat(baseline, 16),
    )  # fmt: skip
    assert independent["comparison"]["p_value"] < first["p_value"] / 100


def test_groups_are_named_beside_the_patches_in_the_report_and_the_json():
    ctx = grouped_context(wrong(10), wrong(10, start=20))
    stats = ctx["statistics"]
    assert stats["accuracy"]["grouped"] and (stats["accuracy"]["groups"], stats["accuracy"]["patches"]) == (25, 75)
    assert stats["accuracy"]["ci95"] != stats["accuracy"]["wilson_ci95"]  # Wilson kept as description
    assert stats["f1_macro"]["groups"] == 25 and "over groups" in stats["f1_macro"]["method"]
    for verdict in stats["verdicts"]:
        assert (verdict["groups"], verdict["patches"]) == (25, 75) and "75 patches in 25 groups" in verdict["text"]
    for entry in ctx["classical_baselines"].values():
        assert (entry["groups"], entry["patches"]) == (25, 75)
    report = build_report(ctx)
    assert "Test accuracy is **86.67%** on 75 patches in 25 groups" in report
    assert "fall in 25 groups" in report and "resample whole groups" in report
    assert "With 75 patches in 25 groups of the test split" in report
    assert "these 75 fall in 25 groups, so grouped patches would need more" in stats["target"]["target_text"]
    ungrouped = context(wrong(10), source="raster", forest_pred=wrong(10, start=20), split="test")
    assert "75 ungrouped patches" in build_report(ungrouped) and "treated as independent" in build_report(ungrouped)


def test_no_better_or_worse_verdict_on_the_validation_split_that_chose_the_epoch():
    # 20 patches only the model gets right: "better" on a test split, no verdict on validation.
    kwargs = {"baseline_pred": wrong(20), "classical_pred": {"forest_flattened": Y_TRUE.copy()}}
    on_test = statistics(Y_TRUE.copy(), split="test", **kwargs)
    assert [v["verdict"] for v in on_test["verdicts"]] == [BETTER, EQUIVALENT]
    on_validation = statistics(Y_TRUE.copy(), split="validation", **kwargs)
    assert [v["verdict"] for v in on_validation["verdicts"]] == [OPTIMISTIC, OPTIMISTIC]
    assert on_validation["family"]["size"] == 0
    for shown, decided in zip(on_validation["verdicts"], on_test["verdicts"]):
        assert shown["p_value"] == decided["p_value"] and shown["interval"] == decided["interval"]
    ctx = context(Y_TRUE.copy(), source="raster", baseline_pred=wrong(20))
    report = build_report(ctx)
    assert "the result is **optimistic; no verdict** (paired comparison)" in "\n".join(summary_lines(ctx))
    assert "No better or worse verdict on the validation split" in report
    assert "exact McNemar p = " in report and "**better**" not in report


def test_published_figure_is_two_binomials_on_its_own_validation_patches_only():
    week3 = statistics(wrong(10), split="validation", source="week3")  # 65/75 against 65/75
    (entry,) = week3["verdicts"]
    expected = st.two_binomial_test(65, 75, 65, 75)
    assert entry["verdict"] == OPTIMISTIC and entry["kind"] == "unpaired"
    assert entry["p_value"] == pytest.approx(expected["p_value"]) and entry["interval"] == list(expected["interval"])
    assert entry["baseline_correct"] == 65 and week3["published_baseline"]["correct"] == 65
    assert "Newcombe interval" in entry["text"] and week3["family"]["size"] == 0
    # Its interval is as wide as the model's: the figure is a sample too, not an exact number.
    assert entry["interval"][1] - entry["interval"][0] > 0.2
    on_test = statistics(wrong(10), split="test", source="week3")
    assert on_test["verdicts"] == [] and not on_test["published_baseline"]["same_patches"]
    assert "not on these test patches" in on_test["published_baseline"]["text"]
    assert statistics(wrong(10), split="validation")["verdicts"] == []  # other data: no comparison


def test_holm_across_the_verdicts_of_one_report():
    # Each comparison: 6 patches only the baseline gets right, none only the model (exact p = 2 / 2^6 =
    # 0.031 < 0.05), three times: Holm makes each 0.094, so none is called worse.
    baseline = Y_TRUE.copy()
    predicted = wrong(6)
    forests = {"forest_flattened": baseline, "forest_band_statistics": baseline}
    stats = statistics(predicted, baseline_pred=baseline, classical_pred=forests)
    raw = [verdict["p_value"] for verdict in stats["verdicts"]]
    assert raw == pytest.approx([2 * 0.5**6] * 3)
    adjusted = multipletests(raw, method="holm")[1]
    assert [verdict["p_holm"] for verdict in stats["verdicts"]] == pytest.approx(adjusted)
    assert stats["family"]["size"] == 3 and all(v["family_size"] == 3 for v in stats["verdicts"])
    assert [verdict["verdict"] for verdict in stats["verdicts"]] == [NOT_DISTINGUISHABLE] * 3
    alone = statistics(predicted, baseline_pred=baseline)
    assert alone["comparison"]["verdict"] == WORSE and alone["family"]["size"] == 1
    ctx = context(predicted, source="raster", forest_pred=baseline, baseline_pred=baseline, split="test")
    report = build_report(ctx)
    assert "Holm (1979) correction across the 3 verdicts of this report" in report
    assert "Holm-adjusted p = 0.0938 across the 3 verdicts" in report
    assert forest_warning(ctx) is None  # significant before the correction, not after it


def test_forest_warning_follows_the_verdict_on_the_test_split():
    ctx = grouped_context(wrong(30), Y_TRUE.copy())  # 30 patches in 10 groups only the forest gets right
    forest = next(v for v in ctx["statistics"]["verdicts"] if v["against"] == "forest_flattened")
    assert forest["verdict"] == WORSE and forest["test"].startswith("cluster bootstrap")
    warning = forest_warning(ctx)
    assert warning is not None and "75 patches in 25 groups of the test split" in warning
    assert f"Holm-adjusted {forest['p_holm']:.3g}" in warning


def test_two_collapsed_arms_are_uninformative_and_leave_the_family():
    collapsed_forest = {"forest_flattened": np.zeros_like(Y_TRUE)}  # Agriculture everywhere (10/75)
    stats = statistics(np.ones_like(Y_TRUE), classical_pred=collapsed_forest, baseline_pred=wrong(10))
    by_name = {verdict["against"]: verdict for verdict in stats["verdicts"]}
    assert by_name["forest_flattened"]["verdict"] == UNINFORMATIVE
    assert by_name["forest_flattened"]["p_holm"] is None and stats["family"]["size"] == 1
    assert "says nothing about what either learned" in by_name["forest_flattened"]["text"]
    assert by_name["in_run_simplecnn"]["verdict"] == WORSE  # one collapsed arm is still a comparison


def test_no_difference_only_through_equivalence():
    # 400 patches, 4 discordant both ways: the 90% interval lies well within +-5 pp.
    y = np.arange(400) % 5
    model, baseline = y.copy(), y.copy()
    model[:2] = (y[:2] + 1) % 5
    baseline[2:4] = (y[2:4] + 1) % 5
    wide = accuracy_statistics(y, model, 5, PUBLISHED_BASELINE, RASTER, baseline, source="raster", split="test")
    assert wide["comparison"]["verdict"] == EQUIVALENT == "equivalent within ±5 pp"
    assert wide["comparison"]["equivalent"] and wide["comparison"]["equivalence_interval"][1] < 0.05
    # 75 patches, 10 discordant both ways: p = 1, but the interval is too wide to claim equivalence.
    small = statistics(wrong(5), baseline_pred=wrong(5, start=40))
    assert small["comparison"]["p_value"] == pytest.approx(1.0)
    assert small["comparison"]["verdict"] == NOT_DISTINGUISHABLE and not small["comparison"]["equivalent"]
    for stats in (wide, small):
        assert "no effect" not in stats["comparison"]["text"]


@pytest.mark.parametrize("split", ["test", "validation"])
def test_every_verdict_is_one_of_the_named_strings(split):
    ctx = context(wrong(10), source="week3", baseline_pred=wrong(20, start=30), forest_pred=wrong(4), split=split)
    assert ctx["statistics"]["verdicts"] and {v["verdict"] for v in ctx["statistics"]["verdicts"]} <= set(VERDICTS)


def test_grouped_macro_f1_resamples_whole_groups_as_sklearn_would_count_them():
    predicted = wrong(12, start=20)
    point, low, high = comparison._cluster_macro_f1(Y_TRUE, predicted, GROUPS, 5, seed=3)
    assert point == pytest.approx(f1_score(Y_TRUE, predicted, average="macro"))
    draws = np.random.default_rng(3).multinomial(25, np.full(25, 1 / 25), size=comparison.F1_RESAMPLES)
    resampled = comparison._grouped_macro_f1(Y_TRUE, predicted, GROUPS, 5, draws)
    assert [low, high] == pytest.approx(np.quantile(resampled, [0.025, 0.975]).tolist())
    # Each resample is sklearn's macro F1 on the drawn groups' patches, each group as often as drawn.
    for draw, value in zip(draws[:40], resampled[:40]):
        index = np.concatenate([np.flatnonzero(GROUPS == g).repeat(k) for g, k in enumerate(draw)])
        expected = f1_score(Y_TRUE[index], predicted[index], labels=range(5), average="macro", zero_division=0)
        assert value == pytest.approx(expected)
    summary = comparison.f1_summary(Y_TRUE, predicted, 5, GROUPS, seed=3)
    assert summary["ci95"] == [low, high] and (summary["groups"], summary["patches"]) == (25, 75)


def test_step_05_resamples_the_groups_data_npz_gives(trained_cnn_run, copy_run):
    run = copy_run(trained_cnn_run)
    with np.load(run / "data.npz", allow_pickle=False) as stored:
        arrays = dict(stored)
    # Polygons of two patches each (the mock data have none): what a raster or EuroSAT split carries.
    arrays["groups_train"] = np.arange(len(arrays["y_train"])) // 2
    arrays["groups_val"] = 1000 + np.arange(len(arrays["y_val"])) // 2
    np.savez(run / "data.npz", **arrays)
    assert evaluate_compare.main(["--run-dir", str(run)]) == 0
    stats = json.loads((run / "evaluation_metrics.json").read_text())["statistics"]
    patches = len(arrays["y_val"])
    assert stats["split"] == "validation" and stats["accuracy"]["grouped"]
    assert (stats["accuracy"]["groups"], stats["accuracy"]["patches"]) == (patches // 2, patches)
    for verdict in stats["verdicts"]:
        assert verdict["verdict"] == OPTIMISTIC and verdict["groups"] == patches // 2
        assert verdict["test"].startswith("cluster bootstrap")
    assert stats["family"]["size"] == 0
    report = (run / "comparison_report.md").read_text()
    assert "Validation accuracy is **" in report and f"on {patches} patches in {patches // 2} groups" in report
