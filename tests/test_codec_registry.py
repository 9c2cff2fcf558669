"""Every registered message codec: its config round-trips, its bytes are committed, and
encoding and decoding are deterministic. A codec gets these by adding an example to
``codec_checks.EXAMPLES``; regenerate the golden files on purpose only, with
``RESFED_REGEN_GOLDEN=1 pytest tests/test_codec_registry.py``.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest
from codec_checks import ALL_EXAMPLES, EXAMPLES, Example

from resfed import state as st
from resfed.codec import MessageError, codec_ids, get_codec

FIXTURES = Path(__file__).parent / "fixtures" / "codec"
REGEN = os.environ.get("RESFED_REGEN_GOLDEN") == "1"


def test_every_registered_codec_has_examples():
    assert sorted(EXAMPLES) == list(codec_ids())


@pytest.mark.parametrize("example", ALL_EXAMPLES, ids=lambda e: f"{e.codec.codec_id}-{e.name}")
def test_config_round_trips_through_json_and_the_registry(example: Example):
    config = json.loads(json.dumps(example.codec.get_config()))
    assert config["id"] == example.codec.codec_id
    assert get_codec(config) == example.codec


@pytest.mark.parametrize("example", ALL_EXAMPLES, ids=lambda e: f"{e.codec.codec_id}-{e.name}")
def test_golden_bytes_and_deterministic_round_trip(example: Example):
    # Execute
    data = example.encode()
    path = FIXTURES / example.codec.codec_id / f"{example.name}.bin"
    if REGEN:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    # Assert: the committed bytes, the same bytes twice, the same payload from both ends
    assert data == path.read_bytes(), f"{path.name}: the encoder's output changed; see the module docstring"
    assert example.encode() == data
    assert _digest(example.decode(data)) == _digest(example.decode(bytearray(data)))


def test_unknown_ids_and_keys_are_refused():
    with pytest.raises(ValueError, match="unknown codec id 'nope'"):
        get_codec({"id": "nope"})
    with pytest.raises(ValueError, match="unknown config keys"):
        get_codec({"id": "sz", "level": 3})


def test_another_methods_message_is_refused():
    example = EXAMPLES["sz"][0]
    other = replace(example, context=replace(example.context, method_id=example.context.method_id + 1))
    with pytest.raises(MessageError, match="expected"):
        other.decode(example.encode())


def _digest(payload) -> str:
    """A digest of any decoded payload (states, counts, coordinate blocks)."""
    if isinstance(payload, dict):
        return st.digest(payload)
    return repr([(_digest(p) if isinstance(p, dict) else repr(p)) for p in payload])
