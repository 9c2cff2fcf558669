"""FedPM (Isik et al., "Sparse Random Networks for Communication-Efficient Federated
Learning", ICLR 2023, arXiv:2209.15328): train a probabilistic mask over frozen random
weights and send sampled binary masks.

Every endpoint builds the frozen weights and the initial scores (standard normal, as the
official code) from the shared seed: 0 bytes. The weights, biases too, are signed
constants +-2/sqrt(fan_in): Kaiming's sqrt(2/fan_in) for a layer that keeps half its
weights. The official code's e/sqrt(fan_in) makes LeNet-5's initial loss explode on
standardised inputs (5-round FMNIST accuracy, one seed: 0.66 with e, 0.71 with 2, 0.74
with 1.5, 0.70 with 1; 2 is kept as the principled value within that spread).
A client trains real-valued scores s with Adam (lr 0.1, as the official code); each
forward pass samples a mask m ~ Bernoulli(sigmoid(s)) and uses w * m, with the
straight-through estimator dm/dtheta = 1 (the official code multiplies by theta). After
local training it samples one mask from its theta and range-codes it (constriction) with
a probability model the server already knows: per entry, the theta the client started
from (``mask_model: global``, the default: 0.88 bits per parameter in round 1, 0.41 by
round 20 on FMNIST), or one frequency per tensor sent in the message (``tensor``, about 1 bit).

The server keeps Beta posteriors per parameter: after a reset to the uniform Beta(1, 1)
prior, alpha += sum of masks, beta += clients - sum (masks read as eps / 1 - eps with
``smoothing`` eps = 0.01, as the official code does so that theta never reaches 0 or 1).
theta_global is the posterior mode (alpha - 1) / (alpha + beta - 2), or the mean. The
official code resets the prior every round (``prior_reset: 1``); ``prior_reset: R``
resets every R rounds and 0 never (the posterior accumulates all rounds).

Downlink: theta_global is a function of the integer counts (ones since the reset, trials
since the reset), so the server sends those counts and both ends compute theta_global
from them with the same code: exact, no float quantisation (the official code sends the
float32 scores). The counts are range-coded with histograms conditioned on the theta the
receiver holds (16 bins): 2.7 bits per parameter in round 1, 1.4 by round 20 with 10
clients on FMNIST, 20-40% below one histogram per tensor (3.3-3.4 bits in rounds 1-5). Evaluation uses one mask
sampled from theta_global (``eval_mask: sample``, the official code, seeded per round) or
the deterministic mask theta_global > 0.5 (``threshold``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import constriction
import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from resfed.method_ids import METHOD_IDS
from resfed import state as st
from resfed.codec import Layout, MessageError, layout_of
from resfed.codec.bitio import get_varint, put_varint
from resfed.codec.frame import FrameHeader, pack_frame, unpack_frame
from resfed.strategy import Client, RunContext, Server, Strategy, check_finite, register
from resfed.train import TrainSettings

METHOD_ID = METHOD_IDS["fedpm"]
MASK_KIND, COUNTS_KIND = 1, 2  # frame kinds: uplink mask, downlink posterior counts
MASK_MODELS = ("global", "tensor")
GAIN = 2.0  # signed constants +-GAIN / sqrt(fan_in), see the module docstring
P_MIN = 2.0**-20  # probabilities are clipped to [P_MIN, 1 - P_MIN] for coding and logits
CONTEXTS = 16  # bins of the receiver's theta that condition the downlink counts
_model = constriction.stream.model
_BERNOULLI = _model.Bernoulli(perfect=False)


@dataclass(frozen=True)
class PMSettings:
    """FedPM's settings (see the module docstring)."""

    lr: float = 0.1
    prior_reset: int = 1
    smoothing: float = 0.01
    estimate: str = "mode"
    mask_model: str = "global"
    eval_mask: str = "sample"

    def __post_init__(self) -> None:
        if self.lr <= 0 or self.prior_reset < 0 or not 0 <= self.smoothing < 0.5:
            raise ValueError(f"fedpm: need lr > 0, prior_reset >= 0, 0 <= smoothing < 0.5; got {self}")
        for name, value, allowed in (
            ("estimate", self.estimate, ("mode", "mean")),
            ("mask_model", self.mask_model, MASK_MODELS),
            ("eval_mask", self.eval_mask, ("sample", "threshold")),
        ):
            if value not in allowed:
                raise ValueError(f"fedpm {name} must be one of {allowed}, got {value!r}")

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> PMSettings:
        return cls(**dict(spec.get("fedpm") or {}))


