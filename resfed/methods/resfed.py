"""ResFed (Song et al.): residuals to shared predictions (Eq. 8), deep-compressed, both ways."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from resfed.method_ids import METHOD_IDS
from resfed.methods.base import Method, direction

METHOD_ID = METHOD_IDS["resfed"]


def build(spec: Mapping[str, Any]) -> Method:
    predictor = {
        "predictor": "trajectory",
        "order": int(spec.get("order", 1)),
        "formula": spec.get("formula", "extrapolation"),
        "warmup": spec.get("warmup", "full"),
    }
    return Method(
        name="resfed",
        method_id=METHOD_ID,
        ul=direction(spec.get("ul"), **predictor),
        dl=direction(spec.get("dl"), **predictor),
        dl_anchor=spec.get("dl_anchor", "global"),
    )
