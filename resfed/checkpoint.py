"""Checkpoints of a running federation, so that a killed job resumes where it stopped.

A checkpoint holds `Federation.state_dict()` (every endpoint's `state_dict()`, the next
round's participants, the participant selector's and torch's global RNG states) and the
round records so far. Nothing else carries over between rounds: the optimiser starts
fresh each round (FedAvg: no momentum across rounds) and each client's batch order is
drawn from `client_generator(seed, client, round)`.

Both ends of a link hold bit-identical states and a lossless downlink gives every client
the same global model, so every model state (a mapping of names to tensors) is stored
once, keyed by its digest. On load every stored state is hashed again and compared with
its key, so a damaged checkpoint (one flipped bit in any model) is refused instead of
resumed; so is one written by a different run (spec, data or partition) or by other
code or library versions (the package's source digest, torch, numpy...), or a file that
cannot be read at all. Each error names the file and how to start the run afresh.
"""

from __future__ import annotations

import dataclasses
import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from resfed import state as st
from resfed.atomic import atomic_open
from resfed.config import spec_hash
from resfed.log import code_digest, package_versions
from resfed.federation import Federation
from resfed.records import RoundRecord

FORMAT = 2
_STATE = "__state__"  # marks a model state replaced by its digest


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be resumed: unreadable, damaged, or from a different run."""


class CheckpointMismatch(CheckpointError):
    """The checkpoint on disk was written by a different run (spec, data or partition)."""


def _is_state(value: Any) -> bool:
    return isinstance(value, dict) and bool(value) and all(isinstance(v, torch.Tensor) for v in value.values())


def _pooled(value: Any, pool: dict[str, st.State]) -> Any:
    """`value` with every model state replaced by {_STATE: digest}, the states going to `pool`."""
    if _is_state(value):
        key = st.digest(value)
        pool.setdefault(key, value)
        return {_STATE: key}
    if isinstance(value, dict):
        return {k: _pooled(v, pool) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_pooled(v, pool) for v in value]
    return value


def _unpooled(value: Any, pool: Mapping[str, st.State]) -> Any:
    if isinstance(value, dict) and set(value) == {_STATE}:
        return st.clone(pool[value[_STATE]])
    if isinstance(value, dict):
        return {k: _unpooled(v, pool) for k, v in value.items()}
    if isinstance(value, list):
        return [_unpooled(v, pool) for v in value]
    return value


def save(path: str | Path, federation: Federation, records: list[RoundRecord], identity: Mapping[str, str]) -> None:
    """Write the federation's state after `records` (atomically: a kill leaves the previous checkpoint)."""
    pool: dict[str, st.State] = {}
    payload = {
        "format": FORMAT,
        "identity": dict(identity),
        "records": [dataclasses.asdict(r) for r in records],
        "federation": _pooled(federation.state_dict(), pool),
        "states": pool,
    }
    with atomic_open(path) as handle:
        torch.save(payload, handle)


def _afresh(path: Path) -> str:
    return f"Delete {path.parent} to start this run from round 1."


def _read(path: Path, device: torch.device) -> dict[str, Any]:
    try:
        payload = torch.load(path, map_location=device, weights_only=True)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise CheckpointError(f"checkpoint {path} cannot be read ({reason}). {_afresh(path)}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(f"checkpoint {path}: format {found!r}, this version reads {FORMAT}. {_afresh(path)}")
    return payload


def load(path: str | Path, federation: Federation, identity: Mapping[str, str]) -> list[RoundRecord]:
    """Restore `federation` from the checkpoint at `path`; returns the records of the rounds it holds."""
    path = Path(path)
    initial = federation.strategy.context.initial
    payload = _read(path, initial[next(iter(initial))].device)
    saved_identity = payload.get("identity", {})
    differing = [
        f"{key} {saved_identity.get(key)} (this run: {value})"
        for key, value in identity.items()
        if saved_identity.get(key) != value
    ]
    if differing:
        raise CheckpointMismatch(
            f"checkpoint {path} belongs to a different run: {'; '.join(differing)}. {_afresh(path)}"
        )
    try:
        states = payload["states"]
        for key, state in states.items():
            if st.digest(state) != key:
                raise CheckpointError(
                    f"checkpoint {path} is damaged: a stored model no longer matches its digest {key}. {_afresh(path)}"
                )
        federation.load_state_dict(_unpooled(payload["federation"], states))
        return [RoundRecord(**r) for r in payload["records"]]
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise CheckpointError(f"checkpoint {path} is incomplete ({type(error).__name__}: {error}). {_afresh(path)}") from None


def run_identity(spec: Mapping[str, Any], data_checksum: str, partition_hash: str) -> dict[str, str]:
    """What a checkpoint must match to be resumed: the run spec (less how often to checkpoint),
    data, partition, and the code and library versions that compute the rounds (a run
    resumed under other code would mix two programs' rounds in one rounds.csv)."""
    relevant = {key: value for key, value in spec.items() if key != "checkpoint_every"}
    versions = package_versions()
    return {
        "spec_hash": spec_hash(relevant),
        "data_checksum": data_checksum,
        "partition_hash": partition_hash,
        "code_digest": code_digest(),
        "libraries": ", ".join(f"{name} {versions[name]}" for name in sorted(versions)),
    }
