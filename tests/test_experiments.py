"""Experiments: data-shift scenarios, report.json schema, vmapped repetitions, a tiny end-to-end run."""
from __future__ import annotations

import copy
import json

import numpy as np
import pandas as pd
import pytest

from jaxpelsvae.data.features import FEATURE_NAMES, MISSING, light_curve_features
from jaxpelsvae.data.lightcurves import LightCurveSet
from jaxpelsvae.data.shift import (
    ShiftConfig,
    gini_hardness,
    hardness_split,
    make_split,
    match_classes,
    random_split,
)
from jaxpelsvae.errors import ConfigError, DataError
from jaxpelsvae.experiments.report import build_report, render_markdown, validate_report


def _toy_set(n_per_class: int = 40, seed: int = 0, classes=("A", "B", "C")) -> LightCurveSet:
    """Sinusoids whose amplitude and period depend on the class, with class overlap (hard stars)."""
    rng = np.random.default_rng(seed)
    ids, times, mags, errs, cls, per = [], [], [], [], [], []
    for k, c in enumerate(classes):
        for i in range(n_per_class):
            n = int(rng.integers(30, 60))
            t = np.sort(rng.uniform(0, 200, n))
            p = 10 ** rng.normal(-0.3 + 0.4 * k, 0.25)
            amp = np.exp(rng.normal(np.log(0.1 + 0.15 * k), 0.5))
            ids.append(f"{c}-{i}")
            times.append(t)
            mags.append(15 + amp * np.sin(2 * np.pi * t / p) + rng.normal(0, 0.02, n))
            errs.append(rng.uniform(0.015, 0.025, n))
            cls.append(c)
            per.append(p)
    return LightCurveSet.from_arrays(ids, times, mags, errs, star_class=cls, period=per)


@pytest.fixture(scope="module")
def toy():
    return _toy_set()


# ------------------------------------------------------------------------------------ features


def test_features_shape_and_fourier_amplitude():
    t = np.linspace(0, 30, 200)
    lcs = LightCurveSet.from_arrays(
        ["s", "flat"], [t, t[:5]], [10 + 0.3 * np.sin(2 * np.pi * t / 2.5), np.full(5, 10.0)],
        [np.full(200, 0.01), np.full(5, 0.01)], star_class=["A", "A"], period=[2.5, np.nan],
    )
    f = light_curve_features(lcs)
    assert list(f.columns) == list(FEATURE_NAMES) and list(f.index) == ["s", "flat"]
    assert f.loc["s", "fourier_a1"] == pytest.approx(0.3, rel=1e-3)
    assert abs(f.loc["s", "fourier_r21"]) < 1e-3
    assert f.loc["s", "n_points"] == 200 and f.loc["s", "amplitude"] == pytest.approx(0.3, rel=1e-2)
    assert f.loc["flat", "log10_period"] == MISSING and f.loc["flat", "skewness"] == MISSING
    assert np.isfinite(f.to_numpy()).all()


# ------------------------------------------------------------------------------------ shift


def test_hardness_split_is_deterministic_for_a_seed(toy):
    a = hardness_split(toy, 3.0, seed=5, n_estimators=20)
    b = hardness_split(toy, 3.0, seed=5, n_estimators=20)
    c = hardness_split(toy, 3.0, seed=6, n_estimators=20)
    assert list(a.train.ids) == list(b.train.ids) and list(a.test.ids) == list(b.test.ids)
    assert a.info["hardness_by_id"] == b.info["hardness_by_id"]
    assert list(a.test.ids) != list(c.test.ids)
    assert len(a.train) + len(a.test) == len(toy)
    assert not set(a.train.ids) & set(a.test.ids)


