"""Dual gradient masks of the self-regulated method, chosen once from the initial weights by the EPS rule.

ORIGINAL.md §6.4. For each parameter of the freshly initialised model:
* convolution kernels (3-D, Flax layout (W, C/G, O)): per output filter o the score
  s_o = |mean_{k,i} W[k, i, o]| (mean of the signed weights, then abs); threshold
  q = `eps_quantile(s, EPS)` (the original's own interpolation rule); the filter's mask is
  s_o > q, and the convolution's bias gets the same per-filter vector;
* dense kernels (2-D): q = sorted(flat W)[int(EPS·(n−1))]; mask = W > q on the *signed* values;
* everything else (BatchNorm scale/bias, dense biases): all True.
True entries are updated by the real-data pass, False entries by the synthetic pass (the original's
`locked_masks2` gates the real pass to mask == 1, `locked_masks` the synthetic pass to mask == 0).
So EPS is roughly the fraction of conv filters and dense weights reserved for synthetic data; with
16 filters and EPS 0.15, 13 filters are real-only and 3 synthetic-only. `pass_keep` may name
parameters that both passes update (`RegulatorConfig.synthetic_output_bias`: the output layer's bias).
"""
from __future__ import annotations

import math
from typing import Any

import jax
import numpy as np

from jaxpelsvae.errors import ConfigError


def eps_quantile(scores: np.ndarray, eps: float) -> float:
    """The original's quantile: sort ascending, x = n·eps, q = s[⌊x⌋] + (s[⌈x⌉] − s[⌊x⌋])·(x − ⌊x⌋), indices clamped to n−1."""
    s = np.sort(np.asarray(scores).ravel())
    n = s.size
    x = n * eps
    lo, hi = min(math.floor(x), n - 1), min(math.ceil(x), n - 1)
    return s[lo] + (s[hi] - s[lo]) * s.dtype.type(x - math.floor(x))


def filter_mask(kernel_KIO: np.ndarray, eps: float) -> np.ndarray:
    """(O,) bool: filter o kept for the real pass when |mean W[:, :, o]| exceeds the EPS quantile."""
    w = np.asarray(kernel_KIO)
    score_O = np.abs(w.reshape(-1, w.shape[-1]).mean(axis=0, dtype=w.dtype))
    return score_O > eps_quantile(score_O, eps)


def dense_mask(kernel: np.ndarray, eps: float) -> np.ndarray:
    """Bool like `kernel`: W > sorted(flat W)[int(eps·(n−1))] on the signed values."""
    w = np.asarray(kernel)
    q = np.sort(w.ravel())[int(eps * (w.size - 1))]
    return w > q


def _names(path) -> tuple[str, ...]:
    out = []
    for entry in path:
        name = getattr(entry, "key", getattr(entry, "name", getattr(entry, "idx", None)))
        out.append(str(name))
    # nnx.State leaves sit under a Variable's `value` attribute.
    return tuple(out[:-1]) if out and out[-1] == "value" else tuple(out)


def make_masks(params: Any, eps: float) -> Any:
    """Masks for `params` (an nnx.State of the initial parameters) by the EPS rule; bool, same structure.

    Leaves named "kernel" with 3 dims are convolution kernels (W, C/G, O) and their sibling "bias"
    shares the filter mask; "kernel"s with 2 dims are dense kernels; all else is True.
    """
    if not 0.0 <= eps < 1.0:
        raise ConfigError(f"make_masks: EPS must be in [0, 1), got {eps}")
    leaves, treedef = jax.tree_util.tree_flatten_with_path(params)
    named = {_names(path): np.asarray(leaf) for path, leaf in leaves}
    filter_masks = {
        names[:-1]: filter_mask(arr, eps) for names, arr in named.items() if names[-1] == "kernel" and arr.ndim == 3
    }
    out = []
    for names, arr in named.items():
        module, leaf = names[:-1], names[-1]
        if leaf == "kernel" and arr.ndim == 3:
            mask = np.broadcast_to(filter_masks[module], arr.shape)
        elif leaf == "bias" and module in filter_masks:
            mask = filter_masks[module]
        elif leaf == "kernel" and arr.ndim == 2:
            mask = dense_mask(arr, eps)
        else:
            mask = np.ones(arr.shape, bool)
        out.append(np.array(mask, bool))
    return jax.tree_util.tree_unflatten(treedef, [jax.numpy.asarray(m) for m in out])


def pass_keep(masks: Any, subset: str, shared: tuple[str, ...] = ()) -> Any:
    """Bool tree of the entries a masked pass updates: mask True for "real", False for "synthetic",
    and every entry of the parameters named in `shared` ("/"-joined paths such as "fc2/bias") for both."""
    if subset not in ("real", "synthetic"):
        raise ConfigError(f"pass_keep: subset must be 'real' or 'synthetic', got {subset!r}")
    known = {"/".join(_names(p)) for p, _ in jax.tree_util.tree_flatten_with_path(masks)[0]}
    unknown = sorted(set(shared) - known)
    if unknown:
        raise ConfigError(f"pass_keep: no parameter named {', '.join(unknown)}; parameters: {', '.join(sorted(known))}")

    def keep(path, m):
        if "/".join(_names(path)) in shared:
            return jax.numpy.ones_like(m)
        return m if subset == "real" else jax.numpy.logical_not(m)

    return jax.tree_util.tree_map_with_path(keep, masks)


def mask_counts(masks: Any) -> dict[str, tuple[int, int]]:
    """{parameter path: (entries True = real pass, entries False = synthetic pass)}, for reports."""
    leaves, _ = jax.tree_util.tree_flatten_with_path(masks)
    return {"/".join(_names(p)): (int(np.sum(m)), int(np.size(m) - np.sum(m))) for p, m in leaves}
