"""Every name the package advertises at the top level resolves to a documented object."""
from __future__ import annotations

import re

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


def _documented_exports() -> set[str]:
    """The names in backquotes of the docstring's export list (its "- group: ..." bullets to the end)."""
    lines = jaxpelsvae.__doc__.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("- "))
    return set(re.findall(r"`(\w+)`", "\n".join(lines[first:])))


def test_the_docstring_lists_every_export_and_nothing_else():
    assert _documented_exports() == set(jaxpelsvae.__all__)


def test_a_custom_training_loop_needs_no_submodule_import():
    # the embedding API: views, backbones, one epoch, the generator and its batches, from the top level
    wanted = {"view_batch", "view_set", "view_synthetic", "register_classifier", "get_classifier", "Classifier",
              "FoldedCNN", "HybridCNN", "TemporalConvNet", "run_epoch", "prepare_epochs", "init_train_state",
              "encode_split", "fit_generator", "load_generator", "SynthBatch", "GeneratorConfig", "LoadedVAE"}
    assert wanted <= set(jaxpelsvae.__all__)
