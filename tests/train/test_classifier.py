"""Pluggable classifiers in the loop: one view for real and synthetic curves, no label in any input,
target-survey donors that give cadences only, and `predict` on unlabelled curves."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from jaxpelsvae.config import to_dict
from jaxpelsvae.data.lightcurves import LightCurveSet
from jaxpelsvae.errors import ConfigError, DataError
from jaxpelsvae.period import fill_periods
from jaxpelsvae.period.search import PeriodConfig
from jaxpelsvae.selfreg.loop import train_classifier
from jaxpelsvae.selfreg.synthetic import _synthetic_views
from jaxpelsvae.simulate.survey import simulate_survey
from jaxpelsvae.train.classifier import TrainConfig, predict_saved_model, view_inputs
from jaxpelsvae.views.apply import view_arrays


@pytest.fixture(scope="module")
def gaia_like():
    """60 simulated Gaia-cadence stars (12 per class) with label-free periods."""
    lcs = simulate_survey({c: 12 for c in ("CEP", "DSCT", "ECL", "LPV", "RRLYR")}, cadence="gaia", seed=3)
    return fill_periods(lcs.with_meta(lcs.meta.drop(columns=["period"])))[0]


def _synth_batch(lcs: LightCurveSet):
    """A stand-in for a generator's SynthBatch holding the (padded) curves of ``lcs``."""
    p = lcs.to_padded()
    fields = dict(time_NT=p.time, mag_NT=p.mag, err_NT=p.err, mask_NT=p.mask,
                  period_N=lcs.periods.astype(np.float32), y_N=np.asarray(lcs.labels, np.int32))
    return type("Batch", (), fields)()


def test_train_config_defaults_are_the_small_presets_tested_cnn_run():
    """`TrainConfig()` (and so `jaxpelsvae train`) trains as the `small` preset's cnn runs do; the
    original's lr 0.1, batch 125 and 500 epochs stay in `paper`."""
    from jaxpelsvae.experiments.config import ExperimentConfig, preset

    default = TrainConfig()
    small_cnn = preset("small").train_config(default.seq_length, default.mode, "cnn")
    # fresh pairs every epoch are the experiment's choice (ExperimentConfig.resample_pairs), not the library's
    assert dataclasses.replace(small_cnn, resample_pairs=False) == default
    assert (default.learning_rate, default.batch_size, default.regulator.epochs) == (3e-3, 64, 40)
    paper = preset("paper").train_config(300, "selfreg")
    assert (paper.learning_rate, paper.batch_size, paper.regulator.epochs, paper.regulator.n_oversampling) == (
        0.1, 125, 500, 10)
    base = ExperimentConfig()  # the experiment's own defaults (the README's table) are unchanged
    assert (base.train.learning_rate, base.train.batch_size, base.regulator.epochs) == (1e-3, 125, 30)


def test_real_and_synthetic_curves_go_through_the_same_view(gaia_like):
    config = TrainConfig(classifier="folded", synthetic_periods="true")
    real = view_inputs(gaia_like, config, seed=0, stream=13)
    synthetic = _synthetic_views(_synth_batch(gaia_like), np.ones(len(gaia_like), bool), config,
                                 __import__("jax").random.key(5))
    assert set(real) == set(synthetic) == {"folded", "scalars"}
    for name in real:
        np.testing.assert_allclose(real[name], synthetic[name], atol=2e-5)


def test_synthetic_curves_are_folded_at_the_period_found_on_them(gaia_like):
    # "found": the same label-free search as real curves, so the synthetic view equals the view of
    # the same curves as a real set whose periods the filler found.
    config = TrainConfig(classifier="folded", synthetic_periods="found")
    batch = _synth_batch(gaia_like)
    batch.period_N = np.full(len(gaia_like), 123.0, np.float32)  # a wrong true period must not matter
    synthetic = _synthetic_views(batch, np.ones(len(gaia_like), bool), config, __import__("jax").random.key(5))
    p = gaia_like.to_padded()
    again = LightCurveSet.from_padded(np.arange(len(gaia_like)).astype(str), p.time, p.mag, p.err, p.mask)
    refound = fill_periods(again)[0].periods
    expected = view_arrays("folded", p.time, p.mag, p.err, p.mask, refound, __import__("jax").random.key(0))
    np.testing.assert_allclose(synthetic["scalars"], expected["scalars"], atol=2e-5)


