"""Checkpoints of a running federation, so that a killed job resumes where it stopped.

A checkpoint holds everything the rounds after it depend on: the global model, each
client's held global and last local model, every link end's trajectory, transfer count,
error-feedback memory and last digest, the server's view of each client, the next round's
participants, the participant selector's RNG state, torch's global CPU RNG state and the round
records so far. Nothing else carries over between rounds: the optimiser starts fresh each
round (FedAvg: no momentum across rounds) and each client's batch order is drawn from
`client_generator(seed, client, round)`, so neither needs saving; the global torch RNG is
used by none of the current methods after the model is built, and is saved anyway so a
method that draws from it still resumes exactly.

Both ends of a link hold bit-identical states (checked by digest every round), and a
lossless downlink gives every client the same global model, so each distinct state is
stored once, keyed by its digest.

A checkpoint records the run it belongs to (spec hash, data checksum, partition hash);
resuming a different run from it is refused with a CheckpointMismatch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from resfed import state as st
from resfed.atomic import atomic_open
from resfed.config import spec_hash
from resfed.federation import Federation, RoundRecord
from resfed.link import LinkEnd

FORMAT = 1


class CheckpointMismatch(RuntimeError):
    """The checkpoint on disk was written by a different run (spec, data or partition)."""


class _Pool:
    """Distinct states by digest: identical copies are saved once and restored as clones."""

    def __init__(self, states: dict[str, st.State] | None = None) -> None:
        self.states: dict[str, st.State] = states or {}

    def put(self, state: st.State) -> str:
        key = st.digest(state)
        self.states.setdefault(key, state)
        return key

    def get(self, key: str) -> st.State:
        return st.clone(self.states[key])


def _end_state(end: LinkEnd, pool: _Pool) -> dict[str, Any]:
    return {
        "history": [pool.put(update) for update in end.history],
        "transfers": end.transfers,
        "error": None if end.error is None else pool.put(end.error),
        "last_digest": end.last_digest,
    }


def _restore_end(end: LinkEnd, saved: Mapping[str, Any], pool: _Pool) -> None:
    end.history.clear()
    end.history.extend(pool.get(key) for key in saved["history"])
    end.transfers = saved["transfers"]
    end.error = None if saved["error"] is None else pool.get(saved["error"])
    end.last_digest = saved["last_digest"]


def save(path: str | Path, federation: Federation, records: list[RoundRecord], identity: Mapping[str, str]) -> None:
    """Write the federation's state after `records` (atomically: a kill leaves the previous checkpoint)."""
    pool = _Pool()
    server = federation.server
    payload = {
        "format": FORMAT,
        "identity": dict(identity),
        "records": [dataclasses.asdict(r) for r in records],
        "global": pool.put(server.global_state),
        "clients": [
            {
                "held_global": pool.put(c.held_global),
                "last_local": pool.put(c.last_local),
                "ul_sender": _end_state(c.ul_sender, pool),
                "dl_receiver": _end_state(c.dl_receiver, pool),
            }
            for c in federation.clients
        ],
        "server": {
            "client_global": [pool.put(s) for s in server.client_global],
            "client_local": [pool.put(s) for s in server.client_local],
            "ul_receivers": [_end_state(e, pool) for e in server.ul_receivers],
            "dl_senders": [_end_state(e, pool) for e in server.dl_senders],
        },
        "participants": list(federation.participants),
        "selector": federation._selector.bit_generator.state,
        "torch_rng": torch.get_rng_state(),
        "states": pool.states,
    }
    with atomic_open(path) as handle:
        torch.save(payload, handle)


def load(path: str | Path, federation: Federation, identity: Mapping[str, str]) -> list[RoundRecord]:
    """Restore `federation` from the checkpoint at `path`; returns the records of the rounds it holds."""
    device = federation.server.global_state[next(iter(federation.server.global_state))].device
    payload = torch.load(path, map_location=device, weights_only=True)
    if payload.get("format") != FORMAT:
        raise CheckpointMismatch(f"checkpoint {path}: format {payload.get('format')!r}, expected {FORMAT}")
    differing = [
        f"{key} {payload['identity'].get(key)} (this run: {value})"
        for key, value in identity.items()
        if payload["identity"].get(key) != value
    ]
    if differing:
        raise CheckpointMismatch(
            f"checkpoint {path} belongs to a different run: {'; '.join(differing)}. "
            f"Delete it to start this run from round 1."
        )
    pool = _Pool(payload["states"])
    server = federation.server
    server.global_state = pool.get(payload["global"])
    for client, saved in zip(federation.clients, payload["clients"], strict=True):
        client.held_global = pool.get(saved["held_global"])
        client.last_local = pool.get(saved["last_local"])
        _restore_end(client.ul_sender, saved["ul_sender"], pool)
        _restore_end(client.dl_receiver, saved["dl_receiver"], pool)
    saved_server = payload["server"]
    server.client_global = [pool.get(key) for key in saved_server["client_global"]]
    server.client_local = [pool.get(key) for key in saved_server["client_local"]]
    for end, saved in zip(server.ul_receivers, saved_server["ul_receivers"], strict=True):
        _restore_end(end, saved, pool)
    for end, saved in zip(server.dl_senders, saved_server["dl_senders"], strict=True):
        _restore_end(end, saved, pool)
    federation.participants = list(payload["participants"])
    federation._selector.bit_generator.state = payload["selector"]
    torch.set_rng_state(payload["torch_rng"].cpu())
    return [RoundRecord(**r) for r in payload["records"]]


def run_identity(spec: Mapping[str, Any], data_checksum: str, partition_hash: str) -> dict[str, str]:
    """What a checkpoint must match to be resumed: the run spec (less how often to checkpoint), data, partition."""
    relevant = {key: value for key, value in spec.items() if key != "checkpoint_every"}
    return {"spec_hash": spec_hash(relevant), "data_checksum": data_checksum, "partition_hash": partition_hash}
