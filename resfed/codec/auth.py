"""Authenticated messages: an HMAC-SHA256 tag on every message, checked before decoding.

CRC32 catches accidents, not an adversary: anyone who can write to a link can recompute
it. With a run key shared by the endpoints, each link (a client and a direction) gets its
own key, ``BLAKE2b(key=run_key, person="resfed link key", data=link id)``, and every
message carries ``HMAC-SHA256(link_key, round (u64) || message)`` truncated to
``TAG_BYTES`` (SHA-256 rather than keyed BLAKE2b: CPUs have SHA instructions, 2-3x faster
on a float32 model, benchmarks/auth.md). The receiver recomputes the tag before any decoder sees a byte: a forged
or altered message, or one replayed onto another link or into another round, fails with
a :class:`MessageError` naming the link and the round.

>>> keys = LinkKeys(bytes(32))
>>> sealed = keys.seal("ul", 3, b"message", round_index=5)
>>> len(sealed) - len(b"message") == TAG_BYTES
True
>>> keys.open("ul", 3, sealed, round_index=5)
b'message'
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass

from .errors import MessageError

TAG_BYTES = 16  # 128-bit tags
KEY_BYTES = 32
MIN_RUN_KEY_BYTES = 16
KEY_ENVIRONMENT = "RESFED_RUN_KEY"  # hex; a fresh random key per run when unset
_ROUND = struct.Struct("<Q")


@dataclass(frozen=True)
class LinkKey:
    """The key of one link and the link's name (for errors)."""

    link: str
    key: bytes


def check_run_key(key: bytes, source: str = "a run key") -> bytes:
    """``key`` if it has a usable length (BLAKE2b takes keys of up to 64 bytes)."""
    if not MIN_RUN_KEY_BYTES <= len(key) <= 64:
        raise ValueError(f"{source} must hold {MIN_RUN_KEY_BYTES} to 64 bytes, got {len(key)}")
    return key


def link_key(run_key: bytes, link: str) -> LinkKey:
    """The key of ``link`` (e.g. "client 3 uplink"), derived from the run key."""
    check_run_key(run_key)
    derived = hashlib.blake2b(link.encode(), key=run_key, person=b"resfed link key", digest_size=KEY_BYTES)
    return LinkKey(link, derived.digest())


def _tag(data: bytes | bytearray | memoryview, key: LinkKey, round_index: int) -> bytes:
    mac = hmac.new(key.key, _ROUND.pack(round_index), hashlib.sha256)
    mac.update(data)
    return mac.digest()[:TAG_BYTES]


def seal(data: bytes, key: LinkKey, round_index: int) -> bytes:
    """``data`` followed by its tag for this link and round."""
    return bytes(data) + _tag(data, key, round_index)


def open_sealed(data: bytes | bytearray | memoryview, key: LinkKey, round_index: int) -> bytes:
    """The message inside a sealed one; MessageError unless its tag is this link's and round's."""
    view = memoryview(data)
    if len(view) < TAG_BYTES:
        raise MessageError(
            f"{key.link}, round {round_index}: {len(view)} bytes cannot hold a {TAG_BYTES}-byte tag", offset=0
        )
    body, tag = view[:-TAG_BYTES], view[-TAG_BYTES:]
    if not hmac.compare_digest(_tag(body, key, round_index), tag):
        raise MessageError(
            f"{key.link}, round {round_index}: authentication tag does not match; the message was forged, "
            "altered, or sent on another link or in another round",
            offset=len(body),
        )
    return bytes(body)


def run_key(environ: Mapping[str, str] = os.environ) -> bytes:
    """The run key: hex in ``$RESFED_RUN_KEY`` (shared by endpoints on several machines), or
    a fresh random key (every endpoint in one process shares it; it is never written)."""
    text = environ.get(KEY_ENVIRONMENT)
    if text is None:
        return os.urandom(KEY_BYTES)
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        raise ValueError(f"${KEY_ENVIRONMENT} must be hex digits") from None
    return check_run_key(key, f"${KEY_ENVIRONMENT}")


class LinkKeys:
    """Every link's key of a run, by direction ("ul"/"dl") and client index."""

    def __init__(self, run_key: bytes) -> None:
        self._run_key = check_run_key(run_key)
        self._keys: dict[tuple[str, int], LinkKey] = {}

    def key(self, direction: str, client: int) -> LinkKey:
        if (direction, client) not in self._keys:
            name = {"ul": "uplink", "dl": "downlink"}[direction]
            self._keys[direction, client] = link_key(self._run_key, f"client {client} {name}")
        return self._keys[direction, client]

    def seal(self, direction: str, client: int, data: bytes, round_index: int) -> bytes:
        return seal(data, self.key(direction, client), round_index)

    def open(self, direction: str, client: int, data: bytes, round_index: int) -> bytes:
        return open_sealed(data, self.key(direction, client), round_index)
