"""The deep codec: top-k, 1-bit quantisation and position coding in the "RFED" container.

A :class:`~resfed.codec.message.MessageCodec` face for :func:`resfed.codec.encode` /
:func:`resfed.codec.decode`, which remain the library API; the bytes are theirs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from ..config import CodecConfig
from ..message import MessageCodec, MessageContext
from ..pipeline import decode, encode
from ..registry import register_codec


@register_codec
@dataclass(frozen=True)
class DeepCodec(MessageCodec):
    """A model state or residual, compressed as ``config`` says; the entries named in
    ``raw`` travel raw (exactly) whatever ``config`` says."""

    codec_id = "deep"
    config: CodecConfig = field(default_factory=CodecConfig)
    raw: frozenset[str] = frozenset()

    def encode(self, payload: Mapping[str, torch.Tensor], context: MessageContext) -> bytes:
        return encode(
            payload,
            context.layout,
            self.config,
            method_id=context.method_id,
            round_index=context.round_index,
            raw=self.raw,
        )

    def decode(self, data: bytes | bytearray | memoryview, context: MessageContext) -> dict[str, torch.Tensor]:
        _, state = decode(
            data,
            context.layout,
            expected_method=context.method_id,
            expected_round=context.round_index,
            device=context.device,
        )
        return state

    def get_config(self) -> dict[str, Any]:
        return {"id": self.codec_id, **self.config.to_dict(), **({"raw": sorted(self.raw)} if self.raw else {})}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> DeepCodec:
        settings = {key: value for key, value in config.items() if key not in ("id", "raw")}
        return cls(CodecConfig.from_dict(settings), frozenset(config.get("raw", ())))
