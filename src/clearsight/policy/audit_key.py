"""The audit trail's key: keyed record hashes, signed checkpoints and pseudonyms.

The key is an HMAC-SHA256 key the database does not hold: setting ``audit_key`` (hex), or the
file ``audit_key_file`` (default ``<data_dir>/audit.key``, created with mode 0600 on first use).
With it, whoever can write ``clearsight.db`` but not read the key can no longer recompute the
chain after editing, inserting or appending records, nor forge a checkpoint.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import threading
from pathlib import Path
from typing import Any

from ..errors import InvalidParameterException

KEY_BYTES = 32
CHECKPOINT_FORMAT = "clearsight-audit-checkpoint/1"
PSEUDONYM_PREFIX = "ps:"
PSEUDONYM_HEX = 24  # 96 bits: collisions are not a concern at audit-trail sizes


def canonical(record: Any) -> str:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def load_key(*, hex_key: str = "", key_file: str = "", data_dir: Path) -> tuple[bytes, bool]:
    """The audit key and whether it was created just now (a key file is created 0600, exclusively)."""
    if hex_key:
        try:
            key = bytes.fromhex(hex_key.strip())
        except ValueError as exc:
            raise InvalidParameterException("audit_key is not hex (generate one: openssl rand -hex 32)") from exc
        if len(key) < KEY_BYTES:
            raise InvalidParameterException(
                f"audit_key must be at least {KEY_BYTES} bytes ({2 * KEY_BYTES} hex digits)")
        return key, False
    path = Path(key_file) if key_file else data_dir / "audit.key"
    created = False
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process created it first: use theirs
            pass
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(os.urandom(KEY_BYTES).hex() + "\n")
            created = True
    try:
        key = bytes.fromhex(path.read_text().strip())
    except (OSError, ValueError) as exc:
        raise InvalidParameterException(f"cannot read the audit key from {path}: {exc}") from exc
    if len(key) < KEY_BYTES:
        raise InvalidParameterException(f"the audit key in {path} is shorter than {KEY_BYTES} bytes")
    return key, created


class AuditKey:
    def __init__(self, key: bytes) -> None:
        self._key = key
        self.key_id = hmac.new(key, b"clearsight audit key id", hashlib.sha256).hexdigest()[:16]

    def chain_hash(self, prev_hash: str, record_json: str) -> str:
        return hmac.new(self._key, (prev_hash + "\n" + record_json).encode(), hashlib.sha256).hexdigest()

    def pseudonym(self, value: str) -> str:
        """A stable stand-in for a FaceId, ExternalImageId or UserId: equal ids give equal pseudonyms,
        and without the key a pseudonym cannot be checked against a guessed name."""
        digest = hmac.new(self._key, b"clearsight pseudonym\n" + value.encode(), hashlib.sha256).hexdigest()
        return PSEUDONYM_PREFIX + digest[:PSEUDONYM_HEX]

    def _signature(self, body: dict[str, Any]) -> str:
        unsigned = {k: v for k, v in body.items() if k != "signature"}
        return hmac.new(self._key, b"clearsight checkpoint\n" + canonical(unsigned).encode(),
                        hashlib.sha256).hexdigest()

    def sign_checkpoint(self, *, seq: int, head: str, keyed_from: int | None, intact: bool = True) -> dict[str, Any]:
        body: dict[str, Any] = {"format": CHECKPOINT_FORMAT, "seq": seq, "hash": head, "keyed_from": keyed_from,
                                "key_id": self.key_id, "intact": intact,
                                "time": dt.datetime.now(dt.UTC).isoformat()}
        body["signature"] = self._signature(body)
        return body

    def check_checkpoint(self, cp: Any) -> tuple[dict[str, Any] | None, bool, str | None]:
        """(checkpoint, signed, problem). A checkpoint without a signature (written before the chain
        was keyed) is still usable for its seq and hash; a signed one must be signed by this key."""
        if not isinstance(cp, dict) or not isinstance(cp.get("seq"), int) or isinstance(cp.get("seq"), bool) \
                or not isinstance(cp.get("hash"), str) or cp["seq"] < 0:
            return None, False, "the checkpoint is not a checkpoint (it needs an integer seq and a hash)"
        if "signature" not in cp:
            return cp, False, None
        if cp.get("key_id") != self.key_id:
            return None, True, (f"the checkpoint was signed by audit key {cp.get('key_id')}, not by this "
                                f"server's key {self.key_id}")
        if not isinstance(cp["signature"], str) or not hmac.compare_digest(cp["signature"], self._signature(cp)):
            return None, True, "the checkpoint's signature is wrong (the file was edited)"
        keyed_from = cp.get("keyed_from")
        if keyed_from is not None and (not isinstance(keyed_from, int) or isinstance(keyed_from, bool)):
            return None, True, "the checkpoint's keyed_from is not a record number"
        return cp, True, None


def legacy_chain_hash(prev_hash: str, record_json: str) -> str:
    """The unkeyed SHA-256 link of records written before the chain was keyed."""
    return hashlib.sha256((prev_hash + "\n" + record_json).encode()).hexdigest()


def read_checkpoint(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as exc:
        raise InvalidParameterException(f"cannot read the checkpoint {path}: {exc}") from exc


def write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
