"""Methods whose messages are model states sent over links: fedavg, weights, gradients,
resfed, fedsz and qsgd.

Each client has two links (uplink, downlink), and each link a sender end and a receiver
end (`resfed.link.LinkEnd`) that share a predictor and the trajectory of recovered models.
A method of this family only says how each direction predicts and codes (`LinkSettings`,
or its own link end) and where the downlink transition starts (`dl_anchor`); local
training is plain SGD and aggregation is FedAvg (McMahan et al., 2017) of the recovered
local models, weighted by sample counts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields
from typing import Any

from torch import nn

from resfed import state as st
from resfed.codec import CodecConfig, MessageCodec, UniformCodec
from resfed.link import LinkEnd, LinkSettings
from resfed.strategy import Client, RunContext, Server, Strategy

DL_ANCHORS = ("local", "global")
STAGES = {"topk": CodecConfig, "uniform": UniformCodec}  # a direction's lossy stage: its settings' class


def _stage_keys(codec_config: Mapping[str, Any], stage: str) -> dict[str, Any]:
    """The keys of `codec_config` that `stage` takes (a config names every stage's keys)."""
    unknown = set(codec_config) - {"stage"} - {f.name for cls in STAGES.values() for f in fields(cls)}
    if unknown:
        raise ValueError(f"codec config: unknown keys {sorted(unknown)}")
    names = {f.name for f in fields(STAGES[stage])}
    return {key: value for key, value in codec_config.items() if key in names}


def _stage(codec_config: Mapping[str, Any] | None) -> str:
    stage = "topk" if codec_config is None else codec_config.get("stage", "topk")
    if stage not in STAGES:
        raise ValueError(f"codec stage must be one of {sorted(STAGES)}, got {stage!r}")
    return stage


def link_settings(variant: Mapping[str, Any], direction: str, **predictor: Any) -> LinkSettings:
    """Link settings of one direction from a variant config: lossless weights when its codec
    is null; else its codec, the variant's `buffers` and `error_feedback` choices and the
    method's predictor."""
    codec_config = variant.get(direction)
    if codec_config is None:
        return LinkSettings()
    codec = CodecConfig.from_dict(_stage_keys(codec_config, "topk"))
    feedback = bool(variant.get("error_feedback", False))
    return LinkSettings(codec=codec, buffers=variant.get("buffers", "exact"), error_feedback=feedback, **predictor)


def stage_codec(codec_config: Mapping[str, Any] | None) -> MessageCodec | None:
    """The message codec of a direction whose config names a stage other than top-k
    (None: the deep codec of its `LinkSettings`)."""
    stage = _stage(codec_config)
    return None if stage == "topk" else STAGES[stage](**_stage_keys(codec_config, stage))


def float_buffers(model: nn.Module) -> frozenset[str]:
    """Names of the model's non-trainable float entries (BatchNorm running statistics)."""
    return frozenset(name for name, buffer in model.named_buffers() if buffer.is_floating_point())


class LinkClient(Client):
    """Client i: the global model it holds, its last recovered local model, its two link ends."""

    def __init__(self, index: int, context: RunContext, strategy: LinkStrategy) -> None:
        super().__init__(index, context)
        self.dl_anchor = strategy.dl_anchor
        self.ul_sender = strategy.link_end("ul")
        self.dl_receiver = strategy.link_end("dl")
        self.held_global = st.clone(context.initial)
        self.last_local = st.clone(context.initial)

    def uplink(self, round_index: int) -> bytes:
        data, self.last_local = self.ul_sender.send(self.take_trained(), self.held_global, round_index)
        return data

    def downlink(self, data: bytes, round_index: int) -> None:
        anchor = self.last_local if self.dl_anchor == "local" else self.held_global
        self.held_global = self.dl_receiver.receive(data, anchor, round_index)

    def model(self) -> st.State:
        return self.held_global

    def sent_model(self) -> st.State:
        return self.last_local

    def digest(self, direction: str) -> str:
        return (self.ul_sender if direction == "ul" else self.dl_receiver).last_digest

    def state_dict(self) -> dict[str, Any]:
        return {
            "held_global": self.held_global,
            "last_local": self.last_local,
            "ul_sender": self.ul_sender.state_dict(),
            "dl_receiver": self.dl_receiver.state_dict(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.held_global = state["held_global"]
        self.last_local = state["last_local"]
        self.ul_sender.load_state_dict(state["ul_sender"])
        self.dl_receiver.load_state_dict(state["dl_receiver"])


class LinkServer(Server):
    """The server's ends of every client's links, and the models it knows each client holds."""

    def __init__(self, context: RunContext, strategy: LinkStrategy) -> None:
        super().__init__(context)
        n = context.n_clients
        self.dl_anchor = strategy.dl_anchor
        self.ul_receivers = [strategy.link_end("ul") for _ in range(n)]
        self.dl_senders = [strategy.link_end("dl") for _ in range(n)]
        self.client_global = [st.clone(context.initial) for _ in range(n)]
        self.client_local = [st.clone(context.initial) for _ in range(n)]
        self.global_state = st.clone(context.initial)

    def receive(self, client: int, data: bytes, round_index: int) -> None:
        self.client_local[client] = self.ul_receivers[client].receive(data, self.client_global[client], round_index)

    def aggregate(self, round_index: int, clients: Sequence[int], sizes: Sequence[int]) -> None:
        self.global_state = st.weighted_mean([self.client_local[i] for i in clients], sizes)

    def model(self) -> st.State:
        return self.global_state

    def downlink(self, client: int, round_index: int) -> bytes:
        anchor = self.client_local[client] if self.dl_anchor == "local" else self.client_global[client]
        data, self.client_global[client] = self.dl_senders[client].send(self.global_state, anchor, round_index)
        return data

    def digest(self, client: int, direction: str) -> str:
        return (self.ul_receivers if direction == "ul" else self.dl_senders)[client].last_digest

    def state_dict(self) -> dict[str, Any]:
        return {
            "global": self.global_state,
            "client_global": list(self.client_global),
            "client_local": list(self.client_local),
            "ul_receivers": [end.state_dict() for end in self.ul_receivers],
            "dl_senders": [end.state_dict() for end in self.dl_senders],
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.global_state = state["global"]
        self.client_global = list(state["client_global"])
        self.client_local = list(state["client_local"])
        for end, saved in zip(self.ul_receivers, state["ul_receivers"], strict=True):
            end.load_state_dict(saved)
        for end, saved in zip(self.dl_senders, state["dl_senders"], strict=True):
            end.load_state_dict(saved)


class LinkStrategy(Strategy):
    """Base of the link-based methods: subclasses set `ul`, `dl`, `dl_anchor` and, for a
    message format other than the deep codec of `ul.codec` / `dl.codec`, `ul_codec` /
    `dl_codec` in `__init__` (by default the stage each direction's config names).

    dl_anchor: which model the downlink transition starts from, known to both ends:
    "global" (the global model the client already holds) or "local" (the client's last
    recovered local model, the literal reading of Algorithm 1 line 31).
    """

    ul: LinkSettings = LinkSettings()
    dl: LinkSettings = LinkSettings()
    ul_codec: MessageCodec | None = None
    dl_codec: MessageCodec | None = None
    dl_anchor: str = "global"

    def __init__(self, variant: Mapping[str, Any], context: RunContext) -> None:
        super().__init__(variant, context)
        # a direction's `stage` other than top-k codes its residuals with that stage's codec
        self.ul_codec = stage_codec(variant.get("ul"))
        self.dl_codec = stage_codec(variant.get("dl"))

    def link_end(self, direction: str) -> LinkEnd:
        """A fresh end (sender or receiver: both run the same code) of a link in `direction`."""
        settings, codec = (self.ul, self.ul_codec) if direction == "ul" else (self.dl, self.dl_codec)
        buffers = float_buffers(self.context.model)
        return LinkEnd(settings, self.context.layout, self.method_id, message_codec=codec, buffers=buffers)

    def new_client(self, index: int) -> LinkClient:
        return LinkClient(index, self.context, self)

    def new_server(self) -> LinkServer:
        return LinkServer(self.context, self)

    @property
    def memory_bits(self) -> dict[str, int]:
        """Trajectory memory of one link end per direction (32 bits x T updates x parameters)."""
        params = sum(spec.numel for spec in self.context.layout)
        return {"ul": self.ul.memory_bits * params, "dl": self.dl.memory_bits * params}
