"""Results paths: one root per config, partitions and run directories keyed by their parameters."""

import copy
from pathlib import Path

import pytest

from resfed import layout
from resfed.config import load_config

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def config():
    config = load_config(REPO / "tests/configs/tiny.yaml")
    config["results"] = layout.results_root(config, ["tests/configs/tiny.yaml"])
    return config


def test_the_root_is_the_key_or_the_config_file_name():
    assert layout.results_root({"results": "/scratch/x/"}, ["a.yaml"]) == "/scratch/x"
    assert layout.results_root({"results": None}, ["config/compare.yaml"]) == "results/compare"
    assert layout.results_root({"results": None}, []) == layout.DEFAULT_ROOT == "results/default"
    assert load_config(REPO / "config/config.yaml")["results"] == "results/default"


def test_seeds_of_one_setting_share_a_run_key(config):
    a = layout.run_dir(config, "mnist", "iid", "resfed-ul", 0)
    b = layout.run_dir(config, "mnist", "iid", "resfed-ul", 3)
    assert a.startswith("results/tiny/runs/mnist/iid/resfed/resfed-ul/") and a.endswith("/seed0")
    assert a.removesuffix("/seed0") == b.removesuffix("/seed3")


@pytest.mark.parametrize("change", [
    lambda c: c.update(rounds=3),
    lambda c: c["train"].update(lr=0.02),
    lambda c: c["variants"]["resfed-ul"]["ul"].update(sparsity=0.9),
    lambda c: c["datasets"]["mnist"].update(test_subsample=100),
    lambda c: c.update(device="cuda"),
])
def test_any_change_to_a_run_spec_moves_its_directory(config, change):
    other = copy.deepcopy(config)
    change(other)
    assert layout.run_dir(config, "mnist", "iid", "resfed-ul", 0) != layout.run_dir(other, "mnist", "iid", "resfed-ul", 0)


def test_partition_paths_name_clients_and_subsample(config):
    assert layout.partition_file(config, "mnist", "classes:2", 1) == \
        "results/tiny/partitions/mnist/classes-2/4-clients-2000-samples/seed1.json"
    config["datasets"]["mnist"]["subsample"] = None
    config["clients"] = 10
    assert layout.split_key(config, "mnist") == "10-clients"


def test_a_legend_label_is_not_part_of_the_run(config):
    other = copy.deepcopy(config)
    other["variants"]["resfed-ul"]["label"] = "another name"
    assert layout.run_dir(config, "mnist", "iid", "resfed-ul", 0) == layout.run_dir(other, "mnist", "iid", "resfed-ul", 0)
