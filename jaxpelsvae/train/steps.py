"""Step factories: pure `train_step(state, batch) -> (state, metrics)` and `eval_step(state, batch)`.

Each factory takes the static `graphdef` (from `create_train_state`) and a model-specific function,
and returns one `jax.jit` region (state donated: call it positionally and never reuse the state
you passed in). Inside, `nnx.merge(graphdef, params, rest, copy=True)` rebuilds the model; `copy`
is needed or BatchNorm fails inside `jax.grad`.

A batch is a dict of arrays with a leading batch axis B. The classifier uses
`x (B, L, 2) float32`, `y (B,) int32` and `weight (B,) float32` (0 for the padding rows of a last
batch, which then neither count in the loss nor in BatchNorm's statistics).

Masked steps (the self-regulated method, ORIGINAL.md §6.4-6.5): `subset="real"` updates the entries
where `state.masks` is True with `state.opt_state`; `subset="synthetic"` updates the complement with
`state.opt_state_syn` (built from lr × scaling_factor). As in the original, the gradient is first
clipped by the global norm of the *whole* gradient (`clip_norm`, 6.0), then gated by the mask, then
fed to the optimiser (whose own clip is then a no-op since the gated norm is smaller); parameters
named in `shared` belong to both subsets, each pass moving them with its own optimiser. Masked entries
therefore see exactly-zero gradients, so their Adam moments in that optimiser stay exactly zero,
as in the original. The resulting update is gated again before it is applied
(`where(mask, new, old)`), so no transform (momentum, weight decay) can ever move an entry of the
other subset: a masked step leaves the other subset bitwise unchanged. BatchNorm's running statistics
are updated by every training step unless the step is built with ``update_statistics=False`` (the
self-regulated loop's synthetic passes, `RegulatorConfig.synthetic_statistics`).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from jaxpelsvae.errors import ConfigError
from jaxpelsvae.train import losses
from jaxpelsvae.train.masks import pass_keep
from jaxpelsvae.train.state import TrainState, split_model

Batch = Mapping[str, jax.Array]
# loss_fn(model, batch, key) -> (scalar loss, dict of scalar metrics); model is in training mode.
LossFn = Callable[[nnx.Module, Batch, jax.Array], tuple[jax.Array, dict[str, jax.Array]]]
# eval_fn(model, batch) -> dict of arrays; model is in evaluation mode (BatchNorm running averages).
EvalFn = Callable[[nnx.Module, Batch], dict[str, jax.Array]]
Subset = Literal["all", "real", "synthetic"]
SUBSETS = ("all", "real", "synthetic")


def make_train_step(
    graphdef: nnx.GraphDef,
    loss_fn: LossFn,
    tx: optax.GradientTransformation,
    *,
    subset: Subset = "all",
    clip_norm: float | None = None,
    jit: bool = True,
    donate: bool = True,
    update_statistics: bool = True,
    shared: tuple[str, ...] = (),
) -> Callable[[TrainState, Batch], tuple[TrainState, dict[str, jax.Array]]]:
    """Build `train_step(state, batch) -> (state, metrics)`.

    loss_fn: `loss_fn(model, batch, key) -> (loss, aux)`; key = fold_in(state.key, state.step).
    tx: the optimiser whose state this step advances: `state.opt_state` for subset "all"/"real",
      `state.opt_state_syn` for "synthetic" (build it with lr × scaling_factor).
    subset: "all" (no masks), "real" (entries with mask True), "synthetic" (mask False).
    clip_norm: clip the whole gradient to this global norm before masking (the original's order;
      use with masked subsets, e.g. 6.0). None: leave clipping to `tx`.
    jit: False returns the plain function (for `jax.jit` with shardings, `lax.scan`, `vmap`).
    donate: donate the state's buffers (positional argument 0) to the output state.
    update_statistics: False keeps the `nnx.BatchStat` variables of `state.rest` (BatchNorm's running
      statistics) as they were: the step normalises with its batch's statistics but does not fold
      them into the running ones; other variables (RNG counts) advance as usual.
    shared: parameters ("/"-joined paths, e.g. "fc2/bias") that a masked step updates whatever their
      mask (`jaxpelsvae.train.masks.pass_keep`); () keeps the two subsets disjoint.
    metrics: {"loss", "grad_norm" (before clipping), **aux}, device scalars.
    """
    if subset not in SUBSETS:
        raise ConfigError(f"make_train_step: subset {subset!r} not in {SUBSETS}")

    def train_step(state: TrainState, batch: Batch) -> tuple[TrainState, dict[str, jax.Array]]:
        key = jax.random.fold_in(state.key, state.step)

        def objective(params):
            model = nnx.merge(graphdef, params, state.rest, copy=True)
            loss, aux = loss_fn(model, batch, key)
            _, _, rest = split_model(model)
            return loss, (aux, rest)

        (loss, (aux, rest)), grads = jax.value_and_grad(objective, has_aux=True)(state.params)
        if not update_statistics:  # keep the BatchNorm statistics; other variables (RNG counts) advance
            rest = jax.tree.map(lambda new, old: old if isinstance(new, nnx.BatchStat) else new, rest, state.rest,
                                is_leaf=lambda x: isinstance(x, nnx.Variable))
        grad_norm = global_norm(grads)
        if clip_norm is not None:
            scale = jnp.minimum(1.0, clip_norm / jnp.maximum(grad_norm, 1e-30))
            grads = jax.tree.map(lambda g: g * scale, grads)
        if subset == "all":
            updates, opt_state = tx.update(grads, state.opt_state, state.params)
            params = optax.apply_updates(state.params, updates)
            state = state.replace(params=params, rest=rest, opt_state=opt_state, step=state.step + 1)
        else:
            if state.masks is None:
                raise ConfigError(f"train step with subset={subset!r} needs a state with masks")
            keep = pass_keep(state.masks, subset, shared)
            grads = jax.tree.map(lambda g, m: jnp.where(m, g, 0.0), grads, keep)
            opt_field = "opt_state" if subset == "real" else "opt_state_syn"
            updates, opt_state = tx.update(grads, getattr(state, opt_field), state.params)
            stepped = optax.apply_updates(state.params, updates)
            params = jax.tree.map(lambda new, old, m: jnp.where(m, new, old), stepped, state.params, keep)
            state = state.replace(params=params, rest=rest, step=state.step + 1, **{opt_field: opt_state})
        return state, {"loss": loss, "grad_norm": grad_norm, **aux}

    if not jit:
        return train_step
    return jax.jit(train_step, donate_argnums=(0,) if donate else ())


def global_norm(tree: Any) -> jax.Array:
    """sqrt of the sum of squares of every leaf (what `clip_by_global_norm` measures)."""
    return jnp.sqrt(sum(jnp.sum(jnp.square(x)) for x in jax.tree.leaves(tree)))


def make_eval_step(
    graphdef: nnx.GraphDef, eval_fn: EvalFn, *, jit: bool = True
) -> Callable[[TrainState, Batch], dict[str, jax.Array]]:
    """Build `eval_step(state, batch) -> eval_fn(model in eval mode, batch)`; the state is not donated."""

    def eval_step(state: TrainState, batch: Batch) -> dict[str, jax.Array]:
        model = nnx.merge(graphdef, state.params, state.rest, copy=True)
        model.eval()
        return eval_fn(model, batch)

    return jax.jit(eval_step) if jit else eval_step


def make_scan_steps(
    train_step: Callable[[TrainState, Batch], tuple[TrainState, dict[str, jax.Array]]],
    *,
    unroll: int | bool = 1,
    donate: bool = True,
) -> Callable[[TrainState, Batch], tuple[TrainState, dict[str, jax.Array]]]:
    """Run S steps in one jit region with `lax.scan`: (state, batches with leading axis S) -> (state, metrics (S,)).

    train_step must be the plain function (`make_train_step(..., jit=False)`). On XLA:CPU a rolled
    scan over convolution gradients is slow (jax issue 12868): use unroll=S there, or a host loop.
    """

    def run(state: TrainState, batches: Batch) -> tuple[TrainState, dict[str, jax.Array]]:
        return jax.lax.scan(train_step, state, batches, unroll=unroll)

    return jax.jit(run, donate_argnums=(0,) if donate else ())


# ----------------------------------------------------------------------------------------------
# The classifier's loss and evaluation functions (the model maps x (B, L, 2) -> log-probs (B, K)).

LOSS_KINDS = ("focal", "cross_entropy", "nll", "unweighted_cross_entropy")


def classifier_loss_fn(
    kind: str = "focal", *, alpha_K: jax.Array | None = None, gamma: float = 2.0
) -> LossFn:
    """Loss function for `make_train_step` over a classifier returning log-probabilities.

    kind: "focal" (ORIGINAL.md §6.2, the default: mean_i α_{y_i} (1 - p_i)^γ CE_i),
      "cross_entropy" / "nll" (α-weighted, PyTorch's weighted mean: Σ α CE / Σ α),
      "unweighted_cross_entropy". alpha_K (K,) per-class weights (`class_weights_alpha`).
    Rows with batch["weight"] == 0 are padding: no loss, no BatchNorm statistics.
    aux: {"accuracy"} over the weighted rows.
    """
    if kind not in LOSS_KINDS:
        raise ConfigError(f"unknown classifier loss {kind!r}; expected one of {LOSS_KINDS}")

    def loss_fn(model, batch, key):
        del key  # the CNN has no randomness in training
        weight_B = batch.get("weight")
        mask_B = None if weight_B is None else weight_B > 0
        logp_BK = model(batch["x"], mask_B=mask_B)
        loss = classifier_loss(logp_BK, batch["y"], weight_B, kind=kind, alpha_K=alpha_K, gamma=gamma)
        return loss, {"accuracy": losses.weighted_accuracy(logp_BK, batch["y"], weight_B)}

    return loss_fn


def classifier_loss(logp_BK, y_B, weight_B=None, *, kind="focal", alpha_K=None, gamma=2.0) -> jax.Array:
    """The reduced classifier loss of `classifier_loss_fn` (padding rows, weight 0, excluded)."""
    if kind == "focal":
        return losses.focal_loss(logp_BK, y_B, alpha_K=alpha_K, gamma=gamma, weight_B=weight_B)
    if kind in ("cross_entropy", "nll"):
        return losses.weighted_cross_entropy(logp_BK, y_B, alpha_K=alpha_K, weight_B=weight_B, reduction="torch_mean")
    return losses.weighted_cross_entropy(logp_BK, y_B, alpha_K=None, weight_B=weight_B, reduction="mean")


def classifier_eval_fn(kind: str = "focal", *, alpha_K: jax.Array | None = None, gamma: float = 2.0) -> EvalFn:
    """Eval function for `make_eval_step`: {"logprobs" (B, K), "pred" (B,), "loss" (reduced, padding excluded),
    "loss_sum" (Σ weight·per-example loss, to sum over batches), "weight_sum", "correct" (Σ weight·[pred == y])}."""
    if kind not in LOSS_KINDS:
        raise ConfigError(f"unknown classifier loss {kind!r}; expected one of {LOSS_KINDS}")

    def eval_fn(model, batch):
        weight_B = batch.get("weight")
        logp_BK = model(batch["x"])
        pred_B = jnp.argmax(logp_BK, axis=-1)
        w_B = jnp.ones(pred_B.shape, jnp.float32) if weight_B is None else weight_B
        out = {"logprobs": logp_BK, "pred": pred_B, "weight_sum": w_B.sum()}
        if "y" in batch:
            per_B = losses.per_example_loss(logp_BK, batch["y"], kind=kind, alpha_K=alpha_K, gamma=gamma)
            out["loss"] = classifier_loss(logp_BK, batch["y"], weight_B, kind=kind, alpha_K=alpha_K, gamma=gamma)
            out["loss_sum"] = (w_B * per_B).sum()
            out["correct"] = (w_B * (pred_B == batch["y"])).sum()
        return out

    return eval_fn


def metrics_to_host(metrics: Mapping[str, Any]) -> dict[str, float]:
    """Fetch scalar metrics once (call every N steps, not every step, so the host never stalls)."""
    return {k: float(v) for k, v in jax.device_get(dict(metrics)).items() if jnp.ndim(v) == 0}
