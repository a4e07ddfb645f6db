"""Scoped access keys: which operation groups and which collections a key may use."""

from __future__ import annotations

import fnmatch

from ..errors import AccessDeniedException, InvalidParameterException
from .context import Caller

# The scope groups a key can hold. Which operation needs which group is declared once, in the
# operation table (clearsight.operations, OPERATIONS[...].group; SCOPE_GROUPS lists them per group).
SCOPES: tuple[str, ...] = ("detect", "compare", "search", "enrol", "delete", "admin", "audit")


def parse_scopes(text: str | None) -> frozenset[str]:
    if not text:
        return frozenset({"detect", "compare", "search"})
    scopes = frozenset(s.strip() for s in text.split(",") if s.strip())
    unknown = scopes - set(SCOPES)
    if unknown:
        raise InvalidParameterException(f"unknown scope(s) {', '.join(sorted(unknown))}; use {', '.join(SCOPES)}")
    return scopes


def may_use(caller: Caller, collection: str) -> bool:
    """Whether the caller's key covers this collection (its fnmatch patterns)."""
    return any(fnmatch.fnmatchcase(collection, p) for p in caller.collections)


def allowed(caller: Caller, group: str, operation: str, collection: str | None) -> None:
    """Raise AccessDeniedException when the caller's key does not cover this request: an operation
    of scope ``group`` on ``collection`` (None: no collection)."""
    if "admin" not in caller.scopes and group not in caller.scopes:
        scopes = ", ".join(sorted(caller.scopes))
        raise AccessDeniedException(
            f"access key {caller.access_key_id} may not call {operation} (its scopes: {scopes})")
    if collection is not None and not may_use(caller, collection):
        raise AccessDeniedException(
            f"access key {caller.access_key_id} may not use collection {collection!r} "
            f"(allowed: {', '.join(caller.collections)})")
