"""Shared checkers of the method contract (`resfed.strategy`), parametrised over the registry.

A method gets every check by registering: `METHODS` lists every registered Strategy, each
with the variant spec below (compressed where the method compresses) or, for a method not
listed, `{"method": name}` with its defaults. Each checker runs a few rounds of the tiny
problem in `federation_helpers` with 3 of 4 clients per round (partial participation).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import resfed.methods  # noqa: F401 - registers every method
from resfed import checkpoint
from resfed.codec import MessageError
from resfed.federation import Federation
from resfed.records import RoundRecord
from resfed.snapshots import ValueSnapshots, flat_values
from resfed.strategy import REGISTRY
from codec_checks import check_hostile_bytes
from federation_helpers import make_federation

COMPRESSED = {"sparsity": 0.99, "bits": 1}
SPECS = {
    "fedavg": {"method": "fedavg"},
    "weights": {"method": "weights", "ul": COMPRESSED, "dl": COMPRESSED},
    "gradients": {"method": "gradients", "error_feedback": True, "ul": COMPRESSED, "dl": COMPRESSED},
    "resfed": {"method": "resfed", "order": 2, "ul": COMPRESSED, "dl": COMPRESSED},
    "fedsz": {"method": "fedsz", "fedsz": {"directions": ["ul", "dl"]}},
    "fedpm": {"method": "fedpm"},
    "igc": {"method": "igc", "igc": {"dimension": 64, "subspace": "k_subspace"}},
}
METHODS = sorted(REGISTRY)
FRACTION = 0.75
IDENTITY = {"spec_hash": "h", "data_checksum": "d", "partition_hash": "p"}


def spec_of(method: str) -> dict:
    return SPECS.get(method, {"method": method})


def federation(method: str) -> Federation:
    return make_federation(spec_of(method), fraction=FRACTION)


@functools.lru_cache(maxsize=None)
def reference(method: str) -> tuple[RoundRecord, ...]:
    """Three rounds of `method`, run once per test session and shared by the checks."""
    return tuple(federation(method).run(3))


def comparable(records: list[RoundRecord]) -> list[dict]:
    """Records without their wall time, the one field that may differ between equal runs."""
    return [{k: v for k, v in dataclasses.asdict(r).items() if k != "wall_seconds"} for r in records]


def captured_messages(method: str, rounds: int = 2) -> tuple[Federation, dict[str, tuple[int, bytes]]]:
    """A federation after `rounds - 1` rounds, and the (client, bytes) of one uplink and one
    downlink message of round `rounds`, which its endpoints have not received yet."""
    fed = federation(method)
    fed.run(rounds - 1)
    before = copy.deepcopy(fed)
    seen: dict[str, tuple[int, bytes]] = {}
    receive, downlink = fed.server.receive, fed.server.downlink

    def receive_and_keep(client: int, data: bytes, round_index: int) -> None:
        seen.setdefault("ul", (client, data))
        receive(client, data, round_index)

    def downlink_and_keep(client: int, round_index: int) -> bytes:
        data = downlink(client, round_index)
        seen.setdefault("dl", (client, data))
        return data

    fed.server.receive, fed.server.downlink = receive_and_keep, downlink_and_keep
    fed.run_round(rounds)
    return before, seen


def check_both_directions_exchange_real_bytes(method: str) -> None:
    for record in reference(method):
        assert sum(1 for b in record.ul_bytes if b) == round(FRACTION * 4), record
        assert sum(1 for b in record.dl_bytes if b) == round(FRACTION * 4), record
        assert all(b > 16 for b in record.ul_bytes + record.dl_bytes if b)


def check_digests_agree_every_transfer(method: str) -> None:
    for r in reference(method):
        assert r.sync_ok and len(r.ul_digest_sender) == 32 and len(r.dl_digest_sender) == 32
        assert (r.ul_digest_sender, r.dl_digest_sender) == (r.ul_digest_receiver, r.dl_digest_receiver)


def check_hostile_messages_raise_only_message_error(method: str, count: int = 40) -> None:
    before, seen = captured_messages(method)
    receivers: dict[str, Callable[[Federation, bytes, int], None]] = {
        "ul": lambda fed, data, i: fed.server.receive(i, data, 2),
        "dl": lambda fed, data, i: fed.clients[i].downlink(data, 2),
    }
    for direction, (client, data) in seen.items():
        def receive(bad: bytes, direction: str = direction, client: int = client) -> None:
            receivers[direction](copy.deepcopy(before), bad, client)

        try:
            check_hostile_bytes(receive, data, count, seed=len(data))
        except AssertionError as error:
            pytest.fail(f"{method} {direction}: {error}")


def check_same_seed_same_records(method: str) -> None:
    assert comparable(federation(method).run(3)) == comparable(list(reference(method)))


def check_resume_is_exact(method: str, tmp_path: Path) -> None:
    first = federation(method)
    checkpoint.save(tmp_path / "state.pt", first, first.run(2), IDENTITY)
    second = federation(method)
    done = checkpoint.load(tmp_path / "state.pt", second, IDENTITY)
    assert comparable(second.run(3, done=done)) == comparable(list(reference(method)))


def check_value_snapshots_record_held_models(method: str, tmp_path: Path) -> None:
    fed = federation(method)
    client = fed.clients[0]
    snapshots = ValueSnapshots([1, 2], tmp_path, start=client.model())
    starts = []
    for t in (1, 2):
        starts.append(flat_values(client.model()))
        fed.run_round(t)
        snapshots.observe(fed, t)
    for t, start in zip((1, 2), starts):
        saved = np.load(tmp_path / f"round{t:04d}.npz")
        np.testing.assert_array_equal(saved["weights"], flat_values(fed.server.model()) if t == 2 else saved["weights"])
        update = saved["gradients"]
        assert np.abs(update).max() > 0, f"{method}: round {t}'s update snapshot is all zeros"
    np.testing.assert_array_equal(saved["gradients"], flat_values(client.sent_model()) - starts[1])
