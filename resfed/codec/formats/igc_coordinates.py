"""IGC's message: blocks of subspace coordinates, each tagged with the round it belongs to.

An uplink message holds one block (the client's coordinates of this round); a downlink
message holds the mean coordinates of every round the client missed, in order.

Frame (:mod:`..frame`, kind 1 uplink / 2 downlink): a table (block count, then each
block's round as varints), then one section of ``dimension`` float32 values per block.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import MessageError
from ..frame import FrameHeader, f32_array, pack_frame, read_f32, unpack_frame
from ..framing import get_varint, put_varint
from ..message import MessageCodec, MessageContext
from ..registry import register_codec

KINDS = {"ul": 1, "dl": 2}  # the frame's message kind per direction

Blocks = Sequence[tuple[int, np.ndarray]]


@register_codec
@dataclass(frozen=True)
class CoordinatesCodec(MessageCodec):
    """(round, ``dimension`` coordinates) blocks of one direction ("ul" or "dl")."""

    codec_id = "igc_coordinates"
    dimension: int
    direction: str

    def __post_init__(self) -> None:
        if self.dimension < 1 or self.direction not in KINDS:
            raise ValueError(f"igc coordinates: need dimension >= 1 and direction in {tuple(KINDS)}; got {self}")

    def _header(self, context: MessageContext) -> FrameHeader:
        return FrameHeader(context.method_id, KINDS[self.direction], context.round_index)

    def encode(self, payload: Blocks, context: MessageContext) -> bytes:
        table = bytearray()
        put_varint(table, len(payload))
        for block_round, _ in payload:
            put_varint(table, block_round)
        sections = [bytes(table)] + [f32_array(c) for _, c in payload]
        return pack_frame(sections, context.layout, self._header(context))

    def decode(self, data: bytes | bytearray | memoryview, context: MessageContext) -> list[tuple[int, np.ndarray]]:
        """The blocks; their rounds must increase and not exceed the message's round."""
        round_index = context.round_index
        sections = unpack_frame(data, context.layout, self._header(context), max_sections=round_index + 1)
        if not sections:
            raise MessageError("coordinate message without a block table")
        table = sections[0]
        count, pos = get_varint(table, 0, len(table), "block count")
        if count != len(sections) - 1:
            raise MessageError(f"block table lists {count} blocks, the frame holds {len(sections) - 1}")
        blocks, previous = [], 0
        for section in sections[1:]:
            block_round, pos = get_varint(table, pos, len(table), "block round")
            if not previous < block_round <= round_index:
                raise MessageError(
                    f"block of round {block_round} after round {previous} in a round-{round_index} message"
                )
            blocks.append((block_round, read_f32(section, self.dimension, f"coordinates of round {block_round}")))
            previous = block_round
        if pos != len(table):
            raise MessageError(f"block table has {len(table) - pos} bytes left over")
        return blocks
