"""IGC's coordinate messages: a small header plus 4 d bytes per block, and every rejection."""

import numpy as np
import pytest
import torch

from resfed.codec import CoordinatesCodec, MessageContext, MessageError, layout_of

CONTEXT = MessageContext(layout_of({"w": torch.zeros(3, 4)}), method_id=7, round_index=5)


@pytest.mark.parametrize("dimension", [16, 300, 2048])
def test_message_is_a_small_header_plus_4d_bytes(dimension):
    c = np.arange(dimension, dtype=np.float32)
    one = CoordinatesCodec(dimension, "ul").encode([(5, c)], CONTEXT)
    two = CoordinatesCodec(dimension, "dl").encode([(4, c), (5, c)], CONTEXT)
    assert 4 * dimension + 20 <= len(one) <= 4 * dimension + 30
    assert len(two) - len(one) == 4 * dimension + (2 if dimension < 32 else 3)  # a round and a length varint
    assert np.array_equal(CoordinatesCodec(dimension, "dl").decode(two, CONTEXT)[1][1], c)


def test_bad_messages_raise():
    c = np.zeros(8, dtype=np.float32)
    round2 = MessageContext(CONTEXT.layout, 7, 2)
    data = CoordinatesCodec(8, "ul").encode([(2, c)], round2)
    with pytest.raises(MessageError, match="32 bytes, expected 64"):
        CoordinatesCodec(16, "ul").decode(data, round2)
    with pytest.raises(MessageError, match="expected"):
        CoordinatesCodec(8, "dl").decode(data, round2)
    with pytest.raises(MessageError, match="round 3 after round 0 in a round-2"):
        CoordinatesCodec(8, "ul").decode(CoordinatesCodec(8, "ul").encode([(3, c)], round2), round2)
    nan = CoordinatesCodec(8, "ul").encode([(2, np.full(8, np.nan, dtype=np.float32))], round2)
    with pytest.raises(MessageError, match="non-finite"):
        CoordinatesCodec(8, "ul").decode(nan, round2)
