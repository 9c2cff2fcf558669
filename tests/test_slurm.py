"""The tiny DAG on a real one-node SLURM cluster, through workflow/profiles/slurm.

The cluster is started by .ci/slurm-cluster (munged, slurmctld, slurmd) and stopped by the
process ids it recorded. Every job goes through sbatch; the outputs must equal a local run's.
Needs root and Debian's slurm-wlm + munge (.ci/run installs them); skipped otherwise.
"""

import fcntl
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parent.parent
TINY = REPO / "tests" / "configs" / "tiny.yaml"
CLUSTER = REPO / ".ci" / "slurm-cluster"
DAEMONS = ("munged", "slurmctld", "slurmd")

pytestmark = pytest.mark.slurm


def _skip_reason() -> str | None:
    if shutil.which("slurmctld") is None:
        return "SLURM is not installed (no slurmctld); as root: apt-get install -y slurm-wlm munge"
    if os.geteuid() != 0:
        return "a test SLURM cluster needs root (munged runs as the munge user, slurmd as root)"
    return None


def _running(pid: int, name: str) -> bool:
    """True while `pid` runs `name` and has not exited (an unreaped daemon is a zombie)."""
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return comm == name and state != "Z"


def _cluster():
    """Starts a cluster; yields a client's environment; stops its daemons and checks they are gone."""
    # Not under pytest's private (0700) tmp: the munge user has to enter this directory.
    cluster_dir = Path(tempfile.mkdtemp(prefix="resfed-slurm-"))
    cluster_dir.chmod(0o755)
    started = subprocess.run([str(CLUSTER), "start", str(cluster_dir)], capture_output=True, text=True)
    pids = {name: int((cluster_dir / "pid" / name).read_text())
            for name in DAEMONS if (cluster_dir / "pid" / name).exists()}
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        yield {**os.environ, "SLURM_CONF": str(cluster_dir / "slurm.conf")}
    finally:
        stopped = subprocess.run([str(CLUSTER), "stop", str(cluster_dir)], capture_output=True, text=True)
        left = [f"{name} (pid {pid})" for name, pid in pids.items() if _running(pid, name)]
        shutil.rmtree(cluster_dir, ignore_errors=True)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert set(pids) == set(DAEMONS) and not left, f"daemons left running: {left}"


@pytest.fixture(scope="session")
def slurm_env():
    """Environment of a client of a freshly started cluster, stopped after the session."""
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    # One test cluster per machine at a time (/etc/slurm/slurm.conf points at it): test
    # sessions running side by side take turns here.
    with open(Path(tempfile.gettempdir()) / "resfed-slurm-test.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield from _cluster()


def _snakemake(workdir: Path, *options: str, env=None) -> str:
    """Runs the tiny DAG in workdir; returns Snakemake's messages."""
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
         "--configfile", str(TINY), *options],
        capture_output=True, text=True, cwd=REPO, env=env,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]
    return result.stdout + result.stderr


def _outputs(root: Path, name: str) -> dict[str, Path]:
    """Every file called `name` under root's results, by path relative to root."""
    return {str(path.relative_to(root)): path for path in sorted(root.glob(f"results/**/{name}"))}


def _without_wall_time(rounds: pd.DataFrame) -> pd.DataFrame:
    return rounds.drop(columns=[c for c in rounds.columns if "seconds" in c or "wall" in c])


def test_tiny_dag_through_sbatch_equals_a_local_run(slurm_env, tmp_path):
    partition = subprocess.run(["sinfo", "--noheader", "--format=%R"], capture_output=True, text=True,
                               env=slurm_env, check=True).stdout.split()[0]
    # The profile as shipped, with the names a user sets. The node has no GPU and may have
    # less memory than the profile asks for training (32 GB): training jobs get 1 CPU and 2 GB.
    # Without accounting there is no sacct, so job states come from squeue (MinJobAge=600).
    env = {**slurm_env, "RESFED_SLURM_PARTITION": partition}
    slurm = tmp_path / "slurm"
    messages = _snakemake(slurm, "--profile", str(REPO / "workflow/profiles/slurm"),
               "--set-resources", "train:mem_mb=2000", "train:cpus_per_task=1", "--set-threads", "train=1",
               "--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "5",
               "--seconds-between-status-checks", "5", env=env)
    # "Job 5 has been submitted with SLURM jobid 4 (log: .../slurm_logs/rule_train/...)"
    submitted = re.findall(r"submitted with SLURM jobid \d+ \(log: \S*/slurm_logs/rule_(\w+)/", messages)
    local = tmp_path / "local"
    _snakemake(local, "--cores", "2")

    tables, local_tables = _outputs(slurm, "table1.csv"), _outputs(local, "table1.csv")
    assert tables and tables.keys() == local_tables.keys()
    for name, path in tables.items():
        pd.testing.assert_frame_equal(pd.read_csv(path), pd.read_csv(local_tables[name]), obj=name)
    runs, local_runs = _outputs(slurm, "rounds.csv"), _outputs(local, "rounds.csv")
    assert len(runs) == 3 and runs.keys() == local_runs.keys()
    for name, path in runs.items():
        pd.testing.assert_frame_equal(_without_wall_time(pd.read_csv(path)),
                                      _without_wall_time(pd.read_csv(local_runs[name])), obj=name)
    # The jobs ran as SLURM jobs, the training jobs included.
    assert submitted.count("train") == 3 and {"prepare", "partition", "table1"} <= set(submitted)
