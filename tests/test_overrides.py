"""key=value overrides: nested keys, YAML values, clear errors; the same parser for CLI and pipeline."""

import pytest

from resfed.config import ConfigError, load_config
from resfed.overrides import OverrideError, apply_overrides, parse_override
from pathlib import Path

TINY = Path(__file__).resolve().parent / "configs" / "tiny.yaml"


def test_values_are_yaml_and_keys_nest():
    assert parse_override("train.lr=0.1") == ("train.lr", 0.1)
    assert parse_override("rounds_after_target=null") == ("rounds_after_target", None)
    assert parse_override("device=cpu") == ("device", "cpu")
    assert parse_override("seeds=[0, 1]") == ("seeds", [0, 1])
    config = {"train": {"lr": 0.01, "batch_size": 32}, "variants": {"v": {"ul": {"sparsity": 0.9}}}}
    changed = apply_overrides(config, ["train.lr=0.1", "variants.v.ul.sparsity=0.995", "variants.w.method=fedavg"])
    assert changed == {"train": {"lr": 0.1, "batch_size": 32},
                       "variants": {"v": {"ul": {"sparsity": 0.995}}, "w": {"method": "fedavg"}}}
    assert config["train"]["lr"] == 0.01  # the input is not touched


@pytest.mark.parametrize("text, message", [
    ("train.lr", "write it as key=value"), ("=1", "write it as key=value"), ("train..lr=1", "write it as key=value"),
    ("train.lr=", "no value"), ("train.lr=[1", "not YAML"), ("rounds.x=1", "'rounds' is 3, not a mapping"),
])
def test_bad_overrides_name_themselves(text, message):
    with pytest.raises(OverrideError, match=message.replace("[", r"\[")):
        apply_overrides({"rounds": 3}, [text])


def test_load_config_applies_overrides_before_validation():
    config = load_config(TINY, ["train.lr=0.1", "variants.resfed-ul.ul.sparsity=0.995"])
    assert config["train"]["lr"] == 0.1 and config["variants"]["resfed-ul"]["ul"]["sparsity"] == 0.995
    with pytest.raises(ConfigError, match="train"):
        load_config(TINY, ["train.lr=fast"])

