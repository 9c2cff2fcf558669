"""Range coding (constriction) of the position mask and the signs, optionally with context.

``ans`` codes the kept/dropped mask as i.i.d. Bernoulli(k/n) symbols and the signs as
i.i.d. Bernoulli(c/k) after the count c of negatives: within a few bits of the
information bound for uniformly placed positions, at any density.

``context`` exploits what real residuals have and uniform positions do not: some output
units (rows, dim 0) and some input units (columns, the other dims) are much more active
than others, and the updates of one output unit tend to share a sign. Position models:

- flat: as ``ans``;
- rows / columns: per-group kept counts first, then each group's mask as i.i.d.
  Bernoulli(k_g / n_g);
- adaptive(alpha): row counts first, then rows in order, each entry with probability
  ``c_i * (col_j + alpha) / (K_i + alpha * n_cols)``: the row's count spread over the
  columns in proportion to how often each column was kept in the rows before
  (``col_j`` of ``K_i`` so far, Dirichlet-smoothed). No side information.

Sign models: flat, rows or columns, each with per-group negative counts first. The
encoder picks the cheapest position and sign model per tensor by their ideal cost (the
adaptive one from an O(k) second-order estimate) and sends the choices first. The
probabilities of the adaptive model are elementwise float64 arithmetic on integers,
computed identically by the vectorised encoder and the row-by-row decoder.

``kernel`` is ``context`` plus, for convolution weights, a factor on each chosen model's
probabilities by what the entries before it in its kernel were (:mod:`.kernels`), where
that is cheaper: a flag per tensor for positions and one for signs after the choices.

Per tensor, in the message's single stream (uint32 words, little-endian): the choices
(only for tensors with rows and columns), then the positions, then the signs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..bitio import unary
from ..errors import MessageError
from ..rangecoding import (
    BERNOULLI,
    UNIFORM,
    Encoder,
    bernoulli,
    check_exhausted,
    clipped,
    decoding,
    model,
    stream_bytes,
    stream_decoder,
)
from . import kernels
from .base import Coder, Decoded, Slot, Sparse

FLAT, ROWS, COLS = GROUPINGS = (0, 1, 2)
ALPHAS = (1 / 16, 1 / 4, 1.0)  # position model len(GROUPINGS) + i is adaptive(ALPHAS[i])
N_POSITION_MODELS = len(GROUPINGS) + len(ALPHAS)

def _xlog2x(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    return a * np.log2(np.where(a > 0, a, 1.0))


def _binary_cost(ones: np.ndarray, total: np.ndarray) -> float:
    """Ideal bits of sequences of ``total`` binary symbols with ``ones`` ones each."""
    return float(np.sum(_xlog2x(total) - _xlog2x(ones) - _xlog2x(total - ones)))


def _grouped(flat: np.ndarray, shape: tuple[int, ...], grouping: int) -> np.ndarray:
    """The (groups, entries per group) view of a flat per-entry array."""
    if grouping == FLAT:
        return flat.reshape(1, -1)
    matrix = flat.reshape(shape[0], -1)
    return matrix if grouping == ROWS else matrix.T


def _ungrouped(matrix: np.ndarray, grouping: int) -> np.ndarray:
    return (matrix.T if grouping == COLS else matrix).reshape(-1)


# Group counts: a unary bitmap of k ones and G zeros, i.i.d. Bernoulli(k / (k + G)).


def _counts_cost(counts: np.ndarray) -> float:
    return _binary_cost(counts.sum(), counts.sum() + counts.size) if counts.size > 1 else 0.0


def _encode_counts(encoder, counts: np.ndarray) -> None:
    if counts.size > 1:
        k = int(counts.sum())
        encoder.encode(unary(counts).astype(np.int32), bernoulli(k / (k + counts.size)))


def _decode_counts(decoder, groups: int, per_group: int, k: int) -> np.ndarray:
    if groups == 1:
        return np.array([k])
    symbols = decoder.decode(bernoulli(k / (k + groups)), k + groups)
    ends = np.flatnonzero(symbols == 0)
    if ends.size != groups or symbols[-1] != 0:
        raise MessageError(f"group counts do not describe {groups} groups")
    counts = np.diff(ends, prepend=-1) - 1
    if counts.max() > per_group:
        raise MessageError(f"a group claims {int(counts.max())} kept entries of {per_group}")
    return counts


# Grouped masks: each group i.i.d. Bernoulli(k_g / n_g), one call per distinct count.


def _grouped_cost(mask: np.ndarray) -> float:
    counts = mask.sum(axis=1)
    return _counts_cost(counts) + _binary_cost(counts, mask.shape[1])


def _encode_grouped(encoder, mask: np.ndarray) -> None:
    counts = mask.sum(axis=1)
    _encode_counts(encoder, counts)
    for v in np.unique(counts):
        if 0 < v < mask.shape[1]:
            encoder.encode(mask[counts == v].reshape(-1).astype(np.int32), bernoulli(v / mask.shape[1]))


def _decode_grouped(decoder, shape: tuple[int, int], k: int) -> np.ndarray:
    groups, per_group = shape
    counts = _decode_counts(decoder, groups, per_group, k)
    mask = np.zeros(shape, dtype=bool)
    mask[counts == per_group] = True
    for v in np.unique(counts):
        if 0 < v < per_group:
            rows = np.flatnonzero(counts == v)
            bits = decoder.decode(bernoulli(v / per_group), rows.size * per_group)
            mask[rows] = _checked_rows(bits.reshape(rows.size, per_group), np.full(rows.size, v))
    return mask


def _checked_rows(bits: np.ndarray, counts: np.ndarray) -> np.ndarray:
    if np.any(bits.sum(axis=1) != counts):
        raise MessageError("a group's decoded mask does not hold its announced count")
    return bits.astype(bool)


# Adaptive masks: rows in order, columns weighted by how often they were kept before.


def _adaptive_p(count, col_before, kept_before, alpha: float, n_cols: int) -> np.ndarray:
    """Probabilities of one row (scalars + vector) or of all rows (columns + matrix)."""
    p = (count * (col_before + alpha)) / (kept_before + alpha * n_cols)
    return clipped(p)


def _adaptive_costs(mask: np.ndarray) -> list[float]:
    """Estimated bits of the adaptive model for each alpha, in O(k + rows).

    Kept entries cost -log2 p exactly; dropped ones -log2(1 - p) ~ (p + p^2 / 2) / ln 2,
    whose row sums follow from the row's sum of p (its count) and of p^2 (from the sum
    of squared column counts, which each kept entry raises by 2 r + 1).
    """
    rows, n_cols = mask.shape
    counts = mask.sum(axis=1)
    kept_before = np.cumsum(counts) - counts
    open_ = (counts > 0) & (counts < n_cols)
    r_idx, c_idx = np.nonzero(mask)
    by_col = np.lexsort((r_idx, c_idx))
    first = np.searchsorted(c_idx[by_col], c_idx[by_col])
    rank = np.empty_like(r_idx)
    rank[by_col] = np.arange(r_idx.size) - first  # kept entries above, same column
    sq = np.bincount(r_idx, weights=2 * rank + 1, minlength=rows)
    sq_before = np.cumsum(sq) - sq
    ones = open_[r_idx]
    costs = []
    for alpha in ALPHAS:
        denominator = kept_before + alpha * n_cols
        p = _adaptive_p(counts[r_idx], rank, kept_before[r_idx], alpha, n_cols)[ones]
        ones_p = np.bincount(r_idx[ones], weights=p, minlength=rows)
        ones_p2 = np.bincount(r_idx[ones], weights=p * p, minlength=rows)
        all_p2 = counts**2 * (sq_before + 2 * alpha * kept_before + n_cols * alpha**2) / denominator**2
        zeros = np.sum(((counts - ones_p) + (all_p2 - ones_p2) / 2)[open_]) / math.log(2)
        costs.append(_counts_cost(counts) - float(np.log2(p).sum()) + float(zeros))
    return costs


def _encode_adaptive(encoder, mask: np.ndarray, alpha: float) -> None:
    rows, n_cols = mask.shape
    counts = mask.sum(axis=1)
    _encode_counts(encoder, counts)
    open_ = (counts > 0) & (counts < n_cols)
    col_before = np.cumsum(mask, axis=0, dtype=np.int64) - mask
    kept_before = np.cumsum(counts) - counts
    p = _adaptive_p(counts[open_, None], col_before[open_], kept_before[open_, None], alpha, n_cols)
    encoder.encode(mask[open_].reshape(-1).astype(np.int32), BERNOULLI, p.reshape(-1))


def _decode_adaptive(decoder, shape: tuple[int, int], k: int, alpha: float) -> np.ndarray:
    rows, n_cols = shape
    counts = _decode_counts(decoder, rows, n_cols, k)
    mask = np.zeros(shape, dtype=bool)
    col = np.zeros(n_cols, dtype=np.int64)
    kept_before = np.int64(0)
    for i in range(rows):
        if counts[i] == n_cols:
            mask[i] = True
        elif counts[i] > 0:
            p = _adaptive_p(counts[i], col, kept_before, alpha, n_cols)
            mask[i] = _checked_rows(decoder.decode(BERNOULLI, p)[None], counts[i : i + 1])[0]
        col += mask[i]
        kept_before += counts[i]
    return mask


# Base probabilities of every entry under a position or sign model, for the kernel contexts.


def _grouped_probabilities(counts: np.ndarray, shape: tuple[int, ...], grouping: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each entry's probability (its group's count over its size), whether it is coded (its
    group is neither empty nor full) and whether it is kept when not: (rows, columns) each."""
    per_group = math.prod(shape) // counts.size

    def as_entries(per_group_value: np.ndarray) -> np.ndarray:
        return _ungrouped(np.repeat(per_group_value[:, None], per_group, axis=1), grouping).reshape(shape[0], -1)

    return as_entries(counts / per_group), as_entries((counts > 0) & (counts < per_group)), as_entries(counts == per_group)


