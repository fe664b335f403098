"""The command line's persistent compilation cache: where it goes, how it is turned off, and that a loaded program gives the compiled one's numbers."""
from __future__ import annotations

import subprocess
import sys

import jax
import numpy as np

from jaxpelsvae import compile_cache


def test_off_leaves_jax_alone(monkeypatch):
    before = jax.config.jax_compilation_cache_dir
    monkeypatch.setenv(compile_cache.ENV, "off")
    assert compile_cache.enable() is None
    assert jax.config.jax_compilation_cache_dir == before


def test_default_folder_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert compile_cache.default_dir() == tmp_path / "jaxpelsvae" / "xla"


def test_unwritable_folder_runs_without_cache(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert compile_cache.enable(blocker / "xla") is None  # a folder under a file cannot exist


_PROGRAM = """
import sys, jax, jax.numpy as jnp, numpy as np
from jaxpelsvae import compile_cache
assert compile_cache.enable(sys.argv[1]) is not None
x = jnp.asarray(np.random.default_rng(0).normal(size=(32, 32)), jnp.float32)
y = jax.jit(lambda a: jnp.tanh(a @ a.T).sum(0))(x)
np.save(sys.argv[2], np.asarray(y))
"""


def test_second_process_loads_the_program_with_the_same_numbers(tmp_path):
    cache = tmp_path / "xla"
    for name in ("first", "second"):
        subprocess.run([sys.executable, "-c", _PROGRAM, str(cache), str(tmp_path / f"{name}.npy")], check=True)
        if name == "first":
            assert any(cache.iterdir()), "the first process wrote no cache entry"
    np.testing.assert_array_equal(np.load(tmp_path / "first.npy"), np.load(tmp_path / "second.npy"))
