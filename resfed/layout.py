"""Where the pipeline writes: one results root per config, paths keyed by their parameters.

Two configs run in one checkout must not overwrite each other's results, and neither may a
config run again with one key overridden. So:

- every output lives under the config's results root (``results/<config name>/``,
  the ``results`` key);
- a partition path names what shapes its content besides the scheme and seed (number of
  clients, training subsample);
- a run directory carries a short hash of its run spec without the seed, so runs whose
  specs differ never share a directory, while the seeds of one setting sit side by side.

Tables and figures are derived from the runs within seconds; each root holds those of the
config last run with it. Paths here are relative to the working directory, as Snakemake
sees them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import PurePath
from typing import Any

from resfed.config import run_spec, spec_hash
from resfed.partition_scheme import scheme_slug

__all__ = [
    "DEFAULT_ROOT",
    "RUN_KEY_PATTERN",
    "SPLIT_KEY_PATTERN",
    "partition_file",
    "results_root",
    "run_dir",
    "run_key",
    "split_key",
]

#: Root of the embedded default config.
DEFAULT_ROOT = "results/default"
#: Regular expressions of the two keys, for Snakemake's wildcard constraints.
RUN_KEY_PATTERN = "[0-9a-f]{8}"
SPLIT_KEY_PATTERN = "[0-9]+-clients(-[0-9]+-samples)?"


def results_root(config: Mapping[str, Any], configfiles: Sequence[str] = ()) -> str:
    """The config's ``results`` key, else ``results/<stem of the last config file>``.

    With no config file (the embedded default) the root is :data:`DEFAULT_ROOT`.
    """
    if config.get("results"):
        return str(config["results"]).rstrip("/")
    if configfiles:
        return f"results/{PurePath(configfiles[-1]).stem}"
    return DEFAULT_ROOT


def split_key(config: Mapping[str, Any], dataset: str) -> str:
    """What a partition depends on besides dataset, scheme and seed (``10-clients-3000-samples``)."""
    key = f"{config['clients']}-clients"
    subsample = config["datasets"][dataset].get("subsample")
    return f"{key}-{subsample}-samples" if subsample else key


def partition_file(config: Mapping[str, Any], dataset: str, partition: str, seed: int) -> str:
    """Partition file of (dataset, scheme, seed) under the results root."""
    return (f"{config['results']}/partitions/{dataset}/{scheme_slug(partition)}/"
            f"{split_key(config, dataset)}/seed{seed}.json")


def run_key(spec: Mapping[str, Any]) -> str:
    """Eight hex digits of the hash of a run spec without its seed."""
    return spec_hash({k: v for k, v in spec.items() if k != "seed"})[:8]


def run_dir(config: Mapping[str, Any], dataset: str, partition: str, variant: str, seed: int) -> str:
    """``<root>/runs/<dataset>/<partition>/<method>/<variant>/<run key>/seed<k>``."""
    spec = run_spec(config, dataset, partition, variant, seed)
    return (f"{config['results']}/runs/{dataset}/{spec['partition']}/{spec['method']}/{variant}/"
            f"{run_key(spec)}/seed{seed}")
