"""The PostgreSQL schema as numbered migrations (``clearsight_schema`` lists those applied).

The tables are SQLite's (:mod:`..sqlite.migrations`), with three differences:

- ``faces`` is partitioned by LIST on ``collection_id``: one partition per collection (created by
  ``create_collection``, dropped by ``delete_collection``), each with its own HNSW index on the
  vectors cast to the collection's dimension (:mod:`.store`). Face ids are unique per collection
  (a partitioned table's keys include the partition key); they are uuid4s.
- Counters (faces ever added, the change log's seq) are rows of ``counters``, written in the same
  transaction as the rows they number: the change log's newest seq is read from the same snapshot
  as the log itself, which a sequence (not transactional) cannot give.
- Vectors are pgvector ``vector`` (float32, exact) stored PLAIN (never compressed or moved to a
  TOAST table, so an erasure proof can look for their bytes), with column statistics off on vectors and
  ids (ANALYZE would otherwise copy samples of them into ``pg_statistic``). Every id column sorts in code-point
  order (``COLLATE "C"``), as SQLite and Python do.
"""

from __future__ import annotations

from ..sqlite.migrations import Migration

__all__ = ["MIGRATIONS", "NO_STATISTICS", "Migration"]

ID = 'text COLLATE "C" NOT NULL'
# no column statistics on what identifies a face: ANALYZE would copy samples into pg_statistic
NO_STATISTICS = ", ".join(f"ALTER COLUMN {c} SET STATISTICS 0"
                          for c in ("vector", "face_id", "image_id", "external_image_id", "user_id"))

STORE = (
    "CREATE EXTENSION IF NOT EXISTS vector",
    "CREATE TABLE IF NOT EXISTS clearsight_schema (version integer PRIMARY KEY, name text NOT NULL, "
    "applied timestamptz NOT NULL)",
    f"""CREATE TABLE collections (
    collection_id {ID} PRIMARY KEY,
    face_model text NOT NULL,
    dimension integer NOT NULL,
    created double precision NOT NULL,
    tags text NOT NULL DEFAULT '{{}}',
    part bigint NOT NULL UNIQUE
)""",
    f"""CREATE TABLE faces (
    collection_id {ID},
    face_id {ID},
    seq bigint NOT NULL,
    image_id text NOT NULL,
    external_image_id text,
    bbox text NOT NULL,
    confidence double precision NOT NULL,
    user_id text COLLATE "C",
    created double precision NOT NULL,
    vector vector NOT NULL,
    PRIMARY KEY (collection_id, face_id)
) PARTITION BY LIST (collection_id)""",
    "ALTER TABLE faces ALTER COLUMN vector SET STORAGE PLAIN",
    "ALTER TABLE faces " + NO_STATISTICS,
    "CREATE INDEX faces_by_user ON faces (collection_id, user_id)",
    f"""CREATE TABLE users (
    collection_id {ID} REFERENCES collections(collection_id) ON DELETE CASCADE,
    user_id {ID},
    created double precision NOT NULL,
    PRIMARY KEY (collection_id, user_id)
)""",
    f"""CREATE TABLE changes (
    seq bigint PRIMARY KEY,
    collection_id {ID},
    face_id {ID},
    op text NOT NULL CHECK (op IN ('add', 'del'))
)""",
    "CREATE INDEX changes_by_collection ON changes (collection_id, seq)",
    f"""CREATE TABLE sources (
    collection_id {ID} REFERENCES collections(collection_id) ON DELETE CASCADE,
    source text NOT NULL,
    image_id text NOT NULL,
    PRIMARY KEY (collection_id, source)
)""",
    f"""CREATE TABLE policies (
    collection_id {ID} PRIMARY KEY REFERENCES collections(collection_id) ON DELETE CASCADE,
    policy text NOT NULL,
    updated double precision NOT NULL
)""",
    "CREATE TABLE meta (key text PRIMARY KEY, value text NOT NULL)",
    "CREATE TABLE counters (name text PRIMARY KEY, value bigint NOT NULL)",
    "INSERT INTO counters VALUES ('faces', 0), ('changes', 0), ('partitions', 0)",
    f"""CREATE TABLE erasures (
    id bigserial UNIQUE,
    receipt_id {ID} PRIMARY KEY,
    operation text NOT NULL,
    collection_id {ID},
    faces integer NOT NULL,
    requested double precision NOT NULL,
    completed double precision
)""",
)

AUDIT = (
    """CREATE TABLE audit (
    seq bigint PRIMARY KEY,
    record text NOT NULL,
    prev_hash text NOT NULL,
    hash text NOT NULL
)""",
)

