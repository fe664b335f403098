"""jaxpelsvae.json_io: strict JSON out of numpy and path trees."""
from __future__ import annotations

import json

import numpy as np
import pytest


def test_json_safe_gives_strict_json_and_json_default_keeps_nan():
    from pathlib import Path

    from jaxpelsvae.json_io import json_default, json_safe

    tree = {1: (np.float32(0.5), np.int64(3), np.bool_(True)), "a": np.array([[1.0, np.nan]]),
            "p": Path("x") / "y", "inf": float("inf")}
    out = json_safe(tree)
    assert out == {"1": [0.5, 3, True], "a": [[1.0, None]], "p": str(Path("x") / "y"), "inf": None}
    assert json.loads(json.dumps(out, allow_nan=False)) == out
    assert json.dumps({"v": np.float64(np.nan), "a": np.arange(2)}, default=json_default) == '{"v": NaN, "a": [0, 1]}'
    with pytest.raises(TypeError):
        json.dumps({"s": {1}}, default=json_default)
