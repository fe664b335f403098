"""PELS-VAE: TCN encoder/decoder conditioned on class one-hot (both) and physical parameters (encoder).

Shape suffixes: see `jaxpelsvae` (package docstring). T counts the 600 phases of the fixed two-cycle grid of
`jaxpelsvae.data.fold`; K is the one-hot width.

Follows `VAE_TCN` of the original (ORIGINAL.md §9.2, PAPERS.md §1.3): the encoder reads
(phase, magnitude, error) per step, keeps the TCN output at the last step, appends the one-hot label
and the min-max-scaled physical parameters, then Linear->16->ReLU->Dropout and two heads (mu,
logvar). The decoder tiles [z, one-hot] over the phases, prepends the phase channel, and maps the TCN
output through Linear(8->1) and a sigmoid to the normalised magnitude in (0, 1).
"""
from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from flax import nnx

from jaxpelsvae import config as config_io
from jaxpelsvae.errors import ConfigError
from jaxpelsvae.models.tcn import (
    CONV_IMPLS,
    RESIDUAL_INITS,
    TemporalConvNet,
    dropout,
    dropout_keys,
    min_levels,
    receptive_field,
    torch_uniform_init,
)


@dataclasses.dataclass(frozen=True)
class VAEConfig:
    """Architecture and loss of the PELS-VAE; defaults are the original's `generative_main` run.

    units is the TCN width (its channels, C); levels the number of TemporalBlocks (>= 3: the last three decoder
    widths are 32, 16, 8); kl_scale the original's hard-coded 1/1e4 on the KL term; feed_pp also
    feeds the physical parameters to the decoder (off in every released run); conv_impl "auto"
    picks the convolution per backend at trace time (`conv.default_impl`: "einsum" on CPU, "xla"
    on GPU); the parameters are the same whichever implementation runs.

    The encoder keeps only the TCN output at the last phase, so its receptive field
    1 + 2 (kernel_size - 1) (2**levels - 1) must cover seq_len: a shallower encoder never sees the
    start of the curve (levels 4, kernel 4 see the last 91 of 600 phases) and is rejected.
    residual_init: init of the 1x1 residual convolutions of the TCN blocks that change width
    (`tcn.Conv1x1`): "original" (N(0, 0.01), the original's) or "identity" (the blocks start as
    identity maps, like the same-width ones). With "original" the decoder's output starts
    independent of z and nearly flat in phase, and a small data set trains for many epochs at the
    mean curve: on ~400 folded curves (simulated OGLE and Gaia cadence, Gaia DR3), 150 steps of
    batch 32, validation MSE stayed at the class-average curves' (1.03-1.07 of it, two runs), where
    "identity" reached 0.49-0.68 of it (three datasets, three seeds each). The original-size model (levels 9, units 48)
    gained too (0.041 -> 0.030 against 0.036, one run); the original trained 65k curves for 150
    epochs, where this matters less. "identity" is the default; it changes only the starting
    point (parameter shapes and counts are the original's, and released weights load as they are).
    """

    latent_dim: int = 6
    units: int = 48
    levels: int = 9
    kernel_size: int = 4
    dropout: float = 0.2
    seq_len: int = 600
    n_feats: int = 3
    num_classes: int = 8
    phys_dim: int = 6
    beta: float = 0.75
    kl_scale: float = 1e-4
    feed_pp: bool = False
    hidden_dense: int = 16
    conv_impl: str = "auto"
    residual_init: str = "identity"  # the original's N(0, 0.01) is "original" (see above)

    def __post_init__(self):
        positive = ("latent_dim", "units", "kernel_size", "seq_len", "n_feats", "num_classes", "hidden_dense")
        config_io.require_positive(self, positive, label="VAEConfig.")
        if self.levels < 3:
            raise ConfigError(f"VAEConfig.levels must be >= 3 (decoder ends with widths 32, 16, 8), got {self.levels}")
        if self.phys_dim < 0:
            raise ConfigError(f"VAEConfig.phys_dim must be >= 0, got {self.phys_dim}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"VAEConfig.dropout must be in [0, 1), got {self.dropout}")
        if self.n_feats != 3:
            raise ConfigError(f"VAEConfig.n_feats must be 3 (phase, magnitude, error), got {self.n_feats}")
        if self.conv_impl not in CONV_IMPLS:
            raise ConfigError(f"VAEConfig.conv_impl must be one of {CONV_IMPLS}, got {self.conv_impl!r}")
        if self.residual_init not in RESIDUAL_INITS:
            raise ConfigError(f"VAEConfig.residual_init must be one of {RESIDUAL_INITS}, got {self.residual_init!r}")
        if self.receptive_field < self.seq_len:
            hint = (f"use levels >= {max(3, min_levels(self.kernel_size, self.seq_len))} for kernel_size "
                    f"{self.kernel_size}" if self.kernel_size > 1 else "use kernel_size >= 2")
            raise ConfigError(
                f"VAEConfig: the encoder's receptive field ({self.receptive_field} phases for kernel_size "
                f"{self.kernel_size}, levels {self.levels}) is shorter than seq_len {self.seq_len}; the encoder "
                f"reads only the last phase, so it would never see the start of the curve: {hint}")

    @property
    def receptive_field(self) -> int:
        """Phases seen by the encoder's last step: 1 + 2 (kernel_size - 1) (2**levels - 1)."""
        return receptive_field(self.kernel_size, self.levels)

    @property
    def encoder_channels(self) -> tuple[int, ...]:
        return (8, 16, 32, *([self.units] * (self.levels - 3)))

    @property
    def decoder_channels(self) -> tuple[int, ...]:
        return (*([self.units] * (self.levels - 3)), 32, 16, 8)

    def to_dict(self) -> dict[str, Any]:
        return config_io.to_dict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "VAEConfig":
        return config_io.from_dict(cls, d)


class VAEOutput(NamedTuple):
    """Forward pass: xhat_BT normalised magnitude in (0, 1); mu, logvar, z (B, Z)."""

    xhat: jax.Array
    mu: jax.Array
    logvar: jax.Array
    z: jax.Array


def _torch_linear(in_dim: int, out_dim: int, rngs: nnx.Rngs) -> nnx.Linear:
    """nnx.Linear with PyTorch's default init: weight and bias U(-1/sqrt(in), 1/sqrt(in))."""
    init = torch_uniform_init(in_dim)
    return nnx.Linear(in_dim, out_dim, kernel_init=init, bias_init=init, rngs=rngs)


def reparameterize(key: jax.Array, mu_BZ: jax.Array, logvar_BZ: jax.Array) -> jax.Array:
    """z = mu + exp(logvar / 2) * eps, eps ~ N(0, 1)."""
    eps = jax.random.normal(key, mu_BZ.shape, mu_BZ.dtype)
    return mu_BZ + jnp.exp(0.5 * logvar_BZ) * eps


class PelsVAE(nnx.Module):
    """Physics-enhanced latent-space VAE with TCN encoder and decoder (see the module docstring).

    Pass `key=None` for evaluation (no dropout, z = mu) and a typed key for training (dropout on,
    z sampled).
    """

    def __init__(self, config: VAEConfig, *, rngs: nnx.Rngs):
        self.config = config
        impl = config.conv_impl
        c = config
        res = c.residual_init
        self.enc_tcn = TemporalConvNet(c.n_feats, c.encoder_channels, c.kernel_size, c.dropout, impl=impl,
                                       residual_init=res, rngs=rngs)
        # The original uses `units` here; the encoder's last width equals it whenever levels >= 4.
        self.enc_linear = _torch_linear(c.encoder_channels[-1] + c.num_classes + c.phys_dim, c.hidden_dense, rngs)
        self.mu_head = _torch_linear(c.hidden_dense, c.latent_dim, rngs)
        self.logvar_head = _torch_linear(c.hidden_dense, c.latent_dim, rngs)
        dec_in = 1 + c.latent_dim + c.num_classes + (c.phys_dim if c.feed_pp else 0)
        self.dec_tcn = TemporalConvNet(dec_in, c.decoder_channels, c.kernel_size, c.dropout, impl=impl,
                                       residual_init=res, rngs=rngs)
        self.dec_linear = _torch_linear(c.decoder_channels[-1], 1, rngs)

    def encode(self, x_BT3: jax.Array, onehot_BK: jax.Array, phys_BP: jax.Array | None,
               *, key: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
        """x_BT3 (phase, mag, err) normalised; onehot_BK; phys_BP min-max scaled -> (mu_BZ, logvar_BZ).

        key: typed key for dropout (training) or None (evaluation).
        """
        k_tcn, k_drop = (None, None) if key is None else dropout_keys(key, 2)
        h_BTC = self.enc_tcn(x_BT3, k_tcn)
        parts = [h_BTC[:, -1, :], onehot_BK]  # last step: sees the whole curve (receptive field >= seq_len)
        if self.config.phys_dim:
            parts.append(phys_BP)
        h_B = dropout(jax.nn.relu(self.enc_linear(jnp.concatenate(parts, axis=-1))), self.config.dropout, k_drop)
        return self.mu_head(h_B), self.logvar_head(h_B)

    def decode(self, z_BZ: jax.Array, onehot_BK: jax.Array, phase_BT: jax.Array,
               phys_BP: jax.Array | None = None, *, key: jax.Array | None = None) -> jax.Array:
        """z_BZ, onehot_BK, phase_BT -> normalised magnitude (B, T) in (0, 1).

        phase_BT is the VAE time axis the model was trained on: `jaxpelsvae.data.PHASE_GRID_VAE`
        (the two-cycle PHASE_GRID min-max scaled to [1e-4, 0.9999]) broadcast to (B, 600).
        phys_BP is needed only when config.feed_pp.
        """
        t = phase_BT.shape[1]
        parts = [z_BZ, onehot_BK]
        if self.config.feed_pp:
            if phys_BP is None:
                raise ConfigError("this PELS-VAE was built with feed_pp=True: decode needs phys_BP")
            parts.append(phys_BP)
        cond_BC = jnp.concatenate(parts, axis=-1)
        cond_BTC = jnp.broadcast_to(cond_BC[:, None, :], (cond_BC.shape[0], t, cond_BC.shape[1]))
        h_BTC = self.dec_tcn(jnp.concatenate([phase_BT[..., None], cond_BTC], axis=-1), key)
        return jax.nn.sigmoid(self.dec_linear(h_BTC)[..., 0])

    def __call__(self, x_BT3: jax.Array, onehot_BK: jax.Array, phys_BP: jax.Array | None,
                 *, key: jax.Array | None = None) -> VAEOutput:
        """Encode, sample (mean when key is None), decode on the input's own phase channel."""
        if key is None:
            mu, logvar = self.encode(x_BT3, onehot_BK, phys_BP)
            z = mu
            xhat = self.decode(z, onehot_BK, x_BT3[..., 0], phys_BP)
        else:
            # one conversion to the fast rbg PRNG for dropout masks and eps (see tcn.dropout_keys)
            k_enc, k_z, k_dec = dropout_keys(key, 3)
            mu, logvar = self.encode(x_BT3, onehot_BK, phys_BP, key=k_enc)
            z = reparameterize(k_z, mu, logvar)
            xhat = self.decode(z, onehot_BK, x_BT3[..., 0], phys_BP, key=k_dec)
        return VAEOutput(xhat, mu, logvar, z)


def kl_divergence(mu_BZ: jax.Array, logvar_BZ: jax.Array) -> jax.Array:
    """KL(N(mu, e^logvar) || N(0, 1)) per example, summed over latent dimensions -> (B,)."""
    return -0.5 * jnp.sum(1.0 + logvar_BZ - mu_BZ**2 - jnp.exp(logvar_BZ), axis=-1)


def vae_loss(out: VAEOutput, x_BT3: jax.Array, *, beta: float, kl_scale: float = 1e-4,
             weights_B: jax.Array | None = None) -> tuple[jax.Array, dict[str, jax.Array]]:
    """MSE on the normalised magnitude + beta * kl_scale * KL, per example then averaged.

    Equals the original's `MSE(xhat, x[:,:,1]) + beta * KL_sum / B / 1e4` for kl_scale=1e-4.
    weights_B (optional, 0/1) drops padded examples from the average. Returns (loss, metrics) with
    metrics mse, kl (mean per example, unscaled) and loss.
    """
    mse_B = jnp.mean((out.xhat - x_BT3[..., 1]) ** 2, axis=-1)
    kl_B = kl_divergence(out.mu, out.logvar)
    loss_B = mse_B + beta * kl_scale * kl_B
    if weights_B is None:
        weights_B = jnp.ones_like(loss_B)
    denom = jnp.maximum(jnp.sum(weights_B), 1.0)

    def avg(v_B):
        return jnp.sum(v_B * weights_B) / denom

    loss = avg(loss_B)
    return loss, {"loss": loss, "mse": avg(mse_B), "kl": avg(kl_B)}


def count_params(model: nnx.Module) -> int:
    """Number of trainable scalars."""
    return int(sum(x.size for x in jax.tree.leaves(nnx.state(model, nnx.Param))))
