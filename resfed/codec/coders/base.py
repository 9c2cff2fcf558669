"""The contract of a position-and-sign coder, and the bit-packed coders' common loop.

A coder turns, for every sparse tensor of a message in table order, the kept positions
(``k`` of ``n``, ascending) and optionally one sign bit per kept position into a single
stream, and back. One stream per message, not per tensor: a range coder's flush and a
bit stream's byte padding then cost once per message instead of once per tensor, which
is several percent of a LeNet-5 residual. Coders never see values: those travel in the
tensor payloads. ``idx=None`` means every position is kept (sparsity 0, only signs).
Decoders bound everything they read by ``k`` and the shape, and raise
:class:`MessageError` naming the tensor they were decoding.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..bitio import BitReader, BitWriter
from ..errors import MessageError


@dataclass(frozen=True)
class Sparse:
    """What the coder codes for one tensor."""

    shape: tuple[int, ...]
    idx: np.ndarray | None  # ascending kept positions; None: all kept
    negative: np.ndarray | None  # one sign per kept position; None: not coded

    @property
    def n(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class Slot:
    """What the decoder knows about one tensor before reading the stream."""

    name: str
    shape: tuple[int, ...]
    k: int
    dense: bool  # positions not coded (all kept)
    signs: bool  # signs coded

    @property
    def n(self) -> int:
        return math.prod(self.shape)


Decoded = tuple[np.ndarray | None, np.ndarray | None]


class Coder(ABC):
    """Codes kept positions and signs of all sparse tensors of a message."""

    name: str
    coder_id: int

    @abstractmethod
    def encode(self, tensors: Sequence[Sparse]) -> bytes:
        """One stream for all ``tensors``, in order."""

    def decode(self, buf: memoryview, slots: Sequence[Slot]) -> list[Decoded]:
        """(positions or None when dense, signs or None) per slot."""
        state = self._start(buf)
        out = []
        for slot in slots:
            try:
                out.append(self._decode_one(state, slot))
            except MessageError as error:
                raise error.located(tensor=slot.name) from None
        self._finish(state)
        return out

    @abstractmethod
    def _start(self, buf: memoryview) -> object: ...

    @abstractmethod
    def _decode_one(self, state: object, slot: Slot) -> Decoded: ...

    @abstractmethod
    def _finish(self, state: object) -> None: ...


class BitCoder(Coder):
    """Bit-packed coders of zero runs: positions, then raw sign bits, per tensor."""

    @abstractmethod
    def _write_positions(self, out: BitWriter, idx: np.ndarray, n: int) -> None: ...

    @abstractmethod
    def _read_positions(self, reader: BitReader, k: int, n: int) -> np.ndarray: ...

    def encode(self, tensors: Sequence[Sparse]) -> bytes:
        out = BitWriter()
        for t in tensors:
            if t.idx is not None:
                self._write_positions(out, t.idx, t.n)
            if t.negative is not None:
                out.bits(t.negative)
        return out.getvalue()

    def _start(self, buf: memoryview) -> BitReader:
        return BitReader(buf)

    def _decode_one(self, reader: BitReader, slot: Slot) -> Decoded:
        idx = None if slot.dense else self._read_positions(reader, slot.k, slot.n)
        negative = reader.fields(slot.k, 1, "sign bits").astype(bool) if slot.signs else None
        return idx, negative

    def _finish(self, reader: BitReader) -> None:
        reader.finish()


def zero_runs(idx: np.ndarray) -> np.ndarray:
    """Number of dropped entries before each kept one (the paper's zero-run lengths)."""
    return np.diff(idx, prepend=-1) - 1


def positions_from_runs(runs: np.ndarray, n: int) -> np.ndarray:
    """Inverse of :func:`zero_runs`, checking that the positions fit in ``n`` entries."""
    idx = np.cumsum(runs + 1) - 1
    if idx.size and idx[-1] >= n:
        raise MessageError(f"zero runs reach position {int(idx[-1])}, tensor has {n} entries")
    return idx
