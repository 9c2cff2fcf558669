"""FedPM's uplink message: a binary mask, range-coded.

The probability model is either, per entry, the theta the client started the round
from (``mask_model: global``; the server holds the same theta: ``MessageContext.shared``)
or one frequency per tensor sent in the message (``tensor``).

Frame (:mod:`..frame`, kind 1): a table (the model id; for ``tensor`` the ones count of
every tensor as varints), then the range-coded stream of all tensors in layout order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import MessageError
from ..frame import FrameHeader, pack_frame, unpack_exactly
from ..framing import get_varint, put_varint
from ..message import MessageCodec, MessageContext
from ..rangecoding import BERNOULLI, Encoder, bernoulli, check_exhausted, clipped, decoding, stream_bytes, stream_decoder
from ..registry import register_codec

MASK_KIND = 1
MASK_MODELS = ("global", "tensor")


def probabilities(theta: torch.Tensor) -> np.ndarray:
    """Per-entry coding probabilities of a theta tensor."""
    return clipped(theta.detach().double().reshape(-1).numpy())


@register_codec
@dataclass(frozen=True)
class MaskCodec(MessageCodec):
    """A binary (0/1 float) mask; ``mask_model`` says which probability model codes it."""

    codec_id = "fedpm_mask"
    mask_model: str

    def __post_init__(self) -> None:
        if self.mask_model not in MASK_MODELS:
            raise ValueError(f"fedpm mask_model must be one of {MASK_MODELS}, got {self.mask_model!r}")

    def encode(self, payload: Mapping[str, torch.Tensor], context: MessageContext) -> bytes:
        per_entry = self.mask_model == "global"
        theta = context.require_shared("a global-model mask") if per_entry else None
        table = bytearray([MASK_MODELS.index(self.mask_model)])
        encoder = Encoder()
        for spec in context.layout:
            bits = payload[spec.name].reshape(-1).numpy().astype(np.int32)
            if theta is not None:
                encoder.encode(bits, BERNOULLI, probabilities(theta[spec.name]))
                continue
            ones = int(bits.sum())
            put_varint(table, ones)
            if 0 < ones < bits.size:
                encoder.encode(bits, bernoulli(ones / bits.size))
        header = FrameHeader(context.method_id, MASK_KIND, context.round_index)
        return pack_frame([bytes(table), stream_bytes(encoder)], context.layout, header)

    def decode(self, data: bytes | bytearray | memoryview, context: MessageContext) -> dict[str, torch.Tensor]:
        """The mask (float 0/1 tensors); the model the message names is used, whatever this codec's."""
        header = FrameHeader(context.method_id, MASK_KIND, context.round_index)
        table, stream = unpack_exactly(data, context.layout, header, ("table", "stream"))
        if len(table) < 1 or table[0] >= len(MASK_MODELS):
            raise MessageError("mask message without a valid probability-model id")
        per_tensor = MASK_MODELS[table[0]] == "tensor"
        theta = None if per_tensor else context.require_shared("a global-model mask")
        decoder, pos, out = stream_decoder(stream), 1, {}
        for spec in context.layout:
            if per_tensor:
                ones, pos = get_varint(table, pos, len(table), "ones count")
                if ones > spec.numel:
                    raise MessageError(f"{ones} ones announced in {spec.numel} entries", tensor=spec.name)
                if 0 < ones < spec.numel:
                    with decoding():
                        bits = decoder.decode(bernoulli(ones / spec.numel), spec.numel)
                    if int(bits.sum()) != ones:
                        raise MessageError("decoded mask does not hold its announced count", tensor=spec.name)
                else:
                    bits = np.full(spec.numel, int(ones == spec.numel), dtype=np.int32)
            else:
                with decoding():
                    bits = decoder.decode(BERNOULLI, probabilities(theta[spec.name]))
            out[spec.name] = torch.from_numpy(bits.astype(np.float32).reshape(spec.shape)).to(context.device)
        if pos != len(table):
            raise MessageError(f"mask table has {len(table) - pos} bytes left over")
        check_exhausted(decoder)
        return out
