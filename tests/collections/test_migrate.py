"""`clearsight collection migrate`: a collection moves to the running face model in place, face by
face from the images its folder index read, and switches only when every face has a new vector."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from clearsight.collections.migrate import Migrator
from clearsight.collections.users import Users
from clearsight.errors import InvalidParameterException

from ..conftest import data_path


def _old_model(current: str) -> str:
    return "clearsight-face-fast-1" if current != "clearsight-face-fast-1" else "clearsight-face-fused-1"


def _enrol_with_old_model(engine, tmp_path: Path) -> tuple[Path, dict[str, str]]:  # type: ignore[no-untyped-def]
    """A collection on another model: three photos indexed from files (their paths recorded), one
    from bytes; a user; a 30-day retention policy. Returns the photo folder and face ids by photo."""
    from clearsight import Engine

    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("obama.jpg", "biden.jpg"):
        shutil.copy(data_path("faces", "face_recognition", name), photos / name)
    old = Engine(face_model=_old_model(engine.model_version)).open_collections(tmp_path / "data")
    old.create_collection(collection_id="staff")
    old.set_policy("staff", retention_days=30)
    ids = {}
    for p in sorted(photos.iterdir()):
        r = old.index_faces(collection_id="staff", image=p, external_image_id=p.stem, source=str(p.resolve()))
        ids[p.name] = r["FaceRecords"][0]["Face"]["FaceId"]
    r = old.index_faces(collection_id="staff", image=data_path("faces", "face_recognition", "obama2.jpg").read_bytes(),
                        external_image_id="obama2")
    ids["obama2.jpg"] = r["FaceRecords"][0]["Face"]["FaceId"]
    users = Users(old)
    users.create_user(collection_id="staff", user_id="barack")
    users.associate_faces(collection_id="staff", user_id="barack", face_ids=[ids["obama.jpg"]])
    old.close()
    return photos, ids


def test_a_collection_migrates_in_place_and_resumes(engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    photos, ids = _enrol_with_old_model(engine, tmp_path)
    c = engine.open_collections(tmp_path / "data")
    before = {r.face_id: r for r in c.store.faces("staff")}
    with pytest.raises(InvalidParameterException, match="clearsight collection migrate staff"):
        c.search_faces_by_image(collection_id="staff", image=data_path("faces", "face_recognition", "obama-480p.jpg"))
    moved = photos.rename(tmp_path / "moved")
    m = Migrator(c)

    first = m.migrate(collection_id="staff")  # the files moved: nothing can be embedded again
    assert first["Status"] == "INCOMPLETE" and first["Staged"] == 0
    assert sorted(x["Reason"].split(":")[0] for x in first["Missing"]) == [
        "its image file is gone", "its image file is gone", "its image was sent as bytes (no file recorded)"]
    second = m.migrate(collection_id="staff", images=moved)  # found by name; the bytes face still blocks
    assert second["Status"] == "INCOMPLETE" and second["Staged"] == 2
    assert [x["FaceId"] for x in second["Missing"]] == [ids["obama2.jpg"]]
    assert c.store.staged_faces("staff", engine.model_version) == {ids["obama.jpg"], ids["biden.jpg"]}
    assert c.store.collection("staff").face_model == _old_model(engine.model_version)  # not switched yet

    shutil.rmtree(moved)  # what was staged is kept: the last run needs no image
    done = m.migrate(collection_id="staff", drop_missing=True)
    assert done["Status"] == "MIGRATED" and done["DeletedFaces"] == [ids["obama2.jpg"]] and done["Faces"] == 2
    assert c.describe_collection(collection_id="staff")["FaceModelVersion"] == engine.model_version
    after = {r.face_id: r for r in c.store.faces("staff")}
    assert set(after) == {ids["obama.jpg"], ids["biden.jpg"]}
    for fid, row in after.items():  # same ids, user, external id, creation time (so retention)
        assert row == before[fid]
    assert c.policy("staff").retention_days == 30
    hits = c.search_faces_by_image(collection_id="staff",
                                   image=data_path("faces", "face_recognition", "obama-480p.jpg"))["FaceMatches"]
    assert hits[0]["Face"]["FaceId"] == ids["obama.jpg"] and hits[0]["Similarity"] >= 99
    assert hits[0]["Face"]["UserId"] == "barack"
    ops = [json.loads(r[1])["operation"] for r in c.store.audit_rows()]
    assert ops.count("MigrateCollection") == 3 and c.audit.verify().ok
    assert m.migrate(collection_id="staff")["Status"] == "ALREADY_CURRENT"
    c.close()


def test_the_cli_migrates_and_says_what_is_missing(engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _enrol_with_old_model(engine, tmp_path)
    cmd = [sys.executable, "-m", "clearsight.cli", "collection", "migrate", "staff",
           "--data-dir", str(tmp_path / "data")]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert out.returncode == 1, out.stderr
    assert "cannot migrate" in out.stdout and "sent as bytes" in out.stdout and "--drop-missing" in out.stdout
    out = subprocess.run([*cmd, "--drop-missing", "--json"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)
    assert r["Status"] == "MIGRATED" and r["ToModel"] == engine.model_version and r["Faces"] == 2
