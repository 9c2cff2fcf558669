"""Audit table: cells traced to seeds, provenance and sync status."""

from __future__ import annotations

import pandas as pd
import pytest

from resfed.report import audit, build_table1, load_runs, write_audit
from resfed.report.testing import write_synthetic_run

ROLES = {"baseline": "baseline", "ul": "resfed-ul"}


@pytest.fixture
def runs(tmp_path):
    write_synthetic_run(tmp_path / "runs", seed=0, accuracy=[0.5, 0.9])
    write_synthetic_run(tmp_path / "runs", seed=1, accuracy=[0.5, 0.6])
    write_synthetic_run(tmp_path / "runs", method="resfed", variant="resfed-ul",
                        accuracy=[0.86, 0.9], ul_bytes_per_client=1000,
                        sync_ok=[True, False])
    return load_runs(tmp_path / "runs")


def test_audit_rows(runs):
    df = audit(runs, ROLES)
    table = df[df.item == "table1"]
    assert list(table.cell) == ["fmnist/iid/baseline"] * 2 + ["fmnist/iid/ul"]
    base0 = table[table.seed == 0].iloc[0]
    assert base0.value_mb == pytest.approx(4.0)  # 2 rounds x 250 kB x 8 bits
    assert base0.rounds_to_target == 2 and base0.reached
    assert base0.run_dir.endswith("fmnist/iid/fedavg/baseline/seed0")
    assert base0.config_hash == "cfg-fedavg-baseline"
    assert base0.git_commit.startswith("0123456789ab")
    assert base0.data_checksum == "data-fmnist" and base0.partition_hash == "part-fmnist-iid"
    assert bool(base0.sync_ok_all) and bool(base0.bytes_consistent)
    assert bool(base0.split_consistent)

    base1 = table[table.seed == 1].iloc[0]
    assert not base1.reached and pd.isna(base1.value_mb)

    ul = table[table.role == "ul"].iloc[0]
    assert ul.value_mb == pytest.approx(0.008) and ul.direction == "ul"
    assert not ul.sync_ok_all and ul.sync_failed_rounds == "2"

    figure = df[df.item == "figure"]
    assert len(figure) == 3
    assert set(figure.cell) == {"fmnist/iid/fedavg/baseline", "fmnist/iid/resfed/resfed-ul"}


def test_audit_values_match_table1(runs):
    table = build_table1(runs, ROLES)
    df = audit(runs, ROLES)
    for _, row in table.iterrows():
        seeds = df[(df.item == "table1") & (df.cell == f"fmnist/iid/{row.role}")]
        assert seeds.value_mb.mean() == pytest.approx(row.cv_mean_mb)
        assert seeds.reached.sum() == row.n_reached


def test_split_inconsistency_flagged(tmp_path):
    write_synthetic_run(tmp_path, seed=0)
    write_synthetic_run(tmp_path, seed=1, info={"partition_hash": "other"})
    df = audit(load_runs(tmp_path), {"baseline": "baseline"})
    assert not df.split_consistent.any()


def test_write_audit(runs, tmp_path):
    paths = write_audit(audit(runs, ROLES), tmp_path / "out" / "audit")
    assert [p.name for p in paths] == ["audit.csv", "audit.md", "audit.html"]
    csv = pd.read_csv(paths[0])
    assert {"run_dir", "value_mb", "config_hash", "git_commit", "data_checksum",
            "partition_hash", "sync_ok_all"} <= set(csv.columns)
    assert csv.git_commit.iloc[0] == "0123456789abcdef0123456789abcdef01234567"
    md = paths[1].read_text()
    assert "test_accuracy >= target" in md
    assert "**Sync failures**" in md and "resfed-ul/seed0" in md
    assert "| item | cell | seed | run_dir |" in md
    page = paths[2].read_text()
    assert "<th>item</th><th>cell</th><th>seed</th><th>run_dir</th>" in page
    assert page.index("Sync failures") < page.index("<table>")  # the warning comes first


def test_sync_is_recomputed_from_the_logged_digests(tmp_path):
    # Prepare: a log that claims sync_ok everywhere, but whose round-2 downlink digests differ
    run_dir = write_synthetic_run(tmp_path / "runs", seed=0, accuracy=[0.5, 0.9])
    rounds = pd.read_csv(run_dir / "rounds.csv")
    for column in ("ul_digest_sender", "ul_digest_receiver", "dl_digest_sender"):
        rounds[column] = "a" * 32
    rounds["dl_digest_receiver"] = ["a" * 32, "b" * 32]
    rounds.to_csv(run_dir / "rounds.csv", index=False)
    # Execute
    row = audit(load_runs(tmp_path / "runs"), {"baseline": "baseline"}).iloc[0]
    # Assert
    assert not row.sync_ok_all and row.sync_failed_rounds == "2"
