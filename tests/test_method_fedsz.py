"""FedSZ: real bytes, both ends in sync, settings, resume (messages: test_codec_sz.py)."""

import pytest
import torch

from resfed import checkpoint
from resfed import state as st
from resfed.federation import Federation
from resfed.methods import builder
from resfed.methods.fedsz import SZSettings
from resfed.models import build_model
from resfed.local_training import TrainSettings
from federation_helpers import tiny_problem

FULL = 61_706 * 4  # float32 LeNet-5


def federation(variant: dict):
    clients, test = tiny_problem()
    torch.manual_seed(0)
    return Federation(
        build=builder(variant), model=build_model("lenet5", 1, 10, 28), client_data=clients, test_data=test,
        settings=TrainSettings(lr=0.05, batch_size=16), seed=0,
    )


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
