"""Golomb coding of zero-run lengths: near the entropy of i.i.d. positions, no table.

For i.i.d. positions the runs are geometric, and a Golomb code with the right parameter
``m`` is within a fraction of a percent of their entropy. ``m`` is chosen per tensor by
exact cost among a few candidates. When more than half the entries are kept, the
dropped ones are coded instead (a dense mask has tiny runs, which Golomb codes badly).

Per tensor: ``ue((m - 1) << 1 | complement)``, then all unary quotients, then the
``b - 1`` high remainder bits of every run, then the extra low bit of the runs whose
truncated-binary remainder needs ``b`` bits. Splitting the fields into sections makes
decoding vectorised: the unary section ends at its ``count``-th zero.
"""

from __future__ import annotations

import math

import numpy as np

from ..bitio import BitReader, BitWriter
from ..errors import MessageError
from .base import BitCoder, positions_from_runs, zero_runs


def _split(m: int) -> tuple[int, int]:
    """Truncated binary code of remainders in [0, m): width ``b`` and threshold ``u``."""
    b = (m - 1).bit_length()
    return b, (1 << b) - m


def golomb_cost(runs: np.ndarray, m: int) -> int:
    """Exact number of bits of the Golomb code of ``runs`` with parameter ``m``."""
    if m == 1:
        return int(runs.sum()) + runs.size
    b, u = _split(m)
    return int((runs // m).sum()) + runs.size * b + int(np.count_nonzero(runs % m >= u))


def best_parameter(runs: np.ndarray) -> int:
    """The cheapest ``m`` among a few around the optimum for geometric runs of this mean."""
    if runs.size == 0:
        return 1
    p = 1.0 / (float(runs.mean()) + 1.0)
    m0 = 1 if p >= 0.5 else math.ceil(math.log(2 - p) / -math.log1p(-p))
    candidates = sorted({max(1, round(m0 * 2 ** (j / 4))) for j in range(-4, 5)})
    return min(candidates, key=lambda m: (golomb_cost(runs, m), m))


def write_golomb(out: BitWriter, runs: np.ndarray, m: int) -> None:
    """The sections of the Golomb code of ``runs`` (see the module docstring)."""
    q, r = np.divmod(runs, m)
    out.unary(q)
    if m > 1:
        b, u = _split(m)
        wide = r >= u
        out.fields(np.where(wide, (r + u) >> 1, r), b - 1)
        out.bits((r + u)[wide] & 1)


def read_golomb(reader: BitReader, count: int, m: int) -> np.ndarray:
    """Decode ``count`` runs written by :func:`write_golomb`."""
    q = reader.unary(count, "Golomb quotients")
    if m == 1:
        return q
    b, u = _split(m)
    high = reader.fields(count, b - 1, "Golomb remainders")
    wide = high >= u
    r = high.copy()
    r[wide] = ((high[wide] << 1) | reader.fields(int(wide.sum()), 1, "Golomb remainder bits")) - u
    return q * m + r


class GolombCoder(BitCoder):
    """Golomb-coded zero runs (as in STC), raw sign bits."""

    name = "golomb"
    coder_id = 2

    def _write_positions(self, out: BitWriter, idx: np.ndarray, n: int) -> None:
        complement = 2 * idx.size > n
        if complement:
            idx = _complement(idx, n)
        runs = zero_runs(idx)
        m = best_parameter(runs)
        out.ue((m - 1) << 1 | complement)
        write_golomb(out, runs, m)

    def _read_positions(self, reader: BitReader, k: int, n: int) -> np.ndarray:
        word = reader.ue("Golomb parameter")
        m, complement = (word >> 1) + 1, bool(word & 1)
        if m > n:
            raise MessageError(f"Golomb parameter {m} exceeds the tensor size {n}")
        idx = positions_from_runs(read_golomb(reader, n - k if complement else k, m), n)
        return _complement(idx, n) if complement else idx


def _complement(idx: np.ndarray, n: int) -> np.ndarray:
    mask = np.ones(n, dtype=bool)
    mask[idx] = False
    return np.flatnonzero(mask)