KEYS = (
    """CREATE TABLE access_keys (
    access_key_id text PRIMARY KEY,
    name text NOT NULL,
    secret text NOT NULL,
    created double precision NOT NULL,
    revoked double precision,
    admin integer NOT NULL DEFAULT 0,
    scopes text NOT NULL DEFAULT 'detect,compare,search',
    collections text NOT NULL DEFAULT '*',
    purpose text
)""",
)

REQUEST_TOKENS = (
    """CREATE TABLE request_tokens (
    access_key_id text NOT NULL,
    operation text NOT NULL,
    token text NOT NULL,
    params_sha256 text NOT NULL,
    response text NOT NULL,
    created double precision NOT NULL,
    PRIMARY KEY (access_key_id, operation, token)
)""",
    "CREATE INDEX request_tokens_by_created ON request_tokens (created)",
)

MODEL_STAGING = (
    f"""CREATE TABLE staged_vectors (
    collection_id {ID} REFERENCES collections(collection_id) ON DELETE CASCADE,
    face_id {ID},
    face_model text NOT NULL,
    vector vector NOT NULL,
    PRIMARY KEY (collection_id, face_id)
)""",
    "ALTER TABLE staged_vectors ALTER COLUMN vector SET STORAGE PLAIN",
    "ALTER TABLE staged_vectors ALTER COLUMN vector SET STATISTICS 0",
)

VIDEO_JOBS = (
    f"""CREATE TABLE video_jobs (
    job_id {ID} PRIMARY KEY,
    kind text NOT NULL,
    status text NOT NULL CHECK (status IN ('IN_PROGRESS', 'SUCCEEDED', 'FAILED')),
    request text NOT NULL,
    request_sha256 text NOT NULL,
    collection_id text COLLATE "C",
    caller text NOT NULL,
    metadata text NOT NULL,
    created double precision NOT NULL,
    updated double precision NOT NULL,
    status_message text,
    progress_ms bigint NOT NULL DEFAULT 0,
    state text,
    summary text,
    expires double precision,
    owner text
)""",
    "CREATE INDEX video_jobs_by_status ON video_jobs (status, job_id)",
    f"""CREATE TABLE video_results (
    job_id {ID} REFERENCES video_jobs(job_id) ON DELETE CASCADE,
    timestamp bigint NOT NULL,
    idx integer NOT NULL,
    item text NOT NULL,
    PRIMARY KEY (job_id, timestamp, idx)
)""",
    "CREATE INDEX video_results_by_index ON video_results (job_id, idx, timestamp)",
)

STREAM_PROCESSORS = (
    f"""CREATE TABLE stream_processors (
    name {ID} PRIMARY KEY,
    arn text NOT NULL,
    status text NOT NULL CHECK (status IN ('STOPPED', 'STARTING', 'RUNNING', 'FAILED', 'STOPPING', 'UPDATING')),
    request text NOT NULL,
    collection_id text COLLATE "C",
    caller text NOT NULL,
    created double precision NOT NULL,
    updated double precision NOT NULL,
    status_message text,
    session text,
    stats text,
    owner text
)""",
)

# Scale-out (storage/postgres/shards.py): the shard servers a coordinator lays collections over, the
# intents that let a write whose shards committed without the coordinator be undone, and
# uniqueness of face ids per partition instead of on ``faces`` (PostgreSQL refuses a foreign table
# as a partition below a unique index; each local partition keeps its own primary key, each shard
# table its own, and hash routing on face_id sends a face id to one shard only).
SHARDS = (
    """CREATE TABLE shards (
    shard integer PRIMARY KEY,
    server text NOT NULL UNIQUE,
    url text NOT NULL,
    added double precision NOT NULL
)""",
    f"""CREATE TABLE shard_intents (
    id bigserial PRIMARY KEY,
    collection_id {ID},
    face_ids text[] NOT NULL,
    pid integer NOT NULL,
    created double precision NOT NULL
)""",
    "ALTER TABLE faces DROP CONSTRAINT faces_pkey",
    """DO $$ DECLARE r record; BEGIN
    FOR r IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = 'faces'::regclass AND c.relkind = 'r' LOOP
        EXECUTE format('ALTER TABLE %I ADD PRIMARY KEY (collection_id, face_id)', r.relname);
    END LOOP; END $$""",
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "store, audit, access keys, request tokens and staged vectors",
              STORE + AUDIT + KEYS + REQUEST_TOKENS + MODEL_STAGING),
    Migration(2, "stored-video jobs and their results", VIDEO_JOBS),
    Migration(3, "stream processors (live cameras)", STREAM_PROCESSORS),
    Migration(4, "shard servers; face ids unique per partition", SHARDS),
)
