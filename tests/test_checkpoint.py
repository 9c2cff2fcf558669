"""Checkpoints are verified on load: damaged, truncated, empty or foreign files stop with the path."""

import pytest
import torch

from resfed import checkpoint
from resfed import state as st
from federation_helpers import make_federation

VARIANT = {"method": "resfed", "order": 1, "ul": {"sparsity": 0.99, "bits": 1}, "dl": None}
IDENTITY = {"spec_hash": "h", "data_checksum": "d", "partition_hash": "p"}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "run.ckpt" / "state.pt"
    federation = make_federation(VARIANT)
    checkpoint.save(path, federation, federation.run(2), IDENTITY)
    return path


def test_a_sound_checkpoint_restores_every_state(saved):
    federation = make_federation(VARIANT)
    records = checkpoint.load(saved, federation, IDENTITY)
    assert [r.round for r in records] == [1, 2]
    assert federation.clients[0].ul_sender.transfers == 2


def test_one_flipped_bit_in_a_held_model_is_refused(saved, tmp_path):
    # Prepare: flip one exponent bit of one entry of one stored model
    payload = torch.load(saved, weights_only=True)
    key, state = next(iter(payload["states"].items()))
    name = next(n for n, t in state.items() if t.is_floating_point())
    state[name].view(-1).view(torch.int32)[0] ^= 1 << 30
    damaged = tmp_path / "run.ckpt" / "state.pt"
    damaged.parent.mkdir()
    torch.save(payload, damaged)
    # Execute / Assert
    with pytest.raises(checkpoint.CheckpointError, match=rf"{damaged} is damaged: .*{key}.*Delete {damaged.parent}"):
        checkpoint.load(damaged, make_federation(VARIANT), IDENTITY)


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04", "half"])
def test_an_unreadable_checkpoint_names_the_file_and_the_way_out(saved, tmp_path, content):
    path = tmp_path / "run.ckpt" / "state.pt"
    path.parent.mkdir()
    path.write_bytes(saved.read_bytes()[: len(saved.read_bytes()) // 2] if content == "half" else content)
    with pytest.raises(checkpoint.CheckpointError, match=rf"{path} cannot be read .*Delete {path.parent} to start"):
        checkpoint.load(path, make_federation(VARIANT), IDENTITY)


def test_a_checkpoint_of_another_run_is_refused(saved):
    with pytest.raises(checkpoint.CheckpointMismatch, match="belongs to a different run: spec_hash h"):
        checkpoint.load(saved, make_federation(VARIANT), {**IDENTITY, "spec_hash": "other"})


def test_identical_states_are_stored_once(saved):
    payload = torch.load(saved, weights_only=True)
    assert all(st.digest(state) == key for key, state in payload["states"].items())
    assert len(payload["states"]) < 4 * 6  # far fewer than the states the endpoints hold


def test_a_checkpoint_written_by_other_code_is_refused(saved, monkeypatch):
    # Prepare: this run's identity as the pipeline builds it, once with the package's code and once with other code
    identity = checkpoint.run_identity({"seed": 0, "checkpoint_every": 5}, "d", "p")
    path = saved.parent.parent / "code.ckpt" / "state.pt"
    federation = make_federation(VARIANT)
    checkpoint.save(path, federation, federation.run(1), identity)
    monkeypatch.setattr(checkpoint, "code_digest", lambda: "0" * 16)
    # Execute / Assert: the digest of the package's sources is part of the identity
    assert checkpoint.run_identity({"seed": 0}, "d", "p")["code_digest"] == "0" * 16
    with pytest.raises(checkpoint.CheckpointMismatch, match=f"code_digest {identity['code_digest']} .this run: 0{{16}}"):
        checkpoint.load(path, make_federation(VARIANT), checkpoint.run_identity({"seed": 0}, "d", "p"))
