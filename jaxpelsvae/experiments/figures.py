"""Figures of an experiment report: confusion per mode, per-class F1, macro-F1 over seeds and paired by seed,
synthetic versus real curves, physical-parameter samples versus real ones, the realism report (matplotlib Agg, files only)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from jaxpelsvae.selfreg.figures import draw_confusion, pyplot, save_figure


def _save(fig, path: Path, *, tight: bool = True) -> Path:
    return save_figure(fig, path, dpi=100, tight=tight)


def plot_confusions(report: Mapping, path: Path) -> Path:
    """One row-normalised confusion matrix per mode, summed over that mode's seeds."""
    plt = pyplot()
    runs = report["runs"]
    modes = list(report["summary"])
    classes = list(runs[0]["per_class"])
    fig, axes = plt.subplots(1, len(modes), figsize=(4.2 * len(modes) + 0.5, 4.0), squeeze=False)
    for ax, mode in zip(axes[0], modes):
        cm = np.sum([np.asarray(r["confusion"], np.float64) for r in runs if r["mode"] == mode], axis=0)
        draw_confusion(ax, cm, classes, counts=False, xlabel="predicted", ylabel="true")
        ax.set_title(f"{mode} (all seeds)")
    return _save(fig, path)


def plot_per_class_f1(report: Mapping, path: Path) -> Path:
    """Grouped bars: mean per-class F1 per mode, with the min–max over seeds as error bars."""
    plt = pyplot()
    runs = report["runs"]
    modes = list(report["summary"])
    classes = list(runs[0]["per_class"])
    x = np.arange(len(classes))
    width = 0.8 / max(len(modes), 1)
    fig, ax = plt.subplots(figsize=(1.2 * len(classes) + 3, 3.6))
    for m, mode in enumerate(modes):
        f1 = np.array([[r["per_class"][c]["f1"] for c in classes] for r in runs if r["mode"] == mode])
        mean = f1.mean(axis=0)
        err = np.stack([mean - f1.min(axis=0), f1.max(axis=0) - mean])
        ax.bar(x + (m - (len(modes) - 1) / 2) * width, mean, width, yerr=err, capsize=3, label=mode)
    ax.set_xticks(x, classes)
    ax.set_ylim(0, 1)
    ax.set_ylabel("F1 on the test pool")
    ax.legend()
    return _save(fig, path)


def plot_macro_f1_distribution(report: Mapping, path: Path) -> Path:
    """Macro-F1 of every seed per mode (points) with the mean (bar)."""
    plt = pyplot()
    runs = report["runs"]
    modes = list(report["summary"])
    fig, ax = plt.subplots(figsize=(1.8 * len(modes) + 2, 3.4))
    rng = np.random.default_rng(0)  # jitter only
    for m, mode in enumerate(modes):
        f1 = np.array([r["macro_f1"] for r in runs if r["mode"] == mode])
        ax.scatter(m + rng.uniform(-0.12, 0.12, f1.size), f1, s=18, alpha=0.8)
        ax.hlines(f1.mean(), m - 0.25, m + 0.25, color="k")
    ax.set_xticks(range(len(modes)), modes)
    ax.set_xlim(-0.6, len(modes) - 0.4)
    ax.set_ylabel("test macro-F1")
    ax.set_title(f"macro-F1 over seeds (n = {len(runs) // max(len(modes), 1)} per mode)")
    return _save(fig, path)


def plot_paired_seeds(report: Mapping, path: Path) -> Path:
    """Macro-F1 of each seed in both modes joined by a line (one panel per classifier run in both),
    titled with the mean difference and the signed-rank p of report["paired"]."""
    plt = pyplot()
    paired = report["paired"]
    fig, axes = plt.subplots(1, len(paired), figsize=(3.2 * len(paired) + 0.6, 3.6), squeeze=False)
    for ax, (clf, pr) in zip(axes[0], paired.items()):
        base, other = pr["modes"]
        for r in pr["per_seed"]:
            diff = r["macro_f1_diff"]
            ax.plot([0, 1], [r[f"macro_f1_{base}"], r[f"macro_f1_{other}"]], "o-", ms=4, alpha=0.8,
                    color="0.5" if diff is None else "C2" if diff > 0 else "C3" if diff < 0 else "0.5")
        ax.set_xticks([0, 1], [base, other])
        ax.set_xlim(-0.4, 1.4)
        m = pr["macro_f1"]
        if not m["n"]:
            ax.set_title(f"{clf}: no seed run in both modes", fontsize=8)
            continue
        p = "–" if m["p_value"] is None else f"{m['p_value']:.3g}"
        ax.set_title(f"{clf}: Δ {m['diff_mean']:+.3f}, p {p} (n = {m['n']}, min p {m['p_min_possible']:.3g})",
                     fontsize=8)
    axes[0, 0].set_ylabel("test macro-F1 (a line per seed)")
    return _save(fig, path)


