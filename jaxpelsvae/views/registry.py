"""Registry of classifiers: a name -> (view function + its static config, backbone constructor).

A classifier is a view (a pure function of one padded curve and its period, jitted and vmapped
here) plus a Flax NNX backbone on that view's output. A training loop needs only
`view_batch(name, curves, periods, key)` and `build_backbone(name, num_classes, rngs)`; settings
are overridden per call (`view_overrides`, backbone keyword arguments), so a registered entry
stays a default, not a global that runs mutate.
"""
from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxpelsvae.errors import ConfigError
from jaxpelsvae.views.folded import FoldedViewConfig, folded_view
from jaxpelsvae.views.hybrid import HybridViewConfig, hybrid_view
from jaxpelsvae.views.multifold import MultiFoldViewConfig, multifold_view
from jaxpelsvae.views.pairs import PairsViewConfig, pairs_view

# view(time_T, mag_T, err_T, mask_T, period, key, *, config) -> input pytree of ONE curve.
ViewFn = Callable[..., Any]
# build(num_classes, view_config, rngs=..., **overrides) -> nnx.Module mapping a batch of views to (B, K) log-probs.
BuildFn = Callable[..., nnx.Module]


@dataclasses.dataclass(frozen=True)
class Classifier:
    """One registered classifier: its view with a default static config, and its backbone factory."""

    name: str
    view: ViewFn
    view_config: Any
    build: BuildFn
    description: str = ""


def _build_cnn(num_classes, view_config: PairsViewConfig, *, rngs, **kw):
    from jaxpelsvae.models.cnn import CNN

    kw.setdefault("seq_length", view_config.length)
    return CNN(num_classes, rngs=rngs, **kw)


def _build_folded(num_classes, view_config: FoldedViewConfig, *, rngs, **kw):
    from jaxpelsvae.models.folded_cnn import FoldedCNN

    return FoldedCNN(num_classes, n_folds=len(view_config.factors), n_scalars=view_config.n_scalars, rngs=rngs, **kw)


def _build_hybrid(num_classes, view_config: HybridViewConfig, *, rngs, **kw):
    from jaxpelsvae.models.folded_cnn import HybridCNN

    fv = view_config.folded
    return HybridCNN(num_classes, n_folds=len(fv.factors), n_scalars=fv.n_scalars, rngs=rngs, **kw)


def _build_multifold(num_classes, view_config: MultiFoldViewConfig, *, rngs, **kw):
    from jaxpelsvae.models.folded_cnn import FoldedCNN

    return FoldedCNN(num_classes, n_folds=view_config.n_folds, in_channels=len(view_config.channels),
                     n_scalars=view_config.n_scalars, rngs=rngs, **kw)


_REGISTRY: dict[str, Classifier] = {}


def register(classifier: Classifier, *, replace: bool = False) -> Classifier:
    """Add a classifier under its name (ConfigError if taken, unless `replace`)."""
    if classifier.name in _REGISTRY and not replace:
        raise ConfigError(f"classifier {classifier.name!r} is already registered")
    _REGISTRY[classifier.name] = classifier
    return classifier


register(Classifier("cnn", pairs_view, PairsViewConfig(length=300), _build_cnn,
                    "the original CNN on L random (Δt, Δm) pairs (ORIGINAL.md §5)"))
register(Classifier("folded", folded_view, FoldedViewConfig(), _build_folded,
                    "circular CNN on the curve folded at P and 2P, with log P, log amplitude and harmonic R²"))
register(Classifier("hybrid", hybrid_view, HybridViewConfig(), _build_hybrid,
                    "the folded branch plus a scale-free (log Δt, Δt/P, Δm/amplitude) pair branch"))
register(Classifier("multifold", multifold_view, MultiFoldViewConfig(), _build_multifold,
                    "circular CNN on harmonic-fit folds at the given period and at the best Lomb-Scargle peak "
                    "of each fixed period band (found inside the view), with each candidate's log P and power"))


def names() -> tuple[str, ...]:
    """Registered classifier names, in registration order."""
    return tuple(_REGISTRY)


def get(name: str) -> Classifier:
    """The classifier registered under ``name`` (ConfigError naming the registered ones if none)."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown classifier {name!r}; registered: {names()}") from None


def view_config(name: str, **overrides) -> Any:
    """The classifier's view config with field overrides (e.g. length=64, bins=32, augment=True).

    For the hybrid, overrides go to the part that has the field (folded or pairs).
    """
    cfg = get(name).view_config
    if not overrides:
        return cfg
    # Lists (e.g. from JSON) become tuples: a config is a jit static argument and must hash.
    overrides = {k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()}
    if isinstance(cfg, HybridViewConfig):
        fold_fields = {f.name for f in dataclasses.fields(FoldedViewConfig)}
        fold_kw = {k: v for k, v in overrides.items() if k in fold_fields}
        pair_kw = {k: v for k, v in overrides.items() if k not in fold_fields}
        try:
            return HybridViewConfig(dataclasses.replace(cfg.folded, **fold_kw), dataclasses.replace(cfg.pairs, **pair_kw))
        except TypeError as exc:
            raise ConfigError(f"classifier {name!r}: bad view override: {exc}") from None
    try:
        return dataclasses.replace(cfg, **overrides)
    except TypeError as exc:
        raise ConfigError(f"classifier {name!r}: bad view override: {exc}") from None


@functools.lru_cache(maxsize=None)
def _batched(view: ViewFn, config: Any):
    """jit(vmap(view)) for one (view, static config); cached so each pair compiles once per shape."""
    fn = functools.partial(view, config=config)
    return jax.jit(jax.vmap(fn))


def view_batch(name: str, curves, periods, key, **view_overrides):
    """The classifier's view of N padded curves (one jitted, vmapped call).

    curves: a `PaddedCurves` (or anything with time, mag, err, mask of shape (N, T));
    periods: (N,) days (NaN where unknown); key: one typed key, split into one key per curve, so
    curve i's view depends only on its own data and keys[i], never on its label.
    Returns the view's pytree with a leading axis N (device arrays).
    """
    clf = get(name)
    cfg = view_config(name, **view_overrides)
    n = np.shape(curves.time)[0]
    keys = jax.random.split(key, n)
    return _batched(clf.view, cfg)(jnp.asarray(curves.time, jnp.float32), jnp.asarray(curves.mag, jnp.float32),
                                    jnp.asarray(curves.err, jnp.float32), jnp.asarray(curves.mask, bool),
                                    jnp.asarray(periods, jnp.float32), keys)


def build_backbone(name: str, num_classes: int, rngs: nnx.Rngs, *, view_overrides: dict | None = None, **kw):
    """The classifier's backbone for `num_classes`, sized for its view config (with `view_overrides`);
    other keyword arguments go to the module (e.g. layers=2 for "cnn", channels=(8, 16) for "folded")."""
    clf = get(name)
    return clf.build(num_classes, view_config(name, **(view_overrides or {})), rngs=rngs, **kw)


# The names `jaxpelsvae` exports: "register", "get" and "names" say what they do only after "registry.".
register_classifier = register
get_classifier = get
classifier_names = names
