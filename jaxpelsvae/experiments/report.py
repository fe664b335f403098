"""report.json (the contract of DESIGN.md), its hand-written schema check, and report.md.

All metrics are fractions in [0, 1] (the paper's tables use percent). Layout of report.json:
  dataset   {name, path, n_stars, classes, counts{class: n}, n_rejected, rejected_by_reason, ...}
  split     {method, parameters, n_train, n_val, n_test, train_pool, test_pool, counts_*...}
  runs      [{mode, seed, classifier, macro_f1, accuracy, roc_auc_ovo, roc_auc_ovr,
              per_class{class: {precision, recall, f1}}, confusion (K×K, rows true), best_epoch,
              epochs, wall_s}]
  summary   {mode: {macro_f1_mean, macro_f1_std, macro_f1_min, macro_f1_max, roc_auc_ovo_mean, ...}}
            of the main classifier (config.classifier, the first of config.classifiers)
  summary_by_classifier {classifier: {mode: the same}} for every classifier of the report
  paired    {classifier: paired_by_seed(...)} for every classifier run in both modes: selfreg −
            baseline per seed, with a Wilcoxon signed-rank p-value (a key of its own, so that
            readers iterating `summary`'s modes meet modes only)
  generator {vae_recon_mse, latent_r2_heldout, ..., realism (synth.realism: two-sample AUC, label
            fidelity, TSTR on the validation stars; {error} when it could not be made)}
  config    the run's configuration (plain JSON)
  versions  {jaxpelsvae, python, jax, flax, optax, numpy, platform, devices}
"""
from __future__ import annotations

import json
import math
import platform
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from jaxpelsvae.errors import ConfigError
from jaxpelsvae.json_io import json_safe

# ------------------------------------------------------------------ summary


def summarise_runs(runs: Sequence[Mapping]) -> dict:
    """{mode: {n_runs, macro_f1_mean/std/min/max, accuracy_mean, roc_auc_ovo_mean, roc_auc_ovr_mean}}.

    std is the sample standard deviation (ddof=1; 0 for a single run).
    """
    out: dict[str, dict] = {}
    for mode in dict.fromkeys(r["mode"] for r in runs):
        rs = [r for r in runs if r["mode"] == mode]
        f1 = np.array([r["macro_f1"] for r in rs], np.float64)

        def mean_of(key):
            vals = [r[key] for r in rs if r.get(key) is not None]
            return float(np.mean(vals)) if vals else None

        out[mode] = {
            "n_runs": len(rs),
            "macro_f1_mean": float(f1.mean()),
            "macro_f1_std": float(f1.std(ddof=1)) if f1.size > 1 else 0.0,
            "macro_f1_min": float(f1.min()),
            "macro_f1_max": float(f1.max()),
            "accuracy_mean": mean_of("accuracy"),
            "roc_auc_ovo_mean": mean_of("roc_auc_ovo"),
            "roc_auc_ovr_mean": mean_of("roc_auc_ovr"),
            "wall_s_mean": mean_of("wall_s"),
        }
    return out


PAIRED_METRICS = ("macro_f1", "roc_auc_ovo")
WILCOXON_ZERO_METHOD = "pratt"
"""Seeds whose difference is exactly 0 take part in the ranking but add to neither rank sum (Pratt),
so a tie weakens the evidence instead of vanishing from the sample as under Wilcoxon's own rule."""


def min_signed_rank_p(n: int) -> float:
    """The smallest two-sided p the exact signed-rank test can give with n non-zero differences:
    2 / 2^n (every difference of one sign), so five seeds cannot go below 0.0625 (a zero difference
    adds to neither rank sum, so it does not count)."""
    return min(1.0, 2.0 / 2.0 ** n) if n > 0 else 1.0


