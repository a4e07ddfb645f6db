"""The caller of the current operation: set by the HTTP layer per request, or by the CLI."""

from __future__ import annotations

import contextvars
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Caller:
    access_key_id: str = "local"
    purpose: str | None = None
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    scopes: frozenset[str] = frozenset({"admin"})  # operation groups; "admin" allows everything
    collections: tuple[str, ...] = ("*",)  # fnmatch patterns


_CURRENT: contextvars.ContextVar[Caller | None] = contextvars.ContextVar("clearsight_caller", default=None)


def current() -> Caller:
    """The caller of the running operation (a local, admin caller outside any request)."""
    return _CURRENT.get() or Caller()


@contextmanager
def acting_as(caller: Caller) -> Iterator[Caller]:
    token = _CURRENT.set(caller)
    try:
        yield caller
    finally:
        _CURRENT.reset(token)
