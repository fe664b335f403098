"""Classifier views and backbones: the view contract (jit, vmap, masks, labels), circular convolution, shift invariance, registry."""
from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxpelsvae.data.encode import encode_curve
from jaxpelsvae.data.lightcurves import LightCurveSet
from jaxpelsvae.errors import ConfigError
from jaxpelsvae.models.conv import conv1d
from jaxpelsvae.models.folded_cnn import FoldedCNN
from jaxpelsvae.views import (
    FoldedViewConfig,
    HybridViewConfig,
    MultiFoldViewConfig,
    PairsViewConfig,
    build_backbone,
    folded_view,
    hybrid_view,
    multifold_view,
    names,
    pairs_view,
    view_batch,
    view_config,
)
from jaxpelsvae.views.multifold import band_peak, harmonic_fit_profile
from jaxpelsvae.views.stats import masked_quantile

T = 48
SMALL_BANDS = ((1.0, 10.0), (10.0, 100.0))  # a coarse ladder (df 1e-3): quick to compile in tests
VIEWS = {
    "pairs": functools.partial(pairs_view, config=PairsViewConfig(length=16)),
    "folded": functools.partial(folded_view, config=FoldedViewConfig(bins=16)),
    "folded_aug": functools.partial(folded_view, config=FoldedViewConfig(bins=16, augment=True, noise=0.3)),
    "hybrid": functools.partial(hybrid_view, config=HybridViewConfig(FoldedViewConfig(bins=16), PairsViewConfig(16))),
    "multifold": functools.partial(multifold_view, config=MultiFoldViewConfig(bins=16, bands=SMALL_BANDS, df=1e-3)),
    "multifold_aug": functools.partial(multifold_view, config=MultiFoldViewConfig(
        bins=16, bands=SMALL_BANDS, df=1e-3, channels=("fit", "mag", "filled"), augment=True, noise=0.3)),
}


def _curve(seed: int, n: int = 40, t_len: int = T):
    """One padded sinusoid-plus-noise curve: n real points then padding (garbage values, mask False)."""
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(0, 300, n))
    period = 0.3 + seed * 0.17
    m = 15.0 + 0.4 * np.sin(2 * np.pi * t / period) + 0.02 * rng.normal(size=n)
    time = np.full(t_len, 7.0, np.float32)
    mag = np.full(t_len, 99.0, np.float32)
    err = np.ones(t_len, np.float32)
    mask = np.zeros(t_len, bool)
    time[:n], mag[:n], err[:n], mask[:n] = t, m, 0.02, True
    return time, mag, err, mask, np.float32(period)


def _close(a, b, atol=1e-5):
    jax.tree.map(lambda x, y: np.testing.assert_allclose(np.asarray(x, np.float32), np.asarray(y, np.float32),
                                                         atol=atol, rtol=1e-5), a, b)


@pytest.mark.parametrize("name", list(VIEWS))
def test_view_jit_equals_eager_and_vmap_equals_loop(name):
    view = VIEWS[name]
    curves = [_curve(s) for s in range(3)]
    keys = jax.random.split(jax.random.key(0), 3)
    eager = [view(*c, k) for c, k in zip(curves, keys)]
    jitted = [jax.jit(view)(*c, k) for c, k in zip(curves, keys)]
    stacked = [np.stack(a) for a in zip(*curves)]
    batched = jax.jit(jax.vmap(view))(*stacked, keys)
    # The multifold shape fit is a small least-squares solve: fused (jit) and op-by-op orders differ ~1e-5.
    atol = 2e-4 if name.startswith("multifold") else 1e-5
    for i in range(3):
        _close(eager[i], jitted[i], atol=atol)
        _close(eager[i], jax.tree.map(lambda a: a[i], batched), atol=atol)


@pytest.mark.parametrize("name", list(VIEWS))
def test_padding_does_not_change_the_view(name):
    """Longer padding with other garbage values gives the same view (the mask is honoured)."""
    view = VIEWS[name]
    key = jax.random.key(3)
    short = _curve(1, t_len=T)
    time, mag, err, mask, period = _curve(1, t_len=2 * T)
    mag = np.where(mask, mag, -5.0).astype(np.float32)
    time = np.where(mask, time, 1e4).astype(np.float32)
    _close(view(*short, key), view(time, mag, err, mask, period, key), atol=2e-4 if name.startswith("multifold") else 1e-5)


