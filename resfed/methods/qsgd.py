"""QSGD (Alistarh et al., "QSGD: Communication-Efficient SGD via Gradient Quantization and
Encoding", NeurIPS 2017): each client sends its round update w - w_start stochastically
quantised to `levels` levels per sign with the tensor's L2 norm (`resfed.codec.QSGDCodec`);
the server sends the new global model losslessly, as in the paper."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from resfed.codec import QSGDCodec
from resfed.link import LinkSettings
from resfed.method_ids import METHOD_IDS
from resfed.methods.links import LinkStrategy
from resfed.strategy import RunContext, register


@register
class QSGD(LinkStrategy):
    name = "qsgd"
    method_id = METHOD_IDS["qsgd"]

    def __init__(self, variant: Mapping[str, Any], context: RunContext) -> None:
        super().__init__(variant, context)
        self.ul = LinkSettings(predictor="trajectory", order=0)  # the residual is the round update
        self.ul_codec = QSGDCodec(**(variant.get("qsgd") or {}))
