"""Scale-out: a coordinator database (``storage_url``) lays each new collection's partition over
several PostgreSQL servers, the shards, with postgres_fdw, so that PostgreSQL does the
scatter-gather (docs/postgres.md, "Scale-out").

- ``clearsight store init --shards URL,URL,...`` (:func:`init`) records the shards in the
  coordinator's ``shards`` table, each as a postgres_fdw server (``extensions 'vector'`` so the
  distance operator and the casts ship) with a user mapping holding its credentials. A shard
  database belongs to one coordinator (``clearsight_shard`` on the shard says which).
- A sharded collection's ``faces_p<N>`` is partitioned by HASH(face_id); its partition with
  remainder k is a foreign table on shard k naming the shard's own ``faces_p<N>`` (with its HNSW
  index, vectors PLAIN, no column statistics: :func:`.partitions.shard_table_ddl`). Writes route
  through ``faces`` as before; postgres_fdw runs them in remote transactions committed when the
  coordinator commits (no two-phase commit: the window is documented).
- A search (:mod:`.index`) is one statement: a UNION ALL of one ``(SELECT ... FROM faces_p<N>_s<k>
  ORDER BY vector <#> q LIMIT n)`` per shard, each shipped whole (the ordered HNSW scan and the
  LIMIT run on the shard), then exact re-scoring.
- Running :func:`init` again with more URLs adds shards and rebalances every sharded collection:
  the rows whose hash remainder changes move (INSERT through the new partitioning, DELETE from the
  old shard) in the coordinator's transaction, verified by per-shard counts and an id checksum.
- Erasure (:func:`compact_shards`) runs VACUUM FULL + WAL switch + checkpoint on every shard, and
  drops shard tables no collection of the coordinator names (a deleted collection's).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql

from ...errors import InvalidParameterException, StorageError
from .database import redact, translate
from .partitions import attach_foreign, children, is_sharded, partition, shard_table_ddl

if TYPE_CHECKING:
    from .database import PgDatabase

__all__ = ["compact_shards", "count", "drop_partition", "fulfil", "init", "intend", "prepare_partition", "repair",
           "repairing", "servers", "status"]

Conn = psycopg.Connection[Any]
SERVER = "clearsight_shard_{}"
# each shard session's HNSW search settings (a coordinator's SET does not reach the shards)
SESSION = "-c hnsw.ef_search=1000 -c hnsw.iterative_scan=relaxed_order"
CHUNK = 5000  # face ids per moving statement


def servers(conn: Conn) -> list[str]:
    """The postgres_fdw server of each shard, by shard number (empty: not a coordinator)."""
    return [str(r[0]) for r in conn.execute("SELECT server FROM shards ORDER BY shard")]


def conninfo(conn: Conn, server: str) -> str:
    """A libpq connection string for the shard behind ``server`` (its options and this user's mapping)."""
    row = conn.execute(
        "SELECT s.srvoptions, um.umoptions FROM pg_foreign_server s LEFT JOIN pg_user_mappings um "
        "ON um.srvid = s.oid AND um.usename = current_user WHERE s.srvname = %s", (server,)).fetchone()
    if row is None:
        raise StorageError(f"shard server {server} is not defined on the coordinator: run clearsight store init")
    keep = {"host", "hostaddr", "port", "dbname", "sslmode", "user", "password"}
    pairs = [o.split("=", 1) for o in (row[0] or []) + (row[1] or [])]
    return psycopg.conninfo.make_conninfo(**{k: v for k, v in pairs if k in keep})


@contextmanager
def direct(info: str, what: str, *, timeout: int = 10) -> Iterator[Conn]:
    """An autocommit connection straight to a shard (DDL, counts, VACUUM FULL), errors translated."""
    try:
        conn = psycopg.connect(info, autocommit=True, connect_timeout=timeout)
    except psycopg.Error as exc:
        raise translate(exc, f"{what}: shard {redact(info)}") from exc
    try:
        with conn:
            yield conn
    except psycopg.Error as exc:
        raise translate(exc, f"{what}: shard {redact(info)}") from exc


def _each(conn: Conn) -> list[tuple[int, str, str]]:
    """(shard, server, connection string) of every shard."""
    return [(i, s, conninfo(conn, s)) for i, s in enumerate(servers(conn))]


# --- partitions --------------------------------------------------------------------------------
def prepare_partition(conn: Conn, part: int, dimension: int, index_type: str,
                      only: Sequence[int] | None = None) -> None:
    """Create partition ``part``'s table on every shard (or the shards ``only`` names)."""
    for shard, _, info in _each(conn):
        if only is None or shard in only:
            with direct(info, "cannot create the collection's table") as remote:
                for statement in shard_table_ddl(part, dimension, index_type):
                    remote.execute(statement)


def drop_partition(db: PgDatabase, part: int) -> None:
    """Drop a deleted collection's tables on the shards (an unreachable shard keeps its table until
    erasure, which drops what no collection names)."""
    with db.errors("database read failed"):
        shards = _each(db.connection)
    for _, _, info in shards:
        try:
            with direct(info, "drop the collection's table", timeout=5) as remote:
                remote.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(partition(part)))
        except StorageError:
            continue


