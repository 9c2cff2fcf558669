"""What every Flower node builds from the run config: the run spec, its data, its method.

The run config (`flwr run --run-config`) names the run spec (JSON, as `resfed spec`
prints it) and the prepared data and partition files; a SuperNode's node config may
override the two paths (its own copy of the data) and names its `partition-id`. Every node
builds the model from the spec's seed, so every endpoint starts from the same initial
global model without sending it.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

import torch
from flwr.app import Context

from resfed.federation import run_context
from resfed.methods import build_strategy
from resfed.run import LoadedRun, load_run
from resfed.strategy import Strategy

PATH_KEYS = ("data-path", "partition-path")


@dataclass(frozen=True)
class RunSetup:
    spec: dict[str, Any]
    loaded: LoadedRun
    strategy: Strategy

    @property
    def seed(self) -> int:
        return int(self.spec["seed"])


def _text(config: Any, key: str, where: str) -> str:
    value = config.get(key, "")
    if not isinstance(value, str) or not value:
        raise ValueError(f"{where} key {key!r} must be a non-empty string (got {value!r})")
    return value


def run_setup(context: Context) -> RunSetup:
    """The spec, data and method of this run (built once per process)."""
    spec_text = _text(context.run_config, "run-spec", "run config")
    paths = [
        _text(context.node_config, key, "node config") if key in context.node_config
        else _text(context.run_config, key, "run config")
        for key in PATH_KEYS
    ]
    return _setup(spec_text, *paths)


@functools.lru_cache(maxsize=2)
def _setup(spec_text: str, data_path: str, partition_path: str) -> RunSetup:
    try:
        spec = json.loads(spec_text)
    except json.JSONDecodeError as error:
        raise ValueError(f"run config key 'run-spec' is not JSON: {error}") from None
    torch.set_num_threads(int(spec["threads"]))
    loaded = load_run(spec, data_path, partition_path)
    context = run_context(loaded.model, loaded.settings, int(spec["seed"]), len(loaded.client_data))
    return RunSetup(spec, loaded, build_strategy(spec["variant_spec"], context))


def partition_id(context: Context, n_clients: int) -> int:
    """This SuperNode's client index (node config `partition-id`)."""
    value = context.node_config.get("partition-id")
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < n_clients:
        raise ValueError(f"node config 'partition-id' must be an integer in [0, {n_clients}), got {value!r}")
    return value
