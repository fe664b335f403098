"""Repetitions over seeds as one program: S baseline classifiers trained together by `jax.vmap`.

The paper ran 30–80 repetitions per cell. Here the S seeds of the baseline ("oneloss") mode share
one encoded training set on the device; each seed has its own initialisation and its own batch
order, so the S `TrainState`s are stacked along a leading axis and one jitted, vmapped step advances
them all: `step(states_S, {"x": x_NL2, "y": y_N}, idx_SB, weight_SB)`. The batches are gathered on the device
from per-seed index arrays, so the host ships (S, B) integers a step, not (S, B, L, 2) floats.

Early stopping is per seed: every seed keeps its best state (by validation loss) and its patience
counter; a seed whose patience ran out keeps its best state while the others go on (it still
steps inside the program, but nothing of it is recorded any more); the
program stops when every seed has stopped or at `epochs`. The protocol is the loop's baseline
(`selfreg.loop.train_classifier`, mode "baseline": same initial parameters, batches, class weights,
early stopping, best epoch restored), so the vmapped seeds reproduce the loop's sequential runs
within float tolerance (tests/test_experiments.py). `vmap=False` runs the same plain step seed after
seed, without the loop's per-epoch bookkeeping: the reference of benchmarks/bench_vmap_seeds.py.

Shape letters: S seeds, N examples, B batch, L sequence length, K classes.
"""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxpelsvae.errors import ConfigError, DataError
from jaxpelsvae.train import batching

class SeedResult(NamedTuple):
    """One seed's outcome: test log-probabilities (N_test, K), best epoch (0-based), epochs run,
    and the per-epoch validation losses."""

    seed: int
    logprobs_test: np.ndarray
    best_epoch: int
    epochs: int
    val_loss: list[float]
    epoch_seconds: list[float]  # wall time of each epoch of this seed's program (the first compiles)


def _epoch_indices(seed: int, epoch: int, n: int, batch: int) -> tuple[np.ndarray, np.ndarray]:
    """(nb, B) example indices and (nb, B) weights (0 on padding) of one seed's epoch: the same
    batches as the classifier loop's real pass draws for that seed and epoch."""
    return batching.stacked_indices(n, batch, batching.epoch_rng(seed, epoch, batching.REAL_STREAM))


def _build(cfg, num_classes: int, alpha_K, seeds: Sequence[int]):
    """Initial states (as `train.classifier.init_train_state` draws them) and the plain step functions."""
    from jaxpelsvae.train import steps
    from jaxpelsvae.train.classifier import build_steps, init_train_state

    steps_built = build_steps(num_classes, cfg, np.asarray(alpha_K))
    states = [init_train_state(num_classes, cfg, steps_built, int(s)) for s in seeds]
    alpha = jnp.asarray(alpha_K, jnp.float32)
    loss_fn = steps.classifier_loss_fn(cfg.loss, alpha_K=alpha, gamma=cfg.focal_gamma)
    eval_fn = steps.classifier_eval_fn(cfg.loss, alpha_K=alpha, gamma=cfg.focal_gamma)
    train_step = steps.make_train_step(steps_built.graphdef, loss_fn, steps_built.tx, jit=False)
    eval_step = steps.make_eval_step(steps_built.graphdef, eval_fn, jit=False)
    return states, train_step, eval_step


def train_baseline_seeds(
    x_train_NL2: np.ndarray,
    y_train_N: np.ndarray,
    x_val_NL2: np.ndarray,
    y_val_N: np.ndarray,
    x_test_NL2: np.ndarray,
    num_classes: int,
    seeds: Sequence[int],
    config=None,
    *,
    vmap: bool = True,
    progress: bool = False,
) -> list[SeedResult]:
    """Train one baseline CNN per seed on the same encoded data and predict the test set.

    x_*_NL2: (N, L, 2) float32 (Δt days, Δm mag) pairs; y_*_N: (N,) int labels in [0, K).
    config: a `train.classifier.TrainConfig` (its mode is forced to "baseline"); the protocol is the
    loop's baseline: same initial parameters, batches, class weights (from train + validation
    labels), early stopping on the mean validation loss with `regulator.patience`, at most
    `regulator.epochs` epochs, best epoch restored.
    vmap=True trains all seeds in one vmapped program; False runs them one after the other.
    Returns a SeedResult per seed, in the order of `seeds` (best_epoch 0-based, as the loop's).
    """
    from jaxpelsvae.train.classifier import TrainConfig
    from jaxpelsvae.train.losses import class_weights_alpha

    config = dataclasses.replace(config or TrainConfig(), mode="baseline", seq_length=int(x_train_NL2.shape[1]))
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ConfigError("train_baseline_seeds: no seeds")
    n = int(x_train_NL2.shape[0])
    alpha_K = class_weights_alpha(np.concatenate([np.asarray(y_train_N), np.asarray(y_val_N)]), num_classes)
    states, train_step, eval_step = _build(config, num_classes, alpha_K, seeds)
    # Device-resident sets: uploaded once, batches gathered inside the programs.
    train = {"x": jnp.asarray(x_train_NL2, jnp.float32), "y": jnp.asarray(y_train_N, jnp.int32)}
    val = {"x": jnp.asarray(x_val_NL2, jnp.float32), "y": jnp.asarray(y_val_N, jnp.int32)}
    groups = [seeds] if vmap else [[s] for s in seeds]
    # Jitted once, so sequential seeds reuse one compilation.
    if vmap:
        step = jax.jit(jax.vmap(batching.gathered(train_step), in_axes=(0, None, 0, 0)), donate_argnums=(0,))
        evaluate = jax.jit(jax.vmap(eval_step, in_axes=(0, None)))
    else:
        step = jax.jit(batching.gathered(train_step), donate_argnums=(0,))
        evaluate = jax.jit(eval_step)
    results: dict[int, SeedResult] = {}
    for group in groups:
        index = [seeds.index(s) for s in group]
        if vmap:
            state = jax.tree.map(lambda *xs: jnp.stack(xs), *[states[i] for i in index])
        else:
            state = states[index[0]]
        results.update(_fit_group(state, step, evaluate, group, vmap, train, val, x_test_NL2, config, n,
                                  progress))
    return [results[s] for s in seeds]