def count(conn: Conn, part: int) -> int:
    """The partition's faces: for a sharded one, counted on each shard (an aggregate over one
    foreign table ships whole; over the hash-partitioned parent it would fetch every row)."""
    names = children(conn, part)
    if not names:
        row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(partition(part))).fetchone()
    else:
        row = conn.execute(sql.SQL("SELECT {}").format(sql.SQL(" + ").join(
            sql.SQL("(SELECT count(*) FROM {})").format(sql.Identifier(n)) for n in names))).fetchone()
    return int(row[0]) if row else 0


def sharded_parts(conn: Conn) -> list[tuple[int, str, int]]:
    """(part, collection, dimension) of every sharded collection."""
    rows = conn.execute("SELECT part, collection_id, dimension FROM collections ORDER BY part").fetchall()
    return [(int(r[0]), str(r[1]), int(r[2])) for r in rows if is_sharded(conn, int(r[0]))]


# --- writes without two-phase commit --------------------------------------------------------------
def intend(db: PgDatabase, collection_id: str, face_ids: Sequence[str]) -> int | None:
    """Before faces are written to a sharded collection: commit an intent naming them (None for a
    local collection, which needs none). The write deletes it in its own transaction
    (:func:`fulfil`), so an intent left behind means the coordinator did not commit, and any of
    those faces a shard did commit are orphans that :func:`repair` removes."""
    found = db.read("SELECT 1 FROM collections c JOIN pg_partitioned_table p ON p.partrelid = "
                    "to_regclass('faces_p' || c.part) WHERE c.collection_id = %s", (collection_id,))
    if not found:
        return None
    repair(db)
    with db.transaction() as conn:
        row = conn.execute("INSERT INTO shard_intents (collection_id, face_ids, pid, created) VALUES "
                           "(%s, %s, pg_backend_pid(), %s) RETURNING id",
                           (collection_id, list(face_ids), time.time())).fetchone()
    return int(row[0]) if row else None


def fulfil(conn: Conn, intent: int) -> None:
    conn.execute("DELETE FROM shard_intents WHERE id = %s", (intent,))


@contextmanager
def repairing(db: PgDatabase, intent: int | None) -> Iterator[None]:
    """Around a write with an intent: when it fails, undo at once what shards committed of it (left to
    a later :func:`repair` if a shard is still unreachable)."""
    try:
        yield
    except BaseException:
        if intent is not None:
            try:
                repair(db)
            except StorageError:
                pass
        raise


