"""Through boto3: a 255-character CollectionId is created, used and deleted with 200s, and the
other collections' deletions still answer (and erase) afterwards."""

from __future__ import annotations

from ..conftest import data_path
from .conftest import Server


def img(*parts: str) -> bytes:
    return data_path(*parts).read_bytes()


def test_a_255_character_collection_id_over_http(server: Server) -> None:
    rk = server.client()
    long, short = "L" * 255, "long-id-neighbour"
    assert rk.create_collection(CollectionId=long)["StatusCode"] == 200
    rk.create_collection(CollectionId=short)
    obama = img("faces", "face_recognition", "obama.jpg")
    face = rk.index_faces(CollectionId=long, Image={"Bytes": obama})["FaceRecords"][0]["Face"]["FaceId"]
    other = rk.index_faces(CollectionId=short, Image={"Bytes": obama})["FaceRecords"][0]["Face"]["FaceId"]
    assert rk.list_faces(CollectionId=long)["Faces"][0]["FaceId"] == face
    assert rk.delete_faces(CollectionId=short, FaceIds=[other])["DeletedFaces"] == [other]
    assert rk.delete_collection(CollectionId=long)["StatusCode"] == 200
    assert rk.delete_collection(CollectionId=short)["StatusCode"] == 200
    assert long not in rk.list_collections()["CollectionIds"]
    assert not [p for p in (server.data_dir / "index").iterdir() if len(p.name) > 64]


def test_paging_with_long_ids_in_every_clients_paginator(server: Server) -> None:
    """NextTokens fit the model's 255 characters whatever the ids' length: botocore validates the
    token it sends back, so each page below would fail client-side otherwise."""
    rk = server.client()
    prefix = "P" * 230
    longs = [f"{prefix}{i:025d}" for i in range(5)]  # 255 characters, sharing 230
    for cid in longs:
        rk.create_collection(CollectionId=cid)
    seen = [c for page in rk.get_paginator("list_collections").paginate(PaginationConfig={"PageSize": 2})
            for c in page["CollectionIds"]]
    assert [c for c in seen if c.startswith(prefix)] == longs
    target = longs[0]
    obama = img("faces", "face_recognition", "obama.jpg")
    for _ in range(3):
        rk.index_faces(CollectionId=target, Image={"Bytes": obama})
    faces = [f["FaceId"] for page in rk.get_paginator("list_faces").paginate(
        CollectionId=target, PaginationConfig={"PageSize": 1}) for f in page["Faces"]]
    assert len(faces) == len(set(faces)) == 3
    for u in ("U" * 128, "V" * 128, "W" * 128):
        rk.create_user(CollectionId=target, UserId=u)
    users = [u["UserId"] for page in rk.get_paginator("list_users").paginate(
        CollectionId=target, PaginationConfig={"PageSize": 1}) for u in page["Users"]]
    assert users == ["U" * 128, "V" * 128, "W" * 128]
    for cid in longs:
        rk.delete_collection(CollectionId=cid)
