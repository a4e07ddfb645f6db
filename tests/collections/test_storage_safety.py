"""File modes, hostile snapshot headers, damaged databases, backup/restore, O(1) deletes and
retention enforced at query time."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import clearsight
from clearsight.collections.service import Collections
from clearsight.errors import StorageError
from clearsight.storage.base import NewFace, Store
from clearsight.storage.index import MAGIC, SCAN_MAGIC, ScanIndex, load_index
from clearsight.storage.sqlite import SqliteStore

from ..conftest import data_path

ENV = {**os.environ, "PYTHONPATH": str(Path(clearsight.__file__).parents[1])}
BOX = {"Left": 0.1, "Top": 0.1, "Width": 0.5, "Height": 0.5}


def fr(name: str) -> Path:
    return data_path("faces", "face_recognition", name)


def unit(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def add_random(store: Store, cid: str, n: int, d: int, seed: int = 0) -> list[str]:
    vecs = unit(np.random.default_rng(seed), n, d)
    ids = [f"{cid}-{seed}-{i}" for i in range(n)]
    store.add_faces(cid, [NewFace(f, f"img-{f}", None, BOX, 99.0, v) for f, v in zip(ids, vecs)])
    return ids


# --- 4: modes -------------------------------------------------------------------------------------
def modes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mode & 0o777 for p in [root, *root.rglob("*")]}


def test_data_directory_is_private(collections: Collections) -> None:
    c = collections
    c.create_collection(collection_id="c")
    c.index_faces(collection_id="c", image=fr("obama.jpg"))
    c.snapshot()
    from clearsight.datadir import lock_for_serving

    lock_for_serving(c.data_dir)
    found = modes(c.data_dir)
    assert {"clearsight.db", "clearsight.db-wal", "token.key", "index/c.idx", "server.lock"} <= set(found)
    assert {p: m for p, m in found.items() if m != (0o700 if (c.data_dir / p).is_dir() else 0o600)} == {}


def test_an_existing_open_data_directory_is_tightened_at_start(engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "data"
    engine.open_collections(data).close()
    os.chmod(data, 0o755)
    for p in data.rglob("*"):
        os.chmod(p, 0o755 if p.is_dir() else 0o644)
    engine.open_collections(data).close()
    assert {p: m for p, m in modes(data).items() if m != (0o700 if (data / p).is_dir() else 0o600)} == {}


# --- 6: hostile snapshot headers ----------------------------------------------------------------
def exact_file(header: dict[str, object], body: bytes = b"") -> bytes:
    h = json.dumps(header).encode()
    return MAGIC + struct.pack("<I", len(h)) + h + body


@pytest.mark.parametrize("header", [
    {"collection": "c", "dimension": 320, "count": 10**15, "seq": 1, "crc32": 0, "ids_bytes": 0},
    {"collection": "c", "dimension": 320, "count": 1, "seq": 1, "crc32": 0, "ids_bytes": 10**15},
    {"collection": "c", "dimension": 320, "count": -5, "seq": 1, "crc32": 0, "ids_bytes": 0},
    {"collection": "c", "dimension": 320, "count": "9" * 40, "seq": 1, "crc32": 0, "ids_bytes": 0},
    {"collection": "c", "dimension": 10**12, "count": 1, "seq": 1, "crc32": 0, "ids_bytes": 0},
    {"collection": "c", "dimension": 320, "count": 2.5, "seq": 1, "crc32": 0, "ids_bytes": 0},
    {"collection": "c", "dimension": 320, "count": 3, "seq": 1, "crc32": 0, "ids_bytes": 0},  # above the db's
])
def test_hostile_exact_headers_fall_back_to_a_rebuild(engine, tmp_path: Path, header: dict[str, object]) -> None:  # type: ignore[no-untyped-def]
    c = engine.open_collections(tmp_path)
    c.create_collection(collection_id="c")
    dim = c.calibration.recipe.dimension  # the collection's (the header's 320 stands for it)
    header = {**header, "dimension": dim if header["dimension"] == 320 else header["dimension"]}
    ids = add_random(c.store, "c", 2, dim)
    path = c._index_path("c")
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(exact_file(header, b"\0" * 4 * dim * 3 + b"a\nb\nc"))
    assert load_index(path, "c", dim, max_count=c.store.faces_ever()) is None
    assert sorted(c.index("c").ids) == sorted(ids)
    c.close()


def test_hostile_scan_headers_and_lengths(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    idx = ScanIndex.build([str(i) for i in range(2000)], unit(rng, 2000, 64), candidates=64)
    path = tmp_path / "c.idx"
    idx.save(path, "c")
    assert load_index(path, "c", 64, max_count=2000) is not None
    assert load_index(path, "c", 64, max_count=1999) is None  # more faces than the db ever held
    raw = path.read_bytes()
    (hlen,) = struct.unpack("<I", raw[8:12])
    header = json.loads(raw[12:12 + hlen])
    for key, value in [("pca", 10**15), ("codes", 10**15), ("candidates", 10**12), ("codes", -1), ("pca", "x")]:
        h = json.dumps({**header, key: value}).encode()
        path.write_bytes(SCAN_MAGIC + struct.pack("<I", len(h)) + h + raw[12 + hlen:])
        assert load_index(path, "c", 64, max_count=2000) is None, key
    path.write_bytes(SCAN_MAGIC + struct.pack("<I", 2**32 - 1) + raw[12:])  # header length beyond the file
    assert load_index(path, "c", 64) is None


# --- 7: damaged database, backup and restore --------------------------------------------------------
def test_a_damaged_database_is_refused_with_recovery_steps(engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    c = engine.open_collections(tmp_path)
    c.create_collection(collection_id="c")
    add_random(c.store, "c", 3000, c.calibration.recipe.dimension)
    c.store.vacuum()
    c.close()
    db = tmp_path / "clearsight.db"
    raw = bytearray(db.read_bytes())
    raw[8192:8192 + 4096 * 20] = os.urandom(4096 * 20)  # damaged pages
    db.write_bytes(bytes(raw))
    from clearsight.datadir import check_database

    with pytest.raises(StorageError, match=r"damaged.*backup"):
        check_database(tmp_path)
    out = subprocess.run([sys.executable, "-m", "clearsight.cli", "serve", "--data-dir", str(tmp_path), "--no-auth",
                          "--port", "0"], capture_output=True, text=True, timeout=120, env=ENV)
    assert out.returncode != 0 and "damaged" in out.stderr and "Traceback" not in out.stderr, out.stderr
    db.write_bytes(bytes(raw[:5000]))  # truncated
    out = subprocess.run([sys.executable, "-m", "clearsight.cli", "collection", "describe", "c", "--data-dir",
                          str(tmp_path)], capture_output=True, text=True, timeout=120, env=ENV)
    assert out.returncode != 0 and "damaged" in out.stderr and "Traceback" not in out.stderr, out.stderr


def test_reads_of_a_damaged_database_raise_storage_error(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "clearsight.db")
    store.create_collection("c", "m", 320)
    add_random(store, "c", 3000, 320)
    store.vacuum()
    store.close()
    db = tmp_path / "clearsight.db"
    raw = bytearray(db.read_bytes())
    raw[4096:] = b"\x55" * (len(raw) - 4096)
    db.write_bytes(bytes(raw))
    # `store` was opened before the damage, as a running server would be (its next read reconnects)
    with pytest.raises(StorageError, match="damaged"):
        store.collection("c")
    with pytest.raises(StorageError):
        store.all_vectors("c")


def test_backup_during_writes_and_a_restore_that_verifies(engine, collections: Collections, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    c = collections
    c.create_collection(collection_id="c")
    face = c.index_faces(collection_id="c", image=fr("obama.jpg"))["FaceRecords"][0]["Face"]["FaceId"]
    stop = threading.Event()
    written: list[int] = []

    def writer() -> None:
        other = SqliteStore(c.data_dir / "clearsight.db")
        n = 0
        while not stop.is_set():
            add_random(other, "c", 50, c.calibration.recipe.dimension, seed=n)
            n += 1
            written.append(n)
        other.close()

    t = threading.Thread(target=writer)
    t.start()
    while len(written) < 3:
        time.sleep(0.01)
    dest = tmp_path / "backup"
    out = subprocess.run([sys.executable, "-m", "clearsight.cli", "backup", str(dest), "--data-dir", str(c.data_dir),
                          "--json"], capture_output=True, text=True, timeout=120, env=ENV)
    stop.set()
    t.join()
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["IntegrityCheck"] == "ok" and "token.key" in result["Secrets"]
    assert (result["Faces"] - 1) % 50 == 0 and result["Faces"] > 1  # whole transactions only
    assert {p: m for p, m in modes(dest).items() if m != (0o700 if (dest / p).is_dir() else 0o600)} == {}
    # restore: the backup is a data directory
    restored = engine.open_collections(dest)
    assert restored.describe_collection(collection_id="c")["FaceCount"] == result["Faces"]
    assert len(restored.index("c")) == result["Faces"]
    hits = restored.search_faces_by_image(collection_id="c", image=fr("obama2.jpg"))["FaceMatches"]
    assert [m["Face"]["FaceId"] for m in hits] == [face]
    assert restored.audit.verify().ok
    restored.close()


# --- 2: deletes do not depend on the collection's size ----------------------------------------------
def test_scan_index_delete_is_constant_time_and_overwrites() -> None:
    rng = np.random.default_rng(0)
    n, d = 200_000, 320
    vecs = unit(rng, n, d)
    idx = ScanIndex.build([str(i) for i in range(n)], vecs, candidates=256)
    times = []
    for i in range(0, 50, 5):
        t = time.perf_counter()
        idx.remove([str(i)])
        times.append(time.perf_counter() - t)
    assert float(np.median(times)) < 0.02, times
    assert len(idx) == n - 10 and idx._codes.ntotal == n - 10 and idx._codes.codes.size() == (n - 10) * 64
    assert not idx.exact._mat[n - 10:n].any()  # the freed tail is zeroed
    assert not any((idx.exact._mat[: n - 10] == vecs[0]).all(axis=1))
    for probe in (7, 12345, 199_999):  # codes and vectors still agree after the moves
        assert idx.search(vecs[probe], k=1)[0].face_id == str(probe)
    assert all(h.face_id not in {"0", "5"} for h in idx.search(vecs[0], k=50))


# --- 5: retention at query time --------------------------------------------------------------------
def test_expired_faces_are_never_returned_whatever_the_purge_schedule(collections: Collections) -> None:
    from clearsight.collections.users import Users

    c = collections
    c.create_collection(collection_id="r")
    c.set_policy("r", retention_days=30)
    old = c.index_faces(collection_id="r", image=fr("obama.jpg"))["FaceRecords"][0]["Face"]["FaceId"]
    c.store.clock = lambda: time.time() + 10 * 86400
    new = c.index_faces(collection_id="r", image=fr("obama2.jpg"))["FaceRecords"][0]["Face"]["FaceId"]
    c.store.clock = lambda: time.time() + 31 * 86400  # old has expired, new has not; no purge ran
    listed = [f["FaceId"] for f in c.list_faces(collection_id="r")["Faces"]]
    assert listed == [new]
    hits = c.search_faces_by_image(collection_id="r", image=fr("obama.jpg"), face_match_threshold=0)
    assert [m["Face"]["FaceId"] for m in hits["FaceMatches"]] == [new]
    assert c.search_faces(collection_id="r", face_id=new, face_match_threshold=0)["FaceMatches"] == []
    assert c.search_vector("r", c.store.face_vectors("r", [old])[old], threshold=0, k=1)[0][0][0].face_id == new
    users = Users(c)
    users.create_user(collection_id="r", user_id="u")
    users.associate_faces(collection_id="r", user_id="u", face_ids=[new])
    found = users.search_users_by_image(collection_id="r", image=fr("obama.jpg"), user_match_threshold=0)
    assert [u["User"]["UserId"] for u in found["UserMatches"]] == ["u"]
    c.store.clock = time.time
    assert len(c.list_faces(collection_id="r")["Faces"]) == 2
