"""The interface every federated method implements (the shape of Flower's `Strategy`).

A method builds two kinds of endpoint from one variant config:

- a `Client`: what client i keeps between rounds. It trains locally (`fit`), codes its
  uplink message (`uplink`) and recovers the server's downlink message (`downlink`);
- a `Server`: it recovers each uplink message (`receive`), aggregates what it recovered
  (`aggregate`: the maths is a pure function in the method's module) and codes one
  downlink message per client (`downlink`).

Every message is bytes: what a method sends is its message codec's output, and the volume
counted is `len(bytes)`. Both ends of a transfer report a digest of what they recovered
(`digest`), which the round loop compares and logs. Everything an endpoint keeps between
rounds goes through `state_dict()` / `load_state_dict()` (PyTorch's sense), so
checkpoints, snapshots and engines (the in-process loop, Flower) use only these calls.

This module imports neither the round loop nor any method: dependencies point one way,
loop -> interface <- methods. Methods register with `@register`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from resfed import state as st
from resfed.codec import Layout
from resfed.local_training import TrainSettings, local_train

DIRECTIONS = ("ul", "dl")


class Diverged(RuntimeError):
    """A client's local training produced NaN or Inf: the run cannot go on."""


@dataclass(frozen=True)
class RunContext:
    """What every endpoint of a run shares: built identically on each side from the seed.

    model: the architecture (its parameters are overwritten before every use);
    initial: the initial global model, built from the shared seed (costs 0 bytes).
    """

    model: nn.Module
    initial: st.State
    layout: Layout
    settings: TrainSettings
    seed: int
    n_clients: int


def check_finite(state: Mapping[str, torch.Tensor], what: str) -> None:
    """Raise Diverged if a floating-point entry of `state` holds NaN or Inf."""
    for name, tensor in state.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise Diverged(f"{what} holds NaN or Inf in {name!r} after training")


class Endpoint(ABC):
    """Anything that keeps state between rounds."""

    @abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """Everything the later rounds depend on: tensors, model states, plain numbers."""

    @abstractmethod
    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what `state_dict` returned."""


class Client(Endpoint):
    """Client `index` of a method.

    `plain_sgd`: local training is `resfed.local_training.local_train` from `training_start()`, so
    the round loop may train several clients together (`resfed.batched`) and hand each
    its result through `trained`.
    """

    plain_sgd: ClassVar[bool] = True

    def __init__(self, index: int, context: RunContext) -> None:
        self.index = index
        self.context = context
        self._trained: st.State | None = None  # this round's local result, until the uplink

    def training_start(self) -> st.State:
        """The model local training starts from (default: the model the client holds)."""
        return self.model()

    def trained(self, local: st.State) -> None:
        """Keep this round's locally trained model for `uplink` (Diverged if it is not finite)."""
        check_finite(local, f"client {self.index}'s local model")
        self._trained = local

    def take_trained(self) -> st.State:
        """This round's trained model, handed out once (for the uplink)."""
        local = self._trained
        if local is None:
            raise RuntimeError(f"client {self.index}: uplink before local training")
        self._trained = None
        return local

    def fit(self, inputs: torch.Tensor, labels: torch.Tensor, generator: torch.Generator) -> float:
        """Train locally on the client's data; returns the mean training loss."""
        local, loss = local_train(
            self.context.model, self.training_start(), inputs, labels, self.context.settings, generator
        )
        self.trained(local)
        return loss

    @abstractmethod
    def uplink(self, round_index: int) -> bytes:
        """The message for the server after training in round `round_index`."""

    @abstractmethod
    def downlink(self, data: bytes, round_index: int) -> None:
        """Recover the server's message of round `round_index`."""

    @abstractmethod
    def model(self) -> st.State:
        """The model this client holds (what it would deploy or evaluate)."""

    @abstractmethod
    def sent_model(self) -> st.State:
        """This round's local model as the server recovers it from the uplink."""

    @abstractmethod
    def digest(self, direction: str) -> str:
        """Digest of what this end recovered at its last transfer in `direction` ("ul" or "dl")."""


class Server(Endpoint):
    """The server of a method: one end of every client's two links."""

    def __init__(self, context: RunContext) -> None:
        self.context = context

    @abstractmethod
    def receive(self, client: int, data: bytes, round_index: int) -> None:
        """Recover client `client`'s uplink message of round `round_index`."""

    @abstractmethod
    def aggregate(self, round_index: int, clients: Sequence[int], sizes: Sequence[int]) -> None:
        """Build the new global model from the messages received this round (`sizes`: samples per client)."""

    @abstractmethod
    def model(self) -> st.State:
        """The model the server evaluates after `aggregate`."""

    @abstractmethod
    def downlink(self, client: int, round_index: int) -> bytes:
        """The message for client `client` at the end of round `round_index`."""

    @abstractmethod
    def digest(self, client: int, direction: str) -> str:
        """Digest of what this end of client `client`'s link recovered at its last transfer in `direction`."""


class Strategy(ABC):
    """A federated method: builds its endpoints from the variant config and the run context."""

    name: ClassVar[str]
    method_id: ClassVar[int]

    def __init__(self, variant: Mapping[str, Any], context: RunContext) -> None:
        self.variant = variant
        self.context = context

    @abstractmethod
    def new_client(self, index: int) -> Client:
        """Client `index` as it starts the run."""

    @abstractmethod
    def new_server(self) -> Server:
        """The server as it starts the run."""

    @property
    def memory_bits(self) -> dict[str, int] | None:
        """Bits one link end keeps between transfers per direction (trajectories), if any."""
        return None


REGISTRY: dict[str, type[Strategy]] = {}


def register(cls: type[Strategy]) -> type[Strategy]:
    """Class decorator: make a Strategy available under its `name`."""
    if cls.name in REGISTRY:
        raise ValueError(f"method {cls.name!r} is registered twice")
    REGISTRY[cls.name] = cls
    return cls
