"""Repetitions over seeds as one program: E classifiers (baseline or self-regulated) trained together by `jax.vmap`.

The paper ran 30–80 repetitions per cell. Here the E seeds of the baseline ("oneloss") mode share
one encoded training set on the device; each seed has its own initialisation and its own batch
order, so the E `TrainState`s are stacked along a leading axis and one jitted, vmapped step advances
them all: `step(states_E, {"x": x_NL2, "y": y_N}, idx_EB, weight_EB)`. The batches are gathered on the device
from per-seed index arrays, so the host ships (E, B) integers a step, not (E, B, L, 2) floats.

Early stopping is per seed: every seed keeps its best state (by validation loss) and its patience
counter; a seed whose patience ran out keeps its best state while the others go on (it still
steps inside the program, but nothing of it is recorded any more); the
program stops when every seed has stopped or at `epochs`. The protocol is the loop's baseline
(`selfreg.loop.train_classifier`, mode "baseline": same initial parameters, batches, class weights,
early stopping, best epoch restored), so the vmapped seeds reproduce the loop's sequential runs
within float tolerance (tests/experiments/test_repetitions.py). `vmap=False` runs the same plain step seed after
seed, without the loop's per-epoch bookkeeping: the reference of benchmarks/bench_vmap_seeds.py.

`train_seeds` runs the loop's own epoch for any registered view in either mode (what
`experiment --vmap-seeds` uses; `train_selfreg_seeds` is its self-regulated call): stacked states
and synthetic sets, one compiled program a pass, each seed's regulator on the host. Its epoch is
`selfreg.epoch.run_epoch`'s parts: the same regeneration and record + policy update per seed on the
host, and the same device part (`train_passes`) handed the vmapped pass programs.

Shape suffixes: see `jaxpelsvae` (package docstring).
"""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxpelsvae import seeds as streams
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
    return batching.stacked_indices(n, batch, batching.epoch_rng(seed, epoch, streams.REAL_STREAM))


def _build(cfg, num_classes: int, alpha_K, seeds: Sequence[int]):
    """Initial states (as `train.classifier.init_train_state` draws them) and the plain step functions."""
    from jaxpelsvae.train import steps
    from jaxpelsvae.train.classifier import build_steps, init_train_state

    steps_built = build_steps(num_classes, cfg, np.asarray(alpha_K))
    states = [init_train_state(num_classes, cfg, steps_built, int(s)) for s in seeds]
    alpha = jnp.asarray(alpha_K, jnp.float32)
    eval_fn = steps.classifier_eval_fn(cfg.loss, alpha_K=alpha, gamma=cfg.focal_gamma)
    eval_step = steps.make_eval_step(steps_built.graphdef, eval_fn, jit=False)
    return states, steps_built.plain_real, eval_step


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
        val_E = np.atleast_1d(np.asarray(_evaluate(evaluate, state, val, cfg.eval_batch_size, vmap)))
        for i in range(s_count):
            if stopping.active[i]:
                history[i].append(float(val_E[i]))
        # The loop's rule (policies.update): a finite loss below the best resets the patience.
        improved = stopping.update(epoch, val_E)
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
            bar.set_postfix(val_loss=f"{np.nanmin(val_E):.3f}", active=int(stopping.active.sum()))
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


# ------------------------------------------------------------------------- self-regulated seeds


class SelfregSeedResult(NamedTuple):
    """One self-regulated seed's outcome: test log-probabilities (N_test, K), its final
    RegulatorState (history, best epoch, regenerations) and host copies of its best (params, rest)."""

    seed: int
    logprobs_test: np.ndarray
    regulator: object
    best: tuple
    epoch_seconds: list[float]  # wall time of each epoch of the whole program (the first compiles)


def _stack(trees):
    return jax.tree.map(lambda *xs: jnp.stack(xs), *trees)


def _padded(arrays: dict, rows: int) -> dict:
    """``arrays`` (leading axis n) padded with zeros to ``rows``."""
    def pad(a):
        a = np.asarray(a)
        return np.concatenate([a, np.zeros((rows - len(a), *a.shape[1:]), a.dtype)])

    return jax.tree.map(pad, dict(arrays))


