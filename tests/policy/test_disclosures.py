"""What a key may see and set: policy tags need admin, ListCollections shows only the key's
collections, and listings that name the enrolled are audited."""

from __future__ import annotations

from pathlib import Path

import pytest

from clearsight.collections.service import Collections
from clearsight.errors import AccessDeniedException
from clearsight.policy.context import Caller, acting_as

from ..conftest import data_path


def fr(name: str) -> Path:
    return data_path("faces", "face_recognition", name)


def test_policy_tags_at_creation_need_the_admin_scope(collections: Collections) -> None:
    c = collections
    with acting_as(Caller(access_key_id="CSKENROL", scopes=frozenset({"enrol"}))):
        with pytest.raises(AccessDeniedException, match="admin"):
            c.create_collection(collection_id="weak", tags={"clearsight:min-threshold": "0"})
        r = list(c.audit.records())[-1]
        assert (r["operation"], r["outcome"], r["access_key_id"]) == ("CreateCollection", "refused", "CSKENROL")
        assert "clearsight:min-threshold" in r["detail"]
        c.create_collection(collection_id="plain", tags={"team": "hr"})  # other tags are fine
    assert c.list_collections()["CollectionIds"] == ["plain"]
    c.create_collection(collection_id="strict", tags={"clearsight:min-threshold": "99"})  # the local admin
    assert c.policy("strict").min_threshold == 99


def test_list_collections_shows_only_the_keys_collections(collections: Collections) -> None:
    c = collections
    names = ["a-1", "b-1", "lobby-1", "b-2", "lobby-2", "c-1", "lobby-3", "z"]
    for name in names:
        c.create_collection(collection_id=name)
    with acting_as(Caller(access_key_id="CSKLOBBY", collections=("lobby-*",))):
        seen, token, pages = [], None, 0
        while True:
            page = c.list_collections(max_results=2, next_token=token)
            assert len(page["CollectionIds"]) == len(page["FaceModelVersions"]) <= 2
            seen += page["CollectionIds"]
            pages += 1
            token = page.get("NextToken")
            if token is None:
                break
        assert seen == ["lobby-1", "lobby-2", "lobby-3"] and pages == 2
        assert c.list_collections()["CollectionIds"] == ["lobby-1", "lobby-2", "lobby-3"]
    assert c.list_collections()["CollectionIds"] == sorted(names)


def test_list_faces_is_audited_and_describe_collection_is_not(collections: Collections) -> None:
    c = collections
    c.create_collection(collection_id="c")
    face = c.index_faces(collection_id="c", image=fr("obama.jpg"), external_image_id="Barack_Obama")
    fid = face["FaceRecords"][0]["Face"]["FaceId"]
    before = len(list(c.audit.records()))
    assert c.describe_collection(collection_id="c")["FaceCount"] == 1  # counts only: no record
    assert len(list(c.audit.records())) == before
    with acting_as(Caller(access_key_id="CSKREADER", purpose="quarterly review")):
        assert c.list_faces(collection_id="c")["Faces"][0]["ExternalImageId"] == "Barack_Obama"
    r = list(c.audit.records())[-1]
    assert (r["operation"], r["access_key_id"], r["purpose"]) == ("ListFaces", "CSKREADER", "quarterly review")
    assert r["results"] == [{"FaceId": c.audit.pseudonym(fid), "ExternalImageId": c.audit.pseudonym("Barack_Obama")}]
    assert [x["seq"] for x in c.audit.records(external_image_id="Barack_Obama")] == [before, r["seq"]]
