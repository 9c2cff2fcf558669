"""Arithmetic on model states (ordered name -> tensor mappings) and their digests.

Integer entries (BatchNorm counters) take part in the same arithmetic: sums and
differences of integers are exact, so the residual of a counter reconstructs it exactly.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence

import torch

State = dict[str, torch.Tensor]


def clone(state: Mapping[str, torch.Tensor]) -> State:
    return {name: tensor.detach().clone() for name, tensor in state.items()}


def zeros_like(state: Mapping[str, torch.Tensor]) -> State:
    return {name: torch.zeros_like(tensor) for name, tensor in state.items()}


def add(a: Mapping[str, torch.Tensor], b: Mapping[str, torch.Tensor]) -> State:
    return {name: a[name] + b[name] for name in a}


def sub(a: Mapping[str, torch.Tensor], b: Mapping[str, torch.Tensor]) -> State:
    return {name: a[name] - b[name] for name in a}


def combine(
    base: Mapping[str, torch.Tensor],
    terms: Sequence[tuple[int, Mapping[str, torch.Tensor]]],
) -> State:
    """base + sum(coefficient * state) with integer coefficients (exact for integer entries)."""
    result = clone(base)
    for coefficient, term in terms:
        if coefficient == 0:
            continue
        for name, tensor in result.items():
            tensor.add_(term[name], alpha=coefficient)
    return result


def weighted_mean(states: Sequence[Mapping[str, torch.Tensor]], weights: Iterable[float]) -> State:
    """FedAvg: mean weighted by sample counts; integer entries are rounded back to integers."""
    weights = torch.tensor(list(weights), dtype=torch.float64)
    weights = (weights / weights.sum()).to(next(iter(states[0].values())).device)
    result: State = {}
    for name, first in states[0].items():
        stacked = torch.stack([state[name].to(torch.float64) for state in states])
        shape = (-1,) + (1,) * first.dim()
        mean = (stacked * weights.view(shape)).sum(dim=0)
        result[name] = mean.round().to(first.dtype) if not first.is_floating_point() else mean.to(first.dtype)
    return result


def digest(state: Mapping[str, torch.Tensor]) -> str:
    """SHA-256 (first 128 bits) of the exact bytes of every entry, in order: equal digests =
    bit-identical states. Every link end hashes its model every round; SHA-256 has CPU
    instructions on current x86 and ARM: about 2x blake2b's speed (benchmarks/digest.md)."""
    hasher = hashlib.sha256()
    for name, tensor in state.items():
        hasher.update(name.encode())
        hasher.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return hasher.hexdigest()[:32]


def num_parameters(state: Mapping[str, torch.Tensor]) -> int:
    return sum(tensor.numel() for tensor in state.values())
