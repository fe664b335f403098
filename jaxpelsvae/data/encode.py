"""Classifier encoding: (Δt, Δm) pairs of consecutive observations; one jit+vmap kernel for real and synthetic data."""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxpelsvae.data.lightcurves import LightCurveSet
from jaxpelsvae.errors import ConfigError

ORDERS = ("random", "time")


def _consecutive_pairs(time_T, mag_T, mask_T, pair_ok_T=None):
    """(Δt, Δm) of consecutive *valid* observations, compacted to the front: (T−1, 2), valid (T−1,).

    pair_ok_T (T,) bool or None: observation j may pair with the one before it (quality cuts keep
    pairs, not rows; `LightCurveSet.pair_ok`). Pairs it rules out are dropped and the others moved
    to the front in time order."""
    t_len = time_T.shape[0]
    # Move the valid entries to the front in order (O(T) scatter), so any mask works, not only a
    # prefix; masked-out entries are sent past the end and dropped.
    pos = jnp.where(mask_T, jnp.cumsum(mask_T.astype(jnp.int32)) - 1, t_len)
    t = jnp.zeros_like(time_T).at[pos].set(time_T, mode="drop")
    m = jnp.zeros_like(mag_T).at[pos].set(mag_T, mode="drop")
    n_valid = jnp.sum(mask_T.astype(jnp.int32))
    pairs = jnp.stack([t[1:] - t[:-1], m[1:] - m[:-1]], axis=-1)
    pair_valid = jnp.arange(t_len - 1) < n_valid - 1
    if pair_ok_T is not None:
        ok = jnp.zeros(t_len, bool).at[pos].set(jnp.asarray(pair_ok_T, bool), mode="drop")
        pair_valid = pair_valid & ok[1:]
        ppos = jnp.where(pair_valid, jnp.cumsum(pair_valid.astype(jnp.int32)) - 1, t_len - 1)
        pairs = jnp.zeros_like(pairs).at[ppos].set(pairs, mode="drop")
        pair_valid = jnp.arange(t_len - 1) < jnp.sum(pair_valid.astype(jnp.int32))
    return pairs, pair_valid


def encode_curve(time_T, mag_T, mask_T, key, *, length: int, order: str = "random", pair_ok_T=None):
    """Encode ONE curve as L (Δt, Δm) pairs of consecutive observations (L = `length`).

    time_T: (T,) float32 days (any zero point: only differences enter); mag_T: (T,) magnitudes;
    mask_T: (T,) bool, True on real observations (need not be a prefix); key: typed PRNG key.
    pair_ok_T: None or (T,) bool: only observations marked True pair with their predecessor (the
      pairs kept by the quality cuts, or a synthetic curve's donor's); the P below counts those.
    order:
      "random": the original's sampling (ORIGINAL.md §4.2 step 8): L of the P = n−1 consecutive
        pairs drawn without replacement, in random order.
      "time": a contiguous window of L consecutive pairs in time order, starting at a uniformly
        random pair (so every epoch sees a different stretch; with a fixed key it is fixed).
    When P < L all P pairs are used (random order or time order) and the rest is zero-padded.
    Returns x_L2 float32 [(Δt days, Δm mag)] and valid_L bool (False on padding; x is 0 there).
    """
    if order not in ORDERS:
        raise ConfigError(f"encode: order must be one of {ORDERS}, got {order!r}")
    if length < 1:
        raise ConfigError(f"encode: length must be >= 1, got {length}")
    pairs, pair_valid = _consecutive_pairs(
        jnp.asarray(time_T, jnp.float32), jnp.asarray(mag_T, jnp.float32), jnp.asarray(mask_T, bool), pair_ok_T
    )
    n_pairs = pairs.shape[0]
    if n_pairs < length:  # static: make room for L slots
        pairs = jnp.pad(pairs, ((0, length - n_pairs), (0, 0)))
        pair_valid = jnp.pad(pair_valid, (0, length - n_pairs))
    n_valid = jnp.sum(pair_valid.astype(jnp.int32))
    if order == "random":
        # top_k of i.i.d. uniforms = L distinct valid pairs in uniformly random order; invalid
        # pairs get -1 so they come only after every valid one.
        scores = jnp.where(pair_valid, jax.random.uniform(key, pair_valid.shape), -1.0)
        _, idx = jax.lax.top_k(scores, length)
    else:
        start = jax.random.randint(key, (), 0, jnp.maximum(n_valid - length, 0) + 1)
        idx = start + jnp.arange(length)
    x = pairs[idx]
    valid = pair_valid[idx]
    return jnp.where(valid[:, None], x, 0.0).astype(jnp.float32), valid


