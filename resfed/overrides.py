"""`key=value` changes to a config without editing it: `train.lr=0.1`, `variants.resfed-ul.ul.sparsity=0.995`.

Keys are paths of mapping keys joined by dots; values are YAML (`0.1` a number, `null`
none, `[0, 1]` a list, `cpu` a string). The result is validated like any config, so a
misspelt key is reported by the schema with its path. `resfed run` uses it through
`resfed.config.load_config(path, overrides)`. (Snakemake's `--config` refuses dotted keys,
so the pipeline takes nested overrides in its own YAML form, see config/README.md.)
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

import yaml


class OverrideError(ValueError):
    """An override is not `key=value`, or its key path runs through a value that is not a mapping."""


def parse_override(text: str) -> tuple[str, Any]:
    """`'train.lr=0.1'` -> `('train.lr', 0.1)`."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise OverrideError(f"override {text!r}: write it as key=value, nested keys joined by dots (train.lr=0.1)")
    if not value.strip():
        raise OverrideError(f"override {text!r}: no value (write {key}=null for none)")
    try:
        return key, yaml.safe_load(value)
    except yaml.YAMLError as error:
        raise OverrideError(f"override {text!r}: the value is not YAML ({error})") from None


def set_nested(config: dict[str, Any], key: str, value: Any) -> None:  # noqa: ANN401 - any config value
    """Set `config[a][b][c] = value` for `key='a.b.c'`, creating missing mappings on the way."""
    *parents, leaf = key.split(".")
    node = config
    for depth, part in enumerate(parents):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            where = ".".join(parents[: depth + 1])
            raise OverrideError(f"override {key}: config key '{where}' is {child!r}, not a mapping")
        node = child
    node[leaf] = copy.deepcopy(value)


def apply_overrides(config: Mapping[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """A deep copy of `config` with every `key=value` of `overrides` applied, in order."""
    result = copy.deepcopy(dict(config))
    for text in overrides:
        set_nested(result, *parse_override(text))
    return result

