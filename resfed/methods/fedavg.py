"""FedAvg (McMahan et al., 2017): full float32 models both ways, the uncompressed baseline."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from resfed.method_ids import METHOD_IDS
from resfed.link import LinkSettings
from resfed.methods.base import Method

METHOD_ID = METHOD_IDS["fedavg"]


def build(spec: Mapping[str, Any]) -> Method:
    return Method(name="fedavg", method_id=METHOD_ID, ul=LinkSettings(), dl=LinkSettings())
