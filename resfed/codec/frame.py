"""A checked frame for messages that are not model states (masks, subspace coordinates,
per-tensor streams of external compressors).

Layout (little-endian)::

    magic "RFMX" | version u8 | method u8 | kind u8 | round u32 | layout digest u32
    section count (varint) | section lengths (varints)
    sections, in order
    CRC32 of everything before it (u32)

The methods whose payloads the container (:mod:`.container`) cannot express put their
own bytes into sections; the frame gives them the container's guarantees: the receiver
checks size, magic, version, model layout, every length and the CRC before it reads a
section, and a message meant for another method, kind or round raises MessageError.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .bitio import get_varint, put_varint
from .errors import MessageError
from .layout import Layout, layout_digest

MAGIC = b"RFMX"
FRAME_VERSION = 1
_HEADER = struct.Struct("<4sBBBII")
_CRC = struct.Struct("<I")


@dataclass(frozen=True)
class FrameHeader:
    """What a frame is for: the method, its message kind (e.g. uplink mask) and the round."""

    method_id: int
    kind: int
    round_index: int


def pack_frame(sections: Sequence[bytes], layout: Layout, header: FrameHeader) -> bytes:
    """Frame ``sections`` for the model ``layout``."""
    for name, value, limit in (
        ("method_id", header.method_id, 255),
        ("kind", header.kind, 255),
        ("round_index", header.round_index, 2**32 - 1),
    ):
        if not 0 <= value <= limit:
            raise ValueError(f"{name} must be in [0, {limit}], got {value}")
    out = bytearray(
        _HEADER.pack(MAGIC, FRAME_VERSION, header.method_id, header.kind, header.round_index, layout_digest(layout))
    )
    put_varint(out, len(sections))
    for section in sections:
        put_varint(out, len(section))
    for section in sections:
        out += section
    out += _CRC.pack(zlib.crc32(out))
    return bytes(out)


def unpack_frame(
    data: bytes | bytearray | memoryview,
    layout: Layout,
    expected: FrameHeader,
    *,
    max_sections: int,
) -> list[memoryview]:
    """The sections of a checked frame; raises MessageError on anything unexpected."""
    view = memoryview(data)
    minimum = _HEADER.size + 1 + _CRC.size
    if len(view) < minimum:
        raise MessageError(f"truncated: frame is {len(view)} bytes, a header alone takes {minimum}")
    magic, version, method, kind, round_index, digest = _HEADER.unpack_from(view, 0)
    if magic != MAGIC:
        raise MessageError(f"wrong magic {bytes(magic)!r}, expected {MAGIC!r}", offset=0)
    if version != FRAME_VERSION:
        raise MessageError(f"frame version {version}, this decoder reads {FRAME_VERSION}", offset=4)
    if digest != layout_digest(layout):
        raise MessageError("layout digest does not match the receiver's model layout", offset=11)
    end = len(view) - _CRC.size
    count, pos = get_varint(view, _HEADER.size, end, "section count")
    if count > max_sections:
        raise MessageError(f"{count} sections, at most {max_sections} expected", offset=_HEADER.size)
    lengths = []
    for _ in range(count):
        length, pos = get_varint(view, pos, end, "section length")
        lengths.append(length)
    if pos + sum(lengths) != end:
        raise MessageError(
            f"sections take {sum(lengths)} bytes, the frame holds {end - pos} between table and CRC", offset=pos
        )
    stored, computed = _CRC.unpack_from(view, end)[0], zlib.crc32(view[:end])
    if stored != computed:
        raise MessageError(
            f"CRC32 mismatch: stored {stored:#010x}, computed {computed:#010x}; the message is corrupted", offset=end
        )
    got = FrameHeader(method, kind, round_index)
    if got != expected:
        raise MessageError(f"frame is {got}, expected {expected}", offset=5)
    sections = []
    for length in lengths:
        sections.append(view[pos : pos + length])
        pos += length
    return sections


def f32_array(values: np.ndarray) -> bytes:
    """Little-endian float32 bytes of ``values``."""
    return np.ascontiguousarray(values, dtype="<f4").tobytes()


def read_f32(section: memoryview, count: int, what: str) -> np.ndarray:
    """Exactly ``count`` finite float32 values from a section."""
    if len(section) != 4 * count:
        raise MessageError(f"{what}: {len(section)} bytes, expected {4 * count} ({count} float32)")
    values = np.frombuffer(section, dtype="<f4").astype(np.float32)
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise MessageError(f"{what}: non-finite value {values[bad[0]]} at entry {int(bad[0])}")
    return values
