"""One direction of one client's connection: a sender end and a receiver end.

Each end keeps its own copy of the link's trajectory of *recovered* updates. A transfer:
both ends predict from their trajectories, the sender codes the residual to bytes and
decodes its own bytes, the receiver decodes the same bytes, and both append the same
recovered update. The sender never caches the original model, so both trajectories stay
bit-identical (checked with digests by the federation loop).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from resfed import state as st
from resfed.codec import CodecConfig, DeepCodec, Layout, MessageCodec, MessageContext, UniformCodec
from resfed.predictors import WARMUPS, predict, sends_full_model, usable_order

LOSSLESS = CodecConfig(sparsity=0.0, bits=32)
BUFFERS = ("exact", "coded")
TRAJECTORIES = ("recovered", "anchor")
RAW_CAPABLE = (DeepCodec, UniformCodec)  # codecs with a `raw` set of entries sent exactly


@dataclass(frozen=True)
class LinkSettings:
    """How one direction predicts and codes.

    predictor: "zero" sends the model itself (fedavg, weights); "trajectory" sends the
    residual to Eq. 8's prediction (order 0: the update w - anchor, i.e. gradients / Res-0).
    buffers: "exact" sends the float buffers (BatchNorm running statistics) as their
    values, losslessly; "coded" puts them through the lossy codec like weights (the paper's code).
    trajectory: the updates Eq. 8 extrapolates: "recovered", the link's own recovered
    updates (the paper), or "anchor", the steps between the anchors of successive transfers
    (on the uplink, the global model's last steps, which both ends hold: the federation's
    last move rather than the client's own).
    """

    codec: CodecConfig = LOSSLESS
    predictor: str = "zero"
    buffers: str = "exact"
    order: int = 1
    formula: str = "extrapolation"
    warmup: str = "full"
    error_feedback: bool = False
    trajectory: str = "recovered"

    def __post_init__(self) -> None:
        if self.predictor not in ("zero", "trajectory"):
            raise ValueError(f"predictor must be 'zero' or 'trajectory', got {self.predictor!r}")
        if self.buffers not in BUFFERS:
            raise ValueError(f"buffers must be one of {BUFFERS}, got {self.buffers!r}")
        if self.warmup not in WARMUPS:
            raise ValueError(f"warmup must be one of {WARMUPS}, got {self.warmup!r}")
        if self.trajectory not in TRAJECTORIES:
            raise ValueError(f"trajectory must be one of {TRAJECTORIES}, got {self.trajectory!r}")

    @property
    def memory_bits(self) -> int:
        """Trajectory memory per end, in bits per model parameter (32 bits x T updates, and
        the last anchor under trajectory "anchor")."""
        if self.predictor != "trajectory":
            return 0
        return 32 * (self.order + self.follows_anchors)

    @property
    def follows_anchors(self) -> bool:
        """Whether the prediction extrapolates the anchors' steps (kept as the last anchor)."""
        return self.predictor == "trajectory" and self.order > 0 and self.trajectory == "anchor"


@dataclass
class LinkEnd:
    """Sender or receiver side of one link; both sides run the same recovery code on the same bytes."""

    settings: LinkSettings
    layout: Layout
    method_id: int
    message_codec: MessageCodec | None = None  # None: the deep codec with `settings.codec`
    buffers: frozenset[str] = frozenset()  # names of the model's float buffers
    history: deque = field(init=False)
    transfers: int = field(default=0, init=False)
    error: st.State | None = field(default=None, init=False)
    last_anchor: st.State | None = field(default=None, init=False)  # under trajectory "anchor"
    last_digest: str = field(default="", init=False)

    def __post_init__(self) -> None:
        self.history = deque(maxlen=max(self.settings.order, 1))
        if self.message_codec is None:
            self.message_codec = DeepCodec(self.settings.codec)

    def _is_warmup(self) -> bool:
        s = self.settings
        return s.predictor == "trajectory" and sends_full_model(s.warmup, s.order, self.transfers)

    def _observe_anchor(self, anchor: st.State) -> None:
        """Under trajectory "anchor": the step from the last transfer's anchor to this one's
        joins the trajectory (none before the second transfer: Res-0 then, as for "recovered")."""
        if self.settings.follows_anchors:
            if self.last_anchor is not None:
                self.history.append(st.sub(anchor, self.last_anchor))
            self.last_anchor = st.clone(anchor)

    def _prediction(self, anchor: st.State) -> st.State:
        s = self.settings
        if s.predictor == "zero" or self._is_warmup():
            return st.zeros_like(anchor)
        return predict(anchor, list(self.history), usable_order(s.warmup, s.order, len(self.history)), s.formula)

    def _codec(self) -> MessageCodec:
        """The message codec of the next transfer: lossless while warming up; under a lossy
        codec that can send entries raw (deep, uniform), the float buffers travel raw
        unless the settings say `coded`."""
        if self._is_warmup():
            return DeepCodec(LOSSLESS)
        codec = self.message_codec
        if isinstance(codec, RAW_CAPABLE) and self.settings.buffers == "exact" and self.buffers:
            return replace(codec, raw=codec.raw | self.buffers)
        return codec

    def _exact(self, codec: MessageCodec) -> frozenset[str]:
        """The entries a transfer sends as their values rather than as residuals: under a
        lossless deep codec all of them, so that what is recovered is bit for bit what was
        sent (`p + (w - p)` is not `w` in float32); else those it sends raw."""
        if isinstance(codec, DeepCodec) and codec.config.lossless:
            return frozenset(spec.name for spec in self.layout)
        return codec.raw if isinstance(codec, RAW_CAPABLE) else frozenset()

    def _message_context(self, codec: MessageCodec, anchor: st.State, prediction: st.State, round_index: int) -> MessageContext:
        """What both ends know about a transfer's message (decoded where the prediction
        lives): with the predicted update (prediction minus anchor) where the codec
        conditions on it."""
        shared = st.sub(prediction, anchor) if codec.needs_prediction else None
        device = next(iter(prediction.values())).device
        return MessageContext(self.layout, self.method_id, round_index, shared=shared, device=device)

    def _recover(
        self, data: bytes, anchor: st.State, prediction: st.State, context: MessageContext
    ) -> tuple[st.State, st.State]:
        """Decode the message, add the prediction to the residual entries, extend the
        trajectory; returns (model, what the message carried)."""
        codec = self._codec()
        exact = self._exact(codec)
        decoded = codec.decode(data, context)
        recovered = {
            name: decoded[name].to(p) if name in exact else p + decoded[name].to(p) for name, p in prediction.items()
        }
        if self.settings.predictor == "trajectory" and self.settings.order > 0 and not self.settings.follows_anchors:
            self.history.append(st.sub(recovered, anchor))
        self.transfers += 1
        self.last_digest = st.digest(recovered)
        return recovered, decoded

    def send(self, model: st.State, anchor: st.State, round_index: int) -> tuple[bytes, st.State]:
        """Code `model` for the receiver; return the bytes and the model the receiver will recover."""
        self._observe_anchor(anchor)
        prediction = self._prediction(anchor)
        residual = st.sub(model, prediction)
        if self.settings.error_feedback and self.error is not None:
            residual = st.add(residual, self.error)
        codec = self._codec()
        exact = self._exact(codec)
        payload = {name: model[name] if name in exact else r for name, r in residual.items()}
        context = self._message_context(codec, anchor, prediction, round_index)
        data = codec.encode(payload, context)
        recovered, carried = self._recover(data, anchor, prediction, context)
        if self.settings.error_feedback:
            self.error = st.sub(payload, carried)  # zero on the exact entries
        return data, recovered

    def receive(self, data: bytes, anchor: st.State, round_index: int) -> st.State:
        """Recover the sender's model from its bytes and the shared trajectory."""
        self._observe_anchor(anchor)
        prediction = self._prediction(anchor)
        return self._recover(data, anchor, prediction, self._message_context(self._codec(), anchor, prediction, round_index))[0]

    def state_dict(self) -> dict[str, Any]:
        """The trajectory, transfer count, error-feedback memory, last anchor and last digest."""
        return {
            "history": list(self.history),
            "transfers": self.transfers,
            "error": self.error,
            "last_anchor": self.last_anchor,
            "last_digest": self.last_digest,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.history.clear()
        self.history.extend(state["history"])
        self.transfers = state["transfers"]
        self.error = state["error"]
        self.last_anchor = state["last_anchor"]
        self.last_digest = state["last_digest"]
