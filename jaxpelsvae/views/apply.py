"""A classifier's view of whole sets: real LightCurveSets in padded chunks, synthetic batches as they come.

Both paths call the same jitted, vmapped view function (`registry.get(name).view`), so a real and
a synthetic curve with the same samples and period get the same input. Each curve's key is
``fold_in(key, i)`` for its index ``i`` in the set, so a curve's view does not depend on how the set
is chunked, on the other curves, or on any label.
"""
from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxpelsvae.views import registry

# Stars per padded chunk: bounds host and device memory on surveys of 1e5+ curves.
CHUNK = 4096


@functools.lru_cache(maxsize=None)
def _program(name: str, config: Any):
    view = functools.partial(registry.get(name).view, config=config)

    def run(time_NT, mag_NT, err_NT, mask_NT, period_N, key, index_N):
        keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(index_N)
        return jax.vmap(view)(time_NT, mag_NT, err_NT, mask_NT, period_N, keys)

    return jax.jit(run)


def view_arrays(name: str, time_NT, mag_NT, err_NT, mask_NT, period_N, key, index_N=None, **overrides):
    """The view of N padded curves as host numpy arrays (a pytree with leading axis N).

    time_NT days since any per-curve epoch, mag_NT, err_NT, mask_NT bool; period_N days (NaN where
    unknown); key: typed key; index_N: each curve's index in its set (default 0..N-1).
    """
    cfg = registry.view_config(name, **overrides)
    n = np.shape(time_NT)[0]
    index_N = np.arange(n, dtype=np.int32) if index_N is None else np.asarray(index_N, np.int32)
    out = _program(name, cfg)(jnp.asarray(time_NT, jnp.float32), jnp.asarray(mag_NT, jnp.float32),
                              jnp.asarray(err_NT, jnp.float32), jnp.asarray(mask_NT, bool),
                              jnp.asarray(period_N, jnp.float32), key, jnp.asarray(index_N))
    return jax.tree.map(np.asarray, jax.device_get(out))


def view_set(name: str, lcs, key, periods_N=None, **overrides):
    """The view of every curve of a LightCurveSet (periods from its meta unless `periods_N` is given),
    computed in padded chunks; a pytree of (N, ...) host arrays."""
    n = len(lcs)
    if periods_N is None:
        periods_N = lcs.periods if lcs.periods is not None else np.full(n, np.nan)
    periods_N = np.asarray(periods_N, np.float64)
    parts = []
    for idx, p in lcs.padded_chunks(chunk_stars(name, lcs, **overrides)):
        per = np.full(p.time.shape[0], np.nan)
        per[: len(idx)] = periods_N[idx]
        index = np.zeros(p.time.shape[0], np.int32)
        index[: len(idx)] = idx
        out = view_arrays(name, p.time, p.mag, p.err, p.mask, per, key, index, **overrides)
        parts.append(jax.tree.map(lambda a, m=len(idx): a[:m], out))
    if not parts:
        raise ValueError("view_set: empty set")
    return jax.tree.map(lambda *a: np.concatenate(a), *parts)


def chunk_stars(name: str, lcs, **overrides) -> int:
    """Stars per `view_set` chunk: CHUNK, or fewer where the view bounds the padded points of a chunk
    (its config's `chunk_points`: views whose memory grows with stars × points, e.g. a period search
    inside the view)."""
    budget = getattr(registry.view_config(name, **overrides), "chunk_points", None)
    if budget is None or len(lcs) == 0:
        return CHUNK
    from jaxpelsvae.data.lightcurves import bucket_size

    return int(max(1, min(CHUNK, budget // bucket_size(int(lcs.lengths.max()), 64))))


def view_synthetic(name: str, batch, key, periods_N=None, **overrides):
    """The view of a generator's raw synthetic curves (`SynthBatch` time_NT, mag_NT, err_NT,
    mask_NT; periods: `periods_N` if given, else the batch's own period_N)."""
    period = batch.period_N if periods_N is None else periods_N
    return view_arrays(name, batch.time_NT, batch.mag_NT, batch.err_NT, batch.mask_NT, period, key, **overrides)