def _metrics_of(out: dict, i: int, n: int, batch: int, y_N, classes, with_prob: bool = False):
    """The loop's per-set metrics (`classifier.evaluate_set`) from seed ``i``'s slice of a vmapped
    evaluation program's output (host arrays); with_prob: and the probabilities under "prob_NK"."""
    from jaxpelsvae.train.metrics import classification_metrics

    nb = -(-n // batch)
    total = sum(float(x) for x in out["loss_sum"][i][:nb])
    weight = sum(float(x) for x in out["weight_sum"][i][:nb])
    prob = np.exp(out["logprobs"][i][:n].astype(np.float64))
    m = classification_metrics(y_N, prob, classes, loss=total / weight if weight > 0 else float("nan"))
    return {**m, "prob_NK": prob} if with_prob else m


def train_selfreg_seeds(encoded: tuple, classes: Sequence[str], generator, seeds: Sequence[int], config=None,
                        **kwargs) -> list[SelfregSeedResult]:
    """`train_seeds` in self-regulated mode (the config's mode is forced to "selfreg")."""
    from jaxpelsvae.train.classifier import TrainConfig

    config = dataclasses.replace(config or TrainConfig(), mode="selfreg")
    return train_seeds(encoded, classes, generator, seeds, config, **kwargs)


def train_seeds(
    encoded: tuple,
    classes: Sequence[str],
    generator,
    seeds: Sequence[int],
    config=None,
    *,
    progress: bool = False,
    period_config=None,
    train_ids=None,
) -> list[SelfregSeedResult]:
    """Train S classifiers of any registered view, one per seed, as one program on shared encoded data.

    encoded: (train, val, test) `train.classifier.Encoded` splits, shared by every seed; config: a
    `TrainConfig` whose mode says baseline (no generator, no synthetic pass: the loop's baseline) or
    selfreg (``resample_pairs`` / ``augment`` are not supported here: the views are drawn once).
    The protocol is `selfreg.loop.train_classifier`'s with ``encoded=``: each seed's initial state,
    generator key, synthetic sets, batch orders and policy are its own; the S TrainStates are
    stacked and every pass (synthetic, real, evaluation) is one vmapped compiled
    program, each seed's synthetic set padded to the largest bucket of rows (padding batches are
    skipped by the pass, so they change nothing). Each seed's RegulatorState lives on the host: it
    decides regenerations, counts and early stopping from its seed's metrics; a stopped seed keeps
    stepping inside the program but nothing of it is recorded any more. Equal to sequential
    `train_classifier` runs within float tolerance (tests/selfreg/test_loop.py). period_config: the
    `PeriodConfig` of the real curves' periods, for the synthetic curves' (period-aware classifiers).
    train_ids: the training stars' ids (the order of ``encoded[0]``), needed with a regulator focus.
    """
    from jaxpelsvae.selfreg import policies
    from jaxpelsvae.selfreg.epoch import close_epoch, epoch_rngs, generate_requested, train_passes, with_need
    from jaxpelsvae.train import steps as steps_lib
    from jaxpelsvae.train.classifier import TrainConfig, build_steps, init_train_state
    from jaxpelsvae.train.losses import class_weights_alpha

    config = config or TrainConfig()
    selfreg = config.mode == "selfreg"
    if config.redraws_train_views:
        raise ConfigError("train_seeds: resample_pairs / augment are not supported (shared encodings)")
    if selfreg and generator is None:
        raise ConfigError("train_seeds: self-regulated training needs a synthetic-curve generator")
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ConfigError("train_seeds: no seeds")
    enc_train, enc_val, enc_test = encoded
    classes = tuple(classes)
    k, rcfg, count = len(classes), config.regulator, len(seeds)
    alpha_K = class_weights_alpha(np.concatenate([enc_train.y_N, enc_val.y_N]), k)
    built = build_steps(k, config, alpha_K)
    alpha = jnp.asarray(alpha_K, jnp.float32)
    eval_fn = steps_lib.classifier_eval_fn(config.loss, alpha_K=alpha, gamma=config.focal_gamma)
    # the run's own plain steps, so the seeds train exactly as sequential runs do (masks, shared
    # parameters, BatchNorm statistics)
    real_step, syn_step = built.plain_real, built.plain_synthetic
    eval_fn_pass = batching.eval_pass_fn(steps_lib.make_eval_step(built.graphdef, eval_fn, jit=False), k)
    real_pass = jax.jit(jax.vmap(batching.epoch_pass_fn(real_step), in_axes=(0, None, 0, 0)), donate_argnums=(0,))
    syn_pass = (jax.jit(jax.vmap(batching.epoch_pass_fn(syn_step), in_axes=(0, 0, 0, 0)), donate_argnums=(0,))
                if selfreg else None)
    eval_shared = jax.jit(jax.vmap(eval_fn_pass, in_axes=(0, None, None, None)))
    eval_own = jax.jit(jax.vmap(eval_fn_pass, in_axes=(0, 0, 0, 0)))

    state = _stack([init_train_state(k, config, built, s) for s in seeds])
    regs = [policies.init(rcfg, k, selfreg=selfreg)[0] for _ in seeds]
    gen_keys = [jax.random.fold_in(jax.random.key(s), streams.KEY_GENERATOR) for s in seeds]
    capacity = policies.max_synthetic_total(rcfg, k)
    train_dev = batching.DeviceSet.upload(enc_train.arrays)
    val_dev = batching.DeviceSet.upload(enc_val.arrays)
    synthetic: list = [None] * count
    syn_data, rows = None, 0
    best: list = [None] * count
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=rcfg.epochs, desc=f"{config.mode} seeds {seeds}", unit="epoch", leave=False)
    epoch_seconds: list[float] = []
    for epoch in range(rcfg.epochs):
        active = [not r.stopped for r in regs]
        if not any(active):
            break
        t_epoch = time.perf_counter()
        regenerated = [False] * count
        temperature_used: list = [None] * count
        for i in range(count if selfreg else 0):
            if active[i]:
                regs[i], new_set, temperature_used[i] = generate_requested(
                    generator, gen_keys[i], regs[i], classes, config, capacity, period_config, train_ids=train_ids)
                if new_set is not None:
                    synthetic[i], regenerated[i] = new_set, True
        if any(regenerated):  # one stacked device set, every seed's padded to the largest bucket
            n_max = max(len(s.y_N) for s in synthetic)
            rows = 1 << max(n_max - 1, 0).bit_length()
            syn_data = jax.device_put(_stack([_padded(s.arrays, rows) for s in synthetic]))
        n_syn = [len(s.y_N) for s in synthetic] if selfreg else [0] * count
        t_gen = time.perf_counter() - t_epoch

        def stacked(n_of, batch, rngs=None, rows_=None):
            per = [batching.pass_indices(n_of[i], batch, None if rngs is None else rngs[i], rows=rows_)
                   for i in range(count)]
            return np.stack([p[0] for p in per]), np.stack([p[1] for p in per])

        # The device part of the epoch, every pass one vmapped program over the stacked seeds.
        rngs = [epoch_rngs(s, epoch, rcfg.repetitions) for s in seeds]
        syn_orders = [stacked(n_syn, config.synthetic_batch_size, [r[0][rep] for r in rngs], rows)
                      for rep in range(rcfg.repetitions if selfreg else 0)]
        real_order = stacked([train_dev.n] * count, config.batch_size, [r[1] for r in rngs])
        state, syn_loss, real_loss = train_passes(syn_pass, real_pass, state, syn_data, syn_orders,
                                                  train_dev.data, real_order)
        jax.block_until_ready(state)
        t_train = time.perf_counter() - t_epoch - t_gen
        eb = config.eval_batch_size
        outs = {"train": jax.device_get(eval_shared(state, train_dev.data, *train_dev.indices(eb))),
                "val": jax.device_get(eval_shared(state, val_dev.data, *val_dev.indices(eb))),
                "synthetic": (jax.device_get(eval_own(state, syn_data, *stacked(n_syn, eb, None, rows)))
                              if selfreg else None)}
        losses = jax.device_get((real_loss, syn_loss))
        t_eval = time.perf_counter() - t_epoch - t_gen - t_train
        improved = []
        for i in range(count):
            if not active[i]:
                continue
            m = {"train": _metrics_of(outs["train"], i, train_dev.n, eb, enc_train.y_N, classes,
                                      with_prob=rcfg.focus > 0),
                 "val": _metrics_of(outs["val"], i, val_dev.n, eb, enc_val.y_N, classes),
                 "synthetic": (_metrics_of(outs["synthetic"], i, n_syn[i], eb, synthetic[i].y_N, classes)
                               if selfreg else None)}
            regs[i], actions = close_epoch(
                rcfg, regs[i], m, losses[0][i], None if losses[1] is None else losses[1][i],
                regenerated=regenerated[i], temperature_used=temperature_used[i],
                wall_s={"generate": t_gen, "train": t_train, "evaluate": t_eval})
            regs[i] = with_need(rcfg, regs[i], m["train"].pop("prob_NK", None), enc_train.y_N)
            if actions.new_best:
                improved.append(i)
        if improved:  # host copies of the improved seeds' variables (the state is donated next pass)
            params_rest = jax.device_get((state.params, state.rest))
            for i in improved:
                best[i] = jax.tree.map(lambda a, i=i: np.array(a[i]), params_rest)
        epoch_seconds.append(time.perf_counter() - t_epoch)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    if any(b is None for b in best):
        raise DataError("no epoch produced a finite validation loss")
    params, rest = _stack([b[0] for b in best]), _stack([b[1] for b in best])
    best_state = state.replace(params=params, rest=rest)
    test_dev = batching.DeviceSet.upload({"x": enc_test.x, "y": np.asarray(enc_test.y_N, np.int32)})
    out = jax.device_get(eval_shared(best_state, test_dev.data, *test_dev.indices(config.eval_batch_size)))
    return [SelfregSeedResult(s, out["logprobs"][i][:test_dev.n], regs[i], best[i], list(epoch_seconds))
            for i, s in enumerate(seeds)]
