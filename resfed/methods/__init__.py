"""Every federated method, registered behind one interface (`resfed.strategy.Strategy`).

Importing this package imports every method module, whose `@register` decorator adds it
to `resfed.strategy.REGISTRY`; `build_strategy(variant, context)` then builds the method a
variant config names. A new method is one module here with a registered Strategy (see
`qsgd.py` for a short example) and a line below.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from resfed.methods import fedavg, fedpm, fedsz, gradients, igc, qsgd, residual, weights  # noqa: F401 - they register
from resfed.strategy import REGISTRY, RunContext, Strategy


def strategy_class(name: str) -> type[Strategy]:
    """The registered Strategy called `name`."""
    if name not in REGISTRY:
        raise ValueError(f"unknown method {name!r}; available: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name]


def build_strategy(variant: Mapping[str, Any], context: RunContext) -> Strategy:
    """The method of a variant config (`{"method": "resfed", "order": 1, "ul": {...}}`)."""
    return strategy_class(variant.get("method"))(variant, context)


def builder(variant: Mapping[str, Any]) -> Callable[[RunContext], Strategy]:
    """`build_strategy` bound to a variant config, for `resfed.federation.Federation(build=...)`.
    Checks the method name at once, before any endpoint is built."""
    cls = strategy_class(variant.get("method"))
    return lambda context: cls(variant, context)


__all__ = ["build_strategy", "builder", "strategy_class"]
