"""Methods behind one interface: `build_method(variant_spec) -> Method`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from resfed.methods import fedavg, gradients, resfed, weights
from resfed.methods.base import Method

BUILDERS: dict[str, Callable[[Mapping[str, Any]], Method]] = {
    "fedavg": fedavg.build,
    "weights": weights.build,
    "gradients": gradients.build,
    "resfed": resfed.build,
}


def build_method(spec: Mapping[str, Any]) -> Method:
    """Build the method of a variant spec (`{"method": "resfed", "order": 1, "ul": {...}}`)."""
    name = spec.get("method")
    if name not in BUILDERS:
        raise ValueError(f"unknown method {name!r}; available: {', '.join(BUILDERS)}")
    return BUILDERS[name](spec)


__all__ = ["BUILDERS", "Method", "build_method"]
