"""The paper's position coding: 16-bit zero-run lengths, then Huffman.

Runs are 16-bit symbols; a run of 65535 or more is split into escape symbols (65535 =
"65535 dropped entries, no kept one yet") and a final literal. The Huffman code is
canonical and sent with the message: the sorted distinct symbols as Golomb-coded gaps
and a 5-bit code length each (at most 20 bits, by flattening the counts until it fits).
That table is the price of this scheme on messages as small as a residual's.

Per tensor: ``ue`` of the escape count, of the distinct symbol count - 1 and of the
table's Golomb parameter - 1, then the table gaps, the code lengths and the codes.
Decoding is vectorised: a lookup table of the next ``L`` bits at every bit position
gives each position's successor, and the chain of code starts is followed by pointer
doubling (O(bits * log symbols)).
"""

from __future__ import annotations

import heapq

import numpy as np

from ..bitio import BitReader, BitWriter
from ..errors import MessageError
from .base import BitCoder, positions_from_runs, zero_runs
from .golomb import best_parameter, read_golomb, write_golomb

ESCAPE = 0xFFFF
MAX_CODE_LENGTH = 20
_LENGTH_BITS = 5


def huffman_lengths(counts: np.ndarray, limit: int = MAX_CODE_LENGTH) -> np.ndarray:
    """Code lengths of a Huffman code for ``counts``, at most ``limit`` bits each.

    Ties are broken by creation order, so the result is deterministic.
    """
    while True:
        lengths = _unlimited_lengths(counts)
        if lengths.max() <= limit:
            return lengths
        counts = (counts + 1) // 2  # flatten the distribution until the code fits


def _unlimited_lengths(counts: np.ndarray) -> np.ndarray:
    d = counts.size
    if d == 1:
        return np.ones(1, dtype=np.int64)
    heap = [(int(c), i) for i, c in enumerate(counts)]
    heapq.heapify(heap)
    parent = np.zeros(2 * d - 1, dtype=np.int64)
    for node in range(d, 2 * d - 1):
        c1, a = heapq.heappop(heap)
        c2, b = heapq.heappop(heap)
        parent[a] = parent[b] = node
        heapq.heappush(heap, (c1 + c2, node))
    depth = np.zeros(2 * d - 1, dtype=np.int64)
    for node in range(2 * d - 3, -1, -1):  # parents are created after their children
        depth[node] = depth[parent[node]] + 1
    return depth[:d]


def canonical(symbols: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Canonical codes for sorted ``symbols``; also the decoding table (symbol, length)
    indexed by the next ``max(lengths)`` bits (length 0: no code starts with them)."""
    top = int(lengths.max())
    order = np.lexsort((symbols, lengths))
    span = np.left_shift(np.int64(1), top - lengths[order])
    start = np.cumsum(span) - span
    codes = np.empty_like(start)
    codes[order] = start >> (top - lengths[order])
    size = 1 << top
    table_len = np.zeros(size, dtype=np.int64)
    table_sym = np.zeros(size, dtype=np.int64)
    used = int(span.sum())
    table_len[:used] = np.repeat(lengths[order], span)
    table_sym[:used] = np.repeat(symbols[order], span)
    return codes, table_sym, table_len


def follow(successor: np.ndarray, steps: int) -> np.ndarray:
    """``[0, s(0), s(s(0)), ...]`` (``steps + 1`` entries) by pointer doubling."""
    path = np.zeros(1, dtype=np.int64)
    jump = successor
    while path.size < steps + 1:
        path = np.concatenate([path, jump[path]])
        if path.size < steps + 1:
            jump = jump[jump]
    return path[: steps + 1]


class HuffmanCoder(BitCoder):
    """16-bit zero runs + canonical Huffman (the paper's scheme), raw sign bits."""

    name = "huffman"
    coder_id = 1

    def _write_positions(self, out: BitWriter, idx: np.ndarray, n: int) -> None:
        runs = zero_runs(idx)
        escapes = runs // ESCAPE
        symbols = np.full(idx.size + int(escapes.sum()), ESCAPE, dtype=np.int64)
        symbols[np.cumsum(escapes + 1) - 1] = runs % ESCAPE
        distinct, counts = np.unique(symbols, return_counts=True)
        lengths = huffman_lengths(counts)
        codes, _, _ = canonical(distinct, lengths)
        gaps = zero_runs(distinct)
        m = best_parameter(gaps)
        for value in (symbols.size - idx.size, distinct.size - 1, m - 1):
            out.ue(value)
        write_golomb(out, gaps, m)
        out.fields(lengths - 1, _LENGTH_BITS)
        which = np.searchsorted(distinct, symbols)
        out.fields(codes[which], lengths[which])

    def _read_positions(self, reader: BitReader, k: int, n: int) -> np.ndarray:
        n_escapes = reader.ue("Huffman escape count")
        n_distinct = reader.ue("Huffman table size") + 1
        m = reader.ue("Huffman table parameter") + 1
        total = k + n_escapes
        if n_escapes > n // ESCAPE:
            raise MessageError(f"{n_escapes} escape symbols cannot fit in {n} entries")
        if n_distinct > min(total, ESCAPE + 1):
            raise MessageError(f"Huffman table of {n_distinct} symbols for {total} symbols")
        if m > ESCAPE + 1:
            raise MessageError(f"Huffman table parameter {m} out of range [1, 65536]")
        distinct = positions_from_runs(read_golomb(reader, n_distinct, m), ESCAPE + 1)
        lengths = reader.fields(n_distinct, _LENGTH_BITS, "Huffman code lengths") + 1
        top = int(lengths.max())
        if top > MAX_CODE_LENGTH:
            raise MessageError(f"Huffman code length {top} > {MAX_CODE_LENGTH}")
        if int(np.left_shift(np.int64(1), top - lengths).sum()) > 1 << top:
            raise MessageError("Huffman code lengths violate the Kraft inequality")
        _, table_sym, table_len = canonical(distinct, lengths)
        symbols = _decode_symbols(reader, total, table_sym, table_len)
        return positions_from_runs(_runs_from_symbols(symbols, k), n)


def _decode_symbols(
    reader: BitReader, count: int, table_sym: np.ndarray, table_len: np.ndarray
) -> np.ndarray:
    top = int(table_len.size).bit_length() - 1
    stream = reader.bits[reader.pos : reader.pos + count * top]  # no code is longer than top
    size = stream.size
    padded = np.concatenate([stream, np.zeros(top, dtype=np.uint8)]).astype(np.int64)
    window = np.zeros(size, dtype=np.int64)
    for j in range(top):
        window = (window << 1) | padded[j : j + size]
    length = table_len[window]
    invalid = size + 1  # absorbing: past the end, or no code starts here
    successor = np.where(length > 0, np.arange(size) + length, invalid)
    successor = np.minimum(np.concatenate([successor, [invalid, invalid]]), invalid)
    path = follow(successor, count)
    if path[-1] > size:
        raise MessageError(f"Huffman code: {count} symbols announced, the bits run out or are invalid")
    reader.pos += int(path[-1])
    return table_sym[window[path[:-1]]]


def _runs_from_symbols(symbols: np.ndarray, k: int) -> np.ndarray:
    literal = np.flatnonzero(symbols != ESCAPE)
    if literal.size != k or (symbols.size and symbols[-1] == ESCAPE):
        raise MessageError(f"Huffman code: {literal.size} runs decoded, {k} expected")
    escapes_before = np.diff(literal, prepend=-1)  # escapes + the literal itself
    return (escapes_before - 1) * ESCAPE + symbols[literal]
