"""ResFed's residual codec for an existing Flower app: a client mod and its server-side Grid.

An unmodified app's model traffic is one ArrayRecord (key `arrays`, as Flower's strategies
send it) per message. Each client has two links, as in resfed: the downlink codes the
server's model as a residual to its prediction from the models sent before; the uplink
codes the client's reply as a residual to the prediction from the model it received this
round and its past updates (`resfed.link.LinkEnd`: the sender decodes its own bytes, so
both ends keep identical trajectories). A link's first model travels as Flower sent it
(its receiver needs one model to learn the layout); from then on the ArrayRecord is
replaced by a ConfigRecord holding resfed's bytes and the digest of what the sender
recovered, which the receiver checks.

Client side: `residual_mod(ul, dl)` in the ClientApp's mods (state in `context.state`).
Server side: wrap the Grid the ServerApp is given, `ResidualGrid(grid, ul, dl)`, and hand
it to the unmodified strategy.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, RecordDict
from flwr.clientapp.typing import ClientAppCallable, Mod
from flwr.serverapp import Grid

from resfed import state as st
from resfed.codec import layout_of
from resfed.federation import SyncError
from resfed.link import LinkEnd, LinkSettings
from resfed.method_ids import METHOD_IDS

CODED = "resfed-arrays"  # the ConfigRecord that replaces a coded ArrayRecord
STATE = "resfed-links"  # the client's links in its context.state


class ResidualLinks:
    """One client's two links as one side (client or server) keeps them.

    `anchor`: the last model sent down the downlink, which both ends hold; the downlink
    predicts from it and the uplink codes the client's model relative to it."""

    def __init__(self, ul: LinkSettings, dl: LinkSettings, key: str = "arrays") -> None:
        self.settings = {"ul": ul, "dl": dl}
        self.key = key
        self.anchor: st.State | None = None
        self.ends: dict[str, LinkEnd] = {}

    def _end(self, direction: str) -> LinkEnd:
        if direction not in self.ends:
            self.ends[direction] = LinkEnd(self.settings[direction], layout_of(self.anchor), METHOD_IDS["resfed"])
        return self.ends[direction]

    def send(self, direction: str, content: RecordDict) -> RecordDict:
        """`content` with its model ArrayRecord coded (unchanged on the downlink's first transfer)."""
        if self.key not in content.array_records:
            return content
        model = content.array_records[self.key].to_torch_state_dict()
        if self.anchor is None:
            if direction == "dl":
                self.anchor = st.clone(model)
            return content
        end = self._end(direction)
        transfer = end.transfers + 1
        data, recovered = end.send(model, self.anchor, transfer)
        if direction == "dl":
            self.anchor = recovered
        coded = RecordDict({k: v for k, v in content.items() if k != self.key})
        coded[CODED] = ConfigRecord({"key": self.key, "data": data, "digest": end.last_digest, "transfer": transfer})
        return coded

    def receive(self, direction: str, content: RecordDict) -> RecordDict:
        """`content` with its coded model restored as an ArrayRecord; SyncError if this end
        recovered another model than the sender."""
        if CODED not in content.config_records:
            if direction == "dl" and self.anchor is None and self.key in content.array_records:
                self.anchor = content.array_records[self.key].to_torch_state_dict()
            return content
        if self.anchor is None:
            raise SyncError(f"{direction}: a coded model arrived before the link's first model")
        record = content.config_records[CODED]
        end = self._end(direction)
        model = end.receive(record["data"], self.anchor, int(record["transfer"]))
        if end.last_digest != record["digest"]:
            raise SyncError(
                f"{direction} transfer {record['transfer']}: sender recovered {record['digest']}, "
                f"receiver recovered {end.last_digest}"
            )
        if direction == "dl":
            self.anchor = model
        restored = RecordDict({k: v for k, v in content.items() if k != CODED})
        restored[str(record["key"])] = ArrayRecord.from_torch_state_dict(model)
        return restored

    def state_dict(self) -> dict[str, Any]:
        return {"anchor": self.anchor, "ends": {d: end.state_dict() for d, end in self.ends.items()}}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.anchor = state["anchor"]
        for direction, saved in state["ends"].items():
            self._end(direction).load_state_dict(saved)


def residual_mod(ul: LinkSettings, dl: LinkSettings, key: str = "arrays") -> Mod:
    """A ClientApp mod: decode the server's coded model before the app sees it, code the app's reply."""

    def mod(message: Message, context: Context, call_next: ClientAppCallable) -> Message:
        links = ResidualLinks(ul, dl, key)
        if STATE in context.state.config_records:
            saved = context.state.config_records[STATE]["links"]
            links.load_state_dict(torch.load(io.BytesIO(saved), weights_only=True))
        message.content = links.receive("dl", message.content)
        reply = call_next(message, context)
        if not reply.has_error():
            reply.content = links.send("ul", reply.content)
        buffer = io.BytesIO()
        torch.save(links.state_dict(), buffer)
        context.state.config_records[STATE] = ConfigRecord({"links": buffer.getvalue()})
        return reply

    return mod


class ResidualGrid(Grid):
    """The server's side of `residual_mod`: codes every model it sends and decodes every model a node returns."""

    def __init__(self, grid: Grid, ul: LinkSettings, dl: LinkSettings, key: str = "arrays") -> None:
        self.grid = grid
        self.settings = (ul, dl, key)
        self.links: dict[int, ResidualLinks] = {}

    def _links(self, node: int) -> ResidualLinks:
        return self.links.setdefault(node, ResidualLinks(*self.settings))

    def set_run(self, run: Any) -> None:
        self.grid.set_run(run)

    @property
    def run(self) -> Any:
        return self.grid.run

    def create_message(self, content, message_type, dst_node_id, group_id, ttl=None) -> Message:  # noqa: ANN001
        return self.grid.create_message(content, message_type, dst_node_id, group_id, ttl)

    def get_node_ids(self) -> Iterable[int]:
        return self.grid.get_node_ids()

    def _coded(self, messages: Iterable[Message]) -> list[Message]:
        messages = list(messages)
        for message in messages:
            message.content = self._links(message.metadata.dst_node_id).send("dl", message.content)
        return messages

    def _decoded(self, replies: Iterable[Message]) -> list[Message]:
        replies = list(replies)
        for reply in replies:
            if not reply.has_error():
                reply.content = self._links(reply.metadata.src_node_id).receive("ul", reply.content)
        return replies

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        return self.grid.push_messages(self._coded(messages))

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        return self._decoded(self.grid.pull_messages(message_ids))

    def send_and_receive(self, messages: Iterable[Message], *, timeout: float | None = None) -> Iterable[Message]:
        return self._decoded(self.grid.send_and_receive(self._coded(messages), timeout=timeout))