def signed_rank_test(diff_N: np.ndarray) -> tuple[float | None, str]:
    """(two-sided Wilcoxon signed-rank p-value of the paired differences diff_N, how it was computed).

    Exact for small samples: the exact null distribution without ties or zeros (n <= 50), else the
    exact permutation distribution over all 2^n sign patterns (n <= 13); beyond those the normal
    approximation. p is None, with the reason, when fewer than two pairs or no non-zero difference.
    """
    from scipy import stats

    d = np.asarray(diff_N, np.float64)
    if d.size < 2:
        return None, f"not computed: {d.size} paired seed{'s' if d.size != 1 else ''}, a test needs at least 2"
    if not np.any(d):
        return None, "not computed: every paired difference is 0"
    ties = np.any(d == 0) or np.unique(np.abs(d)).size < d.size
    if not ties and d.size <= 50:
        method, how = "exact", "exact"
    elif d.size <= 13:
        # all 2^n sign patterns: exact in the presence of ties and zeros, and deterministic
        method, how = stats.PermutationMethod(), "exact (all sign patterns; tied or zero differences)"
    else:
        method, how = "asymptotic", "normal approximation"
    p = stats.wilcoxon(d, zero_method=WILCOXON_ZERO_METHOD, method=method).pvalue
    return float(p), how


def _paired_metric(base: Sequence[Mapping], other: Sequence[Mapping], key: str) -> dict:
    """Differences other − base of one metric over the pairs where both runs have it."""
    pairs = [(b[key], o[key]) for b, o in zip(base, other) if b.get(key) is not None and o.get(key) is not None]
    d = np.array([o - b for b, o in pairs], np.float64)
    p, how = signed_rank_test(d)
    return {
        "n": int(d.size),
        "diff_mean": float(d.mean()) if d.size else None,
        "diff_std": (float(d.std(ddof=1)) if d.size > 1 else 0.0) if d.size else None,
        "diff_min": float(d.min()) if d.size else None,
        "diff_max": float(d.max()) if d.size else None,
        "wins": int(np.sum(d > 0)),
        "ties": int(np.sum(d == 0)),
        "losses": int(np.sum(d < 0)),
        "p_value": p,
        "p_method": how,
        "p_min_possible": min_signed_rank_p(int(np.count_nonzero(d))),
    }


def paired_by_seed(runs: Sequence[Mapping], base: str = "baseline", other: str = "selfreg") -> dict | None:
    """Runs of `other` and `base` with the same seed, paired (same training set and encodings).

    Returns None when either mode has no run. Otherwise {modes: [base, other], seeds (paired, in
    order), unpaired_seeds {mode: [seed]} (left out of every statistic), per_seed [{seed,
    <metric>_<mode>, <metric>_diff}], and for each metric of PAIRED_METRICS {n, diff_mean, diff_std
    (ddof=1), diff_min, diff_max, wins/ties/losses (of `other`), p_value (two-sided Wilcoxon
    signed-rank, `signed_rank_test`; None with the reason in p_method), p_method, p_min_possible}}.
    Differences are other − base.
    """
    by_mode = {m: {} for m in (base, other)}
    for r in runs:
        if r["mode"] in by_mode:
            # one run per mode and seed; a repeated one would make the pairing ambiguous, keep the first
            by_mode[r["mode"]].setdefault(r["seed"], r)
    if not by_mode[base] or not by_mode[other]:
        return None
    seeds = [s for s in by_mode[base] if s in by_mode[other]]
    b = [by_mode[base][s] for s in seeds]
    o = [by_mode[other][s] for s in seeds]
    per_seed = [{"seed": s, **{f"{k}_{m}": run.get(k) for k in PAIRED_METRICS for m, run in ((base, rb), (other, ro))},
                 **{f"{k}_diff": (ro[k] - rb[k] if ro.get(k) is not None and rb.get(k) is not None else None)
                    for k in PAIRED_METRICS}}
                for s, rb, ro in zip(seeds, b, o)]
    return {
        "modes": [base, other],
        "seeds": seeds,
        "unpaired_seeds": {m: [s for s in by_mode[m] if s not in seeds] for m in (base, other)},
        "per_seed": per_seed,
        **{k: _paired_metric(b, o, k) for k in PAIRED_METRICS},
    }


def paired_by_classifier(runs: Sequence[Mapping], main: str) -> dict:
    """{classifier: paired_by_seed(its runs)} for every classifier with runs in both modes."""
    out = {}
    for clf in dict.fromkeys(r.get("classifier", main) for r in runs):
        paired = paired_by_seed([r for r in runs if r.get("classifier", main) == clf])
        if paired is not None:
            out[clf] = paired
    return out


