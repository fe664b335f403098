"""jaxpelsvae.models.vae_inputs: physical parameters (aliases, logs, imputation) as the VAE reads them."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from jaxpelsvae.errors import ConfigError
from jaxpelsvae.models.vae_inputs import PhysScaler, physical_parameters


def test_physical_parameters_aliases_logs_and_imputation():
    meta = pd.DataFrame({
        "id": list("abcdef"),
        "class": ["X", "X", "X", "Y", "Y", "Y"],
        "Period": [1.0, 10.0, 100.0, 0.5, 0.5, 0.5],
        "teff_val": [5000.0, np.nan, 7000.0, 4000.0, np.nan, np.nan],
        "abs_Gmag": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
    })
    labels = np.array([0, 0, 0, 1, 1, 1])
    table = physical_parameters(meta, labels, ("period", "teff", "abs_gmag", "logg"))
    assert table.names == ("period", "teff", "abs_gmag") and "logg" in table.dropped
    assert table.columns == ("Period", "teff_val", "abs_Gmag")
    np.testing.assert_allclose(table.values[:3, 0], [0.0, 1.0, 2.0])  # log10 period
    teff = table.values[:, 1]
    np.testing.assert_allclose(teff[1], np.median(np.log10([5000.0, 7000.0])))  # class-X median
    np.testing.assert_allclose(teff[4:], np.log10(4000.0))  # class-Y median
    assert table.imputed == {"period": 0, "teff": 3, "abs_gmag": 0}
    with pytest.raises(ConfigError, match="logg"):
        physical_parameters(meta, labels, ("period", "logg"), strict=True)
    scaler = PhysScaler.fit(table.values, table.names)
    scaled = scaler.transform(table.values)
    assert scaled.min() == 0.0 and scaled.max() == 1.0
    np.testing.assert_allclose(scaler.inverse_transform(scaled), table.values, rtol=1e-6, atol=1e-6)
    assert PhysScaler.from_dict(json.loads(json.dumps(scaler.to_dict()))) == scaler