def test_hardness_split_sends_harder_stars_to_test_more_often(toy):
    # Out-of-fold hardness spreads h over [0, 2/3]; over many seeds, a star's test frequency must
    # grow with its hardness as P(test) = 1 − exp(−T·h).
    h = gini_hardness(light_curve_features(toy).to_numpy(), toy.labels, seed=0, in_sample=False, n_estimators=30)
    assert h.std() > 0.05
    in_test = np.zeros(len(toy))
    n_draws = 200
    for seed in range(n_draws):
        s = hardness_split(toy, 3.0, seed=seed, hardness=h)
        in_test += np.isin(toy.ids, s.test.ids)
        if len(s.test) and len(s.train):
            assert s.info["hardness_mean_test"] > s.info["hardness_mean_train"] - 0.05
    freq = in_test / n_draws
    hard, easy = h > np.quantile(h, 0.75), h < np.quantile(h, 0.25)
    assert freq[hard].mean() > freq[easy].mean() + 0.2
    np.testing.assert_allclose(freq, 1 - np.exp(-3.0 * h), atol=0.15)
    assert np.corrcoef(freq, h)[0, 1] > 0.9
    # T = 0 keeps everything in training
    assert len(hardness_split(toy, 0.0, seed=0, hardness=h).test) == 0


def test_gini_hardness_range_and_in_sample_is_easier(toy):
    f = light_curve_features(toy).to_numpy()
    h_in = gini_hardness(f, toy.labels, seed=0, in_sample=True, n_estimators=30)
    h_oof = gini_hardness(f, toy.labels, seed=0, in_sample=False, n_estimators=30)
    assert h_in.shape == (len(toy),) and (h_in >= 0).all() and (h_in <= 1 - 1 / 3 + 1e-9).all()
    assert h_in.mean() < h_oof.mean()


def test_random_split_is_stratified_and_deterministic(toy):
    a, b = random_split(toy, 0.25, seed=1), random_split(toy, 0.25, seed=1)
    assert list(a.test.ids) == list(b.test.ids)
    assert a.info["test_pool"] == {"A": 10, "B": 10, "C": 10}


def test_cross_dataset_matches_classes_by_name():
    train = _toy_set(5, seed=1, classes=("A", "B", "C"))
    test = _toy_set(4, seed=2, classes=("B", "C", "D"))
    split = match_classes(train, test)
    assert split.test.classes == ("A", "B", "C")
    assert set(split.test.meta["class"]) == {"B", "C"}
    assert split.info["classes_missing_in_test"] == ["A"]
    assert split.info["classes_missing_in_train"] == ["D"] and split.info["test_stars_dropped"] == 4
    assert list(np.unique(split.test.labels)) == [1, 2]
    with pytest.raises(DataError):
        match_classes(train, _toy_set(3, classes=("X", "Y")))


def test_make_split_dispatch_and_config_errors(toy):
    with pytest.raises(ConfigError):
        ShiftConfig(scenario="nope")
    with pytest.raises(ConfigError):
        ShiftConfig(scenario="snr")
    with pytest.raises(ConfigError):
        make_split(toy, ShiftConfig(scenario="cross"))
    s = make_split(toy, ShiftConfig(scenario="random", test_fraction=0.5), seed=0)
    assert s.info["method"] == "random" and len(s.test) == len(toy) // 2
    s = make_split(toy, ShiftConfig(scenario="snr", snr_threshold=3.0, seq_length=20, n_estimators=10), seed=0)
    assert s.info["method"] == "snr" and s.info["training_cuts"]["snr_threshold"] == 3.0
    assert (s.train.lengths > 20).all()


# ------------------------------------------------------------------------------------ report


def _fake_report() -> dict:
    classes = ["A", "B", "C"]
    runs = []
    rng = np.random.default_rng(0)
    for mode in ("baseline", "selfreg"):
        for seed in (0, 1):
            cm = rng.integers(0, 20, (3, 3))
            runs.append({
                "mode": mode, "seed": seed, "macro_f1": float(rng.uniform()), "accuracy": float(rng.uniform()),
                "roc_auc_ovo": float(rng.uniform()), "roc_auc_ovr": None,
                "per_class": {c: {"precision": 0.5, "recall": 0.5, "f1": 0.5} for c in classes},
                "confusion": cm, "best_epoch": 2, "epochs": 5, "wall_s": 1.5,
            })
    return build_report(
        dataset={"name": "toy", "n_stars": 30, "counts": {"A": 10, "B": 10, "C": 10}},
        split={"method": "hardness", "parameters": {"temperature": 3.0}, "n_train": 15, "n_val": 5, "n_test": 10},
        runs=runs, generator={"vae_recon_mse": np.float32(0.01), "latent_r2_heldout": float("nan")},
        config={"seq_length": 32, "seq_length_choice": {"reason": "given"}},
    )


