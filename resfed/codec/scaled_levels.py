"""The frame of formats that send one float32 scale per float tensor and integer symbols
coded with each tensor's histogram (QSGD's norms and levels): sections scales, symbol table, range-coded stream, one raw section per
integer tensor. A tensor whose scale is 0 has no symbols (all its levels are 0).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from .errors import MessageError
from .frame import FrameHeader, f32_array, pack_frame, raw_tensor, read_f32, unpack_exactly
from .message import MessageContext
from .rangecoding import Encoder, check_exhausted, get_histogram_coded, stream_bytes, stream_decoder


def pack_scaled_levels(
    scales: Sequence[float], table: bytearray, encoder: Encoder, raw: Sequence[bytes], context: MessageContext, kind: int
) -> bytes:
    """Frame the scales (layout order of the float tensors), the histogram table, the stream and the raw sections."""
    sections = [f32_array(np.array(scales, dtype=np.float32)), bytes(table), stream_bytes(encoder), *raw]
    return pack_frame(sections, context.layout, FrameHeader(context.method_id, kind, context.round_index))


def unpack_scaled_levels(
    data: bytes | bytearray | memoryview,
    context: MessageContext,
    kind: int,
    scale_name: str,
    largest: int,
    values: Callable[[np.ndarray, np.float32, str], np.ndarray],
) -> dict[str, torch.Tensor]:
    """The state of :func:`pack_scaled_levels`: ``values(symbols, scale, tensor)`` turns a
    tensor's decoded symbols (each in [0, ``largest``]) into its float32 values."""
    layout = context.layout
    floats = [spec for spec in layout if spec.is_float]
    names = (f"{scale_name}s", "table", "stream") + tuple(f"raw {spec.name}" for spec in layout if not spec.is_float)
    scale_bytes, table, stream, *raw = unpack_exactly(
        data, layout, FrameHeader(context.method_id, kind, context.round_index), names
    )
    scales = read_f32(scale_bytes, len(floats), f"{scale_name}s")
    if (scales < 0).any():
        raise MessageError(f"negative {scale_name} {scales.min()}")
    decoder, pos, out, raw_sections = stream_decoder(stream), 0, {}, iter(raw)
    scale_of = dict(zip((spec.name for spec in floats), scales))
    for spec in layout:
        if not spec.is_float:
            out[spec.name] = raw_tensor(next(raw_sections), spec)
            continue
        flat = np.zeros(spec.numel, dtype=np.float32)
        if scale_of[spec.name]:
            symbols, pos = get_histogram_coded(table, pos, decoder, spec.numel, largest, spec.name)
            flat = values(symbols, scale_of[spec.name], spec.name)
        out[spec.name] = torch.from_numpy(flat.reshape(spec.shape)).to(spec.dtype).to(context.device)
    if pos != len(table):
        raise MessageError(f"level table has {len(table) - pos} bytes left over")
    check_exhausted(decoder)
    return out
