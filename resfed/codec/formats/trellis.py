"""Dependent (trellis-coded) quantisation for the uniform stage.

Two scalar quantisers share one step: ``Q0`` recovers even multiples of the step
(``2m``), ``Q1`` odd ones (``2m - 1``), a level ``m = 0`` being 0 in both. Which one an
entry uses is the state of an 8-state machine driven by the parity of the levels before
it, the machine of NNCodec / DeepCABAC (MPEG NNR; VVC's dependent quantisation has 4):
state ``s`` uses ``Q(s & 1)`` and moves to ``TRANSITIONS[s][m & 1]``. The receiver needs
nothing but the levels to follow it, so the message format is the scalar one's; the
encoder picks the levels with a Viterbi search over the states, pricing each choice by
squared error plus ``lambda`` times its bits. The union of the two quantisers is twice as
fine as each, and the trellis lets each entry use whichever point of the union is
cheapest along its chain: on the LeNet-5 link residuals at 0.5-1 bit/entry it leaves 9-13 %
less error than the scalar stage's rate-distortion levels at the same bytes; where the
error is large (below 0.2 bit/entry there, and on the paper CNN's residuals) about the
same (benchmarks/uniform_stage.md, benchmarks/nncodec.md).

Chains run down each tensor's columns (over dim 0 of its ``(shape[0], -1)`` view, each
column from state 0), so the search and the reconstruction are vectorised across the
columns; a tensor with one row (a bias, a 1-D tensor) has chains of one entry and so is
quantised by ``Q0`` alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

TRANSITIONS = np.array([(0, 2), (7, 5), (1, 3), (6, 4), (2, 0), (5, 7), (3, 1), (4, 6)])
STATES = len(TRANSITIONS)
# For each state t, the two (state, parity) pairs that lead to it.
_PREDECESSORS = np.array(
    [[(s, p) for s in range(STATES) for p in (0, 1) if TRANSITIONS[s, p] == t] for t in range(STATES)]
)
_PRED_STATE, _PRED_PARITY = _PREDECESSORS[..., 0], _PREDECESSORS[..., 1]  # (STATES, 2) each
ZERO_WITHIN = 3.0  # level 0 is a candidate for |x| < 3 steps: every zero is within 3 steps


def chain_view(shape: tuple[int, ...]) -> tuple[int, int]:
    """(rows, columns): chains run down the columns of a tensor's ``(shape[0], -1)`` view."""
    return (shape[0], math.prod(shape[1:])) if len(shape) >= 2 else (1, math.prod(shape))


def quantisers(magnitude: np.ndarray) -> np.ndarray:
    """The quantiser (0 or 1) each entry of a (rows, columns) level matrix is recovered with."""
    state = np.zeros(magnitude.shape[1], np.int64)
    out = np.empty(magnitude.shape, np.int64)
    for row in range(magnitude.shape[0]):
        out[row] = state & 1
        state = TRANSITIONS[state, magnitude[row] & 1]
    return out


def multiples(magnitude: np.ndarray) -> np.ndarray:
    """|recovered value| / step of a (rows, columns) level matrix: 2m under Q0, 2m - 1 under Q1."""
    return np.where(magnitude > 0, 2 * magnitude - quantisers(magnitude), 0)


def largest_level(scaled: np.ndarray) -> int:
    """The largest level :func:`search` may choose for ``scaled`` (what ``bits`` must price)."""
    return int(scaled.max(initial=0.0) // 2) + 2


def _cheapest(scaled: np.ndarray, bits: Callable[[np.ndarray], np.ndarray], lam: float) -> tuple[np.ndarray, np.ndarray]:
    """Per quantiser q and parity p, each entry's cheapest level of parity p under Q(q) and
    its cost: arrays (2, 2, rows, columns). Candidates: 0 (for |x| < ZERO_WITHIN) and the two
    points of Q(q) around |x|, so a nonzero is within 2 steps of its input."""
    cost = np.full((2, 2, *scaled.shape), np.inf)
    level = np.zeros((2, 2, *scaled.shape), np.int64)
    for q in (0, 1):
        below = np.floor((scaled + q) / 2).astype(np.int64)  # Q(q)'s point at or below |x|
        for candidate in (np.where(scaled < ZERO_WITHIN, 0, -1), below, below + 1):
            usable = (candidate > 0) | (scaled < ZERO_WITHIN)
            m = np.maximum(candidate, 0)
            c = np.where(usable, (scaled - np.where(m > 0, 2 * m - q, 0)) ** 2 + lam * bits(m), np.inf)
            for p in (0, 1):
                better = (m & 1 == p) & (c < cost[q, p])
                cost[q, p] = np.where(better, c, cost[q, p])
                level[q, p] = np.where(better, m, level[q, p])
    return cost, level


def search(scaled: np.ndarray, bits: Callable[[np.ndarray], np.ndarray], lam: float) -> np.ndarray:
    """The level magnitudes (rows, columns) that minimise the squared error (in step^2) plus
    ``lam`` times ``bits`` along every chain, for ``scaled`` = |x| / step (levels up to
    :func:`largest_level`, which ``bits`` must price)."""
    cost, level = _cheapest(scaled, bits, lam)
    rows, columns = scaled.shape
    path = np.full((STATES, columns), np.inf)
    path[0] = 0.0
    choice = np.empty((rows, STATES, columns), bool)  # the second predecessor was cheaper
    step_cost = cost[_PRED_STATE & 1, _PRED_PARITY]  # (STATES, 2, rows, columns)
    for row in range(rows):
        total = path[_PRED_STATE] + step_cost[:, :, row]  # (STATES, 2, columns)
        choice[row] = total[:, 1] < total[:, 0]
        path = np.where(choice[row], total[:, 1], total[:, 0])
    magnitude = np.empty((rows, columns), np.int64)
    state, column = np.argmin(path, axis=0), np.arange(columns)
    for row in range(rows - 1, -1, -1):
        which = choice[row, state, column].astype(np.int64)
        before, parity = _PRED_STATE[state, which], _PRED_PARITY[state, which]
        magnitude[row] = level[before & 1, parity, row, column]
        state = before
    return magnitude
