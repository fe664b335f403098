"""Test set-up: 4 fake CPU devices for sharding tests (before any JAX op), shared tiny fixtures."""
from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402

jax.config.update("jax_num_cpu_devices", 4)

import atexit  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402

from jaxpelsvae import compile_cache  # noqa: E402

# One compilation cache per test session (inherited by the CLI subprocesses): tests build the same
# tiny models over and over, and a fresh folder keeps each session's timing that of a fresh clone.
if compile_cache.ENV not in os.environ:
    os.environ[compile_cache.ENV] = tempfile.mkdtemp(prefix="jaxpelsvae-xla-")
    atexit.register(shutil.rmtree, os.environ[compile_cache.ENV], ignore_errors=True)
compile_cache.enable()

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from jaxpelsvae.data.lightcurves import LightCurveSet  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
SHARED_DATA = SHARED / "data"
REFERENCE = SHARED / "reference"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real development data beside the checkout; tests that need it skip when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present")
    return SHARED_DATA


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    if not REFERENCE.is_dir():
        pytest.skip("../shared/reference is not present")
    return REFERENCE


def toy_set(n_per_class: int = 40, seed: int = 0, classes=("A", "B", "C")) -> LightCurveSet:
    """Sinusoids whose amplitude and period depend on the class, with class overlap (hard stars)."""
    rng = np.random.default_rng(seed)
    ids, times, mags, errs, cls, per = [], [], [], [], [], []
    for k, c in enumerate(classes):
        for i in range(n_per_class):
            n = int(rng.integers(30, 60))
            t = np.sort(rng.uniform(0, 200, n))
            p = 10 ** rng.normal(-0.3 + 0.4 * k, 0.25)
            amp = np.exp(rng.normal(np.log(0.1 + 0.15 * k), 0.5))
            ids.append(f"{c}-{i}")
            times.append(t)
            mags.append(15 + amp * np.sin(2 * np.pi * t / p) + rng.normal(0, 0.02, n))
            errs.append(rng.uniform(0.015, 0.025, n))
            cls.append(c)
            per.append(p)
    return LightCurveSet.from_arrays(ids, times, mags, errs, star_class=cls, period=per)


@pytest.fixture(scope="session")
def make_toy_set():
    """The toy-set factory, for tests that need their own classes or sizes."""
    return toy_set


@pytest.fixture(scope="session")
def toy():
    """Three overlapping classes of sinusoids, 40 stars each."""
    return toy_set()


def tiny_generator(lcs: LightCurveSet, seq_length: int = 32):
    """A generator fitted in seconds on `lcs` (an untrained tiny VAE, a small MLP latent model), its
    curves encoded at `seq_length`: for tests of what is built around a generator, never of its
    curves' quality."""
    from flax import nnx

    from jaxpelsvae.models.vae import PelsVAE, VAEConfig
    from jaxpelsvae.physics.latent import LatentConfig
    from jaxpelsvae.physics.priors import PriorConfig
    from jaxpelsvae.synth.fit import fit_generator
    from jaxpelsvae.synth.generator import GeneratorConfig
    from jaxpelsvae.train.vae_train import LoadedVAE

    cfg = VAEConfig(latent_dim=2, units=8, levels=7, kernel_size=4, num_classes=len(lcs.classes), phys_dim=0)
    vae = LoadedVAE(PelsVAE(cfg, rngs=nnx.Rngs(0)), cfg, None, tuple(lcs.classes), {})
    return fit_generator(
        lcs, vae,
        priors_config=PriorConfig(max_iter=100, truncate=True),
        latent_config=LatentConfig(model="mlp", rf_trees=4, max_epochs=5, hidden=(8,)),
        config=GeneratorConfig(seq_length=seq_length, capacity_multiple=32, donor_max_len=64),
    )


@pytest.fixture(scope="session")
def make_tiny_generator():
    """The tiny-generator factory: `make_tiny_generator(lcs)` fits one on `lcs`."""
    return tiny_generator
