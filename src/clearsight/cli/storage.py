"""``clearsight backup DEST`` and ``clearsight erasure RECEIPT_ID``: the data directory's care.

A backup is itself a data directory: a consistent copy of ``clearsight.db`` made with SQLite's
online backup API (safe while the server and CLI commands write), checked with quick_check, and
the key files a restore needs. Index snapshots are not copied: they are rebuilt from the
database. The directory is 0700 and every file in it 0600, because it holds every face vector
and these secrets: ``master.key`` (decrypts the access keys' secrets), ``token.key`` (signs
pagination tokens) and ``audit.key`` (signs the audit chain) when it lives in the data directory.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
from pathlib import Path
from typing import Any

from ..datadir import check_database, secure
from ..errors import InvalidParameterException
from ..settings import Settings
from ..storage.backends import is_postgres, sqlite_path
from ..storage.sqlite import SqliteStore

KEY_FILES = ("master.key", "token.key", "audit.key")


def backup(data_dir: Path, dest: Path, database: Path | None = None) -> dict[str, Any]:
    """Copy the database (online, consistent; ``database``: another file than the data directory's
    clearsight.db) and the key files into ``dest`` (new or empty), where it becomes clearsight.db."""
    database = database or data_dir / "clearsight.db"
    if not database.is_file():
        raise InvalidParameterException(f"{database} does not exist: pass --data-dir DIR")
    if dest.exists() and any(dest.iterdir()):
        raise InvalidParameterException(f"{dest} is not empty: back up into a new folder")
    dest.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(dest, 0o700)
    store = SqliteStore(database)
    try:
        store.backup_to(dest / "clearsight.db")
    finally:
        store.close()
    check_database(dest)
    copied = ["clearsight.db"]
    for name in KEY_FILES:
        src = data_dir / name
        if src.is_file():
            fd = os.open(dest / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(src.read_bytes())
            copied.append(name)
    secure(dest)
    db = sqlite3.connect(dest / "clearsight.db")
    try:
        faces = db.execute("SELECT count(*) FROM faces").fetchone()[0]
        collections = db.execute("SELECT count(*) FROM collections").fetchone()[0]
    finally:
        db.close()
    return {"Backup": str(dest), "Files": copied, "Secrets": [n for n in copied if n.endswith(".key")],
            "Collections": int(collections), "Faces": int(faces), "IntegrityCheck": "ok"}


def cmd_backup(args: argparse.Namespace) -> int:
    settings = Settings.load(data_dir=args.data_dir)
    if is_postgres(settings.storage_url):
        raise InvalidParameterException(
            "storage_url is a PostgreSQL database: back it up with PostgreSQL's tools (pg_dump, or pg_basebackup "
            "with WAL archiving), and the data directory's key files beside it (docs/postgres.md)")
    data_dir = Path(settings.data_dir)
    result = backup(data_dir, Path(args.dest), sqlite_path(settings.storage_url, data_dir))
    external = settings.audit_key_file
    if external and Path(external).resolve().parent != Path(settings.data_dir).resolve():
        result["NotCopied"] = [f"audit key file {external} (kept outside the data directory: back it up apart)"]
    if args.json:
        print(json.dumps(result))
    else:
        print(f"backed up {result['Collections']} collections, {result['Faces']} faces to {result['Backup']} "
              f"(files {', '.join(result['Files'])}; quick_check ok)")
        print(f"it holds secrets ({', '.join(result['Secrets']) or 'none'}) and every face vector: files are "
              "0600, keep it as private as the data directory", file=sys.stderr)
        for note in result.get("NotCopied", []):
            print(f"not copied: {note}", file=sys.stderr)
    return 0


def cmd_erasure(args: argparse.Namespace) -> int:
    from ..engine import Engine

    engine = Engine(Settings.load(data_dir=args.data_dir))
    receipt = engine.collections.erasure_receipt(args.receipt_id)
    if args.json:
        print(json.dumps(receipt))
    else:
        print(f"{receipt['ReceiptId']}: {'complete' if receipt['Complete'] else 'pending'}: {receipt['Note']}")
    return 0 if receipt["Complete"] else 3


def cmd_store(args: argparse.Namespace) -> int:
    from ..storage.backends import status

    settings = Settings.load(data_dir=args.data_dir)
    if args.action == "init":
        return _init_shards(settings, args)
    if args.shards:
        raise InvalidParameterException("--shards goes with `clearsight store init`")
    out = status(settings.storage_url, Path(settings.data_dir))
    if args.json:
        print(json.dumps(out))
        return 0
    where = out.get("Url") or out.get("Path")
    print(f"{out['Backend']} {where} (schema {out['SchemaVersion']})")
    if out["Backend"] == "postgresql":
        print(f"PostgreSQL {out['ServerVersion']}, pgvector {out['Pgvector']}; wal_recycle={out['WalRecycle']} "
              f"(erasure {'can' if out['ErasureCanComplete'] else 'CANNOT'} complete); "
              f"{out['PendingErasures']} erasure(s) pending")
    for c in out["Collections"]:
        sizes = f", {c['HeapBytes']} heap + {c['HnswBytes']} HNSW ({c['HnswType']}) bytes" if "HeapBytes" in c else ""
        if c.get("Sharded"):
            sizes = ", laid over the shards"
        faces = "?" if c["Faces"] is None else c["Faces"]
        print(f"  {c['CollectionId']}: {faces} faces, {c['Dimension']}-d {c['FaceModel']}{sizes}")
    for shard in out.get("Shards", []):
        if shard["Reachable"]:
            faces = sum(shard["Faces"].values())
            print(f"  shard {shard['Shard']} {shard['Url']}: reachable, {faces} faces, {shard['Bytes']} bytes, "
                  f"wal_recycle={shard['WalRecycle']}")
        else:
            print(f"  shard {shard['Shard']} {shard['Url']}: UNREACHABLE ({shard['Error']})")
    return 0


def _init_shards(settings: Settings, args: argparse.Namespace) -> int:
    """`clearsight store init --shards URL,...`: record the shards, or add the new ones and rebalance."""
    if not is_postgres(settings.storage_url):
        raise InvalidParameterException("store init --shards needs storage_url to be the coordinator's PostgreSQL "
                                        "URL (CLEARSIGHT_STORAGE_URL)")
    urls = [u.strip() for u in (args.shards or "").split(",") if u.strip()]
    from ..storage.backends import open_database_for
    from ..storage.postgres import PgDatabase
    from ..storage.postgres.shards import init

    db = open_database_for(settings.storage_url, Path(settings.data_dir))
    assert isinstance(db, PgDatabase)
    out = init(db, urls)
    if args.json:
        print(json.dumps(out))
    else:
        print(f"{len(out['Shards'])} shard(s): {', '.join(out['Shards'])}")
        for url in out["Added"]:
            print(f"  added {url}")
        for collection_id, moved in out["Moved"].items():
            print(f"  {collection_id}: {moved} faces moved to their new shard (counts and id checksum verified)")
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser("store", help="the store of record (storage_url): status; init --shards lays new "
                       "collections over PostgreSQL shards (again with one more URL: adds it and rebalances)")
    p.add_argument("action", choices=["status", "init"])
    p.add_argument("--shards", metavar="URL,URL,...", help="init: the shard databases (PostgreSQL URLs), in order; "
                   "the ones recorded first, then any to add")
    p.add_argument("--data-dir", metavar="DIR")
    p.add_argument("--json", action="store_true", help="print a JSON object")
    p.set_defaults(func=cmd_store)

    p = sub.add_parser("backup", help="copy the database (consistently, while serving) and its keys to DEST")
    p.add_argument("dest", metavar="DEST", help="a new or empty folder; it becomes a data directory")
    p.add_argument("--data-dir", metavar="DIR", help="the data directory to back up (default $CLEARSIGHT_DATA_DIR)")
    p.add_argument("--json", action="store_true", help="print a JSON object")
    p.set_defaults(func=cmd_backup)

    p = sub.add_parser("erasure", help="whether a deletion's erasure completed (its ClearSightErasure ReceiptId)")
    p.add_argument("receipt_id", metavar="RECEIPT_ID")
    p.add_argument("--data-dir", metavar="DIR")
    p.add_argument("--json", action="store_true", help="print the receipt as JSON")
    p.set_defaults(func=cmd_erasure)
