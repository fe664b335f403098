"""Passes over a data set in fixed-size batches: indices, device-side gathers, padded evaluation, early stopping.

Shared by the classifier loop (`selfreg.loop`), the VAE fit (`train.vae_train`) and the vmapped
repetitions (`experiments.repetitions`). Shape suffixes: see `jaxpelsvae` (package docstring).

A data set is a dict (or any pytree) of arrays with a leading axis N; a batch is that pytree at B
indices plus ``weight`` (B,), 1 for real rows and 0 for the padding rows of the last batch, which
repeat example 0: batches are never dropped, so every example counts once and shapes stay static
(one compiled program for every batch). Two ways to run a training pass:

* `train_pass`: one jitted step a batch, driven from Python (the host gathers each batch);
* `make_epoch_pass`: the whole pass as one jitted program, a ``lax.scan`` over the (n, B) index
  array that gathers each batch on the device from the device-resident set, state donated.

Given the same index arrays both take the same steps; a scanned step may round differently in the
last bits (XLA fuses the loop body on its own), so the two agree within float tolerance.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np



def epoch_rng(seed: int, epoch: int, stream: int) -> np.random.Generator:
    """The generator of one pass's data order: depends on (seed, epoch, stream) only, so that a
    resumed run draws the same batches as an uninterrupted one."""
    return np.random.default_rng([int(seed), int(epoch), int(stream)])


def batch_indices(n: int, batch_size: int, rng: np.random.Generator | None = None, *,
                  order: np.ndarray | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Fixed-size batches over ``n`` examples: [(idx_B, weight_B float32)], in the order
    ``rng.permutation(n)`` when ``rng`` is given, else ``order`` (default 0..n-1); the last batch
    is padded with example 0 at weight 0 (never dropped)."""
    if rng is not None:
        order = rng.permutation(n)
    elif order is None:
        order = np.arange(n)
    out = []
    for start in range(0, n, batch_size):
        idx = order[start:start + batch_size]
        weight = np.ones(batch_size, np.float32)
        if len(idx) < batch_size:
            weight[len(idx):] = 0.0
            idx = np.concatenate([idx, np.zeros(batch_size - len(idx), idx.dtype)])
        out.append((idx, weight))
    return out


