"""One physical-parameter schema: the VAE inputs and the priors read every alias the same way."""
import numpy as np
import pandas as pd
import pytest

from jaxpelsvae.models.vae_inputs import DEFAULT_PHYS, physical_parameters
from jaxpelsvae.physics import schema
from jaxpelsvae.physics.priors import DEFAULT_LOG10_PARAMS, DEFAULT_PARAMS, YAML_KEYS, find_column, physics_table

ALL_ALIASES = [(name, alias) for name, p in schema.SCHEMA.items() for alias in p.aliases]


def test_defaults_come_from_the_schema():
    assert DEFAULT_PHYS == DEFAULT_PARAMS == tuple(schema.SCHEMA)
    assert DEFAULT_LOG10_PARAMS == ("period", "teff", "radius")
    assert set(YAML_KEYS.values()) == set(schema.SCHEMA)


@pytest.mark.parametrize("name,alias", ALL_ALIASES)
def test_vae_inputs_and_priors_resolve_every_alias_alike(name, alias):
    values = np.array([2.0, 5.0, 40.0])
    meta = pd.DataFrame({"id": ["a", "b", "c"], alias: values})
    assert schema.canonical_name(alias) == name
    vae = physical_parameters(meta, np.zeros(3, int), [name], strict=True)
    assert vae.columns == (alias,) and find_column(meta, name) == alias
    log10 = name in DEFAULT_LOG10_PARAMS
    assert vae.transforms == (("log10" if log10 else "none"),) == (schema.transform_of(name),)
    prior = physics_table(meta, (name,), DEFAULT_LOG10_PARAMS if log10 else ())
    np.testing.assert_allclose(vae.values[:, 0], prior[:, 0], rtol=0, atol=0)
    np.testing.assert_allclose(prior[:, 0], np.log10(values) if log10 else values)


@pytest.mark.parametrize("column,name", [("teff_gspphot", "teff"), ("mh_gspphot", "feh"),
                                         ("radius_gspphot", "radius"), ("logg_gspphot", "logg"),
                                         ("teff_val", "teff"), ("radius_val", "radius"),
                                         ("[Fe/H]_J95", "feh"), ("abs_Gmag", "abs_gmag")])
def test_survey_columns_reach_the_priors(column, name):
    """Gaia DR3 / DR2 and OGLE spellings are physics for the priors too (DR3 ones were not)."""
    meta = pd.DataFrame({"id": ["a", "b"], column: [3.0, 4.0]})
    x = physics_table(meta)
    j = DEFAULT_PARAMS.index(name)
    assert np.isfinite(x[:, j]).all()
    assert np.isnan(np.delete(x, j, axis=1)).all()


def test_exact_spelling_beats_case_insensitive_and_literal_columns_pass_through():
    meta = pd.DataFrame({"id": ["a"], "TEFF": [1.0], "teff_val": [2.0], "my_col": [3.0]})
    # exact matches are tried first, in alias order: teff_val precedes TEFF
    assert schema.resolve_column(meta.columns, "teff") == "teff_val"
    assert find_column(meta, "teff") == physical_parameters(meta, np.zeros(1, int), ["teff"]).columns[0]
    assert schema.resolve_column(meta.columns, "my_col") == "my_col"
    assert schema.transform_of("my_col") == "none"
    assert schema.canonical_name("my_col") is None
