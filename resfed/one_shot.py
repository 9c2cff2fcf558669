"""`resfed run`: one variant and seed of a config, end to end, without Snakemake.

Prepares the dataset (once, shared like the pipeline's), partitions it into the run's own
directory and trains there. The default directory names the config, the run and the hash
of its resolved spec, so two different override sets never share a directory and the same
command finds its own run again (to resume after Ctrl-C, or to refuse to replace it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from resfed.config import ConfigError, load_config, run_spec, spec_hash
from resfed.partition_scheme import scheme_slug

DEFAULT_ROOT = Path("results/one-shot")
DEFAULT_DATA = Path("results/data")


def default_partition(config: Mapping[str, Any], dataset: str, variant: str) -> str:
    """The first partition of an experiment that runs this dataset and variant; else iid."""
    for experiment in config.get("experiments", {}).values():
        if dataset in experiment.get("datasets", ()) and variant in experiment.get("variants", ()):
            return experiment["partitions"][0]
    return "iid"


def choose(config: Mapping[str, Any], dataset: str | None, partition: str | None, variant: str | None,
           seed: int) -> dict[str, Any]:
    """The run spec of the chosen (or first-listed) dataset and variant."""
    dataset = dataset or next(iter(config["datasets"]), None)
    variant = variant or next(iter(config["variants"]), None)
    if dataset is None or variant is None:
        raise ConfigError("the config defines no dataset or no variant to run")
    return run_spec(config, dataset, partition or default_partition(config, dataset, variant), variant, seed)


def default_out(configfile: str | Path, spec: Mapping[str, Any]) -> Path:
    name = f"seed{spec['seed']}-{spec_hash(spec)[:8]}"
    return DEFAULT_ROOT / Path(configfile).stem / spec["dataset"] / spec["partition"] / spec["variant"] / name


def run_one(
    configfile: str | Path, overrides: Sequence[str] = (), *, dataset: str | None = None,
    partition: str | None = None, variant: str | None = None, seed: int = 0, out: str | Path | None = None,
    data_dir: str | Path = DEFAULT_DATA, force: bool = False, progress: bool = True,
    tensorboard: str | Path | None = None,
) -> Path:
    """Prepare, partition and train one run; returns its directory."""
    from resfed.data import partition_prepared, prepare
    from resfed.run import claim_run_dir, run_training

    config = load_config(configfile, overrides)
    spec = choose(config, dataset, partition, variant, seed)
    out_dir = Path(out) if out else default_out(configfile, spec)
    claim_run_dir(out_dir, force)  # before any work: a finished run is not redone by accident
    data = Path(data_dir) / f"{spec['dataset']}.npz"
    if not data.exists():
        prepare(spec["dataset"], data, root=config["data_root"])
    partition_file = out_dir / f"partition-{scheme_slug(spec['partition'])}.json"
    partition_prepared(data, partition_file, spec["partition"], spec["clients"], spec["seed"],
                       subsample=spec["dataset_spec"].get("subsample"))
    return run_training(spec, data, partition_file, out_dir, progress=progress, tensorboard=tensorboard)
