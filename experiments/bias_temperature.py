"""Bias-temperature sweep: the hardness bias at T = 1, 2, 3 (Bias 2), 4 (Bias 1), baseline vs self-regulated."""
from jaxpelsvae.experiments.config_files import Sweep


def get_config() -> Sweep:
    return Sweep(
        name="bias_temperature",
        setting="shift.temperature",
        values=(1.0, 2.0, 3.0, 4.0),
        description=(
            "Hardness-biased split (random forest on light-curve features, Gini impurity h, a star stays in "
            "training with probability exp(-T h)). Higher T sends more hard stars to the test pool. "
            "Paper: Bias 2 used T = 3, Bias 1 T = 4 (ORIGINAL.md 12.2)."
        ),
        changes=(("shift.scenario", "hardness"),),
    )
