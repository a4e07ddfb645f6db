"""The stored-video jobs of :class:`~.store.SqliteStore`: the ``video_jobs`` and ``video_results``
tables (migration 3). Results rows hold what was seen at each sampled timestamp and never name an
enrolled face; the job's ``summary`` does, and deletions scrub it (:func:`~..base.scrub_summary`)
in their own transaction."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ...errors import LimitExceededException
from ..base import AuditHook, JobRow, ResultRow, scrub_summary
from .database import insert_row

__all__ = ["SqliteJobs"]


class SqliteJobs:
    """Job methods of SqliteStore (which provides these attributes)."""

    if TYPE_CHECKING:
        clock: Callable[[], float]

        def _write(self) -> Any: ...
        def _read(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]: ...

    @staticmethod
    def _scrub_jobs(db: sqlite3.Connection, collection_id: str, face_ids: set[str] | None, user_ids: set[str]) -> None:
        rows = db.execute("SELECT job_id, summary FROM video_jobs WHERE collection_id=? AND summary IS NOT NULL",
                          (collection_id,)).fetchall()
        for job_id, summary in rows:
            scrubbed = scrub_summary(summary, collection_id, face_ids, user_ids)
            if scrubbed != summary:
                db.execute("UPDATE video_jobs SET summary=? WHERE job_id=?", (scrubbed, job_id))

    def create_job(self, job: JobRow, *, max_active: int, audit: AuditHook | None = None) -> JobRow:
        with self._write() as db:
            row = db.execute("SELECT * FROM video_jobs WHERE job_id=?", (job.job_id,)).fetchone()
            if row is not None:
                return JobRow(**dict(row))
            active = db.execute("SELECT count(*) FROM video_jobs WHERE status='IN_PROGRESS'").fetchone()[0]
            if active >= max_active:
                raise LimitExceededException(
                    f"{active} video jobs are queued or running, the most allowed (setting video_max_jobs); "
                    "retry when one has finished")
            insert_row(db, "video_jobs", job)
            if audit:
                audit(_tx(db))
        return job

    def job(self, job_id: str) -> JobRow | None:
        rows = self._read("SELECT * FROM video_jobs WHERE job_id=?", (job_id,))
        return JobRow(**dict(rows[0])) if rows else None

    def jobs(self, *, status: str | None = None, after: str = "", limit: int = 1000) -> list[JobRow]:
        rows = self._read("SELECT * FROM video_jobs WHERE job_id > ? AND (?2 IS NULL OR status=?2) "
                          "ORDER BY job_id LIMIT ?3", (after, status, limit))
        return [JobRow(**dict(r)) for r in rows]

    def claim_job(self, job_id: str, owner: str | None, *, expected: str | None) -> bool:
        with self._write() as db:
            n = db.execute("UPDATE video_jobs SET owner=?, updated=? WHERE job_id=? AND owner IS ? "
                           "AND status='IN_PROGRESS'", (owner, self.clock(), job_id, expected)).rowcount
        return bool(n == 1)

    def checkpoint_job(self, job_id: str, owner: str, *, progress_ms: int, state: str | None,
                       results: Sequence[ResultRow]) -> bool:
        with self._write() as db:
            n = db.execute("UPDATE video_jobs SET progress_ms=?, state=?, updated=? WHERE job_id=? AND owner=? "
                           "AND status='IN_PROGRESS'", (progress_ms, state, self.clock(), job_id, owner)).rowcount
            if n != 1:
                return False
            db.executemany("INSERT OR REPLACE INTO video_results VALUES (?,?,?,?)",
                           [(job_id, ts, i, item) for ts, i, item in results])
        return True

    def finish_job(self, job_id: str, *, status: str, message: str | None, summary: str | None,
                   expires: float | None, audit: AuditHook | None = None) -> None:
        with self._write() as db:
            db.execute("UPDATE video_jobs SET status=?, status_message=?, summary=?, expires=?, state=NULL, "
                       "owner=NULL, updated=? WHERE job_id=?", (status, message, summary, expires, self.clock(),
                                                                 job_id))
            if audit:
                audit(_tx(db))

    def job_results(self, job_id: str, *, by_index: bool = False, after: tuple[int, int] | None = None,
                    limit: int = 1000) -> list[ResultRow]:
        a, b = after if after is not None else (-1, -1)
        order = "idx, timestamp" if by_index else "timestamp, idx"
        rows = self._read(f"SELECT timestamp, idx, item FROM video_results WHERE job_id=? AND ({order}) > (?, ?) "
                          f"ORDER BY {order} LIMIT ?", (job_id, a, b, limit))
        return [(int(r[0]), int(r[1]), str(r[2])) for r in rows]

    def purge_jobs(self, before: float) -> list[str]:
        with self._write() as db:
            ids = [r[0] for r in db.execute("SELECT job_id FROM video_jobs WHERE expires < ? ORDER BY job_id",
                                            (before,))]
            db.executemany("DELETE FROM video_results WHERE job_id=?", [(j,) for j in ids])
            db.executemany("DELETE FROM video_jobs WHERE job_id=?", [(j,) for j in ids])
        return ids


def _tx(db: sqlite3.Connection) -> Any:
    from .store import SqliteTx

    return SqliteTx(db)
