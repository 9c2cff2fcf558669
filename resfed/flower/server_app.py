"""The Flower ServerApp: resfed's round loop over a Flower Grid, with the `Server` endpoint in memory.

Round t follows `resfed.federation.Federation.run_round`: every participant trains and
sends its uplink message (`train`), the server recovers and aggregates them and evaluates
the global model, then sends each next-round participant its downlink message
(`train.downlink`). Both ends report the digest of what they recovered at every transfer;
a disagreement is recorded in rounds.csv and stops the run with a SyncError. The run
config's `out-dir` receives rounds.csv, written by resfed's own writer after every round.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from flwr.app import Context, Message
from flwr.serverapp import Grid, ServerApp

from resfed import log
from resfed.federation import (
    SyncError,
    checked_record,
    compare_links,
    finished,
    initial_message,
    participant_selector,
    select_participants,
)
from resfed.flower.payload import FlowerRunError, fields, payload
from resfed.flower.run_setup import RunSetup, run_setup
from resfed.records import RoundRecord
from resfed.strategy import Diverged
from resfed.local_training import evaluate

app = ServerApp()
logger = logging.getLogger(__name__)


class FlowerFederation:
    """The server side of a run whose clients are Flower nodes (`nodes[i]`: the node holding client i)."""

    def __init__(self, grid: Grid, setup: RunSetup, nodes: Sequence[int], timeout: float) -> None:
        self.grid = grid
        self.setup = setup
        self.nodes = list(nodes)
        self.timeout = timeout
        self.server = setup.strategy.new_server()
        self._selector = participant_selector(setup.seed)
        self.participants = self._select()

    def _select(self) -> list[int]:
        return select_participants(self._selector, len(self.nodes), float(self.setup.spec["fraction"]))

    def exchange(self, kind: str, round_index: int, contents: dict[int, dict]) -> dict[int, dict]:
        """Send `contents[i]` to client i's node as a `kind` message; the replies' fields by client."""
        messages = [
            Message(payload(**content), dst_node_id=self.nodes[i], message_type=kind, group_id=str(round_index))
            for i, content in contents.items()
        ]
        replies = {}
        for reply in self.grid.send_and_receive(messages, timeout=self.timeout):
            answer = fields(reply)
            client = int(answer["client"])
            if client not in contents or self.nodes[client] != reply.metadata.src_node_id:
                raise FlowerRunError(f"round {round_index}: node {reply.metadata.src_node_id} answered for client {client}")
            replies[client] = answer
        if sorted(replies) != sorted(contents):
            missing = sorted(set(contents) - set(replies))
            raise FlowerRunError(f"round {round_index}: no {kind!r} reply from clients {missing} within {self.timeout} s")
        return replies

    def run_round(self, round_index: int) -> RoundRecord:
        started = time.perf_counter()
        n = len(self.nodes)
        ul_bytes, dl_bytes = [0] * n, [0] * n
        request: dict = {"round": round_index}
        if round_index == 1 and self.setup.spec["send_initial_model"]:
            request["initial"] = initial_message(self.setup.strategy.context.initial)
            for i in self.participants:
                dl_bytes[i] += len(request["initial"])

        trained = list(self.participants)
        replies = self.exchange("train", round_index, {i: request for i in trained})
        diverged = [str(replies[i]["diverged"]) for i in trained if "diverged" in replies[i]]
        if diverged:
            raise Diverged(diverged[0])
        for i in trained:
            self.server.receive(i, replies[i]["data"], round_index)
            ul_bytes[i] = len(replies[i]["data"])
        ul = compare_links(
            "ul", trained, [replies[i]["digest"] for i in trained],
            [self.server.digest(i, "ul") for i in trained], round_index,
        )
        loaded = self.setup.loaded
        sizes = [len(loaded.client_data[i][1]) for i in trained]
        self.server.aggregate(round_index, trained, sizes)
        accuracy, test_loss = evaluate(
            loaded.model, self.server.model(), *loaded.test_data, batch_size=loaded.settings.eval_batch_size
        )

        self.participants = self._select()
        downlinks = {}
        for i in self.participants:
            downlinks[i] = {"round": round_index, "data": self.server.downlink(i, round_index)}
            downlinks[i]["digest"] = self.server.digest(i, "dl")
            dl_bytes[i] += len(downlinks[i]["data"])
        answers = self.exchange("train.downlink", round_index, downlinks)
        dl = compare_links(
            "dl", self.participants, [answers[i]["digest"] for i in self.participants],
            [self.server.digest(i, "dl") for i in self.participants], round_index,
        )
        losses = [float(replies[i]["loss"]) for i in trained]
        held = [float(answers[i]["accuracy"]) for i in self.participants]
        return checked_record(
            RoundRecord(round_index, ul_bytes, dl_bytes, accuracy, test_loss,
                        float(np.average(losses, weights=sizes)), time.perf_counter() - started,
                        client_accuracy_mean=float(np.mean(held)), client_accuracy_min=float(np.min(held))),
            ul, dl,
        )


def wait_for_nodes(grid: Grid, count: int, timeout: float) -> list[int]:
    """The ids of at least `count` connected SuperNodes, polling until `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while len(nodes := sorted(grid.get_node_ids())) < count:
        if time.monotonic() > deadline:
            raise FlowerRunError(f"{len(nodes)} SuperNodes connected after {timeout} s; the run needs {count}")
        time.sleep(0.5)
    return nodes


def client_nodes(grid: Grid, node_ids: Iterable[int], n_clients: int, timeout: float) -> list[int]:
    """Node id per client index, from each node's answer to `query.identify`; every index exactly once."""
    messages = [Message(payload(), dst_node_id=node, message_type="query.identify") for node in node_ids]
    holders: dict[int, list[int]] = {}
    for reply in grid.send_and_receive(messages, timeout=timeout):
        holders.setdefault(int(fields(reply)["client"]), []).append(reply.metadata.src_node_id)
    problems = [f"client {i} is held by {len(holders.get(i, []))} nodes" for i in range(n_clients) if len(holders.get(i, [])) != 1]
    if problems:
        raise FlowerRunError("each client index (node config partition-id) must be held by exactly one SuperNode: " + "; ".join(problems))
    return [holders[i][0] for i in range(n_clients)]


def run(grid: Grid, context: Context) -> list[RoundRecord]:
    """The whole run; rounds.csv in the run config's `out-dir` after every round (also the round
    that lost sync). A client whose training diverged stops the run, keeping the rounds so far."""
    setup = run_setup(context)
    out_dir = Path(str(context.run_config.get("out-dir", "")))
    if not out_dir.is_absolute():
        raise ValueError(f"run config key 'out-dir' must be an absolute path (got {str(out_dir)!r})")
    timeout = float(context.run_config.get("reply-timeout", 600.0))
    n_clients = setup.strategy.context.n_clients
    nodes = client_nodes(grid, wait_for_nodes(grid, n_clients, timeout), n_clients, timeout)
    federation = FlowerFederation(grid, setup, nodes, timeout)
    spec = setup.spec
    records: list[RoundRecord] = []
    rounds_path = out_dir / "rounds.csv"
    target = spec["dataset_spec"]["target_accuracy"]
    target_on = spec.get("target_on", "server")
    while not finished(records, spec["rounds"], target, spec["rounds_after_target"], target_on):
        try:
            records.append(federation.run_round(len(records) + 1))
        except Diverged as error:
            logger.warning("run stopped in round %d: %s", len(records) + 1, error)
            break
        except SyncError as error:
            if error.record is not None:
                log.write_rounds_csv(rounds_path, [*records, error.record], n_clients)
            raise
        log.write_rounds_csv(rounds_path, records, n_clients)
    return records


@app.main()
def main(grid: Grid, context: Context) -> None:
    run(grid, context)
