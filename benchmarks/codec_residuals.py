"""Real ResFed residuals of a LeNet-5 on Fashion-MNIST, for the codec benchmarks.

The codec's size claims are only meaningful on tensors with the structure of real
updates (heavy tails, whole rows and columns more active than others), so this trains
a small LeNet-5 with the paper's optimiser and returns, per round t, the Res-0 residual
``w_t - w_{t-1}`` (the round update) and the Res-1 residual ``d_t - d_{t-1}``.
Self-contained on purpose: it must not depend on the rest of ``resfed``.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

FMNIST_DIR = Path(os.environ.get("RESFED_FMNIST_DIR", "/tmp/fm/usr/share/datasets/fashion-mnist"))


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (optionally gzipped): big-endian magic, dims, then raw data."""
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    ndim = raw[3]
    dims = np.frombuffer(raw, dtype=">u4", count=ndim, offset=4)
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(tuple(dims))


class LeNet5(nn.Module):
    """LeNet-5 as in the paper (61,706 parameters)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(400, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = torch.max_pool2d(torch.relu(self.conv2(x)), 2).flatten(1)
        return self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x)))))


def _flat(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def real_residuals(
    rounds: int = 4, images_per_round: int = 3000, seed: int = 0
) -> list[dict[str, dict[str, torch.Tensor]]]:
    """Train ``rounds`` rounds of one local epoch each; return per round {"res0", "res1"} states."""
    torch.manual_seed(seed)
    torch.set_num_threads(2)
    images = read_idx(FMNIST_DIR / "train-images-idx3-ubyte.gz")
    labels = read_idx(FMNIST_DIR / "train-labels-idx1-ubyte.gz")
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
    x = (x - x.mean()) / x.std()
    y = torch.from_numpy(labels.astype(np.int64))
    model = LeNet5()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    states = [_flat(model)]
    for r in range(rounds):
        lo = r * images_per_round
        for i in range(lo, lo + images_per_round, 64):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[i : i + 64]), y[i : i + 64]).backward()
            opt.step()
        states.append(_flat(model))
    updates = [{k: b[k] - a[k] for k in a} for a, b in zip(states, states[1:])]
    out = []
    for t, d in enumerate(updates):
        prev = updates[t - 1] if t > 0 else {k: torch.zeros_like(v) for k, v in d.items()}
        out.append({"res0": d, "res1": {k: d[k] - prev[k] for k in d}})
    return out