def _position_probabilities(mask: np.ndarray, shape: tuple[int, ...], position_model: int) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities, coded) of every entry of the (rows, columns) ``mask`` under a model."""
    if position_model < len(GROUPINGS):
        counts = _grouped(mask.reshape(-1), shape, position_model).sum(axis=1)
        return _grouped_probabilities(counts, shape, position_model)[:2]
    counts = mask.sum(axis=1)
    col_before = np.cumsum(mask, axis=0, dtype=np.int64) - mask
    kept_before = np.cumsum(counts) - counts
    alpha = ALPHAS[position_model - len(GROUPINGS)]
    p = _adaptive_p(counts[:, None], col_before, kept_before[:, None], alpha, mask.shape[1])
    return p, np.broadcast_to(((counts > 0) & (counts < mask.shape[1]))[:, None], mask.shape)


def _encode_kernel_positions(encoder, mask: np.ndarray, shape: tuple[int, ...], position_model: int, codes: np.ndarray) -> None:
    grouping = ROWS if position_model >= len(GROUPINGS) else position_model
    _encode_counts(encoder, _grouped(mask.reshape(-1), shape, grouping).sum(axis=1))
    p, open_ = _position_probabilities(mask, shape, position_model)
    kernels.encode_positions(encoder, mask, p, open_, shape, codes)


def _decode_kernel_positions(decoder, shape: tuple[int, ...], k: int, position_model: int) -> np.ndarray:
    """The (rows, columns) mask, row by row, each row kernel position by kernel position."""
    adaptive = position_model >= len(GROUPINGS)
    grouping = ROWS if adaptive else position_model
    groups, per_group = _grouped(np.zeros(math.prod(shape), bool), shape, grouping).shape
    counts = _decode_counts(decoder, groups, per_group, k)
    rows = kernels.RowDecoder(decoder, shape)
    mask = np.zeros((shape[0], math.prod(shape[1:])), dtype=bool)
    if not adaptive:
        p, open_, full = _grouped_probabilities(counts, shape, grouping)
        for i in range(mask.shape[0]):
            mask[i] = rows.row(p[i], open_[i], full[i])
        if np.any(_grouped(mask.reshape(-1), shape, grouping).sum(axis=1) != counts):
            raise MessageError("a group's decoded mask does not hold its announced count")
        return mask
    alpha, n_cols = ALPHAS[position_model - len(GROUPINGS)], mask.shape[1]
    col, kept_before, coded = np.zeros(n_cols, dtype=np.int64), np.int64(0), np.ones(n_cols, dtype=bool)
    for i in range(mask.shape[0]):
        if counts[i] == n_cols:
            mask[i] = True
        elif counts[i] > 0:
            row = rows.row(_adaptive_p(counts[i], col, kept_before, alpha, n_cols), coded, ~coded)
            mask[i] = _checked_rows(row[None], counts[i : i + 1])[0]
        col += mask[i]
        kept_before += counts[i]
    return mask


# Signs: per-group negative counts (uniform over 0..k_g), then the undetermined signs.


def _sign_cost(mask: np.ndarray, negative: np.ndarray) -> float:
    kept, neg = mask.sum(axis=1), negative.sum(axis=1)
    return float(np.log2(kept[kept > 0] + 1.0).sum()) + _binary_cost(neg, kept)


def _sign_model(kept: np.ndarray, neg: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Group of each kept entry (group order), which of them are not determined by their
    group's count, and their probability of being negative."""
    group = np.repeat(np.arange(kept.size), kept)
    open_ = ((neg > 0) & (neg < kept))[group]
    return group, open_, (neg / np.maximum(kept, 1))[group][open_]


