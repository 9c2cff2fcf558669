"""ResFed on Flower: the ServerApp and ClientApp give the in-process loop's bytes, digests and accuracies.

`test_flower_app_in_process` drives the apps over an in-process Grid (fast, default suite);
`test_real_deployment` (marked `flower`) starts a real SuperLink and SuperNodes and uses `flwr run`.
"""

import json
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("flwr", reason="Flower is not installed (pip install -e '.[flower]')")

from flwr.app import Context, RecordDict  # noqa: E402

from resfed.cli import main  # noqa: E402
from resfed.config import load_config, run_spec  # noqa: E402
from resfed.federation import SyncError  # noqa: E402
from resfed.flower import client_app, server_app  # noqa: E402
from resfed.run import run_training  # noqa: E402
from tests.flower_helpers import LocalGrid  # noqa: E402

CONFIG = Path(__file__).resolve().parent / "configs" / "flower.yaml"
N_CLIENTS = 3


@pytest.fixture(autouse=True)
def task_identity(monkeypatch):
    """Flower stamps messages with the identity of the process's task; a real SuperLink sets it."""
    from flwr.supercore.task_identity import TaskIdentity

    for name, value in (("_task_id", 1), ("_run_id", 1), ("_node_id", 0)):
        monkeypatch.setattr(TaskIdentity, name, value)


@pytest.fixture(scope="module")
def run_files(tmp_path_factory):
    """Prepared MNIST, a 3-client partition, the Res-1 run spec and the in-process loop's rounds.csv."""
    root = tmp_path_factory.mktemp("flower")
    data, partition = root / "mnist.npz", root / "iid.json"
    assert main(["prepare", "--dataset", "mnist", "--root", str(root / "none"), "--out", str(data)]) == 0
    assert main(["partition", "--data", str(data), "--scheme", "iid", "--clients", str(N_CLIENTS),
                 "--seed", "0", "--subsample", "300", "--out", str(partition)]) == 0
    spec = run_spec(load_config(CONFIG), "mnist", "iid", "res1", 0)
    reference = run_training(spec, data, partition, root / "reference", progress=False)
    return {"spec": spec, "data": data, "partition": partition, "reference": reference / "rounds.csv"}


def run_config(files, out_dir: Path) -> dict:
    return {
        "run-spec": json.dumps(files["spec"]), "data-path": str(files["data"]),
        "partition-path": str(files["partition"]), "out-dir": str(out_dir), "reply-timeout": 60.0,
    }


def assert_same_rounds(flower_csv: Path, reference_csv: Path) -> None:
    """Every column but the wall time equal: bytes per client and direction, digests, accuracies, losses."""
    flower, reference = pd.read_csv(flower_csv), pd.read_csv(reference_csv)
    assert list(flower.columns) == list(reference.columns)
    assert len(reference) == 3 and reference["sync_ok"].all()
    columns = [c for c in reference.columns if c != "wall_seconds"]
    pd.testing.assert_frame_equal(flower[columns], reference[columns], check_exact=True)


def local_grid(files, config: dict) -> LocalGrid:
    return LocalGrid(client_app.app, [{"partition-id": i} for i in range(N_CLIENTS)], config)


def server_context(config: dict) -> Context:
    return Context(run_id=1, node_id=0, node_config={}, state=RecordDict(), run_config=config)


def test_flower_app_in_process(run_files, tmp_path):
    config = run_config(run_files, tmp_path)
    grid = local_grid(run_files, config)
    server_app.run(grid, server_context(config))
    assert_same_rounds(tmp_path / "rounds.csv", run_files["reference"])
    kinds = [m.metadata.message_type for m in grid.sent]
    assert kinds == ["query.identify"] * N_CLIENTS + (["train"] * N_CLIENTS + ["train.downlink"] * N_CLIENTS) * 3
    assert all("client" in context.state.config_records["resfed"] for context in grid.contexts.values())


def test_digest_mismatch_fails_and_is_recorded(run_files, tmp_path):
    """A client that reports another uplink digest than the server recovered stops the run in round 1."""
    config = run_config(run_files, tmp_path)
    grid = local_grid(run_files, config)
    pull = grid.pull_messages

    def tampered(ids):
        replies = list(pull(ids))
        for reply in replies:
            record = reply.content.config_records["resfed"]
            if reply.metadata.message_type == "train" and record["client"] == 1:
                record["digest"] = "0" * 32
        return replies

    grid.pull_messages = tampered
    with pytest.raises(SyncError, match="uplink link of client 1, round 1"):
        server_app.run(grid, server_context(config))
    assert not pd.read_csv(tmp_path / "rounds.csv")["sync_ok"].any()


def test_node_without_partition_id_is_refused(run_files, tmp_path):
    config = run_config(run_files, tmp_path)
    grid = LocalGrid(client_app.app, [{"partition-id": 0}, {"partition-id": 0}, {"partition-id": 2}], config)
    with pytest.raises(server_app.FlowerRunError, match="client 0 is held by 2 nodes; client 1 is held by 0 nodes"):
        server_app.run(grid, server_context(config))
