"""Malformed config files end in one line naming the file (and line and column), never a
traceback, in `resfed check-config` and in the Snakemake workflow; nested overrides work."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

from resfed.config import ConfigError, load_config, validate, workflow_config
from test_config import MINIMAL

REPO = Path(__file__).resolve().parent.parent
TINY = REPO / "tests" / "configs" / "tiny.yaml"

# name -> (file content, a fragment the one-line error must hold)
MALFORMED = {
    "tab": (b"device: cpu\n\tclients: 3\n", ":2:1: found character '\\t'"),
    "syntax": (b"clients: [1, 2\nrounds: 3\n", ":2:7: expected ',' or ']', but got ':'"),
    "duplicate": (b"clients: 3\nrounds: 2\nclients: 4\n", ":3:1: duplicate key 'clients' (first at line 1)"),
    "nested-duplicate": (b"train:\n  lr: 0.1\n  lr: 0.2\n", ":3:3: duplicate key 'lr'"),
    "key-not-a-string": (b"variants:\n  2024-01-01: {method: fedavg}\n", ":2:3: key datetime.date(2024, 1, 1) is not a string"),
    "nan": (b"variants:\n  x: {method: resfed, ul: {sparsity: .nan}}\n", "'variants.x.ul.sparsity': nan is not a finite number"),
    "inf": (b"train: {lr: .inf}\n", "'train.lr': inf is not a finite number"),
    "minus-inf": (b"datasets:\n  mnist: {target_accuracy: -.inf}\n", "'datasets.mnist.target_accuracy': -inf is not"),
    "empty": (b"", ": empty config file"),
    "comments-only": (b"# nothing here\n", ": empty config file"),
    "list": (b"- clients: 3\n", ": top level must be a mapping of keys, not a list"),
    "scalar": (b"hello\n", ": top level must be a mapping of keys, not a str"),
    "not-utf8": (b"device: cpu\ndata_root: \xff\n", ": byte 23: not UTF-8 text"),
    "nul": (b"device: cpu\x00\n", ": character 11: unacceptable character #x0000"),
    "alias-loop": (b"data_root: &a [*a]\n", ": a YAML alias refers to its own anchor"),
    "unknown-key": (b"clinets: 3\n", "config key '<top level>': Additional properties are not allowed ('clinets'"),
    "method-key": (b"variants:\n  x: {method: fedavg, ul: {sparsity: 0.99, bits: 1}}\n",
                   "config key 'variants.x.ul': not used by method 'fedavg'"),
}


def check_config(*paths: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "resfed.cli", "check-config", *map(str, paths)], capture_output=True, text=True, cwd=REPO
    )


def test_check_config_names_the_file_in_one_line_per_bad_file(tmp_path):
    # Prepare: every malformed file, a missing one and a folder, beside a valid one
    paths = {}
    for name, (content, _) in MALFORMED.items():
        paths[name] = tmp_path / f"{name}.yaml"
        paths[name].write_bytes(content)
    expected = {name: fragment for name, (_, fragment) in MALFORMED.items()}
    paths["missing"], expected["missing"] = tmp_path / "missing.yaml", ": file not found"
    paths["folder"], expected["folder"] = tmp_path / "folder", ": cannot read"
    paths["folder"].mkdir()
    # Execute
    result = check_config(REPO / "config" / "config.yaml", *paths.values())
    # Assert: exit 1, no traceback, the valid file passes, one line per bad file naming it
    assert result.returncode == 1 and "Traceback" not in result.stderr + result.stdout
    assert result.stdout.strip() == f"{REPO / 'config' / 'config.yaml'}: valid"
    lines = result.stderr.strip().splitlines()
    assert len(lines) == len(paths), result.stderr
    for line, name in zip(lines, paths, strict=True):
        assert str(paths[name]) in line and expected[name] in line, (name, line)


def test_merge_keys_may_be_overridden_beside_them(tmp_path):
    path = tmp_path / "anchors.yaml"
    path.write_text("variants:\n  a: {method: resfed, ul: &codec {sparsity: 0.9, bits: 1}}\n"
                    "  b: {method: resfed, ul: {<<: *codec, sparsity: 0.99}}\n")
    variants = load_config(path)["variants"]
    assert variants["a"]["ul"]["sparsity"] == 0.9 and variants["b"]["ul"]["sparsity"] == 0.99


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_validate_refuses_nan_and_inf_wherever_a_number_goes(value):
    with pytest.raises(ConfigError, match=r"config key 'fraction': .* is not a finite number"):
        validate({**MINIMAL, "fraction": value})
    with pytest.raises(ConfigError, match=r"config key 'experiments.e.budget_mb': .* is not a finite number"):
        validate({**MINIMAL, "experiments": {"e": {**MINIMAL["experiments"]["e"], "budget_mb": value}}})


def test_workflow_config_types_nested_overrides_as_yaml():
    # what Snakemake hands over for --config 'train={lr: 0.1, batch_size: 16}' rounds=3 'table1=null'
    overrides = {"train": {"lr": "0.1", "batch_size": "16"}, "rounds": 3, "rounds_after_target": "null",
                 "variants": {"resfed-ul": {"ul": {"sparsity": "0.995"}}}}
    config = workflow_config([TINY], overrides)
    assert config["train"] == {"lr": 0.1, "batch_size": 16, "momentum": 0.9, "local_epochs": 1, "eval_batch_size": 1000}
    assert config["rounds"] == 3 and config["rounds_after_target"] is None
    assert config["variants"]["resfed-ul"]["ul"] == {
        "sparsity": 0.995, "bits": 1, "scope": "tensor", "reconstruction": "median", "coder": "context"}
    assert config["variants"]["resfed-dl"]["ul"] is None  # the rest of the file stands
    with pytest.raises(ConfigError, match="'train.lr': nan is not a finite number"):
        workflow_config([TINY], {"train": {"lr": ".nan"}})


# ------------------------------------------------------------------------- Snakemake


def snakemake_dry_run(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
         "-n", "-p", *args],
        capture_output=True, text=True, cwd=REPO,
    )


def test_snakemake_takes_nested_overrides(tmp_path):
    result = snakemake_dry_run(tmp_path, "--configfile", str(TINY), "--config", "train={lr: 0.1}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.count('"lr": 0.1') == 3  # the three training jobs


@pytest.mark.parametrize(("content", "args", "fragment"), [
    (MALFORMED["duplicate"][0], (), ":3:1: duplicate key 'clients' (first at line 1)"),
    (TINY.read_bytes(), ("--config", "train={lr: .inf}"), "config key 'train.lr': inf is not a finite number"),
], ids=["duplicate-key", "inf-override"])
def test_snakemake_stops_on_a_bad_config_in_one_line(tmp_path, content, args, fragment):
    path = tmp_path / "config.yaml"
    path.write_bytes(content)
    result = snakemake_dry_run(tmp_path, "--configfile", str(path), *args)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr and 'File "' not in result.stderr
    assert fragment in result.stderr, result.stderr[-2000:]


def test_an_empty_file_is_an_error_for_both_tools(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("")
    assert check_config(path).returncode != 0
    assert snakemake_dry_run(tmp_path, "--configfile", str(path)).returncode != 0