def test_pairs_view_is_the_original_encoding():
    time, mag, err, mask, period = _curve(2)
    key = jax.random.key(5)
    x_ref, _ = encode_curve(time, mag, mask, key, length=16)
    np.testing.assert_array_equal(np.asarray(pairs_view(time, mag, err, mask, period, key, config=PairsViewConfig(16))),
                                  np.asarray(x_ref))


def test_folded_view_drops_zero_point_and_band_scale():
    """Adding a constant and scaling magnitudes (another band, another zero point) leaves the fold unchanged."""
    time, mag, err, mask, period = _curve(4)
    key = jax.random.key(0)
    a = folded_view(time, mag, err, mask, period, key)
    b = folded_view(time, (mag - 15.0) * 2.5 + 3.0, err, mask, period, key)
    _close(a["folded"], b["folded"], atol=1e-4)
    np.testing.assert_allclose(float(b["scalars"][1] - a["scalars"][1]), np.log10(2.5), atol=1e-4)


def test_folded_view_values_and_bad_period():
    time, mag, err, mask, period = _curve(0)
    out = folded_view(time, mag, err, mask, period, jax.random.key(0), config=FoldedViewConfig(bins=8))
    assert out["folded"].shape == (2, 8, 2) and out["scalars"].shape == (4,)
    np.testing.assert_allclose(float(out["scalars"][0]), np.log10(period), rtol=1e-6)
    assert float(out["scalars"][2]) > 0.9  # a clean sinusoid at its period is well fitted
    bad = folded_view(time, mag, err, mask, np.float32(np.nan), jax.random.key(0))
    assert not np.any(np.asarray(bad["folded"])) and not np.any(np.asarray(bad["scalars"]))


def test_masked_quantile_matches_numpy():
    rng = np.random.default_rng(0)
    x = rng.normal(size=30).astype(np.float32)
    mask = rng.random(30) < 0.6
    for q in (0.0, 0.05, 0.5, 0.95, 1.0):
        np.testing.assert_allclose(float(masked_quantile(jnp.asarray(x), jnp.asarray(mask), q)),
                                   np.quantile(x[mask], q), rtol=1e-5, atol=1e-6)


def _set(n: int = 12, classes=("A", "B")):
    rng = np.random.default_rng(1)
    lengths = rng.integers(20, 40, n)
    ts, ms, es, ids = [], [], [], []
    for i, k in enumerate(lengths):
        ts.append(np.sort(rng.uniform(0, 500, k)))
        ms.append(14 + 0.3 * np.sin(ts[-1] / (0.4 + 0.1 * i)))
        es.append(np.full(k, 0.01))
        ids.append(f"s{i}")
    import pandas as pd

    offsets = np.concatenate([[0], np.cumsum(lengths)])
    meta = pd.DataFrame({"id": ids, "class": [classes[i % 2] for i in range(n)], "period": 0.4 + 0.1 * np.arange(n)})
    return LightCurveSet.from_arrays(np.array(ids), np.concatenate(ts), np.concatenate(ms), np.concatenate(es),
                                     offsets=offsets, meta=meta, classes=classes)


@pytest.mark.parametrize("name", ["cnn", "folded", "hybrid", "multifold"])
def test_view_batch_ignores_labels(name):
    """Permuting the class labels leaves every view unchanged (a view never reads the label)."""
    lcs = _set()
    shuffled = lcs.meta.copy()
    shuffled["class"] = np.random.default_rng(0).permutation(shuffled["class"].to_numpy())
    assert (shuffled["class"] != lcs.meta["class"]).any()
    other = lcs.with_meta(shuffled)
    kw = {"length": 16} if name == "cnn" else {"bins": 16}
    a = view_batch(name, lcs.to_padded(), lcs.periods, jax.random.key(0), **kw)
    b = view_batch(name, other.to_padded(), other.periods, jax.random.key(0), **kw)
    jax.tree.map(np.testing.assert_array_equal, a, b)


