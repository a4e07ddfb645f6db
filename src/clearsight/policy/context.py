"""The caller of the current operation: set by the HTTP layer per request, or by the CLI."""

from __future__ import annotations

import contextvars
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Caller:
    access_key_id: str = "local"
    purpose: str | None = None
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    scopes: frozenset[str] = frozenset({"admin"})  # operation groups; "admin" allows everything
    collections: tuple[str, ...] = ("*",)  # fnmatch patterns

    def to_json(self) -> str:
        """What a job or a stream processor stores to run as this caller later."""
        return json.dumps({**asdict(self), "scopes": sorted(self.scopes)})

    @classmethod
    def from_json(cls, text: str) -> Caller:
        stored = json.loads(text)
        return cls(**{**stored, "scopes": frozenset(stored["scopes"]), "collections": tuple(stored["collections"])})


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
