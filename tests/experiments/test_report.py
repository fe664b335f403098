"""jaxpelsvae.experiments.report: report.json's schema, its validator and report.md."""
from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from jaxpelsvae.experiments.report import build_report, render_markdown, validate_report


def _fake_report() -> dict:
    classes = ["A", "B", "C"]
    runs = []
    rng = np.random.default_rng(0)
    for mode in ("baseline", "selfreg"):
        for seed in (0, 1):
            cm = rng.integers(0, 20, (3, 3))
            runs.append({
                "mode": mode, "seed": seed, "macro_f1": float(rng.uniform()), "accuracy": float(rng.uniform()),
                "roc_auc_ovo": float(rng.uniform()), "roc_auc_ovr": None,
                "per_class": {c: {"precision": 0.5, "recall": 0.5, "f1": 0.5} for c in classes},
                "confusion": cm, "best_epoch": 2, "epochs": 5, "wall_s": 1.5,
            })
    return build_report(
        dataset={"name": "toy", "n_stars": 30, "counts": {"A": 10, "B": 10, "C": 10}},
        split={"method": "hardness", "parameters": {"temperature": 3.0}, "n_train": 15, "n_val": 5, "n_test": 10},
        runs=runs, generator={"vae_recon_mse": np.float32(0.01), "latent_r2_heldout": float("nan")},
        config={"seq_length": 32, "seq_length_choice": {"reason": "given"}},
    )


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
    report["generator"]["realism"] = {"error": "DataError: no real star"}
    assert "- not computed: DataError: no real star" in render_markdown(report)
