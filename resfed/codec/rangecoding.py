"""The range coder (constriction) as every format uses it: models, stream words, checks.

A stream is the encoder's uint32 words, little-endian. Reading one checks that it is
whole words, turns whatever constriction raises on invalid data (an AssertionError,
a ValueError...) into :class:`MessageError`, and at the end checks that no data is left.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import constriction
import numpy as np

from .errors import MessageError

model = constriction.stream.model
P_MIN = 2.0**-20  # probabilities are clipped to [P_MIN, 1 - P_MIN]
BERNOULLI = model.Bernoulli(perfect=False)  # family: one probability per symbol
UNIFORM = model.Uniform()  # family: one alphabet size per symbol
Encoder = constriction.stream.queue.RangeEncoder
Decoder = constriction.stream.queue.RangeDecoder


def bernoulli(p: float) -> model.Bernoulli:
    """One Bernoulli(p) model for a whole run of symbols."""
    return model.Bernoulli(p, perfect=False)


def clipped(p: np.ndarray) -> np.ndarray:
    """Probabilities clipped to [P_MIN, 1 - P_MIN], so that every symbol stays codable."""
    return np.clip(p, P_MIN, 1 - P_MIN)


def stream_bytes(encoder: Encoder) -> bytes:
    """The finished stream of ``encoder``."""
    return encoder.get_compressed().astype("<u4").tobytes()


def stream_decoder(buf: bytes | memoryview) -> Decoder:
    """A decoder of a stream written by :func:`stream_bytes`."""
    if len(buf) % 4:
        raise MessageError(f"range-coded stream of {len(buf)} bytes is not whole 32-bit words")
    return Decoder(np.frombuffer(buf, dtype="<u4").astype(np.uint32))


def check_exhausted(decoder: Decoder) -> None:
    """Every word of the stream was needed: nothing was appended or left over."""
    if not decoder.maybe_exhausted():
        raise MessageError("range-coded stream has data left over after the last symbol")


@contextmanager
def decoding() -> Iterator[None]:
    """Turn constriction's reports of invalid data into MessageError."""
    try:
        yield
    except MessageError:
        raise
    except Exception as error:  # constriction reports invalid data as AssertionError etc.
        raise MessageError(f"range decoder rejected the stream: {type(error).__name__}: {error}") from None
