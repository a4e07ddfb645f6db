"""The audit trail: one keyed, hash-chained record per operation that touches biometric data.

Each record stores the previous record's hash and an HMAC-SHA256, under the audit key, of that
hash and its own canonical JSON, so any edited, deleted, inserted or reordered record breaks the
chain at that point, and ``verify`` names it; without the key nobody can recompute the chain after
tampering. Signed checkpoints (one kept beside the database, refreshed as records are appended,
and any number exported off the machine) catch records removed from the end or a dropped table.
Records written before the chain was keyed carry no ``chain`` field and are linked by plain
SHA-256: verifiable as before, and only as strong as before; once a keyed record exists, an
unkeyed one after it is tampering.

Records never contain images or vectors, and name faces and people only by keyed pseudonyms
(:meth:`AuditLog.pseudonym`): the probe image's SHA-256, pseudonymous ids and similarities.
Appending happens inside the operation's own database transaction where the operation writes
(IndexFaces, deletions, associations), and before results are returned where it only reads
(searches, CompareFaces): if the record cannot be written, the operation fails. The chain is
computed here, the same on every backend: a backend only hands over the chain's head and appends
rows (:class:`~clearsight.storage.base.AuditTx`, the ``audit_*`` methods of its Store).
"""

from __future__ import annotations

import functools
import hmac
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from ..errors import AccessDeniedException, ClearSightError, InvalidParameterException, StorageError
from .audit_key import AuditKey, canonical, legacy_chain_hash, load_key, read_checkpoint, write_atomically
from .context import current

if TYPE_CHECKING:
    from ..settings import Settings
    from ..storage.base import AuditTx, Store

__all__ = ["GENESIS", "AuditLog", "AuditRecord", "VerifyResult", "audited", "canonical", "chain_hash",
           "current_record"]

log = logging.getLogger("clearsight.audit")
GENESIS = "0" * 64
KEYED = 2  # the "chain" field of keyed records; unkeyed (legacy) records have none
ID_FIELDS = ("FaceId", "ExternalImageId", "UserId", "SearchedFaceId", "SearchedUserId")
LOOKUP = {"face_id": ("FaceId", "SearchedFaceId"), "external_image_id": ("ExternalImageId",),
          "user_id": ("UserId", "SearchedUserId")}
UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
CHECKPOINT_SECONDS = 60.0  # the local checkpoint is refreshed at most this often, on append
chain_hash = legacy_chain_hash  # the unkeyed link, kept for tools that check legacy records


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


_RECORD: ContextVar[AuditRecord | None] = ContextVar("clearsight_audit_record", default=None)
F = TypeVar("F", bound=Callable[..., Any])


class _Audits(Protocol):
    audit: AuditLog


def current_record() -> AuditRecord:
    """The record of the audited operation running now (see :func:`audited`)."""
    rec = _RECORD.get()
    if rec is None:
        raise RuntimeError("current_record() outside an @audited operation")
    return rec


def audited(operation: str, *, collection: str | None = "collection_id") -> Callable[[F], F]:
    """The one audit wrapper, for every operation that touches biometric data and for every way in
    (HTTP, CLI, Python). The method finds its record with :func:`current_record` and fills it; the
    success path appends it itself (inside its write transaction, or before answering a read).
    A refusal or a failure is appended here, with the error, and re-raised. ``collection`` names
    the keyword argument that names the collection. The service must have an ``audit`` log."""
    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        def run(self: _Audits, *args: Any, **kwargs: Any) -> Any:
            value = kwargs.get(collection) if collection else None
            rec = AuditRecord(operation, value if isinstance(value, str) else None)
            token = _RECORD.set(rec)
            try:
                out = fn(self, *args, **kwargs)
                self.audit.maybe_checkpoint()
                return out
            except ClearSightError as exc:
                rec.outcome = "refused" if isinstance(exc, AccessDeniedException) else "error"
                rec.detail = f"{exc.code}: {exc.message}"
                self.audit.append(rec)
                raise
            finally:
                _RECORD.reset(token)

        return run  # type: ignore[return-value]

    return wrap


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    records: int
    first_bad: int | None = None
    problem: str | None = None
    head: str = GENESIS
    keyed_from: int | None = None  # the first keyed record (None: none yet)
    unkeyed: int = 0  # legacy records, linked by plain SHA-256
    checkpoints: int = 0  # checkpoints the chain was checked against
    signed_checkpoints: int = 0


class _Broken(Exception):
    def __init__(self, seq: int, problem: str) -> None:
        super().__init__(problem)
        self.seq, self.problem = seq, problem
        self.records, self.head = 0, GENESIS


