"""Collections, IndexFaces, ListFaces, DeleteFaces and face search on real photos."""

from __future__ import annotations

from pathlib import Path

import pytest

from clearsight.collections.service import Collections
from clearsight.errors import (
    InvalidPaginationTokenException,
    InvalidParameterException,
    ResourceAlreadyExistsException,
    ResourceNotFoundException,
)

from ..conftest import data_path


def fr(name: str) -> Path:
    return data_path("faces", "face_recognition", name)


def test_collection_lifecycle(collections: Collections) -> None:
    out = collections.create_collection(collection_id="staff")
    assert out["StatusCode"] == 200 and out["CollectionArn"].endswith("collection/staff")
    with pytest.raises(ResourceAlreadyExistsException):
        collections.create_collection(collection_id="staff")
    d = collections.describe_collection(collection_id="staff")
    assert d["FaceCount"] == 0 and d["UserCount"] == 0
    assert d["FaceModelVersion"] == collections.model_version
    for i in range(5):
        collections.create_collection(collection_id=f"c{i}")
    page = collections.list_collections(max_results=2)
    assert page["CollectionIds"] == ["c0", "c1"] and "NextToken" in page
    seen = list(page["CollectionIds"])
    while "NextToken" in page:
        page = collections.list_collections(max_results=2, next_token=page["NextToken"])
        seen += page["CollectionIds"]
    assert seen == ["c0", "c1", "c2", "c3", "c4", "staff"]
    collections.delete_collection(collection_id="staff")
    with pytest.raises(ResourceNotFoundException):
        collections.describe_collection(collection_id="staff")
    with pytest.raises(ResourceNotFoundException):
        collections.delete_collection(collection_id="staff")


def test_bad_parameters(collections: Collections) -> None:
    with pytest.raises(InvalidParameterException):
        collections.create_collection(collection_id="bad id/with slash")
    collections.create_collection(collection_id="c")
    with pytest.raises(InvalidParameterException, match="MaxFaces"):
        collections.index_faces(collection_id="c", image=fr("obama.jpg"), max_faces=0)
    with pytest.raises(InvalidParameterException, match="MaxFaces"):
        collections.search_faces_by_image(collection_id="c", image=fr("obama.jpg"), max_faces=5000)
    with pytest.raises(InvalidParameterException, match="QualityFilter"):
        collections.index_faces(collection_id="c", image=fr("obama.jpg"), quality_filter="SUPER")
    with pytest.raises(InvalidParameterException, match="FaceId"):
        collections.search_faces(collection_id="c", face_id="not-a-uuid")
    with pytest.raises(ResourceNotFoundException):
        collections.search_faces(collection_id="c", face_id="00000000-0000-0000-0000-000000000000")
    with pytest.raises(ResourceNotFoundException):
        collections.index_faces(collection_id="nope", image=fr("obama.jpg"))
    with pytest.raises(InvalidPaginationTokenException):
        collections.list_faces(collection_id="c", next_token="forged.token")
    with pytest.raises(InvalidParameterException, match="ExternalImageId"):
        collections.index_faces(collection_id="c", image=fr("obama.jpg"), external_image_id="a b")


def test_index_search_delete(collections: Collections) -> None:
    collections.create_collection(collection_id="c")
    group = collections.index_faces(collection_id="c", image=data_path("faces", "insightface", "t1.jpg"),
                                    max_faces=2, external_image_id="t1", quality_filter="NONE")
    assert len(group["FaceRecords"]) == 2
    assert [u["Reasons"] for u in group["UnindexedFaces"]] == [["EXCEEDS_MAX_FACES"]] * 4
    rec = group["FaceRecords"][0]["Face"]
    assert rec["ExternalImageId"] == "t1" and rec["IndexFacesModelVersion"] == collections.model_version
    obama = collections.index_faces(collection_id="c", image=fr("obama.jpg"), external_image_id="obama")
    biden = collections.index_faces(collection_id="c", image=fr("biden.jpg"), external_image_id="biden")
    obama_id = obama["FaceRecords"][0]["Face"]["FaceId"]
    biden_id = biden["FaceRecords"][0]["Face"]["FaceId"]
    assert collections.describe_collection(collection_id="c")["FaceCount"] == 4

    hit = collections.search_faces_by_image(collection_id="c", image=fr("obama2.jpg"))
    assert [m["Face"]["FaceId"] for m in hit["FaceMatches"]] == [obama_id]
    assert hit["FaceMatches"][0]["Similarity"] > 99
    assert 0 < hit["SearchedFaceBoundingBox"]["Width"] < 1
    by_id = collections.search_faces(collection_id="c", face_id=obama_id, face_match_threshold=0)
    assert obama_id not in [m["Face"]["FaceId"] for m in by_id["FaceMatches"]]
    assert len(by_id["FaceMatches"]) == 3

    page = collections.list_faces(collection_id="c", max_results=3)
    assert len(page["Faces"]) == 3 and "NextToken" in page
    rest = collections.list_faces(collection_id="c", max_results=3, next_token=page["NextToken"])
    assert len(rest["Faces"]) == 1
    with pytest.raises(InvalidPaginationTokenException):  # a token of another listing
        collections.list_faces(collection_id="c", user_id="u1", next_token=page["NextToken"])

    out = collections.delete_faces(collection_id="c", face_ids=[obama_id, "00000000-0000-0000-0000-000000000000"])
    assert out["DeletedFaces"] == [obama_id]
    assert out["UnsuccessfulFaceDeletions"][0]["Reasons"] == ["FACE_NOT_FOUND"]
    hit = collections.search_faces_by_image(collection_id="c", image=fr("obama2.jpg"))
    assert hit["FaceMatches"] == []
    assert biden_id in [f["FaceId"] for f in collections.list_faces(collection_id="c")["Faces"]]


