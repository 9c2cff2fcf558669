"""FedSZ's message codec: error bound of every decoded value, sizes, determinism, bad messages."""

import pytest
import torch

from resfed import state as st
from resfed.codec import MessageContext, MessageError, SZCodec, layout_of
from resfed.codec.formats.sz import lossy_mask
from resfed.models import build_model

FULL = 61_706 * 4  # float32 LeNet-5


def lenet_state(seed: int = 0) -> dict:
    torch.manual_seed(seed)
    return st.clone(build_model("lenet5", 1, 10, 28).state_dict())


def context(state: dict, round_index: int) -> MessageContext:
    return MessageContext(layout_of(state), method_id=5, round_index=round_index)


@pytest.mark.parametrize("error_bound", [1e-2, 1e-3])
def test_every_decoded_value_is_within_the_relative_bound(error_bound):
    # Prepare
    state, codec = lenet_state(), SZCodec(error_bound=error_bound, threshold=1000)
    # Execute
    out = codec.decode(codec.encode(state, context(state, 3)), context(state, 3))
    # Assert: lossy tensors within error_bound x range, the others exact
    layout = layout_of(state)
    lossy = dict(zip([s.name for s in layout], lossy_mask(layout, codec.threshold)))
    assert [name for name, flag in lossy.items() if flag] == ["conv2.weight", "fc1.weight", "fc2.weight"]
    for name, tensor in state.items():
        error = (out[name] - tensor).abs().max().item()
        if lossy[name]:
            assert 0 < error <= error_bound * (tensor.max() - tensor.min()).item()
        else:
            assert error == 0


def test_tighter_bounds_cost_more_bytes_and_all_cost_less_than_float32():
    state = lenet_state()
    sizes = [len(SZCodec(error_bound=b, threshold=1000).encode(state, context(state, 1))) for b in (1e-1, 1e-2, 1e-3)]
    assert sizes == sorted(sizes)
    assert FULL / sizes[1] > 3  # compression ratio of a freshly initialised model at the paper's bound


def test_encoding_is_deterministic():
    state = lenet_state()
    codec = SZCodec(error_bound=1e-2, threshold=1000)
    assert codec.encode(state, context(state, 1)) == codec.encode(state, context(state, 1))


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda d: d[:-9], "truncated|sections take"),
        (lambda d: d[:40] + bytes([d[40] ^ 1]) + d[41:], "CRC32"),
        (lambda d: b"XXXX" + d[4:], "magic"),
    ],
)
def test_bad_messages_raise(damage, message):
    state = lenet_state()
    codec = SZCodec(error_bound=1e-2, threshold=1000)
    data = codec.encode(state, context(state, 2))
    with pytest.raises(MessageError, match=message):
        codec.decode(damage(data), context(state, 2))
    with pytest.raises(MessageError, match="expected"):
        codec.decode(data, context(state, 3))


def test_settings_are_checked():
    with pytest.raises(ValueError, match="error_bound"):
        SZCodec(error_bound=0, threshold=1000)
    with pytest.raises(ValueError, match="threshold"):
        SZCodec(error_bound=1e-2, threshold=-1)