class AuditLog:
    def __init__(self, store: Store, settings: Settings | None = None, *, data_dir: Path | None = None) -> None:
        """``data_dir`` holds the key file and the local checkpoint (default: the SQLite file's folder)."""
        self.store = store
        if data_dir is None:
            path = getattr(store, "path", None)
            if path is None:
                raise ValueError("AuditLog needs data_dir for a store without a file")
            data_dir = Path(path).parent
        raw, created = load_key(hex_key=str(getattr(settings, "audit_key", "") or ""),
                                key_file=str(getattr(settings, "audit_key_file", "") or ""), data_dir=data_dir)
        self.key = AuditKey(raw)
        self.checkpoint_path = data_dir / "audit.checkpoint"
        self.checkpoint_every = CHECKPOINT_SECONDS
        self._checkpoint_lock = threading.Lock()
        self._last_checkpoint = time.monotonic()
        if not self.checkpoint_path.exists():
            # pin where the keyed chain starts: later, a chain rewritten without the key, cut, or
            # dropped no longer matches this file (see docs/accountability.md for its limits)
            last = store.audit_last_record()
            if created or last is None or '"chain":' not in last:
                self.write_checkpoint()

    # --- writing --------------------------------------------------------------------------
    def pseudonym(self, value: str) -> str:
        return self.key.pseudonym(value)

    def _pseudonymise(self, record: AuditRecord) -> dict[str, Any]:
        body = asdict(record)
        raw: set[str] = set()
        results = []
        for r in body["results"]:
            r = dict(r)
            for name in ID_FIELDS:
                if isinstance(r.get(name), str):
                    raw.add(r[name])
                    r[name] = self.pseudonym(r[name])
            results.append(r)
        body["results"] = results
        if body["detail"]:
            detail = UUID.sub(lambda m: self.pseudonym(m.group(0)), body["detail"])
            for value in sorted(raw, key=len, reverse=True):
                detail = detail.replace(value, self.pseudonym(value))
            body["detail"] = detail
        return body

    def append_in(self, tx: AuditTx, record: AuditRecord) -> dict[str, Any]:
        """Append inside the caller's open write transaction (a store write's ``audit`` hook)."""
        head = tx.audit_head()
        seq, prev = (head[0] + 1, head[1]) if head else (1, GENESIS)
        body = {"seq": seq, "chain": KEYED, **self._pseudonymise(record)}
        text = canonical(body)
        tx.append_audit(seq, text, prev, self.key.chain_hash(prev, text))
        return body

    def hook(self, record: AuditRecord) -> Callable[[Any], object]:
        """A store write's audit hook: appends ``record`` inside that write's transaction."""
        return lambda db: self.append_in(db, record)

    def delete_hook(self, record: AuditRecord) -> Callable[[Any, list[str]], object]:
        """A deletion's audit hook: records the face ids the deletion found, in its transaction."""
        def hook(db: Any, found: list[str]) -> object:
            record.results = [{"FaceId": f} for f in found]
            return self.append_in(db, record)

        return hook

    def append(self, record: AuditRecord) -> dict[str, Any]:
        with self.store.transaction() as tx:
            body = self.append_in(tx, record)
        self.maybe_checkpoint()
        return body

    # --- checkpoints ----------------------------------------------------------------------
    def maybe_checkpoint(self) -> None:
        """Refresh the local checkpoint if it is older than ``checkpoint_every`` seconds (never fails
        the operation: the record is already written; a broken chain is logged and left as found)."""
        if time.monotonic() - self._last_checkpoint < self.checkpoint_every:
            return
        try:
            self.write_checkpoint()
        except Exception:
            log.exception("could not write the audit checkpoint %s", self.checkpoint_path)

    def local_checkpoint(self) -> Any:
        """The checkpoint kept beside the database (None if there is none; "unreadable" if damaged)."""
        try:
            return read_checkpoint(self.checkpoint_path)
        except FileNotFoundError:
            return None
        except InvalidParameterException:
            return "unreadable"

    def checkpoint(self, *, full: bool = True) -> tuple[dict[str, Any], VerifyResult]:
        """A signed checkpoint of the chain's head; of a broken chain, an unsigned note of where it
        breaks (``intact`` false), never something to verify against later. ``full`` false verifies
        only the records appended since the local checkpoint."""
        result = self.verify() if full else self._verify_tail()
        if not result.ok:
            return {"seq": result.records, "hash": result.head, "intact": False, "first_bad": result.first_bad,
                    "problem": result.problem}, result
        keyed_from = result.keyed_from or result.records + 1
        return self.key.sign_checkpoint(seq=result.records, head=result.head, keyed_from=keyed_from), result

    def _verify_tail(self) -> VerifyResult:
        """Verify what was appended since the local checkpoint (verified when it was written), from
        that checkpoint on; the whole chain when there is no usable one or anything is wrong."""
        found = self.local_checkpoint()
        cp, signed, _ = self.key.check_checkpoint(found) if found is not None else (None, False, None)
        if cp is None or not signed or cp.get("keyed_from") is None:
            return self.verify()
        seq0, h0, keyed_from = cp["seq"], cp["hash"], cp["keyed_from"]
        try:
            if (self.store.audit_hash(seq0) if seq0 else GENESIS) != h0:
                return self.verify()
            n, head, first_keyed, _ = self._walk(self.store.audit_rows(after=seq0), {}, keyed_from,
                                                 start=(seq0, h0, keyed_from if keyed_from <= seq0 else None))
        except (_Broken, StorageError):
            return self.verify()  # it names the problem exactly
        return VerifyResult(True, n, head=head, keyed_from=first_keyed)

    def write_checkpoint(self, *, full: bool = False) -> dict[str, Any] | None:
        """Verify the chain against the local checkpoint and, if intact, replace that checkpoint with
        one of the current head. A broken chain leaves the old checkpoint in place, as evidence."""
        if not self._checkpoint_lock.acquire(blocking=False):
            return None
        try:
            self._last_checkpoint = time.monotonic()
            cp, result = self.checkpoint(full=full)
            if not result.ok:
                log.error("audit chain broken at record %s: %s; the checkpoint %s was kept",
                          result.first_bad, result.problem, self.checkpoint_path)
                return None
            write_atomically(self.checkpoint_path, json.dumps(cp) + "\n")
            return cp
        finally:
            self._checkpoint_lock.release()

    # --- reading --------------------------------------------------------------------------
    def rows(self) -> Iterator[tuple[int, str, str, str]]:
        yield from self.store.audit_rows()

    def _ids(self, values: Iterable[str]) -> set[str]:
        """What a real id looks like in the records: its pseudonym, or itself in legacy records."""
        return {v for value in values for v in (value, self.pseudonym(value))}

    def records(self, *, since: float | None = None, key: str | None = None, collection: str | None = None,
                purpose: str | None = None, face_id: str | None = None, external_image_id: str | None = None,
                user_id: str | None = None) -> Iterator[dict[str, Any]]:
        """Records matching every given filter; ``face_id``, ``external_image_id`` and ``user_id`` are
        real ids (matched through their pseudonyms)."""
        wanted = {name: self._ids([v]) for name, v in (("face_id", face_id), ("external_image_id", external_image_id),
                                                        ("user_id", user_id)) if v is not None}
        for seq, text, _, h in self.rows():
            try:
                r = json.loads(text)
            except ValueError:
                r = None
            if not isinstance(r, dict):  # tampered with: shown as it is, for `audit verify` to explain
                r = {"seq": seq, "unreadable_record": text, "results": []}
            if since is not None and not (isinstance(r.get("time"), (int, float)) and r["time"] >= since):
                continue
            if key is not None and r.get("access_key_id") != key:
                continue
            if collection is not None and r.get("collection") != collection:
                continue
            if purpose is not None and r.get("purpose") != purpose:
                continue
            found = [x for x in r.get("results") or [] if isinstance(x, dict)]
            if any(not any(x.get(f) in ids for x in found for f in LOOKUP[name])
                   for name, ids in wanted.items()):
                continue
            yield {**r, "hash": h}

    # --- verifying ------------------------------------------------------------------------
    def verify(self, rows: Iterator[tuple[int, str, str, str]] | None = None, *,
               checkpoints: Iterable[Any] = (), local: bool = True) -> VerifyResult:
        """Walk the chain; the first record whose link, hash or key is wrong is reported. Each
        checkpoint (the local one too, unless ``local`` is false) must be signed by this key (or be
        an unsigned legacy one) and still be in the chain, unchanged."""
        cps: list[Any] = list(checkpoints)
        if local and (found := self.local_checkpoint()) is not None:
            cps.append(found)
        by_seq: dict[int, str] = {}
        keyed_from: int | None = None
        signed = 0
        for cp in cps:
            ok, was_signed, problem = self.key.check_checkpoint(cp)
            if ok is None:
                return VerifyResult(False, 0, None, problem or "bad checkpoint")
            signed += was_signed
            if by_seq.setdefault(ok["seq"], ok["hash"]) != ok["hash"]:
                return VerifyResult(False, 0, ok["seq"], f"two checkpoints disagree about record {ok['seq']}")
            if was_signed and ok.get("keyed_from") is not None:
                keyed_from = min(keyed_from or ok["keyed_from"], ok["keyed_from"])
        try:
            n, head, first_keyed, unkeyed = self._walk(rows if rows is not None else self.rows(), by_seq, keyed_from)
        except _Broken as exc:
            return VerifyResult(False, exc.records, exc.seq, exc.problem, exc.head, checkpoints=len(cps),
                                signed_checkpoints=signed)
        except StorageError as exc:
            return VerifyResult(False, 0, 1, f"the audit table cannot be read ({exc}): it was dropped or damaged")
        return VerifyResult(True, n, head=head, keyed_from=first_keyed, unkeyed=unkeyed, checkpoints=len(cps),
                            signed_checkpoints=signed)

    def _walk(self, rows: Iterable[tuple[int, str, str, str]], checkpoints: dict[int, str],
              keyed_from: int | None, start: tuple[int, str, int | None] = (0, GENESIS, None)
              ) -> tuple[int, str, int | None, int]:
        """Walk rows from ``start`` (seq, hash, first keyed seq of what lies before them)."""
        state: dict[str, Any] = {"n": start[0], "prev": start[1]}
        try:
            return self._walk_rows(rows, checkpoints, keyed_from, state, start)
        except _Broken as exc:
            exc.records, exc.head = int(state["n"]), str(state["prev"])
            raise

    def _walk_rows(self, rows: Iterable[tuple[int, str, str, str]], checkpoints: dict[int, str],
                   keyed_from: int | None, state: dict[str, Any], start: tuple[int, str, int | None]
                   ) -> tuple[int, str, int | None, int]:
        n, prev, first_keyed = start
        expected_seq, unkeyed = n + 1, 0
        for seq, text, prev_hash, h in rows:
            state["n"], state["prev"] = n + 1, prev
            n += 1
            try:
                body = json.loads(text)
            except ValueError:
                raise _Broken(seq, "the record is not valid JSON (edited)") from None
            if not isinstance(body, dict):
                raise _Broken(seq, "the record is not a JSON object (edited)")
            body_seq = body.get("seq")
            if seq != expected_seq or body_seq != seq:
                what = "missing or reordered records before it" if seq > expected_seq or body_seq != seq \
                    else "an inserted or reordered record"
                raise _Broken(seq, f"expected record {expected_seq}: {what}")
            if prev_hash != prev:
                raise _Broken(seq, "its link to the previous record is broken "
                                   "(a record before it was deleted, inserted, reordered or edited)")
            if "chain" in body:
                if body["chain"] != KEYED:
                    raise _Broken(seq, f"unknown chain version {body['chain']!r} (edited)")
                if first_keyed is None:
                    first_keyed = seq
                    if keyed_from is not None and seq != keyed_from:
                        raise _Broken(min(seq, keyed_from), f"the chain is keyed from record {seq}, but a signed "
                                      f"checkpoint says from record {keyed_from} (rewritten without the key)")
                want = self.key.chain_hash(prev_hash, text)
            else:
                if first_keyed is not None or (keyed_from is not None and seq >= keyed_from):
                    raise _Broken(seq, "an unkeyed record where the chain is keyed (rewritten or forged without "
                                       "the key)")
                unkeyed += 1
                want = legacy_chain_hash(prev_hash, text)
            if not isinstance(h, str) or not hmac.compare_digest(want, h):
                raise _Broken(seq, "its content does not match its hash (edited, or forged without the key)")
            if seq in checkpoints and checkpoints[seq] != h:
                raise _Broken(seq, "it is not the record a checkpoint saw (the chain was rewritten)")
            prev, expected_seq = h, expected_seq + 1
        for seq, h in sorted(checkpoints.items()):
            if seq == 0 and h != GENESIS:
                raise _Broken(1, "a checkpoint of an empty chain does not start at the genesis hash")
            if seq > n:
                raise _Broken(n + 1, f"the chain ends at record {n} but a checkpoint saw record {seq}: records "
                                     "were removed from its end, or the audit table was dropped")
        return n, prev, first_keyed, unkeyed


def checkpoint_file(path: str | Path) -> Any:
    """An exported checkpoint, as ``verify(checkpoints=[...])`` takes it."""
    return read_checkpoint(Path(path))
