"""Policies, scopes and purposes through the real server with real boto3 clients."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from ..conftest import data_path
from .conftest import Server, clearsight


def img(name: str) -> bytes:
    return data_path("faces", "face_recognition", name).read_bytes()


def audit(server: Server) -> list[dict[str, object]]:
    out = clearsight("audit", "list", "--json", "--data-dir", str(server.data_dir))
    return [json.loads(line) for line in out.stdout.splitlines()]


def with_purpose(client: object, purpose: str) -> object:
    """How boto3 users state a purpose: an event hook adding the X-ClearSight-Purpose header."""
    def add_header(request: object, **_: object) -> None:
        request.headers["X-ClearSight-Purpose"] = purpose  # type: ignore[attr-defined]

    client.meta.events.register("before-sign.rekognition.*", add_header)  # type: ignore[attr-defined]
    return client


def test_policy_refusal_and_purpose_through_boto3(server: Server) -> None:
    rk = server.client()
    rk.create_collection(CollectionId="ident", Tags={"clearsight:min-threshold": "99",
                                                     "clearsight:require-purpose": "true"})
    rk.index_faces(CollectionId="ident", Image={"Bytes": img("obama.jpg")})
    with pytest.raises(ClientError) as exc:
        rk.search_faces_by_image(CollectionId="ident", Image={"Bytes": img("obama2.jpg")}, FaceMatchThreshold=99.5)
    assert exc.value.response["Error"]["Code"] == "AccessDeniedException" and "purpose" in str(exc.value)
    stated = with_purpose(server.client(), "badge check, door 7")
    with pytest.raises(ClientError) as exc:
        stated.search_faces_by_image(CollectionId="ident", Image={"Bytes": img("obama2.jpg")})  # type: ignore[attr-defined]
    assert exc.value.response["Error"]["Code"] == "AccessDeniedException" and "floor 99" in str(exc.value)
    found = stated.search_faces_by_image(CollectionId="ident", Image={"Bytes": img("obama2.jpg")},  # type: ignore[attr-defined]
                                         FaceMatchThreshold=99.5)
    assert len(found["FaceMatches"]) == 1
    assert "ClearSightAccountability" not in found  # boto3 drops fields outside Rekognition's model
    records = [r for r in audit(server) if r["collection"] == "ident" and r["operation"] == "SearchFacesByImage"]
    assert [r["outcome"] for r in records] == ["refused", "refused", "ok"]
    assert records[-1]["purpose"] == "badge check, door 7" and records[-1]["access_key_id"] == server.key_id


def test_scoped_keys(server: Server) -> None:
    made = clearsight("keys", "create", "--name", "kiosk", "--scope", "detect,compare", "--collections", "lobby-*",
                      "--purpose", "lobby kiosk", "--data-dir", str(server.data_dir), "--json")
    key = json.loads(made.stdout)
    kiosk = server.client(aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])
    assert len(kiosk.detect_faces(Image={"Bytes": img("biden.jpg")})["FaceDetails"]) == 1
    with pytest.raises(ClientError) as exc:
        kiosk.search_faces_by_image(CollectionId="lobby-1", Image={"Bytes": img("biden.jpg")})
    assert exc.value.response["Error"]["Code"] == "AccessDeniedException"
    admin = server.client()
    admin.create_collection(CollectionId="hr")
    with pytest.raises(ClientError) as exc:
        kiosk.delete_collection(CollectionId="hr")
    assert exc.value.response["Error"]["Code"] == "AccessDeniedException"
    refused = [r for r in audit(server) if r["access_key_id"] == key["AccessKeyId"] and r["outcome"] == "refused"]
    assert {r["operation"] for r in refused} == {"SearchFacesByImage", "DeleteCollection"}
    assert all(r["purpose"] == "lobby kiosk" for r in refused)
    assert admin.describe_collection(CollectionId="hr")["FaceCount"] == 0


def test_extension_field_in_raw_json(server: Server) -> None:
    import hashlib

    import httpx
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    rk = server.client()
    rk.create_collection(CollectionId="raw")
    rk.index_faces(CollectionId="raw", Image={"Bytes": img("biden.jpg")})
    import base64

    body = json.dumps({"CollectionId": "raw", "Image": {"Bytes": base64.b64encode(img("biden.jpg")).decode()}})
    req = AWSRequest("POST", server.url + "/", data=body, headers={
        "X-Amz-Target": "RekognitionService.SearchFacesByImage", "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Content-Sha256": hashlib.sha256(body.encode()).hexdigest()})
    SigV4Auth(Credentials(server.key_id, server.secret), "rekognition", "us-east-1").add_auth(req)
    r = httpx.post(server.url + "/", content=body, headers=dict(req.headers))
    ext = r.json()["ClearSightAccountability"]
    assert ext["GallerySize"] == 1 and "false match" in ext["Summary"]


def make_key(server: Server, name: str, scope: str, collections: str) -> object:
    made = clearsight("keys", "create", "--name", name, "--scope", scope, "--collections", collections,
                      "--data-dir", str(server.data_dir), "--json")
    key = json.loads(made.stdout)
    return server.client(aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])


def test_enrol_key_cannot_set_policies_or_read_scores(server: Server) -> None:
    enrol: Any = make_key(server, "enrolment", "enrol", "desk-*")
    reader: Any = make_key(server, "reader", "search", "desk-*")
    with pytest.raises(ClientError) as exc:
        enrol.create_collection(CollectionId="desk-weak", Tags={"clearsight:min-threshold": "0"})
    assert exc.value.response["Error"]["Code"] == "AccessDeniedException"
    enrol.create_collection(CollectionId="desk-1")
    server.client().create_collection(CollectionId="hidden-1")
    assert reader.list_collections()["CollectionIds"] == ["desk-1"]

    o1 = enrol.index_faces(CollectionId="desk-1", Image={"Bytes": img("obama.jpg")},
                           ExternalImageId="Visitor_Jane_Roe")["FaceRecords"][0]["Face"]["FaceId"]
    b = enrol.index_faces(CollectionId="desk-1", Image={"Bytes": img("biden.jpg")})["FaceRecords"][0]["Face"]["FaceId"]
    enrol.create_user(CollectionId="desk-1", UserId="visitor")
    enrol.associate_faces(CollectionId="desk-1", UserId="visitor", FaceIds=[o1])  # nothing compared yet
    with pytest.raises(ClientError) as exc:
        enrol.associate_faces(CollectionId="desk-1", UserId="visitor", FaceIds=[b])
    assert exc.value.response["Error"]["Code"] == "AccessDeniedException"
    listed = clearsight("audit", "list", "--json", "--face-id", o1, "--data-dir", str(server.data_dir))
    operations = [json.loads(line)["operation"] for line in listed.stdout.splitlines()]
    assert operations == ["IndexFaces", "AssociateFaces"]
    records = audit(server)
    refused = [r for r in records if r["collection"] in ("desk-weak", "desk-1") and r["outcome"] == "refused"]
    assert [r["operation"] for r in refused] == ["CreateCollection", "AssociateFaces"]
    assert not any("Visitor_Jane_Roe" in json.dumps(r) or o1 in json.dumps(r) for r in records)
