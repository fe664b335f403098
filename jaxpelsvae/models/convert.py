"""Convert a PyTorch CNN-PELSVAE state dict (PyTorch layouts) into our `CNN` (Flax layouts).

PyTorch → ours: Conv1d weight (O, C/G, K) → kernel (K, C/G, O); Linear weight (out, in) → kernel
(in, out) (fc1's input index stays c·T + t, as our flatten is channel-major); BatchNorm
weight/bias/running_mean/running_var → scale/bias/mean/var. `num_batches_tracked` is ignored.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxpelsvae.errors import ConfigError
from jaxpelsvae.models.cnn import CNN


def _as_numpy(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=np.float32)


def normalise_state_dict(state_dict_like: Mapping[str, Any], prefix: str = "") -> dict[str, np.ndarray]:
    """Keys without `prefix` (e.g. "w/" in original_cnn_parity.npz) and DataParallel's "module."; values float32 numpy."""
    out = {}
    for key in state_dict_like.keys():
        if prefix and not key.startswith(prefix):
            continue
        name = key[len(prefix):]
        name = name[len("module."):] if name.startswith("module.") else name
        if name.endswith("num_batches_tracked"):
            continue
        out[name] = _as_numpy(state_dict_like[key])
    return out


def _get(sd: dict[str, np.ndarray], name: str, shape: tuple[int, ...]) -> np.ndarray:
    if name not in sd:
        raise ConfigError(f"PyTorch state dict lacks {name!r} (has {sorted(sd)})")
    if sd[name].shape != shape:
        raise ConfigError(f"PyTorch tensor {name!r} has shape {sd[name].shape}, expected {shape}")
    return sd[name]


def load_torch_state(model: CNN, state_dict_like: Mapping[str, Any], *, prefix: str = "") -> CNN:
    """Copy a PyTorch state dict into `model` in place (shapes checked); returns the model."""
    sd = normalise_state_dict(state_dict_like, prefix)
    cfg = model.config

    def put(var: nnx.Variable, value: np.ndarray) -> None:
        var[...] = jnp.asarray(value)

    for i in range(1, cfg.layers + 1):
        conv, bn = getattr(model, f"conv{i}"), getattr(model, f"bn{i}")
        k, ipg, o = conv.kernel.shape
        put(conv.kernel, _get(sd, f"conv{i}.weight", (o, ipg, k)).transpose(2, 1, 0))
        put(conv.bias, _get(sd, f"conv{i}.bias", (o,)))
        put(bn.scale, _get(sd, f"bn{i}.weight", (o,)))
        put(bn.bias, _get(sd, f"bn{i}.bias", (o,)))
        put(bn.mean, _get(sd, f"bn{i}.running_mean", (o,)))
        put(bn.var, _get(sd, f"bn{i}.running_var", (o,)))
        # Trained statistics: further training continues PyTorch's exponential average (no warm-up).
        tracked = sd.get(f"bn{i}.num_batches_tracked")
        put(bn.count, np.asarray(tracked if tracked is not None else 1e6, np.float32).reshape(()))
    for name in ("fc1", "fc2"):
        lin = getattr(model, name)
        n_in, n_out = lin.kernel.shape
        put(lin.kernel, _get(sd, f"{name}.weight", (n_out, n_in)).T)
        put(lin.bias, _get(sd, f"{name}.bias", (n_out,)))
    return model


def cnn_from_torch_state(
    state_dict_like: Mapping[str, Any],
    *,
    seq_length: int = 300,
    prefix: str = "",
    conv_impl: str = "auto",
    **config: Any,
) -> CNN:
    """Build a `CNN` holding the weights of a PyTorch state dict (torch tensors or numpy arrays).

    The number of blocks and classes are read from the keys and shapes; `seq_length` (L) must be
    the one the PyTorch model was built for (it fixes fc1's input size, checked). Extra keyword
    arguments go to `CNNConfig` (e.g. kernel_size, padding). Returns the model in eval mode.
    """
    sd = normalise_state_dict(state_dict_like, prefix)
    layers = len([k for k in sd if re.fullmatch(r"conv\d+\.weight", k)])
    if "fc2.weight" not in sd or layers == 0:
        raise ConfigError("not a CNN-PELSVAE state dict: needs conv<i>.weight and fc2.weight")
    num_classes = sd["fc2.weight"].shape[0]
    config.setdefault("kernel_size", sd["conv1.weight"].shape[-1])
    model = CNN(num_classes, layers=layers, seq_length=seq_length, conv_impl=conv_impl, rngs=nnx.Rngs(0), **config)
    load_torch_state(model, sd)
    model.eval()
    return model
