"""A checked frame for messages that are not model states (masks, subspace coordinates,
per-tensor streams of external compressors).

Layout (little-endian)::

    magic "RFMX" | version u8 | method u8 | kind u8 | round u32 | layout digest u32
    section count (varint) | section lengths (varints)
    sections, in order
    CRC32 of everything before it (u32)

The formats whose payloads the container (:mod:`.container`) cannot express
(:mod:`.formats`) put their own bytes into sections and get the container's guarantees:
the receiver checks size, magic, version, model layout, every length and the CRC before
it reads a section, and a message meant for another method, kind or round raises
MessageError. The header, varint and CRC syntax is :mod:`.framing`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import astuple, dataclass

import numpy as np
import torch

from .errors import MessageError
from .framing import HeaderSyntax, check_crc, close, crc_end, get_varint, put_varint
from .layout import Layout, TensorSpec, layout_digest, payload_dtype

MAGIC = b"RFMX"
FRAME_VERSION = 1
SYNTAX = HeaderSyntax(
    MAGIC,
    FRAME_VERSION,
    (("method_id", "B"), ("kind", "B"), ("round_index", "I"), ("layout_digest", "I")),
    "frame",
)


@dataclass(frozen=True)
class FrameHeader:
    """What a frame is for: the method, its message kind (e.g. uplink mask) and the round."""

    method_id: int
    kind: int
    round_index: int


def pack_frame(sections: Sequence[bytes], layout: Layout, header: FrameHeader) -> bytes:
    """Frame ``sections`` for the model ``layout``."""
    out = SYNTAX.pack(*astuple(header), layout_digest(layout))
    put_varint(out, len(sections))
    for section in sections:
        put_varint(out, len(section))
    for section in sections:
        out += section
    return close(out)


def unpack_frame(
    data: bytes | bytearray | memoryview,
    layout: Layout,
    expected: FrameHeader,
    *,
    max_sections: int,
) -> list[memoryview]:
    """The sections of a checked frame; raises MessageError on anything unexpected."""
    view = memoryview(data)
    fields = SYNTAX.unpack(view)
    SYNTAX.check_layout(fields["layout_digest"], layout)
    end = crc_end(view)
    count, pos = get_varint(view, SYNTAX.struct.size, end, "section count")
    if count > max_sections:
        raise MessageError(f"{count} sections, at most {max_sections} expected", offset=SYNTAX.struct.size)
    lengths = []
    for _ in range(count):
        length, pos = get_varint(view, pos, end, "section length")
        lengths.append(length)
    if pos + sum(lengths) != end:
        raise MessageError(
            f"sections take {sum(lengths)} bytes, the frame holds {end - pos} between table and CRC", offset=pos
        )
    check_crc(view)
    got = FrameHeader(fields["method_id"], fields["kind"], fields["round_index"])
    if got != expected:
        raise MessageError(f"frame is {got}, expected {expected}", offset=SYNTAX.offset("method_id"))
    sections = []
    for length in lengths:
        sections.append(view[pos : pos + length])
        pos += length
    return sections


def unpack_exactly(
    data: bytes | bytearray | memoryview, layout: Layout, expected: FrameHeader, names: Sequence[str]
) -> list[memoryview]:
    """The sections of a frame that must hold exactly one section per name in ``names``."""
    sections = unpack_frame(data, layout, expected, max_sections=len(names))
    if len(sections) != len(names):
        raise MessageError(f"expected sections {', '.join(names)}, got {len(sections)} sections")
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


def raw_tensor(section: memoryview, spec: TensorSpec) -> torch.Tensor:
    """An integer tensor sent raw (its own dtype, little-endian) in a section of its own."""
    wire = np.dtype(payload_dtype(spec))
    if len(section) != spec.numel * wire.itemsize:
        raise MessageError(f"{len(section)} bytes, the layout implies {spec.numel * wire.itemsize}", tensor=spec.name)
    return torch.from_numpy(np.frombuffer(section, dtype=wire).astype(wire.newbyteorder("=")).reshape(spec.shape))
