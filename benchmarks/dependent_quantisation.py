"""Would dependent (trellis) quantisation help the uniform stage with its current level coder?

Dependent quantisation as in VVC and NNCodec (MPEG NNR): two scalar quantisers, Q0
(reconstructions at even multiples of ``delta``) and Q1 (odd multiples and 0), switched
by a 4-state machine driven by the parity of each level, levels chosen per row by a
Viterbi search of squared error + ``lam`` x bits. The bits in the search come from a
simple model (per-row nonzero share of a scalar first pass, a sign bit, geometric
magnitudes); the bytes reported are what the stage's own models (``Levels.ideal_bits``:
positions and signs through the ``context`` coder, magnitudes by histogram) would spend
on the chosen levels, which do not know the trellis state. For each budget this prints
the scalar stage's bytes and error, and the trellis's at five ``delta`` around half the
stage's step, to read the bytes at equal error off. Usage::

    PYTHONPATH=$PWD python benchmarks/dependent_quantisation.py RESIDUALS.pt --pick 50 --lam 0.5 1 2
"""

from __future__ import annotations

import argparse
import math

import numpy as np
import torch
from link_residuals import float_tensors

from resfed.codec.formats.uniform import Levels, UniformCodec

NEXT_STATE = np.array([[0, 2], [2, 0], [1, 3], [3, 1]])  # [state][parity of the level]
DELTA_FACTORS = (0.35, 0.42, 0.5, 0.6, 0.7)  # delta / the scalar stage's step
GEOMETRIC = 0.3  # P(magnitude > m | magnitude >= m) in the search's rate model


def reconstruction(magnitude: np.ndarray, quantiser: int) -> np.ndarray:
    """|x_hat| / delta of a magnitude under Q0 (2m) or Q1 (2m - 1, 0 for 0)."""
    return np.where(magnitude == 0, 0.0, 2.0 * magnitude - quantiser)


def search_bits(magnitude: np.ndarray, share: np.ndarray) -> np.ndarray:
    nonzero = -np.log2(share) + 1 - math.log2(1 - GEOMETRIC) - (magnitude - 1) * math.log2(GEOMETRIC)
    return np.where(magnitude == 0, -np.log2(1 - share), nonzero)


def best_by_parity(u: np.ndarray, quantiser: int, delta: float, lam: float, share: np.ndarray):
    """Per row, the cheapest candidate magnitude of each parity under one quantiser."""
    base = np.floor((u + quantiser) / 2)
    best = [(np.full(u.size, np.inf), np.zeros(u.size)) for _ in range(2)]
    for m in (np.zeros_like(u), np.maximum(base, quantiser), base + 1):
        cost = (u - reconstruction(m, quantiser)) ** 2 * delta**2 + lam * search_bits(m, share)
        parity = m.astype(np.int64) & 1
        for p in (0, 1):
            better = (parity == p) & (cost < best[p][0])
            best[p][0][better], best[p][1][better] = cost[better], m[better]
    return best


def trellis(x: np.ndarray, delta: float, lam: float, share: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Magnitudes and signed reconstructions of a (rows, cols) matrix, each row one trellis."""
    rows, cols = x.shape
    u = np.abs(x) / delta
    cost = np.full((rows, 4), np.inf)
    cost[:, 0] = 0
    came_from = np.zeros((cols, rows, 4), np.int8)
    chosen = np.zeros((cols, rows, 4), np.int64)
    for j in range(cols):
        new = np.full((rows, 4), np.inf)
        for quantiser, states in ((0, (0, 1)), (1, (2, 3))):
            best = best_by_parity(u[:, j], quantiser, delta, lam, share)
            for state in states:
                for parity in (0, 1):
                    target, total = NEXT_STATE[state][parity], cost[:, state] + best[parity][0]
                    better = total < new[:, target]
                    new[better, target] = total[better]
                    came_from[j][better, target], chosen[j][better, target] = state, best[parity][1][better]
        cost = new
    state, rows_ = np.argmin(cost, axis=1), np.arange(rows)
    magnitude, recovered = np.zeros((rows, cols), np.int64), np.zeros((rows, cols))
    for j in range(cols - 1, -1, -1):
        m, previous = chosen[j][rows_, state], came_from[j][rows_, state]
        magnitude[:, j], recovered[:, j] = m, reconstruction(m, (previous >= 2).astype(int))
        state = previous
    return magnitude, recovered * delta * np.sign(x)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("residuals")
    parser.add_argument("--pick", type=int, default=0, help="index of the residual measured")
    parser.add_argument("--bits", type=float, nargs="+", default=[0.2, 0.5, 1.0])
    parser.add_argument("--lam", type=float, nargs="+", default=[1.0], help="multiples of ln2/6 (2 delta)^2")
    args = parser.parse_args()
    saved = torch.load(args.residuals, weights_only=False)["residuals"][args.pick]["state"]
    tensors = [(values.astype(np.float64), shape) for values, shape in float_tensors(saved)]
    energy = sum(float((values**2).sum()) for values, _ in tensors)
    print(f"{args.residuals}, residual {args.pick}: bytes (ideal) and relative squared error\n")
    for bits in args.bits:
        codec = UniformCodec(bits)
        step = codec.step([(values.astype(np.float32), shape) for values, shape in tensors])
        scalar_bytes = scalar_error = 0.0
        for values, shape in tensors:
            levels = codec.levels(values.astype(np.float32), shape, step)
            scalar_bytes += (levels.ideal_bits() if levels.idx.size else 8) / 8
            scalar_error += float(((codec.recover(levels, step) - values) ** 2).sum()) / energy
        for lam in args.lam:
            points = []
            for factor in DELTA_FACTORS:
                delta, total_bytes, total_error = float(step) * factor, 0.0, 0.0
                for values, shape in tensors:
                    x = values.reshape(shape[0] if len(shape) >= 2 else 1, -1)
                    share = np.clip((np.abs(x) >= 1.5 * delta).mean(1), 1e-3, 1 - 1e-3)
                    magnitude, recovered = trellis(x, delta, lam * math.log(2) / 6 * (2 * delta) ** 2, share)
                    idx = np.flatnonzero(magnitude)
                    levels = Levels(shape, idx, values[idx] < 0, magnitude.ravel()[idx])
                    total_bytes += (levels.ideal_bits() if idx.size else 8) / 8
                    total_error += float(((recovered.ravel() - values) ** 2).sum()) / energy
                points.append(f"{total_bytes:,.0f} B {total_error:.4f}")
            print(f"- {bits:g} bit/entry: scalar stage {scalar_bytes:,.0f} B {scalar_error:.4f}; "
                  f"trellis (lam x{lam:g}): {', '.join(points)}")


if __name__ == "__main__":
    main()
