"""The round loop: one server and its clients exchange bytes both ways, for any method.

Round t (rounds count from 1, as in Algorithm 1):
1. every participating client trains locally from the model it holds (plain-SGD clients
   one after another, or all together as one batched computation: `batched`, on by
   default on CUDA);
2. uplink: each client codes its message and the server recovers it from the bytes;
3. the server aggregates what it recovered and its model is evaluated;
4. downlink: the server codes a message for each client of the next round and the
   client recovers it from the bytes.
The method (a `resfed.strategy.Strategy`) decides what the messages hold; this loop only
moves bytes, counts them, and compares the digests of what both ends of every transfer
recovered. The initial global model is built on every endpoint from the shared seed and
costs 0 bytes (unless `send_initial_model`). A round whose digests disagree is recorded
(`sync_ok` false) and then stops the run with a SyncError.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from resfed import state as st
from resfed.batched import train_batched, use_batched
from resfed.codec import encode, layout_of
from resfed.codec.auth import LinkKeys
from resfed.link import LOSSLESS
from resfed.method_ids import INITIAL_MODEL
from resfed.records import RoundRecord, links_digest
from resfed.strategy import Client, Diverged, RunContext, Server, Strategy
from resfed.local_training import TrainSettings, evaluate


class SyncError(RuntimeError):
    """The two ends of a link recovered different models: their trajectories would drift.

    `record`: the round in which it happened, with its digests, so it can still be logged."""

    def __init__(self, message: str, record: RoundRecord | None = None) -> None:
        super().__init__(message)
        self.record = record


def client_generator(seed: int, client: int, round_index: int) -> torch.Generator:
    """Independent, reproducible batch order per (seed, client, round)."""
    value = np.random.SeedSequence([seed, client, round_index]).generate_state(1)[0]
    return torch.Generator().manual_seed(int(value))


def participant_selector(seed: int) -> np.random.Generator:
    """The generator that draws each round's participants (independent of every batch order)."""
    return np.random.default_rng([seed, 7])


def select_participants(selector: np.random.Generator, n_clients: int, fraction: float) -> list[int]:
    """The next round's participants: all clients, or round(fraction * n) of them drawn without replacement."""
    count = max(1, round(fraction * n_clients))
    if count == n_clients:
        return list(range(n_clients))
    return sorted(selector.choice(n_clients, size=count, replace=False).tolist())


def compare_links(
    direction: str, clients: Sequence[int], client_side: Sequence[str], server_side: Sequence[str], round_index: int
) -> tuple[str, str, list[str]]:
    """(sender-side digest, receiver-side digest, a line per link whose two ends disagree) of
    one direction's transfers, from what the client and the server end of each link recovered."""
    senders, receivers = (client_side, server_side) if direction == "ul" else (server_side, client_side)
    link = "uplink" if direction == "ul" else "downlink"
    differ = [
        f"{link} link of client {i}, round {round_index}: sender recovered {a}, receiver recovered {b}"
        for i, a, b in zip(clients, senders, receivers)
        if a != b
    ]
    return links_digest(senders), links_digest(receivers), differ


def initial_message(initial: st.State) -> bytes:
    """The initial global model as a lossless message (sent only with `send_initial_model`)."""
    return encode(initial, layout_of(initial), LOSSLESS, method_id=INITIAL_MODEL, round_index=0)


def checked_record(record: RoundRecord, ul: tuple[str, str, list[str]], dl: tuple[str, str, list[str]]) -> RoundRecord:
    """`record` with the round's digests (`compare_links` per direction); SyncError, holding
    the record, if the two ends of any link disagree."""
    record.ul_digest_sender, record.ul_digest_receiver = ul[0], ul[1]
    record.dl_digest_sender, record.dl_digest_receiver = dl[0], dl[1]
    if ul[2] or dl[2]:
        raise SyncError("; ".join(ul[2] + dl[2]), record)
    return record