def plot_curves(
    real: Sequence[tuple[np.ndarray, np.ndarray, str]],
    synthetic: Sequence[tuple[np.ndarray, np.ndarray, str]],
    path: Path,
    *,
    xlabel: str = "phase",
) -> Path:
    """Two rows of small panels: real examples on top, synthetic ones below.

    Each item is (x (T,), mag (T,), title): x is phase or time in days; magnitude axis inverted
    (brighter up), as astronomers read light curves.
    """
    plt = pyplot()
    n = max(len(real), len(synthetic), 1)
    fig, axes = plt.subplots(2, n, figsize=(2.4 * n, 4.4), squeeze=False)
    for row, items, label in ((0, real, "real"), (1, synthetic, "synthetic")):
        for j in range(n):
            ax = axes[row, j]
            if j >= len(items):
                ax.axis("off")
                continue
            x, y, title = items[j]
            ax.plot(np.asarray(x), np.asarray(y), ".", ms=2)
            ax.invert_yaxis()
            ax.set_title(f"{label}: {title}", fontsize=8)
            ax.tick_params(labelsize=7)
            if row == 1:
                ax.set_xlabel(xlabel, fontsize=8)
    return _save(fig, path)


def plot_physics(
    real_NP: np.ndarray,
    real_class_N: np.ndarray,
    sampled_NP: np.ndarray,
    sampled_class_N: np.ndarray,
    names: Sequence[str],
    path: Path,
) -> Path:
    """Pairs of physical parameters (first against each other): real stars versus sampled ones."""
    plt = pyplot()
    names = list(names)
    p = len(names)
    pairs = [(0, j) for j in range(1, p)] or [(0, 0)]
    fig, axes = plt.subplots(1, len(pairs), figsize=(3.3 * len(pairs), 3.2), squeeze=False)
    classes = sorted(set(np.asarray(real_class_N).tolist()) | set(np.asarray(sampled_class_N).tolist()))
    colours = {c: f"C{i}" for i, c in enumerate(classes)}
    for ax, (a, b) in zip(axes[0], pairs):
        for c in classes:
            r = np.asarray(real_NP)[np.asarray(real_class_N) == c]
            s = np.asarray(sampled_NP)[np.asarray(sampled_class_N) == c]
            ax.scatter(r[:, a], r[:, b], s=5, color=colours[c], alpha=0.35, marker="o")
            ax.scatter(s[:, a], s[:, b], s=9, color=colours[c], alpha=0.9, marker="x", label=c)
        ax.set_xlabel(names[a], fontsize=8)
        ax.set_ylabel(names[b], fontsize=8)
    axes[0, 0].legend(fontsize=7, title="x: sampled, o: real", title_fontsize=7)
    return _save(fig, path)


def report_figures(report: Mapping, folder: Path) -> list[str]:
    """The figures computed from report.json alone; returns file names relative to `folder`."""
    folder = Path(folder)
    out = [
        plot_confusions(report, folder / "confusion.png"),
        plot_per_class_f1(report, folder / "per_class_f1.png"),
        plot_macro_f1_distribution(report, folder / "macro_f1_seeds.png"),
    ]
    if report.get("paired"):
        out.append(plot_paired_seeds(report, folder / "paired_seeds.png"))
    return [str(p.relative_to(folder.parent)) if p.is_relative_to(folder.parent) else str(p) for p in out]


def _folded(lcs, periods: np.ndarray, rows: np.ndarray):
    """(phase, magnitude minus the curve's median) of each star in `rows`, folded at `periods` (time from the
    first epoch where a period is missing)."""
    out = []
    for i in rows:
        t, m, _ = lcs.curve(int(i))
        p = periods[i]
        x = ((t - t[0]) / p) % 1.0 if np.isfinite(p) and p > 0 else t - t[0]
        out.append((x, m - np.median(m)))
    return out