def test_synthetic_views_of_kept_slots_equal_those_of_the_kept_curves_alone(gaia_like):
    # The view runs on every slot of the generator's fixed-size batch (one compiled program for
    # every regeneration); a kept curve must get the view it gets when only kept curves are viewed.
    config = TrainConfig(classifier="folded", synthetic_periods="true", view_overrides=(("augment", True),))
    batch = _synth_batch(gaia_like)
    keep = np.arange(len(gaia_like)) % 3 != 1
    got = _synthetic_views(batch, keep, config, __import__("jax").random.key(5))
    p = gaia_like.to_padded()
    alone = view_arrays("folded", p.time[keep], p.mag[keep], p.err[keep], p.mask[keep],
                        gaia_like.periods[keep], __import__("jax").random.fold_in(__import__("jax").random.key(5), 1),
                        augment=True)
    for name in alone:
        assert got[name].shape == alone[name].shape
        np.testing.assert_allclose(got[name], alone[name], atol=2e-5)


def test_auto_synthetic_periods_fold_synthetic_curves_as_the_training_curves_are(gaia_like):
    from jaxpelsvae.train.classifier import resolve_synthetic_periods

    auto = TrainConfig(classifier="folded")
    assert auto.synthetic_periods == "auto"
    catalogued = simulate_survey({"CEP": 3, "ECL": 3}, cadence="gaia", seed=1)  # simulated periods: catalogue
    assert resolve_synthetic_periods(auto, catalogued) == "true"
    assert resolve_synthetic_periods(auto, gaia_like) == "found"  # periods found by the search
    mixed = LightCurveSet.concatenate([catalogued, gaia_like.select(np.arange(2))])
    assert resolve_synthetic_periods(auto, mixed) == "found"
    for fixed in ("found", "true"):
        assert resolve_synthetic_periods(TrainConfig(classifier="folded", synthetic_periods=fixed), catalogued) == fixed


def test_views_do_not_depend_on_labels_or_chunking(gaia_like, monkeypatch):
    config = TrainConfig(classifier="hybrid")
    a = view_inputs(gaia_like, config, seed=1, stream=13)
    shuffled = np.random.default_rng(0).permutation(np.asarray(gaia_like.meta["class"]))
    relabelled = gaia_like.with_meta(gaia_like.meta.assign(**{"class": shuffled})).with_classes(gaia_like.classes)
    b = view_inputs(relabelled, config, seed=1, stream=13)
    import jaxpelsvae.views.apply as apply

    monkeypatch.setattr(apply, "CHUNK", 7)  # a curve's draw depends on its index, not its chunk
    c = view_inputs(gaia_like, config, seed=1, stream=13)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
        np.testing.assert_allclose(a[name], c[name], atol=1e-6)


def test_period_aware_views_need_periods_and_refuse_bad_settings(gaia_like):
    no_periods = gaia_like.with_meta(gaia_like.meta.assign(period=np.nan))
    with pytest.raises(DataError, match="fill_periods"):
        view_inputs(no_periods, TrainConfig(classifier="folded"), seed=0, stream=0)
    with pytest.raises(ConfigError, match="registered"):
        TrainConfig(classifier="no-such-classifier")
    # augment is the period-aware classifiers' setting, resample_pairs the cnn's: each ignores the other's
    assert not TrainConfig(classifier="cnn", augment=True).redraws_train_views
    assert not TrainConfig(classifier="folded", resample_pairs=True).redraws_train_views
    assert TrainConfig(classifier="folded", augment=True).augments
    cfg = TrainConfig(classifier="folded", view_overrides={"bins": 32})
    assert TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


def test_target_donors_give_cadences_and_errors_only(gaia_like):
    from jaxpelsvae.synth.reverse_fold import build_donor_bank, retarget_donor_bank

    bank = build_donor_bank(gaia_like, gaia_like.periods, seed=0)
    target = simulate_survey({"RRLYR": 9}, cadence="ogle", seed=8)
    retargeted = retarget_donor_bank(bank, target, copies=3, max_len=200, seed=1)
    # class-dependent parts come from the training donors, three copies of each
    np.testing.assert_array_equal(retargeted.label_D, np.repeat(bank.label_D, 3))
    np.testing.assert_array_equal(retargeted.amplitude_D, np.repeat(bank.amplitude_D, 3))
    np.testing.assert_array_equal(retargeted.log10_period_D, np.repeat(bank.log10_period_D, 3))
    # cadences are the target's: OGLE-like windows of 200 consecutive points, not Gaia's ~50
    assert retargeted.mask_DT.shape[1] == 200 and retargeted.mask_DT.sum(1).min() == 200
    # the target's labels are never read: any class column gives the same bank
    relabelled = target.with_meta(target.meta.assign(**{"class": "RRLYR"}))
    again = retarget_donor_bank(bank, relabelled.with_classes(("RRLYR",)), copies=3, max_len=200, seed=1)
    for f in retargeted._fields:
        if getattr(retargeted, f) is not None:
            np.testing.assert_array_equal(getattr(retargeted, f), getattr(again, f))


