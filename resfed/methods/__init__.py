"""Methods behind one interface.

`build_method(variant_spec) -> Method` describes a link-based method (a codec and predictor
per direction, FedAvg aggregation); `build_federation(...)` returns the object that runs
its rounds. Methods whose messages are not model states (e.g. masks, subspace
coordinates) register their own round loop in FEDERATIONS: anything with
`run(max_rounds, target_accuracy, rounds_after_target, on_round) -> list[RoundRecord]`.
"""

from __future__ import annotations

import importlib
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


def build_federation(spec: Mapping[str, Any], **kwargs: Any) -> Any:
    """The round loop for a variant spec; kwargs are those of `resfed.federation.Federation`."""
    name = spec.get("method")
    if name in FEDERATIONS:
        return FEDERATIONS[name](spec, **kwargs)
    from resfed.federation import Federation

    return Federation(method=build_method(spec), **kwargs)


def _imported_on_use(module: str) -> Callable[..., Any]:
    """`resfed.methods.<module>.build_federation`, imported when first called: those modules
    subclass Federation, and resfed.federation imports this package."""

    def build(spec: Mapping[str, Any], **kwargs: Any) -> Any:
        return importlib.import_module(f"resfed.methods.{module}").build_federation(spec, **kwargs)

    return build


# method name -> callable(variant_spec, **Federation kwargs) for methods with their own round loop
FEDERATIONS: dict[str, Callable[..., Any]] = {name: _imported_on_use(name) for name in ("fedsz", "fedpm", "igc")}

__all__ = ["BUILDERS", "FEDERATIONS", "Method", "build_federation", "build_method"]
