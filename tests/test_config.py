"""jaxpelsvae.config: one generic to_dict / from_dict for every frozen config."""
from __future__ import annotations

import json
import re
import types

import pytest

from jaxpelsvae.data.shift import ShiftConfig
from jaxpelsvae.errors import ConfigError


def test_generic_from_dict_roundtrips_every_frozen_config():
    from jaxpelsvae.config import from_dict, to_dict
    from jaxpelsvae.models.vae import VAEConfig
    from jaxpelsvae.period.search import PeriodConfig
    from jaxpelsvae.physics.latent import LatentConfig
    from jaxpelsvae.selfreg.state import RegulatorConfig
    from jaxpelsvae.train.classifier import TrainConfig

    for cfg in (TrainConfig(classifier="folded", view_overrides={"bins": 32},
                            regulator=RegulatorConfig(proportion_range=(4, 9), epochs=3)),
                VAEConfig(units=16), LatentConfig(hidden=(8, 8)), PeriodConfig(double_classes=("ECL", "RRLYR")),
                ShiftConfig(scenario="random", test_fraction=0.4)):
        d = json.loads(json.dumps(to_dict(cfg)))
        assert from_dict(type(cfg), d) == cfg
    assert to_dict(TrainConfig(view_overrides={"bins": 32}))["view_overrides"] == {"bins": 32}
    with pytest.raises(ConfigError, match=r"unknown TrainConfig settings \['lr'\]"):
        from_dict(TrainConfig, {"lr": 0.1})



@pytest.mark.parametrize("name, field, label", [("VAEConfig", "units", "VAEConfig."),
                                                ("PeriodConfig", "chunk", "PeriodConfig: "),
                                                ("RegulatorConfig", "epochs", ""),
                                                ("TrainConfig", "eval_batch_size", "")])
def test_configs_share_one_check_of_counts_and_sizes(name, field, label):
    from jaxpelsvae.models.vae import VAEConfig
    from jaxpelsvae.period.search import PeriodConfig
    from jaxpelsvae.selfreg.state import RegulatorConfig
    from jaxpelsvae.train.classifier import TrainConfig

    cls = {"VAEConfig": VAEConfig, "PeriodConfig": PeriodConfig, "RegulatorConfig": RegulatorConfig,
           "TrainConfig": TrainConfig}[name]
    with pytest.raises(ConfigError, match=f"^{re.escape(label)}{field} must be >= 1, got 0$"):
        cls(**{field: 0})


def test_require_positive_names_the_first_field_below_one():
    from jaxpelsvae.config import require_positive

    require_positive(types.SimpleNamespace(a=1, b=3), ("a", "b"))
    with pytest.raises(ConfigError, match=r"^Box\.b must be >= 1, got 0$"):
        require_positive(types.SimpleNamespace(a=2, b=0, c=-1), ("a", "b", "c"), label="Box.")
