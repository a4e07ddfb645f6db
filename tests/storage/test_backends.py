"""The storage seam itself: transactions with their audit hook, request tokens, the Database's
migrations and single writer, the key store over it, and the layer rule."""

from __future__ import annotations

import ast
import sqlite3
import threading
from pathlib import Path

import numpy as np
import pytest

import clearsight
from clearsight.errors import ResourceNotFoundException, StorageError
from clearsight.server.keys import KeyStore
from clearsight.storage.base import TOKEN_TTL, NewFace, Store
from clearsight.storage.index import snapshot_name
from clearsight.storage.memory import MemoryStore
from clearsight.storage.sqlite import Database, SqliteStore, open_database
from clearsight.storage.sqlite.migrations import MIGRATIONS

from .test_congruence import BACKENDS

BOX = {"Left": 0.1, "Top": 0.1, "Width": 0.5, "Height": 0.5}


@pytest.fixture(params=sorted(BACKENDS))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    return BACKENDS[request.param](tmp_path)


def face(face_id: str, d: int = 4) -> NewFace:
    return NewFace(face_id, "img", None, BOX, 99.0, np.ones(d, np.float32) / 2)


def test_a_failing_audit_hook_rolls_the_write_back(store: Store) -> None:
    store.create_collection("c", "m", 4)

    def broken(tx: object, *found: object) -> object:
        raise RuntimeError("the audit record cannot be written")

    with pytest.raises(RuntimeError):
        store.add_faces("c", [face("f1")], source="a.jpg", image_id="img", audit=broken)
    assert store.faces("c") == [] and store.sources("c") == set() and store.last_change() == 0
    store.add_faces("c", [face("f1")], audit=lambda tx: tx.append_audit(1, "{}", "0" * 64, "h1"))
    with pytest.raises(RuntimeError):
        store.delete_faces("c", ["f1"], audit=broken, receipt="r1")
    assert [f.face_id for f in store.faces("c")] == ["f1"] and store.erasure("r1") is None
    with pytest.raises(RuntimeError):
        store.delete_collection("c", audit=broken)
    assert store.collection("c").collection_id == "c"
    assert list(store.audit_rows()) == [(1, "{}", "0" * 64, "h1")] and store.audit_hash(1) == "h1"
    with pytest.raises(ResourceNotFoundException):
        store.delete_user("c", "nobody", audit=broken)


def test_request_tokens_are_remembered_for_a_day(store: Store) -> None:
    now = [1_000_000.0]
    store.clock = lambda: now[0]
    assert store.recall_token("k", "IndexFaces", "t") is None
    assert store.remember_token("k", "IndexFaces", "t", "p1", '{"a": 1}') == ("p1", '{"a": 1}')
    assert store.remember_token("k", "IndexFaces", "t", "p2", '{"a": 2}') == ("p1", '{"a": 1}')  # the first stays
    assert store.recall_token("k", "IndexFaces", "t") == ("p1", '{"a": 1}')
    assert store.recall_token("other", "IndexFaces", "t") is None
    assert store.recall_token("k", "DeleteFaces", "t") is None
    now[0] += TOKEN_TTL + 1
    assert store.recall_token("k", "IndexFaces", "t") is None
    assert store.remember_token("k", "IndexFaces", "t", "p3", "{}") == ("p3", "{}")  # expired: replaced


def test_an_existing_data_directory_is_migrated_in_place(tmp_path: Path) -> None:
    path = tmp_path / "clearsight.db"
    old = sqlite3.connect(path)  # what the version before numbered migrations left behind
    for migration in MIGRATIONS[:1]:
        for statement in migration.statements:
            old.execute(statement)
    old.execute("INSERT INTO collections VALUES ('c', 'm', 4, 1.0, '{}')")
    old.commit()
    old.close()
    store = SqliteStore(path)
    assert store.database.version == len(MIGRATIONS) and store.collection_ids() == ["c"]
    assert store.remember_token("k", "op", "t", "p", "{}") == ("p", "{}")  # migration 2 ran
    store.db.execute("DROP TABLE audit")
    assert SqliteStore(path).audit_last_record() is None  # an idempotent migration recreates a dropped table


def test_a_newer_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "clearsight.db"
    Database(path).connection.execute(f"PRAGMA user_version={len(MIGRATIONS) + 1}")
    with pytest.raises(StorageError, match="newer than this ClearSight"):
        Database(path)


def test_one_database_per_file_and_files_private(tmp_path: Path) -> None:
    db = open_database(tmp_path / "d" / "clearsight.db")
    assert open_database(tmp_path / "d" / ".." / "d" / "clearsight.db") is db
    assert (tmp_path / "d" / "clearsight.db").stat().st_mode & 0o777 == 0o600


def test_the_writer_is_single_and_errors_are_translated(tmp_path: Path) -> None:
    db = Database(tmp_path / "clearsight.db")
    with db.transaction() as tx:
        tx.execute("CREATE TABLE t (x INTEGER)")
    done: list[int] = []

    def write(i: int) -> None:
        with db.transaction() as tx:
            n = tx.execute("SELECT count(*) FROM t").fetchone()[0]
            tx.execute("INSERT INTO t VALUES (?)", (n,))
        done.append(i)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r[0] for r in db.read("SELECT x FROM t")) == list(range(8))  # no lost update
    with pytest.raises(StorageError, match="nothing was written"), db.transaction() as tx:
        tx.execute("INSERT INTO nowhere VALUES (1)")
    with pytest.raises(StorageError, match="database read failed"):
        db.read("SELECT * FROM nowhere")


def test_the_key_store_shares_the_database(tmp_path: Path) -> None:
    store = SqliteStore(open_database(tmp_path / "clearsight.db"))
    keys = KeyStore(tmp_path)
    assert keys._db is store.database and keys.empty()
    key_id, secret = keys.create("ci", scopes=frozenset({"detect"}))
    assert keys.secret(key_id) == secret and [k.access_key_id for k in keys.list()] == [key_id]
    keys.revoke(key_id)
    assert keys.secret(key_id) is None and keys.get(key_id) is not None
    with pytest.raises(ResourceNotFoundException):
        keys.revoke(key_id)
    store.db.execute("DROP TABLE access_keys")
    with pytest.raises(StorageError):  # translated, like every other read
        keys.list()


def test_snapshot_names_are_bounded() -> None:
    assert snapshot_name("c") == "c.idx"
    long = snapshot_name("L" * 255)
    assert len(long) == 37 and long.startswith("~") and long != snapshot_name("L" * 254)
    assert snapshot_name("a/b") != "a/b.idx" and "/" not in snapshot_name("a/b")


def test_memory_store_is_a_store() -> None:
    store: Store = MemoryStore()
    store.create_collection("c", "m", 4)
    assert store.counts("c") == (0, 0)


L0 = {"errors", "settings", "params", "shapes", "images", "geometry"}


def test_storage_imports_only_layer_zero() -> None:
    root = Path(clearsight.__file__).parent / "storage"
    for path in root.rglob("*.py"):
        package = ["clearsight", *path.relative_to(root.parent).parent.parts]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join([*base, *(node.module or "").split(".")]).strip(".")
            elif isinstance(node, ast.ImportFrom):
                target = node.module or ""
            elif isinstance(node, ast.Import):
                target = node.names[0].name
            else:
                continue
            parts = target.split(".")
            if parts[0] == "clearsight":
                assert parts[1] == "storage" or parts[1] in L0, f"{path.name} imports {target}"
