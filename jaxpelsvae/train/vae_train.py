"""Training loop of the PELS-VAE: jit steps, cosine schedule, validation split, early stopping, save/load.

Shape suffixes: see `jaxpelsvae` (package docstring). T counts the 600 template phases.

Follows the original's `Trainer` (ORIGINAL.md §9.4): Adam(lr 1e-3) without gradient clipping,
CosineAnnealingLR(T_max 50 epochs, eta_min 1e-5) stepped once per epoch, batch 128, an 80/20 split,
loss MSE(magnitude) + beta * KL / 1e4. Differences (documented): validation runs in evaluation mode
with z = mu (no dropout, no sampling), early stopping on the validation loss (patience), and the
best-by-validation weights are the ones returned and saved.
"""
from __future__ import annotations

import dataclasses
import json
import shutil
import time
from pathlib import Path
from typing import Any, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from tqdm.auto import tqdm

from jaxpelsvae.data.provenance import write_provenance
from jaxpelsvae.errors import ConfigError, DataError
from jaxpelsvae.models.vae import PelsVAE, VAEConfig, kl_divergence, vae_loss
from jaxpelsvae.models.vae_inputs import PhysScaler
from jaxpelsvae.train import batching, checkpoint
from jaxpelsvae.train.batching import EarlyStopping
from jaxpelsvae.train.state import TrainState, create_train_state, make_optimizer
from jaxpelsvae.train.steps import make_eval_step, make_train_step

SAVE_FORMAT = 1
INCOHERENT = 0.5  # curves with a lower coherence weight count as "weighted down" in the history
CONFIG_FILE = "vae.json"
PARAMS_DIR = "params"


@dataclasses.dataclass(frozen=True)
class VAETrainConfig:
    """Optimisation of the PELS-VAE; defaults follow the original's released runs.

    lr_schedule: "cos" (CosineAnnealingLR closed form per epoch, period 2*t_max epochs as in
    PyTorch) or "constant". patience: epochs without a validation improvement before stopping
    (0: never stop early; the original trained 150 epochs without early stopping).
    """

    epochs: int = 150
    batch_size: int = 128
    lr: float = 1e-3
    lr_schedule: str = "cos"
    t_max_epochs: int = 50
    eta_min: float = 1e-5
    val_fraction: float = 0.2
    patience: int = 20
    min_delta: float = 0.0
    eval_batch_size: int = 256
    progress: bool = True

    def __post_init__(self):
        if self.epochs < 1 or self.batch_size < 1 or self.eval_batch_size < 1:
            raise ConfigError("VAETrainConfig: epochs, batch_size and eval_batch_size must be >= 1")
        if not 0.0 < self.val_fraction < 1.0:
            raise ConfigError(f"VAETrainConfig.val_fraction must be in (0, 1), got {self.val_fraction}")
        if self.lr_schedule not in ("cos", "constant"):
            raise ConfigError(f"VAETrainConfig.lr_schedule must be 'cos' or 'constant', got {self.lr_schedule!r}")
        if self.patience < 0 or self.t_max_epochs < 1 or self.lr <= 0:
            raise ConfigError("VAETrainConfig: patience >= 0, t_max_epochs >= 1 and lr > 0 required")


