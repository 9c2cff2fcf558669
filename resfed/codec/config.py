"""How a message is compressed: one frozen, validated, JSON-able value."""

from __future__ import annotations

import numbers
from dataclasses import asdict, dataclass, fields
from typing import Any

from .coders import CODERS, DEFAULT_CODER

BITS = (1, 32)
SCOPES = ("tensor", "global")
RECONSTRUCTIONS = ("median", "mean", "median_zeroing")


@dataclass(frozen=True)
class CodecConfig:
    """Compression settings of one direction of a link.

    sparsity:
        Fraction of entries dropped; top-k keeps ``ceil((1 - sparsity) * n)`` entries by
        magnitude (``sparsity`` read as the decimal it is written as, so 0.99 of 100
        keeps exactly 1). 0 keeps every nonzero entry; must be below 1.
    bits:
        1: a sign per kept value and two reconstruction values per tensor (paper);
        32: kept values as float32.
    scope:
        "tensor": top-k within each tensor (paper); "global": one threshold over all
        floating-point entries of the state (what the official code does).
    reconstruction:
        Only for ``bits=1``. "median" of the kept magnitudes of each sign (paper),
        "mean", or "median_zeroing": the official code's behaviour, which also drops
        kept values below the median magnitude (an unreported extra ~2x sparsification).
    coder:
        Position and sign coder, see :mod:`resfed.codec.coders`.

    The defaults are the config schema's (resfed/schema.yaml, tied by
    tests/test_config_defaults.py); a lossless config is ``sparsity=0.0, bits=32``.
    """

    sparsity: float = 0.99
    bits: int = 1
    scope: str = "tensor"
    reconstruction: str = "median"
    coder: str = DEFAULT_CODER

    def __post_init__(self) -> None:
        s = self.sparsity
        if isinstance(s, bool) or not isinstance(s, numbers.Real) or not (0.0 <= s < 1.0):
            raise ValueError(f"CodecConfig.sparsity must be a number in [0, 1), got {s!r}")
        if isinstance(self.bits, bool) or self.bits not in BITS:
            raise ValueError(f"CodecConfig.bits must be one of {BITS}, got {self.bits!r}")
        _check_choice("scope", self.scope, SCOPES)
        _check_choice("reconstruction", self.reconstruction, RECONSTRUCTIONS)
        _check_choice("coder", self.coder, tuple(CODERS))
        object.__setattr__(self, "sparsity", float(s))  # plain types: to_dict() is JSON-able
        object.__setattr__(self, "bits", int(self.bits))

    @property
    def lossless(self) -> bool:
        """Float32 payload, bit-exact: how plain FedAvg is sent."""
        return self.sparsity == 0.0 and self.bits == 32

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CodecConfig:
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"CodecConfig: unknown keys {sorted(unknown)}")
        return cls(**data)


def _check_choice(name: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"CodecConfig.{name} must be one of {allowed}, got {value!r}")
