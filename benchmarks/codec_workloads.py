"""What the codec benchmarks run on: the paper's three models and real residuals.

Size claims are only meaningful on tensors with the structure of real updates (heavy
tails, whole rows and columns more active than others), so :func:`real_residuals`
trains a LeNet-5 on Fashion-MNIST with the paper's optimiser and returns, per round t,
the Res-0 residual ``d_t = w_t - w_{t-1}`` (the round update) and the Res-1 residual
``d_t - d_{t-1}``. Speed only needs the models' layouts (:data:`MODELS`).
Self-contained on purpose: it does not depend on the rest of ``resfed``.
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


class CNN(nn.Module):
    """The paper's CNN as in the official code (1,020,160 parameters with 3 input
    channels). Layout only: the speed benchmark needs its state dict, not a forward."""

    def __init__(self, in_channels: int = 3) -> None:
        super().__init__()
        widths = [(32, 64), (64, 128), (128, 256), (256, 256)]
        self.conv0 = nn.Conv2d(in_channels, 32, 3, padding=1)
        self.convs = nn.ModuleList(nn.Conv2d(a, b, 3, padding=1, bias=False) for a, b in widths)
        self.norms = nn.ModuleList(nn.BatchNorm2d(b) for _, b in widths)
        self.fc = nn.Linear(4096, 10, bias=False)


class BasicBlock(nn.Module):
    """ResNet basic block (layout only)."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))


class ResNet18(nn.Module):
    """torchvision's ResNet-18 with 10 classes: 11,181,642 parameters (3 input channels).
    Layout only, like :class:`CNN`."""

    def __init__(self, in_channels: int = 3) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        blocks, cin = [], 64
        for cout, stride in [(64, 1), (128, 2), (256, 2), (512, 2)]:
            blocks.append(nn.Sequential(BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)))
            cin = cout
        self.layers = nn.Sequential(*blocks)
        self.fc = nn.Linear(512, 10)


MODELS = {"LeNet-5": LeNet5, "CNN": CNN, "ResNet-18": ResNet18}


def n_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def random_residual(model: nn.Module, seed: int = 0) -> dict[str, torch.Tensor]:
    """The model's state with Gaussian floats (positions of the top-k are then uniform)."""
    g = torch.Generator().manual_seed(seed)
    return {
        k: torch.randn(v.shape, generator=g) * 1e-3 if v.is_floating_point() else v.clone()
        for k, v in model.state_dict().items()
    }


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
