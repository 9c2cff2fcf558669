"""FedSZ's message: large weight tensors through SZ3, everything else through zstd.

The model state is partitioned as in the FedSZ authors' code (APPFL's SZ compressors):
float weight tensors with more than ``threshold`` entries go through the error-bounded
lossy compressor SZ3 (``pysz``) in relative mode (every value within ``error_bound`` x
the tensor's value range), all other entries losslessly through zstd.

Frame (:mod:`..frame`, kind 1): a section of per-tensor coder ids (0 zstd, 1 SZ), then
one section per tensor in layout order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
import zstandard
from pysz import sz, szConfig, szErrorBoundMode

from ..errors import MessageError
from ..frame import FrameHeader, pack_frame, unpack_frame
from ..layout import Layout, TensorSpec, payload_dtype
from ..message import MessageCodec, MessageContext
from ..pipeline import flat_arrays
from ..registry import register_codec

MODEL_KIND = 1  # the frame's message kind: one model state
ZSTD, SZ = 0, 1  # per-tensor coder ids in the message
ZSTD_LEVEL = 3


def lossy_mask(layout: Layout, threshold: int) -> list[bool]:
    """Which tensors go through SZ: float weights above the size threshold (the paper's partition)."""
    return [spec.is_float and "weight" in spec.name and spec.numel > threshold for spec in layout]


@register_codec
@dataclass(frozen=True)
class SZCodec(MessageCodec):
    """error_bound: relative to each lossy tensor's value range (SZ's REL mode).
    threshold: weight tensors with more entries than this are coded lossily.
    No defaults here: FedSZ's settings (and the schema) hold them."""

    codec_id = "sz"
    error_bound: float
    threshold: int

    def __post_init__(self) -> None:
        if not 0 < self.error_bound < 1:
            raise ValueError(f"fedsz error_bound must be in (0, 1), got {self.error_bound}")
        if self.threshold < 0:
            raise ValueError(f"fedsz threshold must be >= 0, got {self.threshold}")

    def _sz_config(self) -> szConfig:
        config = szConfig()
        config.errorBoundMode = szErrorBoundMode.REL
        config.relErrorBound = self.error_bound
        return config

    def encode(self, payload: Mapping[str, torch.Tensor], context: MessageContext) -> bytes:
        layout = context.layout
        arrays = flat_arrays(payload, layout)
        coders = lossy_mask(layout, self.threshold)
        compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
        sections = [bytes(SZ if lossy else ZSTD for lossy in coders)]
        for spec, array, lossy in zip(layout, arrays, coders):
            if lossy:
                sections.append(sz.compress(array, self._sz_config())[0].tobytes())
            else:
                sections.append(compressor.compress(array.astype(payload_dtype(spec)).tobytes()))
        return pack_frame(sections, layout, FrameHeader(context.method_id, MODEL_KIND, context.round_index))

    def decode(self, data: bytes | bytearray | memoryview, context: MessageContext) -> dict[str, torch.Tensor]:
        """The state a message carries, in the layout's dtypes."""
        layout = context.layout
        expected = FrameHeader(context.method_id, MODEL_KIND, context.round_index)
        sections = unpack_frame(data, layout, expected, max_sections=len(layout) + 1)
        if len(sections) != len(layout) + 1 or len(sections[0]) != len(layout):
            raise MessageError(f"expected a coder table and {len(layout)} tensor sections")
        out = {}
        for spec, coder, section in zip(layout, bytes(sections[0]), sections[1:]):
            try:
                flat = _decode_tensor(section, spec, coder)
            except MessageError as error:
                raise error.located(tensor=spec.name) from None
            out[spec.name] = torch.from_numpy(flat.reshape(spec.shape)).to(spec.dtype).to(context.device)
        return out


def _decode_tensor(section: memoryview, spec: TensorSpec, coder: int) -> np.ndarray:
    if coder == SZ and spec.is_float:
        try:
            flat = sz.decompress(np.frombuffer(section, dtype=np.uint8).copy(), np.float32, (spec.numel,))[0]
        except Exception as error:  # pysz reports bad streams as ValueError, IndexError, RuntimeError...
            raise MessageError(f"SZ stream rejected: {type(error).__name__}: {error}") from None
        if flat.shape != (spec.numel,):
            raise MessageError(f"SZ stream decodes to {flat.size} values, the layout implies {spec.numel}")
        if not np.isfinite(flat).all():
            raise MessageError("SZ stream decodes to non-finite values")
        return flat
    if coder != ZSTD:
        raise MessageError(f"coder id {coder} not allowed for a {spec.dtype} tensor")
    wire = np.dtype(payload_dtype(spec))
    expected = spec.numel * wire.itemsize
    try:
        declared = zstandard.frame_content_size(bytes(section[:18]))
        if declared != expected:
            raise MessageError(f"zstd frame declares {declared} bytes, the layout implies {expected}")
        stream = zstandard.ZstdDecompressor().decompressobj()
        raw = stream.decompress(bytes(section))
    except zstandard.ZstdError as error:
        raise MessageError(f"zstd stream rejected: {error}") from None
    if not stream.eof or stream.unused_data:
        raise MessageError(f"zstd frame is truncated or followed by {len(stream.unused_data)} unused bytes")
    if len(raw) != expected:
        raise MessageError(f"zstd stream holds {len(raw)} bytes, the layout implies {expected}")
    flat = np.frombuffer(raw, dtype=wire).astype(wire.newbyteorder("="))
    if spec.is_float and not np.isfinite(flat).all():
        raise MessageError("non-finite value in a lossless tensor")
    return flat
