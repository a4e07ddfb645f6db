"""Every page's work, in-process with real models on real photos: the policy floor, the required
purpose and the collection patterns are enforced exactly as over the AWS API, and every audited
operation (refusals included) leaves its record."""

from __future__ import annotations

import sqlite3
from typing import Any

import httpx

from ...conftest import data_path
from .conftest import Console, b64, csrf


def api(c: httpx.Client, operation: str, payload: dict[str, Any], purpose: str | None = None) -> httpx.Response:
    token = csrf(c.get("/console/analyze").text)
    headers = {"X-CSRF-Token": token, **({"X-ClearSight-Purpose": purpose} if purpose else {})}
    return c.post(f"/console/api/{operation}", json=payload, headers=headers)


def form(c: httpx.Client, path: str, page: str, **fields: Any) -> httpx.Response:
    return c.post(path, data={"csrf": csrf(c.get(page).text), **fields})


def audit(console: Console, **query: str) -> list[dict[str, Any]]:
    c = console.login("admin")
    records: list[dict[str, Any]] = c.get("/console/audit.json", params=query).json()["Records"]
    return records


def test_analyze_and_compare_through_the_api(console: Console) -> None:
    c = console.login("viewer")
    out = api(c, "DetectFaces", {"Image": {"Bytes": b64(data_path("faces", "insightface", "t1.jpg"))}}).json()
    assert len(out["FaceDetails"]) == 6
    obama = data_path("faces", "face_recognition")
    out = api(c, "CompareFaces", {"SourceImage": {"Bytes": b64(obama / "obama.jpg")},
                                  "TargetImage": {"Bytes": b64(obama / "obama2.jpg")}, "SimilarityThreshold": 0}).json()
    assert out["FaceMatches"][0]["Similarity"] > 90
    page = c.get("/console/compare.json").json()
    assert page["Calibration"] and {"Similarity", "FalseMatchRate", "FalseNonMatchRate"} <= set(page["Calibration"][0])
    assert audit(console, operation="CompareFaces")  # CompareFaces is audited, from the console too


def test_collection_lifecycle_policy_search_and_refusal(console: Console) -> None:
    admin = console.login("admin")
    r = form(admin, "/console/collections/create", "/console/collections", collection_id="team-secure",
             with_policy="1", min_threshold="70", max_results="50", retention_days="0", require_purpose="1")
    assert r.status_code == 200 and "Created collection team-secure" in r.text
    photos = data_path("faces", "face_recognition")
    out = api(admin, "IndexFaces", {"CollectionId": "team-secure", "Image": {"Bytes": b64(photos / "obama.jpg")},
                                    "ExternalImageId": "obama"}).json()
    face_id = out["FaceRecords"][0]["Face"]["FaceId"]
    page = admin.get("/console/collections/team-secure.json").json()
    assert page["Policy"]["require_purpose"] is True and page["Policy"]["min_threshold"] == 70
    (face,) = page["Faces"]
    assert face["FaceId"] == face_id and face["IndexedAt"] and face["Expires"] is None
    html = admin.get("/console/collections/team-secure").text
    assert "No thumbnails" in html and "obama" in html and face_id in html

    searcher = console.login("searcher")
    probe = {"CollectionId": "team-secure", "Image": {"Bytes": b64(photos / "obama2.jpg")}}
    refused = api(searcher, "SearchFacesByImage", probe)
    assert refused.status_code == 400 and "must state a purpose" in refused.json()["message"]
    below = api(searcher, "SearchFacesByImage", {**probe, "FaceMatchThreshold": 50}, purpose="case 7")
    assert "below its floor 70" in below.json()["message"]
    searcher_id = console.keys["searcher"][0]
    records = audit(console, collection="team-secure", key=searcher_id, operation="SearchFacesByImage")
    assert [r["outcome"] for r in records][:2] == ["refused", "refused"]

    found = api(searcher, "SearchFacesByImage", probe, purpose="case 7").json()
    assert found["FaceMatches"][0]["Face"]["ExternalImageId"] == "obama"
    assert found["ClearSightAccountability"]["Purpose"] == "case 7"
    (latest, *_) = audit(console, collection="team-secure", purpose="case 7")
    assert latest["operation"] == "SearchFacesByImage" and latest["outcome"] == "ok"
    search_page = searcher.get("/console/search.json").json()
    assert {"CollectionId": "team-secure", "RequirePurpose": True, "MinThreshold": 70.0} in search_page["Collections"]
    assert "needs human review" in searcher.get("/console/search").text or "must review" in searcher.get(
        "/console/search").text

    # the policy editor is for admin keys; the searcher's attempt is refused and audited
    r = form(searcher, "/console/collections/team-secure/policy", "/console/collections/team-secure",
             min_threshold="0", max_results="10", retention_days="0")
    assert "only an admin-scoped key" in r.text
    r = form(admin, "/console/collections/team-secure/policy", "/console/collections/team-secure",
             min_threshold="75", max_results="10", retention_days="30", require_purpose="1")
    assert "Policy saved" in r.text
    assert admin.get("/console/collections/team-secure.json").json()["Faces"][0]["Expires"]
    outcomes = [r["outcome"] for r in audit(console, collection="team-secure", operation="SetCollectionPolicy")]
    assert "refused" in outcomes and "ok" in outcomes

    # users: create, associate (with the reasons returned), disassociate, delete
    base = "/console/collections/team-secure"
    assert "Created user u1" in form(admin, f"{base}/users/create", base, user_id="u1").text
    missing = "00000000-0000-0000-0000-000000000000"
    r = form(admin, f"{base}/users/associate", base, user_id="u1", face_ids=f"{face_id},{missing}")
    assert "Associated 1 face(s) with u1" in r.text and "FACE_NOT_FOUND" in r.text
    r = form(admin, f"{base}/faces/delete", base, face_ids=face_id)
    assert "ASSOCIATED_TO_AN_EXISTING_USER" in r.text
    assert "Disassociated 1 face(s)" in form(admin, f"{base}/users/disassociate", base, user_id="u1",
                                             face_ids=face_id).text
    assert "Deleted user u1" in form(admin, f"{base}/users/delete", base, user_id="u1").text
    assert "Deleted 1 face(s)" in form(admin, f"{base}/faces/delete", base, face_ids=face_id).text

    r = form(admin, f"{base}/delete", base, confirm="team-secur")
    assert "type team-secure in the box to confirm" in r.text
    r = form(admin, f"{base}/delete", base, confirm="team-secure")
    assert "Erasure receipt" in r.text and "Receipt" in r.text
    assert all(x["CollectionId"] != "team-secure" for x in admin.get("/console/collections.json").json()["Collections"])


