"""ResFed (Song et al.): residuals to shared predictions (Eq. 8), deep-compressed, both ways."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from resfed.method_ids import METHOD_IDS
from resfed.methods.links import DL_ANCHORS, LinkStrategy, link_settings
from resfed.strategy import RunContext, register


@register
class ResFed(LinkStrategy):
    name = "resfed"
    method_id = METHOD_IDS["resfed"]

    def __init__(self, variant: Mapping[str, Any], context: RunContext) -> None:
        super().__init__(variant, context)
        predictor = {
            "predictor": "trajectory",
            "order": int(variant.get("order", 1)),
            "formula": variant.get("formula", "extrapolation"),
            "warmup": variant.get("warmup", "full"),
            "trajectory": variant.get("trajectory", "recovered"),
        }
        self.ul = link_settings(variant, "ul", **predictor)
        self.dl = link_settings(variant, "dl", **predictor)
        self.dl_anchor = variant.get("dl_anchor", "global")
        if self.dl_anchor not in DL_ANCHORS:
            raise ValueError(f"dl_anchor must be one of {DL_ANCHORS}, got {self.dl_anchor!r}")