def repair(db: PgDatabase) -> int:
    """Delete from the shards the faces of intents whose write did not commit on the coordinator
    (their writer's session is gone, or it is this thread's); returns how many intents were closed.
    Each intent is closed in the transaction that deletes its faces, so a repair that fails (a shard
    still down) is simply retried later."""
    pid = db.connection.info.backend_pid
    rows = db.read("SELECT id, collection_id, face_ids FROM shard_intents WHERE pid = %s OR pid NOT IN "
                   "(SELECT pid FROM pg_stat_activity) ORDER BY id", (pid,))
    for intent, collection_id, face_ids in rows:
        with db.transaction() as conn:
            conn.execute("DELETE FROM faces WHERE collection_id = %s AND face_id = ANY(%s)",
                         (collection_id, list(face_ids)))
            fulfil(conn, int(intent))
    return len(rows)


# --- init and rebalancing ----------------------------------------------------------------------
def _identity(url: str) -> str:
    info = psycopg.conninfo.conninfo_to_dict(url)
    return " ".join(f"{k}={info[k]}" for k in ("host", "hostaddr", "port", "dbname", "user") if info.get(k))


def _claim(remote: Conn, coordinator: str, shard: int) -> None:
    """Mark the shard database as this coordinator's shard ``shard`` (refuse another's)."""
    remote.execute("CREATE EXTENSION IF NOT EXISTS vector")
    remote.execute("CREATE TABLE IF NOT EXISTS clearsight_shard (coordinator text NOT NULL, shard integer NOT NULL)")
    row = remote.execute("SELECT coordinator, shard FROM clearsight_shard").fetchone()
    if row is None:
        remote.execute("INSERT INTO clearsight_shard VALUES (%s, %s)", (coordinator, shard))
    elif row[0] != coordinator:
        raise InvalidParameterException(f"that database is already a shard of another coordinator ({row[0]})")


def _register(conn: Conn, shard: int, url: str) -> str:
    info = psycopg.conninfo.conninfo_to_dict(url)
    server = SERVER.format(shard)
    options = {k: str(v) for k, v in info.items() if k in ("host", "hostaddr", "port", "dbname", "sslmode") and v}
    # no use_remote_estimate: with it, shipping the LIMIT is a cost comparison that was seen to go either
    # way; without, postgres_fdw prefers the remote LIMIT while it is below its default row estimate of a
    # never-ANALYZEd foreign table (~900 rows here; the coordinator never ANALYZEs them, which would
    # sample vectors): docs/postgres.md, "Scale-out"
    options.update({"extensions": "vector", "async_capable": "true", "fetch_size": "1000", "batch_size": "100",
                    "parallel_commit": "true", "options": SESSION})
    conn.execute(sql.SQL("CREATE SERVER {} FOREIGN DATA WRAPPER postgres_fdw OPTIONS ({})").format(
        sql.Identifier(server), sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(k), sql.Literal(v))
                                                   for k, v in options.items())))
    mapping = {k: str(info[k]) for k in ("user", "password") if info.get(k)}
    conn.execute(sql.SQL("CREATE USER MAPPING FOR CURRENT_USER SERVER {}{}").format(
        sql.Identifier(server), sql.SQL(" OPTIONS ({})").format(sql.SQL(", ").join(
            sql.SQL("{} {}").format(sql.Identifier(k), sql.Literal(v)) for k, v in mapping.items()))
        if mapping else sql.SQL("")))
    conn.execute("INSERT INTO shards VALUES (%s, %s, %s, %s)", (shard, server, redact(url), time.time()))
    return server


