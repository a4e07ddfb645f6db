"""Deleting a face leaves none of its vector's bytes in any file under the data directory."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from clearsight.collections.service import Collections

from ..conftest import data_path


def files_containing(root: Path, needle: bytes) -> list[str]:
    return [str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_deleted_vectors_are_gone_from_every_file(collections: Collections) -> None:
    c = collections
    c.create_collection(collection_id="c")
    c.create_collection(collection_id="other")
    ids = [c.index_faces(collection_id="c", image=data_path("faces", "face_recognition", n))["FaceRecords"][0]
           ["Face"]["FaceId"] for n in ("obama.jpg", "biden.jpg")]
    gone = c.index_faces(collection_id="other", image=data_path("faces", "face_recognition", "obama2.jpg"))
    gone_id = gone["FaceRecords"][0]["Face"]["FaceId"]
    vectors = c.store.face_vectors("c", ids)
    other_vec = c.store.face_vectors("other", [gone_id])[gone_id]
    c.snapshot()  # the vectors are now in the database, its WAL and the index snapshots
    needles = {f: np.asarray(v, np.float32).tobytes()[:64] for f, v in vectors.items()}
    assert all(files_containing(c.data_dir, n) for n in needles.values()), "sanity: the bytes are on disk"

    out = c.delete_faces(collection_id="c", face_ids=[ids[0]])
    assert out["ClearSightErasure"]["Complete"] is True
    assert files_containing(c.data_dir, needles[ids[0]]) == []
    assert files_containing(c.data_dir, needles[ids[1]]), "the face we kept is still there"

    c.delete_collection(collection_id="other")
    assert files_containing(c.data_dir, np.asarray(other_vec, np.float32).tobytes()[:64]) == []
    assert not (c.data_dir / "index" / "other.idx").exists()


def test_deleted_identities_are_gone_from_every_file_including_the_audit_trail(collections: Collections) -> None:
    from clearsight.collections.users import Users

    c = collections
    name = "Zebulon_Quaxworthy_4711"  # a person's name, as ExternalImageIds often are
    c.create_collection(collection_id="c")
    c.create_collection(collection_id="other")
    face = c.index_faces(collection_id="c", image=data_path("faces", "face_recognition", "obama.jpg"),
                         external_image_id=name)["FaceRecords"][0]["Face"]
    fid = face["FaceId"]
    found = c.search_faces_by_image(collection_id="c", image=data_path("faces", "face_recognition", "obama2.jpg"))
    assert [m["Face"]["FaceId"] for m in found["FaceMatches"]] == [fid]
    c.search_faces(collection_id="c", face_id=fid)
    c.list_faces(collection_id="c")
    Users(c).create_user(collection_id="c", user_id="zq-user")
    Users(c).associate_faces(collection_id="c", user_id="zq-user", face_ids=[fid])
    Users(c).disassociate_faces(collection_id="c", user_id="zq-user", face_ids=[fid])
    Users(c).delete_user(collection_id="c", user_id="zq-user")
    assert files_containing(c.data_dir, name.encode()), "sanity: the name is on disk while the face exists"
    c.delete_faces(collection_id="c", face_ids=[fid])
    c.complete_erasure()
    for needle in (name, fid, "zq-user"):
        assert files_containing(c.data_dir, needle.encode()) == [], needle
    # the trail still proves the search happened, and can be looked up by the real id
    searched = [r["operation"] for r in c.audit.records(face_id=fid)]
    assert {"IndexFaces", "SearchFacesByImage", "SearchFaces", "DeleteFaces"} <= set(searched)
    assert [r["operation"] for r in c.audit.records(external_image_id=name)] == ["IndexFaces", "ListFaces"]
    assert c.audit.verify().ok
