"""After DeleteFaces / DeleteCollection and the erasure, neither the FaceId nor the ExternalImageId
(often a person's name) nor the source path is left in any file of the data directory, the audit
table aside; and the erasure receipt says when that was done."""

from __future__ import annotations

import shutil
import sqlite3
import time
from pathlib import Path

from clearsight.collections.service import Collections

from ..conftest import data_path


def files_containing_outside_audit(data_dir: Path, copy: Path, needles: list[bytes]) -> dict[str, list[str]]:
    """Scan a copy of the data directory in which the audit table's rows were deleted (the audit
    log, pseudonymised separately, may name the operation's faces) and the file VACUUMed: every
    other byte of every file is searched."""
    shutil.copytree(data_dir, copy)
    db = sqlite3.connect(copy / "clearsight.db")
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if "audit" in tables:
        db.execute("DELETE FROM audit")
    db.commit()
    db.execute("VACUUM")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    found: dict[str, list[str]] = {}
    for needle in needles:
        hits = [str(p.relative_to(copy)) for p in copy.rglob("*")
                if p.is_file() and (needle in p.read_bytes() or needle.upper() in p.read_bytes().upper())]
        if hits:
            found[needle.decode()] = hits
    return found


def test_erased_faces_leave_no_identifier_in_any_file(collections: Collections, tmp_path_factory) -> None:  # type: ignore[no-untyped-def]
    c = collections
    tmp_path = tmp_path_factory.mktemp("scans")  # outside the data directory
    c.create_collection(collection_id="c")
    c.create_collection(collection_id="gone")
    image = data_path("faces", "face_recognition", "obama.jpg")
    kept = c.index_faces(collection_id="c", image=data_path("faces", "face_recognition", "biden.jpg"),
                         external_image_id="Kept_Person_Biden", source="/photos/Kept_Person_Biden.jpg")
    doomed = c.index_faces(collection_id="c", image=image, external_image_id="Zelda_Quintessa_Obama",
                           source="/photos/Zelda_Quintessa_Obama.jpg")
    other = c.index_faces(collection_id="gone", image=image, external_image_id="Yorick_Whole_Collection",
                          source="/photos/Yorick_Whole_Collection.jpg")
    fid = doomed["FaceRecords"][0]["Face"]["FaceId"]
    other_fid = other["FaceRecords"][0]["Face"]["FaceId"]
    c.snapshot()
    needles = [fid.encode(), b"Zelda_Quintessa_Obama", other_fid.encode(), b"Yorick_Whole_Collection"]
    sanity = files_containing_outside_audit(c.data_dir, tmp_path / "before", needles)
    assert set(sanity) == {n.decode() for n in needles}, "sanity: the identifiers are on disk"

    t0 = time.time()
    out = c.delete_faces(collection_id="c", face_ids=[fid])["ClearSightErasure"]
    gone = c.delete_collection(collection_id="gone")["ClearSightErasure"]
    for receipt in (out, gone):
        assert receipt["Complete"] is True and receipt["Note"] and receipt["ReceiptId"]
        assert t0 <= receipt["RequestedAt"] <= receipt["CompletedAt"] <= time.time()
        assert c.erasure_receipt(receipt["ReceiptId"]) == {k: v for k, v in receipt.items() if k != "DeletedFaces"}
    assert files_containing_outside_audit(c.data_dir, tmp_path / "after", needles) == {}
    # the face we kept, and its source, are still there
    assert files_containing_outside_audit(c.data_dir, tmp_path / "kept", [b"Kept_Person_Biden"])
    assert c.store.sources("c") == {"/photos/Kept_Person_Biden.jpg"}
    assert kept["FaceRecords"][0]["Face"]["FaceId"] in set(c.index("c").ids)


def test_a_large_deletion_is_erased_in_the_background_with_a_receipt(collections: Collections, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from clearsight.settings import Settings

    c = collections
    monkeypatch.setattr(c, "settings", Settings.load(data_dir=str(c.data_dir), erase_sync_bytes=0))
    c.erase_after = 0.2
    c.create_collection(collection_id="c")
    fid = c.index_faces(collection_id="c", image=data_path("faces", "face_recognition", "obama.jpg"))[
        "FaceRecords"][0]["Face"]["FaceId"]
    receipt = c.delete_faces(collection_id="c", face_ids=[fid])["ClearSightErasure"]
    assert receipt["Complete"] is False and "CompletedAt" not in receipt and c.erasure_pending
    deadline = time.monotonic() + 30
    while not c.erasure_receipt(receipt["ReceiptId"])["Complete"] and time.monotonic() < deadline:
        time.sleep(0.05)
    done = c.erasure_receipt(receipt["ReceiptId"])
    assert done["Complete"] is True and done["CompletedAt"] >= receipt["RequestedAt"]
    assert not c.erasure_pending
    assert c.store.changes_since(0) == []  # the change log naming the face is gone
