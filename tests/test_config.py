"""Config validation: defaults, clear errors naming the key and allowed values, references."""

from pathlib import Path

import pytest
import yaml

from resfed.config import ConfigError, load_config, load_schema, method_keys, run_spec, spec_hash, validate

MINIMAL = {
    "datasets": {"fmnist": {}},
    "variants": {"baseline": {"method": "fedavg"}},
    "experiments": {"e": {"datasets": ["fmnist"], "partitions": ["iid"], "variants": ["baseline"]}},
}


def test_defaults_are_filled():
    config = validate(MINIMAL)
    assert config["clients"] == 10 and config["train"]["lr"] == 0.01
    assert config["datasets"]["fmnist"] == {
        "model": "lenet5", "target_accuracy": 0.85, "subsample": None, "test_subsample": None,
    }
    assert config["experiments"]["e"]["seeds"] == [0]
    assert config["variants"]["baseline"] == {"method": "fedavg"}  # fedavg takes no keys of its own
    resfed = validate(_variant_config({"method": "resfed"}))["variants"]["baseline"]
    assert resfed["order"] == 1 and resfed["dl_anchor"] == "global"


def test_embedded_default_config_is_valid():
    config = load_config("config/config.yaml")
    assert config["table1"]["experiment"] in config["experiments"]


SHIPPED_CONFIGS = sorted(
    p for p in (Path(__file__).resolve().parent.parent / "config").glob("*.yaml") if p.name != "schema.yaml"
)


@pytest.mark.parametrize("path", SHIPPED_CONFIGS, ids=lambda p: p.name)
def test_every_shipped_config_is_valid(path):
    config = load_config(path)
    assert config["experiments"]


@pytest.mark.parametrize(
    ("patch", "expected"),
    [
        ({"device": "tpu"}, "config key 'device': 'tpu' is not allowed; allowed values: 'auto', 'cpu', 'cuda'"),
        ({"clients": "ten"}, "config key 'clients'"),
        ({"clinets": 3}, "'clinets' was unexpected"),
        ({"variants": {"x": {"method": "fedsgd"}}}, "config key 'variants.x.method': 'fedsgd' is not allowed"),
        ({"variants": {"x": {"method": "resfed", "ul": {"sparsity": 1.5}}}}, "config key 'variants.x.ul.sparsity'"),
        ({"variants": {"x": {"method": "resfed", "ul": {"bits": 4}}}}, "allowed values: 1, 32"),
        ({"datasets": {"imagenet": {}}}, "config key 'datasets': 'imagenet' is not allowed; allowed values: 'mnist', 'fmnist'"),
    ],
)
def test_errors_name_the_key(patch, expected):
    with pytest.raises(ConfigError) as error:
        validate({**MINIMAL, **patch})
    assert expected in str(error.value)


def test_undefined_variant_in_experiment():
    bad = {**MINIMAL, "experiments": {"e": {"datasets": ["fmnist"], "partitions": ["iid"], "variants": ["nope"]}}}
    with pytest.raises(ConfigError, match="experiments.e.variants.*'nope' is not defined"):
        validate(bad)


def test_table1_roles_must_be_in_its_experiment():
    bad = {**MINIMAL, "table1": {"experiment": "e", "ul": "resfed-ul"}}
    with pytest.raises(ConfigError, match="table1.ul"):
        validate(bad)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")


def test_run_spec_is_stable_and_specific(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(MINIMAL))
    config = load_config(path)
    spec = run_spec(config, "fmnist", "classes:5", "baseline", 3)
    assert spec["partition"] == "classes-5" and spec["seed"] == 3 and spec["method"] == "fedavg"
    assert spec_hash(spec) == spec_hash(run_spec(config, "fmnist", "classes-5", "baseline", 3))
    assert spec_hash(spec) != spec_hash(run_spec(config, "fmnist", "classes-5", "baseline", 4))


