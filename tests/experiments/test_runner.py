"""jaxpelsvae.experiments.runner: nothing fitted on validation or test stars, seeds redraw what they
say, test-pool cuts on request, regulator settings reach the runs, and a tiny run end to end."""
from __future__ import annotations

import json
import numpy as np
import pandas as pd
import pytest

from jaxpelsvae.data.shift import ShiftConfig
from jaxpelsvae.errors import ConfigError
from jaxpelsvae.experiments import runner
from jaxpelsvae.experiments.config import preset
from jaxpelsvae.experiments.report import validate_report

def _config(**changes):
    base = preset("tiny").replace(shift=ShiftConfig(scenario="random", test_fraction=0.3), figures=False, seeds=2)
    return base.replace(**changes)


def _parts(workdir) -> dict[str, set[str]]:
    split = pd.read_csv(workdir / "split.csv", dtype=str)
    return {p: set(split.loc[split["part"] == p, "id"]) for p in ("train", "val", "test")}


# ------------------------------------------------------------------------------------ item: leaks


def test_nothing_is_fitted_on_validation_or_test_stars(survey, trained, tmp_path, monkeypatch):
    seen = {}

    def spy_vae_generator(train_set, config, seed, workdir):
        seen["vae_generator"] = set(train_set.ids)
        return object(), {}  # a generator the recorded runs never call

    def spy_realism(generator, real, train_set, config, seed):
        judged["realism"] = set(real.ids)
        return {}, None

    choose = runner.choose_seq_length

    def spy_choose(lcs, **kw):
        seen["seq_length"] = set(lcs.ids)
        return choose(lcs, **kw)

    def spy_figures(report, workdir, generator, pool, *args):
        seen["figures"] = set(pool.ids)
        return []

    judged = {}
    monkeypatch.setattr(runner, "realism", spy_realism)
    monkeypatch.setattr(runner, "choose_seq_length", spy_choose)
    monkeypatch.setattr(runner, "_figures", spy_figures)
    result = runner.run_experiment(survey, _config(figures=True), tmp_path, seed=0, vae_generator_fn=spy_vae_generator)
    val, test = set(result.splits["val"].ids), set(result.splits["test"].ids)
    assert val and test
    for stage, ids in seen.items():
        assert ids, stage
        assert not ids & val, f"{stage} saw validation stars"
        assert not ids & test, f"{stage} saw test stars"
    # every run trained on train-part stars only, and split.csv says which stars each part holds
    parts = _parts(tmp_path)
    assert parts["val"] == val and parts["test"] == test and not parts["train"] & (val | test)
    assert seen["vae_generator"] <= parts["train"]
    assert judged["realism"] == val  # the generator's realism is judged on stars it never saw


@pytest.mark.parametrize("before", [True, False])
def test_generator_before_cuts_fits_on_the_uncut_train_part_only(survey, trained, tmp_path, monkeypatch, before):
    seen = {}

    def spy_vae_generator(train_set, config, seed, workdir):
        seen["ids"] = set(train_set.ids)
        return object(), {}

    monkeypatch.setattr(runner, "realism", lambda *a: ({}, None))
    cfg = _config(modes=("selfreg",), seeds=1, seq_length=40, snr_threshold=8.0, quality_cuts=True,
                  generator_before_cuts=before)
    result = runner.run_experiment(survey, cfg, tmp_path, seed=0, vae_generator_fn=spy_vae_generator)
    cut_ids = set(pd.read_csv(tmp_path / "quality_cuts" / "rejected.csv", dtype=str)["id"])
    train, val, test = (set(result.splits[p].ids) for p in ("train", "val", "test"))
    assert cut_ids - val  # the cuts removed train-part stars
    assert not seen["ids"] & (val | test)  # never a validation or test star, cut or not
    fitted_on = result.report["generator"]["fitted_on"]
    if before:
        assert seen["ids"] > train and seen["ids"] - train <= cut_ids
        assert fitted_on["before_quality_cuts"] and fitted_on["n_cut_stars"] == len(seen["ids"] - train) > 0
        assert "before the quality cuts" in (tmp_path / "report.md").read_text()
    else:
        assert seen["ids"] == train and not fitted_on["before_quality_cuts"]


