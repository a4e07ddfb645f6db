"""A CollectionId of 252-255 characters (valid per the model) is a collection like any other: its
index snapshot has a bounded file name, and deleting from it (or from any collection) erases."""

from __future__ import annotations

from pathlib import Path

from clearsight.collections.service import Collections
from clearsight.storage.index import snapshot_name

from ..conftest import data_path

LONG = "x" * 252 + "-._"  # 255 characters


def fr(name: str) -> Path:
    return data_path("faces", "face_recognition", name)


def test_a_255_character_collection_id_works_end_to_end(engine, collections: Collections) -> None:  # type: ignore[no-untyped-def]
    c = collections
    assert c.create_collection(collection_id=LONG)["StatusCode"] == 200
    c.create_collection(collection_id="short")
    face = c.index_faces(collection_id=LONG, image=fr("obama.jpg"))["FaceRecords"][0]["Face"]["FaceId"]
    other = c.index_faces(collection_id="short", image=fr("biden.jpg"))["FaceRecords"][0]["Face"]["FaceId"]
    c.snapshot()
    names = {p.name for p in (c.data_dir / "index").iterdir()}
    assert names == {snapshot_name(LONG), "short.idx"} and max(len(n) for n in names) < 64
    hits = c.search_faces_by_image(collection_id=LONG, image=fr("obama2.jpg"))["FaceMatches"]
    assert [m["Face"]["FaceId"] for m in hits] == [face]
    deleted = c.delete_faces(collection_id="short", face_ids=[other])
    assert deleted["DeletedFaces"] == [other] and deleted["ClearSightErasure"]["Complete"]
    assert snapshot_name(LONG) in {p.name for p in (c.data_dir / "index").iterdir()}  # a live collection's stays
    gone = c.delete_collection(collection_id=LONG)
    assert gone["StatusCode"] == 200 and gone["ClearSightErasure"]["Complete"]
    assert {p.name for p in (c.data_dir / "index").iterdir()} == {"short.idx"}
    reopened = engine.open_collections(c.data_dir)  # and a restart loads what is left
    assert reopened.list_collections()["CollectionIds"] == ["short"]
    reopened.close()