def test_circular_conv_matches_wrapped_input_and_both_impls():
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(2, 12, 3)), jnp.float32)
    w = jnp.asarray(rng.normal(size=(5, 3, 4)), jnp.float32)
    wrapped = jnp.concatenate([x[:, -2:], x, x[:, :2]], axis=1)
    ref = conv1d(wrapped, w, padding=0, impl="xla")
    for impl in ("einsum", "xla"):
        out = conv1d(x, w, padding=2, padding_mode="circular", impl=impl)
        np.testing.assert_allclose(np.asarray(out), np.asarray(ref), atol=1e-5)
    # Equivariance: a cyclic shift of the input shifts the output the same way.
    out = conv1d(x, w, padding=2, padding_mode="circular")
    np.testing.assert_allclose(np.asarray(conv1d(jnp.roll(x, 3, axis=1), w, padding=2, padding_mode="circular")),
                               np.asarray(jnp.roll(out, 3, axis=1)), atol=1e-5)
    with pytest.raises(ConfigError):
        conv1d(x, w, padding=2, padding_mode="reflect")


@pytest.mark.parametrize("train_mode", [False, True])
def test_folded_cnn_is_invariant_to_cyclic_phase_shifts(train_mode):
    """Rolling every fold by a multiple of pool^(blocks-1) bins leaves the output unchanged."""
    model = FoldedCNN(3, n_folds=2, n_scalars=4, channels=(8, 8, 8), rngs=nnx.Rngs(0))
    if not train_mode:
        model.eval()
    rng = np.random.default_rng(0)
    x = {"folded": jnp.asarray(rng.normal(size=(5, 2, 32, 2)), jnp.float32),
         "scalars": jnp.asarray(rng.normal(size=(5, 4)), jnp.float32)}
    ref = nnx.clone(model)(x)
    for shift in (4, 12, -8):
        rolled = {**x, "folded": jnp.roll(x["folded"], shift, axis=2)}
        np.testing.assert_allclose(np.asarray(nnx.clone(model)(rolled)), np.asarray(ref), atol=1e-5)
    # ...but it is not blind to the shape: another fold gives another output.
    other = {**x, "folded": x["folded"][:, :, ::-1]}
    assert np.max(np.abs(np.asarray(nnx.clone(model)(other)) - np.asarray(ref))) > 1e-4


@pytest.mark.parametrize("name", ["cnn", "folded", "hybrid", "multifold"])
def test_registry_builds_backbones_that_fit_their_views(name):
    lcs = _set(8)
    kw = {"length": 96} if name == "cnn" else {"bins": 32}
    x = view_batch(name, lcs.to_padded(), lcs.periods, jax.random.key(1), **kw)
    model = build_backbone(name, 3, nnx.Rngs(0), view_overrides=kw)
    logp = model(x, mask_B=jnp.arange(8) < 6)
    assert logp.shape == (8, 3)
    np.testing.assert_allclose(np.exp(np.asarray(logp)).sum(-1), 1.0, atol=1e-5)


def test_registry_names_and_errors():
    assert {"cnn", "folded", "hybrid", "multifold"} <= set(names())
    assert view_config("hybrid", bins=32, length=8) == HybridViewConfig(FoldedViewConfig(bins=32), PairsViewConfig(8))
    assert view_config("folded", factors=[1.0]).factors == (1.0,)  # lists (from JSON) hash as tuples
    with pytest.raises(ConfigError):
        view_config("folded", no_such_field=1)
    with pytest.raises(ConfigError):
        build_backbone("nope", 3, nnx.Rngs(0))
    with pytest.raises(ConfigError):
        FoldedViewConfig(bins=2)
    with pytest.raises(ConfigError):
        MultiFoldViewConfig(channels=("mag", "nope"))
    with pytest.raises(ConfigError):
        MultiFoldViewConfig(bands=((10.0, 1.0),))


def _sparse_curve(n: int, period: float, seed: int = 0, baseline: float = 900.0):
    """A sparse, irregular two-harmonic curve (a Gaia-like cadence when n is small)."""
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(0, baseline, n)).astype(np.float32)
    ph = 2 * np.pi * t / period
    m = (12.0 + 0.3 * np.sin(ph) + 0.1 * np.cos(2 * ph) + 0.01 * rng.normal(size=n)).astype(np.float32)
    return t, m, np.full(n, 0.01, np.float32), np.ones(n, bool)


