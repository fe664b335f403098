"""The README's runnable snippets (a fenced block right after `<!-- snippet: NAME -->`) run as written."""
from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
MARKED = re.compile(r"<!-- snippet: ([\w-]+) -->\s*```python\n(.*?)\n```", re.S)


def snippets() -> dict[str, str]:
    """{name: code} of every marked snippet of README.md."""
    return dict(MARKED.findall(README.read_text()))


def test_the_custom_training_loop_is_marked():
    assert "custom-loop" in snippets()


@pytest.mark.parametrize("name", sorted(snippets()))
def test_snippet_runs(name, capsys):
    namespace: dict = {}
    exec(compile(snippets()[name], f"README.md snippet {name}", "exec"), namespace)  # noqa: S102
    if name == "custom-loop":  # four steps ran and gave finite numbers
        assert int(namespace["state"].step) == 4
        loss, accuracy = (float(x) for x in capsys.readouterr().out.split())
        assert math.isfinite(loss) and 0 <= accuracy <= 1