def _encode_with_keys(time_NT, mag_NT, mask_NT, keys_N, length, order, pair_ok_NT=None):
    def fn(t, m, k, key, ok):
        return encode_curve(t, m, k, key, length=length, order=order, pair_ok_T=ok)

    return jax.vmap(fn)(time_NT, mag_NT, mask_NT, keys_N, pair_ok_NT)


_encode_with_keys_jit = jax.jit(_encode_with_keys, static_argnames=("length", "order"))


@functools.partial(jax.jit, static_argnames=("length", "order"))
def encode_batch(time_NT, mag_NT, mask_NT, key, *, length: int, order: str = "random", pair_ok_NT=None):
    """`encode_curve` vmapped over N curves (jitted; static length and order).

    time_NT, mag_NT: (N, T) float32; mask_NT: (N, T) bool; key: one typed key, split into N;
    pair_ok_NT: None or (N, T) bool (see `encode_curve`).
    Returns x_NL2 float32 and valid_NL bool. Real and synthetic curves use this same kernel.
    """
    keys = jax.random.split(key, time_NT.shape[0])
    return _encode_with_keys(time_NT, mag_NT, mask_NT, keys, length, order, pair_ok_NT)


def encode_set(
    lcs: LightCurveSet, length: int, seed: int = 0, order: str = "random", *, chunk: int = 4096
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Host convenience: encode every curve of `lcs`.

    Star i uses key fold_in(key(seed), i), so its encoding does not depend on `chunk`.
    Returns x_NL2 np.float32, valid_NL np.bool_, y_N np.int32 (labels; −1 when there are no classes).
    A set from the quality cuts encodes only the pairs they kept (`LightCurveSet.pair_ok`).
    Curves are padded per chunk to power-of-two sizes (`LightCurveSet.padded_chunks`; times relative
    to each curve's first observation, subtracted in float64), so few shapes are compiled.
    """
    n = len(lcs)
    root = jax.random.key(seed)
    xs, vs = [], []
    for idx, padded in lcs.padded_chunks(chunk, min_len=max(64, length + 1)):  # bounded device memory
        rows = padded.time.shape[0]
        keys = jax.vmap(lambda i: jax.random.fold_in(root, i))(jnp.arange(rows) + idx[0])
        ok = None
        if lcs.pair_ok is not None:  # the pairs the quality cuts kept (LightCurveSet.pair_ok)
            part = lcs.select(idx)
            ok = np.zeros(padded.mask.shape, bool)
            ok[: idx.size] = part.pad_values(part.pair_ok, max_len=padded.mask.shape[1], fill=False, dtype=bool)
        x, v = _encode_with_keys_jit(padded.time, padded.mag, padded.mask, keys, length, order, ok)
        xs.append(np.asarray(x)[: idx.size])
        vs.append(np.asarray(v)[: idx.size])
    x = np.concatenate(xs) if xs else np.zeros((0, length, 2), np.float32)
    v = np.concatenate(vs) if vs else np.zeros((0, length), bool)
    y = lcs.labels if ("class" in lcs.meta.columns and lcs.classes) else np.full(n, -1, np.int32)
    return x, v, y
