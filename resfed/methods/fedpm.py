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

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from resfed.method_ids import METHOD_IDS
from resfed import state as st
from resfed.codec import CountsCodec, Layout, MaskCodec, MessageContext, PosteriorCounts, layout_of
from resfed.codec.formats.fedpm_mask import MASK_MODELS
from resfed.codec.rangecoding import P_MIN
from resfed.strategy import Client, RunContext, Server, Strategy, check_finite, register
from resfed.local_training import TrainSettings

METHOD_ID = METHOD_IDS["fedpm"]
GAIN = 2.0  # signed constants +-GAIN / sqrt(fan_in), see the module docstring


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
    def from_variant(cls, variant: Mapping[str, Any]) -> PMSettings:
        return cls(**dict(variant.get("fedpm") or {}))


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


def message_context(layout: Layout, round_index: int, theta: st.State) -> MessageContext:
    """A FedPM message of ``round_index`` whose code is conditioned on ``theta`` (both ends hold it)."""
    return MessageContext(layout, METHOD_ID, round_index, shared=theta)


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
        self._trained = local  # a sampled mask: always finite

    def uplink(self, round_index: int) -> bytes:
        mask = self.take_trained()
        data = MaskCodec(self.pm.mask_model).encode(mask, message_context(self.layout, round_index, self.theta))
        self.sent = mask
        return data

    def downlink(self, data: bytes, round_index: int) -> None:
        ones, trials = CountsCodec().decode(data, message_context(self.layout, round_index, self.theta))
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
        context = message_context(self.layout, round_index, self.client_view[client])
        self.received[client] = MaskCodec(self.pm.mask_model).decode(data, context)
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
        context = message_context(self.layout, round_index, self.client_view[client])
        data = CountsCodec().encode(PosteriorCounts(self.ones, self.trials), context)
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

    def __init__(self, variant: Mapping[str, Any], context: RunContext) -> None:
        super().__init__(variant, context)
        self.pm = PMSettings.from_variant(variant)
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
