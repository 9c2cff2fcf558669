"""FedAvg (McMahan et al., 2017): full float32 models both ways, the uncompressed baseline."""

from __future__ import annotations

from resfed.method_ids import METHOD_IDS
from resfed.methods.links import LinkStrategy
from resfed.strategy import register


@register
class FedAvg(LinkStrategy):
    name = "fedavg"
    method_id = METHOD_IDS["fedavg"]