def stacked_indices(n: int, batch_size: int, rng: np.random.Generator | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """`batch_indices` as two arrays, (n, B) int32 indices and (n, B) float32 weights: the input
    of a scanned pass (`make_epoch_pass`) or of a vmapped step."""
    batches = batch_indices(n, batch_size, rng)
    if not batches:
        return np.zeros((0, batch_size), np.int32), np.zeros((0, batch_size), np.float32)
    return np.stack([b[0] for b in batches]).astype(np.int32), np.stack([b[1] for b in batches])


def gather(data: Any, idx_B, weight_B) -> dict[str, Any]:
    """The batch of ``data`` (a dict of arrays) at ``idx_B`` with its weights; on the host for numpy
    arrays, on the device (inside a jitted program) for JAX ones."""
    import jax

    return {**jax.tree.map(lambda a: a[idx_B], dict(data)), "weight": weight_B}


def gathered(step: Callable) -> Callable:
    """``step(state, batch)`` as ``run(state, data, idx_B, weight_B)``, gathering the batch inside
    the caller's jit region, so that only B indices cross from the host, not the batch."""

    def run(state, data, idx_B, weight_B):
        return step(state, gather(data, idx_B, weight_B))

    return run


def train_pass(step: Callable, state, data: Any, batch_size: int, rng: np.random.Generator | None):
    """One pass of the jitted ``step(state, batch) -> (state, metrics)`` over ``data`` (a dict of
    host arrays), one call a batch; returns (state, mean of the batches' losses as a device scalar,
    fetched by the caller once per epoch)."""
    import jax
    import jax.numpy as jnp

    losses = []
    n = len(jax.tree.leaves(data)[0])
    for idx, weight in batch_indices(n, batch_size, rng):
        state, m = step(state, gather(data, idx, weight))
        losses.append(m["loss"])
    return state, (jnp.mean(jnp.stack(losses)) if losses else jnp.nan)


def pass_indices(n: int, batch_size: int, rng: np.random.Generator | None = None, *, rows: int | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """`stacked_indices` of one pass over ``n`` examples, followed by empty batches (index 0, weight
    0) up to ``ceil(rows / batch_size)`` batches: sets padded to ``rows`` (`DeviceSet`) then give
    index arrays of one shape whatever their ``n``, so one compiled pass serves them all."""
    idx, w = stacked_indices(n, batch_size, rng)
    total = max(len(idx), -(-int(rows) // batch_size)) if rows is not None else len(idx)
    if total > len(idx):
        pad = total - len(idx)
        idx = np.concatenate([idx, np.zeros((pad, batch_size), np.int32)])
        w = np.concatenate([w, np.zeros((pad, batch_size), np.float32)])
    return idx, w


class DeviceSet(NamedTuple):
    """A data set living on the device: ``data`` (dict of arrays whose leading axis is ``rows``, the
    first ``n`` real, the others zeros) uploaded once and read by compiled passes."""

    data: dict[str, Any]
    n: int
    rows: int

    @classmethod
    def upload(cls, arrays: dict[str, Any], *, bucket: bool | int = False) -> "DeviceSet":
        """``arrays`` (host, leading axis n) on the device. bucket: pad the rows to the next power of
        two, so that sets of varying size (the synthetic sets) share a few compiled programs; an
        int pads to the power of two at or above max(n, bucket) (the largest set a run can make:
        one compiled program for all of them)."""
        import jax

        n = len(jax.tree.leaves(arrays)[0])
        rows = 1 << max(max(n, int(bucket)) - 1, 0).bit_length() if bucket else n

        def pad(a):
            a = np.asarray(a)
            if rows == n:
                return a
            return np.concatenate([a, np.zeros((rows - n, *a.shape[1:]), a.dtype)])

        return cls(jax.device_put(jax.tree.map(pad, dict(arrays))), n, rows)

    def indices(self, batch_size: int, rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
        """`pass_indices` over this set's ``n`` examples, padded to its ``rows``."""
        return pass_indices(self.n, batch_size, rng, rows=self.rows)


def make_epoch_pass(train_step: Callable, *, unroll: int | bool = 1, donate: bool = True) -> Callable:
    """A whole training pass as one jitted program:
    ``epoch_pass(state, data, idx_nB, weight_nB) -> (state, mean batch loss)``.

    train_step: the plain step (`train.steps.make_train_step(..., jit=False)`); data: a dict of
    device arrays (uploaded once, `DeviceSet`); idx_nB / weight_nB: `pass_indices`. A batch of
    weight 0 throughout (padding up to a bucket) is skipped (``lax.cond``): no step, no state
    change. The state is donated: call positionally and never reuse the state passed in.
    ``unroll`` is handed to ``lax.scan``.
    """
    import jax

    return jax.jit(epoch_pass_fn(train_step, unroll=unroll), donate_argnums=(0,) if donate else ())


def epoch_pass_fn(train_step: Callable, *, unroll: int | bool = 1) -> Callable:
    """The plain function of `make_epoch_pass` (to ``vmap`` over seeds, or jit with shardings)."""
    import jax
    import jax.numpy as jnp

    step = gathered(train_step)

    def epoch_pass(state, data, idx_nB, weight_nB):
        def body(state, batch):
            idx_B, weight_B = batch
            present = jnp.sum(weight_B) > 0

            def run(state):
                state, m = step(state, data, idx_B, weight_B)
                return state, m["loss"].astype(jnp.float32)

            state, loss = jax.lax.cond(present, run, lambda s: (s, jnp.zeros((), jnp.float32)), state)
            return state, (loss, present)

        state, (losses_n, present_n) = jax.lax.scan(body, state, (idx_nB, weight_nB), unroll=unroll)
        count = jnp.sum(present_n)
        mean = jnp.where(count > 0, jnp.sum(losses_n) / jnp.maximum(count, 1), jnp.nan)
        return state, mean

    return epoch_pass


def make_eval_pass(eval_step: Callable, num_classes: int, *, unroll: int | bool = 1) -> Callable:
    """A set's evaluation as one jitted program over a labelled device set:
    ``eval_pass(state, data, idx_nB, weight_nB) -> {"logprobs" (n·B, K), "loss_sum" (n,),
    "weight_sum" (n,), "confusion" (K, K) int32}``; batches of padding only are skipped (zeros).

    eval_step: the plain classifier eval step (`train.steps.make_eval_step(..., jit=False)` over
    `classifier_eval_fn`); the rows of ``logprobs`` follow ``idx_nB`` (padding rows included: cut
    them on the host); the per-batch sums let the host add them up as the per-batch path does.
    """
    import jax

    return jax.jit(eval_pass_fn(eval_step, num_classes, unroll=unroll))


def eval_pass_fn(eval_step: Callable, num_classes: int, *, unroll: int | bool = 1) -> Callable:
    """The plain function of `make_eval_pass` (to ``vmap`` over seeds)."""
    import jax
    import jax.numpy as jnp

    def eval_pass(state, data, idx_nB, weight_nB):
        def body(confusion_KK, batch):
            idx_B, weight_B = batch

            def run(_):
                out = eval_step(state, gather(data, idx_B, weight_B))
                return {k: out[k] for k in ("logprobs", "loss_sum", "weight_sum", "pred")}

            def skip(_):  # a batch of padding only (a set padded to its bucket): nothing to compute
                return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), jax.eval_shape(run, None))

            out = jax.lax.cond(jnp.sum(weight_B) > 0, run, skip, None)
            true_BK = jax.nn.one_hot(data["y"][idx_B], num_classes, dtype=jnp.int32)
            pred_BK = jax.nn.one_hot(out["pred"], num_classes, dtype=jnp.int32)
            real_B = (weight_B > 0).astype(jnp.int32)
            confusion_KK = confusion_KK + jnp.einsum("bk,bj->kj", true_BK * real_B[:, None], pred_BK)
            return confusion_KK, (out["logprobs"], out["loss_sum"], out["weight_sum"])

        confusion, (logp_nBK, loss_n, weight_n) = jax.lax.scan(
            body, jnp.zeros((num_classes, num_classes), jnp.int32), (idx_nB, weight_nB), unroll=unroll)
        return {"logprobs": logp_nBK.reshape(-1, num_classes), "loss_sum": loss_n, "weight_sum": weight_n,
                "confusion": confusion}

    return eval_pass


def eval_batch_size(n: int, batch_size: int) -> int:
    """The evaluation batch for a set of ``n`` rows: ``batch_size``, or the power of two at or above
    ``n`` where that is smaller, so that a small set (a validation part of 100 curves) is not padded
    to a whole batch of 500 and evaluated five times over."""
    return max(1, min(int(batch_size), 1 << max(int(n) - 1, 0).bit_length()))


def padded_eval(eval_step: Callable, state, data: Any, batch_size: int) -> list[dict[str, Any]]:
    """``eval_step(state, batch)`` over fixed-size batches of ``data`` in order (last one padded at
    weight 0, never dropped; at most `eval_batch_size` rows): one output a batch, on the device.
    `concat_rows` and `sum_outputs` put them together."""
    import jax

    n = len(jax.tree.leaves(data)[0])
    size = eval_batch_size(n, batch_size)
    return [eval_step(state, gather(data, idx, w)) for idx, w in batch_indices(n, size)]


def concat_rows(outs: list[Any], n: int, *, axis: int = 0):
    """The per-example rows of padded batch outputs (host arrays), concatenated along ``axis`` and cut
    to the ``n`` real examples (the padding rows come last)."""
    rows = np.concatenate([np.asarray(o) for o in outs], axis=axis)
    return np.take(rows, np.arange(n), axis=axis)


def sum_outputs(outs: list[dict[str, Any]], keys) -> dict[str, Any]:
    """Sums over batches of the outputs ``keys`` (weighted sums, so padding adds nothing)."""
    import jax
    import jax.numpy as jnp

    sums = None
    for o in outs:
        part = {k: o[k] for k in keys}
        sums = part if sums is None else jax.tree.map(jnp.add, sums, part)
    return sums


@dataclasses.dataclass
class EarlyStopping:
    """Host-side early-stopping rule on a validation loss (lower is better).

    update(epoch, value) returns True when value improves on the best by more than min_delta;
    should_stop is True after `patience` epochs in a row without improvement (never if patience 0).
    The classifier's rule lives in its regulator (`selfreg.policies.update`): the same rule with
    min_delta 0, non-finite losses never improving.
    """

    patience: int
    min_delta: float = 0.0
    best: float = float("inf")
    best_epoch: int = -1
    bad_epochs: int = 0

    def update(self, epoch: int, value: float) -> bool:
        if value < self.best - self.min_delta:
            self.best, self.best_epoch, self.bad_epochs = float(value), int(epoch), 0
            return True
        self.bad_epochs += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.patience > 0 and self.bad_epochs >= self.patience


@dataclasses.dataclass
class SeedsEarlyStopping:
    """The classifier's early-stopping rule for S seeds at once (vmapped repetitions): a finite loss
    below a seed's best resets its patience; a seed stops after ``patience`` epochs without one or
    at ``max_epochs``, and from then on nothing of it changes."""

    patience: int
    max_epochs: int
    best: np.ndarray
    best_epoch: np.ndarray
    counter: np.ndarray
    active: np.ndarray
    epochs_run: np.ndarray

    @classmethod
    def start(cls, seeds: int, patience: int, max_epochs: int) -> "SeedsEarlyStopping":
        return cls(patience, max_epochs, np.full(seeds, np.inf), np.full(seeds, -1, np.int64),
                   np.zeros(seeds, np.int64), np.ones(seeds, bool), np.zeros(seeds, np.int64))

    def update(self, epoch: int, val_E: np.ndarray) -> np.ndarray:
        """Record epoch ``epoch``'s validation losses; returns which seeds improved (their state is the new best)."""
        improved = self.active & np.isfinite(val_E) & (val_E < self.best)
        self.best = np.where(improved, val_E, self.best)
        self.best_epoch = np.where(improved, epoch, self.best_epoch)
        self.counter = np.where(improved, 0, np.where(self.active, self.counter + 1, self.counter))
        self.epochs_run = np.where(self.active, epoch + 1, self.epochs_run)
        self.active = self.active & ~((self.counter >= self.patience) | (epoch + 1 >= self.max_epochs))
        return improved
