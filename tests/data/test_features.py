"""jaxpelsvae.data.features: the feature table (period, amplitude, moments, Fourier terms) of the forest and the hardness."""
from __future__ import annotations

import numpy as np
import pytest

from jaxpelsvae.data.features import FEATURE_NAMES, MISSING, light_curve_features
from jaxpelsvae.data.lightcurves import LightCurveSet


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
