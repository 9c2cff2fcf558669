"""Message codecs by id: ``@register_codec`` on the class, ``get_codec(config)`` to build one.

>>> from resfed.codec import get_codec
>>> get_codec({"id": "igc_coordinates", "dimension": 16, "direction": "ul"}).get_config()
{'id': 'igc_coordinates', 'dimension': 16, 'direction': 'ul'}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from .message import MessageCodec

_CODECS: dict[str, type[MessageCodec]] = {}
C = TypeVar("C", bound=type[MessageCodec])


def register_codec(cls: C) -> C:
    """Class decorator: make ``cls`` available under its ``codec_id``."""
    if cls.codec_id in _CODECS:
        raise ValueError(f"codec id {cls.codec_id!r} is registered twice")
    _CODECS[cls.codec_id] = cls
    return cls


def get_codec(config: Mapping[str, Any]) -> MessageCodec:
    """The codec described by ``config`` (its ``"id"`` and settings)."""
    codec_id = config.get("id")
    if codec_id not in _CODECS:
        raise ValueError(f"unknown codec id {codec_id!r}; registered: {sorted(_CODECS)}")
    return _CODECS[codec_id].from_config(config)


def codec_ids() -> tuple[str, ...]:
    """Every registered codec id, sorted."""
    return tuple(sorted(_CODECS))


def codec_class(codec_id: str) -> type[MessageCodec]:
    """The class registered under ``codec_id``."""
    return _CODECS[codec_id]
