"""Byte-level syntax shared by every message: fixed header, varints, CRC32.

Every frame of the project (the deep codec's "RFED" container, :mod:`.container`, and
the "RFMX" frame of the other formats, :mod:`.frame`) reads::

    magic (4 bytes) | version u8 | fixed fields (little-endian) | varint tables | bodies | CRC32 (u32)

with the CRC32 over everything before it. A receiver checks, in this order: the size,
the magic, the version, the fields it can check on its own (the layout digest), every
length of the tables against the bytes present, then the CRC; so a truncated message
says "truncated" and a corrupted one "CRC32". This module owns that syntax; the two
formats only say which fields they carry and what their tables hold.
"""

from __future__ import annotations

import struct
import zlib

from .errors import MessageError
from .layout import Layout, layout_digest

CRC = struct.Struct("<I")
_VARINT_MAX_BYTES = 10
_FIELD_LIMITS = {"B": 2**8 - 1, "I": 2**32 - 1}


def put_varint(out: bytearray, value: int) -> None:
    """Append ``value`` (>= 0) as LEB128: 7 bits per byte, high bit = more bytes follow."""
    if value < 0:
        raise ValueError(f"varint must be non-negative, got {value}")
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def get_varint(buf: bytes | memoryview, pos: int, end: int, what: str) -> tuple[int, int]:
    """Read a LEB128 value at ``pos`` that must end before ``end``; returns (value, next pos)."""
    value = shift = 0
    for i in range(pos, min(end, pos + _VARINT_MAX_BYTES)):
        byte = buf[i]
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, i + 1
        shift += 7
    raise MessageError(f"{what}: unterminated or truncated varint", offset=pos)


class HeaderSyntax:
    """The fixed header of one frame format: magic, version, then named fields.

    ``fields`` are (name, struct code) pairs, codes "B" (u8) or "I" (u32). The smallest
    frame is the header, one varint and the CRC.
    """

    def __init__(self, magic: bytes, version: int, fields: tuple[tuple[str, str], ...], what: str) -> None:
        self.magic, self.version, self.what = magic, version, what
        self.names = tuple(name for name, _ in fields)
        self.codes = tuple(code for _, code in fields)
        self.struct = struct.Struct("<4sB" + "".join(self.codes))
        self.minimum = self.struct.size + 1 + CRC.size

    def offset(self, name: str) -> int:
        """Byte offset of a field in the message (for error locations)."""
        index = self.names.index(name)
        return 5 + struct.calcsize("<" + "".join(self.codes[:index]))

    def pack(self, *values: int) -> bytearray:
        """The header bytes; ValueError when a field does not fit its width."""
        for name, code, value in zip(self.names, self.codes, values):
            if not 0 <= value <= _FIELD_LIMITS[code]:
                raise ValueError(f"{name} must be in [0, {_FIELD_LIMITS[code]}], got {value}")
        return bytearray(self.struct.pack(self.magic, self.version, *values))

    def unpack(self, data: bytes | memoryview) -> dict[str, int]:
        """The fields of a message after checking its size, magic and version."""
        if len(data) < self.minimum:
            raise MessageError(f"truncated: message is {len(data)} bytes, a header alone takes {self.minimum}")
        magic, version, *values = self.struct.unpack_from(data, 0)
        if magic != self.magic:
            raise MessageError(f"wrong magic {bytes(magic)!r}, expected {self.magic!r}", offset=0)
        if version != self.version:
            raise MessageError(f"{self.what} version {version}, this decoder reads {self.version}", offset=4)
        return dict(zip(self.names, values))

    def check_layout(self, digest: int, layout: Layout) -> None:
        """The message was written for the receiver's model (field ``layout_digest``)."""
        if digest != layout_digest(layout):
            raise MessageError(
                f"layout digest {digest:#010x} does not match the receiver's model layout "
                f"({layout_digest(layout):#010x})",
                offset=self.offset("layout_digest"),
            )


def close(out: bytearray) -> bytes:
    """The finished message: ``out`` followed by its CRC32."""
    out += CRC.pack(zlib.crc32(out))
    return bytes(out)


def crc_end(data: bytes | memoryview) -> int:
    """Where the CRC starts: the end of the checked content."""
    return len(data) - CRC.size


def check_crc(data: bytes | memoryview) -> None:
    """The stored CRC32 matches the content before it."""
    end = crc_end(data)
    stored, computed = CRC.unpack_from(data, end)[0], zlib.crc32(data[:end])
    if stored != computed:
        raise MessageError(
            f"CRC32 mismatch: stored {stored:#010x}, computed {computed:#010x}; the message is corrupted",
            offset=end,
        )
