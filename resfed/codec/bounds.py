"""Information bound of a message and the report of coded bytes against it.

The bound of a sparsified, quantised tensor with k of n entries kept is what any coder
needs when positions are uniformly placed and signs are fair coins: log2 C(n, k) bits
for positions, one bit per kept value for the sign and two float32 reconstruction
values (1 bit) or 32 bits per kept value (32 bits). Raw tensors cost their size. The
bound includes no header or table, so a coder is judged with its framing; coders that
model real structure can beat it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch

from .coders import CODERS
from .coders.base import Sparse
from .config import CodecConfig
from .container import Kind, unpack
from .layout import Layout
from .pipeline import encode, plan


def log2_binomial(n: int, k: int) -> float:
    """log2 C(n, k), via lgamma (exact enough for any tensor size)."""
    return (math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)) / math.log(2)


def tensor_bound_bits(n: int, k: int, bits: int) -> float:
    """Bound for k of n kept entries quantised to ``bits`` (1 or 32)."""
    if k == 0:
        return 0.0
    per_value = k + 64 if bits == 1 else 32 * k
    return log2_binomial(n, k) + per_value


def size_report(
    data: bytes, state: Mapping[str, torch.Tensor], layout: Layout, config: CodecConfig
) -> dict[str, Any]:
    """Coded bytes of ``data`` against the information bound, per tensor and in total.

    ``data`` must be the message of ``state`` under ``config`` (checked by re-encoding),
    so the report describes the message actually sent. The coder's stream is shared by
    all tensors; per tensor, ``stream_bytes_alone`` is the size of that tensor's part
    coded on its own: an attribution, not a part of the message.
    """
    message = unpack(data, layout)
    header = message.header
    if encode(state, layout, config, method_id=header.method_id, round_index=header.round_index) != data:
        raise ValueError("data is not the message of this state under this config")
    coder = CODERS[config.coder]
    by_index = {e.index: e for e in message.entries}
    tensors: dict[str, dict[str, Any]] = {}
    for index, (spec, p) in enumerate(zip(layout, plan(state, layout, config))):
        entry = by_index.get(index)
        row = {
            "numel": spec.numel,
            "kept": 0,
            "table_and_payload_bytes": 0 if entry is None else entry.entry_bytes + entry.length,
            "stream_bytes_alone": 0,
            "bound_bytes": 0.0,
            "dense_bytes": spec.numel * (4 if spec.is_float else spec.dtype.itemsize),
        }
        if p is not None and p.kind == Kind.RAW:
            row.update(kept=spec.numel, bound_bytes=float(len(p.values)))
        elif p is not None:
            dense = p.idx.size == spec.numel
            alone = coder.encode([Sparse(spec.shape, None if dense else p.idx, p.negative)])
            bound = tensor_bound_bits(spec.numel, p.idx.size, config.bits) / 8
            row.update(kept=p.idx.size, stream_bytes_alone=len(alone), bound_bytes=bound)
        tensors[spec.name] = row
    coded = len(data)
    bound = sum(t["bound_bytes"] for t in tensors.values())
    dense = sum(t["dense_bytes"] for t in tensors.values())
    table_and_payloads = sum(t["table_and_payload_bytes"] for t in tensors.values())
    return {
        "coded_bytes": coded,
        "bound_bytes": bound,
        "dense_bytes": dense,
        "stream_bytes": message.stream_length,
        "header_and_crc_bytes": coded - message.stream_length - table_and_payloads,
        "coded_over_bound": coded / bound if bound else float("inf"),
        "compression": dense / coded,
        "bound_compression": dense / bound if bound else float("inf"),
        "tensors": tensors,
    }