def main_classifier(report: Mapping) -> str:
    """The classifier of report["summary"]: config.classifier, else the first run's."""
    runs = report.get("runs") or []
    return report.get("config", {}).get("classifier") or (runs[0].get("classifier", "cnn") if runs else "cnn")


def versions() -> dict:
    """Versions of the software that produced a report (and the JAX devices)."""
    import importlib.metadata as md

    out = {"python": sys.version.split()[0], "platform": platform.platform()}
    for pkg in ("jaxpelsvae", "jax", "jaxlib", "flax", "optax", "numpy", "scikit-learn"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = None
    try:
        import jax

        out["devices"] = [str(d) for d in jax.devices()]
    except Exception:  # noqa: BLE001 -- versions must never fail a finished run
        out["devices"] = []
    return out


# ------------------------------------------------------------------ schema

NUM, INT, STR, BOOL = "number", "integer", "string", "boolean"
OPT = "|null"

_PER_CLASS = {"precision": NUM, "recall": NUM, "f1": NUM}
_RUN = {
    "mode": STR,
    "seed": INT,
    "macro_f1": NUM,
    "accuracy": NUM,
    "roc_auc_ovo": NUM + OPT,
    "roc_auc_ovr": NUM + OPT,
    "per_class": {"*": _PER_CLASS},
    "confusion": [[INT]],
    "best_epoch": INT,
    "epochs": INT,
    "wall_s": NUM,
}
REPORT_SCHEMA = {
    "dataset": {"n_stars": INT, "counts": {"*": INT}},
    "split": {"method": STR, "parameters": {}, "n_train": INT, "n_val": INT, "n_test": INT},
    "runs": [_RUN],
    "summary": {
        "*": {"macro_f1_mean": NUM, "macro_f1_std": NUM, "macro_f1_min": NUM, "roc_auc_ovo_mean": NUM + OPT}
    },
    "generator": {"vae_recon_mse": NUM + OPT, "latent_r2_heldout": NUM + OPT},
    "config": {},
    "versions": {},
}
"""Required structure: a dict spec lists required keys (extra keys allowed; "*" = every value of a
mapping), a one-element list is a list of that spec, strings are JSON types ("|null" allows null)."""


def _check(value, spec, path: str, errors: list[str]) -> None:
    if isinstance(spec, str):
        allow_null = spec.endswith(OPT)
        kind = spec.removesuffix(OPT)
        if value is None:
            if not allow_null:
                errors.append(f"{path}: is null, expected {kind}")
            return
        ok = {
            NUM: isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value),
            INT: isinstance(value, int) and not isinstance(value, bool),
            STR: isinstance(value, str),
            BOOL: isinstance(value, bool),
        }[kind]
        if not ok:
            errors.append(f"{path}: expected {kind}, got {type(value).__name__} {value!r:.40}")
        return
    if isinstance(spec, list):
        if not isinstance(value, list):
            errors.append(f"{path}: expected a list, got {type(value).__name__}")
            return
        for i, item in enumerate(value):
            _check(item, spec[0], f"{path}[{i}]", errors)
        return
    if not isinstance(value, dict):
        errors.append(f"{path}: expected an object, got {type(value).__name__}")
        return
    for key, sub in spec.items():
        if key == "*":
            for k, v in value.items():
                if not isinstance(k, str):
                    errors.append(f"{path}: key {k!r} is not a string")
                _check(v, sub, f"{path}.{k}", errors)
        elif key not in value:
            errors.append(f"{path}: missing key {key!r}")
        else:
            _check(value[key], sub, f"{path}.{key}", errors)


