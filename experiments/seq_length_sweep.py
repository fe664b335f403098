"""Sequence-length sweep: L = 50, 100, 150, 200 (Δt, Δm) pairs with the original cuts at SNR 6 (paper table T5)."""
from jaxpelsvae.experiments.config_files import Sweep


def get_config() -> Sweep:
    return Sweep(
        name="seq_length_sweep",
        setting="seq_length",
        values=(50, 100, 150, 200),
        description=(
            "The classifier sees L pairs per curve; the original cuts keep training stars with more than L "
            "points and SNR > 6. Paper (Bias 2, SNR 6): macro-F1 0.53/0.56/0.55/0.56 (baseline) vs "
            "0.53/0.56/0.57/0.57 (self-regulated). On sparse surveys (Gaia) use smaller values."
        ),
        changes=(("quality_cuts", True), ("snr_threshold", 6.0)),
    )
