"""Every operation that touches biometric data leaves one record with the right contents."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from clearsight.collections.service import Collections
from clearsight.collections.users import Users
from clearsight.policy.context import Caller, acting_as

from ..conftest import data_path


def fr(name: str) -> Path:
    return data_path("faces", "face_recognition", name)


def last(c: Collections) -> dict[str, Any]:
    return list(c.audit.records())[-1]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_records_for_each_operation(collections: Collections, users: Users) -> None:
    c = collections
    p = c.audit.pseudonym  # records name faces and users by keyed pseudonyms
    caller = Caller(access_key_id="CSKTEST", purpose="door-7 badge check", request_id="req-1")
    with acting_as(caller):
        c.create_collection(collection_id="c")
        o = c.index_faces(collection_id="c", image=fr("obama.jpg"))["FaceRecords"][0]["Face"]["FaceId"]
        r = last(c)
        assert (r["operation"], r["collection"], r["outcome"]) == ("IndexFaces", "c", "ok")
        assert r["probe_sha256"] == sha(fr("obama.jpg")) and r["results"][0]["FaceId"] == p(o)
        assert (r["access_key_id"], r["purpose"], r["request_id"]) == ("CSKTEST", "door-7 badge check", "req-1")
        b = c.index_faces(collection_id="c", image=fr("biden.jpg"))["FaceRecords"][0]["Face"]["FaceId"]

        out = c.search_faces_by_image(collection_id="c", image=fr("obama2.jpg"), face_match_threshold=95)
        r = last(c)
        assert r["operation"] == "SearchFacesByImage" and r["threshold"] == 95 and r["gallery_size"] == 2
        assert r["probe_sha256"] == sha(fr("obama2.jpg"))
        assert [x["FaceId"] for x in r["results"]] == [p(o)] and r["results"][0]["Similarity"] > 95
        ext = out["ClearSightAccountability"]
        assert ext["GallerySize"] == 2 and 0 < ext["FalseMatchRatePerComparison"] < 1e-3
        assert "false match" in ext["Summary"]

        c.search_faces(collection_id="c", face_id=o, face_match_threshold=0)
        r = last(c)
        assert r["operation"] == "SearchFaces" and {x.get("FaceId") for x in r["results"][1:]} == {p(b)}

        users.create_user(collection_id="c", user_id="u")
        users.associate_faces(collection_id="c", user_id="u", face_ids=[o])
        assert last(c)["operation"] == "AssociateFaces" and last(c)["results"] == [{"UserId": p("u"), "FaceId": p(o)}]
        users.search_users(collection_id="c", face_id=o)
        assert last(c)["operation"] == "SearchUsers"
        users.search_users_by_image(collection_id="c", image=fr("obama-480p.jpg"))
        r = last(c)
        assert r["operation"] == "SearchUsersByImage" and r["results"][0]["UserId"] == p("u")
        users.delete_user(collection_id="c", user_id="u")
        assert last(c)["operation"] == "DeleteUser"
        c.delete_faces(collection_id="c", face_ids=[b])
        assert last(c)["operation"] == "DeleteFaces" and last(c)["results"] == [{"FaceId": p(b)}]
        c.delete_collection(collection_id="c")
        r = last(c)
        assert r["operation"] == "DeleteCollection" and r["results"] == [{"DeletedFaceCount": 1}]
    assert c.audit.verify().ok


def test_compare_faces_is_recorded(engine) -> None:  # type: ignore[no-untyped-def]
    before = len(list(engine.collections.audit.records()))
    engine.compare_faces(fr("obama.jpg"), fr("two_people.jpg"), similarity_threshold=99)
    records = list(engine.collections.audit.records())
    assert len(records) == before + 1
    r = records[-1]
    assert r["operation"] == "CompareFaces" and r["threshold"] == 99 and r["gallery_size"] == 2
    assert r["probe_sha256"] == sha(fr("obama.jpg")) and len(r["results"]) == 2


def test_failed_operations_are_recorded_as_errors(collections: Collections) -> None:
    import pytest

    from clearsight.errors import ResourceNotFoundException

    with pytest.raises(ResourceNotFoundException):
        collections.search_faces_by_image(collection_id="nope", image=fr("obama.jpg"))
    r = last(collections)
    assert r["outcome"] == "error" and "ResourceNotFoundException" in r["detail"]


def test_an_unwritable_record_fails_the_operation(collections: Collections) -> None:
    import pytest

    from clearsight.errors import StorageError

    collections.create_collection(collection_id="c")
    collections.index_faces(collection_id="c", image=fr("obama.jpg"))
    collections.store.db.executescript(
        "CREATE TRIGGER no_audit BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'audit disk full'); END;")
    with pytest.raises(StorageError):
        collections.search_faces_by_image(collection_id="c", image=fr("obama2.jpg"))
    with pytest.raises(StorageError):
        collections.index_faces(collection_id="c", image=fr("biden.jpg"))
    # the IndexFaces transaction rolled back with its record: no unrecorded face exists
    assert collections.describe_collection(collection_id="c")["FaceCount"] == 1


def test_operations_recorded_in_their_own_transaction_refresh_the_checkpoint(collections: Collections) -> None:
    import json

    c = collections
    c.audit.checkpoint_every = 0
    c.create_collection(collection_id="c", tags={"clearsight:min-threshold": "90"})
    c.index_faces(collection_id="c", image=fr("obama.jpg"))  # appended inside the IndexFaces transaction
    head = list(c.audit.records())[-1]
    cp = json.loads(c.audit.checkpoint_path.read_text())
    assert (cp["seq"], cp["hash"]) == (head["seq"], head["hash"])