def test_multifold_view_finds_the_long_period_without_a_given_one():
    """With no catalogue period (NaN) the band search still finds a 37-day period from 60 points."""
    t, m, e, mask = _sparse_curve(60, 37.0)
    cfg = MultiFoldViewConfig(bins=16, bands=SMALL_BANDS, df=1e-3)
    out = multifold_view(t, m, e, mask, np.float32(np.nan), jax.random.key(0), config=cfg)
    f = len(cfg.factors)
    assert out["folded"].shape == (cfg.n_folds, 16, 2) and out["scalars"].shape == (cfg.n_scalars,)
    s = np.asarray(out["scalars"])
    assert not np.any(np.asarray(out["folded"][:f])) and s[1] == 0 and s[2] == 0  # no given period: zeros
    np.testing.assert_allclose(10 ** s[5], 37.0, rtol=0.02)  # band (10, 100) d: log10 P then power
    assert s[6] > 0.8 and s[6] > s[4]  # the true period explains more than the best 1-10 d alias
    # The direct band search agrees with the view's slot.
    p, pw = band_peak(jnp.asarray(t - t[0]), jnp.asarray((m - m.mean()) / m.std()), jnp.ones(60), 10.0, 100.0, 1e-3)
    np.testing.assert_allclose(float(p), 10 ** s[5], rtol=1e-4)


def test_multifold_view_drops_zero_point_and_band_scale():
    t, m, e, mask = _sparse_curve(50, 3.3, seed=2)
    cfg = MultiFoldViewConfig(bins=16, bands=SMALL_BANDS, df=1e-3)
    a = multifold_view(t, m, e, mask, np.float32(3.3), jax.random.key(0), config=cfg)
    b = multifold_view(t + 500.0, (m - 12.0) * 2.5 + 3.0, e, mask, np.float32(3.3), jax.random.key(0), config=cfg)
    _close(a["folded"], b["folded"], atol=2e-3)
    np.testing.assert_allclose(np.asarray(b["scalars"][1:]), np.asarray(a["scalars"][1:]), atol=2e-3)
    np.testing.assert_allclose(float(b["scalars"][0] - a["scalars"][0]), np.log10(2.5), atol=1e-4)
    # Without the amplitude scalar nothing in the view depends on the band's scale.
    cfg = MultiFoldViewConfig(bins=16, bands=SMALL_BANDS, df=1e-3, amplitude=False)
    a = multifold_view(t, m, e, mask, np.float32(3.3), jax.random.key(0), config=cfg)
    b = multifold_view(t, (m - 12.0) * 2.5 + 3.0, e, mask, np.float32(3.3), jax.random.key(0), config=cfg)
    assert float(a["scalars"][0]) == 0.0
    _close(a, b, atol=2e-3)


def test_multifold_moments_are_the_distributions_and_ignore_location_scale_and_padding():
    from scipy import stats

    from jaxpelsvae.views.multifold import distribution_moments

    rng = np.random.default_rng(3)
    y = rng.gamma(2.0, size=40).astype(np.float32)  # skewed
    mask = np.ones(48, bool)
    mask[40:] = False
    padded = np.concatenate([y, np.full(8, 99.0, np.float32)])
    skew, kurt, ratio = (float(v) for v in distribution_moments(jnp.asarray(padded), jnp.asarray(mask)))
    np.testing.assert_allclose(skew, stats.skew(y), rtol=1e-4)
    np.testing.assert_allclose(kurt, stats.kurtosis(y), rtol=1e-4)
    q = np.quantile(y, [0.05, 0.25, 0.75, 0.95])
    np.testing.assert_allclose(ratio, (q[2] - q[1]) / (q[3] - q[0]), rtol=1e-3)
    moved = distribution_moments(jnp.asarray(padded * 3.0 - 7.0), jnp.asarray(mask))
    np.testing.assert_allclose(np.asarray(moved), [skew, kurt, ratio], rtol=1e-3, atol=1e-5)
    t, m, e, mask = _sparse_curve(50, 3.3, seed=2)
    cfg = MultiFoldViewConfig(bins=16, bands=SMALL_BANDS, df=1e-3, moments=True)
    view = multifold_view(t, m, e, mask, np.float32(3.3), jax.random.key(0), config=cfg)
    assert view["scalars"].shape == (cfg.n_scalars,) and cfg.n_scalars == dataclasses.replace(cfg, moments=False).n_scalars + 3


