"""What a method is: an uplink link, a downlink link and FedAvg aggregation.

A direction whose codec is null in the config is sent losslessly as plain float32
weights, exactly like the FedAvg baseline, so Table 1 compresses one direction at a time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from resfed.codec import CodecConfig
from resfed.link import LinkSettings

DL_ANCHORS = ("local", "global")


@dataclass(frozen=True)
class Method:
    """A method as the round loop sees it.

    dl_anchor: which model the downlink transition starts from, known to both ends:
    "global" (the global model the client already holds) or "local" (the client's last
    recovered local model, the literal reading of Algorithm 1 line 31).
    """

    name: str
    method_id: int
    ul: LinkSettings
    dl: LinkSettings
    dl_anchor: str = "global"

    def __post_init__(self) -> None:
        if self.dl_anchor not in DL_ANCHORS:
            raise ValueError(f"dl_anchor must be one of {DL_ANCHORS}, got {self.dl_anchor!r}")


def codec_from_spec(spec: Mapping[str, Any] | None) -> CodecConfig | None:
    """The codec of one direction from the config (None = lossless)."""
    return None if spec is None else CodecConfig.from_dict(dict(spec))


def direction(spec: Mapping[str, Any] | None, **predictor: Any) -> LinkSettings:
    """Link settings for one direction: lossless weights when the codec is null."""
    codec = codec_from_spec(spec)
    if codec is None:
        return LinkSettings()
    return LinkSettings(codec=codec, **predictor)
