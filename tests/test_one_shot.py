"""`resfed run CONFIG key=value...` end to end as a user runs it, plus --version and help texts."""

import json

import pandas as pd

import resfed
from cli_helpers import TINY, assert_one_clean_line
from cli_helpers import resfed as resfed_cli
from resfed.cli import build_parser


def test_run_one_variant_with_nested_overrides_into_its_own_directory(tmp_path):
    args = ["run", TINY, "rounds=1", "train.lr=0.05", "variants.resfed-ul.ul.sparsity=0.995",
            "--variant", "resfed-ul", "--quiet"]
    result = resfed_cli(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    out = tmp_path / result.stdout.split("results in ")[1].split(":")[0]
    assert out.is_relative_to(tmp_path / "results/one-shot/tiny/mnist/iid/resfed-ul")
    info = json.loads((out / "run.json").read_text())
    assert info["config"]["train"]["lr"] == 0.05 and info["config"]["rounds"] == 1
    assert info["config"]["variant_spec"]["ul"]["sparsity"] == 0.995
    assert len(pd.read_csv(out / "rounds.csv")) == 1
    # other overrides, another directory; the same command again refuses to redo the finished run
    other = resfed_cli("run", TINY, "rounds=1", "--variant", "resfed-ul", "--quiet", cwd=tmp_path)
    assert other.returncode == 0 and str(out.relative_to(tmp_path)) not in other.stdout
    again = resfed_cli(*args, cwd=tmp_path)
    assert again.returncode == 1
    assert_one_clean_line(again, "finished run", "--force")


def test_version_and_a_help_text_for_every_option():
    version = resfed_cli("--version")
    assert version.stdout.strip() == f"resfed {resfed.__version__}"
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    assert {"run", "train", "summary", "check-data"} <= set(commands)
    for name, sub in commands.items():
        for action in sub._actions:
            assert action.help, f"resfed {name} {'/'.join(action.option_strings) or action.dest} has no help"
