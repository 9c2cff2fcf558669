"""Every method resumes after a SIGKILL, during a round or while a checkpoint is written,
to the rounds.csv of an uninterrupted run (wall time aside). Slow: a child process per kill."""

import json
import shutil
import subprocess
import sys

import pandas as pd
import pytest

from resfed import run as run_module
from resfed.config import run_spec, validate
from resfed.data import partition_prepared, prepare
from killed_child import CHILD
from method_contract import METHODS, spec_of

pytestmark = pytest.mark.slow

ROUNDS = 5
CONFIG = {
    "device": "cpu",
    "clients": 4,
    "fraction": 0.75,
    "rounds": ROUNDS,
    "rounds_after_target": None,
    "checkpoint_every": 2,
    "train": {"batch_size": 32},
    "datasets": {"mnist": {"model": "lenet5", "subsample": 400, "test_subsample": 200}},
    "variants": {method: spec_of(method) for method in METHODS},
}
@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume")
    data = root / "mnist.npz"
    prepare("mnist", data, root=root / "none")
    partition = root / "iid.json"
    partition_prepared(data, partition, "iid", 4, 0, subsample=400)
    return validate(CONFIG), data, partition


def _rounds(out):
    return pd.read_csv(out / "rounds.csv").drop(columns="wall_seconds")


@pytest.mark.parametrize("where", ["round", "checkpoint"])
@pytest.mark.parametrize("method", METHODS)
def test_killed_run_resumes_to_the_uninterrupted_result(inputs, tmp_path, method, where):
    # Prepare: the uninterrupted run, and a run killed by SIGKILL
    config, data, partition = inputs
    spec = run_spec(config, "mnist", "iid", method, 0)
    run_module.run_training(spec, data, partition, tmp_path / "full" / "seed0", progress=False)
    out = tmp_path / "killed" / "seed0"
    child = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(spec), str(data), str(partition), str(out), where],
        capture_output=True, text=True, timeout=300,
    )
    assert child.returncode == -9, child.stderr[-2000:]
    assert not (out / "run.json").exists()
    # Execute: Snakemake deletes a failed job's outputs, then runs it again
    (out / "rounds.csv").unlink()
    run_module.run_training(spec, data, partition, out, progress=False)
    # Assert: the same rounds, a finished run, and no checkpoint or temp file left
    pd.testing.assert_frame_equal(_rounds(out), _rounds(tmp_path / "full" / "seed0"))
    assert json.loads((out / "run.json").read_text())["resumed_after_round"] == 2
    assert not (tmp_path / "killed" / "seed0.ckpt").exists()
    shutil.rmtree(tmp_path)
