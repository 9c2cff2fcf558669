"""Message framing: header, tensor table, payloads, coder stream, CRC32; and its parser.

Layout (little-endian)::

    magic "RFED" | version u8 | method u8 | round u32 | layout digest u32 | coder id u8
    entry count (varint)
    per entry: (index gap << 4 | mode) (varint) | payload length (varint)
    payloads, in table order (a raw tensor; or the kept count and the values)
    stream: the coder's positions and signs of all sparse tensors, in table order
    CRC32 of everything before it (u32)

index gap = index - previous index - 1 and mode = kind << 1 | dense, so an entry takes two
bytes for most tensors (a tensor table at LeNet-5 scale is several percent of a
message). A float tensor absent from the table is all zeros (nothing
survived sparsification); integer tensors are always present, raw. The stream is what
lies between the last payload and the CRC. Every length is checked against the layout
and the bytes actually present before anything is allocated from it.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from .bitio import get_varint, put_varint
from .coders import CODER_IDS
from .errors import MessageError
from .layout import Layout, TensorSpec, layout_digest, payload_dtype

MAGIC = b"RFED"
FORMAT_VERSION = 1
_HEADER = struct.Struct("<4sBBIIB")
_CRC = struct.Struct("<I")
_MAX_ROUND = 2**32 - 1


class Kind(IntEnum):
    """What a tensor's payload holds."""

    RAW = 0  # every entry in the payload dtype (integer tensors, lossless floats)
    FLOAT32 = 1  # k (varint), then k float32 values
    SIGN_POS = 2  # k, then the reconstruction value (all kept values are positive)
    SIGN_NEG = 3  # k, then the (negative) reconstruction value
    SIGN_BOTH = 4  # k, then the positive and the negative value; the stream has the signs


@dataclass(frozen=True)
class Header:
    """The fixed header of a message."""

    version: int
    method_id: int
    round_index: int
    layout_digest: int
    coder_id: int


@dataclass(frozen=True)
class Entry:
    """One tensor-table entry, located in the message."""

    index: int
    kind: Kind
    dense: bool  # every position kept: the coder codes no positions
    offset: int  # of the payload
    length: int  # of the payload
    entry_bytes: int  # size of the table entry itself


@dataclass(frozen=True)
class Message:
    """A parsed, checked message: header, table, and where the coder's stream lies."""

    header: Header
    entries: list[Entry]
    stream_offset: int
    stream_length: int


def entry_mode(kind: Kind, dense: bool) -> int:
    return kind << 1 | dense


def pack(header: Header, tensors: list[tuple[int, int, bytes]], stream: bytes) -> bytes:
    """Frame ``(layout index, entry mode, payload)`` triples (increasing index) and the stream."""
    if not 0 <= header.method_id <= 255:
        raise ValueError(f"method_id must fit in a byte, got {header.method_id}")
    if not 0 <= header.round_index <= _MAX_ROUND:
        raise ValueError(f"round_index must fit in 32 bits, got {header.round_index}")
    out = bytearray(
        _HEADER.pack(
            MAGIC,
            header.version,
            header.method_id,
            header.round_index,
            header.layout_digest,
            header.coder_id,
        )
    )
    put_varint(out, len(tensors))
    previous = -1
    for index, mode, payload in tensors:
        put_varint(out, (index - previous - 1) << 4 | mode)
        put_varint(out, len(payload))
        previous = index
    for _, _, payload in tensors:
        out += payload
    out += stream
    out += _CRC.pack(zlib.crc32(out))
    return bytes(out)


def unpack(
    data: bytes | memoryview,
    layout: Layout,
    *,
    expected_method: int | None = None,
    expected_round: int | None = None,
) -> Message:
    """Parse and check the framing of a message; payloads are left to the pipeline.

    Order of checks: size, magic, version, layout, table bounds (so that a truncated
    message says so), CRC, then whether the message is the one expected.
    """
    minimum = _HEADER.size + 1 + _CRC.size
    if len(data) < minimum:
        raise MessageError(f"truncated: message is {len(data)} bytes, a header alone takes {minimum}")
    magic, version, method, round_index, digest, coder_id = _HEADER.unpack_from(data, 0)
    if magic != MAGIC:
        raise MessageError(f"wrong magic {bytes(magic)!r}, expected {MAGIC!r}", offset=0)
    if version != FORMAT_VERSION:
        raise MessageError(f"format version {version}, this decoder reads {FORMAT_VERSION}", offset=4)
    if digest != layout_digest(layout):
        raise MessageError(
            f"layout digest {digest:#010x} does not match the receiver's model layout "
            f"({layout_digest(layout):#010x})",
            offset=10,
        )
    if coder_id not in CODER_IDS:
        raise MessageError(f"unknown coder id {coder_id}", offset=14)
    end = len(data) - _CRC.size
    entries, stream_offset = _table(data, _HEADER.size, end, layout)
    stored, computed = _CRC.unpack_from(data, end)[0], zlib.crc32(data[:end])
    if stored != computed:
        raise MessageError(
            f"CRC32 mismatch: stored {stored:#010x}, computed {computed:#010x}; the message is corrupted",
            offset=end,
        )
    if expected_method is not None and method != expected_method:
        raise MessageError(f"message is for method {method}, expected {expected_method}", offset=5)
    if expected_round is not None and round_index != expected_round:
        raise MessageError(f"message is for round {round_index}, expected {expected_round}", offset=6)
    header = Header(version, method, round_index, digest, coder_id)
    return Message(header, entries, stream_offset, end - stream_offset)


def _table(data: bytes | memoryview, pos: int, end: int, layout: Layout) -> tuple[list[Entry], int]:
    count, pos = get_varint(data, pos, end, "entry count")
    if count > len(layout):
        raise MessageError(f"{count} table entries, the layout has {len(layout)} tensors", offset=pos)
    rows = []
    index = -1
    for _ in range(count):
        start = pos
        head, pos = get_varint(data, pos, end, "tensor index and mode")
        index += (head >> 4) + 1
        mode = head & 15
        if index >= len(layout):
            raise MessageError(f"tensor index {index} outside the layout of {len(layout)}", offset=start)
        length, pos = get_varint(data, pos, end, "payload length")
        rows.append((index, mode, length, pos - start, start))
    entries = []
    offset = pos
    for index, mode, length, entry_bytes, where in rows:
        spec = layout[index]
        entry = _entry(spec, index, mode, offset, length, entry_bytes, where)
        if offset + length > end:
            raise MessageError(
                f"truncated: payload needs bytes {offset}..{offset + length}, the data ends at {end}",
                offset=offset,
                tensor=spec.name,
            )
        entries.append(entry)
        offset += length
    return entries, offset


def _entry(spec: TensorSpec, index: int, mode: int, offset: int, length: int, size: int, where: int) -> Entry:
    kind, dense = mode >> 1, bool(mode & 1)
    if kind not in Kind._value2member_map_:
        raise MessageError(f"unknown payload kind in entry mode {mode:#x}", offset=where, tensor=spec.name)
    entry = Entry(index, Kind(kind), dense, offset, length, size)
    if entry.kind == Kind.RAW:
        raw_length = spec.numel * np.dtype(payload_dtype(spec)).itemsize
        if dense or length != raw_length:
            raise MessageError(
                f"raw payload of {length} bytes (mode {mode:#x}), the layout implies {raw_length}",
                offset=where,
                tensor=spec.name,
            )
    elif not spec.is_float:
        raise MessageError(
            f"integer tensor sent as {entry.kind.name}, only RAW is allowed", offset=where, tensor=spec.name
        )
    return entry