# ------------------------------------------------------------------------------------ item: seeds


@pytest.mark.parametrize("redraw", [True, False])
def test_redraw_per_seed_draws_each_seed_its_own_subsample_and_pairs(survey, trained, tmp_path, redraw):
    # resample_pairs hands the training curves themselves to the run, so their ids can be compared.
    cfg = _config(modes=("baseline", "selfreg"), sample_size=40, redraw_per_seed=redraw, resample_pairs=True)
    result = runner.run_experiment(survey, cfg, tmp_path, seed=3, vae_generator_fn=lambda *a: (None, {}))
    by_run = {(c.mode, c.seed): c for c in trained}
    assert sorted(by_run) == [("baseline", 3), ("baseline", 4), ("selfreg", 3), ("selfreg", 4)]
    parts = _parts(tmp_path)
    first, second = by_run["baseline", 3], by_run["baseline", 4]
    for c in trained:
        assert set(c.train_set.ids) <= parts["train"] and len(c.train_set) < len(parts["train"])
    if redraw:
        assert set(first.train_set.ids) != set(second.train_set.ids)
        assert not np.array_equal(first.x_train, second.x_train)
    else:
        assert list(first.train_set.ids) == list(second.train_set.ids)
        np.testing.assert_array_equal(first.x_train, second.x_train)
    # both modes of one seed train on the same draw (paired comparison)
    for s in (3, 4):
        assert list(by_run["baseline", s].train_set.ids) == list(by_run["selfreg", s].train_set.ids)
        np.testing.assert_array_equal(by_run["baseline", s].x_train, by_run["selfreg", s].x_train)
    digests = {r["seed"]: r["train_ids_digest"] for r in result.report["runs"]}
    assert (digests[3] != digests[4]) == redraw
    sentence = result.report["split"]["seed_variation"]
    assert ("subsample" in sentence) == redraw
    assert sentence in (tmp_path / "report.md").read_text()


def test_paper_preset_redraws_and_cuts_like_the_original():
    cfg = preset("paper")
    assert cfg.redraw_per_seed and cfg.quality_cuts and cfg.quality_cuts_test and cfg.sample_size == 40_000
    assert cfg.generator_before_cuts  # the original's VAE knew a broader set than the cut pool
    for name in ("tiny", "small"):
        assert not preset(name).redraw_per_seed and not preset(name).quality_cuts_test


# ------------------------------------------------------------------------------------ item: test-pool cuts


def test_quality_cuts_test_cuts_the_test_pool_with_the_training_pool_settings(survey, trained, tmp_path):
    from jaxpelsvae.data.validate import original_cuts

    cfg = _config(modes=("baseline",), seeds=1, seq_length=40, snr_threshold=8.0, quality_cuts=True)
    plain = runner.run_experiment(survey, cfg, tmp_path / "off", seed=0)
    cut = runner.run_experiment(survey, cfg.replace(quality_cuts_test=True), tmp_path / "on", seed=0)
    test_off = plain.splits["test"]
    kept, rejected = original_cuts(test_off, seq_length=40, snr_threshold=8.0)
    assert len(rejected) > 0 and len(kept) > 0  # the data has test stars on both sides of the cuts
    assert list(cut.splits["test"].ids) == list(kept.ids)
    assert cut.report["split"]["quality_cuts_test"]["n_rejected"] == len(rejected)
    assert "quality_cuts_test" not in plain.report["split"]
    assert (tmp_path / "on" / "quality_cuts_test" / "rejected.csv").is_file()
    # the training side is cut the same way in both runs
    assert list(plain.splits["train"].ids) == list(cut.splits["train"].ids)


# ------------------------------------------------------------------------------------ item: regulator settings


