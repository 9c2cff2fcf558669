"""Checkpoint and resume: a job killed mid-run and started again ends exactly like an uninterrupted one."""

import json
import shutil
import subprocess
import sys

import pandas as pd
import pytest

from resfed import checkpoint
from resfed import run as run_module
from resfed import state as st
from resfed.config import run_spec, validate
from resfed.data import partition_prepared, prepare
from federation_helpers import make_federation
from killed_child import CHILD

COMPRESSED = {"sparsity": 0.99, "bits": 1}
CONFIG = {
    "device": "cpu",
    "clients": 4,
    "fraction": 0.5,  # the participant selector's RNG must resume too
    "rounds": 4,
    "rounds_after_target": None,
    "checkpoint_every": 2,
    "train": {"batch_size": 32},
    "datasets": {"mnist": {"model": "lenet5", "subsample": 400, "test_subsample": 200}},
    # order 2: two trajectory entries per link end; both directions lossy
    "variants": {"res2": {"method": "resfed", "order": 2, "ul": COMPRESSED, "dl": COMPRESSED}},
}
@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume")
    data = root / "mnist.npz"
    prepare("mnist", data, root=root / "none")
    partition = root / "iid.json"
    partition_prepared(data, partition, "iid", 4, 0, subsample=400)
    spec = run_spec(validate(CONFIG), "mnist", "iid", "res2", 0)
    return spec, data, partition


@pytest.fixture(scope="module")
def killed(inputs, tmp_path_factory):
    """The run directory and checkpoint folder a killed job leaves behind."""
    spec, data, partition = inputs
    out = tmp_path_factory.mktemp("killed") / "seed0"
    child = subprocess.run(
        # killed at the start of round 4: the checkpoint holds round 2, rounds.csv rounds 1-3
        [sys.executable, "-c", CHILD, json.dumps(spec), str(data), str(partition), str(out), "round"],
        capture_output=True, text=True, timeout=120,
    )
    assert child.returncode == -9, child.stderr[-2000:]
    return out


def _run(monkeypatch, spec, data, partition, out):
    """run_training, keeping hold of its federation to read the final global model."""
    built = []
    build = run_module.Federation
    monkeypatch.setattr(run_module, "Federation", lambda *a, **k: built.append(build(*a, **k)) or built[-1])
    run_module.run_training(spec, data, partition, out, progress=False)
    return built[-1]


def _copy_killed(killed, tmp_path):
    out = tmp_path / "seed0"
    shutil.copytree(killed, out)
    shutil.copytree(killed.with_name("seed0.ckpt"), tmp_path / "seed0.ckpt")
    return out


def test_killed_run_resumes_to_the_uninterrupted_result(inputs, killed, tmp_path, monkeypatch, caplog):
    # Prepare: the uninterrupted reference, and a copy of what the killed job left
    spec, data, partition = inputs
    reference = _run(monkeypatch, spec, data, partition, tmp_path / "full" / "seed0")
    out = _copy_killed(killed, tmp_path / "resumed")
    assert len(pd.read_csv(out / "rounds.csv")) == 3 and not (out / "run.json").exists()
    (out / "rounds.csv").unlink()  # Snakemake deletes a failed job's outputs
    # Execute
    resumed = _run(monkeypatch, spec, data, partition, out)
    # Assert: same rounds (all but wall time), same final model, checkpoint gone
    assert "resuming after round 2" in caplog.text
    expected = pd.read_csv(tmp_path / "full" / "seed0" / "rounds.csv").drop(columns="wall_seconds")
    pd.testing.assert_frame_equal(pd.read_csv(out / "rounds.csv").drop(columns="wall_seconds"), expected)
    assert st.digest(resumed.server.global_state) == st.digest(reference.server.global_state)
    assert json.loads((out / "run.json").read_text())["resumed_after_round"] == 2
    assert not (tmp_path / "resumed" / "seed0.ckpt").exists()


def test_checkpoint_of_another_spec_is_refused(inputs, killed, tmp_path):
    spec, data, partition = inputs
    out = _copy_killed(killed, tmp_path)
    other = {**spec, "train": {**spec["train"], "lr": 0.02}}
    with pytest.raises(checkpoint.CheckpointMismatch, match="belongs to a different run: spec_hash .*Delete .* to start this run from round 1"):
        run_module.run_training(other, data, partition, out, progress=False)


def test_checkpoint_interval_alone_does_not_change_the_run(inputs):
    spec, _, _ = inputs
    assert checkpoint.run_identity(spec, "d", "p") == checkpoint.run_identity({**spec, "checkpoint_every": 7}, "d", "p")


def test_checkpoint_restores_every_link_end(tmp_path):
    # Prepare: a federation some rounds in, with error feedback and partial participation
    variant = {"method": "gradients", "error_feedback": True, "ul": COMPRESSED, "dl": COMPRESSED}
    identity = {"spec_hash": "h", "data_checksum": "d", "partition_hash": "p"}
    original = make_federation(variant, fraction=0.5)
    records = original.run(2)
    checkpoint.save(tmp_path / "state.pt", original, records, identity)
    # Execute
    restored = make_federation(variant, fraction=0.5)
    assert checkpoint.load(tmp_path / "state.pt", restored, identity) == records
    # Assert: both continue identically
    assert original.run_round(3).ul_bytes == restored.run_round(3).ul_bytes
    assert st.digest(original.server.global_state) == st.digest(restored.server.global_state)
    assert all(c.ul_sender.error is not None for c in restored.clients if c.ul_sender.transfers)
