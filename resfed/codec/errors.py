"""The one exception a receiver has to handle: a message that cannot be trusted."""

from __future__ import annotations


class MessageError(ValueError):
    """A message is malformed, corrupted, truncated or does not belong to this link.

    ``what`` says what is wrong; ``offset`` (byte offset in the message) and ``tensor``
    (layout name) say where, when known. Coders raise it without a location and the
    pipeline adds the location of the payload it was decoding.
    """

    def __init__(self, what: str, *, offset: int | None = None, tensor: str | None = None):
        self.what = what
        self.offset = offset
        self.tensor = tensor
        where = []
        if tensor is not None:
            where.append(f"tensor {tensor!r}")
        if offset is not None:
            where.append(f"byte offset {offset}")
        super().__init__(f"{what} ({', '.join(where)})" if where else what)

    def located(self, *, offset: int | None = None, tensor: str | None = None) -> MessageError:
        """Return this error with a location, keeping any location it already has."""
        return MessageError(
            self.what,
            offset=self.offset if self.offset is not None else offset,
            tensor=self.tensor if self.tensor is not None else tensor,
        )
