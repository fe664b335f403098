"""Plain JSON of numpy and Python values: `json_safe` (a tree for json.dumps, non-finite floats as null) and `json_default` (json.dumps's hook)."""
from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np


def json_safe(obj: Any) -> Any:
    """`obj` with mappings as dicts (keys as text), tuples as lists, numpy (and JAX) scalars and
    arrays as Python values, paths as text and non-finite floats as None: what strict JSON
    (`allow_nan=False`) and report.json hold."""
    if isinstance(obj, Mapping):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "tolist"):  # numpy or JAX scalar or array
        return json_safe(obj.tolist())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    return obj


def json_default(obj: Any) -> Any:
    """`json.dumps(..., default=json_default)`: numpy scalars and arrays as Python values (NaN kept,
    for files that are read back by this package)."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")
