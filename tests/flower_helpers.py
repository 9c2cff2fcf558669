"""A Flower Grid that delivers each message to an in-process ClientApp (one Context per node).

Only the transport is replaced: the ServerApp and ClientApp code, the messages and each
node's `context.state` are Flower's own objects.
"""

from collections.abc import Iterable
from uuid import uuid4

from flwr.app import Context, Message, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid


class LocalGrid(Grid):
    def __init__(self, client_app: ClientApp, node_configs: list[dict], run_config: dict) -> None:
        self.client_app = client_app
        self.contexts = {
            1000 + i: Context(run_id=1, node_id=1000 + i, node_config=dict(config), state=RecordDict(), run_config=run_config)
            for i, config in enumerate(node_configs)
        }
        self.replies: dict[str, Message] = {}
        self.sent: list[tuple[str, RecordDict]] = []  # (message type, content) as pushed

    def set_run(self, run):
        raise NotImplementedError

    @property
    def run(self):
        raise NotImplementedError

    def create_message(self, content, message_type, dst_node_id, group_id, ttl=None):
        return Message(content, dst_node_id=dst_node_id, message_type=message_type, group_id=group_id, ttl=ttl)

    def get_node_ids(self) -> Iterable[int]:
        return list(self.contexts)

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        ids = []
        for message in messages:
            message.metadata.__dict__["_message_id"] = str(uuid4())
            message.metadata.__dict__["_src_node_id"] = 0
            self.sent.append((message.metadata.message_type, RecordDict(dict(message.content.items()))))
            reply = self.client_app(message, self.contexts[message.metadata.dst_node_id])
            reply.metadata.__dict__["_src_node_id"] = message.metadata.dst_node_id
            self.replies[message.metadata.message_id] = reply
            ids.append(message.metadata.message_id)
        return ids

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        return [self.replies.pop(i) for i in message_ids if i in self.replies]

    def send_and_receive(self, messages, *, timeout=None):
        return self.pull_messages(self.push_messages(messages))