def cosine_annealing_per_epoch(lr: float, steps_per_epoch: int, t_max: int, eta_min: float) -> optax.Schedule:
    """PyTorch's CosineAnnealingLR stepped once per epoch, as an optax schedule over optimiser steps.

    lr(epoch) = eta_min + (lr - eta_min) (1 + cos(pi epoch / t_max)) / 2 (the closed form used by
    `sch.step(epoch)`; it rises again after t_max epochs), constant within an epoch.
    """

    def schedule(step):
        epoch = (jnp.asarray(step) // steps_per_epoch).astype(jnp.float32)
        return eta_min + (lr - eta_min) * 0.5 * (1.0 + jnp.cos(jnp.pi * epoch / t_max))

    return schedule


def vae_loss_fn(beta: float, kl_scale: float):
    """`loss_fn(model, batch, key)` for `make_train_step`: dropout and sampled z from `key`.

    batch: x (B, T, 3), onehot (B, K), phys (B, P), weight (B,) (0 for padding rows), and optionally
    coherence (B,) (each star's weight; `train_vae` always passes it).
    """

    def loss_fn(model, batch, key):
        out = model(batch["x"], batch["onehot"], batch["phys"], key=key)
        loss, metrics = vae_loss(out, batch["x"], beta=beta, kl_scale=kl_scale,
                                 weights_B=batch["weight"] * batch.get("coherence", 1.0))
        return loss, {"mse": metrics["mse"], "kl": metrics["kl"]}

    return loss_fn


def vae_eval_fn(beta: float, kl_scale: float):
    """`eval_fn(model, batch)` for `make_eval_step`: deterministic pass (z = mu); weighted sums to add over batches."""

    def eval_fn(model, batch):
        out = model(batch["x"], batch["onehot"], batch["phys"], key=None)
        w_B = batch["weight"] * batch.get("coherence", 1.0)
        mse_B = jnp.mean((out.xhat - batch["x"][..., 1]) ** 2, axis=-1)
        kl_B = kl_divergence(out.mu, out.logvar)
        return {
            "mse_sum": jnp.sum(w_B * mse_B),
            "kl_sum": jnp.sum(w_B * kl_B),
            "loss_sum": jnp.sum(w_B * (mse_B + beta * kl_scale * kl_B)),
            "weight_sum": jnp.sum(w_B),
        }

    return eval_fn


def _check_inputs(x_NT3, onehot_NK, phys_NP, config: VAEConfig, coherence_N=None) -> dict[str, np.ndarray]:
    x = np.asarray(x_NT3, np.float32)
    coherence = np.ones(len(x), np.float32) if coherence_N is None else np.asarray(coherence_N, np.float32).reshape(-1)
    if coherence.shape != (len(x),) or not (np.isfinite(coherence) & (coherence >= 0) & (coherence <= 1)).all():
        raise DataError(f"coherence weights must be (N,) = ({len(x)},) values in [0, 1]")
    if not coherence.any():
        raise DataError("coherence weights: every curve has weight 0")
    onehot = np.asarray(onehot_NK, np.float32)
    phys = np.zeros((len(x), 0), np.float32) if phys_NP is None else np.asarray(phys_NP, np.float32)
    if phys.ndim == 1:
        phys = phys[:, None]
    if x.ndim != 3 or x.shape[1:] != (config.seq_len, config.n_feats):
        raise DataError(f"VAE inputs must be (N, {config.seq_len}, {config.n_feats}), got {x.shape}")
    if onehot.shape != (len(x), config.num_classes):
        raise DataError(f"one-hot labels must be (N, {config.num_classes}), got {onehot.shape}")
    if phys.shape != (len(x), config.phys_dim):
        raise DataError(f"physical parameters must be (N, {config.phys_dim}), got {phys.shape}")
    for name, arr in (("folded curves", x), ("physical parameters", phys)):
        bad = ~np.isfinite(arr.reshape(len(arr), -1)).all(axis=1)
        if bad.any():
            raise DataError(f"{name}: {int(bad.sum())} rows hold non-finite values (first row {int(np.argmax(bad))})")
    return {"x": x, "onehot": onehot, "phys": phys, "coherence": coherence}


def split_indices(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Shuffled (train_idx, val_idx) with round(n * val_fraction) validation rows (at least 1)."""
    if n < 2:
        raise DataError(f"need at least 2 curves to split off a validation set, got {n}")
    order = np.random.default_rng([seed, 1]).permutation(n)
    n_val = min(max(1, int(round(n * val_fraction))), n - 1)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def reference_mse(mag_NT: np.ndarray, labels_N: np.ndarray, train_idx: np.ndarray,
                  val_idx: np.ndarray, weight_N: np.ndarray | None = None) -> dict[str, float]:
    """Validation MSE of two shape-blind predictors fitted on the training rows, the yardsticks of
    the VAE's reconstruction MSE: "mean_curve" (the mean training curve, per phase) and
    "class_mean" (the mean training curve of the star's class; the mean curve where the training
    rows hold none of that class). A VAE no better than class_mean has learned class averages only.
    weight_N: each curve's weight in the validation mean (as in the VAE's loss; default 1)."""
    mag_NT = np.asarray(mag_NT, np.float64)
    w_va = np.ones(len(val_idx)) if weight_N is None else np.asarray(weight_N, np.float64)[val_idx]
    w_va = w_va / w_va.sum() if w_va.sum() > 0 else np.full(len(val_idx), 1.0 / max(len(val_idx), 1))
    labels_N = np.asarray(labels_N)
    tr, va = mag_NT[train_idx], mag_NT[val_idx]
    mean_T = tr.mean(axis=0)
    class_T = {k: tr[labels_N[train_idx] == k].mean(axis=0) for k in np.unique(labels_N[train_idx])}
    pred = np.stack([class_T.get(k, mean_T) for k in labels_N[val_idx]]) if len(va) else va
    return {"mean_curve": float(w_va @ np.mean((va - mean_T) ** 2, axis=1)),
            "class_mean": float(w_va @ np.mean((va - pred) ** 2, axis=1))}


def evaluate_vae(eval_step, state: TrainState, data: dict[str, np.ndarray], batch_size: int) -> dict[str, float]:
    """Mean validation loss, reconstruction MSE and KL over all rows (deterministic pass)."""
    outs = batching.padded_eval(eval_step, state, data, batch_size)
    sums = jax.device_get(batching.sum_outputs(outs, ("loss_sum", "mse_sum", "kl_sum", "weight_sum")))
    w = float(sums["weight_sum"]) or 1.0
    return {"loss": float(sums["loss_sum"]) / w, "mse": float(sums["mse_sum"]) / w, "kl": float(sums["kl_sum"]) / w}


def train_vae(
    x_NT3: np.ndarray,
    onehot_NK: np.ndarray,
    phys_NP: np.ndarray | None,
    config: VAEConfig,
    train_config: VAETrainConfig = VAETrainConfig(),
    *,
    seed: int = 0,
    workdir: str | Path | None = None,
    coherence_N: np.ndarray | None = None,
) -> tuple[PelsVAE, dict[str, Any]]:
    """Train a PELS-VAE on folded curves; returns (model with the best-by-validation weights, history).

    x_NT3: (N, T, 3) float (normalised phase, normalised magnitude, normalised error); onehot_NK
    (N, K); phys_NP (N, P) physical parameters already min-max scaled (`PhysScaler`), or None when
    config.phys_dim == 0. coherence_N (N,) in [0, 1]: each curve's weight in the loss (`data.template`'s
    coherence: a fold that is not periodic at its period teaches noise; None: all 1). The validation
    split is drawn from `seed`; so are init, dropout and z.
    history: per-epoch lists (epoch, lr, train_loss, train_mse, train_kl, val_loss, val_mse,
    val_kl, wall_s) plus best_epoch, best_val_loss, best_val_mse (validation reconstruction MSE
    at the best epoch), val_mse_mean_curve and val_mse_class_mean (`reference_mse`: best_val_mse
    should lie well below the class-mean one), stopped_early, n_train, n_val, steps_per_epoch.
    With a workdir, writes `vae_loss.png` there.
    """
    data = _check_inputs(x_NT3, onehot_NK, phys_NP, config, coherence_N)
    tc = train_config
    train_idx, val_idx = split_indices(len(data["x"]), tc.val_fraction, seed)
    train_data = {k: v[train_idx] for k, v in data.items()}
    val_data = {k: v[val_idx] for k, v in data.items()}
    n_train = len(train_idx)
    steps_per_epoch = -(-n_train // tc.batch_size)

    root = jax.random.key(seed)
    model = PelsVAE(config, rngs=nnx.Rngs(params=jax.random.fold_in(root, 0)))
    lr = (cosine_annealing_per_epoch(tc.lr, steps_per_epoch, tc.t_max_epochs, tc.eta_min)
          if tc.lr_schedule == "cos" else tc.lr)
    tx = make_optimizer(lr, clip_norm=None)  # the original VAE trainer does not clip
    graphdef, state = create_train_state(model, tx, jax.random.fold_in(root, 1))
    train_step = make_train_step(graphdef, vae_loss_fn(config.beta, config.kl_scale), tx)
    eval_step = make_eval_step(graphdef, vae_eval_fn(config.beta, config.kl_scale))

    history: dict[str, Any] = {k: [] for k in (
        "epoch", "lr", "train_loss", "train_mse", "train_kl", "val_loss", "val_mse", "val_kl", "wall_s")}
    stopper = EarlyStopping(tc.patience, tc.min_delta)
    best_params, stopped_early = None, False
    bar = tqdm(range(tc.epochs), desc="train-vae", unit="epoch", disable=not tc.progress)
    for epoch in bar:
        t0 = time.perf_counter()
        lr_now = float(lr(epoch * steps_per_epoch)) if callable(lr) else float(lr)
        rng = np.random.default_rng([seed, 2, epoch])
        sums, count = None, 0.0
        for idx, weight in batching.batch_indices(n_train, tc.batch_size, rng):
            state, metrics = train_step(state, batching.gather(train_data, idx, weight))
            # Weight each step's batch mean by its real rows; summed on device, fetched once an epoch.
            w = float(weight.sum())
            step_sums = {k: metrics[k] * w for k in ("loss", "mse", "kl")}
            sums = step_sums if sums is None else jax.tree.map(jnp.add, sums, step_sums)
            count += w
        train_means = {k: float(v) / count for k, v in jax.device_get(sums).items()}
        val = evaluate_vae(eval_step, state, val_data, tc.eval_batch_size)
        for key_, value in (("epoch", epoch), ("lr", lr_now), ("train_loss", train_means["loss"]),
                            ("train_mse", train_means["mse"]), ("train_kl", train_means["kl"]),
                            ("val_loss", val["loss"]), ("val_mse", val["mse"]), ("val_kl", val["kl"]),
                            ("wall_s", time.perf_counter() - t0)):
            history[key_].append(value)
        bar.set_postfix(train=f"{train_means['loss']:.4g}", val=f"{val['loss']:.4g}", val_mse=f"{val['mse']:.4g}")
        if stopper.update(epoch, val["loss"]):
            best_params = jax.device_get(state.params)  # host copy: the state is donated next step
        elif stopper.should_stop:
            stopped_early = True
            break
    bar.close()

    if best_params is None:  # validation loss never finite: keep the last weights (best_epoch = last)
        best_params, stopper.best_epoch = jax.device_get(state.params), len(history["epoch"]) - 1
    nnx.update(model, jax.tree.map(jnp.asarray, best_params), state.rest)
    best_epoch = stopper.best_epoch
    history.update(
        best_epoch=best_epoch,
        best_val_loss=float(history["val_loss"][best_epoch]),
        best_val_mse=float(history["val_mse"][best_epoch]),
        **{f"val_mse_{k}": v for k, v in reference_mse(
            data["x"][..., 1], np.argmax(data["onehot"], axis=1), train_idx, val_idx, data["coherence"]).items()},
        stopped_early=stopped_early,
        coherence_mean=float(np.mean(data["coherence"])),
        n_incoherent=int(np.sum(data["coherence"] < INCOHERENT)),
        n_train=int(n_train),
        n_val=int(len(val_idx)),
        steps_per_epoch=int(steps_per_epoch),
    )
    if workdir is not None:
        Path(workdir).mkdir(parents=True, exist_ok=True)
        plot_loss_curves(history, Path(workdir) / "vae_loss.png")
    return model, history


def plot_loss_curves(history: dict[str, Any], path: str | Path) -> Path:
    """Training and validation loss (and validation MSE) per epoch, log scale, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ep = np.asarray(history["epoch"]) + 1
    ax.plot(ep, history["train_loss"], label="train loss")
    ax.plot(ep, history["val_loss"], label="validation loss")
    ax.plot(ep, history["val_mse"], "--", label="validation MSE (z = mu)")
    if history.get("best_epoch", -1) >= 0:
        ax.axvline(history["best_epoch"] + 1, color="grey", lw=0.8, ls=":", label="best epoch")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    if min(min(history["train_loss"]), min(history["val_loss"])) > 0:
        ax.set_yscale("log")
    ax.legend()
    ax.set_title("PELS-VAE training")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


