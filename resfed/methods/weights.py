"""Deep compression of the model weights themselves (no prediction): Fig. 3's "weights"."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from resfed.method_ids import METHOD_IDS
from resfed.methods.base import Method, direction

METHOD_ID = METHOD_IDS["weights"]


def build(spec: Mapping[str, Any]) -> Method:
    return Method(
        name="weights",
        method_id=METHOD_ID,
        ul=direction(spec.get("ul"), predictor="zero"),
        dl=direction(spec.get("dl"), predictor="zero"),
    )