def validate_report(report: Mapping) -> list[str]:
    """Problems of a report.json dict against REPORT_SCHEMA plus consistency rules; [] if valid.

    Rules beyond types: metrics in [0, 1]; each run's confusion is K×K with K = number of classes
    of its per_class; summary has an entry for every mode present in runs; runs non-empty;
    best_epoch <= epochs.
    """
    errors: list[str] = []
    _check(dict(report), REPORT_SCHEMA, "report", errors)
    if errors:
        return errors
    runs = report["runs"]
    if not runs:
        errors.append("report.runs: is empty")
    for i, r in enumerate(runs):
        for key in ("macro_f1", "accuracy", "roc_auc_ovo", "roc_auc_ovr"):
            v = r[key]
            if v is not None and not 0.0 <= v <= 1.0:
                errors.append(f"report.runs[{i}].{key}: {v} is outside [0, 1]")
        k = len(r["per_class"])
        conf = r["confusion"]
        if len(conf) != k or any(len(row) != k for row in conf):
            errors.append(f"report.runs[{i}].confusion: expected {k}×{k}")
        if r["best_epoch"] > r["epochs"]:
            errors.append(f"report.runs[{i}]: best_epoch {r['best_epoch']} > epochs {r['epochs']}")
    for mode in {r["mode"] for r in runs}:
        if mode not in report["summary"]:
            errors.append(f"report.summary: no entry for mode {mode!r}")
    return errors


def assert_valid_report(report: Mapping) -> None:
    """Raise ConfigError listing every problem when `report` breaks the schema."""
    errors = validate_report(report)
    if errors:
        raise ConfigError("report.json does not follow the schema:\n  " + "\n  ".join(errors))


def build_report(
    *,
    dataset: Mapping,
    split: Mapping,
    runs: Sequence[Mapping],
    generator: Mapping,
    config: Mapping,
    extra: Mapping | None = None,
) -> dict:
    """Assemble a report dict (summary computed from runs, versions filled in) and validate it.

    ``summary`` holds the main classifier's runs (config["classifier"], else the first run's), by
    mode; ``summary_by_classifier`` the same for every classifier: {classifier: {mode: ...}};
    ``paired`` (a top-level key, so `summary` stays keyed by mode only) the seed-paired selfreg −
    baseline differences of every classifier run in both modes: {classifier: paired_by_seed(...)}.
    """
    main = main_classifier({"config": config, "runs": runs})
    report = {
        "dataset": dict(dataset),
        "split": dict(split),
        "runs": [dict(r) for r in runs],
        "summary": summarise_runs([r for r in runs if r.get("classifier", main) == main]),
        "summary_by_classifier": {c: summarise_runs([r for r in runs if r.get("classifier", main) == c])
                                  for c in dict.fromkeys(r.get("classifier", main) for r in runs)},
        "paired": paired_by_classifier(runs, main),
        "generator": {"vae_recon_mse": None, "latent_r2_heldout": None, **dict(generator)},
        "config": dict(config),
        "versions": versions(),
    }
    if extra:
        report.update(dict(extra))
    report = json_safe(report)
    assert_valid_report(report)
    return report


def write_report_json(report: Mapping, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1, sort_keys=False) + "\n")
    return path


# ------------------------------------------------------------------ report.md


