"""The schema of ``clearsight.db`` as numbered migrations (``PRAGMA user_version`` is the number
applied).

Migration 1 is the schema every data directory had before migrations were numbered (the store's,
the audit chain's and the access keys' tables), written exactly as it was, ``CREATE ... IF NOT
EXISTS``, so an existing database opens unchanged. Migrations made only of ``IF NOT EXISTS``
statements are marked ``reapply``: they run again at every open, as the schema script always did,
so a dropped table (the audit table, say) is recreated and tampering shows in ``audit verify``
instead of failing every write. A new migration is appended with the next number and never
edited once released. Statements run one by one inside the migrating transaction.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]
    reapply: bool = False  # idempotent (IF NOT EXISTS only): run at every open


STORE = (
    """CREATE TABLE IF NOT EXISTS collections (
    collection_id TEXT PRIMARY KEY,
    face_model TEXT NOT NULL,
    dimension INTEGER NOT NULL,
    created REAL NOT NULL,
    tags TEXT NOT NULL DEFAULT '{}'
)""",
    """CREATE TABLE IF NOT EXISTS faces (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    face_id TEXT NOT NULL UNIQUE,
    collection_id TEXT NOT NULL REFERENCES collections(collection_id) ON DELETE CASCADE,
    image_id TEXT NOT NULL,
    external_image_id TEXT,
    bbox TEXT NOT NULL,
    confidence REAL NOT NULL,
    user_id TEXT,
    created REAL NOT NULL,
    vector BLOB NOT NULL
)""",
    "CREATE INDEX IF NOT EXISTS faces_by_collection ON faces(collection_id, face_id)",
    "CREATE INDEX IF NOT EXISTS faces_by_user ON faces(collection_id, user_id)",
    """CREATE TABLE IF NOT EXISTS users (
    collection_id TEXT NOT NULL REFERENCES collections(collection_id) ON DELETE CASCADE,
    user_id TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (collection_id, user_id)
)""",
    """CREATE TABLE IF NOT EXISTS changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    collection_id TEXT NOT NULL,
    face_id TEXT NOT NULL,
    op TEXT NOT NULL CHECK (op IN ('add', 'del'))
)""",
    """CREATE TABLE IF NOT EXISTS sources (
    collection_id TEXT NOT NULL REFERENCES collections(collection_id) ON DELETE CASCADE,
    source TEXT NOT NULL,
    image_id TEXT NOT NULL,
    PRIMARY KEY (collection_id, source)
)""",
    """CREATE TABLE IF NOT EXISTS policies (
    collection_id TEXT PRIMARY KEY REFERENCES collections(collection_id) ON DELETE CASCADE,
    policy TEXT NOT NULL,
    updated REAL NOT NULL
)""",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS erasures (
    receipt_id TEXT PRIMARY KEY,
    operation TEXT NOT NULL,
    collection_id TEXT NOT NULL,
    faces INTEGER NOT NULL,
    requested REAL NOT NULL,
    completed REAL
)""",
)

AUDIT = (
    """CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY,
    record TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
)""",
)

KEYS = (
    """CREATE TABLE IF NOT EXISTS access_keys (
    access_key_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    secret TEXT NOT NULL,
    created REAL NOT NULL,
    revoked REAL,
    admin INTEGER NOT NULL DEFAULT 0,
    scopes TEXT NOT NULL DEFAULT 'detect,compare,search',
    collections TEXT NOT NULL DEFAULT '*',
    purpose TEXT
)""",
)

REQUEST_TOKENS = (
    """CREATE TABLE IF NOT EXISTS request_tokens (
    access_key_id TEXT NOT NULL,
    operation TEXT NOT NULL,
    token TEXT NOT NULL,
    params_sha256 TEXT NOT NULL,
    response TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (access_key_id, operation, token)
)""",
    "CREATE INDEX IF NOT EXISTS request_tokens_by_created ON request_tokens(created)",
)

MODEL_STAGING = (
    # vectors of the next face model, staged face by face while a collection migrates; a deleted
    # face takes its staged vector with it
    """CREATE TABLE IF NOT EXISTS staged_vectors (
    face_id TEXT PRIMARY KEY REFERENCES faces(face_id) ON DELETE CASCADE,
    collection_id TEXT NOT NULL REFERENCES collections(collection_id) ON DELETE CASCADE,
    face_model TEXT NOT NULL,
    vector BLOB NOT NULL
)""",
    "CREATE INDEX IF NOT EXISTS staged_by_collection ON staged_vectors(collection_id, face_model)",
)

VIDEO_JOBS = (
    """CREATE TABLE IF NOT EXISTS video_jobs (
    job_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('IN_PROGRESS', 'SUCCEEDED', 'FAILED')),
    request TEXT NOT NULL,
    request_sha256 TEXT NOT NULL,
    collection_id TEXT,
    caller TEXT NOT NULL,
    metadata TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    status_message TEXT,
    progress_ms INTEGER NOT NULL DEFAULT 0,
    state TEXT,
    summary TEXT,
    expires REAL,
    owner TEXT
)""",
    "CREATE INDEX IF NOT EXISTS video_jobs_by_status ON video_jobs(status, job_id)",
    """CREATE TABLE IF NOT EXISTS video_results (
    job_id TEXT NOT NULL REFERENCES video_jobs(job_id) ON DELETE CASCADE,
    timestamp INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    item TEXT NOT NULL,
    PRIMARY KEY (job_id, timestamp, idx)
)""",
    "CREATE INDEX IF NOT EXISTS video_results_by_index ON video_results(job_id, idx, timestamp)",
)

STREAM_PROCESSORS = (
    """CREATE TABLE IF NOT EXISTS stream_processors (
    name TEXT PRIMARY KEY,
    arn TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('STOPPED', 'STARTING', 'RUNNING', 'FAILED', 'STOPPING', 'UPDATING')),
    request TEXT NOT NULL,
    collection_id TEXT,
    caller TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    status_message TEXT,
    session TEXT,
    stats TEXT,
    owner TEXT
)""",
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "store, audit and access keys (the schema before numbered migrations)", STORE + AUDIT + KEYS,
              reapply=True),
    Migration(2, "request tokens (ClientRequestToken idempotency)", REQUEST_TOKENS, reapply=True),
    Migration(3, "staged vectors (migrating a collection to another face model)", MODEL_STAGING, reapply=True),
    Migration(4, "stored-video jobs and their results", VIDEO_JOBS, reapply=True),
    Migration(5, "stream processors (live cameras)", STREAM_PROCESSORS, reapply=True),
)
