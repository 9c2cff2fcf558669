"""The cluster and local profiles parse and plan the paper grid (dry run, no jobs submitted)."""

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("profile", ["slurm", "local"])
def test_profile_dry_run_plans_the_paper_grid(profile, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--snakefile", str(REPO / "Snakefile"),
         "--directory", str(tmp_path), "--profile", str(REPO / "workflow/profiles" / profile),
         "--configfile", str(REPO / "config/paper.yaml")],
        capture_output=True, text=True, cwd=REPO,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "train" in result.stdout and "table1" in result.stdout
