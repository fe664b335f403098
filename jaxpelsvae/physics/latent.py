"""Physics (+ class) -> VAE latent z: the original's random forest and a JAX conditional Gaussian MLP.

Shape suffixes: see `jaxpelsvae` (package docstring); the regressor's C = P + K input features are the
standardised physics (in the priors' model space) and the class one-hot.

Both models see the same features. The MLP predicts a diagonal Gaussian over z (trained with the
Gaussian negative log-likelihood, optax Adam, early stopping on a validation split of the training
part); the random forest (200 trees, as the original) predicts the mean and takes as its spread the
per-dimension out-of-bag residual variance. Both are scored on the same held-out 10 % (R^2 of the
mean, uniform average over z dimensions as sklearn's r2_score; NLL in nats per star). The better
held-out R^2 is used by default.

The MLP samples inside jit (`mlp_sample`). The random forest cannot run under jit: when it is chosen,
the generator predicts its mean on the host between two jitted stages (see synth/generator.py).
"""
from __future__ import annotations

import dataclasses
import json
import math
import warnings
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxpelsvae.errors import ConfigError, DataError

_LOG_2PI = math.log(2.0 * math.pi)
MIN_LOGVAR = -9.0  # floor of the predicted log-variance (standardised z units)


@dataclasses.dataclass(frozen=True)
class LatentConfig:
    """Physics -> latent settings. model: "auto" (better held-out R^2), "rf" or "mlp"."""

    model: str = "auto"
    heldout_fraction: float = 0.1  # the original's test_size
    val_fraction: float = 0.15  # of the training part, for the MLP's early stopping
    rf_trees: int = 200
    rf_jobs: int = 2
    hidden: tuple[int, ...] = (64, 64)
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 256
    max_epochs: int = 1000
    patience: int = 40
    sample_noise: bool = True  # draw z from the predicted Gaussian (else its mean)
    seed: int = 42

    def __post_init__(self):
        if self.model not in ("auto", "rf", "mlp"):
            raise ConfigError(f"LatentConfig.model must be auto, rf or mlp, got {self.model!r}")
        if not 0.0 < self.heldout_fraction < 0.5 or not 0.0 < self.val_fraction < 0.5:
            raise ConfigError("LatentConfig: heldout_fraction and val_fraction must lie in (0, 0.5)")


# ----------------------------------------------------------------------------------------------
# The MLP (plain pytree of arrays: it lives inside the generator's jitted program)


def init_mlp(key, sizes: tuple[int, ...]) -> list[dict[str, jax.Array]]:
    """He-initialised dense layers for sizes (C, hidden..., 2Z)."""
    params = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        k = jax.random.fold_in(key, i)
        w = jax.random.normal(k, (fan_in, fan_out), jnp.float32) * jnp.sqrt(2.0 / fan_in)
        params.append({"w": w, "b": jnp.zeros((fan_out,), jnp.float32)})
    params[-1]["w"] = params[-1]["w"] * 0.1  # start near N(0, 1) in standardised units
    return params


def mlp_gaussian(params, feats_NC):
    """Predicted mean and log-variance (N, Z) each, in standardised z units."""
    h = feats_NC
    for layer in params[:-1]:
        h = jax.nn.gelu(h @ layer["w"] + layer["b"])
    out = h @ params[-1]["w"] + params[-1]["b"]
    mu, raw = jnp.split(out, 2, axis=-1)
    logvar = MIN_LOGVAR + jax.nn.softplus(raw - MIN_LOGVAR)
    return mu, logvar


def gaussian_nll(mu_NZ, logvar_NZ, z_NZ):
    """Negative log-likelihood per row (N,), nats, of z under N(mu, exp(logvar))."""
    return 0.5 * jnp.sum(logvar_NZ + (z_NZ - mu_NZ) ** 2 * jnp.exp(-logvar_NZ) + _LOG_2PI, axis=-1)


