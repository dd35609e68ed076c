"""Many AMQP frames in one socket write.

py-amqp writes every frame it sends — each publish, each ack — with a ``sendall`` of its
own; through eventlet's green socket that is a dozen Python calls and a system call per
frame. A connection made with ``frame_writer`` below (kombu: the transport option
``frame_writer``) can be *corked* by a caller that sends many frames in a row without
waiting for the broker in between — the outbox relay's publishes, a batch's acks: the
frames are collected and leave in one write when the block ends (also when it raises: each
frame is whole, and the broker sees them in the order they were made).
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from amqp import method_framing


class Cork:
    """The transport as py-amqp's frame writer sees it: passes writes through, or collects
    them while corked."""

    def __init__(self, transport) -> None:
        self._transport = transport
        self._pending: list[bytes] | None = None

    def write(self, data) -> None:
        if self._pending is None:
            self._transport.write(data)
        else:
            self._pending.append(bytes(data))   # the writer reuses its buffer: copy

    @contextmanager
    def corked(self) -> Iterator[None]:
        if self._pending is not None:          # already corked by an outer block
            yield
            return
        self._pending = []
        try:
            yield
        finally:
            pending, self._pending = self._pending, None
            if pending:
                self._transport.write(b"".join(pending))


def frame_writer(connection, transport):
    """``amqp.Connection(frame_writer=...)``: py-amqp's own writer, over a ``Cork``."""
    connection.cork = Cork(transport)
    return method_framing.frame_writer(connection, connection.cork)


@contextmanager
def corked(connection) -> Iterator[None]:
    """Cork ``connection`` (an ``amqp.Connection``) for the block, if it was made with
    ``frame_writer``; otherwise the block runs as is."""
    cork = getattr(connection, "cork", None)
    if cork is None:
        yield
    else:
        with cork.corked():
            yield