def test_report_validates_and_roundtrips_json():
    report = _fake_report()
    assert validate_report(report) == []
    again = json.loads(json.dumps(report))
    assert validate_report(again) == []
    assert set(again["summary"]) == {"baseline", "selfreg"}
    s = again["summary"]["baseline"]
    f1 = [r["macro_f1"] for r in again["runs"] if r["mode"] == "baseline"]
    assert s["macro_f1_mean"] == pytest.approx(np.mean(f1)) and s["macro_f1_min"] == pytest.approx(min(f1))
    assert s["macro_f1_std"] == pytest.approx(np.std(f1, ddof=1))
    assert again["generator"]["latent_r2_heldout"] is None  # NaN becomes null
    md = render_markdown(again)
    assert "| baseline |" in md and "Per-class F1" in md


@pytest.mark.parametrize(
    "breaker",
    [
        lambda r: r.pop("versions"),
        lambda r: r["runs"][0].pop("macro_f1"),
        lambda r: r["runs"][0].update(macro_f1=1.5),
        lambda r: r["runs"][0].update(seed="0"),
        lambda r: r["runs"][0].update(confusion=[[1, 2], [3, 4]]),
        lambda r: r["summary"].pop("selfreg"),
        lambda r: r["split"].pop("n_test"),
        lambda r: r["dataset"]["counts"].update(A="ten"),
        lambda r: r["runs"][1]["per_class"]["A"].pop("f1"),
    ],
)
def test_report_validator_catches_broken_reports(breaker):
    report = copy.deepcopy(_fake_report())
    breaker(report)
    assert validate_report(report)


# ------------------------------------------------------------------------------------ vmapped seeds


def test_vmapped_seeds_equal_sequential_seeds(tmp_path):
    """The vmapped program trains the same networks as the loop, seed by seed, to float tolerance.

    The two paths sum in different orders and Adam amplifies the difference in near-zero gradients
    (test log-probabilities differ by ~4e-3 here), so values are compared within a tolerance and
    predictions only where the sequential run's top two classes are clearly apart: an argmax over
    near-ties (margins of 1e-3 occur) would flip between the paths.
    """
    import jax
    import jax.numpy as jnp

    from jaxpelsvae.experiments.repetitions import train_baseline_seeds
    from jaxpelsvae.selfreg.loop import train_classifier
    from jaxpelsvae.train import classifier
    from jaxpelsvae.train.classifier import Encoded, TrainConfig
    from jaxpelsvae.selfreg.state import RegulatorConfig
    from jaxpelsvae.train.losses import class_weights_alpha
    from jaxpelsvae.train.state import TrainState

    rng = np.random.default_rng(0)
    k, length = 3, 16

    def data(n):
        y = rng.integers(0, k, n).astype(np.int32)
        x = rng.normal(size=(n, length, 2)).astype(np.float32)
        x[..., 1] += 0.7 * y[:, None]
        return x, y

    (xt, yt), (xv, yv), (xs, ys) = data(90), data(40), data(30)
    cfg = TrainConfig(mode="baseline", seq_length=length, layers=2, learning_rate=1e-4, batch_size=32,
                      eval_batch_size=64, regulator=RegulatorConfig(epochs=3, patience=1))
    # A small learning rate: the convolution biases feed BatchNorm, so their gradient is rounding
    # noise, which Adam turns into steps of about the learning rate (eval mode reads them through the
    # running means): the two paths drift apart in proportion to it. At
    # 1e-3 the two paths' validation losses differed by up to 0.8 % on one CPU and 0.1 % on another;
    # at 1e-4 by 0.02 %, ten times inside the tolerance below.
    seeds = [3, 4]
    together = train_baseline_seeds(xt, yt, xv, yv, xs, k, seeds, cfg, vmap=True)
    evaluate = classifier.build_steps(k, cfg, class_weights_alpha(np.concatenate([yt, yv]), k)).evaluate
    logp_tol = 2e-2  # ~5x the largest difference measured on CPU
    compared = 0
    # Sequential reference: the self-regulation loop's own baseline run, one seed after the other.
    for a in together:
        run = train_classifier(None, None, None, cfg, workdir=tmp_path / f"seed{a.seed}", seed=a.seed,
                               encoded=(Encoded(xt, yt), Encoded(xv, yv), Encoded(xs, ys)),
                               classes=("a", "b", "c"), progress=False)
        val_loss = [h["val_loss"] for h in run.regulator.history]
        assert a.epochs == run.metrics["epochs"] == len(a.val_loss)
        np.testing.assert_allclose(a.val_loss, val_loss, rtol=2e-3, atol=1e-4)
        runner_up = np.sort(val_loss)[1] if len(val_loss) > 1 else np.inf
        if runner_up - min(val_loss) > 1e-2 * min(val_loss):  # the best epoch is no near-tie
            assert a.best_epoch == run.metrics["best_epoch"]
        # The loop's best model, evaluated on the test set as the loop evaluates it.
        _, params, rest = run.model
        state = TrainState(step=jnp.zeros((), jnp.int32), params=params, rest=rest, opt_state=None,
                           key=jax.random.key(0))
        logp, _ = classifier.predict(evaluate, state, Encoded(xs, ys), cfg.eval_batch_size)
        np.testing.assert_allclose(a.logprobs_test, logp, atol=logp_tol, rtol=0)
        top2 = np.sort(logp, axis=1)[:, -2:]
        clear = top2[:, 1] - top2[:, 0] > 2 * logp_tol  # within tolerance, these cannot flip
        np.testing.assert_array_equal(a.logprobs_test[clear].argmax(1), logp[clear].argmax(1))
        compared += int(clear.sum())
    assert compared >= len(ys)  # most predictions are clear-cut: the comparison is not vacuous
    # different seeds really are different runs
    assert not np.allclose(together[0].logprobs_test, together[1].logprobs_test, atol=10 * logp_tol)