def init(db: PgDatabase, urls: Sequence[str], index_type: str = "halfvec") -> dict[str, Any]:
    """Record the shards (first time), or add the URLs not yet recorded and rebalance (the recorded
    ones must all be listed, in their order: removing a shard is not supported)."""
    if not urls:
        raise InvalidParameterException("--shards needs at least one PostgreSQL URL")
    moved: dict[str, int] = {}
    with db.transaction() as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgres_fdw")
        known = [str(r[0]) for r in conn.execute("SELECT url FROM shards ORDER BY shard")]
        wanted = [_identity(u) for u in urls]
        if len(set(wanted)) != len(wanted):
            raise InvalidParameterException("--shards lists a database twice")
        if [_identity(u) for u in known] != wanted[:len(known)]:
            raise InvalidParameterException(
                f"the coordinator's shards are {', '.join(known)}: list them all, in that order, then the ones to add "
                "(removing a shard is not supported)")
        row = conn.execute("SELECT system_identifier::text || '/' || current_database() FROM "
                           "pg_control_system()").fetchone()
        coordinator = str(row[0]) if row else "?"
        added = list(range(len(known), len(urls)))
        for shard in added:
            with direct(urls[shard], "cannot prepare the shard") as remote:
                _claim(remote, coordinator, shard)
            _register(conn, shard, urls[shard])
        if added and known:
            for part, collection_id, dimension in sharded_parts(conn):
                kind = _index_type(conninfo(conn, servers(conn)[0]), part) or index_type
                prepare_partition(conn, part, dimension, kind, only=added)
                moved[collection_id] = _rebalance(conn, part, len(urls))
    return {"Shards": [redact(u) for u in urls], "Added": [redact(urls[i]) for i in added], "Moved": moved}


def _index_type(info: str, part: int) -> str | None:
    """The element type of partition ``part``'s HNSW index on a shard (the new shard's must match)."""
    with direct(info, "read the collection's index") as remote:
        row = remote.execute("SELECT pg_get_indexdef(to_regclass(%s))", (f"faces_p{int(part)}_hnsw",)).fetchone()
    if not row or not row[0]:
        return None
    return "halfvec" if "halfvec" in str(row[0]) else "vector"


def _fingerprint(conn: Conn, table: str) -> tuple[int, int]:
    """(rows, sum of hashtext(face_id)) of one foreign table, computed on its shard."""
    row = conn.execute(sql.SQL("SELECT count(*), coalesce(sum(hashtext(face_id)), 0) FROM {}").format(
        sql.Identifier(table))).fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)


def _misplaced(conn: Conn, part: int, table: str, modulus: int, shard: int) -> list[tuple[str, int]]:
    """(face id, the shard it belongs on) for the rows of ``table`` whose hash remainder under
    ``modulus`` is not ``shard`` (the hash is computed here, on the coordinator: OFFSET 0 keeps the
    test from being shipped to the shard, which has no partitioned faces_p<N>)."""
    rows = conn.execute(sql.SQL(
        "SELECT s.face_id, r FROM (SELECT face_id FROM {} OFFSET 0) s, generate_series(0, %s - 1) r "
        "WHERE r <> %s AND satisfies_hash_partition(%s::regclass, %s, r, s.face_id)").format(sql.Identifier(table)),
        (modulus, shard, f"faces_p{part}", modulus)).fetchall()
    return [(str(r[0]), int(r[1])) for r in rows]


def _rebalance(conn: Conn, part: int, modulus: int) -> int:
    """Re-partition ``part`` by HASH(face_id) over ``modulus`` shards, moving the rows whose shard
    changes; returns how many moved. Verified before the coordinator commits: the same rows and id
    checksum overall, and every row on the shard its hash names."""
    old = children(conn, part)
    before = [_fingerprint(conn, t) for t in old]
    moves = [_misplaced(conn, part, t, modulus, shard) for shard, t in enumerate(old)]
    for t in old:
        conn.execute(sql.SQL("DROP FOREIGN TABLE {}").format(sql.Identifier(t)))
    names = servers(conn)
    for shard, server in enumerate(names):
        attach_foreign(conn, part, shard, server, modulus)
    columns = sql.SQL("collection_id, face_id, seq, image_id, external_image_id, bbox, confidence, user_id, "
                      "created, vector")
    for shard, ids in enumerate(moves):
        if not ids:
            continue
        schema = sql.Identifier(f"clearsight_rebalance_{shard}")
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(schema))
        conn.execute(sql.SQL("IMPORT FOREIGN SCHEMA public LIMIT TO ({}) FROM SERVER {} INTO {}").format(
            partition(part), sql.Identifier(names[shard]), schema))
        source = sql.SQL("{}.{}").format(schema, partition(part))
        for start in range(0, len(ids), CHUNK):
            chunk = [f for f, _ in ids[start:start + CHUNK]]
            conn.execute(sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} WHERE face_id = ANY(%s)").format(
                partition(part), columns, columns, source), (chunk,))
            conn.execute(sql.SQL("DELETE FROM {} WHERE face_id = ANY(%s)").format(source), (chunk,))
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(schema))
    after = [_fingerprint(conn, t) for t in children(conn, part)]
    total = (sum(n for n, _ in before), sum(h for _, h in before))
    if (sum(n for n, _ in after), sum(h for _, h in after)) != total:
        raise StorageError(f"rebalancing faces_p{part} would change its rows ({total} before, {after} after): "
                           "rolled back")
    for shard, t in enumerate(children(conn, part)):
        if _misplaced(conn, part, t, modulus, shard):
            raise StorageError(f"rebalancing faces_p{part} left rows on the wrong shard: rolled back")
    return sum(len(ids) for ids in moves)


