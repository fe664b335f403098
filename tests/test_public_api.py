"""Every name the package advertises at the top level resolves to a documented object."""
from __future__ import annotations

import jaxpelsvae


def test_every_export_resolves_and_has_a_docstring():
    for name in jaxpelsvae.__all__:
        obj = getattr(jaxpelsvae, name)
        if callable(obj):
            assert (obj.__doc__ or "").strip(), f"{name} has no docstring"


def test_unknown_name_raises_attribute_error():
    try:
        jaxpelsvae.does_not_exist  # noqa: B018
    except AttributeError as err:
        assert "does_not_exist" in str(err)
    else:
        raise AssertionError("expected AttributeError")
