"""jaxpelsvae: self-regulated CNN classification of periodic variable stars with a PELS-VAE, in JAX."""
from __future__ import annotations

__version__ = "0.1.0"
