"""A rate-distortion stage beside top-k + 1 bit: uniform scalar quantisation with a dead
zone, levels range-coded with each tensor's histogram, the step chosen to fit a budget.

The knob is ``bits_per_entry``: the coded size (level histograms plus range-coded levels)
is at most ``bits_per_entry`` times the float entry count. The step is the smallest
float32 step that fits, found by bisection on the step's logarithm with the exact table
size and the levels' empirical entropy (the range coder adds at most a few bytes per
message). ``scope`` says where the budget applies:

- ``global`` (default): one step for the whole state, so the budget goes where the
  residual's energy is. One step for all tensors is the equal-slope (minimum squared
  error) allocation of a uniform quantiser; on real LeNet-5 / Fashion-MNIST residuals it
  leaves ~35 % less error than ``tensor`` at the same bytes (benchmarks/uniform_stage.md).
- ``tensor``: a step per tensor, each tensor within its own share of the budget, like
  the paper's per-tensor top-k. A tensor too small to fit even all-zero levels is sent
  as zeros.

A tensor whose levels are all 0 is sent with step 0 and no histogram.

Quantiser, with the dead zone ``z`` (in steps, >= 0.5): an entry with ``|x| < z * step``
is level 0; otherwise level ``k = floor(|x| / step - z) + 1`` with the sign of ``x``,
recovered as ``sign * step * (z + k - 1/2)``. A nonzero level is within ``step / 2`` of its
input, a zero within ``z * step``; ``z = 0.5`` is the plain mid-tread quantiser, a wider
dead zone zeroes more of a residual's many small entries for fewer bits.

Frame (:mod:`..frame`, kind 3): the steps (float32, one per float tensor; 0 for an
all-zero tensor), a table (per float tensor with a nonzero step, its level histogram),
the range-coded levels (zigzag-mapped to non-negative symbols), and one raw section per
integer tensor.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import MessageError
from ..layout import payload_dtype
from ..message import MessageCodec, MessageContext
from ..rangecoding import Encoder, histogram_coded_bits, put_histogram_coded
from ..registry import register_codec
from ..scaled_levels import pack_scaled_levels, unpack_scaled_levels

KIND = 3
SCOPES = ("global", "tensor")
MAX_LEVEL = 2**20  # the finest step searched gives at most this many levels per sign
PRECISION = 1 + 2**-10  # the bisection stops when the step is known within this ratio


def zigzag(levels: np.ndarray) -> np.ndarray:
    """Signed levels as non-negative symbols: 0, -1, 1, -2, 2... -> 0, 1, 2, 3, 4..."""
    return 2 * np.abs(levels) - (levels < 0)


def unzigzag(symbols: np.ndarray) -> np.ndarray:
    return np.where(symbols % 2 == 1, -((symbols + 1) // 2), symbols // 2)


@register_codec
@dataclass(frozen=True)
class UniformCodec(MessageCodec):
    """A state (or residual) quantised with a dead-zone step (one for the state, or one per
    float tensor), levels range-coded with each tensor's histogram, within ``bits_per_entry``
    per float entry."""

    codec_id = "uniform"
    bits_per_entry: float = 1.0
    dead_zone: float = 0.75
    scope: str = "global"

    def __post_init__(self) -> None:
        if self.scope not in SCOPES:
            raise ValueError(f"uniform scope must be one of {SCOPES}, got {self.scope!r}")
        for name, low, high in (("bits_per_entry", 0.0, 32.0), ("dead_zone", 0.5, 8.0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not low <= value <= high:
                raise ValueError(f"uniform {name} must be a number in [{low}, {high}], got {value!r}")
            object.__setattr__(self, name, float(value))
        if self.bits_per_entry == 0:
            raise ValueError("uniform bits_per_entry must be above 0")

    def levels(self, values: np.ndarray, step: np.float32) -> np.ndarray:
        """Signed levels of one flat float32 tensor for a step > 0."""
        scaled = np.abs(values.astype(np.float64)) / float(step)
        k = np.where(scaled < self.dead_zone, 0.0, np.floor(scaled - self.dead_zone) + 1)
        return (np.sign(values) * np.minimum(k, MAX_LEVEL)).astype(np.int64)

    def recover(self, levels: np.ndarray, step: np.float32) -> np.ndarray:
        """The float32 values the receiver recovers from signed levels."""
        k = np.abs(levels).astype(np.float32)
        offset = np.float32(self.dead_zone - 0.5)
        return np.where(levels == 0, np.float32(0), np.sign(levels).astype(np.float32) * step * (k + offset))

    def coded_bits(self, tensors: Sequence[np.ndarray], step: np.float32) -> float:
        """What the levels of ``tensors`` at ``step`` cost (tensors all zero cost nothing)."""
        bits = 0.0
        for values in tensors:
            levels = self.levels(values, step)
            if levels.any():
                bits += histogram_coded_bits(zigzag(levels))
        return bits

    def step(self, tensors: Sequence[np.ndarray]) -> np.float32:
        """The smallest float32 step at which ``tensors`` fit the budget together (0: all zero)."""
        peak = max((float(np.abs(values).max()) for values in tensors if values.size), default=0.0)
        if peak == 0:
            return np.float32(0)
        budget = self.bits_per_entry * sum(values.size for values in tensors)
        coarse = np.float32(2 * peak / self.dead_zone)  # every level is 0
        fine = np.float32(peak / MAX_LEVEL)
        if self.coded_bits(tensors, fine) <= budget:
            return fine
        while coarse > fine * PRECISION:
            middle = np.float32(math.sqrt(float(fine) * float(coarse)))
            if middle in (fine, coarse):
                break
            if self.coded_bits(tensors, middle) <= budget:
                coarse = middle
            else:
                fine = middle
        return coarse

    def encode(self, payload: Mapping[str, torch.Tensor], context: MessageContext) -> bytes:
        floats, raw = {}, []
        for spec in context.layout:
            flat = payload[spec.name].detach().reshape(-1).cpu().numpy()
            if not spec.is_float:
                raw.append(flat.astype(payload_dtype(spec)).tobytes())
                continue
            values = flat.astype(np.float32)
            if not np.isfinite(values).all():
                raise ValueError(f"uniform: tensor {spec.name!r} has non-finite values")
            floats[spec.name] = values
        shared = self.step(list(floats.values())) if self.scope == "global" else None
        steps, table, encoder = [], bytearray(), Encoder()
        for values in floats.values():
            step = self.step([values]) if shared is None else shared
            levels = self.levels(values, step) if step else None
            if levels is None or not levels.any():
                steps.append(np.float32(0))
                continue
            steps.append(step)
            put_histogram_coded(table, encoder, zigzag(levels))
        return pack_scaled_levels(steps, table, encoder, raw, context, KIND)

    def decode(self, data: bytes | bytearray | memoryview, context: MessageContext) -> dict[str, torch.Tensor]:
        def values(symbols: np.ndarray, step: np.float32, tensor: str) -> np.ndarray:
            with np.errstate(over="ignore"):
                out = self.recover(unzigzag(symbols), step)
            if not np.isfinite(out).all():
                raise MessageError("step times level overflows float32", tensor=tensor)
            return out

        return unpack_scaled_levels(data, context, KIND, "step", 2 * MAX_LEVEL, values)