def _encode_signs(encoder, mask: np.ndarray, negative: np.ndarray) -> None:
    kept, neg = mask.sum(axis=1), negative.sum(axis=1)
    encoder.encode(neg[kept > 0].astype(np.int32), UNIFORM, (kept[kept > 0] + 1).astype(np.int32))
    _, open_, p = _sign_model(kept, neg)
    encoder.encode(negative[mask][open_].astype(np.int32), BERNOULLI, p)


def _kernel_sign_model(mask: np.ndarray, shape: tuple[int, ...], grouping: int, neg: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per kept entry of the (rows, columns) ``mask`` (row-major): its group's share of
    negatives, whether its sign is coded, and whether it is negative when not."""
    kept = _grouped(mask.reshape(-1), shape, grouping).sum(axis=1)
    rows, cols = np.nonzero(mask)
    group = (np.zeros_like(rows), rows, cols)[grouping]
    p = (neg / np.maximum(kept, 1))[group]
    return p, ((neg > 0) & (neg < kept))[group], (neg == kept)[group]


def _encode_kernel_signs(encoder, mask: np.ndarray, negative: np.ndarray, shape: tuple[int, ...], grouping: int, codes: np.ndarray) -> None:
    kept = _grouped(mask.reshape(-1), shape, grouping).sum(axis=1)
    neg = _grouped(negative.reshape(-1), shape, grouping).sum(axis=1)
    encoder.encode(neg[kept > 0].astype(np.int32), UNIFORM, (kept[kept > 0] + 1).astype(np.int32))
    p, open_, _ = _kernel_sign_model(mask, shape, grouping, neg)
    kernels.encode_signs(encoder, mask, negative, p, open_, shape, codes)


def _decode_kernel_signs(decoder, mask: np.ndarray, shape: tuple[int, ...], grouping: int) -> np.ndarray:
    """The signs of the kept entries of the (rows, columns) ``mask``, row-major."""
    kept = _grouped(mask.reshape(-1), shape, grouping).sum(axis=1)
    neg = np.zeros_like(kept)
    neg[kept > 0] = decoder.decode(UNIFORM, (kept[kept > 0] + 1).astype(np.int32))
    p, open_, known = _kernel_sign_model(mask, shape, grouping, neg)
    signs = kernels.decode_signs(decoder, mask, known, p, open_, shape)
    out = np.zeros(mask.shape, dtype=bool)
    out[mask] = signs
    if np.any(_grouped(out.reshape(-1), shape, grouping).sum(axis=1) != neg):
        raise MessageError("decoded signs do not match their announced counts")
    return signs


def _decode_signs(decoder, mask: np.ndarray) -> np.ndarray:
    kept = mask.sum(axis=1)
    neg = np.zeros_like(kept)
    neg[kept > 0] = decoder.decode(UNIFORM, (kept[kept > 0] + 1).astype(np.int32))
    group, open_, p = _sign_model(kept, neg)
    signs = (neg == kept)[group]
    signs[open_] = decoder.decode(BERNOULLI, p).astype(bool)
    if np.any(np.bincount(group, weights=signs, minlength=kept.size) != neg):
        raise MessageError("decoded signs do not match their announced counts")
    out = np.zeros(mask.shape, dtype=bool)
    out[mask] = signs
    return out


@dataclass
class _Choices:
    """One tensor's mask and signs (per entry), the models chosen for them, the kernel
    factor codes where kernel contexts are used (None where not), and the ideal bits."""

    mask: np.ndarray
    negative: np.ndarray
    position_model: int = FLAT
    sign_model: int = FLAT
    position_codes: np.ndarray | None = None
    sign_codes: np.ndarray | None = None
    bits: float = 0.0


class ContextCoder(Coder):
    """Range-coded mask and signs; with ``contexts``, grouped and adaptive models; with
    ``kernels`` too, kernel contexts for convolution weights."""

    def __init__(self, name: str, coder_id: int, *, contexts: bool, kernels: bool = False) -> None:
        self.name = name
        self.coder_id = coder_id
        self.contexts = contexts
        self.kernels = kernels

    def _has_context(self, shape: tuple[int, ...]) -> bool:
        return self.contexts and len(shape) >= 2 and shape[0] >= 2 and math.prod(shape[1:]) >= 2

    def _has_kernels(self, shape: tuple[int, ...]) -> bool:
        return self.kernels and kernels.has_kernels(shape)

    def encode(self, tensors: Sequence[Sparse]) -> bytes:
        encoder = Encoder()
        for t in tensors:
            self._encode_one(encoder, t)
        return stream_bytes(encoder)

    def _choices(self, t: Sparse) -> _Choices:
        """The cheapest position and sign models by their ideal costs (the choices' own
        symbols included)."""
        mask = np.ones(t.n, dtype=bool)
        if t.idx is not None:
            mask[:] = False
            mask[t.idx] = True
        neg = np.zeros(t.n, dtype=bool)
        if t.negative is not None:
            neg[mask] = t.negative
        chosen = _Choices(mask, neg)
        context = self._has_context(t.shape)
        groupings = GROUPINGS if context else (FLAT,)
        if t.idx is not None:
            costs = [_grouped_cost(_grouped(mask, t.shape, g)) for g in groupings]
            if context:
                costs += _adaptive_costs(_grouped(mask, t.shape, ROWS))
                chosen.bits += math.log2(N_POSITION_MODELS)
            chosen.position_model = int(np.argmin(costs))
            chosen.bits += self._kernel_positions(chosen, t.shape, costs[chosen.position_model])
        if t.negative is not None:
            costs = [_sign_cost(_grouped(mask, t.shape, g), _grouped(neg, t.shape, g)) for g in groupings]
            chosen.sign_model = int(np.argmin(costs))
            chosen.bits += self._kernel_signs(chosen, t.shape, costs[chosen.sign_model])
            chosen.bits += math.log2(len(GROUPINGS)) if context else 0.0
        return chosen

    def _kernel_positions(self, chosen: _Choices, shape: tuple[int, ...], bits: float) -> float:
        """The bits of the positions, with kernel contexts where they are cheaper (then their
        factor codes go into ``chosen``)."""
        if not self._has_kernels(shape):
            return bits
        matrix = chosen.mask.reshape(shape[0], -1)
        p, open_ = _position_probabilities(matrix, shape, chosen.position_model)
        if not open_.any():
            return bits + 1
        kernel_bits, codes = kernels.position_cost(matrix, p, open_, shape)
        if kernel_bits < bits:
            chosen.position_codes = codes
        return min(bits, kernel_bits) + 1

    def _kernel_signs(self, chosen: _Choices, shape: tuple[int, ...], bits: float) -> float:
        """As :meth:`_kernel_positions`, for the signs."""
        if not self._has_kernels(shape):
            return bits
        matrix, negative = chosen.mask.reshape(shape[0], -1), chosen.negative.reshape(shape[0], -1)
        grouping = chosen.sign_model
        kept = _grouped(chosen.mask, shape, grouping).sum(axis=1)
        neg = _grouped(chosen.negative, shape, grouping).sum(axis=1)
        p, open_, _ = _kernel_sign_model(matrix, shape, grouping, neg)
        if not open_.any():
            return bits + 1
        count_bits = float(np.log2(kept[kept > 0] + 1.0).sum())
        kernel_bits, codes = kernels.sign_cost(matrix, negative, p, open_, shape)
        if count_bits + kernel_bits < bits:
            chosen.sign_codes = codes
        return min(bits, count_bits + kernel_bits) + 1

    def ideal_bits(self, t: Sparse) -> float:
        """What coding ``t`` costs, from the models' ideal costs (the adaptive one estimated):
        for a caller that searches a quantiser step without coding every candidate."""
        return self._choices(t).bits

    def _encode_one(self, encoder, t: Sparse) -> None:
        c = self._choices(t)
        mask, neg = c.mask, c.negative
        if self._has_context(t.shape):
            if t.idx is not None:
                encoder.encode(np.array([c.position_model], np.int32), model.Uniform(N_POSITION_MODELS))
            if t.negative is not None:
                encoder.encode(np.array([c.sign_model], np.int32), model.Uniform(len(GROUPINGS)))
        if self._has_kernels(t.shape):
            flags = [codes is not None for codes, coded in ((c.position_codes, t.idx), (c.sign_codes, t.negative)) if coded is not None]
            encoder.encode(np.array(flags, np.int32), model.Uniform(2))
        if t.idx is not None:
            if c.position_codes is not None:
                _encode_kernel_positions(encoder, mask.reshape(t.shape[0], -1), t.shape, c.position_model, c.position_codes)
            elif c.position_model < len(GROUPINGS):
                _encode_grouped(encoder, _grouped(mask, t.shape, c.position_model))
            else:
                alpha = ALPHAS[c.position_model - len(GROUPINGS)]
                _encode_adaptive(encoder, _grouped(mask, t.shape, ROWS), alpha)
        if t.negative is not None:
            if c.sign_codes is not None:
                rows = t.shape[0]
                _encode_kernel_signs(encoder, mask.reshape(rows, -1), neg.reshape(rows, -1), t.shape, c.sign_model, c.sign_codes)
            else:
                _encode_signs(encoder, _grouped(mask, t.shape, c.sign_model), _grouped(neg, t.shape, c.sign_model))

    def _start(self, buf: memoryview):
        return stream_decoder(buf)

    def _decode_one(self, decoder, slot: Slot) -> Decoded:
        with decoding():
            return self._decode_checked(decoder, slot)

    def _decode_checked(self, decoder, slot: Slot) -> Decoded:
        context = self._has_context(slot.shape)
        position_model = sign_model = FLAT
        if context and not slot.dense:
            position_model = int(decoder.decode(model.Uniform(N_POSITION_MODELS)))
        if context and slot.signs:
            sign_model = int(decoder.decode(model.Uniform(len(GROUPINGS))))
        kernel_positions = kernel_signs = False
        if self._has_kernels(slot.shape):
            flags = iter(decoder.decode(model.Uniform(2), int(not slot.dense) + int(slot.signs)).astype(bool))
            kernel_positions = bool(next(flags)) if not slot.dense else False
            kernel_signs = bool(next(flags)) if slot.signs else False
        mask = np.ones(slot.n, dtype=bool)
        if kernel_positions:
            mask = _decode_kernel_positions(decoder, slot.shape, slot.k, position_model).reshape(-1)
        elif not slot.dense:
            if position_model < len(GROUPINGS):
                shape = _grouped(mask, slot.shape, position_model).shape
                mask = _ungrouped(_decode_grouped(decoder, shape, slot.k), position_model)
            else:
                shape = _grouped(mask, slot.shape, ROWS).shape
                alpha = ALPHAS[position_model - len(GROUPINGS)]
                mask = _decode_adaptive(decoder, shape, slot.k, alpha).reshape(-1)
        negative = None
        if kernel_signs:
            negative = _decode_kernel_signs(decoder, mask.reshape(slot.shape[0], -1), slot.shape, sign_model)
        elif slot.signs:
            signs = _decode_signs(decoder, _grouped(mask, slot.shape, sign_model))
            negative = _ungrouped(signs, sign_model)[mask]
        return (None if slot.dense else np.flatnonzero(mask)), negative

    def _finish(self, decoder) -> None:
        check_exhausted(decoder)