def test_regulator_settings_from_a_config_file_reach_the_runs(survey, trained, tmp_path):
    from jaxpelsvae.cli import build_parser
    from jaxpelsvae.cli.experiment import config_from_args

    settings = {"decay_parameter_1": 0.7, "decay_parameter_2": 0.46, "threshold_acc_synthetic": 0.8,
                "scaling_factor": 0.5, "beta_initial": 0.9}
    path = tmp_path / "regulator.json"
    path.write_text(json.dumps({"regulator": settings, "train": {"synthetic_batch_size": 48}, "modes": ["selfreg"],
                                "seeds": 1, "figures": False}))
    args = build_parser().parse_args(["experiment", str(tmp_path), "--preset", "tiny", "--config", str(path),
                                      "--scenario", "random", "--regulator", "max_synthetic_age=5"])
    cfg, sweep = config_from_args(args)
    assert sweep is None
    result = runner.run_experiment(survey, cfg, tmp_path / "run", seed=0, vae_generator_fn=lambda *a: (None, {}))
    (call,) = trained
    reg = call.config.regulator
    for key, value in {**settings, "max_synthetic_age": 5}.items():
        assert getattr(reg, key) == value, key
    assert call.config.synthetic_batch_size == 48
    recorded = json.loads((tmp_path / "run" / "report.json").read_text())["config"]
    assert {k: recorded["train"]["regulator"][k] for k in (*settings, "max_synthetic_age")} == {**settings, "max_synthetic_age": 5}
    assert recorded["train"]["regulator"]["epochs"] == preset("tiny").regulator.epochs  # the preset's, not replaced
    assert recorded["train_config"]["selfreg"]["regulator"]["decay_parameter_2"] == 0.46
    assert result.report["config"]["train"]["synthetic_batch_size"] == 48


@pytest.mark.parametrize("overrides, message", [
    ({"decay_parameter_3": 1.0}, "unknown RegulatorConfig settings"),
    ({"scaling_factor": -1.0}, "must be positive"),
])
def test_bad_regulator_settings_are_refused_when_the_config_is_built(overrides, message):
    assert preset("tiny").replace(regulator={"decay_parameter_2": 0.5}).regulator.decay_parameter_2 == 0.5
    with pytest.raises(ConfigError, match=message):
        preset("tiny").replace(regulator=overrides)


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
    real = on_disk["generator"]["realism"]
    assert 0 <= real["auc"] <= 1 and 0 <= real["tstr_macro_f1"] <= 1 and real["n_real"] == split["n_val"]
    assert set(real["per_class"]) == set(on_disk["dataset"]["classes"])
    assert on_disk["config"]["seq_length_choice"]["automatic"] is True
    md = (workdir / "report.md").read_text()
    assert "Summary per mode" in md and "Sequence length" in md and "## Generator realism" in md
    for name in ("confusion.png", "per_class_f1.png", "macro_f1_seeds.png", "realism.png"):
        assert (workdir / "figures" / name).stat().st_size > 0
    assert (workdir / "hardness.csv").is_file() and (workdir / "rejected.csv").is_file()


def test_loop_realism_and_figures_share_one_generation_program(tiny_experiment):
    """The realism report and the figures generate in the self-regulated loop's slots: one compiled
    program for the three (XLA:CPU takes seconds per compilation)."""
    from jaxpelsvae.selfreg.policies import max_synthetic_total

    cfg = preset("tiny")
    capacity = max_synthetic_total(cfg.regulator, len(tiny_experiment.generator.classes))
    assert capacity > cfg.regulator.synthetic_samples_by_class * len(tiny_experiment.generator.classes)
    assert list(tiny_experiment.generator._compiled) == [(capacity, 1)]  # noqa: SLF001


def test_every_model_of_an_experiment_records_its_stars_and_evaluate_refuses_them(tiny_experiment, tmp_path, capsys):
    from jaxpelsvae.cli import main
    from jaxpelsvae.data.provenance import read_provenance
    from jaxpelsvae.data.readers import write_standard

    splits = tiny_experiment.splits
    fitted = {str(i) for part in ("train", "val") for i in splits[part].ids}  # the generator's: train stars
    models = sorted((tiny_experiment.workdir / "runs").glob("*/model"))
    assert [m.parent.name for m in models] == ["baseline_seed0", "selfreg_seed0"]
    for model in models:
        assert read_provenance(model) == fitted, model
    own = write_standard(splits["train"], tmp_path / "own")
    capsys.readouterr()
    assert main(["evaluate", "--model", str(models[0]), str(own), "--workdir", str(tmp_path / "eval")]) == 2
    assert f"{len(splits['train'])} of the {len(splits['train'])} stars scored are stars the classifier" in (
        capsys.readouterr().err)


