"""The contract of every message format: a codec with an id, a config, encode and decode.

Modelled on numcodecs' ``Codec``: ``codec_id`` names the format, ``get_config()`` /
``from_config()`` round-trip its settings as a JSON-able dict whose ``"id"`` selects the
class in the registry (:mod:`.registry`). Unlike numcodecs, a message is not
self-describing: both ends know the model layout, the method and the round before any
byte arrives, and some formats condition their code on a state both ends hold (FedPM's
theta). That knowledge travels beside the bytes as a :class:`MessageContext`, the same
object on both ends, so that ``decode(encode(x, ctx), ctx)`` is what the sender records.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, ClassVar

import torch

from .layout import Layout


@dataclass(frozen=True)
class MessageContext:
    """What both ends know about a message before reading it.

    layout: the model's tensor table (names, dtypes, shapes).
    method_id: the method the message belongs to (checked against the frame).
    round_index: the round it belongs to (checked against the frame).
    shared: a state both ends hold that conditions the code (FedPM: the theta the
        receiver holds); None for formats that need none.
    device: where decoded tensors are built.
    """

    layout: Layout
    method_id: int
    round_index: int
    shared: Mapping[str, torch.Tensor] | None = None
    device: torch.device | str = "cpu"

    def require_shared(self, what: str) -> Mapping[str, torch.Tensor]:
        """The shared state, which ``what`` cannot be coded without."""
        if self.shared is None:
            raise ValueError(f"{what} needs the state both ends share (MessageContext.shared)")
        return self.shared


class MessageCodec(ABC):
    """One message format. Subclasses are frozen dataclasses whose fields are their config.

    ``decode`` raises only :class:`~resfed.codec.errors.MessageError` on any bytes;
    ``encode`` raises ValueError on a payload it cannot code.
    """

    codec_id: ClassVar[str]

    @abstractmethod
    def encode(self, payload: Any, context: MessageContext) -> bytes:
        """The message carrying ``payload``."""

    @abstractmethod
    def decode(self, data: bytes | bytearray | memoryview, context: MessageContext) -> Any:
        """The payload a message carries, checked against ``context``."""

    @property
    def needs_prediction(self) -> bool:
        """Whether a link must put its predicted update (prediction minus anchor, by tensor
        name) in ``MessageContext.shared`` for this codec."""
        return False

    def get_config(self) -> dict[str, Any]:
        """This codec's settings, JSON-able, with its ``"id"``."""
        return {"id": self.codec_id, **{f.name: getattr(self, f.name) for f in fields(self)}}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> MessageCodec:
        """The codec a :meth:`get_config` dict describes."""
        settings = {key: value for key, value in config.items() if key != "id"}
        unknown = set(settings) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"codec {cls.codec_id!r}: unknown config keys {sorted(unknown)}")
        return cls(**settings)
