"""How far the uniform stage's level coder is from richer contexts, on real residuals.

For residuals saved by ``link_residuals.py``, quantises each at the uniform stage's step
for a budget and compares what the stage's models spend on the levels (positions and
signs through the ``context`` coder, magnitudes through a histogram per tensor: their
ideal costs, as the step search uses them) with the empirical conditional entropy of
each level (sign apart, 1 bit per nonzero) given a context:

- ``row+col``: classes of the row's and the column's share of nonzeros (2 per octave);
- ``left+row+col``: also the two previous levels in the row (DeepCABAC's neighbours).

Empirical entropies are a lower bound of what an adaptive coder with those contexts
would spend (no model cost), so a small gap says contexts are not where bytes are lost.
Usage::

    PYTHONPATH=$PWD python benchmarks/level_contexts.py RESIDUALS.pt --bits 0.2 1.0 --pick 10 30
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from link_residuals import float_tensors

from resfed.codec.formats.uniform import POSITIONS, UniformCodec


def entropy_bits(symbols: np.ndarray) -> float:
    counts = np.bincount(symbols)
    counts = counts[counts > 0]
    return float((counts * np.log2(counts.sum() / counts)).sum())


def conditional_bits(symbols: np.ndarray, context: np.ndarray) -> float:
    order = np.argsort(context, kind="stable")
    cuts = np.flatnonzero(np.diff(context[order])) + 1
    return sum(entropy_bits(part) for part in np.split(symbols[order], cuts))


def density_class(share: np.ndarray) -> np.ndarray:
    return np.clip(np.floor(np.log2(np.maximum(share, 1e-9)) * 2), -30, 0).astype(np.int64) + 30


def tensor_bits(codec: UniformCodec, values: np.ndarray, shape: tuple[int, ...], step: np.float32) -> dict[str, float]:
    levels = codec.levels(values, shape, step)
    if not levels.idx.size:
        return {}
    rows = shape[0] if len(shape) >= 2 else 1
    magnitude = np.zeros(values.size, np.int64)
    magnitude[levels.idx] = np.minimum(levels.magnitude, 15)
    matrix = magnitude.reshape(rows, -1)
    nonzero = matrix > 0
    row = np.broadcast_to(density_class(nonzero.mean(1))[:, None], matrix.shape)
    col = np.broadcast_to(density_class(nonzero.mean(0))[None, :], matrix.shape)
    left, left2 = np.zeros_like(matrix), np.zeros_like(matrix)
    left[:, 1:], left2[:, 2:] = np.minimum(matrix[:, :-1], 3), np.minimum(matrix[:, :-2], 2)
    signs = float(levels.idx.size)
    return {
        "stage": levels.ideal_bits(),
        "row+col": conditional_bits(matrix.ravel(), (row * 64 + col).ravel()) + signs,
        "left+row+col": conditional_bits(matrix.ravel(), (((left * 3 + left2) * 64 + row) * 64 + col).ravel()) + signs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("residuals")
    parser.add_argument("--bits", type=float, nargs="+", default=[0.2, 1.0])
    parser.add_argument("--pick", type=int, nargs="+", default=[0], help="indices of the residuals measured")
    args = parser.parse_args()
    saved = torch.load(args.residuals, weights_only=False)["residuals"]
    picked = [float_tensors(saved[i]["state"]) for i in args.pick]
    print(f"{args.residuals}: residuals {args.pick} (float tensors without BatchNorm running statistics)\n")
    print("| bits/entry | stage's models, B | row+col, B | left+row+col, B | stage / left+row+col |")
    print("|---|---|---|---|---|")
    for bits in args.bits:
        codec, total = UniformCodec(bits), {}
        for tensors in picked:
            step = codec.step(tensors)
            for values, shape in tensors:
                for key, value in tensor_bits(codec, values, shape, step).items():
                    total[key] = total.get(key, 0.0) + value / 8 / len(args.pick)
        print(f"| {bits:g} | {total['stage']:,.0f} | {total['row+col']:,.0f} | {total['left+row+col']:,.0f} "
              f"| {total['stage'] / total['left+row+col']:.2f} |")


if __name__ == "__main__":
    main()
