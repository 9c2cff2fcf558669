"""Dependent quantisation with a level coder that knows the trellis state, against scalar
rate-distortion levels coded by the same coder, on real residuals.

``dependent_quantisation.py`` found no gain from a trellis whose levels the stage's own
(state-agnostic) coder codes. This measures the other half of NNCodec's recipe: a coder
whose contexts include the trellis state. Both quantisers are chosen by the same Viterbi
search of squared error + ``lam`` x bits (one state and dead-zone levels for the scalar
one; VVC's two quantisers and four states for DQ), priced by the coder's models as the
previous pass left them (two passes from plain rounding), and coded by the same models;
bytes are those models' exact adaptive code lengths (no range-coder slack, no framing).
Each tensor is a (rows, columns) matrix (rows = dim 0); every column is one trellis chain
running down the rows, so search and coder work on all columns at once, row by row.

The coder's models (shared by the tensors of a message; counts updated after each batch
of up to ``BATCH`` entries of a row, which the decoder could mirror):

- nonzero or not, in context (state, the above neighbour's magnitude 0 / 1 / 2+, the
  column's nonzero share in the rows above, the row's share): shares as classes relative
  to the message's share, the row's sent per row (an adaptive 7-symbol model);
- magnitude above 1, in context (quantiser, above neighbour, coarse column class);
- magnitude - 2, adaptive per quantiser, Exp-Golomb beyond 15; a sign bit.

Prints each quantiser's bytes at the stage's (default settings) error, relative to the
stage's bytes. Usage::

    PYTHONPATH=$PWD python benchmarks/state_contexts.py RESIDUALS.pt --pick 0 --bits 0.2 0.5 1.0
"""

from __future__ import annotations

import argparse
import math

import numpy as np
import torch
from link_residuals import float_tensors

from resfed.codec.formats.uniform import UniformCodec

NEXT_STATE = np.array([[0, 2], [2, 0], [1, 3], [3, 1]])  # [state][parity of the level]
CLASSES, ABOVE, REMAINDERS, BATCH, PRIOR = 7, 3, 16, 256, 2.0
DEAD_ZONE = 0.75


def share_class(nonzero: np.ndarray, seen: np.ndarray | int, share: float) -> np.ndarray:
    """Class 0-6 of a smoothed nonzero share, in octaves around the message's ``share``."""
    ratio = (nonzero + share) / (seen + 1) / share
    return np.clip(np.round(np.log2(ratio)) + 3, 0, CLASSES - 1).astype(np.int64)


def row_classes(levels: np.ndarray, share: float) -> np.ndarray:
    return share_class((levels > 0).sum(1), levels.shape[1] - 1, share)


