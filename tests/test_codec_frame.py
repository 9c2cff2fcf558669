"""The frame of non-state messages (FedSZ, FedPM, IGC): round trip and every rejection."""

import pytest
import torch

from resfed.codec import MessageError, layout_of
from resfed.codec.frame import FrameHeader, pack_frame, unpack_frame

LAYOUT = layout_of({"w": torch.zeros(2, 3)})
HEADER = FrameHeader(method_id=7, kind=1, round_index=9)
DATA = pack_frame([b"abc", b"", b"\x00" * 200], LAYOUT, HEADER)


def test_round_trip():
    assert [bytes(s) for s in unpack_frame(DATA, LAYOUT, HEADER, max_sections=3)] == [b"abc", b"", b"\x00" * 200]


@pytest.mark.parametrize(
    "data, expected, message",
    [
        (DATA[:10], HEADER, "truncated"),
        (b"RFED" + DATA[4:], HEADER, "magic"),
        (DATA[:4] + b"\x09" + DATA[5:], HEADER, "version"),
        (DATA[:-5] + DATA[-4:], HEADER, "sections take"),
        (DATA[:-6] + b"\x01" + DATA[-5:], HEADER, "CRC32"),
        (DATA, FrameHeader(7, 2, 9), "expected"),
        (DATA, FrameHeader(7, 1, 10), "expected"),
    ],
)
def test_rejections(data, expected, message):
    with pytest.raises(MessageError, match=message):
        unpack_frame(data, LAYOUT, expected, max_sections=3)


def test_other_layout_and_too_many_sections_are_rejected():
    with pytest.raises(MessageError, match="layout digest"):
        unpack_frame(DATA, layout_of({"w": torch.zeros(3, 2)}), HEADER, max_sections=3)
    with pytest.raises(MessageError, match="at most 2"):
        unpack_frame(DATA, LAYOUT, HEADER, max_sections=2)
