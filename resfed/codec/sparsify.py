"""Top-k sparsification by magnitude, per tensor or over the whole state.

Deterministic by construction: ties in magnitude go to the lower index (in layout order
for the global scope), and exact zeros are never "kept" (sending a zero at a position
costs bits and reconstructs to what dropping it gives), so a tensor may keep fewer than
k entries. O(n) per tensor: a partition finds the k-th magnitude, no full sort.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np


def keep_count(n: int, sparsity: float) -> int:
    """``ceil((1 - sparsity) * n)``, exact: ``sparsity`` is read as the decimal it is
    written as (0.99 -> 99/100), so binary rounding never keeps an extra entry."""
    return math.ceil((1 - Fraction(repr(float(sparsity)))) * n)


def top_k(magnitude: np.ndarray, k: int) -> np.ndarray:
    """Ascending indices of the ``k`` largest nonzero entries of a flat magnitude array."""
    nonzero = magnitude > 0
    nnz = int(np.count_nonzero(nonzero))
    if k >= nnz:
        return np.flatnonzero(nonzero)
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    n = magnitude.size
    threshold = np.partition(magnitude, n - k)[n - k]
    keep = magnitude > threshold
    ties = np.flatnonzero(magnitude == threshold)[: k - int(np.count_nonzero(keep))]
    keep[ties] = True
    return np.flatnonzero(keep)


def select(values: list[np.ndarray], sparsity: float, scope: str) -> list[np.ndarray]:
    """Kept positions of each flat float32 tensor for the given sparsity and scope."""
    if scope == "tensor":
        return [top_k(np.abs(v), keep_count(v.size, sparsity)) for v in values]
    sizes = [v.size for v in values]
    flat = np.abs(np.concatenate(values)) if values else np.zeros(0, np.float32)
    kept = top_k(flat, keep_count(flat.size, sparsity))
    bounds = np.cumsum([0, *sizes])
    cut = np.searchsorted(kept, bounds)
    return [kept[cut[i] : cut[i + 1]] - bounds[i] for i in range(len(values))]