# ------------------------------------------------------------------------------------ end to end


@pytest.fixture(scope="module")
def tiny_experiment(tmp_path_factory):
    from jaxpelsvae.experiments.config import preset
    from jaxpelsvae.experiments.runner import run_experiment
    from jaxpelsvae.simulate import simulate_survey

    lcs = simulate_survey({c: 24 for c in ("CEP", "DSCT", "ECL", "LPV", "RRLYR")}, cadence="gaia", seed=1)
    workdir = tmp_path_factory.mktemp("experiment")
    return run_experiment(lcs, preset("tiny"), workdir, seed=0)


def test_tiny_experiment_runs_end_to_end(tiny_experiment):
    report, workdir = tiny_experiment.report, tiny_experiment.workdir
    assert validate_report(report) == []
    on_disk = json.loads((workdir / "report.json").read_text())
    assert validate_report(on_disk) == [] and on_disk["summary"].keys() == {"baseline", "selfreg"}
    assert [r["mode"] for r in on_disk["runs"]] == ["baseline", "selfreg"]
    split = on_disk["split"]
    assert split["n_train"] + split["n_val"] + split["n_test"] == on_disk["dataset"]["n_stars"]
    assert on_disk["generator"]["vae_recon_mse"] > 0
    assert on_disk["config"]["seq_length_choice"]["automatic"] is True
    md = (workdir / "report.md").read_text()
    assert "Summary per mode" in md and "Sequence length" in md
    for name in ("confusion.png", "per_class_f1.png", "macro_f1_seeds.png"):
        assert (workdir / "figures" / name).stat().st_size > 0
    assert (workdir / "hardness.csv").is_file() and (workdir / "rejected.csv").is_file()


# ------------------------------------------------------------------------------------ configs and CLI


@pytest.mark.parametrize("name", ["bias_temperature", "snr_sweep", "seq_length_sweep", "policy_comparison", "loss_comparison"])
def test_scenario_configs_load_and_expand(name):
    from pathlib import Path

    from jaxpelsvae.config import get
    from jaxpelsvae.experiments.config import ExperimentConfig, preset
    from jaxpelsvae.experiments.configs import Sweep, load_config

    path = Path(__file__).resolve().parents[1] / "experiments" / f"{name}.py"
    sweep = load_config(path)
    assert isinstance(sweep, Sweep) and len(sweep.values) >= 2
    configs = sweep.configs(preset("small"))
    assert len(configs) == len(sweep.values)
    for value, cfg in configs:
        assert isinstance(cfg, ExperimentConfig)
        assert get(cfg, sweep.setting) == value
    assert ExperimentConfig.from_dict(json.loads(json.dumps(configs[0][1].to_dict()))) == configs[0][1]


