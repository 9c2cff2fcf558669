"""The round loop: a server endpoint and client endpoints that exchange bytes both ways.

Round t (rounds count from 1, as in Algorithm 1):
1. every participating client trains from the global model it holds (one after another,
   or all together as one batched computation: `batched`, on by default on CUDA);
2. uplink: the client codes its local model (through its link's predictor and codec) and
   the server recovers it from the bytes;
3. the server aggregates the recovered local models (FedAvg, weighted by sample counts)
   and evaluates the new global model;
4. downlink: the server codes the new global model for each client of the next round and
   the client recovers it from the bytes.
The initial global model is built on every endpoint from the shared seed and costs 0 bytes
(unless `send_initial_model`). Every transfer is checked: the sender's and the receiver's
recovered models must have the same digest, or the run stops with a SyncError.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from resfed import state as st
from resfed.batched import train_batched, use_batched
from resfed.codec import Layout, encode, layout_of
from resfed.link import LOSSLESS, LinkEnd
from resfed.method_ids import INITIAL_MODEL
from resfed.methods import Method
from resfed.train import TrainSettings, evaluate, local_train


class SyncError(RuntimeError):
    """The two ends of a link recovered different models: their trajectories would drift."""


class Diverged(RuntimeError):
    """A client's local model holds NaN or Inf: training diverged and the run cannot go on."""


def _is_finite(state: st.State) -> bool:
    return all(bool(torch.isfinite(t).all()) for t in state.values() if t.is_floating_point())


@dataclass
class RoundRecord:
    round: int
    ul_bytes: list[int]
    dl_bytes: list[int]
    test_accuracy: float
    test_loss: float
    train_loss: float
    sync_ok: bool
    wall_seconds: float


@dataclass
class ClientEndpoint:
    """Client i: its data, the global model it holds, and its two link ends."""

    index: int
    inputs: torch.Tensor
    labels: torch.Tensor
    ul_sender: LinkEnd
    dl_receiver: LinkEnd
    held_global: st.State
    last_local: st.State


@dataclass
class ServerEndpoint:
    """The server's ends of every client's links, and what it knows each client holds."""

    ul_receivers: list[LinkEnd]
    dl_senders: list[LinkEnd]
    client_global: list[st.State]
    client_local: list[st.State]
    global_state: st.State


def _check_sync(sender: LinkEnd, receiver: LinkEnd, link: str, client: int, round_index: int) -> None:
    if sender.last_digest != receiver.last_digest:
        raise SyncError(
            f"{link} link of client {client}, round {round_index}: sender recovered "
            f"{sender.last_digest}, receiver recovered {receiver.last_digest}"
        )


def client_generator(seed: int, client: int, round_index: int) -> torch.Generator:
    """Independent, reproducible batch order per (seed, client, round)."""
    value = np.random.SeedSequence([seed, client, round_index]).generate_state(1)[0]
    return torch.Generator().manual_seed(int(value))


