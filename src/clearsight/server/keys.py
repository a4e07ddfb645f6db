"""Access keys issued by ClearSight. Secrets are stored encrypted (Fernet, with a master key
kept in the data directory, mode 0600) because SigV4 verification needs the secret itself; they
are shown once, at creation, and never logged. The table lives in the store's database
(``storage_url``: ``clearsight.db`` by default, or PostgreSQL) and is read and written through
the process's one database object for it (its migrations create it; its errors are StorageError)."""

from __future__ import annotations

import os
import secrets
import string
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InvalidParameterException, ResourceNotFoundException
from ..storage.backends import open_database_for
from ..storage.keys import AccessKeyTable, KeyDatabase

_ALPHABET = string.ascii_uppercase + string.digits


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
    def __init__(self, data_dir: Path, database: KeyDatabase | None = None, *, storage_url: str = "") -> None:
        from cryptography.fernet import Fernet

        data_dir.mkdir(parents=True, exist_ok=True)
        master = data_dir / "master.key"
        if not master.exists():
            fd = os.open(master, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(Fernet.generate_key())
        self._fernet = Fernet(master.read_bytes())
        self._db: KeyDatabase = database if database is not None else open_database_for(storage_url, data_dir)
        self._rows = AccessKeyTable(self._db)

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
        self._rows.insert(key_id, name, token, time.time(), "admin" in scopes, ",".join(sorted(scopes)), collections,
                          purpose)
        return key_id, secret

    def get(self, key_id: str) -> AccessKey | None:
        row = self._rows.get(key_id)
        return _key(row) if row else None

    def secret(self, key_id: str) -> str | None:
        """The secret of an active key, or None for an unknown or revoked key (read every time, so a
        key revoked by another process stops working at once)."""
        token = self._rows.active_secret(key_id)
        return self._fernet.decrypt(token.encode()).decode() if token is not None else None

    def list(self) -> list[AccessKey]:
        return [_key(r) for r in self._rows.all()]

    def revoke(self, key_id: str) -> None:
        if not self._rows.revoke(key_id, time.time()):
            raise ResourceNotFoundException(f"no active access key {key_id}")

    def empty(self) -> bool:
        return self._rows.count() == 0
