"""The range coder (constriction) as every format uses it: models, stream words, checks.

A stream is the encoder's uint32 words, little-endian. Reading one checks that it is
whole words, turns whatever constriction raises on invalid data (an AssertionError,
a ValueError...) into :class:`MessageError`, and at the end checks that no data is left.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import constriction
import numpy as np

from .errors import MessageError
from .framing import get_varint, put_varint

model = constriction.stream.model
P_MIN = 2.0**-20  # probabilities are clipped to [P_MIN, 1 - P_MIN]
BERNOULLI = model.Bernoulli(perfect=False)  # family: one probability per symbol
UNIFORM = model.Uniform()  # family: one alphabet size per symbol
Encoder = constriction.stream.queue.RangeEncoder
Decoder = constriction.stream.queue.RangeDecoder


def bernoulli(p: float) -> model.Bernoulli:
    """One Bernoulli(p) model for a whole run of symbols."""
    return model.Bernoulli(p, perfect=False)


def clipped(p: np.ndarray) -> np.ndarray:
    """Probabilities clipped to [P_MIN, 1 - P_MIN], so that every symbol stays codable."""
    return np.clip(p, P_MIN, 1 - P_MIN)


def stream_bytes(encoder: Encoder) -> bytes:
    """The finished stream of ``encoder``."""
    return encoder.get_compressed().astype("<u4").tobytes()


def stream_decoder(buf: bytes | memoryview) -> Decoder:
    """A decoder of a stream written by :func:`stream_bytes`."""
    if len(buf) % 4:
        raise MessageError(f"range-coded stream of {len(buf)} bytes is not whole 32-bit words")
    return Decoder(np.frombuffer(buf, dtype="<u4").astype(np.uint32))


def check_exhausted(decoder: Decoder) -> None:
    """Every word of the stream was needed: nothing was appended or left over.

    Exact up to one word: the decoder's state holds two words and the encoder's final flush
    may write only one, so one appended 32-bit word reads as the missing one (constriction's
    ``maybe_exhausted``; measured: 1 appended word passes, 2 or more fail). Telling that
    case apart would take a second decode of the stream; a tag (:mod:`.auth`) covers it.
    """
    if not decoder.maybe_exhausted():
        raise MessageError("range-coded stream has unused bytes after the last symbol")


@contextmanager
def decoding() -> Iterator[None]:
    """Turn constriction's reports of invalid data into MessageError."""
    try:
        yield
    except MessageError:
        raise
    except Exception as error:  # constriction reports invalid data as AssertionError etc.
        raise MessageError(f"range decoder rejected the stream: {type(error).__name__}: {error}") from None


def _histogram(values: np.ndarray) -> tuple[bytearray, np.ndarray, np.ndarray]:
    """The table of :func:`put_histogram_coded` (distinct values as gaps from the previous
    one, and their frequencies, as varints), each value's symbol, and the frequencies."""
    distinct, symbols, counts = np.unique(values, return_inverse=True, return_counts=True)
    table = bytearray()
    put_varint(table, len(distinct))
    for gap, count in zip(np.diff(distinct, prepend=-1) - 1, counts):
        put_varint(table, int(gap))
        put_varint(table, int(count))
    return table, symbols, counts


def put_histogram_coded(table: bytearray, encoder: Encoder, values: np.ndarray) -> None:
    """Non-negative integers coded with their own histogram: the histogram goes to ``table``,
    the symbols to ``encoder`` (nothing when there is at most one distinct value)."""
    head, symbols, counts = _histogram(values)
    table += head
    if len(counts) > 1:
        encoder.encode(symbols.astype(np.int32), model.Categorical(counts / counts.sum(), perfect=False))


def histogram_coded_bits(values: np.ndarray) -> float:
    """What :func:`put_histogram_coded` costs for ``values``: its table (sized without
    writing it) plus the symbols' empirical entropy; the range coder adds a few words."""
    frequencies = np.bincount(values)
    distinct = np.flatnonzero(frequencies)
    counts = frequencies[distinct]
    fields = np.concatenate([[len(distinct)], np.diff(distinct, prepend=-1) - 1, counts])
    table_bytes = int((np.maximum(np.ceil(np.log2(fields + 1.0) / 7), 1)).sum())
    return 8 * table_bytes + float((counts * np.log2(counts.sum() / counts)).sum())


def get_histogram_coded(
    table: memoryview, pos: int, decoder: Decoder, size: int, largest: int, what: str
) -> tuple[np.ndarray, int]:
    """The ``size`` values of :func:`put_histogram_coded` and the table position after its
    histogram; every value must lie in [0, ``largest``]."""
    distinct, pos = get_varint(table, pos, len(table), f"{what}: distinct values")
    if not min(size, 1) <= distinct <= min(size, largest + 1):
        raise MessageError(f"{what}: {distinct} distinct values for {size} entries in [0, {largest}]")
    values, counts, previous = np.zeros(distinct, np.int64), np.zeros(distinct, np.int64), -1
    for j in range(distinct):
        gap, pos = get_varint(table, pos, len(table), f"{what}: value")
        frequency, pos = get_varint(table, pos, len(table), f"{what}: frequency")
        previous += gap + 1
        if previous > largest or not 1 <= frequency <= size:  # checked before entering int64 arrays
            raise MessageError(f"{what}: value {previous} seen {frequency} times, {size} entries in [0, {largest}]")
        values[j], counts[j] = previous, frequency
    if distinct and counts.sum() != size:
        raise MessageError(f"{what}: histogram does not fit its {size} entries in [0, {largest}]")
    if distinct <= 1:
        return np.full(size, values[0] if distinct else 0, dtype=np.int64), pos
    with decoding():
        symbols = decoder.decode(model.Categorical(counts / counts.sum(), perfect=False), size)
    if not np.array_equal(np.bincount(symbols, minlength=distinct), counts):
        raise MessageError(f"{what}: decoded symbols do not match their histogram")
    return values[symbols], pos