def _generator(seed: int, *tags: int) -> torch.Generator:
    value = np.random.SeedSequence([seed, 0xF3D9, *tags]).generate_state(1)[0]
    return torch.Generator().manual_seed(int(value))


def frozen_weights(model: nn.Module, seed: int) -> st.State:
    """Signed constants +-GAIN/sqrt(fan_in) for every parameter, from the shared seed."""
    generator = _generator(seed, 0)
    params = dict(model.named_parameters())
    out = {}
    for name, p in params.items():
        weight = params.get(name.rsplit(".", 1)[0] + ".weight", p) if p.dim() == 1 else p
        fan_in = weight[0].numel() if weight.dim() > 1 else 1
        signs = torch.randint(0, 2, p.shape, generator=generator).float() * 2 - 1
        out[name] = signs * (GAIN / math.sqrt(fan_in))
    return out


def initial_scores(weights: Mapping[str, torch.Tensor], seed: int) -> st.State:
    """Standard normal scores (the official initialisation), from the shared seed."""
    generator = _generator(seed, 1)
    return {name: torch.randn(w.shape, generator=generator) for name, w in weights.items()}


def scores_of(theta: Mapping[str, torch.Tensor]) -> st.State:
    return {name: torch.logit(t.clamp(P_MIN, 1 - P_MIN)) for name, t in theta.items()}


def masked(weights: Mapping[str, torch.Tensor], mask: Mapping[str, torch.Tensor]) -> st.State:
    return {name: w * mask[name].to(w.device) for name, w in weights.items()}


