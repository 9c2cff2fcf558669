"""Compression of the round update w - w_start (Fig. 3's "gradients"), error feedback optional.

Without error feedback this is mathematically ResFed's Res-0 (the stationary predictor):
the update *is* the stationary residual. Error feedback (Seide et al., 2014; Karimireddy
et al., 2019) adds the sender's accumulated compression error to the next update (the `error_feedback`
key of every link method; ResFed's synchronised trajectories do not need it, but may use it).
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
        self.ul = link_settings(variant, "ul", predictor="trajectory", order=0)
        self.dl = link_settings(variant, "dl", predictor="trajectory", order=0)
