"""A rate-distortion stage beside top-k + 1 bit: uniform scalar quantisation with a dead
zone, the step chosen to fit a budget, levels coded with the context models of the
default position coder.

The knob is ``bits_per_entry``: the coded size (table and both streams) is at most
``bits_per_entry`` times the float entry count. The step is the smallest float32 step
that fits: a bisection on the step's logarithm with the models' ideal costs, then, if
the coded message is still over budget (the adaptive position model's cost is an
estimate), coarser steps until it fits. ``scope`` says where the budget applies:

- ``global`` (default): one step for the whole state, so the budget goes where the
  residual's energy is. One step for all tensors is the equal-slope (minimum squared
  error) allocation of a uniform quantiser; on real LeNet-5 / Fashion-MNIST residuals it
  leaves ~35 % less error than ``tensor`` at the same bytes (benchmarks/uniform_stage.md).
- ``tensor``: a step per tensor, each tensor within its own share of the budget, like
  the paper's per-tensor top-k. A tensor too small to fit even all-zero levels is sent
  as zeros.

Quantiser, with the dead zone ``z`` (in steps, >= 0.5): an entry with ``|x| < z * step``
is level 0; otherwise level ``k = floor(|x| / step - z) + 1`` with the sign of ``x``.
A zero is within ``z * step`` of its input (``(z + 1) * step`` under the rate-distortion
choice); ``z = 0.5`` is the plain mid-tread quantiser, a wider dead zone zeroes more of a
residual's many small entries for fewer bits.

Level ``k`` is recovered at its bin's midpoint, ``sign * step * (z + k - 1/2)``, within
``step / 2`` of its input. With ``centroids`` (off by default): at ``sign * step * (k - 1 + c)``,
with one ``c`` per tensor for level 1 and one for the levels above, each the mean of its
entries' ``|x| / step - (k - 1)`` (the squared-error-optimal value for the group), sent as
one byte, ``c = z + 1/2 + (b - 128) / 128``; a group of fewer than ``CENTROID_MIN`` entries
is not sent and stays at its midpoints (``b = 128``); a nonzero is then within ``step``
of its input. Residuals are peaked at 0, so each bin's mass leans towards 0: on real
LeNet-5 / Fashion-MNIST residuals the centroids leave 1-3 % less error at the same bytes,
and on the CNN's they bring the stage from 1.20-1.40x to 1.12-1.29x NNCodec's bytes at
equal error (benchmarks/uniform_stage.md, nncodec.md). But in real runs they slow
training: the recovered updates shrink towards 0, and ResFed at 0.035 bit/entry with
the global-step prediction needs more rounds to 85 % on 9 of 10 (partition, seed)
pairs, 2.26x / 1.92x less volume than the paper's setting instead of 2.47x / 2.40x
(benchmarks/beyond.md), so the midpoints stay the default.

Rate-distortion-optimised levels (``rate_distortion``, off by default so that the volumes
recorded in benchmarks/beyond.md are those of the default; encoder only, the format is
the same): each entry's level is chosen among its quantiser level ``k``, ``k - 1`` and 0
(0 only for ``k <= 2``) to minimise ``squared error + RD_LAMBDA * step^2 * bits``, with the
bits of each choice under the coder's own models as the previous pass left them: the
position model of the ``context`` coder (its row's count times its column's share, as the
adaptive column model has it, leaving the entry itself out), a sign bit, and the tensor's
magnitude histogram. Two passes from the plain levels. It zeroes small entries where the
models say they are expensive (sparse rows and columns) and keeps them where they are
cheap, and lowers a level where its magnitude costs more than the error it adds; the step
search then spends the bits saved on a finer step. With it a nonzero is within
``3/2 step`` of its input and a zero within ``(z + 2) step``. Measured on real residuals
in benchmarks/uniform_stage.md and nncodec.md.

Dependent (trellis-coded) quantisation (``trellis``, off by default, frame kind 6; not
with ``rate_distortion`` or ``centroids``): two quantisers on one step, even and odd
multiples, the one an entry uses set by the parities of the levels above it in its column
(:mod:`.trellis`); the levels chosen by a Viterbi search on squared error plus
``TRELLIS_LAMBDA * step^2`` times their bits under the same models as ``rate_distortion``
prices them, two passes from the scalar levels at twice the step. Same coder, same
sections; only the reconstruction differs. A nonzero is within 2 steps of its input, a
zero within 3. On real LeNet-5 residuals 9-13 % less error than the rate-distortion levels
at the same bytes at 0.5-1 bit/entry, about the same below 0.2 and on the paper CNN's
residuals, whose errors at those rates are larger (benchmarks/uniform_stage.md, nncodec.md).

Levels as the top-k codec's symbols plus magnitudes: which entries are nonzero and their
signs go through the ``context`` coder (per-row / per-column counts, the adaptive column
model, per-group sign counts: the structure real residuals have), the magnitudes
``|k| - 1`` are range-coded with each tensor's histogram. On real LeNet-5 / Fashion-MNIST
residuals this codes the same levels in ~20 % fewer bytes than one histogram per tensor.

``coder: kernel`` codes the positions and signs with the ``kernel`` coder instead
(:mod:`..coders.kernels`: the ``context`` coder's models scaled by what the entries before
each one in its convolution kernel were), frame kinds 7, 8 and 9 for 4, 5 and 6; the step
search prices with it, so the bits it saves buy a finer step.

``prediction_gain`` (off by default, frame kinds 10 to 15 for 4 to 9) codes the residual
minus a factor per tensor times the link's predicted update, which the receiver adds back
(:mod:`.gains`; the update comes in ``MessageContext.shared``): where a coarsely coded
trajectory makes the prediction overshoot, part of the update is back in the residual, and
the gain takes it out for a byte per tensor.

``kernel_dct`` (off by default, frame kinds 16 to 27 for 4 to 15) quantises and codes each
convolution's orthonormal DCT coefficients over its kernels instead of its entries, one
``(out, in)`` plane per coefficient (:mod:`.kernel_dct`); the receiver inverts the
transform after recovering the coefficients (and before adding a gain). The entries of a
kernel move together, so a kernel's mean carries much of a convolution residual's
energy; squared errors are the same in both domains.

Frame (:mod:`..frame`, kind 4, 5 or 6): the steps (float32: one for the state under ``global``,
one per float tensor under ``tensor``; 0 where all levels are 0), under
``prediction_gain`` the gains (a signed byte per float tensor whose predicted update is not
all zero), a table (per float
tensor coded at a nonzero step: its nonzero count, 0 allowed under ``global``, and if
above 0 the histogram of its magnitudes, and with ``centroids`` the centroid bytes of
its groups of at least ``CENTROID_MIN`` entries), the positions-and-signs stream, the
magnitudes stream, and one raw section per integer tensor and per float tensor named in
``raw`` (sent exactly, e.g. BatchNorm running statistics: :mod:`resfed.link`). Frame
kind 4 at the midpoints, 5 with centroid bytes, 6 under the trellis. Kind 3 also sent a step per float
tensor under ``global``: ten copies of one step were 9 % of a LeNet-5 message at 0.05
bit/entry.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..coders import CODERS
from ..coders.base import Slot, Sparse
from ..coders.context import ContextCoder
from ..coders.kernels import has_kernels, priced
from ..errors import MessageError
from ..frame import FrameHeader, f32_array, pack_frame, raw_tensor, read_f32, unpack_exactly
from ..framing import get_varint, put_varint
from ..layout import TensorSpec, payload_dtype
from ..message import MessageCodec, MessageContext
from ..rangecoding import (
    Encoder,
    check_exhausted,
    get_histogram_coded,
    histogram_coded_bits,
    put_histogram_coded,
    stream_bytes,
    stream_decoder,
)
from ..registry import register_codec
from . import gains, kernel_dct
from . import trellis as tcq

KINDS = {False: 4, True: 5}  # frame kind by `centroids`
TRELLIS_KIND = 6  # frame kind of `trellis` (levels recovered by the trellis's state machine)
KERNEL_KIND_OFFSET = 3  # `coder: kernel` frames are kinds 7, 8 and 9 (as 4, 5 and 6)
GAIN_KIND_OFFSET = 6  # `prediction_gain` frames are kinds 10 to 15 (as 4 to 9)
DCT_KIND_OFFSET = 12  # `kernel_dct` frames are kinds 16 to 27 (as 4 to 15)
UNIFORM_CODERS = ("context", "kernel")  # the position coders with ideal costs for the step search
CENTROID_MIN = 32  # a group of levels (level 1, levels above) gets its centroid from this size
CENTROID_SCALE = 128  # centroid byte b: c = z + 1/2 + (b - 128) / 128, in steps
SCOPES = ("global", "tensor")
MAX_LEVEL = 2**20  # the finest step searched gives at most this many levels per sign
PRECISION = 1 + 2**-10  # the bisection stops when the step is known within this ratio
COARSER = 2**(1 / 64)  # step factor while a coded message is over its budget
RD_LAMBDA = 0.2  # rate_distortion's price of a bit, in step^2 (0.1 and 0.4 measured worse)
RD_PASSES = 2  # rate_distortion's (and trellis's) choices, each priced by the models the previous one left
TRELLIS_LAMBDA = 0.3  # trellis's price of a bit, in step^2 (0.15, 0.5 and 0.8 measured worse)
TRELLIS_BRACKET = (0.25, 1.0)  # the trellis's step is searched within these factors of the scalar stage's
TRELLIS_PRECISION = 1 + 2**-7  # ... to this ratio (each step tried costs a trellis search)
COLUMN_ALPHA = 0.25  # smoothing of a column's share in rate_distortion's position model
POSITIONS = CODERS["context"]


@dataclass(frozen=True)
class Levels:
    """One float tensor's nonzero levels: positions (ascending), signs, magnitudes >= 1,
    and the centroid bytes of level 1 and of the levels above (None: none sent, midpoints)."""

    shape: tuple[int, ...]
    idx: np.ndarray
    negative: np.ndarray
    magnitude: np.ndarray
    centroids: tuple[int, int] | None = None

    @property
    def sparse(self) -> Sparse:
        dense = self.idx.size == math.prod(self.shape)
        return Sparse(self.shape, None if dense else self.idx, self.negative)

    def magnitude_bits(self) -> float:
        return histogram_coded_bits(self.magnitude - 1)

    def varint_bits(self) -> float:
        return 8 * max(math.ceil(self.idx.size.bit_length() / 7), 1)

    def ideal_bits(self, positions: ContextCoder = POSITIONS) -> float:
        sent = 8 * sum(centroid_sent(self.magnitude)) if self.centroids else 0
        return positions.ideal_bits(self.sparse) + self.magnitude_bits() + self.varint_bits() + sent


def centroid_sent(magnitude: np.ndarray) -> tuple[bool, bool]:
    """Whether the centroid of level 1 and of the levels above are sent: the same rule at
    both ends, from the magnitudes the receiver decodes before reading the bytes."""
    ones = int(np.count_nonzero(magnitude == 1))
    return ones >= CENTROID_MIN, magnitude.size - ones >= CENTROID_MIN


def level_bits(levels: np.ndarray, largest: int, kernel: tuple[tuple[int, ...], np.ndarray] | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """What each entry of a (rows, columns) level matrix would cost at another level up to
    ``largest``, by the models the coder fits to ``levels``: its position's probability
    (its row's count times its column's share of the others, as the ``context`` coder's
    adaptive column model; a flat share for one row), a sign bit, and the magnitude's
    share in the histogram."""
    nonzero = levels > 0
    rows, columns = levels.shape
    total = int(nonzero.sum())
    if rows == 1:
        p = np.full(levels.shape, (total + 0.5) / (levels.size + 1))
    else:
        row = nonzero.sum(1, keepdims=True) - nonzero
        column = nonzero.sum(0, keepdims=True) - nonzero
        p = (row + 0.5) / (columns + 1) * (column + COLUMN_ALPHA) * columns / (total + COLUMN_ALPHA * columns)
    p = np.clip(p, 1e-6, 1 - 1e-6)
    sign = 1.0
    if kernel is not None:
        p, sign = priced(nonzero, kernel[1], p, kernel[0])
    counts = np.bincount(levels[nonzero], minlength=largest + 1)[1:] + 0.5
    magnitude = np.concatenate([[0.0], np.log2(counts.sum() / counts)])
    zero, nonzero_bits = -np.log2(1 - p), sign - np.log2(p)

    def bits(candidate: np.ndarray) -> np.ndarray:
        return np.where(candidate > 0, nonzero_bits + magnitude[candidate], zero)

    return bits


@register_codec
@dataclass(frozen=True)
class UniformCodec(MessageCodec):
    """A state (or residual) quantised with a dead-zone step (one for the state, or one per
    float tensor) within ``bits_per_entry`` per float entry; levels coded with context."""

    codec_id = "uniform"
    bits_per_entry: float = 1.0
    dead_zone: float = 0.75
    scope: str = "global"
    rate_distortion: bool = False
    centroids: bool = False
    raw: frozenset[str] = field(default=frozenset())
    trellis: bool = False
    coder: str = "context"
    prediction_gain: bool = False
    kernel_dct: bool = False

    def __post_init__(self) -> None:
        if self.scope not in SCOPES:
            raise ValueError(f"uniform scope must be one of {SCOPES}, got {self.scope!r}")
        if self.coder not in UNIFORM_CODERS:
            raise ValueError(f"uniform coder must be one of {UNIFORM_CODERS}, got {self.coder!r}")
        for name in ("rate_distortion", "centroids", "trellis", "prediction_gain", "kernel_dct"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"uniform {name} must be true or false, got {getattr(self, name)!r}")
        for name in ("rate_distortion", "centroids"):
            if self.trellis and getattr(self, name):
                raise ValueError(f"uniform trellis and {name} cannot be combined (the trellis chooses and recovers its own levels)")
        for name, low, high in (("bits_per_entry", 0.0, 32.0), ("dead_zone", 0.5, 8.0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not low <= value <= high:
                raise ValueError(f"uniform {name} must be a number in [{low}, {high}], got {value!r}")
            object.__setattr__(self, name, float(value))
        if self.bits_per_entry == 0:
            raise ValueError("uniform bits_per_entry must be above 0")

    @property
    def kind(self) -> int:
        """The frame kind of this codec's messages."""
        kind = TRELLIS_KIND if self.trellis else KINDS[self.centroids]
        offsets = ((KERNEL_KIND_OFFSET, self.coder == "kernel"), (GAIN_KIND_OFFSET, self.prediction_gain), (DCT_KIND_OFFSET, self.kernel_dct))
        return kind + sum(offset for offset, on in offsets if on)

    @property
    def needs_prediction(self) -> bool:
        return self.prediction_gain

    @property
    def positions(self) -> ContextCoder:
        """The coder of the levels' positions and signs."""
        return CODERS[self.coder]

    def levels(self, values: np.ndarray, shape: tuple[int, ...], step: np.float32) -> Levels:
        """The nonzero levels of one flat float32 tensor for a step > 0."""
        scaled = np.abs(values.astype(np.float64)) / float(step)
        if self.trellis:
            magnitude = self._trellis(scaled, shape, self._kernel(shape, values))
            idx = np.flatnonzero(magnitude)
            return Levels(shape, idx, values[idx] < 0, magnitude[idx])
        idx = np.flatnonzero(scaled >= self.dead_zone)
        magnitude = self._magnitudes(scaled[idx])
        if self.rate_distortion and idx.size:
            idx, magnitude = self._rate_distortion(scaled, idx, magnitude, shape, self._kernel(shape, values))
        centroids = self._centroids(scaled[idx], magnitude) if self.centroids else None
        return Levels(shape, idx, values[idx] < 0, magnitude, centroids)

    def _centroids(self, scaled: np.ndarray, magnitude: np.ndarray) -> tuple[int, int]:
        """The centroid bytes of level 1 and of the levels above (128 where not sent)."""
        midpoint = self.dead_zone + 0.5
        codes = []
        for group, sent in zip((magnitude == 1, magnitude > 1), centroid_sent(magnitude)):
            mean = float(np.mean(scaled[group] - (magnitude[group] - 1))) if sent else midpoint
            codes.append(int(np.clip(round((mean - midpoint) * CENTROID_SCALE) + CENTROID_SCALE, 0, 255)))
        return codes[0], codes[1]

    def _rate_distortion(
        self, scaled: np.ndarray, idx: np.ndarray, magnitude: np.ndarray, shape: tuple[int, ...],
        kernel: tuple[tuple[int, ...], np.ndarray] | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The nonzero levels (positions, magnitudes) after choosing each entry's level among
        k, k - 1 and 0 (for k <= 2) at the least squared error (in step^2) plus RD_LAMBDA
        times its bits under the models the previous choice left."""
        rows = shape[0] if len(shape) >= 2 else 1
        dense = np.zeros(scaled.size, np.int64)
        dense[idx] = magnitude
        scaled, chosen = scaled.reshape(rows, -1), dense.reshape(rows, -1)
        candidates = (np.where(chosen <= 2, 0, chosen), np.maximum(chosen - 1, 0), chosen)
        recovered = [np.where(m > 0, m + (self.dead_zone - 0.5), 0.0) for m in candidates]
        for _ in range(RD_PASSES):
            bits = level_bits(chosen, int(magnitude.max()), kernel)
            costs = [(scaled - r) ** 2 + RD_LAMBDA * bits(m) for m, r in zip(candidates, recovered)]
            chosen = np.choose(np.argmin(costs, axis=0), candidates)
        kept = np.flatnonzero(chosen)
        return kept, chosen.reshape(-1)[kept]

    def _kernel(self, shape: tuple[int, ...], values: np.ndarray) -> tuple[tuple[int, ...], np.ndarray] | None:
        """What the level search needs to price kernel contexts (the shape and which entries
        are negative): with ``coder: kernel`` and a tensor with kernels only."""
        if self.coder != "kernel" or not has_kernels(shape):
            return None
        return shape, (values < 0).reshape(shape[0], -1)

    def _trellis(self, scaled: np.ndarray, shape: tuple[int, ...], kernel: tuple[tuple[int, ...], np.ndarray] | None) -> np.ndarray:
        """The trellis's level magnitudes of one tensor (flat), each pass priced by the coder's
        models fitted to the levels before it, from the scalar levels at twice the step."""
        matrix = scaled.reshape(tcq.chain_view(shape))
        half = matrix / 2
        magnitude = np.where(half >= self.dead_zone, self._magnitudes(half), 0)
        largest = tcq.largest_level(matrix)
        for _ in range(RD_PASSES):
            magnitude = tcq.search(matrix, level_bits(magnitude, largest, kernel), TRELLIS_LAMBDA)
        return magnitude.reshape(-1)

    def _magnitudes(self, scaled: np.ndarray) -> np.ndarray:
        """The dead-zone quantiser's level of entries at or above the dead zone (in steps)."""
        return np.minimum(np.floor(scaled - self.dead_zone) + 1, MAX_LEVEL).astype(np.int64)

    def recover(self, levels: Levels, step: np.float32) -> np.ndarray:
        """The float32 values the receiver recovers from a tensor's levels."""
        out = np.zeros(math.prod(levels.shape), dtype=np.float32)
        if self.trellis:
            dense = np.zeros(out.size, np.int64)
            dense[levels.idx] = levels.magnitude
            multiple = tcq.multiples(dense.reshape(tcq.chain_view(levels.shape))).reshape(-1)[levels.idx]
            value = step * multiple.astype(np.float32)
            out[levels.idx] = np.where(levels.negative, -value, value)
            return out
        codes = levels.centroids or (CENTROID_SCALE, CENTROID_SCALE)
        one, above = (np.float32(self.dead_zone - 0.5 + (b - CENTROID_SCALE) / CENTROID_SCALE) for b in codes)
        value = step * (levels.magnitude.astype(np.float32) + np.where(levels.magnitude == 1, one, above))
        out[levels.idx] = np.where(levels.negative, -value, value)
        return out

    def _ideal_bits(self, tensors: Sequence[tuple[np.ndarray, tuple[int, ...]]], step: np.float32) -> float:
        levels = (self.levels(values, shape, step) for values, shape in tensors)
        empty = 8.0 if self.scope == "global" else 0.0  # its count 0 in the table
        return sum(t.ideal_bits(self.positions) if t.idx.size else empty for t in levels)

    def step(self, tensors: Sequence[tuple[np.ndarray, tuple[int, ...]]]) -> np.float32:
        """The smallest float32 step at which ``tensors`` (flat values, shape) fit the
        budget together by the models' ideal costs (0: all zero)."""
        peak = max((float(np.abs(values).max()) for values, _ in tensors if values.size), default=0.0)
        if peak == 0:
            return np.float32(0)
        budget = self.bits_per_entry * sum(values.size for values, _ in tensors)
        zeroed = 0.5 if self.trellis else self.dead_zone  # in steps: every level below is 0
        coarse = np.float32(2 * peak / zeroed)  # every level is 0
        fine = np.float32(peak / MAX_LEVEL)
        precision = PRECISION
        if self.trellis:  # each search costs a trellis: start near the scalar stage's step
            scalar = float(dataclasses.replace(self, trellis=False).step(tensors))
            low, high = np.float32(scalar * TRELLIS_BRACKET[0]), np.float32(scalar * TRELLIS_BRACKET[1])
            fine, precision = max(fine, low), TRELLIS_PRECISION
            if high < coarse and self._ideal_bits(tensors, high) <= budget:
                coarse = high
        if self._ideal_bits(tensors, fine) <= budget:
            return fine
        while coarse > fine * precision:
            middle = np.float32(math.sqrt(float(fine) * float(coarse)))
            if middle in (fine, coarse):
                break
            if self._ideal_bits(tensors, middle) <= budget:
                coarse = middle
            else:
                fine = middle
        return coarse

    def _steps(self, floats: Mapping[str, tuple[np.ndarray, tuple[int, ...]]]) -> list[np.float32]:
        if self.scope == "global":
            return [self.step(list(floats.values()))] * len(floats)
        return [self.step([tensor]) for tensor in floats.values()]

    def _code(
        self, floats: Mapping[str, tuple[np.ndarray, tuple[int, ...]]], steps: Sequence[np.float32]
    ) -> tuple[list[np.float32], bytes, bytes, bytes]:
        """(steps sent, table, positions-and-signs stream, magnitudes stream) at ``steps``:
        a step of 0 for a tensor (``tensor``) or a state (``global``) whose levels are all 0."""
        levels = [
            self.levels(values, shape, step) if step else None for (values, shape), step in zip(floats.values(), steps)
        ]
        if self.scope == "global":
            coded = any(t is not None and t.idx.size for t in levels)
            sent = [steps[0] if coded else np.float32(0)] if steps else []
            levels = levels if coded else [None] * len(levels)
        else:
            levels = [t if t is not None and t.idx.size else None for t in levels]
            sent = [step if t is not None else np.float32(0) for t, step in zip(levels, steps)]
        table, sparse, magnitudes = bytearray(), [], Encoder()
        for tensor in filter(None, levels):
            put_varint(table, tensor.idx.size)
            if tensor.idx.size:
                put_histogram_coded(table, magnitudes, tensor.magnitude - 1)
                if tensor.centroids:
                    table += bytes(b for b, sent in zip(tensor.centroids, centroid_sent(tensor.magnitude)) if sent)
                sparse.append(tensor.sparse)
        return sent, bytes(table), self.positions.encode(sparse), stream_bytes(magnitudes)

    def encode(self, payload: Mapping[str, torch.Tensor], context: MessageContext) -> bytes:
        floats, raw = {}, []
        for spec in context.layout:
            flat = payload[spec.name].detach().reshape(-1).cpu().numpy()
            if not self._quantised(spec):
                raw.append(flat.astype(payload_dtype(spec)).tobytes())
                continue
            values = flat.astype(np.float32)
            if not np.isfinite(values).all():
                raise ValueError(f"uniform: tensor {spec.name!r} has non-finite values")
            floats[spec.name] = (values, spec.shape)
        gain_section = self._subtract_gains(floats, context)
        if self.kernel_dct:
            self._transform(floats)
        budget = self.bits_per_entry * sum(values.size for values, _ in floats.values()) / 8
        steps = self._steps(floats)
        sent, *coded = self._code(floats, steps)
        while sum(map(len, coded)) > budget and any(sent):  # the ideal cost was an underestimate
            steps = [np.float32(step * COARSER) for step in steps]
            sent, *coded = self._code(floats, steps)
        sections = [f32_array(np.array(sent, dtype=np.float32)), *gain_section, *coded, *raw]
        return pack_frame(sections, context.layout, FrameHeader(context.method_id, self.kind, context.round_index))

    def _subtract_gains(self, floats: dict[str, tuple[np.ndarray, tuple[int, ...]]], context: MessageContext) -> list[bytes]:
        """Under ``prediction_gain``: replaces each tensor's values by the values minus their
        gain times the predicted update, and returns the gains section (else no section)."""
        if not self.prediction_gain:
            return []
        updates = gains.predicted_updates(context, list(floats), [values.size for values, _ in floats.values()])
        section, corrected = gains.subtract([values for values, _ in floats.values()], updates)
        for (name, (_, shape)), values in zip(list(floats.items()), corrected):
            if not np.isfinite(values).all():
                raise ValueError(f"uniform: tensor {name!r} minus its gain times its predicted update is not finite")
            floats[name] = (values, shape)
        return [section]

    def _transform(self, floats: dict[str, tuple[np.ndarray, tuple[int, ...]]]) -> None:
        """Under ``kernel_dct``: replaces each tensor with kernels by its DCT coefficients."""
        for name, (values, shape) in list(floats.items()):
            with np.errstate(over="ignore"):
                coefficients = kernel_dct.forward(values, shape)
            if not np.isfinite(coefficients).all():
                raise ValueError(f"uniform: the kernel DCT of tensor {name!r} overflows float32")
            floats[name] = (coefficients, kernel_dct.coded_shape(shape))

    def _coded_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return kernel_dct.coded_shape(shape) if self.kernel_dct else shape

    def _quantised(self, spec: TensorSpec) -> bool:
        return spec.is_float and spec.name not in self.raw

    def decode(self, data: bytes | bytearray | memoryview, context: MessageContext) -> dict[str, torch.Tensor]:
        layout = context.layout
        floats = [spec for spec in layout if self._quantised(spec)]
        names = ("steps",) + (("gains",) if self.prediction_gain else ()) + ("table", "positions", "magnitudes") + tuple(
            f"raw {spec.name}" for spec in layout if not self._quantised(spec)
        )
        step_bytes, *sections = unpack_exactly(data, layout, FrameHeader(context.method_id, self.kind, context.round_index), names)
        gain_of = {}  # name: (gain code, predicted update), under prediction_gain
        if self.prediction_gain:
            updates = gains.predicted_updates(context, [spec.name for spec in floats], [spec.numel for spec in floats])
            gain_of = dict(zip((spec.name for spec in floats), zip(gains.read(sections.pop(0), updates), updates)))
        table, positions, magnitudes, *raw = sections
        steps = read_f32(step_bytes, min(len(floats), 1) if self.scope == "global" else len(floats), "steps")
        if (steps < 0).any():
            raise MessageError(f"negative step {steps.min()}")
        steps = np.repeat(steps, len(floats)) if self.scope == "global" else steps
        least = 0 if self.scope == "global" else 1  # nonzero levels in a tensor coded at a step
        slots, levels_of, step_of, pos, decoder = [], {}, {}, 0, stream_decoder(magnitudes)
        for spec, step in zip(floats, steps):
            if not step:
                continue
            k, pos = get_varint(table, pos, len(table), f"{spec.name}: nonzero count")
            if not least <= k <= spec.numel:
                raise MessageError(f"{k} nonzero levels of {spec.numel} entries", tensor=spec.name)
            if not k:
                continue
            slots.append(Slot(spec.name, self._coded_shape(spec.shape), k, dense=k == spec.numel, signs=True))
            symbols, pos = get_histogram_coded(table, pos, decoder, k, MAX_LEVEL - 1, spec.name)
            centroids = [CENTROID_SCALE, CENTROID_SCALE]
            for group, sent in enumerate(centroid_sent(symbols + 1) if self.centroids else ()):
                if sent:
                    if pos >= len(table):
                        raise MessageError("level table ends before its centroid byte", tensor=spec.name)
                    centroids[group], pos = table[pos], pos + 1
            levels_of[spec.name], step_of[spec.name] = (symbols + 1, tuple(centroids)), step
        if pos != len(table):
            raise MessageError(f"level table has {len(table) - pos} bytes left over")
        check_exhausted(decoder)
        decoded = dict(zip(step_of, self.positions.decode(positions, slots)))
        out, raw_sections = {}, iter(raw)
        for spec in layout:
            if not self._quantised(spec):
                out[spec.name] = raw_tensor(next(raw_sections), spec)
                continue
            flat = np.zeros(spec.numel, dtype=np.float32)
            if spec.name in step_of:
                flat = self._values(spec, decoded[spec.name], levels_of[spec.name], step_of[spec.name])
            if spec.name in gain_of:
                flat = gains.added(flat, *gain_of[spec.name], spec.name)
            out[spec.name] = torch.from_numpy(flat.reshape(spec.shape)).to(spec.dtype).to(context.device)
        return out

    def _values(
        self, spec: TensorSpec, decoded: tuple[np.ndarray | None, np.ndarray | None],
        levels: tuple[np.ndarray, tuple[int, int]], step: np.float32,
    ) -> np.ndarray:
        idx, negative = decoded
        idx = np.arange(spec.numel) if idx is None else idx
        with np.errstate(over="ignore"):
            out = self.recover(Levels(self._coded_shape(spec.shape), idx, negative, *levels), step)
            if not np.isfinite(out).all():
                raise MessageError("step times level overflows float32", tensor=spec.name)
            if self.kernel_dct:
                out = kernel_dct.inverse(out, spec.shape)
                if not np.isfinite(out).all():
                    raise MessageError("the inverse kernel DCT overflows float32", tensor=spec.name)
        return out

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "raw": sorted(self.raw)}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> UniformCodec:
        return super().from_config({**config, "raw": frozenset(config.get("raw", ()))})
