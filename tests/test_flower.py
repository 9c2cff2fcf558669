"""ResFed on Flower: the ServerApp and ClientApp give the in-process loop's bytes, digests and accuracies.

`test_flower_app_in_process` drives the apps over an in-process Grid (fast, default suite);
`test_real_deployment` (marked `flower`) starts a real SuperLink and SuperNodes and uses `flwr run`.
"""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
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
from flower_helpers import LocalGrid  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
CONFIG = REPO / "tests" / "configs" / "flower.yaml"
APP = REPO / "resfed" / "flower" / "app"
BIN = Path(sys.executable).parent
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
    kinds = [kind for kind, _ in grid.sent]
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


def free_ports(count: int) -> list[int]:
    """Ports nothing listens on now (held open together so that they differ)."""
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def wait_for_port(port: int, process: subprocess.Popen, log: Path, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise RuntimeError(f"nothing listens on port {port} after {timeout} s:\n{log.read_text()[-3000:]}")


@contextlib.contextmanager
def started(tmp_path: Path, env: dict):
    """Start processes (each in its own process group); stop every one of them, by its group id, on exit."""
    processes: list[subprocess.Popen] = []

    def start(name: str, *args: str) -> subprocess.Popen:
        log = (tmp_path / f"{name}.log").open("w")
        process = subprocess.Popen([str(BIN / args[0]), *args[1:]], stdout=log, stderr=subprocess.STDOUT,
                                   env=env, cwd=tmp_path, start_new_session=True)
        processes.append(process)
        return process

    try:
        yield start
    finally:
        for process in reversed(processes):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in reversed(processes):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@pytest.mark.flower
def test_real_deployment(run_files, tmp_path):
    """A SuperLink, 3 SuperNodes (partition-id 0-2) and `flwr run`: rounds.csv equals the in-process loop's."""
    link_port, *node_ports = free_ports(1 + N_CLIENTS)
    home = tmp_path / "flwr-home"
    home.mkdir()
    (home / "config.toml").write_text(
        f'[superlink]\ndefault = "resfed-test"\n\n[superlink.resfed-test]\naddress = "127.0.0.1:{link_port}"\ninsecure = true\n'
    )
    run_config_file = tmp_path / "run-config.toml"
    config = run_config(run_files, tmp_path / "out") | {"reply-timeout": 600.0}
    run_config_file.write_text("".join(f"{key} = {json.dumps(value)}\n" for key, value in config.items()))
    env = dict(os.environ, FLWR_HOME=str(home), PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}",
               PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    began = time.monotonic()
    with started(tmp_path, env) as start:
        link = start("superlink", "flower-superlink", "--insecure", "--disable-runtime-dependency-installation",
                     "--host", "127.0.0.1", "--port", str(link_port))
        wait_for_port(link_port, link, tmp_path / "superlink.log")
        for i, port in enumerate(node_ports):
            start(f"supernode{i}", "flower-supernode", "--insecure", "--superlink", f"127.0.0.1:{link_port}",
                  "--port", str(port), "--node-config", f"partition-id={i}")
        flwr = subprocess.run(
            [str(BIN / "flwr"), "run", str(APP), "resfed-test", "--run-config", str(run_config_file), "--stream"],
            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=1800,
        )
    print(f"real deployment: {time.monotonic() - began:.0f} s")
    output = flwr.stdout + flwr.stderr
    assert (tmp_path / "out" / "rounds.csv").exists(), output[-5000:]
    try:
        assert_same_rounds(tmp_path / "out" / "rounds.csv", run_files["reference"])
    except AssertionError as error:
        raise AssertionError(f"{error}\n--- flwr run output ---\n{output[-5000:]}") from None


def test_a_diverged_client_stops_the_run_as_in_process(run_files, tmp_path):
    """lr 5 makes client 0's model NaN in round 2: both engines keep round 1 and stop."""
    spec = {**run_files["spec"], "train": {**run_files["spec"]["train"], "lr": 5.0}}
    reference = run_training(spec, run_files["data"], run_files["partition"], tmp_path / "reference", progress=False)
    config = run_config({**run_files, "spec": spec}, tmp_path / "flower")
    records = server_app.run(local_grid(run_files, config), server_context(config))
    assert [r.round for r in records] == [1]
    flower, expected = pd.read_csv(tmp_path / "flower" / "rounds.csv"), pd.read_csv(reference / "rounds.csv")
    columns = [c for c in expected.columns if c != "wall_seconds"]
    pd.testing.assert_frame_equal(flower[columns], expected[columns], check_exact=True)


@pytest.mark.parametrize("key", ["run-spec", "data-path", "out-dir"])
def test_a_missing_run_config_key_is_named(run_files, tmp_path, key):
    config = run_config(run_files, tmp_path) | {key: ""}
    with pytest.raises(ValueError, match=f"'{key}'"):
        server_app.run(local_grid(run_files, config), server_context(config))