@dataclasses.dataclass(frozen=True)
class LatentStats:
    """Feature and target standardisation (fitted on the training part)."""

    x_mean: np.ndarray  # (P,)
    x_std: np.ndarray  # (P,)
    z_mean: np.ndarray  # (Z,)
    z_std: np.ndarray  # (Z,)
    num_classes: int


def latent_features(stats: LatentStats, phys_NP, labels_N):
    """(N, P + K) features: standardised physics, class one-hot (jnp or np input; jnp output)."""
    x = (jnp.asarray(phys_NP, jnp.float32) - stats.x_mean) / stats.x_std
    onehot = jax.nn.one_hot(labels_N, stats.num_classes, dtype=jnp.float32)
    return jnp.concatenate([x, onehot], axis=-1)


def mlp_sample(params, stats: LatentStats, key, phys_NP, labels_N, *, noise: bool = True):
    """z (N, Z) float32 from the MLP's Gaussian (its mean when noise is False); jittable."""
    mu, logvar = mlp_gaussian(params, latent_features(stats, phys_NP, labels_N))
    if noise:
        mu = mu + jnp.exp(0.5 * logvar) * jax.random.normal(key, mu.shape, jnp.float32)
    return mu * stats.z_std + stats.z_mean


def _train_mlp(key, feats_tr, z_tr, feats_va, z_va, config: LatentConfig):
    """Adam + weight decay on the Gaussian NLL, minibatches, early stopping on the validation NLL."""
    n, C = feats_tr.shape
    Z = z_tr.shape[1]
    params = init_mlp(key, (C, *config.hidden, 2 * Z))
    opt = optax.adamw(config.learning_rate, weight_decay=config.weight_decay)
    opt_state = opt.init(params)
    bs = int(min(config.batch_size, n))
    n_batches = max(1, n // bs)

    def loss_fn(p, x, z):
        mu, lv = mlp_gaussian(p, x)
        return jnp.mean(gaussian_nll(mu, lv, z))

    @jax.jit
    def epoch(p, s, k):
        perm = jax.random.permutation(k, n)[: n_batches * bs].reshape(n_batches, bs)

        def step(carry, idx):
            p, s = carry
            loss, g = jax.value_and_grad(loss_fn)(p, feats_tr[idx], z_tr[idx])
            upd, s = opt.update(g, s, p)
            return (optax.apply_updates(p, upd), s), loss

        (p, s), losses = jax.lax.scan(step, (p, s), perm)
        return p, s, jnp.mean(losses), loss_fn(p, feats_va, z_va)

    best, best_val, bad, epochs = params, np.inf, 0, 0
    for e in range(config.max_epochs):
        params, opt_state, _, val = epoch(params, opt_state, jax.random.fold_in(key, e + 1))
        val = float(val)
        epochs = e + 1
        if val < best_val - 1e-4:
            best, best_val, bad = params, val, 0
        else:
            bad += 1
            if bad >= config.patience:
                break
    return best, {"epochs": epochs, "best_val_nll_std": best_val}


# ----------------------------------------------------------------------------------------------
# Fitting both and choosing


def _r2(z_true, z_pred) -> float:
    from sklearn.metrics import r2_score

    return float(r2_score(z_true, z_pred))


def _split(labels_N, fraction, seed):
    """Stratified index split (train, held-out); classes with one star stay in train."""
    rng = np.random.default_rng([seed, 11])
    tr, te = [], []
    for c in np.unique(labels_N):
        idx = rng.permutation(np.flatnonzero(labels_N == c))
        n_te = int(round(fraction * len(idx))) if len(idx) > 1 else 0
        te.extend(idx[:n_te])
        tr.extend(idx[n_te:])
    return np.sort(np.array(tr, int)), np.sort(np.array(te, int))


@dataclasses.dataclass
class LatentModel:
    """Fitted physics -> latent model: the chosen kind, standardisation, MLP params, RF, report."""

    kind: str  # "mlp" or "rf"
    stats: LatentStats
    mlp_params: Any
    rf: Any
    rf_sigma_Z: np.ndarray  # out-of-bag residual std per z dimension
    report: dict

    def predict_mean(self, phys_NP, labels_N) -> np.ndarray:
        """Host: (N, Z) predicted mean of z for model-space physics and class indices."""
        if self.kind == "rf":
            return self.rf.predict(np.asarray(latent_features(self.stats, phys_NP, labels_N)))
        mu, _ = jax.jit(mlp_gaussian)(self.mlp_params, latent_features(self.stats, phys_NP, labels_N))
        return np.asarray(mu) * self.stats.z_std + self.stats.z_mean

    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        arrays = {f"stats_{k}": v for k, v in dataclasses.asdict(self.stats).items() if k != "num_classes"}
        for i, layer in enumerate(self.mlp_params or []):
            arrays[f"mlp_{i}_w"], arrays[f"mlp_{i}_b"] = np.asarray(layer["w"]), np.asarray(layer["b"])
        np.savez(folder / "latent.npz", rf_sigma_Z=self.rf_sigma_Z, **arrays)
        doc = {"kind": self.kind, "num_classes": self.stats.num_classes,
               "n_mlp_layers": len(self.mlp_params or []), "has_rf": self.rf is not None, "report": self.report}
        (folder / "latent.json").write_text(json.dumps(doc, indent=2))
        if self.rf is not None:
            import joblib

            joblib.dump(self.rf, folder / "latent_rf.joblib", compress=3)

    @classmethod
    def load(cls, folder: str | Path) -> "LatentModel":
        folder = Path(folder)
        doc = json.loads((folder / "latent.json").read_text())
        with np.load(folder / "latent.npz") as npz:
            stats = LatentStats(npz["stats_x_mean"], npz["stats_x_std"], npz["stats_z_mean"], npz["stats_z_std"],
                                int(doc["num_classes"]))
            params = [{"w": jnp.asarray(npz[f"mlp_{i}_w"]), "b": jnp.asarray(npz[f"mlp_{i}_b"])}
                      for i in range(doc["n_mlp_layers"])]
            sigma = npz["rf_sigma_Z"]
        rf = None
        if doc["has_rf"]:
            import joblib

            rf = joblib.load(folder / "latent_rf.joblib")
        return cls(doc["kind"], stats, params or None, rf, sigma, doc["report"])


def _within_class_r2(z_NZ, labels_N, tr, te, preds: dict) -> dict:
    """{class index: {model: held-out R² within the class, "class_mean": that of predicting the
    class's training mean}}: whether physics says more about a star's code than its class does
    (None under 2 held-out stars)."""
    out = {}
    for k in np.unique(labels_N[te]):
        rows = labels_N[te] == k
        if rows.sum() < 2 or not (labels_N[tr] == k).any():
            out[int(k)] = None
            continue
        z_k = z_NZ[te][rows]
        mean_k = np.broadcast_to(z_NZ[tr][labels_N[tr] == k].mean(0), z_k.shape)
        out[int(k)] = {**{m: _r2(z_k, p[rows]) for m, p in preds.items()}, "class_mean": _r2(z_k, mean_k)}
    return out


def fit_latent(phys_NP, labels_N, z_NZ, num_classes: int, config: LatentConfig = LatentConfig()) -> LatentModel:
    """Fit the random forest and the MLP on (physics, class) -> z; score both on a held-out split.

    phys_NP: (N, P) model-space physics without NaN (impute first); labels_N: class indices;
    z_NZ: encoder means of the VAE. Report keys: latent_r2_heldout {rf, mlp}, latent_r2_within_class
    (per class index: rf, mlp and the class-mean baseline), latent_nll_heldout {rf, mlp} (nats per
    star), n_train, n_heldout, mlp_epochs, chosen.
    """
    from sklearn.ensemble import RandomForestRegressor

    phys_NP = np.asarray(phys_NP, np.float64)
    z_NZ = np.asarray(z_NZ, np.float64)
    labels_N = np.asarray(labels_N, np.int32)
    if not (np.isfinite(phys_NP).all() and np.isfinite(z_NZ).all()):
        raise DataError("fit_latent: physics or latent codes contain NaN/inf (rule: impute physics first)")
    if len(phys_NP) < 10:
        raise DataError(f"fit_latent: {len(phys_NP)} stars; at least 10 are needed")
    tr, te = _split(labels_N, config.heldout_fraction, config.seed)
    x_mean, x_std = phys_NP[tr].mean(0), phys_NP[tr].std(0)
    z_mean, z_std = z_NZ[tr].mean(0), z_NZ[tr].std(0)
    stats = LatentStats(x_mean.astype(np.float32), np.where(x_std > 1e-8, x_std, 1.0).astype(np.float32),
                        z_mean.astype(np.float32), np.where(z_std > 1e-8, z_std, 1.0).astype(np.float32),
                        num_classes)
    feats = np.asarray(latent_features(stats, phys_NP, labels_N))
    zs = (z_NZ - stats.z_mean) / stats.z_std
    log_zstd = float(np.sum(np.log(stats.z_std)))

    # random forest (original settings; features as the MLP's)
    rf = RandomForestRegressor(n_estimators=config.rf_trees, max_features=None, oob_score=True,
                               n_jobs=config.rf_jobs, random_state=config.seed)
    with warnings.catch_warnings():  # tiny forests leave some rows without out-of-bag trees (NaN, skipped)
        warnings.filterwarnings("ignore", message="Some inputs do not have OOB scores")
        rf.fit(feats[tr], z_NZ[tr])
    oob = np.asarray(rf.oob_prediction_).reshape(len(tr), -1)
    rf_sigma = np.sqrt(np.maximum(np.nanmean((oob - z_NZ[tr]) ** 2, axis=0), 1e-12))
    rf_pred = rf.predict(feats[te]).reshape(len(te), -1)
    rf_nll = gaussian_nll(jnp.asarray(rf_pred), jnp.asarray(np.log(rf_sigma**2))[None], jnp.asarray(z_NZ[te]))

    # MLP: early stopping on a validation part of the training rows
    sub_tr, sub_va = _split(labels_N[tr], config.val_fraction, config.seed + 1)
    key = jax.random.key(config.seed)
    params, info = _train_mlp(key, jnp.asarray(feats[tr][sub_tr]), jnp.asarray(zs[tr][sub_tr], jnp.float32),
                              jnp.asarray(feats[tr][sub_va]), jnp.asarray(zs[tr][sub_va], jnp.float32), config)
    mu_te, lv_te = mlp_gaussian(params, jnp.asarray(feats[te]))
    mlp_pred = np.asarray(mu_te) * stats.z_std + stats.z_mean
    mlp_nll = gaussian_nll(mu_te, lv_te, jnp.asarray(zs[te], jnp.float32)) + log_zstd

    r2 = {"rf": _r2(z_NZ[te], rf_pred), "mlp": _r2(z_NZ[te], mlp_pred)}
    nll = {"rf": float(jnp.mean(rf_nll)), "mlp": float(jnp.mean(mlp_nll))}
    kind = config.model if config.model != "auto" else ("mlp" if r2["mlp"] >= r2["rf"] else "rf")
    report = {
        "latent_r2_heldout": r2,
        "latent_r2_within_class": _within_class_r2(z_NZ, labels_N, tr, te, {"rf": rf_pred, "mlp": mlp_pred}),
        "latent_nll_heldout": nll,
        "n_train": int(len(tr)),
        "n_heldout": int(len(te)),
        "mlp_epochs": info["epochs"],
        "chosen": kind,
        "selection": "held-out R^2" if config.model == "auto" else "config",
        "config": dataclasses.asdict(config),
    }
    return LatentModel(kind, stats, params, rf, rf_sigma.astype(np.float32), report)
