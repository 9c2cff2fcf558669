"""Position-and-sign coders, by name (as in :class:`CodecConfig`) and by id (as in messages).

``huffman`` is the paper's scheme, ``golomb`` the classic near-entropy one for i.i.d.
positions, ``ans`` a range coder at the information bound for i.i.d. positions, and
``context`` the range coder with per-row / per-column counts: the default, because it
is the smallest on real residuals (see benchmarks/codec.md). ``kernel`` adds kernel
contexts for convolution weights (:mod:`.kernels`), smaller on the paper CNN's residuals.
"""

from __future__ import annotations

from .base import Coder
from .context import ContextCoder
from .golomb import GolombCoder
from .huffman import HuffmanCoder

CODERS: dict[str, Coder] = {
    c.name: c
    for c in (
        HuffmanCoder(),
        GolombCoder(),
        ContextCoder("ans", 3, contexts=False),
        ContextCoder("context", 4, contexts=True),
        ContextCoder("kernel", 5, contexts=True, kernels=True),
    )
}
CODER_IDS: dict[int, Coder] = {c.coder_id: c for c in CODERS.values()}
DEFAULT_CODER = "context"

__all__ = ["CODERS", "CODER_IDS", "DEFAULT_CODER", "Coder"]
