"""How resfed's fields travel inside a Flower message: one ConfigRecord under one key.

The method's message (bytes), the digest of what the sending end recovered, the round
and the few numbers a reply reports. Flower adds its own framing around them; the bytes a
method is charged for are only `len(data)`, as in the in-process loop.
"""

from __future__ import annotations

from flwr.app import ConfigRecord, Message, RecordDict

KEY = "resfed"


class FlowerRunError(RuntimeError):
    """A Flower node answered with an error, or with a message that is not resfed's."""


def payload(**fields: int | float | str | bytes) -> RecordDict:
    """A message content holding `fields`."""
    return RecordDict({KEY: ConfigRecord(dict(fields))})


def fields(message: Message) -> ConfigRecord:
    """The resfed fields of `message`; FlowerRunError if it is an error reply or holds none."""
    node = message.metadata.src_node_id
    if message.has_error():
        raise FlowerRunError(f"node {node} failed ({message.metadata.message_type}): {message.error.reason}")
    if KEY not in message.content.config_records:
        raise FlowerRunError(f"node {node} sent a {message.metadata.message_type!r} message without a {KEY!r} record")
    return message.content.config_records[KEY]
