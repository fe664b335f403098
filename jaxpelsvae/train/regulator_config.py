"""`RegulatorConfig`: the self-regulation settings a `TrainConfig` carries (their meaning: `selfreg.state`).

Defined below `jaxpelsvae.selfreg` so that configuring and training a baseline classifier needs none of it.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from jaxpelsvae import config as config_io
from jaxpelsvae.errors import ConfigError

RANKING_METHODS = ("CCR", "max_confusion", "proportion", "max_pairwise_confusion", "no_priority")


@dataclasses.dataclass(frozen=True)
class RegulatorConfig:
    """Settings of the self-regulation policy; defaults are the original's ``nn_config.yaml``."""

    ranking_method: str = "proportion"
    synthetic_samples_by_class: int = 64  # n per class for no_priority and the penalisation rule
    threshold_acc_synthetic: float = 0.74  # regenerate when accuracy on the synthetic set exceeds it
    max_synthetic_age: int = 7  # a synthetic set is used for at most this many epochs
    decay_parameter_1: float = 0.77  # d1 of b_e = d1 + (1 − d1)·exp(−d2·e)
    decay_parameter_2: float = 0.6  # d2
    beta_initial: float = 1.0  # b of the first synthetic set
    patience: int = 10  # early stopping: epochs without a better validation loss
    epochs: int = 500  # maximum number of epochs
    repetitions: int = 1  # synthetic passes per epoch
    scaling_factor: float = 0.75  # learning rate of the synthetic optimiser = scaling_factor × lr
    eps: float = 0.15  # fraction of parameters reserved for synthetic updates (mask rule)
    n_oversampling: int = 10  # subsequences drawn per synthetic curve (generator setting)
    penalisation_factor: float = 1.25  # first class gets n·1.25, each next one n·r/1.25 while r > 0.5
    proportion_range: tuple[int, int] = (8, 24)  # `proportion` counts scaled to this range
    no_priority_epochs: int = 2  # creations at epochs < this use equal counts
    weight_synthetic_f1: float = 0.15  # weighted_f1 = w·f1_syn + (1 − w)·f1_val (logged only)
    # Whether synthetic passes fold their batches into BatchNorm's running statistics (the original
    # does). False: only real passes do, so evaluation normalises real curves with statistics of
    # real curves, not of a mix with the generator's near-class-average ones.
    synthetic_statistics: bool = False
    # Where in a class the synthetic curves come from (a posterior-mode generator): a training star
    # the classifier gets wrong or barely right is drawn up to 1 + focus times as often as one it
    # gets right with confidence (`selfreg.focus`). 0: every training star of a class alike.
    focus: float = 0.0
    # Whether the synthetic pass also updates the output layer's bias, which the EPS rule gives to the
    # real pass alone (every bias of a dense layer is real-only). With a class that has few or no real
    # training stars, the real pass pushes that class's output bias down at every step and the
    # synthetic curves of the class cannot push it back. False: the original's disjoint subsets.
    synthetic_output_bias: bool = False

    def __post_init__(self):
        if self.ranking_method not in RANKING_METHODS:
            raise ConfigError(
                f"ranking_method {self.ranking_method!r} is not one of {', '.join(RANKING_METHODS)}"
            )
        config_io.require_positive(self, ("synthetic_samples_by_class", "max_synthetic_age", "patience", "epochs",
                                          "repetitions"))
        if not 0.0 <= self.eps < 1.0:
            raise ConfigError(f"eps must lie in [0, 1), got {self.eps}")
        if self.scaling_factor <= 0 or self.beta_initial <= 0:
            raise ConfigError("scaling_factor and beta_initial must be positive")
        lo, hi = self.proportion_range
        if not 0 <= lo <= hi:
            raise ConfigError(f"proportion_range must be 0 <= lo <= hi, got {self.proportion_range}")
        if self.penalisation_factor <= 0:
            raise ConfigError("penalisation_factor must be positive")
        if not self.focus >= 0:
            raise ConfigError(f"focus must be >= 0, got {self.focus}")

    def to_dict(self) -> dict[str, Any]:
        return config_io.to_dict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RegulatorConfig":
        return config_io.from_dict(cls, d)
