"""1-bit quantisation of the kept values: a sign each, one reconstruction value per sign.

The paper reconstructs positive kept values with the median of the positive ones and
negative kept values with the median of the negative ones (per tensor here). "Median" is
the lower middle magnitude when the count is even, so the value sent is one of the kept
values and needs no arithmetic (reproducible bit for bit on every device). Medians of
magnitudes keep the two signs symmetric. The work runs in torch on the tensor's device;
only the kept positions, their signs and the two values come back to the host.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class SignQuantized:
    """What the 1-bit quantiser sends for one tensor, on the host, ready for a coder."""

    idx: np.ndarray  # ascending kept positions (median zeroing may have dropped some)
    negative: np.ndarray  # bool, one per position
    pos_value: np.float32 | None  # reconstruction of positive entries (None: there are none)
    neg_value: np.float32 | None  # reconstruction of negative entries, a negative number

    def values(self) -> np.ndarray:
        """The float32 values the receiver reconstructs at ``idx``."""
        out = np.empty(self.idx.size, dtype=np.float32)
        if self.pos_value is not None:
            out[~self.negative] = self.pos_value
        if self.neg_value is not None:
            out[self.negative] = self.neg_value
        return out


def lower_median(a: torch.Tensor) -> np.float32:
    """The lower middle element of a non-empty flat tensor."""
    return np.float32(torch.kthvalue(a, (a.numel() - 1) // 2 + 1).values.item())


def _reconstruction(magnitudes: torch.Tensor, rule: str) -> np.float32 | None:
    if magnitudes.numel() == 0:
        return None
    if rule == "mean":  # fsum: exactly rounded, so independent of summation order and device
        return np.float32(math.fsum(magnitudes.tolist()) / magnitudes.numel())
    return lower_median(magnitudes)


def quantize_signs(flat: torch.Tensor, idx: torch.Tensor, rule: str) -> SignQuantized:
    """Quantise the kept entries ``flat[idx]`` (all nonzero) with ``rule``.

    ``rule`` is "median", "mean" or "median_zeroing"; the last first drops kept values
    whose magnitude is below the (lower) median magnitude of all kept values, as the
    official code does (there over the whole model, here over the same scope as the
    reconstruction values: one tensor).
    """
    kept = flat[idx]
    magnitude = kept.abs()
    if rule == "median_zeroing" and idx.numel():
        survive = magnitude >= float(lower_median(magnitude))
        idx, kept, magnitude = idx[survive], kept[survive], magnitude[survive]
    negative = kept < 0
    pos = _reconstruction(magnitude[~negative], rule)
    neg = _reconstruction(magnitude[negative], rule)
    return SignQuantized(idx.cpu().numpy(), negative.cpu().numpy(), pos, None if neg is None else -neg)
