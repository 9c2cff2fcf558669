"""Compression of the round update w - w_start (Fig. 3's "gradients"), error feedback optional.

Without error feedback this is mathematically ResFed's Res-0 (the stationary predictor):
the update *is* the stationary residual. Error feedback (Seide et al., 2014; Karimireddy
et al., 2019) adds the sender's accumulated compression error to the next update, which
ResFed's synchronised trajectories do not do.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from resfed.method_ids import METHOD_IDS
from resfed.methods.links import LinkStrategy, link_settings
from resfed.strategy import RunContext, register


@register
class Gradients(LinkStrategy):
    name = "gradients"
    method_id = METHOD_IDS["gradients"]

    def __init__(self, variant: Mapping[str, Any], context: RunContext) -> None:
        super().__init__(variant, context)
        feedback = bool(variant.get("error_feedback", False))
        self.ul = link_settings(variant, "ul", predictor="trajectory", order=0, error_feedback=feedback)
        self.dl = link_settings(variant, "dl", predictor="trajectory", order=0, error_feedback=feedback)