def test_harmonic_fit_profile_does_not_depend_on_the_cadence():
    """40 and 400 points of one star give nearly the same fitted profile; the bin means of 40 do not."""
    bins = 32
    profiles, means = [], []
    for n in (40, 400):
        rng = np.random.default_rng(n)
        phase = jnp.asarray(rng.uniform(0, 1, n), jnp.float32)
        y = jnp.sin(2 * jnp.pi * phase) + 0.5 * jnp.cos(4 * jnp.pi * phase)
        profiles.append(np.asarray(harmonic_fit_profile(phase, y, jnp.ones(n, bool), bins, harmonics=4, ridge=0.02)))
        from jaxpelsvae.views.folded import bin_cycle

        means.append(np.asarray(bin_cycle(phase, y, jnp.ones(n, bool), bins)[0]))
    centres = (np.arange(bins) + 0.5) / bins
    truth = np.sin(2 * np.pi * centres) + 0.5 * np.cos(4 * np.pi * centres)
    assert np.max(np.abs(profiles[0] - profiles[1])) < 0.1
    assert np.max(np.abs(profiles[1] - truth)) < 0.2  # the ridge shrinks the 2nd harmonic a little, on purpose
    assert np.max(np.abs(means[0] - means[1])) > np.max(np.abs(profiles[0] - profiles[1]))


def test_multifold_backbone_is_invariant_to_cyclic_phase_shifts():
    """The registered multifold backbone on a real view: rolling every fold by 4 bins changes nothing."""
    lcs = _set(6)
    kw = {"bins": 16, "bands": SMALL_BANDS, "df": 1e-3}
    x = view_batch("multifold", lcs.to_padded(), lcs.periods, jax.random.key(1), **kw)
    model = build_backbone("multifold", 2, nnx.Rngs(0), view_overrides=kw, channels=(8, 8, 8))
    model.eval()
    ref = np.asarray(nnx.clone(model)(x))
    rolled = {**x, "folded": jnp.roll(x["folded"], 4, axis=2)}
    np.testing.assert_allclose(np.asarray(nnx.clone(model)(rolled)), ref, atol=1e-5)


@pytest.mark.parametrize("config", [FoldedViewConfig, MultiFoldViewConfig])
@pytest.mark.parametrize("bad, message", [({"bins": 2}, "bins must be >= 4"), ({"factors": (1.0, 0.0)}, "factors must be positive"),
                                          ({"point_dropout": 1.0}, r"point_dropout must be in \[0, 1\)")])
def test_folding_views_refuse_bad_fold_settings_by_name(config, bad, message):
    with pytest.raises(ConfigError, match=f"{config.__name__}.{message}"):
        config(**bad)


def test_multifold_view_set_bounds_its_chunks_by_points_and_gives_the_same_views(monkeypatch):
    from jaxpelsvae.simulate import simulate_survey
    from jaxpelsvae.views.apply import CHUNK, chunk_stars, view_arrays, view_set

    lcs = simulate_survey({"CEP": 5, "RRLYR": 5}, cadence="gaia", seed=3)
    kw = {"bands": SMALL_BANDS, "df": 1e-3, "bins": 16}
    assert chunk_stars("folded", lcs) == CHUNK
    monkeypatch.setattr(MultiFoldViewConfig, "chunk_points", property(lambda self: 4 * 128))
    assert 64 < lcs.lengths.max() <= 128 and chunk_stars("multifold", lcs, **kw) == 4  # 10 stars: 3 chunks
    chunked = view_set("multifold", lcs, jax.random.key(0), **kw)
    padded = lcs.to_padded(max_len=128)
    whole = view_arrays("multifold", padded.time, padded.mag, padded.err, padded.mask, lcs.periods,
                        jax.random.key(0), **kw)
    for name in whole:
        np.testing.assert_allclose(chunked[name], whole[name], atol=1e-4)
