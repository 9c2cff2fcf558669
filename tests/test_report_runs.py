"""Loading run directories and the per-seed Table 1 quantities."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from resfed.report import (
    RunFormatError,
    bytes_consistent,
    load_run,
    load_runs,
    rounds_to_target,
    volume_to_target,
)
from resfed.report.testing import write_synthetic_run


@pytest.fixture
def run_dir(tmp_path):
    # 2 clients, each sends 250_000 B UL and 125_000 B DL per round:
    # 2 Mb UL and 1 Mb DL per client per round.
    return write_synthetic_run(tmp_path, accuracy=[0.5, 0.8, 0.86, 0.84, 0.9],
                               ul_bytes_per_client=250_000, dl_bytes_per_client=125_000)


def test_load_run_reads_identity_and_rounds(run_dir):
    run = load_run(run_dir)
    assert (run.dataset, run.partition, run.method, run.variant, run.seed) == \
        ("fmnist", "iid", "fedavg", "baseline", 0)
    assert run.target == 0.85
    assert list(run.rounds["round"]) == [1, 2, 3, 4, 5]
    assert run.rounds["sync_ok"].dtype == bool


def test_rounds_and_volume_to_target_hand_computed(run_dir):
    rounds = load_run(run_dir).rounds
    assert rounds_to_target(rounds, 0.85) == 3          # first >= 0.85, later dip ignored
    assert volume_to_target(rounds, 0.85, "ul") == pytest.approx(6.0)   # 3 rounds x 2 Mb
    assert volume_to_target(rounds, 0.85, "dl") == pytest.approx(3.0)   # 3 rounds x 1 Mb
    assert rounds_to_target(rounds, 0.86) == 3          # equality counts as reached
    assert rounds_to_target(rounds, 0.5) == 1
    assert rounds_to_target(rounds, 0.95) is None
    assert volume_to_target(rounds, 0.95, "ul") is None


def test_nan_accuracy_rounds_do_not_count():
    rounds = pd.DataFrame({"round": [1, 2, 3], "test_accuracy": [float("nan"), 0.9, 0.9],
                           "ul_bits_cum_per_client": [1e6, 2e6, 3e6]})
    assert rounds_to_target(rounds, 0.85) == 2
    assert volume_to_target(rounds, 0.85, "ul") == 2.0


def test_volume_to_target_rejects_bad_direction(run_dir):
    with pytest.raises(ValueError, match="direction"):
        volume_to_target(load_run(run_dir).rounds, 0.85, "up")


def test_missing_column_error_names_file_and_column(run_dir):
    df = pd.read_csv(run_dir / "rounds.csv").drop(columns=["dl_bits_cum_per_client"])
    df.to_csv(run_dir / "rounds.csv", index=False)
    with pytest.raises(RunFormatError) as err:
        load_run(run_dir)
    assert "rounds.csv" in str(err.value)
    assert "'dl_bits_cum_per_client'" in str(err.value)


def test_missing_run_json_key_is_named(run_dir):
    info = json.loads((run_dir / "run.json").read_text())
    del info["target_accuracy"]
    (run_dir / "run.json").write_text(json.dumps(info))
    with pytest.raises(RunFormatError, match=r"run\.json.*target_accuracy"):
        load_run(run_dir)


def test_missing_rounds_file_and_duplicate_rounds(run_dir):
    df = pd.read_csv(run_dir / "rounds.csv")
    pd.concat([df, df.iloc[[1]]]).to_csv(run_dir / "rounds.csv", index=False)
    with pytest.raises(RunFormatError, match="duplicate round"):
        load_run(run_dir)
    (run_dir / "rounds.csv").unlink()
    with pytest.raises(RunFormatError, match="rounds.csv: file not found"):
        load_run(run_dir)


def test_sync_ok_as_text_is_parsed(run_dir):
    df = pd.read_csv(run_dir / "rounds.csv")
    df["sync_ok"] = ["true", "True", "0", "1", "false"]
    df.to_csv(run_dir / "rounds.csv", index=False)
    assert load_run(run_dir).rounds["sync_ok"].tolist() == [True, True, False, True, False]


def test_load_runs_finds_all(tmp_path):
    for seed in (0, 1):
        write_synthetic_run(tmp_path, seed=seed)
    write_synthetic_run(tmp_path, variant="resfed-ul", method="resfed")
    assert len(load_runs(tmp_path)) == 3


def test_bytes_consistent(run_dir):
    rounds = load_run(run_dir).rounds
    assert bytes_consistent(rounds) is True
    broken = rounds.copy()
    broken.loc[2, "ul_bits_cum_per_client"] += 8
    assert bytes_consistent(broken) is False
    no_clients = rounds.drop(columns=[c for c in rounds.columns if "_client" in c])
    assert bytes_consistent(no_clients) is None


def test_target_on_clients_reads_the_clients_mean_accuracy(run_dir):
    # Prepare: the run says its target is decided by the models the clients hold
    info = json.loads((run_dir / "run.json").read_text())
    (run_dir / "run.json").write_text(json.dumps({**info, "target_on": "clients"}))
    rounds = pd.read_csv(run_dir / "rounds.csv")
    rounds["client_accuracy_mean"] = 0.0
    rounds.to_csv(run_dir / "rounds.csv", index=False)
    # Execute
    run = load_run(run_dir)
    # Assert: the server's accuracies no longer decide; the clients' never reach the target
    assert run.accuracy_column == "client_accuracy_mean"
    assert rounds_to_target(run.rounds, run.target, run.accuracy_column) is None


def test_digests_that_look_like_huge_exponents_are_read_as_text(run_dir):
    # A real digest: pandas < 3 parses "137e7262668..." as a float and crashes (pandas#62617),
    # so the load runs in a child process that reports either the digest or the crash.
    df = pd.read_csv(run_dir / "rounds.csv", dtype=str)
    df["ul_digest_sender"] = df["ul_digest_receiver"] = "137e72626681083f87e774c05e6384f5"
    df.to_csv(run_dir / "rounds.csv", index=False)
    code = f"from resfed.report import load_run; print(load_run({str(run_dir)!r}).rounds['ul_digest_sender'][0])"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "137e72626681083f87e774c05e6384f5"
