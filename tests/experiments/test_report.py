"""jaxpelsvae.experiments.report: report.json's schema, its validator and report.md."""
from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from scipy import stats

from jaxpelsvae.experiments.report import build_report, render_markdown, validate_report

CLASSES = ["A", "B", "C"]


def _run(mode: str, seed: int, macro_f1: float, roc_auc_ovo: float | None = 0.5, accuracy: float = 0.5,
         confusion=None, **extra) -> dict:
    return {"mode": mode, "seed": seed, "macro_f1": macro_f1, "accuracy": accuracy, "roc_auc_ovo": roc_auc_ovo,
            "roc_auc_ovr": None, "per_class": {c: {"precision": 0.5, "recall": 0.5, "f1": 0.5} for c in CLASSES},
            "confusion": np.eye(3, dtype=int) if confusion is None else confusion, "best_epoch": 2, "epochs": 5,
            "wall_s": 1.5, **extra}


def _report_of(runs, **config) -> dict:
    return build_report(
        dataset={"name": "toy", "n_stars": 30, "counts": {"A": 10, "B": 10, "C": 10}},
        split={"method": "hardness", "parameters": {"temperature": 3.0}, "n_train": 15, "n_val": 5, "n_test": 10},
        runs=runs, generator={"vae_recon_mse": np.float32(0.01), "latent_r2_heldout": float("nan")},
        config={"seq_length": 32, "seq_length_choice": {"reason": "given"}, **config},
    )


def _fake_report() -> dict:
    runs = []
    rng = np.random.default_rng(0)
    for mode in ("baseline", "selfreg"):
        for seed in (0, 1):
            cm = rng.integers(0, 20, (3, 3))
            runs.append(_run(mode, seed, float(rng.uniform()), accuracy=float(rng.uniform()),
                             roc_auc_ovo=float(rng.uniform()), confusion=cm))
    return _report_of(runs)


def test_report_validates_and_roundtrips_json():
    report = _fake_report()
    assert validate_report(report) == []
    again = json.loads(json.dumps(report))
    assert validate_report(again) == []
    assert set(again["summary"]) == {"baseline", "selfreg"}
    s = again["summary"]["baseline"]
    f1 = [r["macro_f1"] for r in again["runs"] if r["mode"] == "baseline"]
    assert s["macro_f1_mean"] == pytest.approx(np.mean(f1)) and s["macro_f1_min"] == pytest.approx(min(f1))
    assert s["macro_f1_std"] == pytest.approx(np.std(f1, ddof=1))
    assert again["generator"]["latent_r2_heldout"] is None  # NaN becomes null
    md = render_markdown(again)
    assert "| baseline |" in md and "Per-class F1" in md


@pytest.mark.parametrize(
    "breaker",
    [
        lambda r: r.pop("versions"),
        lambda r: r["runs"][0].pop("macro_f1"),
        lambda r: r["runs"][0].update(macro_f1=1.5),
        lambda r: r["runs"][0].update(seed="0"),
        lambda r: r["runs"][0].update(confusion=[[1, 2], [3, 4]]),
        lambda r: r["summary"].pop("selfreg"),
        lambda r: r["split"].pop("n_test"),
        lambda r: r["dataset"]["counts"].update(A="ten"),
        lambda r: r["runs"][1]["per_class"]["A"].pop("f1"),
    ],
)
def test_report_validator_catches_broken_reports(breaker):
    report = copy.deepcopy(_fake_report())
    breaker(report)
    assert validate_report(report)


def test_report_md_warns_of_absent_test_classes_and_lists_validation_notes():
    report = _fake_report()
    report["split"]["classes_without_test_stars"] = ["C"]
    report["dataset"]["validation_notes"] = ["class labels 'cep' (2 stars) read as 'CEP' (case and spaces ignored)"]
    md = render_markdown(report)
    assert "**warning**: the test set has no star of C: macro-F1 averages the other classes only" in md
    assert "- note: class labels 'cep' (2 stars) read as 'CEP'" in md


