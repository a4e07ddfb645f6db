"""Console sessions: signed HttpOnly cookies, a CSRF token per session, idle expiry, and the
one-time login URLs ``clearsight console login`` prints.

The signing key is ``console.key`` in the data directory (mode 0600, made on first use), so the
CLI and the server agree on login tokens without talking to each other. Sessions live in the
server's memory: a restart logs everyone out, and a revoked key's sessions end on its next
request (the key store is read on every request)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

COOKIE = "clearsight_console"
KEY_FILE = "console.key"
LOGIN_TOKEN_SECONDS = 300.0


def console_key(data_dir: Path) -> bytes:
    """The console's signing key (32 random bytes, created once with mode 0600)."""
    path = data_dir / KEY_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_bytes()
        with os.fdopen(fd, "wb") as fh:
            fh.write(secrets.token_bytes(32))
    return path.read_bytes()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def login_token(key: bytes, access_key_id: str, *, now: float | None = None,
                lifetime: float = LOGIN_TOKEN_SECONDS) -> str:
    """A one-time login token for ``access_key_id``, valid ``lifetime`` seconds."""
    expires = int((time.time() if now is None else now) + lifetime)
    body = _b64(f"{access_key_id}|{expires}|{secrets.token_hex(12)}".encode())
    return body + "." + _b64(hmac.new(key, b"login:" + body.encode(), hashlib.sha256).digest()[:24])


@dataclass
class Session:
    access_key_id: str
    csrf: str
    created: float
    last_seen: float
    flash: list[tuple[str, str]] = field(default_factory=list)  # (kind, text) shown on the next page


class Sessions:
    """The server's console sessions, keyed by a random id carried in a signed cookie."""

    def __init__(self, key: bytes, *, idle_seconds: float) -> None:
        self._key = key
        self.idle = idle_seconds
        self._sessions: dict[str, Session] = {}
        self._used_tokens: dict[str, float] = {}  # nonce -> expiry (one-time login tokens)
        self._lock = threading.Lock()

    def _sign(self, sid: str) -> str:
        return _b64(hmac.new(self._key, b"session:" + sid.encode(), hashlib.sha256).digest())

    def create(self, access_key_id: str) -> tuple[str, Session]:
        """A new session; returns the cookie value and the session."""
        sid = secrets.token_urlsafe(24)
        now = time.time()
        session = Session(access_key_id, secrets.token_urlsafe(24), now, now)
        with self._lock:
            self._expire(now)
            self._sessions[sid] = session
        return f"{sid}.{self._sign(sid)}", session

    def get(self, cookie: str | None) -> Session | None:
        """The live session a cookie names (its idle clock restarted), or None."""
        if not cookie or "." not in cookie:
            return None
        sid, sig = cookie.rsplit(".", 1)
        if not hmac.compare_digest(sig, self._sign(sid)):
            return None
        now = time.time()
        with self._lock:
            session = self._sessions.get(sid)
            if session is None or now - session.last_seen > self.idle:
                self._sessions.pop(sid, None)
                return None
            session.last_seen = now
            return session

    def end(self, cookie: str | None) -> None:
        if cookie and "." in cookie:
            with self._lock:
                self._sessions.pop(cookie.rsplit(".", 1)[0], None)

    def end_key(self, access_key_id: str) -> None:
        """End every session of a key (after it is revoked)."""
        with self._lock:
            for sid in [s for s, v in self._sessions.items() if v.access_key_id == access_key_id]:
                del self._sessions[sid]

    def redeem(self, token: str, *, now: float | None = None) -> str | None:
        """The access key id of a valid, unused, unexpired login token (then used up), or None."""
        now = time.time() if now is None else now
        try:
            body, sig = token.split(".", 1)
            expected = _b64(hmac.new(self._key, b"login:" + body.encode(), hashlib.sha256).digest()[:24])
            if not hmac.compare_digest(sig, expected):
                return None
            key_id, expires, nonce = _unb64(body).decode().split("|")
        except (ValueError, UnicodeDecodeError):
            return None
        if float(expires) < now:
            return None
        with self._lock:
            self._used_tokens = {n: e for n, e in self._used_tokens.items() if e >= now}
            if nonce in self._used_tokens:
                return None
            self._used_tokens[nonce] = float(expires)
        return key_id

    def _expire(self, now: float) -> None:
        for sid in [s for s, v in self._sessions.items() if now - v.last_seen > self.idle]:
            del self._sessions[sid]
