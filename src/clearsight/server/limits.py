"""Resource limits of the HTTP service: connections, idle sockets, request bodies in memory.

A server that hangs under load is worse than one that says "not now": every limit here sheds
load with an AWS JSON ``ThrottlingException`` (which botocore retries), and nothing is shed
after an operation has started.

- :class:`BodyBudget`: request body bytes held in memory across all requests at once; a request
  whose Content-Length does not fit is refused before its body is read.
- :class:`GuardedH11Protocol`: uvicorn's h11 protocol with a cap on open connections (the
  connection over the cap gets an HTTP 503 ThrottlingException and is closed) and a deadline
  for each request's headers (an idle or slow-header socket is closed after ``idle_timeout``).
- :func:`raise_fd_limit`: the soft file-descriptor limit raised to the hard one at start, so
  that the connection cap, not the kernel, decides.
"""

from __future__ import annotations

import asyncio
import json
import logging
import resource
import threading
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from ..errors import ThrottlingException

log = logging.getLogger("clearsight.server")


class BodyBudget:
    """A shared budget of in-flight request body bytes."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._lock = threading.Lock()

    def ticket(self) -> Ticket:
        return Ticket(self)

    def _take(self, n: int) -> None:
        with self._lock:
            if n > 0 and self.used + n > self.limit:
                raise ThrottlingException(
                    f"the server is holding {self.used:,} bytes of request bodies (limit {self.limit:,}); "
                    "retry later")
            self.used += n

    def _give(self, n: int) -> None:
        with self._lock:
            self.used -= n


class Ticket:
    """One request's share of the budget; released once, when the request ends."""

    def __init__(self, budget: BodyBudget) -> None:
        self.budget = budget
        self.held = 0

    def grow(self, n: int) -> None:
        self.budget._take(n)
        self.held += n

    def release(self) -> None:
        self.budget._give(self.held)
        self.held = 0


def _shed_response(message: str) -> bytes:
    body = json.dumps(ThrottlingException(message).to_dict()).encode()
    head = ("HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/x-amz-json-1.1\r\n"
            f"x-amzn-ErrorType: ThrottlingException\r\ncontent-length: {len(body)}\r\nconnection: close\r\n\r\n")
    return head.encode() + body


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a connection cap and a header deadline.

    ``max_connections`` and ``idle_timeout`` are set on a subclass by :func:`protocol_class`."""

    max_connections = 200
    idle_timeout = 15.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._deadline: asyncio.TimerHandle | None = None
        self._shed = False
        if len(self.connections) > self.max_connections:
            log.warning("connection refused: %d open connections (limit %d)", len(self.connections) - 1,
                        self.max_connections)
            # answer first, then half-close and drain what the client sends: closing a socket with
            # unread data would reset it and the client might never see the answer
            self._shed = True
            transport.write(_shed_response(
                f"the server has {self.max_connections} open connections, its limit; retry later"))
            if transport.can_write_eof():
                transport.write_eof()
            self.loop.call_later(2.0, transport.close)
            return
        self._arm()

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.idle_timeout, self._expire)

    def _disarm(self) -> None:
        if getattr(self, "_deadline", None) is not None:
            assert self._deadline is not None
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        busy = self.cycle is not None and not self.cycle.response_complete
        if not busy and not self.transport.is_closing():
            self.transport.close()  # no complete request within idle_timeout: idle or slow headers

    def data_received(self, data: bytes) -> None:
        if self._shed:
            return  # already answered; the request is drained unread
        super().data_received(data)
        if self.cycle is not None and not self.cycle.response_complete:
            self._disarm()  # a request's headers are complete: the request's own limits apply now

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


def protocol_class(*, max_connections: int, idle_timeout: float) -> type[GuardedH11Protocol]:
    attrs: dict[str, Any] = {"max_connections": max_connections, "idle_timeout": idle_timeout}
    return type("ClearSightH11Protocol", (GuardedH11Protocol,), attrs)


def raise_fd_limit(wanted: int) -> int:
    """Raise the soft RLIMIT_NOFILE towards ``wanted`` (never above the hard limit); the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            log.warning("could not raise the file-descriptor limit to %d: %s", target, exc)
    return soft
