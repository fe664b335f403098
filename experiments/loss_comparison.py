"""Loss comparison: focal, weighted cross-entropy, NLL, unweighted cross-entropy for the baseline (paper table T7)."""
from jaxpelsvae.experiments.config_files import Sweep


def get_config() -> Sweep:
    return Sweep(
        name="loss_comparison",
        setting="train.loss",
        values=("focal", "cross_entropy", "nll", "unweighted_cross_entropy"),
        description=(
            "Baseline training with each classifier loss (class weights alpha = sqrt of the balanced weight). "
            "Paper (oneloss): weighted CE 0.576, NLL 0.565, focal 0.567, unweighted CE 0.550."
        ),
        changes=(("modes", ("baseline",)),),
    )
