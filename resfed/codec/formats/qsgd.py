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

from ..errors import MessageError
from ..frame import FrameHeader, f32_array, pack_frame, raw_tensor, read_f32, unpack_exactly
from ..layout import payload_dtype
from ..message import MessageCodec, MessageContext
from ..rangecoding import (
    Encoder,
    check_exhausted,
    get_histogram_coded,
    put_histogram_coded,
    stream_bytes,
    stream_decoder,
)
from ..registry import register_codec

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
        sections = [f32_array(np.array(norms, dtype=np.float32)), bytes(table), stream_bytes(encoder), *raw]
        return pack_frame(sections, context.layout, FrameHeader(context.method_id, KIND, context.round_index))

    def decode(self, data: bytes | bytearray | memoryview, context: MessageContext) -> dict[str, torch.Tensor]:
        layout = context.layout
        floats = [spec for spec in layout if spec.is_float]
        names = ("norms", "table", "stream") + tuple(f"raw {spec.name}" for spec in layout if not spec.is_float)
        norm_bytes, table, stream, *raw = unpack_exactly(
            data, layout, FrameHeader(context.method_id, KIND, context.round_index), names
        )
        norms = read_f32(norm_bytes, len(floats), "norms")
        if (norms < 0).any():
            raise MessageError(f"negative norm {norms.min()}")
        decoder, pos, out, raw_sections = stream_decoder(stream), 0, {}, iter(raw)
        norm_of = dict(zip((spec.name for spec in floats), norms))
        for spec in layout:
            if not spec.is_float:
                out[spec.name] = raw_tensor(next(raw_sections), spec)
                continue
            flat = np.zeros(spec.numel, dtype=np.float32)
            if norm_of[spec.name]:
                symbols, pos = get_histogram_coded(table, pos, decoder, spec.numel, 2 * self.levels, spec.name)
                flat = norm_of[spec.name] * (symbols - self.levels).astype(np.float32) / np.float32(self.levels)
            out[spec.name] = torch.from_numpy(flat.reshape(spec.shape)).to(spec.dtype).to(context.device)
        if pos != len(table):
            raise MessageError(f"level table has {len(table) - pos} bytes left over")
        check_exhausted(decoder)
        return out

