"""Two processes on loopback (jax.distributed + gloo CPU collectives) train like one process."""
from __future__ import annotations

import os
import socket
import subprocess
import sys

import numpy as np


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cmd(out, **kw) -> list[str]:
    args = [sys.executable, "-m", "jaxpelsvae.train.distributed_check", "--out", str(out)]
    for k, v in kw.items():
        args += [f"--{k.replace('_', '-')}", str(v)]
    return args


def test_two_processes_match_one(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JAX_", "XLA_"))}
    port = _free_port()
    procs = [
        subprocess.Popen(
            _cmd(tmp_path / f"p{i}.npz", num_processes=2, process_id=i, port=port, local_devices=2),
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        for i in range(2)
    ]
    single = subprocess.run(_cmd(tmp_path / "single.npz", local_devices=1), env=env, capture_output=True, text=True, timeout=300)
    logs = [p.communicate(timeout=300)[0] for p in procs]
    assert single.returncode == 0, single.stderr[-2000:]
    for p, log in zip(procs, logs):
        assert p.returncode == 0, log[-2000:]
    ref = np.load(tmp_path / "single.npz")
    for i in range(2):
        got = np.load(tmp_path / f"p{i}.npz")
        assert set(got.files) == set(ref.files)
        for name in ref.files:
            np.testing.assert_allclose(got[name], ref[name], rtol=1e-4, atol=1e-5, err_msg=name)
    # The steps really changed the parameters: the comparison is not between two initialisations.
    init = _initial_params()
    assert set(init) == set(ref.files)
    moved = [n for n in ref.files if not np.allclose(ref[n], init[n], rtol=1e-4, atol=1e-5)]
    assert "['fc2']['kernel'].value" in moved and len(moved) >= len(ref.files) // 2, moved


def _initial_params() -> dict[str, np.ndarray]:
    """The parameters every process of the check starts from, keyed as in its output files."""
    import jax

    from jaxpelsvae.train.distributed_check import make_model
    from jaxpelsvae.train.state import split_model

    _, params, _ = split_model(make_model())
    return {jax.tree_util.keystr(p): np.asarray(v) for p, v in jax.tree_util.tree_leaves_with_path(params)}