class Models:
    """The coder's adaptive counts; ``bits`` prices (and optionally learns) a batch."""

    def __init__(self, states: int, share: float) -> None:
        self.states, self.share = states, share
        self.significance = np.zeros((states, ABOVE, CLASSES, CLASSES, 2))
        self.above_one = np.full((2, ABOVE, 3, 2), 0.5)
        self.remainder = np.full((2, REMAINDERS), 0.2)

    def bits(self, m, state, above, column, row, learn: bool = False) -> np.ndarray:
        counts = self.significance[state, above, column, row] + PRIOR * np.array([1 - self.share, self.share])
        p = np.clip(counts[..., 1] / counts.sum(-1), 1e-6, 1 - 1e-6)
        quantiser, coarse = state >> 1, np.minimum(column // 3, 2)
        g = self.above_one[quantiser, above, coarse]
        p_big = g[..., 1] / g.sum(-1)
        rest = np.clip(m - 2, 0, REMAINDERS - 1)
        r = self.remainder[quantiser]
        escape = np.maximum(m - 2 - (REMAINDERS - 1), 0)
        bits = np.where(m == 0, -np.log2(1 - p), 1 - np.log2(p) + np.where(m == 1, -np.log2(1 - p_big), -np.log2(p_big)))
        bits += np.where(m >= 2, -np.log2(r[np.arange(m.size), rest] / r.sum(-1))
                         + np.where(escape > 0, 2 * np.floor(np.log2(escape + 1)) + 1, 0), 0)
        if learn:
            nonzero, big = m > 0, m >= 2
            np.add.at(self.significance, (state, above, column, row, nonzero.astype(int)), 1)
            np.add.at(self.above_one, (quantiser[nonzero], above[nonzero], coarse[nonzero], big[nonzero].astype(int)), 1)
            np.add.at(self.remainder, (quantiser[big], rest[big]), 1)
        return bits


def walk(matrices, dependent: bool, share: float, models: Models | None = None) -> tuple[float, Models]:
    """Code (learn) the levels row by row: their bits and the models they leave."""
    models, total = models or Models(4 if dependent else 1, share), 0.0
    row_model = np.full(CLASSES, 0.5)
    for levels in matrices:
        rows, columns = levels.shape
        row_class = row_classes(levels, share)
        for c in row_class:
            total += -math.log2(row_model[c] / row_model.sum())
            row_model[c] += 1
        state, seen, above = np.zeros(columns, np.int64), np.zeros(columns), np.zeros(columns, np.int64)
        for i in range(rows):
            column = share_class(seen, i, share)
            for j in range(0, columns, BATCH):
                part = slice(j, j + BATCH)
                m = levels[i, part]
                total += models.bits(m, state[part], np.minimum(above[part], 2), column[part],
                                     np.full(m.size, row_class[i]), learn=True).sum()
            above, seen = levels[i], seen + (levels[i] > 0)
            if dependent:
                state = NEXT_STATE[state, levels[i] & 1]
    return total, models


def recovered(m: np.ndarray, state: np.ndarray | int, dependent: bool) -> np.ndarray:
    """|x_hat| in units of delta (DQ: Q0 even, Q1 odd multiples) or of the step (scalar)."""
    if dependent:
        return np.where(m == 0, 0.0, 2.0 * m - (np.asarray(state) >> 1))
    return np.where(m == 0, 0.0, m + DEAD_ZONE - 0.5)


def search(x: np.ndarray, delta: float, lam: float, dependent: bool, models: Models, previous: np.ndarray, share: float):
    """Viterbi choice of a matrix's levels, priced by ``models`` with the column and row
    classes of the ``previous`` levels."""
    rows, columns = x.shape
    u, states = np.abs(x) / delta, 4 if dependent else 1
    cost = np.full((columns, states), np.inf)
    cost[:, 0] = 0
    last = np.zeros((columns, states), np.int64)
    came_from, chosen = np.zeros((rows, columns, states), np.int8), np.zeros((rows, columns, states), np.int64)
    seen = np.vstack([np.zeros((1, columns)), np.cumsum(previous > 0, 0)[:-1]])
    row_class, everyone = row_classes(previous, share), np.arange(columns)
    for i in range(rows):
        new, new_last = np.full((columns, states), np.inf), np.zeros((columns, states), np.int64)
        column = share_class(seen[i], i, share)
        for s in range(states):
            if dependent:
                q = s >> 1
                base = np.floor((u[i] + q) / 2)
                candidates = (np.zeros(columns), np.maximum(base, q), base + 1)
            else:
                k = np.maximum(np.floor(u[i] - DEAD_ZONE) + 1, 0)
                candidates = (np.zeros(columns), np.maximum(k - 1, 0), k)
            for m in (c.astype(np.int64) for c in candidates):
                price = models.bits(m, np.full(columns, s), np.minimum(last[:, s], 2), column, np.full(columns, row_class[i]))
                total = cost[:, s] + (u[i] - recovered(m, s, dependent)) ** 2 * delta**2 + lam * price
                target = NEXT_STATE[s, m & 1] if dependent else np.zeros(columns, np.int64)
                better = np.flatnonzero(total < new[everyone, target])
                new[better, target[better]] = total[better]
                came_from[i, better, target[better]], chosen[i, better, target[better]] = s, m[better]
                new_last[better, target[better]] = m[better]
        cost, last = new, new_last
    state, levels = np.argmin(cost, 1), np.zeros((rows, columns), np.int64)
    for i in range(rows - 1, -1, -1):
        levels[i] = chosen[i, everyone, state]
        state = came_from[i, everyone, state]
    return levels


def point(matrices, delta: float, lam: float, dependent: bool) -> tuple[float, float]:
    """(bytes, relative squared error) of rate-distortion levels at ``delta``."""
    levels = [np.floor(np.abs(x) / delta / 2 + 0.5).astype(np.int64) if dependent
              else np.maximum(np.floor(np.abs(x) / delta - DEAD_ZONE) + 1, 0).astype(np.int64) for x in matrices]
    share = lambda: max(float(np.mean(np.concatenate([(m > 0).ravel() for m in levels]))), 1e-4)  # noqa: E731
    for _ in range(2):
        _, models = walk(levels, dependent, share())
        levels = [search(x, delta, lam, dependent, models, m, share()) for x, m in zip(matrices, levels)]
    bits, _ = walk(levels, dependent, share())
    error = 0.0
    for x, m in zip(matrices, levels):
        state, y = np.zeros(x.shape[1], np.int64), np.zeros_like(x)
        for i in range(x.shape[0]):
            y[i] = recovered(m[i], state, dependent) * delta
            state = NEXT_STATE[state, m[i] & 1] if dependent else state
        error += float(((np.sign(x) * y - x) ** 2).sum())
    return bits / 8, error / sum(float((x**2).sum()) for x in matrices)


def at_error(points: list[tuple[float, float]], error: float) -> float:
    """Bytes at ``error``, log-log interpolated between measured points (nan outside them)."""
    points = sorted(points, key=lambda p: p[1])
    e, b = np.log([p[1] for p in points]), np.minimum.accumulate(np.log([p[0] for p in points]))
    return float(np.exp(np.interp(math.log(error), e, b))) if e[0] <= math.log(error) <= e[-1] else math.nan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("residuals")
    parser.add_argument("--pick", type=int, default=0, help="index of the residual measured")
    parser.add_argument("--bits", type=float, nargs="+", default=[0.2, 0.5, 1.0])
    parser.add_argument("--lam", type=float, default=0.15, help="price of a bit, in (step)^2 (DQ: (2 delta)^2)")
    parser.add_argument("--factors", type=float, nargs="+", default=[0.8, 0.9, 1.0, 1.1], help="steps / the stage's")
    args = parser.parse_args()
    tensors = float_tensors(torch.load(args.residuals, weights_only=False)["residuals"][args.pick]["state"])
    matrices = [v.astype(np.float64).reshape(s[0] if len(s) >= 2 else -1, -1 if len(s) >= 2 else 1) for v, s in tensors]
    energy = sum(float((x**2).sum()) for x in matrices)
    print(f"{args.residuals}, residual {args.pick}; lam {args.lam} x step^2; bytes at the stage's error / the stage's bytes\n")
    print("| bits/entry | stage: bytes, error | scalar RD levels | DQ RD levels, state contexts |\n|---|---|---|---|")
    for bits in args.bits:
        codec = UniformCodec(bits)
        step = codec.step(tensors)
        stage_bytes = stage_error = 0.0
        for values, shape in tensors:
            levels = codec.levels(values, shape, step)
            stage_bytes += (levels.ideal_bits() if levels.idx.size else 8) / 8
            stage_error += float(((codec.recover(levels, step) - values.astype(np.float64)) ** 2).sum()) / energy
        ratios = []
        for dependent in (False, True):
            points = []
            for factor in args.factors:
                delta = float(step) * factor / (2 if dependent else 1)
                points.append(point(matrices, delta, args.lam * (float(step) * factor) ** 2, dependent))
            ratios.append(at_error(points, stage_error) / stage_bytes)
        print(f"| {bits:g} | {stage_bytes:,.0f} B, {stage_error:.4f} | {ratios[0]:.3f} | {ratios[1]:.3f} |", flush=True)


if __name__ == "__main__":
    main()
