"""The original CNN-PELSVAE classifier (ORIGINAL.md §5) as a Flax NNX module, channels-last.

Shape suffixes: see `jaxpelsvae` (package docstring).
Input x_BL2: (Δt [days], Δmag) pairs; output log-probabilities (B, K).

Blocks i = 1..layers: grouped Conv1d (kernel 6, 3 zeros each side, groups 2, channels 16·2^(i−1))
→ BatchNorm (eps 1e-5, momentum 0.1, PyTorch semantics: models/batchnorm.py) → ReLU → MaxPool(3, floor);
then flatten channel-major like PyTorch (index c·T + t) → Linear(200) → ReLU → Linear(K) →
log_softmax. groups=2 keeps the Δt stream (first half of every channel axis) and the Δm stream
apart until fc1. Initialisation as the original: Xavier-uniform conv kernels and fc2 kernel;
fc1 kernel and all biases PyTorch's defaults (U(±1/sqrt(fan_in))); BatchNorm scale 1, bias 0.

Training-mode BatchNorm honours an optional batch mask (padding rows of a last batch are excluded
from the statistics).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import jax
import jax.numpy as jnp
from flax import nnx

from jaxpelsvae.errors import ConfigError
from jaxpelsvae.models.batchnorm import BatchNorm
from jaxpelsvae.models.conv import Conv1D, conv_output_length, max_pool1d, resolve_impl, torch_default_uniform


@dataclass(frozen=True)
class CNNConfig:
    """The classifier's architecture; defaults are the original's (nn_config.yaml, ORIGINAL.md §5, §13)."""

    num_classes: int = 5
    seq_length: int = 300  # L: fixes fc1's input size; synthetic curves of length L−1 fit too when L ≡ 0, 2 (mod 3)
    layers: int = 4  # conv blocks, 2..4
    kernel_size: int = 6
    padding: int = 3  # zeros on each side (the original's 'replicate' acted as zeros, §15.1 item 14)
    groups: int = 2
    base_channels: int = 16  # block i has base_channels · 2^(i−1) channels
    pool: int = 3
    fc_hidden: int = 200
    in_channels: int = 2
    bn_momentum: float = 0.1  # PyTorch convention: new = (1 − m)·old + m·batch
    bn_eps: float = 1e-5
    bn_warmup: bool = True  # running statistics as a cumulative average at first (models/batchnorm.py)
    log_softmax: bool = True  # the original outputs log-probabilities for focal/NLL losses
    conv_impl: str = "auto"  # "einsum" | "xla" | "auto" (per backend, see models/conv.py)

    def validate(self) -> "CNNConfig":
        if not 2 <= self.layers <= 4:
            raise ConfigError(f"CNNConfig.layers must be 2, 3 or 4 (the original's range), got {self.layers}")
        if self.num_classes < 2:
            raise ConfigError(f"CNNConfig.num_classes must be >= 2, got {self.num_classes}")
        if self.in_channels % self.groups or self.base_channels % self.groups:
            raise ConfigError("CNNConfig: in_channels and base_channels must be divisible by groups")
        if not 0.0 < self.bn_momentum <= 1.0:
            raise ConfigError(f"CNNConfig.bn_momentum must be in (0, 1], got {self.bn_momentum}")
        resolve_impl(self.conv_impl)
        if self.block_lengths()[-1] < 1:
            raise ConfigError(f"CNNConfig.seq_length {self.seq_length} is too short for {self.layers} blocks")
        return self

    def channels(self, block: int) -> int:
        """Output channels of block `block` (1-based)."""
        return self.base_channels * 2 ** (block - 1)

    def block_lengths(self) -> list[int]:
        """Sequence length after each block (conv then pool), for the configured L."""
        lengths, t = [], self.seq_length
        for _ in range(self.layers):
            t = conv_output_length(t, self.kernel_size, padding=(self.padding, self.padding)) // self.pool
            lengths.append(t)
        return lengths

    def fc1_in_features(self) -> int:
        """Flattened size after the last block: channels · length (512 for L = 300, 4 layers)."""
        return self.channels(self.layers) * self.block_lengths()[-1]


class CNN(nnx.Module):
    """The original CNN classifier. `model(x_BL2, mask_B=None) -> (B, K)` log-probabilities.

    Parameters are named as the PyTorch module's (conv1..convN, bn1..bnN, fc1, fc2), kernels in
    Flax layout (`models/convert.py` converts a PyTorch state dict).
    """

    def __init__(self, num_classes: int = 5, *, layers: int = 4, seq_length: int = 300, rngs: nnx.Rngs, **config):
        cfg = CNNConfig(num_classes=num_classes, layers=layers, seq_length=seq_length, **config).validate()
        self.config = cfg
        xavier = jax.nn.initializers.xavier_uniform()  # (K, I, O): fans I·K and O·K, as PyTorch's
        c_in = cfg.in_channels
        for i in range(1, cfg.layers + 1):
            c_out = cfg.channels(i)
            conv = Conv1D(
                c_in,
                c_out,
                cfg.kernel_size,
                groups=cfg.groups,
                padding=cfg.padding,
                kernel_init=xavier,
                impl=cfg.conv_impl,
                rngs=rngs,
            )
            bn = BatchNorm(c_out, momentum=cfg.bn_momentum, epsilon=cfg.bn_eps, warmup=cfg.bn_warmup)
            setattr(self, f"conv{i}", conv)
            setattr(self, f"bn{i}", bn)
            c_in = c_out
        n_flat = cfg.fc1_in_features()
        self.fc1 = nnx.Linear(
            n_flat,
            cfg.fc_hidden,
            kernel_init=torch_default_uniform(n_flat),
            bias_init=torch_default_uniform(n_flat),
            rngs=rngs,
        )
        self.fc2 = nnx.Linear(
            cfg.fc_hidden,
            cfg.num_classes,
            kernel_init=xavier,
            bias_init=torch_default_uniform(cfg.fc_hidden),
            rngs=rngs,
        )

    @classmethod
    def from_config(cls, config: CNNConfig, *, rngs: nnx.Rngs) -> "CNN":
        kw = asdict(config)
        return cls(kw.pop("num_classes"), layers=kw.pop("layers"), seq_length=kw.pop("seq_length"), rngs=rngs, **kw)

    def __call__(
        self, x_BL2: jax.Array, *, mask_B: jax.Array | None = None, use_running_average: bool | None = None
    ) -> jax.Array:
        """x_BL2 (B, L, in_channels) float32 -> (B, K) log-probabilities (raw logits if log_softmax=False).

        mask_B: (B,) bool, False for padding rows, excluded from training-mode BatchNorm statistics.
        use_running_average: None follows the module's mode (`model.train()` / `model.eval()`).
        """
        cfg = self.config
        if x_BL2.ndim != 3 or x_BL2.shape[-1] != cfg.in_channels:
            raise ConfigError(f"CNN input must be (B, L, {cfg.in_channels}), got {x_BL2.shape}")
        bn_mask = None if mask_B is None else mask_B[:, None, None]
        h = x_BL2
        for i in range(1, cfg.layers + 1):
            h = getattr(self, f"conv{i}")(h)
            h = getattr(self, f"bn{i}")(h, use_running_average, mask=bn_mask)
            # ReLU after the pool: max and ReLU commute (ReLU is monotonic), and ReLU then touches a
            # third of the values, forward and backward.
            h = jax.nn.relu(max_pool1d(h, cfg.pool, impl=cfg.conv_impl))
        b, t, c = h.shape
        if c * t != self.fc1.in_features:
            raise ConfigError(
                f"CNN built for sequences of length {cfg.seq_length} (fc1 takes {self.fc1.in_features}); "
                f"input length {x_BL2.shape[1]} gives {c}·{t}"
            )
        h = jnp.transpose(h, (0, 2, 1)).reshape(b, c * t)  # channel-major flatten, like PyTorch
        h = jax.nn.relu(self.fc1(h))
        logits_BK = self.fc2(h)
        return jax.nn.log_softmax(logits_BK, axis=-1) if cfg.log_softmax else logits_BK


def count_params(model: nnx.Module) -> int:
    """Number of trainable parameters (136,677 for the original: 4 layers, K = 5, L = 300)."""
    return sum(x.size for x in jax.tree.leaves(nnx.state(model, nnx.Param)))