def _sample_ste(theta: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A Bernoulli(theta) sample whose gradient w.r.t. theta is the identity (straight-through).
    Drawn on the CPU (the generator's device), so masks do not depend on the training device."""
    sample = torch.bernoulli(theta.detach().cpu(), generator=generator).to(theta.device)
    return sample + theta - theta.detach()


def train_scores(
    model: nn.Module,
    weights: Mapping[str, torch.Tensor],
    start: Mapping[str, torch.Tensor],
    inputs: torch.Tensor,
    labels: torch.Tensor,
    settings: TrainSettings,
    lr: float,
    generator: torch.Generator,
) -> tuple[st.State, float]:
    """Local epochs of Adam on the scores, a fresh mask sample per forward pass; returns CPU scores."""
    scores = {name: s.detach().clone().to(inputs.device).requires_grad_(True) for name, s in start.items()}
    optimizer = torch.optim.Adam(scores.values(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    total, seen = 0.0, 0
    model.train()
    for _ in range(settings.local_epochs):
        order = torch.randperm(len(labels), generator=generator)
        for batch in order.split(settings.batch_size):
            mask = {name: _sample_ste(torch.sigmoid(s), generator) for name, s in scores.items()}
            loss = loss_fn(functional_call(model, masked(weights, mask), (inputs[batch],)), labels[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
            seen += len(batch)
    return {name: s.detach().cpu() for name, s in scores.items()}, total / max(seen, 1)


def sample_mask(theta: Mapping[str, torch.Tensor], generator: torch.Generator) -> st.State:
    return {name: torch.bernoulli(t, generator=generator) for name, t in theta.items()}


# Messages -----------------------------------------------------------------------------


def _stream(section: memoryview) -> constriction.stream.queue.RangeDecoder:
    if len(section) % 4:
        raise MessageError(f"range-coder stream of {len(section)} bytes is not whole 32-bit words")
    return constriction.stream.queue.RangeDecoder(np.frombuffer(section, dtype="<u4").astype(np.uint32))


def _exhausted(decoder: constriction.stream.queue.RangeDecoder) -> None:
    if not decoder.maybe_exhausted():
        raise MessageError("range-coder stream has data left over after the last symbol")


def _probabilities(theta: torch.Tensor) -> np.ndarray:
    return np.clip(theta.detach().double().reshape(-1).numpy(), P_MIN, 1 - P_MIN)


def encode_mask(
    mask: Mapping[str, torch.Tensor],
    layout: Layout,
    model_theta: Mapping[str, torch.Tensor] | None,
    round_index: int,
) -> bytes:
    """Range-code a binary mask: per-entry probabilities ``model_theta`` (the theta the
    client started from, known to the server), or None for one frequency per tensor."""
    table = bytearray([MASK_MODELS.index("global" if model_theta is not None else "tensor")])
    encoder = constriction.stream.queue.RangeEncoder()
    for spec in layout:
        bits = mask[spec.name].reshape(-1).numpy().astype(np.int32)
        if model_theta is not None:
            encoder.encode(bits, _BERNOULLI, _probabilities(model_theta[spec.name]))
            continue
        ones = int(bits.sum())
        put_varint(table, ones)
        if 0 < ones < bits.size:
            encoder.encode(bits, _model.Bernoulli(ones / bits.size, perfect=False))
    stream = encoder.get_compressed().astype("<u4").tobytes()
    return pack_frame([bytes(table), stream], layout, FrameHeader(METHOD_ID, MASK_KIND, round_index))


def decode_mask(
    data: bytes, layout: Layout, model_theta: Mapping[str, torch.Tensor], round_index: int
) -> st.State:
    """The mask of :func:`encode_mask` (float 0/1 tensors); ``model_theta`` is used if the message says so."""
    table, stream = _sections(data, layout, MASK_KIND, round_index)
    if len(table) < 1 or table[0] >= len(MASK_MODELS):
        raise MessageError("mask message without a valid probability-model id")
    per_tensor = MASK_MODELS[table[0]] == "tensor"
    decoder, pos, out = _stream(stream), 1, {}
    for spec in layout:
        if per_tensor:
            ones, pos = get_varint(table, pos, len(table), "ones count")
            if ones > spec.numel:
                raise MessageError(f"{ones} ones announced in {spec.numel} entries", tensor=spec.name)
            if 0 < ones < spec.numel:
                bits = decoder.decode(_model.Bernoulli(ones / spec.numel, perfect=False), spec.numel)
                if int(bits.sum()) != ones:
                    raise MessageError("decoded mask does not hold its announced count", tensor=spec.name)
            else:
                bits = np.full(spec.numel, int(ones == spec.numel), dtype=np.int32)
        else:
            bits = decoder.decode(_BERNOULLI, _probabilities(model_theta[spec.name]))
        out[spec.name] = torch.from_numpy(bits.astype(np.float32).reshape(spec.shape))
    if pos != len(table):
        raise MessageError(f"mask table has {len(table) - pos} bytes left over")
    _exhausted(decoder)
    return out


def _contexts(theta: Mapping[str, torch.Tensor], layout: Layout) -> np.ndarray:
    """Per entry, the bin of the receiver's theta that conditions its count's code."""
    flat = np.concatenate([theta[spec.name].reshape(-1).numpy() for spec in layout])
    return np.minimum((flat * CONTEXTS).astype(np.int64), CONTEXTS - 1)


def encode_counts(
    ones: Mapping[str, torch.Tensor], trials: int, held: Mapping[str, torch.Tensor], layout: Layout, round_index: int
) -> bytes:
    """The posterior's counts, range-coded conditioned on the theta the receiver ``held``:
    trials, then per context bin a histogram (distinct values as gaps, their frequencies),
    and the stream of every bin's entries coded with its histogram."""
    table = bytearray()
    put_varint(table, trials)
    flat = np.concatenate([ones[spec.name].reshape(-1).numpy() for spec in layout])
    contexts = _contexts(held, layout)
    encoder = constriction.stream.queue.RangeEncoder()
    for context in range(CONTEXTS):
        values, symbols, counts = np.unique(flat[contexts == context], return_inverse=True, return_counts=True)
        put_varint(table, len(values))
        for gap, count in zip(np.diff(values, prepend=-1) - 1, counts):
            put_varint(table, int(gap))
            put_varint(table, int(count))
        if len(values) > 1:
            encoder.encode(symbols.astype(np.int32), _model.Categorical(counts / counts.sum(), perfect=False))
    stream = encoder.get_compressed().astype("<u4").tobytes()
    return pack_frame([bytes(table), stream], layout, FrameHeader(METHOD_ID, COUNTS_KIND, round_index))


def decode_counts(
    data: bytes, layout: Layout, held: Mapping[str, torch.Tensor], round_index: int
) -> tuple[st.State, int]:
    """(ones per entry as int64 tensors, trials) of :func:`encode_counts`."""
    table, stream = _sections(data, layout, COUNTS_KIND, round_index)
    trials, pos = get_varint(table, 0, len(table), "trials")
    contexts = _contexts(held, layout)
    flat = np.zeros(contexts.size, dtype=np.int64)
    decoder = _stream(stream)
    for context in range(CONTEXTS):
        where = np.flatnonzero(contexts == context)
        distinct, pos = get_varint(table, pos, len(table), "distinct counts")
        if not min(where.size, 1) <= distinct <= min(where.size, trials + 1):
            raise MessageError(f"{distinct} distinct counts for {where.size} entries of {trials} trials")
        values, counts, previous = np.zeros(distinct, np.int64), np.zeros(distinct, np.int64), -1
        for j in range(distinct):
            gap, pos = get_varint(table, pos, len(table), "count value")
            counts[j], pos = get_varint(table, pos, len(table), "count frequency")
            previous = values[j] = previous + gap + 1
        if distinct and (values[-1] > trials or counts.sum() != where.size or counts.min() < 1):
            raise MessageError(f"count histogram of context {context} does not fit its entries or the trials")
        if distinct > 1:
            symbols = decoder.decode(_model.Categorical(counts / counts.sum(), perfect=False), where.size)
            if not np.array_equal(np.bincount(symbols, minlength=distinct), counts):
                raise MessageError(f"decoded counts of context {context} do not match their histogram")
            flat[where] = values[symbols]
        elif distinct:
            flat[where] = values[0]
    if pos != len(table):
        raise MessageError(f"counts table has {len(table) - pos} bytes left over")
    _exhausted(decoder)
    sizes = np.cumsum([spec.numel for spec in layout])[:-1]
    return {spec.name: torch.from_numpy(part.reshape(spec.shape)) for spec, part in zip(layout, np.split(flat, sizes))}, trials


def _sections(data: bytes, layout: Layout, kind: int, round_index: int) -> tuple[memoryview, memoryview]:
    sections = unpack_frame(data, layout, FrameHeader(METHOD_ID, kind, round_index), max_sections=2)
    if len(sections) != 2:
        raise MessageError(f"expected a table and a stream, got {len(sections)} sections")
    return sections[0], sections[1]


# Aggregation --------------------------------------------------------------------------


def posterior(ones: Mapping[str, torch.Tensor], trials: int, settings: PMSettings) -> st.State:
    """theta_global from the counts since the last reset: Beta(1, 1) prior, masks read as
    eps / 1 - eps, then the posterior mode or mean (float64 arithmetic, float32 result)."""
    eps = settings.smoothing
    out = {}
    for name, k in ones.items():
        soft = eps * trials + (1 - 2 * eps) * k.double()
        alpha, beta = 1 + soft, 1 + trials - soft
        theta = (alpha - 1) / (alpha + beta - 2) if settings.estimate == "mode" else alpha / (alpha + beta)
        out[name] = theta.float()
    return out


class FedPMClient(Client):
    """A client: the theta it holds; it trains scores from it and sends one sampled mask."""

    plain_sgd = False  # it trains scores with Adam, not the weights with SGD

    def __init__(self, index: int, context: RunContext, strategy: FedPM) -> None:
        super().__init__(index, context)
        self.pm, self.weights, self.layout = strategy.pm, strategy.weights, strategy.mask_layout
        self.theta = st.clone(strategy.initial_theta)
        self.mask: st.State | None = None
        self.sent = st.zeros_like(self.theta)  # the mask sent in the last uplink
        self.received_digest = ""

    def fit(self, inputs: torch.Tensor, labels: torch.Tensor, generator: torch.Generator) -> float:
        scores, loss = train_scores(
            self.context.model, self.weights, scores_of(self.theta), inputs, labels,
            self.context.settings, self.pm.lr, generator,
        )
        check_finite(scores, f"client {self.index}'s scores")
        self.trained(sample_mask({k: torch.sigmoid(s) for k, s in scores.items()}, generator))
        return loss

    def trained(self, local: st.State) -> None:
        self.mask = local

    def uplink(self, round_index: int) -> bytes:
        if self.mask is None:
            raise RuntimeError(f"client {self.index}: uplink before local training")
        model_theta = self.theta if self.pm.mask_model == "global" else None
        data = encode_mask(self.mask, self.layout, model_theta, round_index)
        self.sent, self.mask = self.mask, None
        return data

    def downlink(self, data: bytes, round_index: int) -> None:
        ones, trials = decode_counts(data, self.layout, self.theta, round_index)
        self.theta = posterior(ones, trials, self.pm)
        self.received_digest = st.digest(self.theta)

    def model(self) -> st.State:
        """The weights under the deterministic mask theta > 0.5 (evaluation samples one instead)."""
        return {**self.context.initial, **masked(self.weights, threshold_mask(self.theta))}

    def sent_model(self) -> st.State:
        return {**self.context.initial, **masked(self.weights, self.sent)}

    def digest(self, direction: str) -> str:
        return st.digest(self.sent) if direction == "ul" else self.received_digest

    def state_dict(self) -> dict[str, Any]:
        return {"theta": self.theta, "sent": self.sent, "received_digest": self.received_digest}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.theta, self.sent, self.received_digest = state["theta"], state["sent"], state["received_digest"]


class FedPMServer(Server):
    """Beta posteriors over the masks: counts since the last prior reset, and what each client holds."""

    def __init__(self, context: RunContext, strategy: FedPM) -> None:
        super().__init__(context)
        self.pm, self.weights, self.layout = strategy.pm, strategy.weights, strategy.mask_layout
        self.theta = st.clone(strategy.initial_theta)  # theta_global
        self.client_view = [st.clone(strategy.initial_theta) for _ in range(context.n_clients)]
        self.received = [st.zeros_like(self.theta) for _ in range(context.n_clients)]
        self.ones = st.zeros_like({n: t.long() for n, t in self.theta.items()})  # mask bits since the reset
        self.trials = 0  # masks received since the reset
        self.counted_round = 0  # the last round whose masks entered the counts
        self.evaluated = st.clone(context.initial)

    def receive(self, client: int, data: bytes, round_index: int) -> None:
        if round_index != self.counted_round:
            if self.pm.prior_reset and (round_index - 1) % self.pm.prior_reset == 0:
                self.ones, self.trials = st.zeros_like(self.ones), 0
            self.counted_round = round_index
        self.received[client] = decode_mask(data, self.layout, self.client_view[client], round_index)
        for name, m in self.received[client].items():
            self.ones[name] += m.long()
        self.trials += 1

    def aggregate(self, round_index: int, clients: Sequence[int], sizes: Sequence[int]) -> None:
        self.theta = posterior(self.ones, self.trials, self.pm)
        mask = (
            threshold_mask(self.theta)
            if self.pm.eval_mask == "threshold"
            else sample_mask(self.theta, _generator(self.context.seed, 2, round_index))
        )
        self.evaluated = {**self.context.initial, **masked(self.weights, mask)}

    def model(self) -> st.State:
        return self.evaluated

    def downlink(self, client: int, round_index: int) -> bytes:
        data = encode_counts(self.ones, self.trials, self.client_view[client], self.layout, round_index)
        self.client_view[client] = self.theta
        return data

    def digest(self, client: int, direction: str) -> str:
        return st.digest(self.received[client] if direction == "ul" else self.client_view[client])

    def state_dict(self) -> dict[str, Any]:
        return {
            "theta": self.theta,
            "client_view": list(self.client_view),
            "received": list(self.received),
            "ones": self.ones,
            "trials": self.trials,
            "counted_round": self.counted_round,
            "evaluated": self.evaluated,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.theta, self.ones, self.evaluated = state["theta"], state["ones"], state["evaluated"]
        self.client_view, self.received = list(state["client_view"]), list(state["received"])
        self.trials, self.counted_round = state["trials"], state["counted_round"]


def threshold_mask(theta: Mapping[str, torch.Tensor]) -> st.State:
    """The deterministic mask theta > 0.5."""
    return {name: (t > 0.5).float() for name, t in theta.items()}


@register
class FedPM(Strategy):
    """FedPM: frozen random weights and initial scores from the shared seed (0 bytes)."""

    name = "fedpm"
    method_id = METHOD_ID

    def __init__(self, spec: Mapping[str, Any], context: RunContext) -> None:
        super().__init__(spec, context)
        self.pm = PMSettings.from_spec(spec)
        floating_buffers = [name for name, b in context.model.named_buffers() if b.is_floating_point()]
        if floating_buffers:
            raise ValueError(f"fedpm masks parameters only; this model has float buffers {floating_buffers}")
        device = next(iter(context.initial.values())).device
        self.weights = {name: w.to(device) for name, w in frozen_weights(context.model, context.seed).items()}
        self.mask_layout = layout_of(self.weights)
        scores = initial_scores(self.weights, context.seed)
        self.initial_theta = {name: torch.sigmoid(s).cpu() for name, s in scores.items()}

    def new_client(self, index: int) -> FedPMClient:
        return FedPMClient(index, self.context, self)

    def new_server(self) -> FedPMServer:
        return FedPMServer(self.context, self)
