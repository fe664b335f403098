"""jaxpelsvae.experiments.config_files: sweep files and config files of earlier versions."""
from __future__ import annotations

import json

import pytest


@pytest.mark.parametrize("name", ["bias_temperature", "snr_sweep", "seq_length_sweep", "policy_comparison", "loss_comparison"])
def test_scenario_configs_load_and_expand(name):
    from pathlib import Path

    from jaxpelsvae.config import get
    from jaxpelsvae.experiments.config import ExperimentConfig, preset
    from jaxpelsvae.experiments.config_files import Sweep, load_config

    path = Path(__file__).resolve().parents[2] / "experiments" / f"{name}.py"
    sweep = load_config(path)
    assert isinstance(sweep, Sweep) and len(sweep.values) >= 2
    configs = sweep.configs(preset("small"))
    assert len(configs) == len(sweep.values)
    for value, cfg in configs:
        assert isinstance(cfg, ExperimentConfig)
        assert get(cfg, sweep.setting) == value
    assert ExperimentConfig.from_dict(json.loads(json.dumps(configs[0][1].to_dict()))) == configs[0][1]


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
    from jaxpelsvae.experiments.config_files import load_config

    path = tmp_path / "flat.json"
    path.write_text(_FLAT_TINY)
    # The earlier file states the default of its day, "found", which is no longer the default "auto".
    expected = preset("tiny").replace(progress=False, **{"train.synthetic_periods": "found"})
    assert load_config(path, base=ExperimentConfig()) == expected


def test_noisy_target_config_sets_the_multifold_view():
    from pathlib import Path

    from jaxpelsvae.experiments.config import preset
    from jaxpelsvae.experiments.config_files import load_config
    from jaxpelsvae.views import registry

    cfg = load_config(Path(__file__).resolve().parents[2] / "experiments" / "noisy_target.py", base=preset("small"))
    assert cfg.classifiers == ("multifold",)
    tcfg = cfg.train_config(seq_length=64, mode="selfreg")
    assert dict(tcfg.view_overrides) == {"amplitude": False, "noise": 1.0}
    view_cfg = registry.view_config("multifold", **dict(tcfg.view_overrides))
    assert view_cfg.amplitude is False and view_cfg.noise == 1.0


def test_a_config_file_importing_the_earlier_module_name_gets_a_message_naming_the_new_one(tmp_path):
    from jaxpelsvae.errors import ConfigError
    from jaxpelsvae.experiments.config_files import load_config

    path = tmp_path / "old.py"
    path.write_text("from jaxpelsvae.experiments.configs import Sweep\n\ndef get_config():\n    return {}\n")
    with pytest.raises(ConfigError, match="config_files"):
        load_config(path)


def test_sweep_md_gives_the_paired_difference_and_p_per_value(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from jaxpelsvae.experiments import runner
    from jaxpelsvae.experiments.config import preset
    from jaxpelsvae.experiments.config_files import Sweep, run_sweep
    from jaxpelsvae.experiments.report import paired_by_classifier, summarise_runs

    def fake_experiment(data, cfg, workdir, seed, **kwargs):
        # selfreg gains (s + 1) / 64 on seed s, scaled by the temperature: 5 seeds of one sign, p = 0.0625
        t = cfg.shift.temperature
        runs = [{"mode": m, "seed": s, "macro_f1": 0.5 + (m == "selfreg") * t * (s + 1) / 64, "roc_auc_ovo": None}
                for m in ("baseline", "selfreg") for s in range(5)]
        return SimpleNamespace(report={"config": {"classifier": "cnn"}, "runs": runs, "summary": summarise_runs(runs),
                                       "paired": paired_by_classifier(runs, "cnn")})

    monkeypatch.setattr(runner, "run_experiment", fake_experiment)
    out = run_sweep(None, Sweep("t", "shift.temperature", (1.0, 2.0)), preset("tiny"), tmp_path)
    selfreg = [r for r in out["rows"] if r["mode"] == "selfreg"]
    assert [r["paired_diff_mean"] for r in selfreg] == [pytest.approx(3 / 64), pytest.approx(6 / 64)]
    assert [r["paired_p"] for r in selfreg] == [pytest.approx(0.0625)] * 2
    assert all(r["paired_p"] is None for r in out["rows"] if r["mode"] == "baseline")
    md = (tmp_path / "sweep.md").read_text()
    assert "| paired difference | p |" in md and "| +0.094 | 0.0625 |" in md
    assert json.loads((tmp_path / "sweep.json").read_text())["rows"][1]["paired_p"] == pytest.approx(0.0625)