def test_report_md_shows_the_generator_realism_and_why_it_is_missing():
    report = _fake_report()
    row = {"n_real": 5, "n_synthetic": 8, "auc": 0.75, "label_fidelity": 0.5, "real_recall": None, "tstr_f1": 0.25}
    report["generator"]["realism"] = {
        "features": ["ls_power", "std"], "n_real": 5, "n_synthetic": 8, "auc": 0.75, "real_vs_real_auc": 0.5,
        "label_fidelity": 0.5, "tstr_macro_f1": 0.25, "trtr_macro_f1": None, "per_class": {"A": row},
        "notes": ["no real-star yardstick"]}
    md = render_markdown(json.loads(json.dumps(report)))
    assert "## Generator realism (validation stars)" in md and "real vs real here: 0.500" in md
    assert "| A | 5 | 8 | 0.750 | 0.500 | – | 0.250 |" in md and "- note: no real-star yardstick" in md
    # the copy control (the real curves of the training stars drawn) in three more columns
    report["generator"]["realism"]["copy_control"] = {
        "auc": 0.625, "label_fidelity": 0.875, "tstr_macro_f1": 0.5, "n_stars": 3,
        "per_class": {"A": {"auc": 0.625, "label_fidelity": 0.875, "tstr_f1": 0.5}}}
    md = render_markdown(json.loads(json.dumps(report)))
    assert "| all | 5 | 8 | 0.750 | 0.500 | – | 0.250 | 0.625 | 0.875 | 0.500 |" in md
    assert "| A | 5 | 8 | 0.750 | 0.500 | – | 0.250 | 0.625 | 0.875 | 0.500 |" in md and "(3 stars" in md
    report["generator"]["realism"] = {"error": "DataError: no real star"}
    assert "- not computed: DataError: no real star" in render_markdown(report)


# ------------------------------------------------------------------ paired by seed
# Scores are multiples of 1/64 so that every difference below is exact in floating point.

BASE_F1 = {0: 0.5, 1: 0.625, 2: 0.75, 3: 0.5, 4: 0.25, 5: 0.875}
DIFF_F1 = {0: 0.125, 1: -0.0625, 2: 0.09375, 3: 0.03125, 4: 0.015625}


def _paired_runs() -> list[dict]:
    """Baseline seeds 0-5, selfreg seeds 4-0 (listed backwards) and 7: five pairs, one lone seed per mode."""
    runs = [_run("baseline", s, f1, roc_auc_ovo=0.75) for s, f1 in BASE_F1.items()]
    runs += [_run("selfreg", s, BASE_F1[s] + DIFF_F1[s], roc_auc_ovo=0.75 + DIFF_F1[s] / 2) for s in reversed(DIFF_F1)]
    return runs + [_run("selfreg", 7, 0.5)]


def test_paired_differences_are_taken_seed_by_seed_and_lone_seeds_left_out():
    paired = json.loads(json.dumps(_report_of(_paired_runs())))["paired"]
    assert list(paired) == ["cnn"]
    pr = paired["cnn"]
    assert pr["modes"] == ["baseline", "selfreg"]
    assert pr["seeds"] == [0, 1, 2, 3, 4]
    assert pr["unpaired_seeds"] == {"baseline": [5], "selfreg": [7]}
    assert [(r["seed"], r["macro_f1_baseline"], r["macro_f1_diff"]) for r in pr["per_seed"]] == [
        (s, BASE_F1[s], DIFF_F1[s]) for s in range(5)]
    d = np.array(list(DIFF_F1.values()))
    m = pr["macro_f1"]
    assert (m["n"], m["wins"], m["ties"], m["losses"]) == (5, 4, 0, 1)
    assert m["diff_mean"] == pytest.approx(d.mean()) and m["diff_std"] == pytest.approx(d.std(ddof=1))
    assert (m["diff_min"], m["diff_max"]) == (-0.0625, 0.125)
    assert m["p_value"] == pytest.approx(stats.wilcoxon(d).pvalue) and m["p_method"] == "exact"
    # W- = 3 (|-0.0625| ranks 3rd of 5): 2 * P(W <= 3) = 2 * 5/32, the rank sets {}, {1}, {2}, {3}, {1, 2}
    assert m["p_value"] == pytest.approx(0.3125)
    assert m["p_min_possible"] == 0.0625
    auc = pr["roc_auc_ovo"]
    assert auc["n"] == 5 and auc["p_value"] == pytest.approx(stats.wilcoxon(d / 2).pvalue)


