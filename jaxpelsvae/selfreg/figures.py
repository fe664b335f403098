"""Figures of a training run: learning curves (loss and macro-F1 per epoch) and a confusion matrix."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from jaxpelsvae.train.metrics import normalise_rows


def pyplot():
    """matplotlib.pyplot on the Agg backend: figures go to files only and never need a display."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: Path, *, dpi: int = 110, tight: bool = True) -> Path:
    """Lay out (`tight`; False keeps the figure's own spacing), write (creating the folder) and
    close `fig`; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if tight:
        fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    pyplot().close(fig)
    return path


def draw_confusion(ax, cm_KK: np.ndarray, class_names: Sequence[str], *, counts: bool = True,
                   xlabel: str = "predicted class", ylabel: str = "true class"):
    """The row-normalised confusion matrix (rows = true class) on `ax`, each cell annotated with its
    share (and its count with `counts`); returns the image (for a colour bar)."""
    cm = np.asarray(cm_KK, np.float64)
    norm = normalise_rows(cm)
    k = len(class_names)
    im = ax.imshow(norm, vmin=0, vmax=1, cmap="Blues")
    for i in range(k):
        for j in range(k):
            text = f"{norm[i, j]:.2f}\n({int(cm[i, j])})" if counts else f"{norm[i, j]:.2f}"
            ax.text(j, i, text, ha="center", va="center", fontsize=8, color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xticks(range(k), class_names, rotation=45, ha="right")
    ax.set_yticks(range(k), class_names)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return im


def _series(history: Sequence[dict[str, Any]], split: str, key: str) -> np.ndarray:
    out = []
    for h in history:
        v = (h.get(split) or {}).get(key)
        out.append(np.nan if v is None else float(v))
    return np.asarray(out, np.float64)


def plot_learning_curves(history: Sequence[dict[str, Any]], path: Path, *, title: str = "") -> Path:
    """Loss and macro-F1 per epoch of the real training set, validation and synthetic sets.

    history: per-epoch records with ``{"epoch", "train": {...}, "val": {...}, "synthetic": {...}
    (optional), "regenerated": bool}``; marks synthetic regenerations and the best epoch.
    """
    from matplotlib.ticker import MaxNLocator

    plt = pyplot()
    epochs = np.asarray([h["epoch"] for h in history])
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, key, label in ((axes[0], "loss", "loss (mean per example)"), (axes[1], "macro_f1", "macro-F1")):
        for split, style in (("train", "-"), ("val", "-"), ("synthetic", "--")):
            y = _series(history, split, key)
            if np.isfinite(y).any():
                ax.plot(epochs, y, style, marker=".", label={"train": "real train", "val": "validation",
                                                            "synthetic": "synthetic"}[split])
        for h in history:
            if h.get("regenerated"):
                ax.axvline(h["epoch"], color="grey", lw=0.6, ls=":")
        best = [h["epoch"] for h in history if h.get("new_best")]
        if best:
            ax.axvline(best[-1], color="k", lw=1.0, ls="-.", label=f"best epoch {best[-1]}")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole: no 1.5 ticks
        ax.set_ylabel(label)
        ax.legend(fontsize=8)
    if title:  # a baseline run has no synthetic set: its title says nothing of one
        regenerated = any(h.get("regenerated") for h in history)
        fig.suptitle(title + ("  (dotted: synthetic set regenerated)" if regenerated else ""))
    return save_figure(fig, path)


def plot_confusion(cm_KK: np.ndarray, class_names: Sequence[str], path: Path, *, title: str = "") -> Path:
    """Row-normalised confusion matrix (rows = true class) with the counts annotated."""
    k = len(class_names)
    fig, ax = pyplot().subplots(figsize=(1.1 * k + 2.5, 1.1 * k + 1.5))
    im = draw_confusion(ax, cm_KK, class_names)
    if title:
        ax.set_title(title)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    return save_figure(fig, path)
