"""Eager PyTorch CNN-PELSVAE train step (the original network), timed; run with a torch interpreter.

Used by bench_train_step.py as the reference point: prints one JSON line
{"samples_per_s": [...] (wall clock), "samples_per_cpu_s": [...] (process CPU time),
"torch": version, "threads": n}. Not part of the package (needs torch).
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from torch import nn


class CNN(nn.Module):
    """ORIGINAL.md §5: 4 × (grouped Conv1d k6 pad3 → BN → ReLU → MaxPool3) → FC200 → ReLU → FC K → log_softmax."""

    def __init__(self, length: int = 300, num_classes: int = 5, layers: int = 4):
        super().__init__()
        blocks, c_in, t = [], 2, length
        for i in range(layers):
            c_out = 16 * 2**i
            blocks += [nn.Conv1d(c_in, c_out, 6, padding=3, groups=2), nn.BatchNorm1d(c_out), nn.ReLU(), nn.MaxPool1d(3)]
            c_in, t = c_out, (t + 1) // 3
        self.features = nn.Sequential(*blocks)
        self.fc1 = nn.Linear(c_in * t, 200)
        self.fc2 = nn.Linear(200, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv1d):
                nn.init.xavier_uniform_(m.weight)
        nn.init.xavier_uniform_(self.fc2.weight)

    def forward(self, x):
        h = self.features(x).flatten(1)
        return torch.log_softmax(self.fc2(torch.relu(self.fc1(h))), dim=1)


def focal_loss(logp, y, alpha, gamma=2.0):
    ce = nn.functional.cross_entropy(logp, y, reduction="none")
    return (alpha[y] * (1 - torch.exp(-ce)) ** gamma * ce).mean()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, default=125)
    parser.add_argument("--length", type=int, default=300)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = CNN(args.length)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    x = torch.tensor(rng.normal(size=(args.batch, 2, args.length)), dtype=torch.float32)
    y = torch.tensor(rng.integers(0, 5, args.batch))
    alpha = torch.ones(5)

    def step():
        opt.zero_grad()
        loss = focal_loss(model(x), y, alpha)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 6.0)
        opt.step()
        return loss

    for _ in range(3):
        step()
    rates, cpu_rates = [], []
    for _ in range(args.repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(args.steps):
            step()
        n = args.steps * args.batch
        rates.append(n / (time.perf_counter() - t0))
        cpu_rates.append(n / (time.process_time() - c0))
    print(json.dumps({"samples_per_s": rates, "samples_per_cpu_s": cpu_rates, "torch": torch.__version__,
                      "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
