"""QSGD's message (Alistarh et al., "QSGD: Communication-Efficient SGD via Gradient
Quantization and Encoding", NeurIPS 2017): per float tensor its L2 norm and one signed
level in [-s, s] per entry; the receiver recovers ``norm * level / s``.

The quantiser is unbiased: ``|v_i| / norm * s`` is rounded up with a probability equal to
its fractional part. Its randomness comes from a generator seeded with a hash of the
tensor's bytes and the round, so a message is a pure function of its payload (a run is
reproducible) while two clients' rounding noise is independent. The paper codes levels
with Elias integer codes; here each tensor's levels are range-coded with their own
histogram, which costs at most what a static integer code does.

Frame (:mod:`..frame`, kind 1): the norms (float32, one per float tensor), a table (per
float tensor with a nonzero norm, its level histogram), the range-coded levels, and one
raw section per integer tensor.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch

from ..layout import payload_dtype
from ..message import MessageCodec, MessageContext
from ..rangecoding import Encoder, put_histogram_coded
from ..registry import register_codec
from ..scaled_levels import pack_scaled_levels, unpack_scaled_levels

KIND = 1


def _generator(values: np.ndarray, round_index: int) -> np.random.Generator:
    digest = hashlib.sha256(values.tobytes() + round_index.to_bytes(4, "little")).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


@register_codec
@dataclass(frozen=True)
class QSGDCodec(MessageCodec):
    """A state (or update) quantised to ``levels`` magnitude levels per sign, plus its norms."""

    codec_id = "qsgd"
    levels: int = 4

    def __post_init__(self) -> None:
        if not 1 <= self.levels <= 2**15:
            raise ValueError(f"qsgd levels must be in [1, 32768], got {self.levels}")

    def quantise(self, values: np.ndarray, round_index: int) -> tuple[float, np.ndarray]:
        """(norm, signed levels) of one flat float32 tensor."""
        norm = float(np.linalg.norm(values.astype(np.float64)))
        if norm == 0:
            return 0.0, np.zeros(values.size, dtype=np.int64)
        scaled = np.abs(values.astype(np.float64)) / norm * self.levels
        lower = np.floor(scaled)
        up = _generator(values, round_index).random(values.size) < scaled - lower
        return norm, (np.sign(values) * (lower + up)).astype(np.int64)

    def encode(self, payload: Mapping[str, torch.Tensor], context: MessageContext) -> bytes:
        norms, table, raw, encoder = [], bytearray(), [], Encoder()
        for spec in context.layout:
            flat = payload[spec.name].detach().reshape(-1).cpu().numpy()
            if not spec.is_float:
                raw.append(flat.astype(payload_dtype(spec)).tobytes())
                continue
            norm, levels = self.quantise(flat.astype(np.float32), context.round_index)
            norms.append(np.float32(norm))
            if norm:
                put_histogram_coded(table, encoder, levels + self.levels)
        return pack_scaled_levels(norms, table, encoder, raw, context, KIND)

    def decode(self, data: bytes | bytearray | memoryview, context: MessageContext) -> dict[str, torch.Tensor]:
        def values(symbols: np.ndarray, norm: np.float32, _: str) -> np.ndarray:
            return norm * (symbols - self.levels).astype(np.float32) / np.float32(self.levels)

        return unpack_scaled_levels(data, context, KIND, "norm", 2 * self.levels, values)

