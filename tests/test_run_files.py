"""What a training run leaves on disk after kills and reruns: no temp files, no stale checkpoint."""

import os
import signal
import subprocess
import sys
import time

import pytest

from cli_helpers import REPO, TINY
from resfed.atomic import atomic_write_text, remove_partial_writes
from resfed.config import load_config, run_spec
from resfed.records import RoundRecord, rounds_columns, rounds_frame
from resfed.run import run_training


@pytest.fixture(scope="module")
def inputs(tiny_inputs):
    return (run_spec(load_config(TINY), "mnist", "iid", "baseline", 0), *tiny_inputs)


def test_remove_partial_writes_takes_only_temp_files_of_killed_writes(tmp_path):
    atomic_write_text(tmp_path / "rounds.csv", "round\n")
    left = [tmp_path / ".rounds.csv.k1ll3d.part", tmp_path / ".run.json.x.part"]
    for part in left:
        part.write_text("half")
    (tmp_path / "notes.part").write_text("a user's file")
    assert sorted(remove_partial_writes(tmp_path)) == sorted(left)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.part", "rounds.csv"]
    assert remove_partial_writes(tmp_path / "absent") == []


def test_a_rerun_cleans_temp_files_and_the_checkpoint_folder_goes_with_the_run(inputs, tmp_path):
    spec, data, partition = inputs
    out = tmp_path / "seed0"
    ckpt = tmp_path / "seed0.ckpt"
    out.mkdir()
    ckpt.mkdir()
    for part in (out / ".rounds.csv.a1.part", ckpt / ".state.pt.b2.part"):
        part.write_bytes(b"half-written by a killed job")
    run_training(spec, data, partition, out, progress=False)
    assert (out / "run.json").exists()
    assert not list(out.glob("*.part")) and not list(out.glob(".*.part"))
    assert not ckpt.exists()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_plain_snakemake_rerun_after_snakemake_was_killed(tmp_path):
    """SIGKILL Snakemake while its first job runs; the job finishes on its own, the marker stays.

    After `--unlock` (Snakemake's own advice for a stale lock) the README's plain command must
    rerun the incomplete job, not stop with IncompleteFilesException.
    """
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory",
               str(tmp_path), "--configfile", str(TINY), "--cores", "1"]
    run = subprocess.Popen(command, cwd=REPO, start_new_session=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    markers = tmp_path / ".snakemake" / "incomplete"
    deadline = time.monotonic() + 120
    try:
        while not [m for m in markers.rglob("*") if m.is_file() and m.name != "migration_underway"]:
            assert run.poll() is None and time.monotonic() < deadline, "no job started"
            time.sleep(0.02)
        run.kill()  # Snakemake only: its job goes on and completes its outputs
        run.wait()
        while _group_alive(run.pid):
            assert time.monotonic() < deadline, "the orphaned job did not finish"
            time.sleep(0.1)
    finally:
        if _group_alive(run.pid):
            os.killpg(run.pid, signal.SIGKILL)
    subprocess.run([*command, "--unlock"], cwd=REPO, capture_output=True, check=True)
    rerun = subprocess.run([*command, "-n"], cwd=REPO, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stdout[-2000:] + rerun.stderr[-2000:]
    assert "IncompleteFilesException" not in rerun.stdout + rerun.stderr


def test_a_run_without_rounds_gets_the_full_header():
    record = RoundRecord(1, [1, 2], [3, 4], 0.5, 1.0, 1.0, 0.1)
    assert list(rounds_frame([], 2).columns) == rounds_columns(2) == list(rounds_frame([record], 2).columns)
