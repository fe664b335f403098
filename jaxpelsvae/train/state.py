"""`TrainState`: everything a training run changes, as one pytree (checkpointed by orbax, donated to steps).

A model is split once with `split_model` into a static `graphdef` (kept by the step factories,
never in the state) and two state pytrees: `params` (the `nnx.Param`s, differentiated) and `rest`
(every other variable: BatchNorm statistics, RNG counters). The optimiser states and gradient masks
follow the structure of `params`.

The two-optimiser layout of the self-regulated method (ORIGINAL.md §6.3-6.4): `opt_state` belongs
to the real-data optimiser (lr), `opt_state_syn` to the synthetic-data optimiser
(lr × scaling_factor); `masks` (bool, like `params`) marks the entries the real pass updates, its
complement the entries the synthetic pass updates. Both are None in a plain ("oneloss") run.
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import nnx, struct

from jaxpelsvae.errors import ConfigError


@struct.dataclass
class TrainState:
    """Training state pytree.

    step: int32 scalar, number of optimiser steps taken (real and synthetic passes both count).
    params: nnx.State of the model's `nnx.Param`s (float32).
    rest: nnx.State of the model's other variables (BatchNorm running statistics, RNG counts).
    opt_state: optax state of the real-data (or only) optimiser.
    key: typed PRNG key (`jax.random.key`); a step uses `fold_in(key, step)`, the key never changes.
    masks: None, or an nnx.State of bool arrays shaped like `params` (True: updated by the real pass).
    opt_state_syn: None, or the optax state of the synthetic-data optimiser.
    """

    step: jax.Array
    params: Any
    rest: Any
    opt_state: Any
    key: jax.Array
    masks: Any = None
    opt_state_syn: Any = None

    @property
    def variables(self) -> tuple[Any, Any]:
        """(params, rest): what `nnx.merge(graphdef, *state.variables)` needs."""
        return self.params, self.rest


def split_model(model: nnx.Module) -> tuple[nnx.GraphDef, nnx.State, nnx.State]:
    """`nnx.split(model, nnx.Param, ...)` -> (graphdef, params, rest). Do it once, at set-up."""
    return nnx.split(model, nnx.Param, ...)


def merge_model(graphdef: nnx.GraphDef, state: TrainState, *, copy: bool = True) -> nnx.Module:
    """A model instance holding the state's params and rest (a copy: safe inside `jax.grad`)."""
    return nnx.merge(graphdef, state.params, state.rest, copy=copy)


def create_train_state(
    model: nnx.Module,
    tx: optax.GradientTransformation,
    key: jax.Array,
    *,
    masks: Any = None,
    tx_syn: optax.GradientTransformation | None = None,
) -> tuple[nnx.GraphDef, TrainState]:
    """Split `model` once and build its `TrainState` at step 0; returns (graphdef, state).

    The state holds copies of the model's arrays, so `model` stays usable after donated steps.

    key: a typed key (`jax.random.key(seed)`); raw uint32 keys are wrapped.
    masks: gradient masks from `jaxpelsvae.train.masks.make_masks` (then `tx_syn`, the synthetic
    optimiser, is required too) or None for a single-optimiser run.
    """
    if (masks is None) != (tx_syn is None):
        raise ConfigError("create_train_state: masks and tx_syn go together (both or neither)")
    graphdef, params, rest = split_model(model)
    # Copies: the steps donate the state, which must not delete the arrays `model` (or the
    # caller's masks) still hold.
    params, rest = jax.tree.map(jnp.copy, (params, rest))
    if not jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        key = jax.random.wrap_key_data(key)
    if masks is not None:
        if jax.tree.structure(masks) != jax.tree.structure(params):
            raise ConfigError("create_train_state: masks must have the structure of the model's params")
        masks = jax.tree.map(lambda m: jnp.array(m, bool, copy=True), masks)
    state = TrainState(
        step=jnp.zeros((), jnp.int32),
        params=params,
        rest=rest,
        opt_state=tx.init(params),
        key=key,
        masks=masks,
        opt_state_syn=None if tx_syn is None else tx_syn.init(params),
    )
    return graphdef, state


def make_optimizer(learning_rate: float | optax.Schedule, *, clip_norm: float | None = 6.0) -> optax.GradientTransformation:
    """The original's optimiser: global-norm gradient clipping (6.0), then Adam (β 0.9/0.999, eps 1e-8)."""
    adam = optax.adam(learning_rate)
    return adam if clip_norm is None else optax.chain(optax.clip_by_global_norm(clip_norm), adam)
