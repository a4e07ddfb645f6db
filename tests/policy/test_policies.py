"""Collection policies are enforced and audited; retention purges on a clock we control."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from clearsight.collections.service import Collections
from clearsight.collections.users import Users
from clearsight.errors import AccessDeniedException, InvalidParameterException
from clearsight.policy.context import Caller, acting_as

from ..conftest import data_path


def fr(name: str) -> Path:
    return data_path("faces", "face_recognition", name)


def test_floor_purpose_and_result_cap(collections: Collections, users: Users) -> None:
    c = collections
    c.create_collection(collection_id="ident", tags={"clearsight:min-threshold": "99",
                                                     "clearsight:require-purpose": "true",
                                                     "clearsight:max-results": "5"})
    assert c.policy("ident").min_threshold == 99 and c.policy("ident").require_purpose
    c.index_faces(collection_id="ident", image=fr("obama.jpg"))
    with acting_as(Caller(access_key_id="CSKPOLICE", purpose="case 2026-114")):
        with pytest.raises(AccessDeniedException, match="below its floor 99"):
            c.search_faces_by_image(collection_id="ident", image=fr("obama2.jpg"))  # default 80
        record = list(c.audit.records())[-1]
        assert record["outcome"] == "refused" and record["threshold"] == 80 and record["access_key_id"] == "CSKPOLICE"
        with pytest.raises(AccessDeniedException, match="at most 5 results"):
            c.search_faces_by_image(collection_id="ident", image=fr("obama2.jpg"), face_match_threshold=99,
                                    max_faces=50)
        ok = c.search_faces_by_image(collection_id="ident", image=fr("obama2.jpg"), face_match_threshold=99.5)
        assert len(ok["FaceMatches"]) == 1
        with pytest.raises(AccessDeniedException, match="below its floor"):
            users.search_users_by_image(collection_id="ident", image=fr("obama2.jpg"), user_match_threshold=90)
    with acting_as(Caller(access_key_id="CSKNOPURPOSE")), pytest.raises(AccessDeniedException, match="purpose"):
        c.search_faces_by_image(collection_id="ident", image=fr("obama2.jpg"), face_match_threshold=99.5)


def test_only_admins_change_policies_and_changes_are_audited(collections: Collections) -> None:
    c = collections
    c.create_collection(collection_id="c")
    with acting_as(Caller(access_key_id="CSKOPERATOR", scopes=frozenset({"search"}))):
        with pytest.raises(AccessDeniedException, match="admin"):
            c.set_policy("c", min_threshold=50)
    assert list(c.audit.records())[-1]["outcome"] == "refused"
    c.set_policy("c", min_threshold=95, retention_days=30)
    r = list(c.audit.records())[-1]
    assert r["operation"] == "SetCollectionPolicy" and '"min_threshold": 95' in r["results"][0]["Policy"]
    assert c.policy("c").retention_days == 30
    with pytest.raises(InvalidParameterException):
        c.set_policy("c", min_threshold=120)
    with pytest.raises(InvalidParameterException, match="unknown policy tag"):
        c.create_collection(collection_id="d", tags={"clearsight:min-treshold": "99"})


def test_retention_purge_with_a_controlled_clock(collections: Collections) -> None:
    c = collections
    c.create_collection(collection_id="r")
    c.set_policy("r", retention_days=30)
    c.create_collection(collection_id="keep")
    old = c.index_faces(collection_id="r", image=fr("obama.jpg"))["FaceRecords"][0]["Face"]["FaceId"]
    c.index_faces(collection_id="keep", image=fr("obama.jpg"))
    assert c.purge_expired(now=time.time() + 29 * 86400) == {}
    purged = c.purge_expired(now=time.time() + 31 * 86400)
    assert purged == {"r": [old]}
    assert c.describe_collection(collection_id="r")["FaceCount"] == 0
    assert c.describe_collection(collection_id="keep")["FaceCount"] == 1
    r = list(c.audit.records())[-1]
    assert r["operation"] == "RetentionPurge" and r["results"] == [{"FaceId": c.audit.pseudonym(old)}]
    assert c.search_faces_by_image(collection_id="r", image=fr("obama2.jpg"))["FaceMatches"] == []