def test_seed_variation_names_pairs_only_for_the_pair_cnn():
    small = preset("small")
    folded_only = runner.seed_variation(small.replace(classifiers=("multifold",)), 280, 280)
    assert "pairs" not in folded_only and "augmented training views" in folded_only
    both = runner.seed_variation(small, 280, 280)  # folded and cnn, resample_pairs and augment on
    assert "(Δt, Δm) pairs of the training curves (redrawn every epoch)" in both and "augmented" in both
    paper = runner.seed_variation(preset("paper"), 100, 400)
    assert "subsample of 100 of the 400" in paper and "augmented" not in paper


# ------------------------------------------------------------------------------------ item: the forest beside the network


def test_forest_entries_average_the_saved_network_and_forest(survey, tmp_path):
    import shutil

    from jaxpelsvae.models.forest import load_forest
    from jaxpelsvae.train.classifier import predict_saved_model

    cfg = _config(modes=("baseline",), seeds=1, classifiers=("folded",), forest=True, epochs=1)
    result = runner.run_experiment(survey, cfg, tmp_path / "run", seed=0)
    names = [r["classifier"] for r in result.report["runs"]]
    assert names == ["folded", "folded+forest"]
    model = tmp_path / "run" / "runs" / "folded_baseline_seed0" / "model"
    forest = load_forest(model / "forest")
    assert forest is not None
    test = result.splits["test"]
    both = predict_saved_model(model, test)[list(test.classes)].to_numpy()
    alone = tmp_path / "alone"
    shutil.copytree(model, alone, ignore=shutil.ignore_patterns("forest"))
    network = predict_saved_model(alone, test)[list(test.classes)].to_numpy()
    np.testing.assert_allclose(both, 0.5 * (network + forest.predict_proba(test)), atol=1e-12)
    entry = result.report["runs"][1]
    assert entry["mode"] == "baseline" and entry["seed"] == 0 and "folded+forest" in result.report["summary_by_classifier"]
    assert "**<classifier>+forest**" in (tmp_path / "run" / "report.md").read_text()  # report.md says what it is


def test_vmapped_seeds_of_a_period_aware_classifier_are_saved_like_sequential_runs(survey, tmp_path):
    """`vmap_seeds` with views drawn once: a period-aware classifier trains its seeds as one program
    (`repetitions.train_seeds`); every seed's model is saved in its run folder with its stars and
    its forest, as a sequential run's."""
    from jaxpelsvae.data.provenance import read_provenance
    from jaxpelsvae.train.classifier import read_model_info

    # the baseline: no VAE to fit (tests/selfreg/test_vmapped_views.py runs the self-regulated program)
    cfg = _config(modes=("baseline",), seeds=2, classifiers=("folded",), forest=True, epochs=1,
                  augment=False, vmap_seeds=True)
    result = runner.run_experiment(survey, cfg, tmp_path, seed=0)
    runs = result.report["runs"]
    assert validate_report(result.report) == []
    assert [(r["classifier"], r["mode"], r["seed"]) for r in runs] == [
        (c, "baseline", s) for s in (0, 1) for c in ("folded", "folded+forest")]
    assert all(r["vmapped"] for r in runs)
    fitted = {str(i) for part in ("train", "val") for i in result.splits[part].ids}
    for r in runs[::2]:
        model = tmp_path / "runs" / f"folded_{r['mode']}_seed{r['seed']}" / "model"
        info = read_model_info(model)
        assert info["best_epoch"] == r["best_epoch"] and info["seed"] == r["seed"] and info["mode"] == r["mode"]
        assert read_provenance(model) == fitted and (model / "forest").is_dir()
