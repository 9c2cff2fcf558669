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

Per tensor, in the message's single stream (uint32 words, little-endian): the choices
(only for tensors with rows and columns), then the positions, then the signs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

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


class ContextCoder(Coder):
    """Range-coded mask and signs; with ``contexts``, grouped and adaptive models."""

    def __init__(self, name: str, coder_id: int, *, contexts: bool) -> None:
        self.name = name
        self.coder_id = coder_id
        self.contexts = contexts

    def _has_context(self, shape: tuple[int, ...]) -> bool:
        return self.contexts and len(shape) >= 2 and shape[0] >= 2 and math.prod(shape[1:]) >= 2

    def encode(self, tensors: Sequence[Sparse]) -> bytes:
        encoder = Encoder()
        for t in tensors:
            self._encode_one(encoder, t)
        return stream_bytes(encoder)

    def _choices(self, t: Sparse) -> tuple[np.ndarray, np.ndarray, int, int, float]:
        """The tensor's mask and signs as per-entry arrays, the cheapest position and sign
        models, and their ideal cost in bits (the choices' own symbols included)."""
        mask = np.ones(t.n, dtype=bool)
        if t.idx is not None:
            mask[:] = False
            mask[t.idx] = True
        neg = np.zeros(t.n, dtype=bool)
        if t.negative is not None:
            neg[mask] = t.negative
        context = self._has_context(t.shape)
        groupings = GROUPINGS if context else (FLAT,)
        position_model = sign_model = FLAT
        bits = 0.0
        if t.idx is not None:
            costs = [_grouped_cost(_grouped(mask, t.shape, g)) for g in groupings]
            if context:
                costs += _adaptive_costs(_grouped(mask, t.shape, ROWS))
                bits += math.log2(N_POSITION_MODELS)
            position_model = int(np.argmin(costs))
            bits += costs[position_model]
        if t.negative is not None:
            costs = [_sign_cost(_grouped(mask, t.shape, g), _grouped(neg, t.shape, g)) for g in groupings]
            sign_model = int(np.argmin(costs))
            bits += costs[sign_model] + (math.log2(len(GROUPINGS)) if context else 0.0)
        return mask, neg, position_model, sign_model, bits

    def ideal_bits(self, t: Sparse) -> float:
        """What coding ``t`` costs, from the models' ideal costs (the adaptive one estimated):
        for a caller that searches a quantiser step without coding every candidate."""
        return self._choices(t)[-1]

    def _encode_one(self, encoder, t: Sparse) -> None:
        mask, neg, position_model, sign_model, _ = self._choices(t)
        if self._has_context(t.shape):
            if t.idx is not None:
                encoder.encode(np.array([position_model], np.int32), model.Uniform(N_POSITION_MODELS))
            if t.negative is not None:
                encoder.encode(np.array([sign_model], np.int32), model.Uniform(len(GROUPINGS)))
        if t.idx is not None:
            if position_model < len(GROUPINGS):
                _encode_grouped(encoder, _grouped(mask, t.shape, position_model))
            else:
                alpha = ALPHAS[position_model - len(GROUPINGS)]
                _encode_adaptive(encoder, _grouped(mask, t.shape, ROWS), alpha)
        if t.negative is not None:
            _encode_signs(encoder, _grouped(mask, t.shape, sign_model), _grouped(neg, t.shape, sign_model))

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
        mask = np.ones(slot.n, dtype=bool)
        if not slot.dense:
            if position_model < len(GROUPINGS):
                shape = _grouped(mask, slot.shape, position_model).shape
                mask = _ungrouped(_decode_grouped(decoder, shape, slot.k), position_model)
            else:
                shape = _grouped(mask, slot.shape, ROWS).shape
                alpha = ALPHAS[position_model - len(GROUPINGS)]
                mask = _decode_adaptive(decoder, shape, slot.k, alpha).reshape(-1)
        negative = None
        if slot.signs:
            signs = _decode_signs(decoder, _grouped(mask, slot.shape, sign_model))
            negative = _ungrouped(signs, sign_model)[mask]
        return (None if slot.dense else np.flatnonzero(mask)), negative

    def _finish(self, decoder) -> None:
        check_exhausted(decoder)