def test_collection_patterns_limit_what_a_key_sees(console: Console) -> None:
    admin = console.login("admin")
    for cid in ("team-a", "other-b"):
        form(admin, "/console/collections/create", "/console/collections", collection_id=cid)
    searcher = console.login("searcher")  # collections team-*
    seen = [x["CollectionId"] for x in searcher.get("/console/collections.json").json()["Collections"]]
    assert "team-a" in seen and "other-b" not in seen
    r = searcher.get("/console/collections/other-b")
    assert r.status_code == 400 and "may not use collection &#x27;other-b&#x27;" in r.text
    refused = audit(console, key=console.keys["searcher"][0], collection="other-b")
    assert refused and refused[0]["outcome"] == "refused"
    r = form(searcher, "/console/collections/create", "/console/collections", collection_id="other-c")
    assert "may not use collection" in r.text


def test_audit_filters_export_and_verify(console: Console) -> None:
    auditor = console.login("auditor")
    page = auditor.get("/console/audit.json", params={"verify": "1"}).json()
    assert page["Verify"]["Intact"] is True and page["Matching"] == len(page["Records"])
    only = auditor.get("/console/audit.json", params={"operation": "CompareFaces"}).json()["Records"]
    assert only and {r["operation"] for r in only} == {"CompareFaces"}
    lines = auditor.get("/console/audit/export.jsonl", params={"operation": "CompareFaces"}).text.splitlines()
    assert len(lines) == len(only)
    assert auditor.get("/console/audit.json", params={"since": "yesterday"}).status_code == 400
    html = auditor.get("/console/audit", params={"verify": "1"}).text
    assert 'data-verify="intact"' in html
    assert auditor.get("/console/keys").status_code == 400  # audit is not admin


def test_keys_create_shows_the_secret_once_and_revoke_ends_sessions(console: Console) -> None:
    admin = console.login("admin")
    r = form(admin, "/console/keys/create", "/console/keys", name="temp", scopes="detect", collections="*")
    assert "Store the secret now" in r.text
    import re

    key_id = re.search(r"data-new-key>([A-Z0-9]+)<", r.text).group(1)  # type: ignore[union-attr]
    secret = re.search(r"data-new-secret>([^<]+)<", r.text).group(1)  # type: ignore[union-attr]
    listing = admin.get("/console/keys.json").json()["AccessKeys"]
    assert any(k["AccessKeyId"] == key_id for k in listing)
    assert secret not in admin.get("/console/keys").text
    console.keys["temp"] = (key_id, secret)
    temp = console.login("temp")
    assert temp.get("/console/analyze").status_code == 200
    r = form(admin, "/console/keys/revoke", "/console/keys", key_id=key_id)
    assert f"Revoked {key_id}" in r.text
    assert temp.get("/console/analyze", follow_redirects=False).status_code == 303


def test_verify_shows_the_first_bad_record(console: Console) -> None:
    """Last in the module: it tampers with a record, then puts it back."""
    admin = console.login("admin")
    assert admin.get("/console/audit.json", params={"verify": "1"}).json()["Verify"]["Intact"]
    db = sqlite3.connect(console.data_dir / "clearsight.db")
    try:
        (text,) = db.execute("SELECT record FROM audit WHERE seq=2").fetchone()
        db.execute("UPDATE audit SET record=? WHERE seq=2", (text.replace('"ok"', '"OK"', 1),))
        db.commit()
        html = admin.get("/console/audit", params={"verify": "1"}).text
        assert 'data-verify="broken"' in html and "Chain broken at record 2" in html
    finally:
        db.execute("UPDATE audit SET record=? WHERE seq=2", (text,))
        db.commit()
        db.close()
    assert admin.get("/console/audit.json", params={"verify": "1"}).json()["Verify"]["Intact"]
