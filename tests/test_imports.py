"""Imports run one way, data → models → train → selfreg → adaptation → prediction → pipeline → experiments → cli: no layer imports a later one."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "jaxpelsvae"
LAYERS = ("data", "models", "train", "selfreg", "adaptation", "prediction", "pipeline", "experiments", "cli")


def _sources(layer: str) -> list[Path]:
    folder = PACKAGE / layer
    return sorted(folder.glob("*.py")) if folder.is_dir() else [PACKAGE / f"{layer}.py"]


def _imported(path: Path) -> set[str]:
    """Every module path an import statement of `path` names, lazy ones inside functions included;
    ``from jaxpelsvae import selfreg`` counts as ``jaxpelsvae.selfreg``."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import of {node.module}"
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _later_layers_imported(layer: str) -> list[str]:
    later = LAYERS[LAYERS.index(layer) + 1:]
    return sorted(
        f"{path.relative_to(PACKAGE.parent)} imports {name}"
        for path in _sources(layer)
        for name in _imported(path)
        if name.split(".")[0] == "jaxpelsvae" and name.split(".")[1:2] and name.split(".")[1] in later
    )


@pytest.mark.parametrize("layer", LAYERS[:-1])
def test_no_layer_imports_a_later_one(layer):
    # e.g. train/ importing selfreg/ would make baseline training need the self-regulation package.
    assert _later_layers_imported(layer) == []

