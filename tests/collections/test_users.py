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


def test_associate_faces_discloses_scores_only_through_the_search_gates(collections: Collections,
                                                                       users: Users) -> None:
    from clearsight.errors import AccessDeniedException
    from clearsight.policy.context import Caller, acting_as

    c = collections
    c.create_collection(collection_id="c", tags={"clearsight:min-threshold": "90",
                                                 "clearsight:require-purpose": "true"})
    o1, o2, b = index(c, fr("obama.jpg")), index(c, fr("obama2.jpg")), index(c, fr("biden.jpg"))
    users.create_user(collection_id="c", user_id="obama")
    p = c.audit.pseudonym

    def last() -> dict[str, object]:
        return list(c.audit.records())[-1]

    enrol = Caller(access_key_id="CSKENROL", scopes=frozenset({"enrol"}), purpose="enrolment desk")
    with acting_as(enrol):  # no face yet: nothing is compared, nothing disclosed
        users.associate_faces(collection_id="c", user_id="obama", face_ids=[o1], user_match_threshold=95)
        with pytest.raises(AccessDeniedException, match="search scope"):
            users.associate_faces(collection_id="c", user_id="obama", face_ids=[b], user_match_threshold=95)
    r = last()
    assert (r["operation"], r["outcome"], r["access_key_id"]) == ("AssociateFaces", "refused", "CSKENROL")
    with acting_as(Caller(access_key_id="CSKSEARCH", scopes=frozenset({"enrol", "search"}))):
        with pytest.raises(AccessDeniedException, match="purpose"):
            users.associate_faces(collection_id="c", user_id="obama", face_ids=[b], user_match_threshold=95)
    searcher = Caller(access_key_id="CSKSEARCH", scopes=frozenset({"enrol", "search"}), purpose="dedupe")
    with acting_as(searcher):
        with pytest.raises(AccessDeniedException, match="below its floor 90"):
            users.associate_faces(collection_id="c", user_id="obama", face_ids=[b])  # default 75: refused
        assert last()["outcome"] == "refused"
        out = users.associate_faces(collection_id="c", user_id="obama", face_ids=[o2, b], user_match_threshold=95)
    assert [f["FaceId"] for f in out["AssociatedFaces"]] == [o2]
    r = last()
    assert r["operation"] == "AssociateFaces" and r["threshold"] == 95 and r["purpose"] == "dedupe"
    scored = {x["FaceId"]: x for x in r["results"]}  # type: ignore[union-attr]
    assert scored[p(o2)]["Similarity"] > 95 and scored[p(b)]["Reasons"] == ["LOW_MATCH_CONFIDENCE"]
    assert scored[p(b)]["Similarity"] == out["UnsuccessfulFaceAssociations"][0]["Confidence"]

    users.disassociate_faces(collection_id="c", user_id="obama", face_ids=[o2, b])
    r = last()
    assert r["operation"] == "DisassociateFaces" and r["results"] == [{"UserId": p("obama"), "FaceId": p(o2)}]
    users.list_users(collection_id="c")
    r = last()
    assert r["operation"] == "ListUsers" and r["results"] == [{"UserId": p("obama")}]
