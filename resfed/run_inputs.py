"""A training run's inputs checked against each other before any training starts.

A spec that lacks a key, a partition made for another scheme or client count, or a spec
file that is not there each stop with one line naming the file and the fix, instead of a
KeyError deep in training or a run.json that records the wrong partition.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from resfed.data import PartitionError, PartitionFile, parse_scheme

SPEC_KEYS = (
    "dataset", "partition", "variant", "seed", "method", "variant_spec", "dataset_spec", "train", "device",
    "threads", "clients", "fraction", "standardize", "send_initial_model", "checkpoint_every", "batched",
    "rounds", "rounds_after_target",
)
DATASET_SPEC_KEYS = ("model", "target_accuracy")
MAKE_SPEC = "make one with `resfed spec --configfile CONFIG --dataset D --partition P --variant V`"


class SpecError(ValueError):
    """A run spec is missing, not JSON, or lacks keys training needs."""


def load_spec(text_or_path: str) -> dict[str, Any]:
    """A run spec given inline as JSON (starts with '{') or as a path to a JSON file; checked."""
    inline = text_or_path.lstrip().startswith("{")
    where = "--spec" if inline else f"spec file {text_or_path}"
    if inline:
        text = text_or_path
    else:
        try:
            text = Path(text_or_path).read_text()
        except FileNotFoundError:
            raise SpecError(f"{where} not found; {MAKE_SPEC}") from None
        except OSError as error:
            raise SpecError(f"{where}: cannot read it ({error})") from None
    try:
        spec = json.loads(text)
    except ValueError as error:
        raise SpecError(f"{where}: not valid JSON ({error}); {MAKE_SPEC}") from None
    check_spec(spec, where)
    return spec


def check_spec(spec: Any, where: str = "run spec") -> None:  # noqa: ANN401 - any parsed JSON
    if not isinstance(spec, dict):
        raise SpecError(f"{where}: a run spec is a JSON object; {MAKE_SPEC}")
    missing = [k for k in SPEC_KEYS if k not in spec]
    dataset_spec = spec.get("dataset_spec")
    if isinstance(dataset_spec, dict):
        missing += [f"dataset_spec.{k}" for k in DATASET_SPEC_KEYS if k not in dataset_spec]
    if missing:
        raise SpecError(f"{where} lacks {', '.join(missing)}; {MAKE_SPEC}")


def check_partition(spec: Mapping[str, Any], partition: PartitionFile, path: str | Path) -> None:
    """The partition file must split the data the way the spec says (scheme and client count)."""
    scheme = partition.scheme
    wanted = parse_scheme(spec["partition"])
    if scheme != wanted:
        raise PartitionError(f"{path}: a {scheme.spec} partition, but the run spec asks for {wanted.spec}; "
                             "pass the partition file made for that scheme")
    if len(partition.clients) != spec["clients"]:
        raise PartitionError(f"{path}: {len(partition.clients)} clients, but the run spec asks for "
                             f"{spec['clients']}; pass the partition file made for that count")
