"""Configuration: one JSON schema (resfed/schema.yaml) for Snakemake and the CLI.

The schema fills defaults and rejects unknown keys; cross-references (an experiment naming
a variant that does not exist), NaN and Inf are checked here because JSON schema cannot
express them. Config files are read strictly (resfed/strict_yaml.py) by both tools.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from resfed.overrides import apply_overrides
from resfed.partition_scheme import parse_scheme, scheme_slug
from resfed.strict_yaml import YAMLFileError, load_yaml_file, scalar_value

SCHEMA_PATH = Path(str(resources.files("resfed") / "schema.yaml"))


class ConfigError(ValueError):
    """A configuration value is missing, misspelt or out of range; the message names the key."""


def load_schema() -> dict[str, Any]:
    with open(SCHEMA_PATH, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def _fill_defaults(validator_class: type) -> type:
    """Extend a validator so that `default:` values are written into the instance."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):  # noqa: ANN001 - jsonschema hook
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if "default" in subschema and name not in instance:
                    instance[name] = copy.deepcopy(subschema["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


_DefaultingValidator = _fill_defaults(jsonschema.Draft202012Validator)


def method_keys(schema: Mapping[str, Any], method: str) -> list[str]:
    """The keys a variant of `method` may have: the common ones and its branch's (empty if unknown)."""
    variant = schema["$defs"]["variant"]
    branches = [b["then"] for b in variant["allOf"] if b["if"]["properties"]["method"]["const"] == method]
    if not branches:
        return []
    return sorted({*variant["properties"], *(key for b in branches for key in _property_names(schema, b))})


def _property_names(schema: Mapping[str, Any], subschema: Mapping[str, Any]) -> set[str]:
    names = set(subschema.get("properties", {}))
    if "$ref" in subschema:
        names |= _property_names(schema, _resolve(schema, subschema["$ref"]))
    return names


def _resolve(schema: Mapping[str, Any], ref: str) -> Mapping[str, Any]:
    node: Any = schema
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def _unused_keys(error: jsonschema.ValidationError, schema: Mapping[str, Any]) -> list[str]:
    """Messages for a variant's keys that its method does not take (none when the method
    itself is missing or unknown, or the keys failed their own checks: reported elsewhere)."""
    variant, path = error.instance, _path(error)
    allowed = method_keys(schema, variant.get("method")) if isinstance(variant.get("method"), str) else []
    if not allowed:
        return []
    return [
        f"config key '{path}.{key}': not used by method {variant['method']!r} (its keys: {', '.join(allowed)})"
        for key in variant
        if key not in allowed
    ]


def _path(error: jsonschema.ValidationError) -> str:
    return ".".join(str(part) for part in error.absolute_path) or "<top level>"


def _describe(error: jsonschema.ValidationError) -> str:
    path = _path(error)
    message = error.message
    if error.validator == "enum":
        allowed = ", ".join(repr(v) for v in error.validator_value)
        message = f"{error.instance!r} is not allowed; allowed values: {allowed}"
    elif error.validator == "additionalProperties" and isinstance(error.schema, dict):
        known = ", ".join(sorted(error.schema.get("properties", {})))
        message = f"{error.message}; known keys: {known}"
    return f"config key '{path}': {message}"


def validate(config: Mapping[str, Any]) -> dict[str, Any]:
    """Return a validated deep copy of `config` with defaults filled in.

    Raises ConfigError naming the offending key (all problems at once, most specific first).
    """
    resolved = copy.deepcopy(dict(config))
    not_finite = [f"config key '{path}': {value} is not a finite number" for path, value in _non_finite(resolved)]
    if not_finite:
        raise ConfigError("\n".join(not_finite))
    schema = load_schema()
    errors = sorted(
        _DefaultingValidator(schema).iter_errors(resolved), key=lambda e: [str(p) for p in e.absolute_path]
    )
    messages = [
        message
        for error in errors
        for message in (
            _unused_keys(error, schema)
            if error.validator == "unevaluatedProperties"
            else [_describe(leaf) for leaf in _leaf_errors(error)]
        )
    ]
    if messages:
        raise ConfigError("\n".join(dict.fromkeys(messages)))
    _check_references(resolved)
    return resolved


def _non_finite(value: Any, path: str = "") -> Iterator[tuple[str, float]]:
    """(key path, value) of every NaN or Inf: JSON-schema bounds are false for NaN, true for Inf."""
    if isinstance(value, float) and not math.isfinite(value):
        yield path or "<top level>", value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _non_finite(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _non_finite(item, f"{path}.{index}" if path else str(index))


def _leaf_errors(error: jsonschema.ValidationError) -> list[jsonschema.ValidationError]:
    if error.context:
        return [jsonschema.exceptions.best_match(error.context)]
    return [error]


def _check_references(config: dict[str, Any]) -> None:
    problems = []
    for name, experiment in config["experiments"].items():
        for index, partition in enumerate(experiment["partitions"]):
            try:
                parse_scheme(partition)
            except ValueError as error:
                problems.append(f"config key 'experiments.{name}.partitions.{index}': {error}")
        for dataset in experiment["datasets"]:
            if dataset not in config["datasets"]:
                problems.append(
                    f"config key 'experiments.{name}.datasets': {dataset!r} is not defined in "
                    f"'datasets' (defined: {', '.join(config['datasets']) or 'none'})"
                )
        baseline = experiment.get("summary_baseline")
        if baseline is not None and baseline not in experiment["variants"]:
            problems.append(
                f"config key 'experiments.{name}.summary_baseline': {baseline!r} is not one of the "
                f"experiment's variants ({', '.join(experiment['variants'])})"
            )
        for variant in experiment["variants"]:
            if variant not in config["variants"]:
                problems.append(
                    f"config key 'experiments.{name}.variants': {variant!r} is not defined in "
                    f"'variants' (defined: {', '.join(config['variants']) or 'none'})"
                )
    table1 = config.get("table1")
    if table1:
        experiment = config["experiments"].get(table1.get("experiment", ""))
        if experiment is None:
            problems.append(
                f"config key 'table1.experiment': {table1.get('experiment')!r} is not an experiment "
                f"(defined: {', '.join(config['experiments']) or 'none'})"
            )
        else:
            for role in ("baseline", "ul", "dl"):
                if table1[role] not in experiment["variants"]:
                    problems.append(
                        f"config key 'table1.{role}': variant {table1[role]!r} is not in experiment "
                        f"{table1['experiment']!r}"
                    )
    if problems:
        raise ConfigError("\n".join(problems))


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The mapping in a YAML config file, unvalidated; ConfigError naming the file (and the
    line and column of a syntax error, a repeated key or a key that is not a string)."""
    try:
        raw = load_yaml_file(path)
    except YAMLFileError as error:
        raise ConfigError(str(error)) from None
    if raw is None:
        raise ConfigError(f"{path}: empty config file")
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: top level must be a mapping of keys, not a {type(raw).__name__}")
    return raw


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """Read a YAML config file strictly, apply `key=value` overrides (resfed.overrides) and validate
    it; every error names the file."""
    try:
        return validate(apply_overrides(read_config_file(path), overrides))
    except ConfigError as error:
        prefix = f"{path}: "
        raise ConfigError("\n".join(
            line if line.startswith(str(path)) else prefix + line for line in str(error).splitlines()
        )) from None


def workflow_config(configfiles: Sequence[str | Path], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The config a Snakemake run uses: its config files read as `load_config` reads them,
    merged in order, then its `--config` overrides, validated.

    Snakemake reads a nested override (`--config 'train={lr: 0.1}'`) with YAML's base loader,
    which leaves every value a string; each is read again as the YAML value it spells.
    """
    merged: dict[str, Any] = {}
    for path in configfiles:
        _merge(merged, read_config_file(path))
    return validate(_merge(merged, _typed(overrides)))


def _typed(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _typed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_typed(item) for item in value]
    return scalar_value(value) if isinstance(value, str) else value


def _merge(base: dict[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """Update `base` in place, key by key into nested mappings (as Snakemake merges configs)."""
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = copy.deepcopy(dict(value) if isinstance(value, Mapping) else value)
    return base


def run_spec(
    config: Mapping[str, Any], dataset: str, partition: str, variant: str, seed: int
) -> dict[str, Any]:
    """Everything one training run depends on, and nothing else (hashed into run.json)."""
    if dataset not in config["datasets"]:
        raise ConfigError(f"dataset {dataset!r} is not defined in 'datasets'")
    if variant not in config["variants"]:
        raise ConfigError(f"variant {variant!r} is not defined in 'variants'")
    variant_spec = config["variants"][variant]
    return {
        "dataset": dataset,
        "partition": _partition_slug(partition),
        "variant": variant,
        "seed": int(seed),
        "method": config["variants"][variant]["method"],
        # the legend label shapes no result: changing it must not move or rerun a run
        "variant_spec": {k: copy.deepcopy(v) for k, v in variant_spec.items() if k != "label"},
        "dataset_spec": copy.deepcopy(config["datasets"][dataset]),
        "train": {**copy.deepcopy(config["train"]), **variant_spec.get("train", {})},
        **{
            key: config[key]
            for key in (
                "device",
                "threads",
                "clients",
                "fraction",
                "standardize",
                "send_initial_model",
                "checkpoint_every",
                "batched",
                "target_on",
            )
        },
        # only when set, so that the specs (and run directories) of other runs keep their hash
        **({"authenticate": True} if config.get("authenticate") else {}),
        # a variant may run longer than the rest (figures need fixed rounds, Table 1 stops at target)
        "rounds": variant_spec.get("rounds", config["rounds"]),
        "rounds_after_target": variant_spec.get("rounds_after_target", config["rounds_after_target"]),
    }


def _partition_slug(partition: str) -> str:
    try:
        return scheme_slug(partition)
    except ValueError as error:
        raise ConfigError(str(error)) from None


def spec_hash(spec: Mapping[str, Any]) -> str:
    """Stable short hash of a run spec (canonical JSON)."""
    canonical = json.dumps(spec, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]