def plot_realism(sets, report: Mapping, path: Path, *, curves: int = 4) -> Path:
    """One row per class: `curves` real held-out curves and as many synthetic ones folded at their
    label-free periods (magnitude minus the median), then each realism feature's distribution, real
    and synthetic overlaid; row titles give the class's two-sample AUC (`synth.realism`)."""
    from jaxpelsvae.data.features import MISSING
    from jaxpelsvae.synth.realism import FEATURES

    plt = pyplot()
    classes = list(report["per_class"])
    n_col = 2 + len(FEATURES)
    width, height = 1.9 * n_col, 1.9 * len(classes) + 0.4
    fig, axes = plt.subplots(len(classes), n_col, figsize=(width, height), squeeze=False)
    # A fixed spacing in inches, not tight_layout, which measures the text of all 55 panels: with
    # it and density ticks the figure took 2.9 s for five classes, without them 0.9 s.
    fig.subplots_adjust(left=0.45 / width, right=1 - 0.1 / width, bottom=0.3 / height, top=1 - 0.55 / height,
                        wspace=0.3, hspace=0.45)
    sides = ((sets.real, sets.real_X, sets.real_y, "real"), (sets.synthetic, sets.synth_X, sets.synth_y, "synthetic"))
    for r, c in enumerate(classes):
        auc = report["per_class"][c]["auc"]
        for col, (lcs, table, y, label) in enumerate(sides):
            ax = axes[r, col]
            rows = np.flatnonzero(y == c)[:curves]
            for x, m in _folded(lcs, table["period"].to_numpy(), rows):
                ax.plot(x, m, ".", ms=2)
            ax.invert_yaxis()
            ax.set_title(f"{c}: {label}" + (f" (AUC {auc:.2f})" if col == 0 and auc is not None else ""), fontsize=7)
            ax.tick_params(labelsize=6)
        for j, name in enumerate(FEATURES):
            ax = axes[r, 2 + j]
            values = [t.loc[y == c, name].to_numpy() for _, t, y, _ in sides]
            values = [v[v != MISSING] for v in values]  # a placeholder, not a value of the distribution
            both = np.concatenate(values)
            if both.size:
                bins = np.histogram_bin_edges(both, bins=12)
                for v, label in zip(values, ("real", "synthetic")):
                    ax.hist(v, bins=bins, density=True, alpha=0.5, label=label)
            ax.set_yticks([])  # densities: the overlap is the message, not the scale
            ax.set_title(name, fontsize=7)
            ax.tick_params(labelsize=6)
    axes[0, 2].legend(fontsize=6)
    fig.suptitle(f"realism: two-sample AUC {_num(report.get('auc'))} (real vs real {_num(report.get('real_vs_real_auc'))}), "
                 f"label fidelity {_num(report.get('label_fidelity'))}, TSTR macro-F1 {_num(report.get('tstr_macro_f1'))}",
                 fontsize=9)
    return _save(fig, path, tight=False)


def _num(v) -> str:
    return "–" if v is None else f"{v:.3f}"


def generator_figures(generator, pool, classes, seed: int, folder: Path, per_class: int,
                      capacity: int | None = None) -> list[Path]:
    """The generator's first synthetic curve of each class beside a real training star of the class
    (synthetic_vs_real.png) and its sampled physics over the real stars' (physics_samples_vs_real.png)."""
    import jax

    from jaxpelsvae import seeds

    # The loop's first synthetic set: `per_class` curves per class in its `capacity`, no new compilation.
    batch = generator.generate(jax.random.key(seed + seeds.FIGURE_KEY_OFFSET), {c: per_class for c in classes}, 1.0,
                               capacity=capacity).trim()
    real, synth = [], []
    labels = pool.labels
    periods = pool.periods if pool.periods is not None else np.full(len(pool), np.nan)
    for k, c in enumerate(classes):
        idx = np.flatnonzero(labels == k)
        if idx.size:
            i = int(idx[0])
            t, m, _ = pool.curve(i)
            p = periods[i]
            x = ((t - t[0]) / p) % 1.0 if np.isfinite(p) and p > 0 else t - t[0]
            real.append((x, m, f"{c} ({pool.ids[i]})"))
        j = np.flatnonzero(np.asarray(batch.y_N) == k)
        if j.size:
            j = int(j[0])
            mask = np.asarray(batch.mask_NT[j], bool)
            t = np.asarray(batch.time_NT[j])[mask]
            p = float(batch.period_N[j])
            synth.append((((t - t[0]) / p) % 1.0 if p > 0 else t, np.asarray(batch.mag_NT[j])[mask], f"{c}, P={p:.3g} d"))
    out = [plot_curves(real, synth, folder / "synthetic_vs_real.png", xlabel="phase (real: meta/LS period)")]
    pc = generator.priors.config
    names = [f"log10 {n}" if n in pc.log10_params else n for n in pc.params]
    real_pp = _real_physics(generator, pool)
    if real_pp is not None and names:
        out.append(plot_physics(real_pp[0], real_pp[1], np.asarray(batch.phys_NP),
                                    np.asarray([classes[i] for i in np.asarray(batch.y_N)]), names,
                                    folder / "physics_samples_vs_real.png"))
    return out


def _real_physics(generator, pool):
    """(phys_NP in the generator's model space, class names) of the real training pool, or None."""
    from jaxpelsvae.physics.priors import physics_table

    pc = generator.priors.config
    x = physics_table(pool.meta, pc.params, pc.log10_params)
    cls = pool.meta["class"].astype(str).to_numpy()
    ok = np.isfinite(x).all(axis=1)
    return (x[ok], cls[ok]) if ok.any() else None
