"""Scoped access keys: which operation groups and which collections a key may use."""

from __future__ import annotations

import fnmatch

from ..errors import AccessDeniedException, InvalidParameterException
from .context import Caller

GROUPS: dict[str, tuple[str, ...]] = {
    "detect": ("DetectFaces", "DetectLabels", "DetectText"),
    "compare": ("CompareFaces",),
    "search": ("SearchFaces", "SearchFacesByImage", "SearchUsers", "SearchUsersByImage", "ListFaces",
               "ListUsers", "DescribeCollection", "ListCollections"),
    "enrol": ("IndexFaces", "CreateUser", "AssociateFaces", "DisassociateFaces", "CreateCollection"),
    "delete": ("DeleteFaces", "DeleteUser", "DeleteCollection"),
    "admin": (),  # everything, including policies and tags
    "audit": ("ClearSightAuditList", "ClearSightAuditVerify"),
}
ALL_SCOPES = tuple(GROUPS)


def parse_scopes(text: str | None) -> frozenset[str]:
    if not text:
        return frozenset({"detect", "compare", "search"})
    scopes = frozenset(s.strip() for s in text.split(",") if s.strip())
    unknown = scopes - set(GROUPS)
    if unknown:
        raise InvalidParameterException(f"unknown scope(s) {', '.join(sorted(unknown))}; use {', '.join(GROUPS)}")
    return scopes


def may_use(caller: Caller, collection: str) -> bool:
    """Whether the caller's key covers this collection (its fnmatch patterns)."""
    return any(fnmatch.fnmatchcase(collection, p) for p in caller.collections)


def allowed(caller: Caller, operation: str, collection: str | None) -> None:
    """Raise AccessDeniedException when the caller's key does not cover this request."""
    if "admin" not in caller.scopes and not any(operation in GROUPS[s] for s in caller.scopes):
        scopes = ", ".join(sorted(caller.scopes))
        raise AccessDeniedException(
            f"access key {caller.access_key_id} may not call {operation} (its scopes: {scopes})")
    if collection is not None and not may_use(caller, collection):
        raise AccessDeniedException(
            f"access key {caller.access_key_id} may not use collection {collection!r} "
            f"(allowed: {', '.join(caller.collections)})")
