"""Backbones on the folded view: a phase-shift-invariant CNN (circular padding, global pooling over phase) and a hybrid with a pair branch.

Shape suffixes: see `jaxpelsvae` (package docstring); the towers run over L positions (phase bins or pairs).
Both return log-probabilities (B, K), like the original CNN, so the same losses and steps apply.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from flax import nnx

from jaxpelsvae.errors import ConfigError
from jaxpelsvae.models.batchnorm import BatchNorm
from jaxpelsvae.models.conv import Conv1D, max_pool1d, resolve_impl


@dataclasses.dataclass(frozen=True)
class FoldedCNNConfig:
    """Architecture of `FoldedCNN`.

    channels: one circular conv block per entry (conv → BatchNorm → ReLU); every block but the last
        is followed by a max-pool of `pool` (stride = window), so a cyclic shift of the input by a
        multiple of pool^(blocks−1) bins leaves the output exactly unchanged, and other shifts
        nearly so (the global pooling over phase sees every position alike).
    in_channels: channels of the folded view (mag, filled); n_scalars: scalars beside it.
    hidden: width of the dense head that reads the pooled folds and the scalars.
    """

    num_classes: int = 5
    in_channels: int = 2
    n_scalars: int = 4
    n_folds: int = 2
    channels: tuple[int, ...] = (16, 32, 32)
    kernel_size: int = 5
    pool: int = 2
    hidden: int = 64
    conv_impl: str = "auto"

    def validate(self) -> "FoldedCNNConfig":
        if self.num_classes < 2:
            raise ConfigError(f"FoldedCNNConfig.num_classes must be >= 2, got {self.num_classes}")
        if not self.channels:
            raise ConfigError("FoldedCNNConfig.channels must name at least one block")
        if self.kernel_size % 2 == 0:
            raise ConfigError("FoldedCNNConfig.kernel_size must be odd (symmetric circular padding)")
        resolve_impl(self.conv_impl)
        return self


class CircularTower(nnx.Module):
    """Conv blocks with circular padding over a periodic axis, then global mean and max pooling.

    `tower(x_BLC, mask_B) -> (B, 2·C_last)`; mask_B (B,) excludes padding rows from BatchNorm.
    """

    def __init__(self, in_channels: int, channels, kernel_size: int, pool: int, *, padding_mode: str = "circular",
                 conv_impl: str = "auto", rngs: nnx.Rngs):
        self.n_blocks = len(channels)
        self.pool = pool
        self.conv_impl = conv_impl
        c_in = in_channels
        for i, c_out in enumerate(channels, start=1):
            # He-style init for ReLU nets keeps activations O(1) through the blocks.
            setattr(self, f"conv{i}", Conv1D(c_in, c_out, kernel_size, padding=kernel_size // 2,
                                             padding_mode=padding_mode, kernel_init=nnx.initializers.he_uniform(),
                                             impl=conv_impl, rngs=rngs))
            setattr(self, f"bn{i}", BatchNorm(c_out))
            c_in = c_out
        self.out_features = 2 * c_in

    def __call__(self, x_BLC, mask_B=None, *, use_running_average=None, valid_BL=None):
        """valid_BL: optional (B, L) bool; positions False are left out of the global pooling."""
        bn_mask = None if mask_B is None else mask_B[:, None, None]
        h = x_BLC
        for i in range(1, self.n_blocks + 1):
            h = getattr(self, f"conv{i}")(h)
            h = jax.nn.relu(getattr(self, f"bn{i}")(h, use_running_average, mask=bn_mask))
            if i < self.n_blocks:
                h = max_pool1d(h, self.pool, impl=self.conv_impl)
                if valid_BL is not None:  # a pooled position is valid if any of its inputs was
                    b, n = valid_BL.shape
                    m = n // self.pool
                    valid_BL = valid_BL[:, : m * self.pool].reshape(b, m, self.pool).any(axis=-1)
        if valid_BL is None:
            return jnp.concatenate([h.mean(axis=1), h.max(axis=1)], axis=-1)
        w = valid_BL[..., None].astype(h.dtype)
        mean = (h * w).sum(axis=1) / jnp.maximum(w.sum(axis=1), 1.0)
        mx = jnp.where(valid_BL[..., None], h, 0.0).max(axis=1)  # h >= 0 after ReLU: 0 is a neutral floor
        return jnp.concatenate([mean, mx], axis=-1)


class FoldedCNN(nnx.Module):
    """CNN on the folded view: `model({"folded": (B, folds, Q, C), "scalars": (B, scalars)}, mask_B=None) -> (B, K)`.

    One circular tower is shared by the F folds (a fold is a curve at another trial period: the same
    shapes matter), its pooled features are concatenated over folds, the scalars (after a BatchNorm:
    log period, log amplitude and R² live on different scales) are appended, and a two-layer head
    gives log-probabilities. The arbitrary phase origin of a fold cannot change the output (cf. Zhang
    & Bloom 2021, iTCN).
    """

    def __init__(self, num_classes: int = 5, *, head: bool = True, rngs: nnx.Rngs, **config):
        """head: False builds only the feature part (`features`), for models that add their own head."""
        cfg = FoldedCNNConfig(num_classes=num_classes, **config).validate()
        self.config = cfg
        self.tower = CircularTower(cfg.in_channels, cfg.channels, cfg.kernel_size, cfg.pool,
                                   conv_impl=cfg.conv_impl, rngs=rngs)
        self.bn_scalars = BatchNorm(cfg.n_scalars)
        self.out_features = cfg.n_folds * self.tower.out_features + cfg.n_scalars
        if head:
            self.fc1 = nnx.Linear(self.out_features, cfg.hidden, kernel_init=nnx.initializers.he_uniform(), rngs=rngs)
            self.fc2 = nnx.Linear(cfg.hidden, cfg.num_classes, rngs=rngs)

    def features(self, x, mask_B=None, use_running_average=None):
        """(B, folds·2·C_last + scalars) features before the head."""
        folded = x["folded"]
        b, f, n, c = folded.shape
        if (f, c) != (self.config.n_folds, self.config.in_channels):
            raise ConfigError(f"FoldedCNN built for {self.config.n_folds} folds of {self.config.in_channels} "
                              f"channels, got input {folded.shape}")
        fold_mask = None if mask_B is None else jnp.repeat(mask_B, f)
        pooled = self.tower(folded.reshape(b * f, n, c), fold_mask, use_running_average=use_running_average)
        scal_mask = None if mask_B is None else mask_B[:, None]
        scalars = self.bn_scalars(x["scalars"], use_running_average, mask=scal_mask)
        return jnp.concatenate([pooled.reshape(b, -1), scalars], axis=-1)

    def __call__(self, x, *, mask_B=None, use_running_average=None):
        h = jax.nn.relu(self.fc1(self.features(x, mask_B, use_running_average)))
        return jax.nn.log_softmax(self.fc2(h), axis=-1)


class HybridCNN(nnx.Module):
    """Folded branch (as `FoldedCNN`) plus a (Δt, Δm) pair branch, joined before the dense head.

    `model({"folded", "scalars", "pairs": (B, L, pair_features), "valid": (B, L)}, mask_B=None) -> (B, K)`.
    The pair branch is a zero-padded conv tower with masked global pooling over the pairs (their
    order is random, so position carries nothing).
    """

    def __init__(self, num_classes: int = 5, *, pair_features: int = 3, pair_channels=(16, 32), rngs: nnx.Rngs,
                 **config):
        self.folded = FoldedCNN(num_classes, head=False, rngs=rngs, **config)
        cfg = self.folded.config
        self.pairs = CircularTower(pair_features, tuple(pair_channels), 3, cfg.pool, padding_mode="zeros",
                                   conv_impl=cfg.conv_impl, rngs=rngs)
        n_in = self.folded.out_features + self.pairs.out_features
        self.fc1 = nnx.Linear(n_in, cfg.hidden, kernel_init=nnx.initializers.he_uniform(), rngs=rngs)
        self.fc2 = nnx.Linear(cfg.hidden, cfg.num_classes, rngs=rngs)

    def __call__(self, x, *, mask_B=None, use_running_average=None):
        h_fold = self.folded.features(x, mask_B, use_running_average)
        h_pair = self.pairs(x["pairs"], mask_B, use_running_average=use_running_average, valid_BL=x["valid"])
        h = jax.nn.relu(self.fc1(jnp.concatenate([h_fold, h_pair], axis=-1)))
        return jax.nn.log_softmax(self.fc2(h), axis=-1)
