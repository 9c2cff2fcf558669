"""Hostile bytes for every registered message codec: only MessageError, never a crash.

Each format's examples (``codec_checks.EXAMPLES``) get truncations, trailing bytes, bit
flips, random bytes and, behind a recomputed CRC, bit flips and byte changes that reach
the inner decoders. A new codec gets this by registering and adding an example.
"""

from __future__ import annotations

import pytest
from codec_checks import ALL_EXAMPLES, Example, check_hostile_bytes

CASES_PER_FORMAT = 2000  # mutations per codec id in the default suite, split over its examples
SLOW_CASES_PER_FORMAT = 60_000


def _count(example: Example, total: int) -> int:
    """Mutation rounds (each makes ~3 cases) for one example of its format."""
    examples = sum(1 for e in ALL_EXAMPLES if e.codec.codec_id == example.codec.codec_id)
    return max(1, total // (3 * examples))


def _ids(example: Example) -> str:
    return f"{example.codec.codec_id}-{example.name}"


@pytest.mark.parametrize("example", ALL_EXAMPLES, ids=_ids)
def test_hostile_bytes_raise_only_message_error(example: Example):
    check_hostile_bytes(example.decode, example.encode(), _count(example, CASES_PER_FORMAT), seed=1)


@pytest.mark.slow
@pytest.mark.parametrize("example", ALL_EXAMPLES, ids=_ids)
def test_many_hostile_bytes_raise_only_message_error(example: Example):
    check_hostile_bytes(example.decode, example.encode(), _count(example, SLOW_CASES_PER_FORMAT), seed=2)
