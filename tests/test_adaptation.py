"""`predict --adapt`: simulated stars on the target's own epochs, a warm-started fine-tune, and no label read."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import jaxpelsvae
from jaxpelsvae.adaptation import AdaptConfig, simulated_on_target
from jaxpelsvae.errors import ConfigError
from jaxpelsvae.period.search import PeriodConfig
from jaxpelsvae.simulate import simulate_survey

CLASSES = ["CEP", "ECL", "RRLYR"]
TINY = AdaptConfig(stars_per_class=4, epochs=1, patience=1)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """An untrained folded-view classifier of three classes, saved as `train` saves one."""
    import jax

    from jaxpelsvae.train.classifier import TrainConfig, build_model, save_model
    from jaxpelsvae.train.state import split_model

    config = TrainConfig(classifier="folded", batch_size=8, eval_batch_size=16)
    _, params, rest = split_model(build_model(len(CLASSES), config, jax.random.key(0)))
    path = tmp_path_factory.mktemp("run") / "model"
    save_model(path, params, rest, {"config": config.to_dict(), "classes": CLASSES, "best_epoch": 0})
    return path


@pytest.fixture(scope="module")
def target():
    """6 Gaia-cadence stars with labels and no period: what `predict --adapt` is given."""
    lcs = simulate_survey({c: 2 for c in CLASSES}, cadence="gaia", seed=8)
    return lcs.with_meta(lcs.meta[["id", "class"]])


def test_simulated_stars_take_the_targets_epochs_and_errors(target):
    synth = simulated_on_target(target, CLASSES, TINY, PeriodConfig(), seed=1)
    assert synth.class_counts() == {c: TINY.stars_per_class for c in CLASSES}
    target_times = {tuple(np.round(target.curve(i)[0], 9)) for i in range(len(target))}
    for i in range(len(synth)):
        t, _, err = synth.curve(i)
        assert tuple(np.round(t, 9)) in target_times  # one target curve's epochs, unshifted
    # the target has no catalogue period: every simulated star gets the label-free search's
    assert (synth.meta["period_source"] == "lomb_scargle").all()
    with pytest.raises(ConfigError, match="no model of class"):
        simulated_on_target(target, ["CEP", "MIRA"], TINY, PeriodConfig())


def test_adapt_reads_no_label_and_says_what_changed(model_dir, target, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = jaxpelsvae.predict(target, model_dir)
        adapted = jaxpelsvae.predict(target, model_dir, adapt=TINY, workdir=tmp_path / "a")
        meta = target.meta.copy()
        meta["class"] = np.random.default_rng(0).permutation(meta["class"].to_numpy())
        permuted = jaxpelsvae.predict(target.with_meta(meta), model_dir, adapt=TINY, workdir=tmp_path / "b")
    pd.testing.assert_frame_equal(adapted, permuted)  # permuting the target's labels changes nothing
    assert list(adapted["predicted_unadapted"]) == list(plain["predicted"])
    info = adapted.attrs["adapt"]
    assert info["changed"] == int((adapted["predicted"] != plain["predicted"]).sum())
    assert info["stars"] == len(target) and info["simulated_stars"] == TINY.stars_per_class * len(CLASSES)
    assert sum(info["counts_after"].values()) == len(target)
    assert (tmp_path / "a" / "adapt" / "model" / "model.json").is_file()


def test_warm_start_takes_the_given_weights_and_refuses_another_model(model_dir):
    import jax

    from jaxpelsvae.selfreg.loop import _warm_start
    from jaxpelsvae.train.classifier import TrainConfig, build_steps, init_train_state, load_model

    _, params, rest, info = load_model(model_dir)
    config = TrainConfig.from_dict(info["config"])
    fresh = init_train_state(len(CLASSES), config, build_steps(len(CLASSES), config, [1.0] * 3), seed=5)
    state, digest = _warm_start(fresh, (params, rest))
    for a, b in zip(jax.tree.leaves(state.params), jax.tree.leaves(params)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert len(digest) == 40
    other = init_train_state(4, config, build_steps(4, config, [1.0] * 4), seed=5)
    with pytest.raises(ConfigError, match="do not fit"):
        _warm_start(other, (params, rest))


def test_adapt_config_is_validated():
    with pytest.raises(ConfigError, match="lr_scale"):
        AdaptConfig(lr_scale=0.0)
    with pytest.raises(ConfigError, match="val_fraction"):
        AdaptConfig(val_fraction=1.0)


def test_a_folder_it_did_not_write_is_never_wiped(model_dir, target, tmp_path):
    from jaxpelsvae.adaptation import adapt_model

    keep = tmp_path / "mine"
    keep.mkdir()
    (keep / "notes.txt").write_text("precious")
    with pytest.raises(ConfigError, match="not empty"):
        adapt_model(model_dir, target, keep, TINY)
    assert (keep / "notes.txt").read_text() == "precious"


def test_only_catalogue_periods_count_as_catalogue(target):
    from jaxpelsvae.adaptation import catalogue_share
    from jaxpelsvae.period import fill_periods

    assert catalogue_share(target) == 0.0
    searched = fill_periods(target, progress=False)[0]  # periods found by a search are not a catalogue's
    assert np.isfinite(searched.periods).all() and catalogue_share(searched) == 0.0
    meta = target.meta.copy()
    meta["period"] = [1.0, np.nan, 2.0, np.nan, 3.0, np.nan]
    assert catalogue_share(target.with_meta(meta)) == pytest.approx(0.5)
