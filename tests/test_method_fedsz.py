"""FedSZ: error bound of every decoded value, real bytes, both ends in sync, bad messages."""

import pytest
import torch

from resfed import checkpoint
from resfed import state as st
from resfed.codec import MessageError, layout_of
from resfed.federation import Federation
from resfed.methods import builder
from resfed.methods.fedsz import SZSettings, decode_state, encode_state, lossy_mask
from resfed.models import build_model
from resfed.train import TrainSettings
from federation_helpers import tiny_problem

FULL = 61_706 * 4  # float32 LeNet-5


def lenet_state(seed: int = 0) -> dict:
    torch.manual_seed(seed)
    return st.clone(build_model("lenet5", 1, 10, 28).state_dict())


def federation(variant: dict):
    clients, test = tiny_problem()
    torch.manual_seed(0)
    return Federation(
        build=builder(variant), model=build_model("lenet5", 1, 10, 28), client_data=clients, test_data=test,
        settings=TrainSettings(lr=0.05, batch_size=16), seed=0,
    )


@pytest.mark.parametrize("error_bound", [1e-2, 1e-3])
def test_every_decoded_value_is_within_the_relative_bound(error_bound):
    # Prepare
    state, settings = lenet_state(), SZSettings(error_bound=error_bound)
    layout = layout_of(state)
    # Execute
    data = encode_state(state, layout, settings, round_index=3)
    out = decode_state(data, layout, round_index=3)
    # Assert: lossy tensors within error_bound x range, the others exact
    lossy = dict(zip([s.name for s in layout], lossy_mask(layout, settings.threshold)))
    assert [name for name, flag in lossy.items() if flag] == ["conv2.weight", "fc1.weight", "fc2.weight"]
    for name, tensor in state.items():
        error = (out[name] - tensor).abs().max().item()
        if lossy[name]:
            assert 0 < error <= error_bound * (tensor.max() - tensor.min()).item()
        else:
            assert error == 0


def test_tighter_bounds_cost_more_bytes_and_all_cost_less_than_float32():
    state = lenet_state()
    layout = layout_of(state)
    sizes = [len(encode_state(state, layout, SZSettings(error_bound=b), 1)) for b in (1e-1, 1e-2, 1e-3)]
    assert sizes == sorted(sizes)
    assert FULL / sizes[1] > 3  # compression ratio of a freshly initialised model at the paper's bound


def test_uplink_bytes_are_real_messages_and_both_ends_agree():
    fed = federation({"method": "fedsz"})
    records = fed.run(2)
    for record in records:
        # Assert: compressed uplink (ratio reported in benchmarks/methods.md), float32 downlink
        assert all(FULL / 6 < b < FULL / 3 for b in record.ul_bytes)
        assert all(FULL < b < FULL + 200 for b in record.dl_bytes)
    for i, client in enumerate(fed.clients):
        assert client.ul_sender.last_digest == fed.server.ul_receivers[i].last_digest


def test_both_directions_compress_when_asked():
    records = federation({"method": "fedsz", "fedsz": {"directions": ["ul", "dl"]}}).run(2)
    assert all(b < FULL / 3 for r in records for b in r.ul_bytes + r.dl_bytes)


def test_encoding_is_deterministic():
    state = lenet_state()
    layout = layout_of(state)
    assert encode_state(state, layout, SZSettings(), 1) == encode_state(state, layout, SZSettings(), 1)


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
    layout = layout_of(state)
    data = encode_state(state, layout, SZSettings(), 2)
    with pytest.raises(MessageError, match=message):
        decode_state(damage(data), layout, round_index=2)
    with pytest.raises(MessageError, match="expected"):
        decode_state(data, layout, round_index=3)


def test_settings_are_checked():
    with pytest.raises(ValueError, match="directions"):
        SZSettings(directions=("up",))
    with pytest.raises(ValueError, match="error_bound"):
        SZSettings(error_bound=0)


def test_a_checkpointed_run_resumes_exactly(tmp_path):
    # Prepare: 3 rounds straight, and 2 rounds + checkpoint + a fresh federation resuming
    straight = federation({"method": "fedsz"}).run(3)
    first = federation({"method": "fedsz"})
    records = first.run(2)
    checkpoint.save(tmp_path / "state.pt", first, records, {"run": "x"})
    # Execute
    second = federation({"method": "fedsz"})
    resumed = second.run(3, done=checkpoint.load(tmp_path / "state.pt", second, {"run": "x"}))
    # Assert
    assert [(r.ul_bytes, r.test_accuracy) for r in resumed] == [(r.ul_bytes, r.test_accuracy) for r in straight]