def _fmt(v, digits: int = 3) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def _table(header: Sequence[str], rows: Sequence[Sequence]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_fmt(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def summary_table(report: Mapping) -> str:
    """Markdown table of the summary per mode (macro-F1 mean ± std, min, max, AUCs, runs); one row
    per classifier and mode when the report holds several classifiers."""
    by_clf = report.get("summary_by_classifier") or {"": report["summary"]}
    several = len(by_clf) > 1
    rows = [
        ([clf] if several else []) + [
            mode, s["n_runs"], f"{s['macro_f1_mean']:.3f} ± {s['macro_f1_std']:.3f}", s["macro_f1_min"],
            s["macro_f1_max"], s.get("accuracy_mean"), s.get("roc_auc_ovo_mean"), s.get("roc_auc_ovr_mean")]
        for clf, summary in by_clf.items() for mode, s in summary.items()
    ]
    header = ["mode", "runs", "macro-F1 mean ± std", "min", "max", "accuracy", "AUC ovo", "AUC ovr"]
    return _table((["classifier"] if several else []) + header, rows)


def _signed(v) -> str:
    return "–" if v is None else f"{v:+.3f}"


def _paired_line(name: str, m: Mapping, modes: Sequence[str]) -> str:
    """One metric's paired summary: mean difference ± std, wins/ties/losses, the signed-rank p."""
    if not m["n"]:
        return f"- {name}: no seed with this metric in both modes"
    p = f"p = {m['p_value']:.3g} ({m['p_method']})" if m["p_value"] is not None else f"p {m['p_method']}"
    seeds = f"{m['n']} seed{'s' if m['n'] != 1 else ''}"
    return (f"- {name}: {modes[1]} − {modes[0]} = {_signed(m['diff_mean'])} ± {m['diff_std']:.3f} (mean ± std over "
            f"{seeds}, min {_signed(m['diff_min'])}, max {_signed(m['diff_max'])}); {modes[1]} wins "
            f"{m['wins']}, ties {m['ties']}, loses {m['losses']}; two-sided Wilcoxon signed-rank {p}; the smallest p "
            f"possible with {seeds} is {m['p_min_possible']:.3g}")


def paired_markdown(report: Mapping) -> list[str]:
    """report.md's "Paired by seed" section: per classifier run in both modes, one row per paired seed
    (macro-F1 of each mode, their difference, the AUC ovo difference), then one line per metric."""
    paired = report.get("paired") or {}
    if not paired:
        return []
    first = next(iter(paired.values()))["modes"]
    out = [f"## Paired by seed ({first[1]} − {first[0]})", "",
           "Runs of the two modes with the same seed share the training set and encodings, so the test is on the "
           "differences seed by seed (a seed with no difference is ranked but counts for neither mode: Pratt's "
           "rule).", ""]
    for clf, pr in paired.items():
        base, other = pr["modes"]
        if len(paired) > 1:
            out += [f"### {clf}", ""]
        rows = [[r["seed"], r[f"macro_f1_{base}"], r[f"macro_f1_{other}"], _signed(r["macro_f1_diff"]),
                 _signed(r["roc_auc_ovo_diff"])] for r in pr["per_seed"]]
        out += [_table(["seed", f"{base} macro-F1", f"{other} macro-F1", "difference", "AUC ovo difference"], rows), ""]
        out += [_paired_line(name, pr[key], pr["modes"]) for name, key in (("macro-F1", "macro_f1"), ("AUC ovo", "roc_auc_ovo"))]
        out += [f"- {mode} seeds without a run of the other mode (left out): {', '.join(map(str, seeds))}"
                for mode, seeds in pr["unpaired_seeds"].items() if seeds]
        out += [""]
    return out


def _classifier_lines(cfg: Mapping) -> str:
    """What each classifier reads (view), how synthetic curves are made to look (donors, periods)."""
    from jaxpelsvae.views import registry

    lines = []
    for name in cfg.get("classifiers") or [cfg.get("classifier", "cnn")]:
        try:
            what = registry.get(name).description
        except Exception:  # noqa: BLE001 -- a report of a classifier registered elsewhere still renders
            what = "not registered in this session"
        lines.append(f"- **{name}**: {what}")
    if cfg.get("forest") and any(n != "cnn" for n in cfg.get("classifiers") or []):
        lines.append("- **<classifier>+forest** (period-aware classifiers): the mean of the network's and a random "
                     "forest's class probabilities; the forest reads nine period-based features of the same "
                     "training stars (`jaxpelsvae.models.forest`) and is saved beside the run's model")
    if any(n != "cnn" for n in cfg.get("classifiers") or []):
        train = cfg.get("train") or cfg  # report.json of earlier versions held the classifier settings flat
        lines.append(f"- view settings {dict(train.get('view_overrides') or {}) or 'default'}; training-view "
                     f"augmentation {'on' if train.get('augment', cfg.get('augment')) else 'off'}; synthetic curves folded at their "
                     f"{_synthetic_periods_text(cfg.get('synthetic_periods_used') or train.get('synthetic_periods'))}")
    donors = cfg.get("donors")
    lines.append(f"- synthetic cadences and errors: {donors}" if donors else
                 "- synthetic cadences and errors: donors from the training stars of the same class")
    return "\n".join(lines)


def _synthetic_periods_text(choice: str | None) -> str:
    """How report.md names the period synthetic curves were folded at (TrainConfig.synthetic_periods)."""
    if choice == "found":
        return "found (label-free Lomb-Scargle) periods"
    if choice == "true":
        return "true (sampled) periods"
    return "sampled periods where every training star has a catalogue period, else found ones"


def realism_markdown(realism: Mapping) -> list[str]:
    """report.md's lines for generator.realism (`synth.realism`): the headline, then one row per class."""
    out = ["## Generator realism (validation stars)", ""]
    if realism.get("error"):
        return out + [f"- not computed: {realism['error']}", ""]
    out += [f"Random forests on {', '.join(realism['features'])} of {realism['n_real']} real validation stars (never "
            f"seen by the generator) and {realism['n_synthetic']} synthetic curves. Two-sample AUC: can a forest tell "
            f"synthetic from real (0.5: no; real vs real here: {_fmt(realism.get('real_vs_real_auc'))}). Label fidelity: "
            "synthetic curves given their class by a forest fitted on the real stars (those real stars, out of fold: "
            "real recall). TSTR: F1 on the real stars of a forest fitted on synthetic curves only "
            f"(macro {_fmt(realism.get('tstr_macro_f1'))}; fitted on real stars, out of fold: "
            f"{_fmt(realism.get('trtr_macro_f1'))}).", ""]
    rows = [["all", realism["n_real"], realism["n_synthetic"], realism.get("auc"), realism.get("label_fidelity"), None,
             realism.get("tstr_macro_f1")]]
    rows += [[c, r["n_real"], r["n_synthetic"], r["auc"], r["label_fidelity"], r["real_recall"], r["tstr_f1"]]
             for c, r in realism["per_class"].items()]
    head = ["class", "real", "synthetic", "two-sample AUC", "label fidelity", "real recall", "TSTR F1"]
    copies = realism.get("copy_control")
    if copies:  # the same three tests for the real curves of the training stars drawn, as often as drawn
        out += [f"Copy control: the same tests with every synthetic curve replaced by the real curve of the training "
                f"star it was made from ({copies['n_stars']} stars, each as often as drawn): what a perfect copy of "
                "those stars would score.", ""]
        head += ["copies: AUC", "copies: label fidelity", "copies: TSTR F1"]
        rows[0] += [copies.get("auc"), copies.get("label_fidelity"), copies.get("tstr_macro_f1")]
        for row in rows[1:]:
            cc = copies["per_class"].get(row[0], {})
            row += [cc.get("auc"), cc.get("label_fidelity"), cc.get("tstr_f1")]
    out += [_table(head, rows), ""]
    out += [f"- note: {n}" for n in realism.get("notes") or []]
    return out + ([""] if realism.get("notes") else [])


def render_markdown(report: Mapping, figures: Sequence[str] = ()) -> str:
    """report.md: summary per mode, the seed-paired differences, per-class F1, dataset and split, generator quality, timing,
    the chosen sequence length and why, figures."""
    ds, sp, gen, cfg = report["dataset"], report["split"], report["generator"], report["config"]
    runs = report["runs"]
    out = [f"# Experiment report: {ds.get('name', 'dataset')}", ""]
    out += ["All metrics are fractions (×100 for the paper's percent) on the test pool.", ""]
    out += ["## Summary per mode", "", summary_table(report), ""]
    out += paired_markdown(report)
    out += ["## Classifier", "", _classifier_lines(cfg), ""]

    classes = list(runs[0]["per_class"]) if runs else []
    modes = list(report["summary"])
    rows = []
    for c in classes:
        row = [c]
        for m in modes:
            f1s = [r["per_class"][c]["f1"] for r in runs if r["mode"] == m]
            row.append(f"{np.mean(f1s):.3f}" if f1s else "–")
        rows.append(row)
    out += ["## Per-class F1 (mean over seeds)", "", _table(["class", *modes], rows), ""]

    pools = sorted(set(sp.get("train_pool", {})) | set(sp.get("test_pool", {})) | set(ds.get("counts", {})))
    rows = [[c, ds.get("counts", {}).get(c, 0), sp.get("train_pool", {}).get(c, 0), sp.get("test_pool", {}).get(c, 0)]
            for c in pools]
    out += ["## Dataset and split", ""]
    out += [f"- dataset: `{ds.get('path') or 'in-memory light-curve set'}`, {ds['n_stars']} stars kept, {ds.get('n_rejected', 0)} rejected"
            + (f" ({', '.join(f'{k}: {v}' for k, v in ds.get('rejected_by_reason', {}).items())})" if ds.get("rejected_by_reason") else "")]
    out += [f"- note: {note}" for note in ds.get("validation_notes") or []]
    out += [f"- note (test dataset): {note}" for note in (ds.get("test") or {}).get("validation_notes") or []]
    if ds.get("classes_selected"):
        left = ds.get("left_out_by_classes") or {}
        out += [f"- classes selected: {', '.join(ds['classes_selected'])}; left out: "
                + "; ".join(f"{'test dataset' if part == 'test' else 'dataset'} "
                            + (", ".join(f"{k} ({v} stars)" for k, v in counts.items()) or "none")
                            for part, counts in left.items())]
    if ds.get("n_periods_found"):
        out += [f"- periods found by Lomb-Scargle for {ds['n_periods_found']} stars without a period"]
    params = ", ".join(f"{k}={v}" for k, v in sp.get("parameters", {}).items() if k != "features")
    out += [f"- split: **{sp['method']}** ({params}); train {sp['n_train']}, validation {sp['n_val']}, test {sp['n_test']}"]
    if sp.get("hardness_mean_train") is not None:
        out += [f"- mean Gini hardness: train pool {_fmt(sp['hardness_mean_train'])}, test pool {_fmt(sp.get('hardness_mean_test'))}"]
    if sp.get("classes_missing_in_test") or sp.get("classes_missing_in_train"):
        out += [f"- classes missing in the test set: {sp.get('classes_missing_in_test') or 'none'}; "
                f"test classes unknown to training (dropped, {sp.get('test_stars_dropped', 0)} stars): "
                f"{sp.get('classes_missing_in_train') or 'none'}"]
    if sp.get("class_mismatch"):
        out += [f"- **warning**: {sp['class_mismatch']}"]
    if sp.get("classes_without_test_stars"):
        from jaxpelsvae.train.metrics import absent_classes_warning

        out += [f"- **warning**: {absent_classes_warning(sp['classes_without_test_stars'])}"]
    for key, pool in (("quality_cuts", "training pool"), ("quality_cuts_test", "test pool")):
        if sp.get(key):
            q = sp[key]
            out += [f"- original quality cuts on the {pool} (> L = {q.get('seq_length')} points, SNR > "
                    f"{q.get('snr_threshold')}): stars removed {q.get('n_rejected')}"]
    out += ["", _table(["class", "dataset", "train pool", "test pool"], rows), ""]

    seq = cfg.get("seq_length_choice") or {}
    out += ["## Sequence length", ""]
    out += [f"- L = **{cfg.get('seq_length')}** (Δt, Δm) pairs per curve. {seq.get('reason', '')}", ""]

    out += ["## Generator quality", ""]
    fitted_on = gen.get("fitted_on") or {}
    if fitted_on:
        where = (f"the train part before the quality cuts ({fitted_on.get('n_cut_stars')} of them cut from the "
                 "classifier's training set)" if fitted_on.get("before_quality_cuts") else "the classifier's training set")
        out += [f"- VAE and generator fitted on {fitted_on.get('n_stars')} stars: {where}; no validation or test star", ""]
    out += [_table(["quantity", "value"], [[k, v] for k, v in gen.items() if not isinstance(v, (dict, list))]), ""]
    if gen.get("realism"):
        out += realism_markdown(gen["realism"])

    rows = [[r.get("classifier", "cnn"), r["mode"], r["seed"], r["macro_f1"], r.get("roc_auc_ovo"), r["best_epoch"],
             r["epochs"], r["wall_s"]] for r in runs]
    out += ["## Runs and timing", ""]
    if sp.get("seed_variation"):
        out += [sp["seed_variation"], ""]
    out += [_table(["classifier", "mode", "seed", "macro-F1", "AUC ovo", "best epoch", "epochs", "wall s"], rows), ""]
    timing = report.get("timing") or {}
    if timing:
        out += [_table(["stage", "seconds"], [[k, float(v)] for k, v in timing.items()]), ""]
    if figures:
        out += ["## Figures", ""] + [f"![{Path(f).stem}]({f})" for f in figures] + [""]
    v = report["versions"]
    out += [f"_jaxpelsvae {v.get('jaxpelsvae')}, jax {v.get('jax')}, devices {', '.join(v.get('devices', []))}_", ""]
    return "\n".join(out)
