"""The audit trail: one hash-chained record per operation that touches biometric data.

Each record stores the SHA-256 of the previous record's hash and its own canonical JSON, so any
edited, deleted, inserted or reordered record breaks the chain at that point, and ``verify``
names it. Records never contain images or vectors: only the probe image's SHA-256, ids and
similarities. Appending happens inside the operation's own database transaction where the
operation writes (IndexFaces, deletions, associations), and before results are returned where it
only reads (searches, CompareFaces): if the record cannot be written, the operation fails.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from .context import current

if TYPE_CHECKING:
    from ..collections.store import Store

GENESIS = "0" * 64
SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY,
    record TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
"""


@dataclass
class AuditRecord:
    operation: str
    collection: str | None = None
    threshold: float | None = None
    gallery_size: int | None = None
    probe_sha256: str | None = None
    results: list[dict[str, Any]] = field(default_factory=list)
    outcome: str = "ok"  # ok | refused | error
    detail: str | None = None
    time: float = field(default_factory=time.time)
    request_id: str = ""
    access_key_id: str = ""
    purpose: str | None = None

    def __post_init__(self) -> None:
        caller = current()
        self.request_id = self.request_id or caller.request_id
        self.access_key_id = self.access_key_id or caller.access_key_id
        self.purpose = self.purpose or caller.purpose


def canonical(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def chain_hash(prev_hash: str, record_json: str) -> str:
    return hashlib.sha256((prev_hash + "\n" + record_json).encode()).hexdigest()


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    records: int
    first_bad: int | None = None
    problem: str | None = None
    head: str = GENESIS


class AuditLog:
    def __init__(self, store: Store) -> None:
        self.store = store
        with store.connection_for_schema() as db:
            db.executescript(SCHEMA)

    def append_in(self, db: sqlite3.Connection, record: AuditRecord) -> dict[str, Any]:
        """Append inside the caller's open write transaction."""
        row = db.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        seq, prev = (row[0] + 1, row[1]) if row else (1, GENESIS)
        body = {"seq": seq, **asdict(record)}
        text = canonical(body)
        db.execute("INSERT INTO audit VALUES (?,?,?,?)", (seq, text, prev, chain_hash(prev, text)))
        return body

    def append(self, record: AuditRecord) -> dict[str, Any]:
        with self.store.transaction() as db:
            return self.append_in(db, record)

    def rows(self) -> Iterator[tuple[int, str, str, str]]:
        yield from self.store.db.execute("SELECT seq, record, prev_hash, hash FROM audit ORDER BY seq")

    def records(self, *, since: float | None = None, key: str | None = None, collection: str | None = None,
                purpose: str | None = None) -> Iterator[dict[str, Any]]:
        for _, text, _, h in self.rows():
            r: dict[str, Any] = json.loads(text)
            if since is not None and r["time"] < since:
                continue
            if key is not None and r["access_key_id"] != key:
                continue
            if collection is not None and r["collection"] != collection:
                continue
            if purpose is not None and r["purpose"] != purpose:
                continue
            yield {**r, "hash": h}

    def verify(self, rows: Iterator[tuple[int, str, str, str]] | None = None) -> VerifyResult:
        """Walk the chain; the first record whose link or hash is wrong is reported."""
        prev, expected_seq, n = GENESIS, 1, 0
        for seq, text, prev_hash, h in rows if rows is not None else self.rows():
            n += 1
            try:
                body_seq = json.loads(text).get("seq")
            except ValueError:
                return VerifyResult(False, n, seq, "the record is not valid JSON (edited)", prev)
            if seq != expected_seq or body_seq != seq:
                what = "missing or reordered records before it" if seq > expected_seq or body_seq != seq \
                    else "an inserted or reordered record"
                return VerifyResult(False, n, seq, f"expected record {expected_seq}: {what}", prev)
            if prev_hash != prev:
                return VerifyResult(False, n, seq, "its link to the previous record is broken "
                                    "(a record before it was deleted, inserted, reordered or edited)", prev)
            if chain_hash(prev_hash, text) != h:
                return VerifyResult(False, n, seq, "its content does not match its hash (edited)", prev)
            prev, expected_seq = h, expected_seq + 1
        return VerifyResult(True, n, head=prev)
