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
