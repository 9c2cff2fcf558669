"""The clients of a round trained as one batched computation (`torch.func.vmap`).

On a GPU, ten small models trained one after another leave the device mostly idle; with
their parameters stacked along a leading client axis, one `vmap(grad(loss))` call does a
step for all of them. The maths is `resfed.local_training.local_train`'s for every client:

- batches: each client's own `batch_schedule` (its generator, `torch.randperm` per epoch),
  so batched and sequential runs see the same samples in the same order;
- optimiser: SGD with momentum on the stacked tensors, as `torch.optim.SGD` does it (no
  dampening, Nesterov or weight decay): `buf = momentum * buf + grad`, `p -= lr * buf`.
  The buffer starts at zero each round, which makes the first step `buf = grad`, as in
  torch (FedAvg: no momentum carried across rounds);
- BatchNorm: running statistics are stacked buffers handed to `functional_call`; BN's
  in-place running-stat update then writes each client's slice (vmap allows in-place
  updates of batched tensors), so the statistics match sequential training and no
  `replace_all_batch_norm_modules_` (which would drop them) is needed.

Clients with different amounts of data: at step s, the clients that still have a batch
are grouped by that batch's size (full batches vs each client's smaller last batch) and
each group is one vmap call. Padding with a masked loss would be wrong for BatchNorm (the
padded rows would enter the batch statistics). An IID split has one group per step.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad_and_value, vmap

from resfed import state as st
from resfed.local_training import TrainSettings, batch_schedule

BATCHED_SETTINGS = ("auto", "on", "off", True, False)  # YAML reads a bare on/off as a bool


def use_batched(setting: str | bool, device: torch.device) -> bool:
    """`auto` batches on CUDA only: on a CPU the sequential loop is faster (benchmarks/batched.md)."""
    if setting not in BATCHED_SETTINGS:
        raise ValueError(f"batched must be one of {BATCHED_SETTINGS}, got {setting!r}")
    return setting in ("on", True) or (setting == "auto" and device.type == "cuda")


def train_batched(
    model: nn.Module,
    starts: Sequence[st.State],
    data: Sequence[tuple[torch.Tensor, torch.Tensor]],
    settings: TrainSettings,
    generators: Sequence[torch.Generator],
) -> list[tuple[st.State, float]]:
    """(new state, mean loss) per client, each trained from its start state on its data."""
    names = list(starts[0])
    param_names = [name for name, _ in model.named_parameters()]
    buffer_names = [name for name in names if name not in param_names]
    stacked = {name: torch.stack([start[name] for start in starts]) for name in names}
    momentum = {name: torch.zeros_like(stacked[name]) for name in param_names}
    schedules = [batch_schedule(len(y), settings, g) for (_, y), g in zip(data, generators)]
    device = stacked[names[0]].device
    loss_sums = torch.zeros(len(starts), dtype=torch.float64, device=device)

    def loss_of(params: st.State, buffers: st.State, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(functional_call(model, (params, buffers), (x,)), y)

    step = vmap(grad_and_value(loss_of))
    model.train()
    for index in range(max(map(len, schedules))):
        groups: dict[int, list[int]] = defaultdict(list)
        for client, schedule in enumerate(schedules):
            if index < len(schedule):
                groups[len(schedule[index])].append(client)
        for size, clients in groups.items():
            rows = torch.tensor(clients, device=device)
            batches = [schedules[c][index] for c in clients]
            x = torch.stack([data[c][0][b] for c, b in zip(clients, batches)])
            y = torch.stack([data[c][1][b] for c, b in zip(clients, batches)])
            params = {name: stacked[name][rows] for name in param_names}
            buffers = {name: stacked[name][rows] for name in buffer_names}
            grads, losses = step(params, buffers, x, y)
            for name in param_names:
                buf = momentum[name][rows].mul_(settings.momentum).add_(grads[name])
                momentum[name][rows] = buf
                stacked[name][rows] = params[name].add_(buf, alpha=-settings.lr)
            for name in buffer_names:
                stacked[name][rows] = buffers[name]  # BN updated these copies in place
            loss_sums.index_add_(0, rows, losses.detach().double() * size)
    seen = [sum(len(b) for b in schedule) for schedule in schedules]
    return [
        ({name: stacked[name][j].clone() for name in names}, loss_sums[j].item() / max(seen[j], 1))
        for j in range(len(starts))
    ]