def test_paired_p_value_handles_ties_and_zero_differences_exactly_and_matches_scipy():
    diffs = [0.0, 0.0, 0.125, 0.125, -0.25, 0.25, 0.5, 0.375]
    runs = [_run("baseline", s, 0.25) for s in range(len(diffs))]
    runs += [_run("selfreg", s, 0.25 + d) for s, d in enumerate(diffs)]
    m = _report_of(runs)["paired"]["cnn"]["macro_f1"]
    assert (m["wins"], m["ties"], m["losses"]) == (5, 2, 1)
    assert m["p_value"] == pytest.approx(stats.wilcoxon(diffs, zero_method="pratt").pvalue)
    assert m["p_value"] != pytest.approx(stats.wilcoxon(diffs, zero_method="wilcox").pvalue)  # the zero counts
    assert "all sign patterns" in m["p_method"]


def test_five_seeds_of_one_sign_give_the_smallest_p_possible():
    runs = [_run(mode, s, 0.5 + (s + 1) / 64 * (mode == "selfreg"))
            for mode in ("baseline", "selfreg") for s in range(5)]
    m = _report_of(runs)["paired"]["cnn"]["macro_f1"]
    assert m["p_value"] == pytest.approx(0.0625) == m["p_min_possible"]


@pytest.mark.parametrize("runs, reason", [
    ([_run("baseline", 0, 0.5), _run("selfreg", 0, 0.75), _run("selfreg", 1, 0.75)], "1 paired seed,"),
    ([_run(mode, s, 0.5) for mode in ("baseline", "selfreg") for s in range(3)], "every paired difference is 0"),
])
def test_paired_p_value_is_none_with_a_reason_when_no_test_can_be_made(runs, reason):
    report = _report_of(runs)
    m = report["paired"]["cnn"]["macro_f1"]
    assert m["p_value"] is None and reason in m["p_method"]
    assert reason in render_markdown(report)


def test_paired_entries_are_per_classifier_and_summary_stays_keyed_by_mode():
    runs = [{**r, "classifier": "folded"} for r in _paired_runs()]
    runs += [_run("baseline", s, 0.5, classifier="cnn") for s in range(3)]  # one mode only: nothing to pair
    runs += [_run(mode, s, 0.5 + s / 64 * (mode == "selfreg"), classifier="lc") for mode in ("baseline", "selfreg")
             for s in range(3)]
    report = _report_of(runs, classifier="folded", classifiers=["folded", "cnn", "lc"])
    assert validate_report(report) == []
    assert set(report["summary"]) == {"baseline", "selfreg"}
    assert set(report["paired"]) == {"folded", "lc"}
    assert report["paired"]["lc"]["macro_f1"]["wins"] == 2 and report["paired"]["lc"]["seeds"] == [0, 1, 2]
    md = render_markdown(report)
    assert "### folded" in md and "### lc" in md and "### cnn" not in md


def test_report_md_has_the_paired_table_and_the_test_line():
    md = render_markdown(_report_of(_paired_runs()))
    assert "## Paired by seed (selfreg − baseline)" in md
    assert "| seed | baseline macro-F1 | selfreg macro-F1 | difference | AUC ovo difference |" in md
    assert "| 1 | 0.625 | 0.562 | -0.062 | -0.031 |" in md
    assert ("- macro-F1: selfreg − baseline = +0.041 ± 0.073 (mean ± std over 5 seeds, min -0.062, max +0.125); "
            "selfreg wins 4, ties 0, loses 1; two-sided Wilcoxon signed-rank p = 0.312 (exact); the smallest p "
            "possible with 5 seeds is 0.0625") in md
    assert "- baseline seeds without a run of the other mode (left out): 5" in md
    assert "- selfreg seeds without a run of the other mode (left out): 7" in md
    assert "Paired by seed" not in render_markdown(_report_of([_run("baseline", 0, 0.5)]))


def test_report_figures_draw_the_paired_seeds_only_when_both_modes_ran(tmp_path):
    from jaxpelsvae.experiments.figures import report_figures

    runs = _paired_runs() + [_run("baseline", 9, 0.5, classifier="lc"), _run("selfreg", 8, 0.5, classifier="lc")]
    names = report_figures(_report_of(runs, classifier="cnn"), tmp_path / "figures")
    assert "figures/paired_seeds.png" in names and (tmp_path / "figures" / "paired_seeds.png").stat().st_size > 0
    names = report_figures(_report_of([_run("baseline", 0, 0.5)]), tmp_path / "one_mode")
    assert not any("paired" in n for n in names)
