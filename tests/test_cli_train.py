"""`resfed train` as a user runs it (a subprocess): refusals, early stops, progress and Ctrl-C in one line each."""

import json
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from cli_helpers import ENV, REPO, TINY, assert_one_clean_line, resfed
from resfed.config import load_config, run_spec


@pytest.fixture(scope="module")
def inputs(tiny_inputs):
    spec = run_spec(load_config(TINY), "mnist", "iid", "resfed-ul", 0)
    spec["dataset_spec"]["target_accuracy"] = 0.0  # reached in round 1
    spec["threads"] = 1
    return (spec, *tiny_inputs)


def train(spec, data, partition, out, *extra):
    return resfed("train", "--spec", json.dumps(spec), "--data", data, "--partition", partition, "--out", out, *extra)


def test_a_finished_run_is_replaced_only_with_force_and_progress_is_one_line_per_round(inputs, tmp_path):
    spec, data, partition = inputs
    out = tmp_path / "run"
    first = train(spec, data, partition, out)
    assert first.returncode == 0, first.stderr
    assert "Traceback" not in first.stderr
    rounds = [line for line in first.stderr.splitlines() if " round " in line and "accuracy" in line]
    assert len(rounds) == 2 and "\r" not in first.stderr
    assert "round 1/2: accuracy" in rounds[0] and "cumulative per client UL" in rounds[0] and " Mb DL " in rounds[0]
    csv = pd.read_csv(out / "rounds.csv")
    ul_mb = csv["ul_bits_cum_per_client"].iloc[0] / 1e6
    dl_mb = csv["dl_bits_cum_per_client"].iloc[0] / 1e6
    assert f"target 0.0 reached at round 1 ({ul_mb:.4g} Mb UL, {dl_mb:.4g} Mb DL per client)" in first.stderr
    finished = (out / "run.json").read_text()

    again = train(spec, data, partition, out, "--quiet")
    assert again.returncode == 1
    assert_one_clean_line(again, str(out), "finished run", "--force")
    assert (out / "run.json").read_text() == finished

    forced = train(spec, data, partition, out, "--quiet", "--force")
    assert forced.returncode == 0, forced.stderr
    assert json.loads((out / "run.json").read_text())["started"] >= json.loads(finished)["started"]


def test_a_run_that_stops_in_round_1_leaves_the_header_and_the_reason(inputs, tmp_path):
    spec, data, partition = inputs
    diverging = {**spec, "train": {**spec["train"], "lr": float("nan")}}
    out = tmp_path / "run"
    result = train(diverging, data, partition, out, "--quiet")
    assert result.returncode == 0, result.stderr
    assert_one_clean_line(result, "stopped after 0 round(s)", "round 1", "NaN")
    rounds = pd.read_csv(out / "rounds.csv")
    assert rounds.empty and {"round", "ul_bits_cum_per_client", "test_accuracy"} <= set(rounds.columns)
    assert "round 1" in json.loads((out / "run.json").read_text())["stopped_early"]


def test_ctrl_c_ends_with_one_line_and_exit_130(inputs, tmp_path):
    spec, data, partition = inputs
    # a cap far beyond what can finish between the first row and the signal, however fast the machine
    slow = {**spec, "rounds": 5000, "rounds_after_target": None, "checkpoint_every": 1}
    out = tmp_path / "run"
    child = subprocess.Popen(
        [sys.executable, "-m", "resfed.cli", "train", "--spec", json.dumps(slow), "--data", str(data),
         "--partition", str(partition), "--out", str(out), "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV, cwd=REPO,
        # as from a terminal: a test run started as a background job inherits SIGINT ignored
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 120
    while not (out / "rounds.csv").exists() or len(pd.read_csv(out / "rounds.csv")) < 1:
        assert child.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    child.send_signal(signal.SIGINT)
    stdout, stderr = child.communicate(timeout=60)
    assert child.returncode == 130, stderr
    result = subprocess.CompletedProcess(child.args, child.returncode, stdout, stderr)
    assert_one_clean_line(result, str(out), "interrupted after round", "rerun the same command to resume")
    assert not (out / "run.json").exists()