def _evaluate(evaluate, state, data, size: int, vmap: bool):
    """Mean per-example loss (``data`` with "y") or log-probabilities (without; (S, N, K) when vmap)
    over fixed-size batches padded at weight 0, as the classifier loop's evaluation."""
    import jax

    outs = batching.padded_eval(evaluate, state, data, size)
    if "y" not in data:
        return batching.concat_rows(jax.device_get([o["logprobs"] for o in outs]), len(data["x"]),
                                    axis=1 if vmap else 0)
    sums = batching.sum_outputs(outs, ("loss_sum", "weight_sum"))
    return sums["loss_sum"] / jnp.maximum(sums["weight_sum"], 1e-30)


def _fit_group(state, step, evaluate, group, vmap, train, val, x_test, cfg, n, progress):
    """Train the seeds of `group` (stacked when vmap) with the loop's early-stopping rule."""
    s_count = len(group)
    max_epochs = cfg.regulator.epochs
    best_state = jax.tree.map(jnp.copy, state)
    stopping = batching.SeedsEarlyStopping.start(s_count, cfg.regulator.patience, max_epochs)
    history: list[list[float]] = [[] for _ in group]
    epoch_seconds: list[float] = []
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=max_epochs, desc=f"baseline seeds {list(group)}", unit="epoch", leave=False)
    for epoch in range(max_epochs):
        t_epoch = time.perf_counter()
        per_seed = [_epoch_indices(s, epoch, n, cfg.batch_size) for s in group]
        idx = np.stack([p[0] for p in per_seed], axis=1)  # (nb, S, B)
        w = np.stack([p[1] for p in per_seed], axis=1)
        for b in range(idx.shape[0]):
            if vmap:
                state, _ = step(state, train, idx[b], w[b])
            else:
                state, _ = step(state, train, idx[b, 0], w[b, 0])
        val_S = np.atleast_1d(np.asarray(_evaluate(evaluate, state, val, cfg.eval_batch_size, vmap)))
        for i in range(s_count):
            if stopping.active[i]:
                history[i].append(float(val_S[i]))
        # The loop's rule (policies.update): a finite loss below the best resets the patience.
        improved = stopping.update(epoch, val_S)
        if improved.any():
            take = jnp.asarray(improved) if vmap else bool(improved[0])

            def choose(new, old, take=take):
                if not vmap:
                    return jnp.copy(new) if take else old  # a copy: `state` is donated next step
                t = take.reshape(take.shape + (1,) * (new.ndim - take.ndim))
                return jnp.where(t, new, old)

            best_state = jax.tree.map(choose, state, best_state)
        # A frozen seed keeps training inside the vmapped program, but its best state no longer moves.
        epoch_seconds.append(time.perf_counter() - t_epoch)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(val_loss=f"{np.nanmin(val_S):.3f}", active=int(stopping.active.sum()))
        if not stopping.active.any():
            break
    if bar is not None:
        bar.close()
    if np.any(stopping.best_epoch < 0):
        raise DataError("no epoch produced a finite validation loss")
    test = {"x": jnp.asarray(x_test, jnp.float32)}
    logp = np.asarray(_evaluate(evaluate, best_state, test, cfg.eval_batch_size, vmap))
    if not vmap:
        logp = logp[None]
    return {
        s: SeedResult(s, logp[i], int(stopping.best_epoch[i]), int(stopping.epochs_run[i]), history[i],
                      list(epoch_seconds))
        for i, s in enumerate(group)
    }
