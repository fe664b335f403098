"""jaxpelsvae.physics.priors: parsing the prior boxes, per-class imputation, tempered sampling of p^b and truncation."""
from __future__ import annotations

import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from jaxpelsvae.errors import ConfigError, DataError
from jaxpelsvae.physics.priors import (
    DEFAULT_PRIOR_BOXES,
    PhysPriors,
    PriorArrays,
    PriorConfig,
    fit_priors,
    physics_table,
    read_prior_boxes,
    sample_physics,
    to_space,
)


def _arrays(weights, means, sigmas):
    """PriorArrays of one class, 1-D components N(means[c], sigmas[c]^2), no boxes."""
    C = len(weights)
    return PriorArrays(
        logw_KA=jnp.log(jnp.asarray([weights], jnp.float32)),
        mean_KAP=jnp.asarray(means, jnp.float32).reshape(1, C, 1),
        chol_KAPP=jnp.asarray(sigmas, jnp.float32).reshape(1, C, 1, 1),
        logdet_KA=jnp.log(jnp.asarray([sigmas], jnp.float32) ** 2),
        box_lo_KVP=jnp.full((1, 1, 1), jnp.inf),
        box_hi_KVP=jnp.full((1, 1, 1), -jnp.inf),
        has_box_K=jnp.zeros((1,), bool),
    )


def test_b_one_reproduces_the_mixture():
    w, s = np.array([0.3, 0.7]), np.array([1.0, 1.0])
    arrays = _arrays(w, [-0.5, 1.0], s)
    x = np.asarray(jax.jit(lambda k: sample_physics(k, arrays, jnp.zeros(6000, jnp.int32), 1.0))(jax.random.key(3)))
    np.testing.assert_allclose(x.mean(), (w * np.array([-0.5, 1.0])).sum(), atol=0.05)


