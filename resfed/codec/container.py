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

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from .coders import CODER_IDS
from .errors import MessageError
from .framing import HeaderSyntax, check_crc, close, crc_end, get_varint, put_varint
from .layout import Layout, TensorSpec, payload_dtype

MAGIC = b"RFED"
FORMAT_VERSION = 1
SYNTAX = HeaderSyntax(
    MAGIC,
    FORMAT_VERSION,
    (("method_id", "B"), ("round_index", "I"), ("layout_digest", "I"), ("coder_id", "B")),
    "format",
)


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
    out = SYNTAX.pack(header.method_id, header.round_index, header.layout_digest, header.coder_id)
    put_varint(out, len(tensors))
    previous = -1
    for index, mode, payload in tensors:
        put_varint(out, (index - previous - 1) << 4 | mode)
        put_varint(out, len(payload))
        previous = index
    for _, _, payload in tensors:
        out += payload
    out += stream
    return close(out)


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
    fields = SYNTAX.unpack(data)
    SYNTAX.check_layout(fields["layout_digest"], layout)
    if fields["coder_id"] not in CODER_IDS:
        raise MessageError(f"unknown coder id {fields['coder_id']}", offset=SYNTAX.offset("coder_id"))
    end = crc_end(data)
    entries, stream_offset = _table(data, SYNTAX.struct.size, end, layout)
    check_crc(data)
    method, round_index = fields["method_id"], fields["round_index"]
    if expected_method is not None and method != expected_method:
        raise MessageError(
            f"message is for method {method}, expected {expected_method}", offset=SYNTAX.offset("method_id")
        )
    if expected_round is not None and round_index != expected_round:
        raise MessageError(
            f"message is for round {round_index}, expected {expected_round}", offset=SYNTAX.offset("round_index")
        )
    header = Header(FORMAT_VERSION, method, round_index, fields["layout_digest"], fields["coder_id"])
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
