"""Access keys issued by ClearSight. Secrets are stored encrypted (Fernet, with a master key
kept in the data directory, mode 0600) because SigV4 verification needs the secret itself; they
are shown once, at creation, and never logged."""

from __future__ import annotations

import os
import secrets
import sqlite3
import string
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InvalidParameterException, ResourceNotFoundException

SCHEMA = """
CREATE TABLE IF NOT EXISTS access_keys (
    access_key_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    secret TEXT NOT NULL,
    created REAL NOT NULL,
    revoked REAL,
    admin INTEGER NOT NULL DEFAULT 0,
    scopes TEXT NOT NULL DEFAULT 'detect,compare,search',
    collections TEXT NOT NULL DEFAULT '*',
    purpose TEXT
);
"""
_ALPHABET = string.ascii_uppercase + string.digits
_COLUMNS = "access_key_id, name, created, revoked, scopes, collections, purpose"


def _key(r: tuple[Any, ...]) -> AccessKey:
    return AccessKey(r[0], r[1], r[2], r[3], frozenset(r[4].split(",")), tuple(r[5].split(",")), r[6])


@dataclass(frozen=True)
class AccessKey:
    access_key_id: str
    name: str
    created: float
    revoked: float | None
    scopes: frozenset[str]
    collections: tuple[str, ...]
    purpose: str | None

    @property
    def admin(self) -> bool:
        return "admin" in self.scopes


class KeyStore:
    def __init__(self, data_dir: Path) -> None:
        from cryptography.fernet import Fernet

        data_dir.mkdir(parents=True, exist_ok=True)
        master = data_dir / "master.key"
        if not master.exists():
            fd = os.open(master, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(Fernet.generate_key())
        self._fernet = Fernet(master.read_bytes())
        self._path = data_dir / "clearsight.db"
        self._local = threading.local()
        self._lock = threading.Lock()
        self._db.executescript(SCHEMA)

    @property
    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = sqlite3.connect(self._path, timeout=30, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
        return db

    def create(self, name: str, *, scopes: frozenset[str] | None = None, collections: str = "*",
               purpose: str | None = None) -> tuple[str, str]:
        """A new key; ``scopes`` are operation groups (default detect, compare, search), ``collections``
        comma-separated fnmatch patterns, ``purpose`` the default purpose recorded for its requests."""
        from ..policy.scopes import parse_scopes

        if not name or len(name) > 128:
            raise InvalidParameterException("a key needs a name of 1-128 characters")
        scopes = scopes if scopes is not None else parse_scopes(None)
        parse_scopes(",".join(scopes))  # validates
        key_id = "CSK" + "".join(secrets.choice(_ALPHABET) for _ in range(17))
        secret = secrets.token_urlsafe(30)
        token = self._fernet.encrypt(secret.encode()).decode()
        with self._lock:
            self._db.execute("INSERT INTO access_keys VALUES (?,?,?,?,NULL,?,?,?,?)",
                             (key_id, name, token, time.time(), int("admin" in scopes), ",".join(sorted(scopes)),
                              collections, purpose))
        return key_id, secret

    def get(self, key_id: str) -> AccessKey | None:
        row = self._db.execute(f"SELECT {_COLUMNS} FROM access_keys WHERE access_key_id=?", (key_id,)).fetchone()
        return _key(row) if row else None

    def secret(self, key_id: str) -> str | None:
        """The secret of an active key, or None for an unknown or revoked key (read every time, so a
        key revoked by another process stops working at once)."""
        row = self._db.execute("SELECT secret FROM access_keys WHERE access_key_id=? AND revoked IS NULL",
                               (key_id,)).fetchone()
        return self._fernet.decrypt(row[0].encode()).decode() if row else None

    def list(self) -> list[AccessKey]:
        rows = self._db.execute(f"SELECT {_COLUMNS} FROM access_keys ORDER BY created").fetchall()
        return [_key(r) for r in rows]

    def revoke(self, key_id: str) -> None:
        with self._lock:
            cur = self._db.execute("UPDATE access_keys SET revoked=? WHERE access_key_id=? AND revoked IS NULL",
                                   (time.time(), key_id))
        if cur.rowcount == 0:
            raise ResourceNotFoundException(f"no active access key {key_id}")

    def empty(self) -> bool:
        return int(self._db.execute("SELECT count(*) FROM access_keys").fetchone()[0]) == 0
