"""Users: association rules, user search, and faces that belong to users."""

from __future__ import annotations

from pathlib import Path

import pytest

from clearsight.collections.service import Collections
from clearsight.collections.users import Users
from clearsight.errors import ResourceAlreadyExistsException, ResourceNotFoundException

from ..conftest import data_path


def fr(name: str) -> Path:
    return data_path("faces", "face_recognition", name)


def index(c: Collections, path: Path) -> str:
    return str(c.index_faces(collection_id="c", image=path)["FaceRecords"][0]["Face"]["FaceId"])


def test_users_end_to_end(collections: Collections, users: Users) -> None:
    collections.create_collection(collection_id="c")
    o1, o2 = index(collections, fr("obama.jpg")), index(collections, fr("obama2.jpg"))
    b = index(collections, fr("biden.jpg"))
    users.create_user(collection_id="c", user_id="obama")
    users.create_user(collection_id="c", user_id="biden")
    with pytest.raises(ResourceAlreadyExistsException):
        users.create_user(collection_id="c", user_id="obama")
    assert [u["UserId"] for u in users.list_users(collection_id="c")["Users"]] == ["biden", "obama"]

    out = users.associate_faces(collection_id="c", user_id="obama", face_ids=[o1, o2, b])
    assert {f["FaceId"] for f in out["AssociatedFaces"]} == {o1, o2}
    (fail,) = out["UnsuccessfulFaceAssociations"]
    assert fail["FaceId"] == b and fail["Reasons"] == ["LOW_MATCH_CONFIDENCE"]
    users.associate_faces(collection_id="c", user_id="biden", face_ids=[b])
    taken = users.associate_faces(collection_id="c", user_id="biden", face_ids=[o1])
    assert taken["UnsuccessfulFaceAssociations"][0]["Reasons"] == ["ASSOCIATED_TO_A_DIFFERENT_USER"]
    assert collections.describe_collection(collection_id="c")["UserCount"] == 2
    assert {f["FaceId"] for f in collections.list_faces(collection_id="c", user_id="obama")["Faces"]} == {o1, o2}

    found = users.search_users_by_image(collection_id="c", image=fr("obama-480p.jpg"))
    assert [m["User"]["UserId"] for m in found["UserMatches"]] == ["obama"]
    assert found["UserMatches"][0]["Similarity"] > 99
    by_face = users.search_users(collection_id="c", face_id=b)
    assert [m["User"]["UserId"] for m in by_face["UserMatches"]] == ["biden"]
    by_user = users.search_users(collection_id="c", user_id="obama", user_match_threshold=0)
    assert [m["User"]["UserId"] for m in by_user["UserMatches"]] == ["biden"]  # never itself

    blocked = collections.delete_faces(collection_id="c", face_ids=[o1])
    assert blocked["UnsuccessfulFaceDeletions"][0]["Reasons"] == ["ASSOCIATED_TO_AN_EXISTING_USER"]
    users.disassociate_faces(collection_id="c", user_id="obama", face_ids=[o1])
    assert collections.delete_faces(collection_id="c", face_ids=[o1])["DeletedFaces"] == [o1]

    users.delete_user(collection_id="c", user_id="obama")
    assert collections.list_faces(collection_id="c", face_ids=[o2])["Faces"][0].get("UserId") is None
    with pytest.raises(ResourceNotFoundException):
        users.associate_faces(collection_id="c", user_id="obama", face_ids=[o2])


def test_users_pagination(collections: Collections, users: Users) -> None:
    collections.create_collection(collection_id="c")
    for i in range(7):
        users.create_user(collection_id="c", user_id=f"u{i}")
    page = users.list_users(collection_id="c", max_results=3)
    got = [u["UserId"] for u in page["Users"]]
    while "NextToken" in page:
        page = users.list_users(collection_id="c", max_results=3, next_token=page["NextToken"])
        got += [u["UserId"] for u in page["Users"]]
    assert got == [f"u{i}" for i in range(7)]
