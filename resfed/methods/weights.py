"""Deep compression of the model weights themselves (no prediction): Fig. 3's "weights"."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from resfed.method_ids import METHOD_IDS
from resfed.methods.links import LinkStrategy, link_settings
from resfed.strategy import RunContext, register


@register
class Weights(LinkStrategy):
    name = "weights"
    method_id = METHOD_IDS["weights"]

    def __init__(self, variant: Mapping[str, Any], context: RunContext) -> None:
        super().__init__(variant, context)
        self.ul = link_settings(variant, "ul", predictor="zero")
        self.dl = link_settings(variant, "dl", predictor="zero")