def test_quality_filter_reports_reasons(collections: Collections) -> None:
    collections.create_collection(collection_id="q")
    out = collections.index_faces(collection_id="q", image=data_path("faces", "insightface", "pose", "left_face.jpeg"),
                                  quality_filter="HIGH")
    assert out["FaceRecords"] == []
    assert "EXTREME_POSE" in out["UnindexedFaces"][0]["Reasons"]
    none = collections.index_faces(collection_id="q", image=data_path("faces", "insightface", "pose", "left_face.jpeg"),
                                   quality_filter="NONE")
    assert len(none["FaceRecords"]) == 1


def test_faces_cut_by_the_frame_edge_are_detected_but_not_indexed_at_auto(collections: Collections) -> None:
    """The deepface selfie (its README: at least 7 faces): 7 found, three of them cut by the frame
    edge (bottom left and the photographer at the right with one eye and the nose in the frame, the
    man at the top right with an eye on the edge). IndexFaces (AUTO) keeps the 4 whole ones and
    reports the cut ones as LOW_FACE_QUALITY; QualityFilter LOW indexes them too."""
    selfie = data_path("faces", "deepface", "selfie-many-people.jpg")
    collections.create_collection(collection_id="cut")
    auto = collections.index_faces(collection_id="cut", image=selfie, max_faces=20)
    assert len(auto["FaceRecords"]) == 4 and len(auto["UnindexedFaces"]) == 3
    for u in auto["UnindexedFaces"]:
        box = u["FaceDetail"]["BoundingBox"]
        assert u["Reasons"] == ["LOW_FACE_QUALITY"]
        assert box["Left"] == 0.0 or box["Left"] + box["Width"] > 0.99  # at the left or right edge
    low = collections.index_faces(collection_id="cut", image=selfie, max_faces=20, quality_filter="LOW")
    assert len(low["FaceRecords"]) == 7


def test_restart_rebuilds_and_catches_up(engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    c1 = engine.open_collections(tmp_path)
    c1.create_collection(collection_id="c")
    first = c1.index_faces(collection_id="c", image=fr("obama.jpg"))["FaceRecords"][0]["Face"]["FaceId"]
    c1.snapshot()  # snapshot holds obama
    second = c1.index_faces(collection_id="c", image=fr("biden.jpg"))["FaceRecords"][0]["Face"]["FaceId"]
    c1.delete_faces(collection_id="c", face_ids=[first])
    c1.store.close()  # "crash": no snapshot of the last two changes
    c2 = engine.open_collections(tmp_path)
    idx = c2.index("c")
    assert idx.ids == [second]
    found = c2.search_faces_by_image(collection_id="c", image=fr("biden.jpg"))["FaceMatches"]
    assert found[0]["Face"]["FaceId"] == second
    c2.close()
    (tmp_path / "index" / "c.idx").write_bytes(b"garbage")  # damaged snapshot: rebuilt from SQLite
    c3 = engine.open_collections(tmp_path)
    assert c3.index("c").ids == [second]
    c3.close()


def test_collection_pins_its_model(engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from clearsight import Engine

    c = engine.open_collections(tmp_path)
    c.create_collection(collection_id="c")
    c.close()
    fast = Engine(face_model="clearsight-face-fast-1" if engine.model_version != "clearsight-face-fast-1"
                  else "clearsight-face-fused-1")
    other = fast.open_collections(tmp_path)
    with pytest.raises(InvalidParameterException, match="CLEARSIGHT_FACE_MODEL"):
        other.search_faces_by_image(collection_id="c", image=fr("obama.jpg"))
    other.close()


def test_large_collections_switch_to_the_compressed_scan(engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import numpy as np

    from clearsight.storage.base import NewFace
    from clearsight.storage.index import ScanIndex

    c = engine.open_collections(tmp_path)
    c.ann_threshold = 1000
    c.create_collection(collection_id="c")
    rng = np.random.default_rng(0)
    dim = engine.calibration.recipe.dimension
    noise = rng.standard_normal((1200, dim)).astype(np.float32)
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    box = {"Width": 0.5, "Height": 0.5, "Left": 0.25, "Top": 0.25}
    c.store.add_faces("c", [NewFace(f"00000000-0000-0000-0000-{i:012d}", "img", None, box, 99.0, v)
                            for i, v in enumerate(noise)])
    obama = c.index_faces(collection_id="c", image=fr("obama.jpg"))["FaceRecords"][0]["Face"]["FaceId"]
    assert isinstance(c.index("c"), ScanIndex)
    hits = c.search_faces_by_image(collection_id="c", image=fr("obama-720p.jpg"), face_match_threshold=90)
    assert [m["Face"]["FaceId"] for m in hits["FaceMatches"]] == [obama]
    c.delete_faces(collection_id="c", face_ids=[obama])
    hits = c.search_faces_by_image(collection_id="c", image=fr("obama-720p.jpg"), face_match_threshold=90)
    assert hits["FaceMatches"] == []
    c.close()
    c2 = engine.open_collections(tmp_path)
    assert isinstance(c2.index("c"), ScanIndex) and obama not in c2.index("c") and len(c2.index("c")) == 1200
    c2.close()