def test_a_variant_overrides_some_training_keys_for_itself_only():
    config = validate({**MINIMAL, "variants": {"baseline": {"method": "fedavg"},
                                               "slow": {"method": "fedavg", "train": {"lr": 0.001}}}})
    slow = run_spec(config, "fmnist", "iid", "slow", 0)["train"]
    assert slow["lr"] == 0.001 and slow["momentum"] == 0.9 and slow["batch_size"] == 64
    assert run_spec(config, "fmnist", "iid", "baseline", 0)["train"]["lr"] == 0.01
    with pytest.raises(ConfigError, match="variants.slow.train"):
        validate({**MINIMAL, "variants": {"slow": {"method": "fedavg", "train": {"lr": -1}}}})


def test_summary_baseline_must_be_a_variant_of_the_experiment():
    bad = {**MINIMAL, "experiments": {"e": {"datasets": ["fmnist"], "partitions": ["iid"],
                                            "variants": ["baseline"], "summary_baseline": "fedavg"}}}
    with pytest.raises(ConfigError, match="experiments.e.summary_baseline"):
        validate(bad)


# ------------------------------------------------------------------ keys per method

METHOD_KEYS = {
    "fedavg": set(),
    "weights": {"ul", "dl", "buffers", "error_feedback"},
    "gradients": {"ul", "dl", "buffers", "error_feedback"},
    "resfed": {"order", "formula", "warmup", "trajectory", "ul", "dl", "buffers", "error_feedback", "dl_anchor"},
    "fedsz": {"fedsz"},
    "fedpm": {"fedpm"},
    "igc": {"igc"},
    "qsgd": {"qsgd"},
}
COMMON_KEYS = {"method", "label", "rounds", "train", "value_snapshots", "rounds_after_target"}
SAMPLE_VALUES = {"ul": {"sparsity": 0.99, "bits": 1}, "dl": None, "buffers": "coded", "error_feedback": True, "order": 1,
                 "formula": "literal", "warmup": "full", "trajectory": "anchor", "dl_anchor": "local", "fedsz": {}, "fedpm": {}, "igc": {}, "qsgd": {}}


def _variant_config(variant):
    return {**MINIMAL, "variants": {"baseline": variant}}


def test_every_registered_method_has_a_schema_branch():
    import resfed.methods  # noqa: F401 - registers every method
    from resfed.strategy import REGISTRY

    schema = load_schema()
    assert set(schema["$defs"]["variant"]["properties"]["method"]["enum"]) == set(REGISTRY)
    for method, own in METHOD_KEYS.items():
        assert set(method_keys(schema, method)) == COMMON_KEYS | own, method


@pytest.mark.parametrize(("method", "key"), [
    (method, key) for method, own in METHOD_KEYS.items() for key in sorted(set(SAMPLE_VALUES) - own)
])
def test_a_key_the_method_does_not_use_is_an_error(method, key):
    with pytest.raises(ConfigError) as error:
        validate(_variant_config({"method": method, key: SAMPLE_VALUES[key]}))
    assert f"config key 'variants.baseline.{key}': not used by method {method!r}" in str(error.value)


@pytest.mark.parametrize("method", sorted(METHOD_KEYS))
def test_each_method_takes_its_own_keys(method):
    variant = {"method": method, **{key: SAMPLE_VALUES[key] for key in METHOD_KEYS[method]}}
    resolved = validate(_variant_config(variant))["variants"]["baseline"]
    assert set(resolved) <= COMMON_KEYS | METHOD_KEYS[method]


def test_snakemakes_own_validation_branches_on_the_method_too():
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate as snakemake_validate

    schema = str(Path(__file__).resolve().parent.parent / "config" / "schema.yaml")
    good = validate(_variant_config({"method": "resfed", "ul": {"sparsity": 0.9}}))
    snakemake_validate(good, schema, set_default=False)
    bad = validate(MINIMAL)
    bad["variants"]["baseline"]["ul"] = {"sparsity": 0.99, "bits": 1, "scope": "tensor", "reconstruction": "median"}
    with pytest.raises(WorkflowError):
        snakemake_validate(bad, schema, set_default=False)