# ------------------------------------------------------------------------------------------------
# Saving and loading: JSON (config, scalers, classes) + orbax (parameters).


def _to_pure_dict(state):
    fn = getattr(nnx, "to_pure_dict", None)  # newer flax; the State method is deprecated there
    return fn(state) if fn is not None else state.to_pure_dict()


def _replace_by_pure_dict(state, pure) -> None:
    fn = getattr(nnx, "replace_by_pure_dict", None)
    if fn is not None:
        fn(state, pure)
    else:
        state.replace_by_pure_dict(pure)


class LoadedVAE(NamedTuple):
    """What `load_vae` returns: the model (eval-ready), its config, the physical-parameter scaler,
    the class names in one-hot order, and any extra JSON saved with it."""

    model: PelsVAE
    config: VAEConfig
    scaler: PhysScaler | None
    classes: tuple[str, ...]
    extra: dict[str, Any]


def save_vae(path: str | Path, model: PelsVAE, config: VAEConfig | None = None,
             scaler: PhysScaler | None = None, *, classes: Sequence[str] = (),
             extra: dict[str, Any] | None = None, fitted_ids: Sequence[str] | None = None) -> Path:
    """Write `path/vae.json` (config, scaler, classes, extra) and `path/params` (orbax, via
    `jaxpelsvae.train.checkpoint`, step 0). Overwrites an earlier save in the same folder."""
    config = model.config if config is None else config
    if config != model.config:
        raise ConfigError("save_vae: config differs from the model's own config")
    if classes and len(classes) != config.num_classes:
        raise ConfigError(f"save_vae: {len(classes)} class names for a one-hot of width {config.num_classes}")
    path = Path(path).absolute()
    path.mkdir(parents=True, exist_ok=True)
    params = _to_pure_dict(nnx.state(model, nnx.Param))
    meta = {
        "format": SAVE_FORMAT,
        "config": config.to_dict(),
        "scaler": None if scaler is None else scaler.to_dict(),
        "classes": list(classes),
        "extra": extra or {},
    }
    if (path / PARAMS_DIR).exists():
        shutil.rmtree(path / PARAMS_DIR)
    checkpoint.save(path / PARAMS_DIR, 0, params, meta, max_to_keep=1)
    (path / CONFIG_FILE).write_text(json.dumps(meta, indent=2))
    write_provenance(path, fitted_ids)  # the stars it was fitted on (None: removes a stale record)
    return path


def load_vae(path: str | Path) -> LoadedVAE:
    """Read a model written by `save_vae`; the parameters are restored bit for bit."""
    path = Path(path).absolute()
    cfg_file = path / CONFIG_FILE
    if not cfg_file.is_file():
        raise FileNotFoundError(f"{cfg_file}: not a saved PELS-VAE (missing {CONFIG_FILE})")
    meta = json.loads(cfg_file.read_text())
    if meta.get("format") != SAVE_FORMAT:
        raise ConfigError(f"{cfg_file}: unsupported format {meta.get('format')!r} (expected {SAVE_FORMAT})")
    config = VAEConfig.from_dict(meta["config"])
    # Abstract model (shapes only, no init compute) as the restore target.
    graphdef, state = nnx.split(nnx.eval_shape(lambda: PelsVAE(config, rngs=nnx.Rngs(0))))
    params, _ = checkpoint.restore(path / PARAMS_DIR, _to_pure_dict(state))
    _replace_by_pure_dict(state, params)
    model = nnx.merge(graphdef, state)
    scaler = None if meta.get("scaler") is None else PhysScaler.from_dict(meta["scaler"])
    return LoadedVAE(model, config, scaler, tuple(meta.get("classes", ())), meta.get("extra", {}))
