"""What run.json and the run spec record, and packaging facts a reviewer checks."""

import re
import tomllib
from dataclasses import fields
from importlib import metadata
from pathlib import Path

from resfed import log
from resfed.codec.coders import DEFAULT_CODER
from resfed.codec.config import CodecConfig
from resfed.config import load_config, run_spec, spec_hash

REPO = Path(__file__).resolve().parent.parent
TINY = REPO / "tests" / "configs" / "tiny.yaml"


def test_provenance_has_the_dirty_flag_and_every_result_shaping_version():
    facts = log.provenance("cpu")
    assert isinstance(facts["git_dirty"], bool) and re.fullmatch(r"[0-9a-f]{40}", facts["git_commit"])
    versions = facts["package_versions"]
    assert set(versions) == {"torch", "numpy", "constriction", "pysz", "zstandard", "python"}
    for name in log.RESULT_PACKAGES:
        assert versions[name] == metadata.version(name)


def test_the_spec_names_every_codec_setting_so_the_hash_covers_the_default_coder():
    spec = run_spec(load_config(TINY), "mnist", "iid", "resfed-ul", 0)
    codec = spec["variant_spec"]["ul"]
    assert set(codec) == {f.name for f in fields(CodecConfig)} and codec["coder"] == DEFAULT_CODER
    other = run_spec(load_config(TINY, ["variants.resfed-ul.ul.coder=golomb"]), "mnist", "iid", "resfed-ul", 0)
    assert spec_hash(other) != spec_hash(spec)


def test_the_minimum_snakemake_is_the_first_with_subpath_in_both_places():
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    pins = [d for d in pyproject["project"]["dependencies"] if d.startswith("snakemake")]
    assert pins == ["snakemake>=8.26"]
    assert 'min_version("8.26")' in (REPO / "Snakefile").read_text()


def test_environment_yml_has_the_pyproject_pins_and_the_slurm_plugin():
    environment = (REPO / "environment.yml").read_text()
    for dependency in tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]:
        assert f'"{dependency}"' in environment, dependency
    assert "snakemake-executor-plugin-slurm" in environment


def test_readme_lists_every_subcommand_and_the_cpu_torch_install():
    from resfed.cli import build_parser

    readme = (REPO / "README.md").read_text()
    commands = next(a for a in build_parser()._actions if a.dest == "command").choices
    listed = readme.split("`resfed --help` lists the subcommands:")[1].split(";")[0]
    assert set(re.findall(r"`([a-z0-9-]+)`", listed)) == set(commands)
    assert "pip install torch --index-url https://download.pytorch.org/whl/cpu" in readme
