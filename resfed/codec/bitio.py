"""Bit-level syntax: a vectorised bit writer and reader (byte-level varints: :mod:`.framing`).

Bits are written most significant first and packed with ``np.packbits``. Scalar header
fields use order-0 exp-Golomb (``ue``, as in H.264 and NNCodec's bitstream syntax);
bulk fields are written and read as whole numpy arrays. Every read is bounded by the
bits actually present.
"""

from __future__ import annotations

import numpy as np

from .errors import MessageError

_UE_MAX_ZEROS = 40  # values up to 2**40: far above any count the format carries


def bits_of(values: np.ndarray, widths: np.ndarray | int) -> np.ndarray:
    """Bits (uint8 0/1) of ``values`` written MSB first in ``widths`` bits each (<= 62)."""
    values = np.asarray(values, dtype=np.int64)
    widths = np.broadcast_to(np.asarray(widths, dtype=np.int64), values.shape)
    total = int(widths.sum())
    starts = np.cumsum(widths) - widths
    owner = np.repeat(np.arange(values.size), widths)
    shift = widths[owner] - 1 - (np.arange(total) - starts[owner])
    return ((values[owner] >> shift) & 1).astype(np.uint8)


def unary(q: np.ndarray) -> np.ndarray:
    """Bits of ``q[i]`` ones followed by a zero, for each i."""
    q = np.asarray(q, dtype=np.int64)
    bits = np.ones(int(q.sum()) + q.size, dtype=np.uint8)
    bits[np.cumsum(q + 1) - 1] = 0
    return bits


class BitWriter:
    """Collects bit sections; :meth:`getvalue` packs them (last byte zero-padded)."""

    def __init__(self) -> None:
        self._sections: list[np.ndarray] = []

    def bits(self, bits: np.ndarray) -> None:
        self._sections.append(np.asarray(bits, dtype=np.uint8))

    def fields(self, values: np.ndarray, widths: np.ndarray | int) -> None:
        self._sections.append(bits_of(values, widths))

    def unary(self, q: np.ndarray) -> None:
        self._sections.append(unary(q))

    def ue(self, value: int) -> None:
        """Order-0 exp-Golomb: ``n`` zeros, then ``value + 1`` in ``n + 1`` bits."""
        width = (value + 1).bit_length()
        self.fields(np.array([value + 1]), 2 * width - 1)

    def getvalue(self) -> bytes:
        if not self._sections:
            return b""
        return np.packbits(np.concatenate(self._sections)).tobytes()


class BitReader:
    """Reads what a :class:`BitWriter` wrote; ``pos`` is the next bit."""

    def __init__(self, buf: bytes | memoryview) -> None:
        self.bits = np.unpackbits(np.frombuffer(buf, dtype=np.uint8))
        self.pos = 0

    def fields(self, count: int, width: int, what: str) -> np.ndarray:
        """``count`` unsigned fields of ``width`` bits (<= 62)."""
        end = self.pos + count * width
        if end > self.bits.size:
            raise MessageError(f"{what}: needs {end - self.pos} bits, {self.bits.size - self.pos} left")
        weights = np.left_shift(np.int64(1), np.arange(width - 1, -1, -1, dtype=np.int64))
        out = self.bits[self.pos : end].reshape(count, width).astype(np.int64) @ weights
        self.pos = end
        return out

    def unary(self, count: int, what: str) -> np.ndarray:
        """``count`` unary values (ones ended by a zero)."""
        window = 2 * count + 64  # grown until it holds count zeros: never rescan the whole stream
        while True:
            zeros = np.flatnonzero(self.bits[self.pos : self.pos + window] == 0)[:count] + self.pos
            if zeros.size == count or self.pos + window >= self.bits.size:
                break
            window *= 4
        if zeros.size < count:
            raise MessageError(f"{what}: {count} unary values announced, {zeros.size} found")
        q = np.diff(zeros, prepend=self.pos - 1) - 1
        if count:
            self.pos = int(zeros[-1]) + 1
        return q

    def ue(self, what: str) -> int:
        ones = np.flatnonzero(self.bits[self.pos : self.pos + _UE_MAX_ZEROS + 1])
        if ones.size == 0:
            raise MessageError(f"{what}: no exp-Golomb code at bit {self.pos}")
        width = int(ones[0]) + 1
        self.pos += width - 1
        return int(self.fields(1, width, what)[0]) - 1

    def finish(self) -> None:
        """The stream may only end with the padding of its last byte."""
        if self.bits.size - self.pos >= 8:
            raise MessageError(f"{(self.bits.size - self.pos) // 8} unused bytes at the end of the stream")