# --- erasure and status ------------------------------------------------------------------------
def compact_shards(conn: Conn, parts: Sequence[int]) -> None:
    """On every shard, in parallel: drop tables no collection of the coordinator names, VACUUM FULL the
    tables of ``parts`` (those with pending erasures) and pg_statistic, then WAL switch + checkpoint
    (:func:`~.erasure.flush_wal`). Every shard's WAL settings are checked first."""
    from .erasure import flush_wal, raise_maintenance_memory, refuse_recycling

    shards = _each(conn)
    live = {f"faces_p{p}" for p, _, _ in sharded_parts(conn)}
    for shard, _, info in shards:
        with direct(info, "erasure") as remote:
            refuse_recycling(remote, f"shard {shard} ({redact(info)})")

    def one(info: str) -> None:
        with direct(info, "erasure (VACUUM FULL, WAL switch, CHECKPOINT)") as remote:
            raise_maintenance_memory(remote)
            tables = [str(r[0]) for r in remote.execute(
                "SELECT relname FROM pg_class WHERE relkind = 'r' AND relname ~ '^faces_p[0-9]+$'")]
            for table in tables:
                if table not in live:
                    remote.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(table)))
                elif int(table.removeprefix("faces_p")) in parts:
                    remote.execute(sql.SQL("VACUUM FULL {}").format(sql.Identifier(table)))
            remote.execute("VACUUM FULL pg_statistic")
            flush_wal(remote)

    if shards:  # every shard at once: the erasure takes as long as the slowest shard, not their sum
        with ThreadPoolExecutor(len(shards)) as pool:
            list(pool.map(one, [info for _, _, info in shards]))


def status(db: PgDatabase) -> list[dict[str, Any]]:
    """Each shard: reachable or why not, its faces (per sharded collection) and their bytes on disk."""
    with db.errors("database read failed"):
        conn = db.connection
        shards = [(i, s, info, str(u)) for (i, s, info), (u,) in
                  zip(_each(conn), conn.execute("SELECT url FROM shards ORDER BY shard").fetchall())]
        parts = sharded_parts(conn)
    out: list[dict[str, Any]] = []
    for shard, server, info, url in shards:
        entry: dict[str, Any] = {"Shard": shard, "Server": server, "Url": url}
        try:
            with direct(info, "status", timeout=3) as remote:
                recycle = remote.execute("SELECT reset_val FROM pg_settings WHERE name = 'wal_recycle'").fetchone()
                faces, size = {}, 0
                for part, collection_id, _ in parts:
                    row = remote.execute(sql.SQL("SELECT count(*), pg_total_relation_size({}) FROM {}").format(
                        sql.Literal(f"faces_p{part}"), partition(part))).fetchone()
                    faces[collection_id] = int(row[0]) if row else 0
                    size += int(row[1]) if row else 0
            entry.update({"Reachable": True, "Faces": faces, "Bytes": size,
                          "WalRecycle": recycle[0] if recycle else None})
        except StorageError as exc:
            entry.update({"Reachable": False, "Error": str(exc)})
        out.append(entry)
    return out