def test_experiment_cli_options_build_the_config(tmp_path):
    from jaxpelsvae.cli import build_parser
    from jaxpelsvae.cli.experiment import config_from_args

    args = build_parser().parse_args([
        "experiment", str(tmp_path), "--preset", "tiny", "--seeds", "4", "--temperature", "2.5", "--modes", "baseline",
        "--vmap-seeds", "--seq-length", "64", "--quiet",
    ])
    cfg, sweep = config_from_args(args)
    assert sweep is None and cfg.seeds == 4 and cfg.shift.temperature == 2.5 and cfg.modes == ("baseline",)
    assert cfg.vmap_seeds and cfg.seq_length == 64 and not cfg.progress and cfg.preset == "tiny"
    with pytest.raises(ConfigError):
        preset_cfg = config_from_args(build_parser().parse_args(["experiment", str(tmp_path), "--modes", "nope"]))
        del preset_cfg


@pytest.mark.parametrize("name", ["tiny", "small", "paper"])
def test_experiment_config_nests_and_roundtrips_json(name):
    from jaxpelsvae.experiments.config import ExperimentConfig, preset

    cfg = preset(name)
    d = json.loads(json.dumps(cfg.to_dict()))
    assert ExperimentConfig.from_dict(d) == cfg
    assert d["regulator"]["epochs"] == cfg.regulator.epochs and d["train"]["learning_rate"] == cfg.train.learning_rate
    # what every run sets itself is not written: report.json's train_config holds the runs' values
    assert "mode" not in d["train"] and "regulator" not in d["train"] and "num_classes" not in d["vae"]
    assert not any(key.endswith("_overrides") for key in d)


def test_flat_config_of_earlier_versions_maps_onto_the_nested_one():
    from jaxpelsvae.experiments.config import ExperimentConfig, preset

    flat = {"epochs": 5, "learning_rate": 0.01, "vae_epochs": 3, "vae_overrides": {"units": 16},
            "regulator_overrides": {"decay_parameter_2": 0.46}, "shift_temperature": 2.0,
            "period_overrides": {"nterms": 2}, "view_overrides": {"bins": 32}}
    nested = {"regulator": {"epochs": 5, "decay_parameter_2": 0.46}, "train": {"learning_rate": 0.01,
              "view_overrides": {"bins": 32}}, "vae_train.epochs": 3, "vae": {"units": 16},
              "shift.temperature": 2.0, "period": {"nterms": 2}}
    cfg = ExperimentConfig.from_dict(flat)
    assert cfg == ExperimentConfig.from_dict(nested)
    assert cfg.regulator.epochs == 5 and cfg.regulator.patience == ExperimentConfig().regulator.patience
    assert cfg.train.view_overrides == (("bins", 32),) and cfg.vae.units == 16 and cfg.period.nterms == 2
    # a nested object changes only the fields it gives
    tiny = preset("tiny").replace(regulator={"eps": 0.2})
    assert tiny.regulator.eps == 0.2 and tiny.regulator.epochs == preset("tiny").regulator.epochs
    with pytest.raises(ConfigError, match='"vae": {'):
        ExperimentConfig.from_dict({"vae_overrides": [["units", 16]]})


@pytest.mark.parametrize("changes, message", [
    ({"train": {"mode": "baseline"}}, "train.mode is set for each run"),
    ({"vae.num_classes": 3}, "vae.num_classes is set for each run"),
    ({"train": {"regulator": {"epochs": 3}}}, "train.regulator is set for each run"),
    ({"regulator": {"nope": 1}}, r"unknown RegulatorConfig settings \['nope'\]"),
    ({"nope": 1}, r"unknown ExperimentConfig settings \['nope'\]"),
])
def test_experiment_config_refuses_unknown_and_per_run_settings(changes, message):
    from jaxpelsvae.experiments.config import preset

    with pytest.raises(ConfigError, match=message):
        preset("tiny").replace(**changes)