class TestTempered(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_single_gaussian_variance_is_sigma2_over_b(self):
        sigma, n = 1.5, 6000
        arrays = _arrays([1.0], [3.0], [sigma])
        sample = self.variant(lambda k, bb: sample_physics(k, arrays, jnp.zeros(n, jnp.int32), bb, candidates=4))
        for b in (0.5, 2.0):
            x = np.asarray(sample(jax.random.key(1), jnp.float32(b)))[:, 0]
            np.testing.assert_allclose(x.var(), sigma**2 / b, rtol=0.08)
            np.testing.assert_allclose(x.mean(), 3.0, atol=0.05)

    @chex.variants(with_jit=True)
    def test_separated_components_get_tempered_weights(self):
        # p^b of two far-apart Gaussians: component mass proportional to w^b sigma^(1-b)
        w, s, b, n = np.array([0.8, 0.2]), np.array([0.5, 2.0]), 0.5, 6000
        arrays = _arrays(w, [-50.0, 50.0], s)
        x = np.asarray(self.variant(lambda k: sample_physics(k, arrays, jnp.zeros(n, jnp.int32), b))(jax.random.key(2)))
        mass = w**b * s ** (1 - b)
        np.testing.assert_allclose((x[:, 0] > 0).mean(), mass[1] / mass.sum(), atol=0.025)
        # and not the original's p^(1+b)
        wrong = w ** (1 + b) * s ** (-b)
        assert abs((x[:, 0] > 0).mean() - wrong[1] / wrong.sum()) > 0.05


def test_read_prior_boxes_components_and_limits(reference_dir):
    boxes = read_prior_boxes(reference_dir / "priors.yaml")
    n_comp = {k: len(v.boxes) for k, v in boxes.items()}
    assert n_comp == {"RRLYR": 3, "T2CEP": 3, "CEP": 4, "DSCT": 2, "ELL": 1, "LPV": 1, "ECL": 3, "ACEP": 3}
    assert boxes["DSCT"].min_period == 0.02 and boxes["LPV"].max_period == 1000
    assert boxes["RRLYR"].boxes[0].lo["teff"] == 6200 and boxes["RRLYR"].boxes[0].mid["period"] == 0.60
    assert read_prior_boxes(DEFAULT_PRIOR_BOXES).keys() == boxes.keys()


def test_bad_prior_file_raises(tmp_path):
    bad = tmp_path / "p.yaml"
    bad.write_text("StarTypes:\n  RRLYR:\n    max_period: 1\n")
    with pytest.raises(ConfigError, match="RRLYR"):
        read_prior_boxes(bad)
    bad.write_text("nothing: 1\n")
    with pytest.raises(ConfigError, match="StarTypes"):
        read_prior_boxes(bad)


def _meta(rng, n=100):
    """Stars of RRLYR (around the RRab box) and DSCT, with spread beyond the boxes and some NaNs."""
    rows = []
    for cls, (p, teff, feh, mg, r, g) in {"RRLYR": (0.55, 6500, -1.0, 0.7, 0.7, 3.0),
                                          "DSCT": (0.1, 7500, 0.0, 2.0, 2.0, 4.0)}.items():
        rows.append(pd.DataFrame({
            "id": [f"{cls}{i}" for i in range(n)],
            "class": cls,
            "period": p * 10 ** rng.normal(0, 0.1, n),
            "teff": teff * 10 ** rng.normal(0, 0.03, n),
            "feh": feh + rng.normal(0, 0.5, n),
            "abs_gmag": mg + rng.normal(0, 0.5, n),
            "radius": r * 10 ** rng.normal(0, 0.1, n),
            "logg": g + rng.normal(0, 0.3, n),
        }))
    meta = pd.concat(rows, ignore_index=True)
    meta.loc[:9, "teff"] = np.nan
    meta.loc[:, "logg"] = np.where(meta["class"] == "DSCT", np.nan, meta["logg"])
    return meta


@pytest.fixture(scope="module")
def fitted():
    meta = _meta(np.random.default_rng(0))
    return meta, fit_priors(meta, ("DSCT", "RRLYR"), PriorConfig(truncate=True, max_iter=300))


def test_imputation_is_per_class_and_counted(fitted):
    meta, pri = fitted
    rep = pri.report["per_class"]
    assert rep["RRLYR"]["imputed"]["teff"] == 10 and rep["DSCT"]["imputed"]["teff"] == 0
    assert rep["DSCT"]["imputed"]["logg"] == 100
    x = physics_table(meta)
    rr = (meta["class"] == "RRLYR").to_numpy()
    np.testing.assert_allclose(pri.fill_KP[1, 1], np.nanmedian(x[rr, 1]))
    # DSCT has no logg at all: the mean of its prior-box midpoints (4.0 in both boxes)
    np.testing.assert_allclose(pri.fill_KP[0, 5], 4.0)
    filled = pri.impute(x, rr.astype(int))
    assert np.isfinite(filled).all()


def test_mean_prior_is_in_the_data_space(fitted):
    _, pri = fitted
    mp = np.asarray(pri.report["per_class"]["RRLYR"]["mean_prior"])
    mids = to_space(np.array([[0.60, 6500, -0.25, 0.65, 0.7, 3.0], [0.35, 6700, -0.25, 0.75, 0.8, 2.9],
                              [0.745, 6600, -0.4, 0.65, 0.75, 3.1]]), pri.config.params, pri.config.log10_params)
    np.testing.assert_allclose(mp, mids.mean(0), rtol=1e-12)
    assert abs(mp[1] - math.log10(6600)) < 0.01  # log10 Teff, as the data (the original used ln here)
    assert pri.report["per_class"]["RRLYR"]["n_components"] == 3


def test_truncated_samples_stay_inside_the_prior_boxes(fitted):
    _, pri = fitted
    boxes = read_prior_boxes(DEFAULT_PRIOR_BOXES)
    labels = np.repeat([0, 1], 1500)
    for b in (0.4, 1.0):
        from_model = pri.sample(jax.random.key(5), labels, b, truncate=True)
        for k, cls in enumerate(pri.classes):
            xs = from_model[labels == k]
            inside_any = np.zeros(len(xs), bool)
            for box in boxes[cls].boxes:
                lo = to_space(np.array([[box.lo[p] for p in pri.config.params]]), pri.config.params, pri.config.log10_params)[0]
                hi = to_space(np.array([[box.hi[p] for p in pri.config.params]]), pri.config.params, pri.config.log10_params)[0]
                inside_any |= np.all((xs >= lo - 1e-5) & (xs <= hi + 1e-5), axis=1)
            assert inside_any.all(), (cls, b)
            per = 10 ** xs[:, 0]
            assert (per >= boxes[cls].min_period * (1 - 1e-4)).all() and (per <= boxes[cls].max_period * (1 + 1e-4)).all()
    untrunc = pri.sample(jax.random.key(5), labels, 1.0, truncate=False)
    assert (untrunc[labels == 0, 4] > np.log10(2.5) + 0.01).any()  # the data spread beyond the DSCT radius box


def test_save_load_roundtrip(fitted, tmp_path):
    _, pri = fitted
    pri.save(tmp_path / "p")
    back = PhysPriors.load(tmp_path / "p")
    with np.load(tmp_path / "p" / "priors.npz") as npz:  # the file format's array names, whatever the fields are called
        assert set(npz.files) == {"fill_KP", "logw_KC", "mean_KCP", "chol_KCPP", "logdet_KC", "box_lo_KBP", "box_hi_KBP",
                                  "has_box_K"}
    assert back.classes == pri.classes and back.config == pri.config
    lab = np.repeat([0, 1], 1500)  # the shape sampled above: no new compilation
    np.testing.assert_array_equal(back.sample(jax.random.key(0), lab), pri.sample(jax.random.key(0), lab))


def test_class_without_data_raises():
    meta = pd.DataFrame({"id": ["a"], "class": ["RRLYR"], "period": [0.5]})
    with pytest.raises(DataError, match="RRLYR"):
        fit_priors(meta)
