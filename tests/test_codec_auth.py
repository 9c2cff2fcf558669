"""Authenticated messages: a sealed message opens only on its link, in its round, with its key."""

import dataclasses

import pandas as pd
import pytest
from codec_checks import ALL_EXAMPLES, Example
from federation_helpers import make_federation

from resfed.codec import MessageError
from resfed.codec.auth import TAG_BYTES, LinkKeys, link_key, open_sealed, run_key, seal
from resfed.config import run_spec, validate
from resfed.data import partition_prepared, prepare
from resfed.run import run_training

RUN_KEY = bytes(range(32))
KEYS = LinkKeys(RUN_KEY)
MESSAGE = b"RFMX" + bytes(range(60))


def test_a_sealed_message_opens_to_itself_with_a_tag_of_tag_bytes():
    sealed = KEYS.seal("ul", 2, MESSAGE, round_index=7)
    assert len(sealed) == len(MESSAGE) + TAG_BYTES
    assert KEYS.open("ul", 2, sealed, round_index=7) == MESSAGE


@pytest.mark.parametrize(
    "direction, client, round_index, keys",
    [
        ("dl", 2, 7, KEYS),  # replayed onto the other direction
        ("ul", 3, 7, KEYS),  # onto another client's link
        ("ul", 2, 8, KEYS),  # into a later round
        ("ul", 2, 7, LinkKeys(bytes(32))),  # another run's key
    ],
)
def test_replayed_or_wrongly_keyed_messages_are_refused_naming_link_and_round(direction, client, round_index, keys):
    sealed = KEYS.seal("ul", 2, MESSAGE, round_index=7)
    link = "uplink" if direction == "ul" else "downlink"
    with pytest.raises(MessageError, match=f"client {client} {link}, round {round_index}: authentication tag"):
        keys.open(direction, client, sealed, round_index=round_index)


def test_every_altered_bit_is_refused():
    sealed = KEYS.seal("dl", 0, MESSAGE, round_index=1)
    for bit in range(8 * len(sealed)):
        altered = bytearray(sealed)
        altered[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(MessageError, match="authentication tag"):
            KEYS.open("dl", 0, bytes(altered), round_index=1)


def test_forged_truncated_and_extended_messages_are_refused():
    sealed = KEYS.seal("ul", 1, MESSAGE, round_index=4)
    forged = MESSAGE + bytes(TAG_BYTES)
    for data in (forged, sealed[:-1], sealed + b"\x00", b"X" + sealed[1:], sealed[:TAG_BYTES]):
        with pytest.raises(MessageError, match="client 1 uplink, round 4"):
            KEYS.open("ul", 1, data, round_index=4)
    with pytest.raises(MessageError, match="cannot hold"):
        KEYS.open("ul", 1, sealed[: TAG_BYTES - 1], round_index=4)


@pytest.mark.parametrize("example", ALL_EXAMPLES[::3], ids=lambda e: f"{e.codec.codec_id}-{e.name}")
def test_every_format_decodes_after_opening(example: Example):
    key = link_key(RUN_KEY, "client 0 uplink")
    data = example.encode()
    opened = open_sealed(seal(data, key, round_index=3), key, round_index=3)
    assert opened == data and example.decode(opened) is not None


def test_link_keys_differ_per_link_and_run_keys_are_checked():
    assert len({KEYS.key(d, c).key for d in ("ul", "dl") for c in range(50)}) == 100
    with pytest.raises(ValueError, match="16 to 64 bytes"):
        LinkKeys(b"short")
    assert run_key({"RESFED_RUN_KEY": "ab" * 16}) == b"\xab" * 16
    assert run_key({}) != run_key({})  # a fresh random key per run
    with pytest.raises(ValueError, match="hex"):
        run_key({"RESFED_RUN_KEY": "not hex"})
    with pytest.raises(ValueError, match=r"\$RESFED_RUN_KEY must hold 16 to 64 bytes"):
        run_key({"RESFED_RUN_KEY": "ab"})


class Tampering(LinkKeys):
    """Keys whose downlink to client 1 is altered on the way (after the tag is computed)."""

    def seal(self, direction: str, client: int, data: bytes, round_index: int) -> bytes:
        sealed = super().seal(direction, client, data, round_index)
        if (direction, client) == ("dl", 1):
            return sealed[:20] + bytes([sealed[20] ^ 1]) + sealed[21:]
        return sealed


@pytest.mark.parametrize("variant", [{"method": "resfed", "ul": {"sparsity": 0.99, "bits": 1}}, {"method": "fedpm"}])
def test_an_authenticated_run_counts_the_tags_and_learns_the_same(variant):
    # Execute
    plain = make_federation(variant, send_initial_model=True).run(2)
    sealed = make_federation(variant, send_initial_model=True, link_keys=LinkKeys(RUN_KEY)).run(2)
    # Assert: every message 16 bytes larger (the initial model too), nothing else changes
    for a, b in zip(plain, sealed):
        assert [x + TAG_BYTES if x else 0 for x in a.ul_bytes] == b.ul_bytes
        extra = 2 * TAG_BYTES if a.round == 1 else TAG_BYTES
        assert [x + extra if x else 0 for x in a.dl_bytes] == b.dl_bytes
        same = {k: v for k, v in dataclasses.asdict(a).items() if k not in ("ul_bytes", "dl_bytes", "wall_seconds")}
        assert same == {k: v for k, v in dataclasses.asdict(b).items() if k in same}


def test_an_altered_message_stops_the_round_naming_link_and_round():
    federation = make_federation({"method": "fedavg"}, link_keys=Tampering(RUN_KEY))
    with pytest.raises(MessageError, match="client 1 downlink, round 1: authentication tag does not match"):
        federation.run_round(1)


def test_the_config_key_reaches_the_run_spec_only_when_set():
    config = validate({"authenticate": True})
    assert run_spec(config, "fmnist", "iid", "baseline", 0)["authenticate"] is True
    assert "authenticate" not in run_spec(validate({}), "fmnist", "iid", "baseline", 0)


def test_resfed_train_seals_every_message_when_the_config_says_so(tmp_path):
    # Prepare: one round of a tiny run, with and without authentication
    data, partition = tmp_path / "mnist.npz", tmp_path / "iid.json"
    prepare("mnist", data, root=tmp_path / "none")
    partition_prepared(data, partition, "iid", 2, 0, subsample=100)
    config = {
        "device": "cpu", "clients": 2, "rounds": 1, "rounds_after_target": None, "checkpoint_every": 0,
        "datasets": {"mnist": {"model": "lenet5", "subsample": 100, "test_subsample": 50}},
        "variants": {"res": {"method": "resfed", "ul": {"sparsity": 0.99, "bits": 1}}},
    }
    rows = {}
    for authenticate in (False, True):
        spec = run_spec(validate({**config, "authenticate": authenticate}), "mnist", "iid", "res", 0)
        # Execute
        out = run_training(spec, data, partition, tmp_path / f"auth{authenticate}", progress=False)
        rows[authenticate] = pd.read_csv(out / "rounds.csv").iloc[0]
    # Assert: every uplink and downlink message 16 bytes larger, the same model
    for column in ("ul_bytes_client0", "ul_bytes_client1", "dl_bytes_client0", "dl_bytes_client1"):
        assert rows[True][column] == rows[False][column] + TAG_BYTES
    assert rows[True]["test_accuracy"] == rows[False]["test_accuracy"]