def test_donors_among_validation_or_test_stars_are_refused(gaia_like):
    from jaxpelsvae.experiments.runner import check_donors

    train, val, test = gaia_like.split((0.6, 0.2, 0.2), seed=0)
    assert check_donors(train, val, test, transductive=False)["transductive"] is False
    with pytest.raises(DataError, match="validation"):
        check_donors(val, val, test, transductive=True)
    with pytest.raises(DataError, match="transductive"):
        check_donors(test, val, test, transductive=False)
    assert check_donors(test, val, test, transductive=True)["transductive"] is True


def test_predict_gives_probabilities_without_reading_labels(gaia_like, tmp_path, monkeypatch):
    train, val, test = gaia_like.split((0.6, 0.2, 0.2), seed=0)
    config = TrainConfig(mode="baseline", classifier="folded", learning_rate=3e-3, batch_size=16,
                         regulator=dataclasses.replace(TrainConfig().regulator, epochs=2, patience=2))
    train_classifier(train, val, test, config, workdir=tmp_path / "run", seed=0, progress=False, figures=False,
                     period_config=PeriodConfig())
    labelled = predict_saved_model(tmp_path / "run" / "model", test)
    unlabelled = test.with_meta(test.meta.drop(columns=["class", "period", "period_source"]))
    blind = predict_saved_model(tmp_path / "run" / "model", dataclasses.replace(unlabelled, classes=()))
    classes = list(gaia_like.classes)
    assert list(labelled.columns) == ["id", *classes, "predicted", "probability", "period", "period_source",
                                      "period_power", "period_fap", "period_alias_flag"]
    np.testing.assert_allclose(labelled[classes].sum(axis=1), 1.0, atol=1e-6)
    # periods found again on the unlabelled curves, the same way: the same probabilities
    np.testing.assert_allclose(labelled[classes].to_numpy(), blind[classes].to_numpy(), atol=1e-5)
    assert (blind["period_source"] == "lomb_scargle").all()
    assert blind["period_fap"].between(0.0, 1.0).all() and blind["period_alias_flag"].isin([True, False]).all()

    from jaxpelsvae.cli import main

    test_dir = tmp_path / "unlabelled"
    test_dir.mkdir()
    from jaxpelsvae.data.readers import write_standard

    write_standard(dataclasses.replace(unlabelled, classes=()), test_dir)
    out = tmp_path / "pred.csv"
    assert main(["predict", str(test_dir), "--model", str(tmp_path / "run"), "--out", str(out),
                 "--workdir", str(tmp_path / "w")]) == 0
    written = pd.read_csv(out, dtype={"id": str})
    assert list(written["id"]) == list(map(str, test.ids))
    np.testing.assert_allclose(written[classes].to_numpy(), labelled[classes].to_numpy(), atol=1e-5)
    # a meta table without any class column, as unlabelled survey data come
    meta = pd.read_csv(test_dir / "meta.csv", dtype={"id": str})
    meta.drop(columns=["class"], errors="ignore").to_csv(test_dir / "meta.csv", index=False)
    assert main(["predict", str(test_dir), "--model", str(tmp_path / "run"), "--out", str(out),
                 "--workdir", str(tmp_path / "w")]) == 0
    assert len(pd.read_csv(out, dtype={"id": str})) == len(test)
    (test_dir / "meta.csv").unlink()  # curves only: ids come from lightcurves.csv
    assert main(["predict", str(test_dir), "--model", str(tmp_path / "run"), "--out", str(out),
                 "--workdir", str(tmp_path / "w")]) == 0
    np.testing.assert_allclose(pd.read_csv(out, dtype={"id": str})[classes].to_numpy(),
                               labelled[classes].to_numpy(), atol=1e-5)

    # The period search recorded at training is the one predict runs on curves without a period.
    info_file = tmp_path / "run" / "model" / "model.json"
    info = json.loads(info_file.read_text())
    assert info["period"] == to_dict(PeriodConfig())
    info_file.write_text(json.dumps({**info, "period": to_dict(PeriodConfig(period_prior=0.0, nterms=2))}))
    import jaxpelsvae.period

    searched = []

    def spy(lcs, *, config=None, **kwargs):
        searched.append(config)
        return fill_periods(lcs, config=config, **kwargs)

    monkeypatch.setattr(jaxpelsvae.period, "fill_periods", spy)
    predict_saved_model(tmp_path / "run" / "model", dataclasses.replace(unlabelled, classes=()))
    assert searched == [PeriodConfig(period_prior=0.0, nterms=2)]
