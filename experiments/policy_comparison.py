"""Injection-policy comparison: the five ranking policies of the self-regulated loop (paper table T6)."""
from jaxpelsvae.experiments.config_files import Sweep


def get_config() -> Sweep:
    return Sweep(
        name="policy_comparison",
        setting="regulator.ranking_method",
        values=("CCR", "max_confusion", "max_pairwise_confusion", "no_priority", "proportion"),
        description=(
            "Self-regulated training only; the policy decides how many synthetic curves each class gets from "
            "the training confusion matrix. Paper (Bias 2, 40,000 stars): macro-F1 0.575 / 0.581 / 0.581 / "
            "0.590 / 0.577."
        ),
        changes=(("modes", ("selfreg",)),),
    )
