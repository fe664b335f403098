"""XLA's persistent compilation cache for the command line: a program compiled once is loaded, not compiled again.

Every run of an experiment builds its steps, passes and views afresh (new closures over its own
config), and XLA:CPU spends seconds compiling each: on a small data set compiling is most of a
run's time. With the cache on, the second seed of a mode, the other mode's evaluation passes and
any later command load the same programs from disk. A loaded program is the compiled one, so
results are the same bit for bit with or without the cache.

The command line turns it on (`enable`); library users keep control of their own JAX settings and
call `enable` themselves if they want it. ``JAXPELSVAE_XLA_CACHE`` sets the folder, or "off".
"""
from __future__ import annotations

import os
from pathlib import Path

ENV = "JAXPELSVAE_XLA_CACHE"
# Bounds the folder (least recently used programs go first) where filelock is installed.
MAX_BYTES = 2 * 1024**3


def default_dir() -> Path:
    """``$XDG_CACHE_HOME/jaxpelsvae/xla`` (``~/.cache/jaxpelsvae/xla``)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "jaxpelsvae" / "xla"


def enable(path: str | Path | None = None) -> Path | None:
    """Turn the cache on in ``path`` (default: ``$JAXPELSVAE_XLA_CACHE``, else `default_dir`);
    returns the folder, or None when the variable says "off" or the folder cannot be written."""
    import jax

    setting = os.environ.get(ENV, "").strip()
    if path is None and setting.lower() in ("off", "0", "false", "no"):
        return None
    folder = Path(path or setting or default_dir()).expanduser().absolute()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None  # an unwritable cache only costs time: run without it
    if not os.access(folder, os.W_OK):
        return None
    jax.config.update("jax_compilation_cache_dir", str(folder))
    # Small programs too: XLA:CPU takes 0.1-1 s even for an evaluation pass, and there are dozens.
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    try:  # JAX bounds the folder only with filelock installed; without it the folder just grows
        import filelock  # noqa: F401

        jax.config.update("jax_compilation_cache_max_size", MAX_BYTES)
    except ImportError:
        pass
    return folder