def run_context(
    model: nn.Module, settings: TrainSettings, seed: int, n_clients: int
) -> RunContext:
    """The shared context of a run; `model`'s current state is the initial global model."""
    initial = st.clone(model.state_dict())
    return RunContext(model, initial, layout_of(initial), settings, seed, n_clients)


@dataclass
class Federation:
    """The clients and the server of one run; `run_round(t)` performs round t and returns its record.

    `build` (a callable from RunContext to Strategy) makes the method's endpoints.
    """

    model: nn.Module
    build: Callable[[RunContext], Strategy]
    client_data: Sequence[tuple[torch.Tensor, torch.Tensor]]
    test_data: tuple[torch.Tensor, torch.Tensor]
    settings: TrainSettings
    seed: int
    fraction: float = 1.0
    send_initial_model: bool = False
    batched: str | bool = "auto"
    link_keys: LinkKeys | None = None  # authenticate: every message carries its link's tag
    strategy: Strategy = field(init=False)
    clients: list[Client] = field(init=False)
    server: Server = field(init=False)
    participants: list[int] = field(init=False)
    stopped: str | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        context = run_context(self.model, self.settings, self.seed, len(self.client_data))
        self.strategy = self.build(context)
        self.clients = [self.strategy.new_client(i) for i in range(context.n_clients)]
        self.server = self.strategy.new_server()
        self._selector = participant_selector(self.seed)
        self._batched = use_batched(self.batched, context.initial[next(iter(context.initial))].device)
        self.participants = self._select()

    def _select(self) -> list[int]:
        return select_participants(self._selector, len(self.clients), self.fraction)

    def state_dict(self) -> dict[str, Any]:
        """Everything later rounds depend on: every endpoint's state, the next round's
        participants, the participant selector's and torch's global RNG states."""
        return {
            "clients": [client.state_dict() for client in self.clients],
            "server": self.server.state_dict(),
            "participants": list(self.participants),
            "selector": self._selector.bit_generator.state,
            "torch_rng": torch.get_rng_state(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        for client, saved in zip(self.clients, state["clients"], strict=True):
            client.load_state_dict(saved)
        self.server.load_state_dict(state["server"])
        self.participants = list(state["participants"])
        self._selector.bit_generator.state = state["selector"]
        torch.set_rng_state(state["torch_rng"].cpu())

    def _fit(self, round_index: int) -> list[float]:
        """Local training of every participant; returns their mean losses."""
        clients = [self.clients[i] for i in self.participants]
        data = [self.client_data[i] for i in self.participants]
        generators = [client_generator(self.seed, i, round_index) for i in self.participants]
        if self._batched and all(c.plain_sgd for c in clients):
            results = train_batched(self.model, [c.training_start() for c in clients], data, self.settings, generators)
            for client, (local, _) in zip(clients, results):
                client.trained(local)
            return [loss for _, loss in results]
        return [c.fit(x, y, g) for c, (x, y), g in zip(clients, data, generators)]

    def _transfer_digests(self, direction: str, clients: Sequence[int], round_index: int) -> tuple[str, str, list[str]]:
        client_side = [self.clients[i].digest(direction) for i in clients]
        server_side = [self.server.digest(i, direction) for i in clients]
        return compare_links(direction, clients, client_side, server_side, round_index)

    def _sealed(self, direction: str, client: int, data: bytes, round_index: int) -> bytes:
        """What goes over the link: the message, and its tag when authenticating."""
        return data if self.link_keys is None else self.link_keys.seal(direction, client, data, round_index)

    def _opened(self, direction: str, client: int, data: bytes, round_index: int) -> bytes:
        """The message a receiver decodes, once its tag is checked (MessageError otherwise)."""
        return data if self.link_keys is None else self.link_keys.open(direction, client, data, round_index)

    def _held_accuracies(self, server_accuracy: float) -> list[float]:
        """Test accuracy of the model each participant holds after the downlink; each
        distinct model is evaluated once, and one equal to the server's is not evaluated again."""
        known = {st.digest(self.server.model()): server_accuracy}
        accuracies = []
        for i in self.participants:
            model = self.clients[i].model()
            key = st.digest(model)
            if key not in known:
                known[key] = evaluate(self.model, model, *self.test_data, batch_size=self.settings.eval_batch_size)[0]
            accuracies.append(known[key])
        return accuracies

    def run_round(self, round_index: int) -> RoundRecord:
        """Round `round_index`; raises SyncError (after recording) if two ends of a link disagree."""
        started = time.perf_counter()
        n = len(self.clients)
        ul_bytes, dl_bytes = [0] * n, [0] * n
        if round_index == 1 and self.send_initial_model:
            message = initial_message(self.strategy.context.initial)
            for i in self.participants:
                dl_bytes[i] += len(self._sealed("dl", i, message, 0))

        trained = list(self.participants)
        losses = self._fit(round_index)
        for i in trained:
            data = self._sealed("ul", i, self.clients[i].uplink(round_index), round_index)
            self.server.receive(i, self._opened("ul", i, data, round_index), round_index)
            ul_bytes[i] = len(data)
        sizes = [len(self.client_data[i][1]) for i in trained]
        self.server.aggregate(round_index, trained, sizes)
        accuracy, test_loss = evaluate(
            self.model, self.server.model(), *self.test_data, batch_size=self.settings.eval_batch_size
        )

        self.participants = self._select()
        for i in self.participants:
            data = self._sealed("dl", i, self.server.downlink(i, round_index), round_index)
            self.clients[i].downlink(self._opened("dl", i, data, round_index), round_index)
            dl_bytes[i] += len(data)
        held = self._held_accuracies(accuracy)

        ul = self._transfer_digests("ul", trained, round_index)
        dl = self._transfer_digests("dl", self.participants, round_index)
        return checked_record(
            RoundRecord(round_index, ul_bytes, dl_bytes, accuracy, test_loss,
                        float(np.average(losses, weights=sizes)), time.perf_counter() - started,
                        client_accuracy_mean=float(np.mean(held)), client_accuracy_min=float(np.min(held))),
            ul, dl,
        )

    def run(
        self,
        max_rounds: int,
        target_accuracy: float | None = None,
        rounds_after_target: int | None = 0,
        on_round: Callable[[RoundRecord], None] | None = None,
        done: Sequence[RoundRecord] = (),
        target_on: str = "server",
    ) -> list[RoundRecord]:
        """Run rounds until the cap, or `rounds_after_target` rounds after first reaching the target
        (by the server's model, or by the mean over the models the clients hold: `target_on`).

        `done`: the records of rounds already run (resuming from a checkpoint); rounds go on from there.
        A diverged run stops early with its reason in `self.stopped` (the rounds so far are kept).
        A round whose links lost sync is passed to `on_round` (so it is logged), then SyncError propagates.
        """
        records = list(done)
        while not finished(records, max_rounds, target_accuracy, rounds_after_target, target_on):
            try:
                record = self.run_round(len(records) + 1)
            except Diverged as error:
                self.stopped = f"round {len(records) + 1}: {error}"
                break
            except SyncError as error:
                if error.record is not None and on_round is not None:
                    on_round(error.record)
                raise
            records.append(record)
            if on_round is not None:
                on_round(record)
        return records


def finished(
    records: Sequence[RoundRecord],
    max_rounds: int,
    target_accuracy: float | None,
    rounds_after_target: int | None,
    target_on: str = "server",
) -> bool:
    """Whether a run is over: the round cap, or `rounds_after_target` rounds after first reaching the target."""
    if len(records) >= max_rounds:
        return True
    if target_accuracy is None or rounds_after_target is None:
        return False
    reached = next((r.round for r in records if r.accuracy(target_on) >= target_accuracy), None)
    return reached is not None and len(records) >= reached + rounds_after_target