@dataclass
class Federation:
    """Clients and server of one run; `run_round(t)` performs round t and returns its record."""

    model: nn.Module
    method: Method
    client_data: Sequence[tuple[torch.Tensor, torch.Tensor]]
    test_data: tuple[torch.Tensor, torch.Tensor]
    settings: TrainSettings
    seed: int
    fraction: float = 1.0
    send_initial_model: bool = False
    batched: str = "auto"
    clients: list[ClientEndpoint] = field(init=False)
    server: ServerEndpoint = field(init=False)
    layout: Layout = field(init=False)
    participants: list[int] = field(init=False)
    stopped: str | None = field(default=None, init=False)
    checkpointable: ClassVar[bool] = True  # resfed.checkpoint saves and restores all of its state

    def __post_init__(self) -> None:
        initial = st.clone(self.model.state_dict())
        self.layout = layout_of(initial)
        n = len(self.client_data)

        def end(direction: str) -> LinkEnd:
            settings = self.method.ul if direction == "ul" else self.method.dl
            return LinkEnd(settings, self.layout, self.method.method_id)

        self.clients = [
            ClientEndpoint(i, x, y, end("ul"), end("dl"), st.clone(initial), st.clone(initial))
            for i, (x, y) in enumerate(self.client_data)
        ]
        self.server = ServerEndpoint(
            ul_receivers=[end("ul") for _ in range(n)],
            dl_senders=[end("dl") for _ in range(n)],
            client_global=[st.clone(initial) for _ in range(n)],
            client_local=[st.clone(initial) for _ in range(n)],
            global_state=initial,
        )
        self._selector = np.random.default_rng([self.seed, 7])
        self._batched = use_batched(self.batched, initial[next(iter(initial))].device)
        self.participants = self._select()

    def _select(self) -> list[int]:
        n = len(self.clients)
        count = max(1, round(self.fraction * n))
        if count == n:
            return list(range(n))
        return sorted(self._selector.choice(n, size=count, replace=False).tolist())

    @property
    def link_memory_bits(self) -> dict[str, int]:
        """Trajectory memory of one link end per direction (32 bits x T updates x parameters)."""
        params = sum(spec.numel for spec in self.layout)
        return {"ul": self.method.ul.memory_bits * params, "dl": self.method.dl.memory_bits * params}

    def _dl_anchor(self, view_global: st.State, view_local: st.State) -> st.State:
        return view_local if self.method.dl_anchor == "local" else view_global

    def _train_participants(self, round_index: int) -> list[tuple[st.State, float]]:
        """(local model, mean loss) of every participant, one after another or batched."""
        clients = [self.clients[i] for i in self.participants]
        generators = [client_generator(self.seed, c.index, round_index) for c in clients]
        if self._batched:
            data = [(c.inputs, c.labels) for c in clients]
            return train_batched(self.model, [c.held_global for c in clients], data, self.settings, generators)
        return [
            local_train(self.model, c.held_global, c.inputs, c.labels, self.settings, g)
            for c, g in zip(clients, generators)
        ]

    def run_round(self, round_index: int) -> RoundRecord:
        started = time.perf_counter()
        n = len(self.clients)
        ul_bytes, dl_bytes = [0] * n, [0] * n
        if round_index == 1 and self.send_initial_model:
            initial_message = encode(self.server.global_state, self.layout, LOSSLESS, method_id=INITIAL_MODEL, round_index=0)
            for i in self.participants:
                dl_bytes[i] += len(initial_message)

        recovered, weights, losses = [], [], []
        for i, (local, loss) in zip(self.participants, self._train_participants(round_index)):
            if not _is_finite(local):
                raise Diverged(f"round {round_index}: client {i}'s local model holds NaN or Inf after training")
            client = self.clients[i]
            data, client.last_local = client.ul_sender.send(local, client.held_global, round_index)
            received = self.server.ul_receivers[i].receive(data, self.server.client_global[i], round_index)
            _check_sync(client.ul_sender, self.server.ul_receivers[i], "uplink", i, round_index)
            self.server.client_local[i] = received
            ul_bytes[i] = len(data)
            recovered.append(received)
            weights.append(len(client.labels))
            losses.append(loss)

        self.server.global_state = st.weighted_mean(recovered, weights)
        accuracy, test_loss = evaluate(
            self.model, self.server.global_state, *self.test_data, batch_size=self.settings.eval_batch_size
        )

        self.participants = self._select()
        for i in self.participants:
            client, sender = self.clients[i], self.server.dl_senders[i]
            server_anchor = self._dl_anchor(self.server.client_global[i], self.server.client_local[i])
            data, self.server.client_global[i] = sender.send(self.server.global_state, server_anchor, round_index)
            client_anchor = self._dl_anchor(client.held_global, client.last_local)
            client.held_global = client.dl_receiver.receive(data, client_anchor, round_index)
            _check_sync(sender, client.dl_receiver, "downlink", i, round_index)
            dl_bytes[i] += len(data)

        return RoundRecord(
            round=round_index,
            ul_bytes=ul_bytes,
            dl_bytes=dl_bytes,
            test_accuracy=accuracy,
            test_loss=test_loss,
            train_loss=float(np.average(losses, weights=weights)),
            sync_ok=True,
            wall_seconds=time.perf_counter() - started,
        )

    def run(
        self,
        max_rounds: int,
        target_accuracy: float | None = None,
        rounds_after_target: int | None = 0,
        on_round: Callable[[RoundRecord], None] | None = None,
        done: Sequence[RoundRecord] = (),
    ) -> list[RoundRecord]:
        """Run rounds until the cap, or `rounds_after_target` rounds after first reaching the target.

        `done`: the records of rounds already run (resuming from a checkpoint); rounds go on from there.
        A diverged run stops early with its reason in `self.stopped` (the rounds so far are kept).
        """
        records = list(done)
        while not finished(records, max_rounds, target_accuracy, rounds_after_target):
            try:
                record = self.run_round(len(records) + 1)
            except Diverged as error:
                self.stopped = str(error)
                break
            records.append(record)
            if on_round is not None:
                on_round(record)
        return records


def finished(
    records: Sequence[RoundRecord], max_rounds: int, target_accuracy: float | None, rounds_after_target: int | None
) -> bool:
    """Whether a run is over: the round cap, or `rounds_after_target` rounds after first reaching the target."""
    if len(records) >= max_rounds:
        return True
    if target_accuracy is None or rounds_after_target is None:
        return False
    reached = next((r.round for r in records if r.test_accuracy >= target_accuracy), None)
    return reached is not None and len(records) >= reached + rounds_after_target
