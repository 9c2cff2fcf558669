"""Local training (plain SGD with momentum, as every FedAvg client does) and evaluation.

A client's round is a pure function of (start state, its data, settings, generator), so
the clients of a round can be trained one after another (here) or as one batched
computation over stacked parameters (`resfed.batched`) without changing the round loop;
both draw their batches from `batch_schedule`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from resfed import state as st


@dataclass(frozen=True)
class TrainSettings:
    lr: float = 0.01
    momentum: float = 0.9
    batch_size: int = 64
    local_epochs: int = 1
    eval_batch_size: int = 1000

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> TrainSettings:
        return cls(**{k: values[k] for k in cls.__dataclass_fields__ if k in values})


def batch_schedule(n_samples: int, settings: TrainSettings, generator: torch.Generator) -> list[torch.Tensor]:
    """A client's mini-batches for one round: a fresh permutation per epoch, cut into batches."""
    return [
        batch
        for _ in range(settings.local_epochs)
        for batch in torch.randperm(n_samples, generator=generator).split(settings.batch_size)
    ]


def local_train(
    model: nn.Module,
    start: Mapping[str, torch.Tensor],
    inputs: torch.Tensor,
    labels: torch.Tensor,
    settings: TrainSettings,
    generator: torch.Generator,
) -> tuple[st.State, float]:
    """SGD with momentum from `start` on one client's data; returns (new state, mean loss).

    The optimiser starts fresh each round (no momentum carried across rounds), as in FedAvg.
    """
    model.load_state_dict(start)
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=settings.lr, momentum=settings.momentum)
    loss_fn = nn.CrossEntropyLoss()
    total_loss = torch.zeros((), dtype=torch.float64, device=inputs.device)  # on the device: no sync per step
    total_seen = 0
    for batch in batch_schedule(len(labels), settings, generator):
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(inputs[batch]), labels[batch])
        loss.backward()
        optimizer.step()
        total_loss += loss.detach().double() * len(batch)
        total_seen += len(batch)
    return st.clone(model.state_dict()), total_loss.item() / max(total_seen, 1)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    state: Mapping[str, torch.Tensor],
    inputs: torch.Tensor,
    labels: torch.Tensor,
    batch_size: int = 1000,
) -> tuple[float, float]:
    """(accuracy in [0, 1], mean cross-entropy) of `state` on a test set."""
    model.load_state_dict(state)
    model.eval()
    correct = torch.zeros((), dtype=torch.int64, device=inputs.device)  # summed on the device: one sync
    loss_sum = torch.zeros((), dtype=torch.float64, device=inputs.device)
    for start in range(0, len(labels), batch_size):
        logits = model(inputs[start : start + batch_size])
        target = labels[start : start + batch_size]
        loss_sum += nn.functional.cross_entropy(logits, target, reduction="sum").double()
        correct += (logits.argmax(dim=1) == target).sum()
    return correct.item() / len(labels), loss_sum.item() / len(labels)