def test_generic_from_dict_roundtrips_every_frozen_config():
    from jaxpelsvae.config import from_dict, to_dict
    from jaxpelsvae.models.vae import VAEConfig
    from jaxpelsvae.period.search import PeriodConfig
    from jaxpelsvae.physics.latent import LatentConfig
    from jaxpelsvae.train.classifier import TrainConfig
    from jaxpelsvae.selfreg.state import RegulatorConfig

    for cfg in (TrainConfig(classifier="folded", view_overrides={"bins": 32},
                            regulator=RegulatorConfig(proportion_range=(4, 9), epochs=3)),
                VAEConfig(units=16), LatentConfig(hidden=(8, 8)), PeriodConfig(double_classes=("ECL", "RRLYR")),
                ShiftConfig(scenario="snr", snr_threshold=3.0)):
        d = json.loads(json.dumps(to_dict(cfg)))
        assert from_dict(type(cfg), d) == cfg
    assert to_dict(TrainConfig(view_overrides={"bins": 32}))["view_overrides"] == {"bins": 32}
    with pytest.raises(ConfigError, match=r"unknown TrainConfig settings \['lr'\]"):
        from_dict(TrainConfig, {"lr": 0.1})


def test_experiment_cli_options_set_the_nested_configs(tmp_path):
    from jaxpelsvae.cli import build_parser
    from jaxpelsvae.cli.experiment import config_from_args
    from jaxpelsvae.experiments.config import preset

    args = build_parser().parse_args([
        "experiment", str(tmp_path), "--preset", "small", "--epochs", "7", "--vae-epochs", "3", "--loss", "nll",
        "--ranking", "CCR", "--regulator", "decay_parameter_2=0.4", "--regulator", "proportion_range=[2,5]",
        "--classifier", "cnn", "--no-augment", "--synthetic-periods", "true",
    ])
    cfg, _ = config_from_args(args)
    small = preset("small")
    assert (cfg.regulator.epochs, cfg.regulator.ranking_method, cfg.regulator.decay_parameter_2) == (7, "CCR", 0.4)
    assert cfg.regulator.proportion_range == (2, 5) and cfg.regulator.patience == small.regulator.patience
    assert cfg.vae_train.epochs == 3 and cfg.vae_train.batch_size == small.vae_train.batch_size
    assert cfg.train.loss == "nll" and cfg.train.synthetic_periods == "true" and cfg.train.batch_size == 64
    assert cfg.classifiers == ("cnn",) and not cfg.augment and cfg.vae == small.vae
    run = cfg.train_config(50, "selfreg")
    assert run.regulator == cfg.regulator and run.seq_length == 50 and run.resample_pairs and not run.augment


# ------------------------------------------------------------------------------------ pipeline stages


def test_fitting_periods_searches_within_class_limits_and_drops_or_refuses_the_rest():
    from jaxpelsvae.pipeline import fitting_periods

    rng = np.random.default_rng(0)
    t = np.sort(rng.uniform(0, 60, 80))
    lcs = LightCurveSet.from_arrays(
        ["a", "b", "c"], [t, t, t[:3]],
        [15 + 0.3 * np.sin(2 * np.pi * t / 0.6), 15 + 0.3 * np.sin(2 * np.pi * t / 0.9), np.full(3, 15.0)],
        [np.full(80, 0.01), np.full(80, 0.01), np.full(3, 0.01)],
        star_class=["RRLYR", "RRLYR", "CEP"], period=[np.nan, 0.9, np.nan])
    with pytest.raises(DataError, match=r"survey: no period found for 1 stars, e.g. 'c'"):
        fitting_periods(lcs, source="survey")
    kept, info = fitting_periods(lcs, drop_missing=True)
    assert list(kept.ids) == ["a", "b"] and info == {"n_searched": 1, "n_dropped": 1}
    assert kept.periods[0] == pytest.approx(0.6, rel=1e-2) and kept.periods[1] == 0.9  # the catalogue's, as given


