"""The stored-video jobs of :class:`~.store.PostgresStore` (migration 2), answering as
:class:`~..sqlite.jobs.SqliteJobs` does (``tests/storage/test_congruence.py``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from ...errors import LimitExceededException
from ..base import AuditHook, JobRow, ResultRow, scrub_summary

__all__ = ["PostgresJobs"]

COLUMNS = tuple(f.name for f in fields(JobRow))


def _job(row: Sequence[Any]) -> JobRow:
    values = dict(zip(COLUMNS, row))
    values["progress_ms"] = int(values["progress_ms"])
    return JobRow(**values)


class PostgresJobs:
    """Job methods of PostgresStore (which provides these attributes)."""

    if TYPE_CHECKING:
        clock: Callable[[], float]

        def _write(self) -> Any: ...
        def _read(self, query: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    @staticmethod
    def _scrub_jobs(conn: Any, collection_id: str, face_ids: set[str] | None, user_ids: set[str]) -> None:
        rows = conn.execute("SELECT job_id, summary FROM video_jobs WHERE collection_id=%s AND summary IS NOT NULL",
                            (collection_id,)).fetchall()
        for job_id, summary in rows:
            scrubbed = scrub_summary(summary, collection_id, face_ids, user_ids)
            if scrubbed != summary:
                conn.execute("UPDATE video_jobs SET summary=%s WHERE job_id=%s", (scrubbed, job_id))

    def create_job(self, job: JobRow, *, max_active: int, audit: AuditHook | None = None) -> JobRow:
        from .store import PostgresTx

        with self._write() as conn:
            row = conn.execute(f"SELECT {', '.join(COLUMNS)} FROM video_jobs WHERE job_id=%s",
                               (job.job_id,)).fetchone()
            if row is not None:
                return _job(row)
            active = conn.execute("SELECT count(*) FROM video_jobs WHERE status='IN_PROGRESS'").fetchone()[0]
            if active >= max_active:
                raise LimitExceededException(
                    f"{active} video jobs are queued or running, the most allowed (setting video_max_jobs); "
                    "retry when one has finished")
            conn.execute(f"INSERT INTO video_jobs ({', '.join(COLUMNS)}) VALUES ({', '.join(['%s'] * len(COLUMNS))})",
                         [getattr(job, c) for c in COLUMNS])
            if audit:
                audit(PostgresTx(conn))
        return job

    def job(self, job_id: str) -> JobRow | None:
        rows = self._read(f"SELECT {', '.join(COLUMNS)} FROM video_jobs WHERE job_id=%s", (job_id,))
        return _job(rows[0]) if rows else None

    def jobs(self, *, status: str | None = None, after: str = "", limit: int = 1000) -> list[JobRow]:
        rows = self._read(f"SELECT {', '.join(COLUMNS)} FROM video_jobs WHERE job_id > %s AND "
                          "(%s::text IS NULL OR status=%s) ORDER BY job_id LIMIT %s", (after, status, status, limit))
        return [_job(r) for r in rows]

    def claim_job(self, job_id: str, owner: str | None, *, expected: str | None) -> bool:
        with self._write() as conn:
            n = conn.execute("UPDATE video_jobs SET owner=%s, updated=%s WHERE job_id=%s AND "
                             "owner IS NOT DISTINCT FROM %s AND status='IN_PROGRESS'",
                             (owner, self.clock(), job_id, expected)).rowcount
        return bool(n == 1)

    def checkpoint_job(self, job_id: str, owner: str, *, progress_ms: int, state: str | None,
                       results: Sequence[ResultRow]) -> bool:
        with self._write() as conn:
            n = conn.execute("UPDATE video_jobs SET progress_ms=%s, state=%s, updated=%s WHERE job_id=%s AND "
                             "owner=%s AND status='IN_PROGRESS'",
                             (progress_ms, state, self.clock(), job_id, owner)).rowcount
            if n != 1:
                return False
            with conn.cursor() as cur:
                cur.executemany("INSERT INTO video_results VALUES (%s,%s,%s,%s) ON CONFLICT (job_id, timestamp, idx) "
                                "DO UPDATE SET item=excluded.item", [(job_id, ts, i, item) for ts, i, item in results])
        return True

    def finish_job(self, job_id: str, *, status: str, message: str | None, summary: str | None,
                   expires: float | None, audit: AuditHook | None = None) -> None:
        from .store import PostgresTx

        with self._write() as conn:
            conn.execute("UPDATE video_jobs SET status=%s, status_message=%s, summary=%s, expires=%s, state=NULL, "
                         "owner=NULL, updated=%s WHERE job_id=%s",
                         (status, message, summary, expires, self.clock(), job_id))
            if audit:
                audit(PostgresTx(conn))

    def job_results(self, job_id: str, *, by_index: bool = False, after: tuple[int, int] | None = None,
                    limit: int = 1000) -> list[ResultRow]:
        a, b = after if after is not None else (-1, -1)
        order = "idx, timestamp" if by_index else "timestamp, idx"
        rows = self._read(f"SELECT timestamp, idx, item FROM video_results WHERE job_id=%s AND ({order}) > (%s, %s) "
                          f"ORDER BY {order} LIMIT %s", (job_id, a, b, limit))
        return [(int(r[0]), int(r[1]), str(r[2])) for r in rows]

    def purge_jobs(self, before: float) -> list[str]:
        with self._write() as conn:
            ids = [r[0] for r in conn.execute("SELECT job_id FROM video_jobs WHERE expires < %s ORDER BY job_id",
                                              (before,)).fetchall()]
            if ids:
                conn.execute("DELETE FROM video_results WHERE job_id = ANY(%s)", (ids,))
                conn.execute("DELETE FROM video_jobs WHERE job_id = ANY(%s)", (ids,))
        return ids