def test_encode_draws_each_part_from_its_own_stream(toy):
    from jaxpelsvae.pipeline import encode
    from jaxpelsvae.seeds import ENCODE_STREAMS
    from jaxpelsvae.train.classifier import TrainConfig, view_inputs

    cfg = TrainConfig(seq_length=16)
    val, again, test = encode(toy, cfg, 0, "val"), encode(toy, cfg, 0, "val"), encode(toy, cfg, 0, "test")
    np.testing.assert_array_equal(val.x, again.x)
    np.testing.assert_array_equal(val.x, view_inputs(toy, cfg, 0, ENCODE_STREAMS["val"]))
    assert not np.array_equal(val.x, test.x)
    np.testing.assert_array_equal(val.y_N, toy.labels)
    # labels follow the classes asked for (a test set of another survey: the training classes)
    flipped = encode(toy, cfg, 0, "val", classes=toy.classes[::-1])
    np.testing.assert_array_equal(flipped.y_N, len(toy.classes) - 1 - toy.labels)


def test_json_safe_gives_strict_json_and_json_default_keeps_nan():
    from pathlib import Path

    from jaxpelsvae.json_io import json_default, json_safe

    tree = {1: (np.float32(0.5), np.int64(3), np.bool_(True)), "a": np.array([[1.0, np.nan]]),
            "p": Path("x") / "y", "inf": float("inf")}
    out = json_safe(tree)
    assert out == {"1": [0.5, 3, True], "a": [[1.0, None]], "p": str(Path("x") / "y"), "inf": None}
    assert json.loads(json.dumps(out, allow_nan=False)) == out
    assert json.dumps({"v": np.float64(np.nan), "a": np.arange(2)}, default=json_default) == '{"v": NaN, "a": [0, 1]}'
    with pytest.raises(TypeError):
        json.dumps({"s": {1}}, default=json_default)


# report.json `config` / to_dict() of the tiny preset as the flat ExperimentConfig wrote it.
_FLAT_TINY = (
    '{"preset": "tiny", "shift": {"scenario": "hardness", "temperature": 1.0, "in_sample": false, "max_depth": 12, '
    '"n_estimators": 20, "n_folds": 5, "test_fraction": 0.3, "snr_threshold": null, "seq_length": null}, "seeds": 1, '
    '"modes": ["baseline", "selfreg"], "seq_length": null, "seq_length_quantile": 0.25, "sample_size": null, '
    '"max_stars": 150, "val_fraction": 0.3, "redraw_per_seed": false, "quality_cuts": false, "quality_cuts_test": false, '
    '"snr_threshold": 4.0, "epochs": 2, "patience": 2, "learning_rate": 0.001, "layers": 2, "batch_size": 32, '
    '"loss": "focal", "focal_gamma": 2.0, "ranking_method": "proportion", "synthetic_samples_by_class": 8, "eps": 0.15, '
    '"repetitions": 1, "n_oversampling": 1, "synthetic_batch_size": 128, "regulator_overrides": {}, '
    '"resample_pairs": false, "vae_epochs": 2, "vae_patience": 2, "vae_train_overrides": {}, "vae_max_stars": null, '
    '"vae_overrides": {"latent_dim": 4, "levels": 7, "residual_init": "identity", "units": 8}, '
    '"generator_overrides": {"capacity_multiple": 16}, "priors_overrides": {"max_iter": 100}, '
    '"latent_overrides": {"max_epochs": 20, "model": "mlp", "patience": 5, "rf_trees": 20}, "period_overrides": {}, '
    '"vmap_seeds": false, "classifiers": ["cnn"], "view_overrides": {}, "backbone_overrides": {}, "augment": false, '
    '"synthetic_periods": "found", "donors": null, "donor_copies": 4, "transductive_donors": false, "figures": true, '
    '"progress": false}'
)


def test_a_flat_config_file_of_earlier_versions_loads_as_the_same_config(tmp_path):
    from jaxpelsvae.experiments.config import ExperimentConfig, preset
    from jaxpelsvae.experiments.configs import load_config

    path = tmp_path / "flat.json"
    path.write_text(_FLAT_TINY)
    assert load_config(path, base=ExperimentConfig()) == preset("tiny")
