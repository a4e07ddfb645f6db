"""Every implemented operation through a real boto3 client against the real server."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from ..conftest import data_path
from .conftest import Server


def img(*parts: str) -> bytes:
    return data_path(*parts).read_bytes()


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def test_detect_and_compare(server: Server) -> None:
    rk = server.client()
    out = rk.detect_faces(Image={"Bytes": img("faces", "insightface", "t1.jpg")})
    assert len(out["FaceDetails"]) == 6
    assert out["ResponseMetadata"]["HTTPStatusCode"] == 200
    all_attrs = rk.detect_faces(Image={"Bytes": img("faces", "face_recognition", "obama.jpg")}, Attributes=["ALL"])
    assert "EyesOpen" in all_attrs["FaceDetails"][0] and "Gender" not in all_attrs["FaceDetails"][0]
    cmp = rk.compare_faces(SourceImage={"Bytes": img("faces", "face_recognition", "obama.jpg")},
                           TargetImage={"Bytes": img("faces", "face_recognition", "two_people.jpg")},
                           SimilarityThreshold=90)
    assert len(cmp["FaceMatches"]) == 1 and len(cmp["UnmatchedFaces"]) == 1


def test_s3_objects_map_to_a_folder(server: Server) -> None:
    shutil.copy(data_path("faces", "face_recognition", "biden.jpg"), server.s3_root / "photos" / "biden.jpg")
    rk = server.client()
    out = rk.detect_faces(Image={"S3Object": {"Bucket": "photos", "Name": "biden.jpg"}})
    assert len(out["FaceDetails"]) == 1
    for name in ("../../server.log", "/etc/passwd", "missing.jpg"):
        with pytest.raises(ClientError) as exc:
            rk.detect_faces(Image={"S3Object": {"Bucket": "photos", "Name": name}})
        assert code(exc) == "InvalidS3ObjectException"


def test_bad_images(server: Server) -> None:
    rk = server.client()
    for name in ("corrupted.png", "empty.png", "truncated.jpg"):
        with pytest.raises(ClientError) as exc:
            rk.detect_faces(Image={"Bytes": img("faces", "compreface", "formats", name)})
        assert code(exc) == "InvalidImageFormatException", name
    raw = server.client(config=Config(parameter_validation=False, retries={"max_attempts": 1}))
    with pytest.raises(ClientError) as exc:
        raw.detect_faces(Image={"Bytes": b"\xff" * (5 * 1024 * 1024 + 1)})
    assert code(exc) == "ImageTooLargeException"
    with pytest.raises(ClientError) as exc:
        raw.detect_faces(Image={"Bytes": img("faces", "face_recognition", "obama.jpg")}, Attributes=["GENDER"])
    assert code(exc) == "InvalidParameterException" and "never infers" in str(exc.value)
    with pytest.raises(ClientError) as exc:
        raw.detect_faces(Image={})
    assert code(exc) == "InvalidParameterException"


def test_collections_faces_users(server: Server) -> None:
    rk = server.client()
    raw = server.client(config=Config(parameter_validation=False, retries={"max_attempts": 1}))
    made = rk.create_collection(CollectionId="boto")
    assert made["CollectionArn"].endswith("/boto")
    with pytest.raises(ClientError) as exc:
        rk.create_collection(CollectionId="boto")
    assert code(exc) == "ResourceAlreadyExistsException"
    desc = rk.describe_collection(CollectionId="boto")
    assert isinstance(desc["CreationTimestamp"], dt.datetime) and desc["FaceCount"] == 0
    assert "boto" in rk.list_collections()["CollectionIds"]

    ids = {}
    for name in ("obama", "obama2", "biden"):
        r = rk.index_faces(CollectionId="boto", Image={"Bytes": img("faces", "face_recognition", f"{name}.jpg")},
                           ExternalImageId=name, DetectionAttributes=["DEFAULT"])
        ids[name] = r["FaceRecords"][0]["Face"]["FaceId"]
    group = rk.index_faces(CollectionId="boto", Image={"Bytes": img("faces", "insightface", "t1.jpg")}, MaxFaces=1,
                           QualityFilter="NONE")
    assert len(group["FaceRecords"]) == 1 and len(group["UnindexedFaces"]) == 5

    page = rk.list_faces(CollectionId="boto", MaxResults=2)
    assert len(page["Faces"]) == 2 and page["NextToken"]
    rest = rk.list_faces(CollectionId="boto", MaxResults=10, NextToken=page["NextToken"])
    assert len(rest["Faces"]) == 2
    with pytest.raises(ClientError) as exc:
        rk.list_faces(CollectionId="boto", NextToken="not-a-token")
    assert code(exc) == "InvalidPaginationTokenException"

    found = rk.search_faces_by_image(CollectionId="boto", Image={"Bytes": img("faces", "face_recognition",
                                                                               "obama-720p.jpg")},
                                     FaceMatchThreshold=95)
    assert {m["Face"]["ExternalImageId"] for m in found["FaceMatches"]} == {"obama", "obama2"}
    by_id = rk.search_faces(CollectionId="boto", FaceId=ids["obama"])
    assert [m["Face"]["FaceId"] for m in by_id["FaceMatches"]] == [ids["obama2"]]
    with pytest.raises(ClientError) as exc:
        raw.search_faces_by_image(CollectionId="boto", Image={"Bytes": img("faces", "face_recognition", "obama.jpg")},
                                  MaxFaces=0)
    assert code(exc) == "InvalidParameterException"

    rk.create_user(CollectionId="boto", UserId="barack")
    assoc = rk.associate_faces(CollectionId="boto", UserId="barack",
                               FaceIds=[ids["obama"], ids["obama2"], ids["biden"]])
    assert len(assoc["AssociatedFaces"]) == 2
    assert assoc["UnsuccessfulFaceAssociations"][0]["Reasons"] == ["LOW_MATCH_CONFIDENCE"]
    assert [u["UserId"] for u in rk.list_users(CollectionId="boto")["Users"]] == ["barack"]
    users = rk.search_users_by_image(CollectionId="boto", Image={"Bytes": img("faces", "face_recognition",
                                                                              "obama-480p.jpg")})
    assert users["UserMatches"][0]["User"]["UserId"] == "barack"
    assert rk.search_users(CollectionId="boto", FaceId=ids["obama"])["UserMatches"][0]["User"]["UserId"] == "barack"
    rk.disassociate_faces(CollectionId="boto", UserId="barack", FaceIds=[ids["obama2"]])
    rk.delete_user(CollectionId="boto", UserId="barack")

    deleted = rk.delete_faces(CollectionId="boto", FaceIds=[ids["biden"]])
    assert deleted["DeletedFaces"] == [ids["biden"]]
    rk.delete_collection(CollectionId="boto")
    with pytest.raises(ClientError) as exc:
        rk.describe_collection(CollectionId="boto")
    assert code(exc) == "ResourceNotFoundException"


def test_unimplemented_operation_names_itself(server: Server) -> None:
    with pytest.raises(ClientError) as exc:
        server.client().detect_protective_equipment(Image={"Bytes": img("faces", "face_recognition", "obama.jpg")})
    assert code(exc) == "UnsupportedOperationException" and "DetectProtectiveEquipment" in str(exc.value)


def test_authentication(server: Server) -> None:
    from botocore import UNSIGNED

    img_bytes = img("faces", "face_recognition", "biden.jpg")
    with pytest.raises(ClientError) as exc:
        server.client(aws_secret_access_key="wrong" * 8).detect_faces(Image={"Bytes": img_bytes})
    assert code(exc) == "InvalidSignatureException"
    with pytest.raises(ClientError) as exc:
        server.client(aws_access_key_id="CSKUNKNOWNUNKNOWN000").detect_faces(Image={"Bytes": img_bytes})
    assert code(exc) == "UnrecognizedClientException"
    with pytest.raises(ClientError) as exc:
        server.client(config=Config(signature_version=UNSIGNED, retries={"max_attempts": 1})).detect_faces(
            Image={"Bytes": img_bytes})
    assert code(exc) == "MissingAuthenticationTokenException"


def test_clock_skew_is_refused(server: Server) -> None:
    import hashlib
    import hmac
    import json

    import httpx

    from clearsight.server.sigv4 import canonical_request, signing_key

    body = json.dumps({"CollectionId": "x"}).encode()
    when = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)
    amz_date, date = when.strftime("%Y%m%dT%H%M%SZ"), when.strftime("%Y%m%d")
    host = server.url.removeprefix("http://")
    headers = {"host": host, "x-amz-date": amz_date, "x-amz-target": "RekognitionService.DescribeCollection",
               "content-type": "application/x-amz-json-1.1"}
    signed = sorted(headers)
    creq = canonical_request("POST", "/", "", headers, signed, hashlib.sha256(body).hexdigest())
    scope = f"{date}/us-east-1/rekognition/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(creq.encode()).hexdigest()])
    sig = hmac.new(signing_key(server.secret, date, "us-east-1", "rekognition"), to_sign.encode(),
                   hashlib.sha256).hexdigest()
    headers["authorization"] = (f"AWS4-HMAC-SHA256 Credential={server.key_id}/{scope}, "
                                f"SignedHeaders={';'.join(signed)}, Signature={sig}")
    r = httpx.post(server.url + "/", content=body, headers=headers)
    assert r.status_code == 403
    assert r.json()["__type"] == "InvalidSignatureException" and "expired" in r.json()["message"]


def test_health_and_revoked_key(server: Server) -> None:
    import httpx

    from .conftest import clearsight

    health = httpx.get(server.url + "/health").json()
    assert health["status"] == "ok" and "SearchFacesByImage" in health["operations"]
    made = clearsight("keys", "create", "--name", "temp", "--data-dir", str(server.data_dir), "--json")
    import json

    key = json.loads(made.stdout)
    client = server.client(aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])
    assert client.list_collections()["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert clearsight("keys", "revoke", key["AccessKeyId"], "--data-dir", str(server.data_dir)).returncode == 0
    listed = json.loads(clearsight("keys", "list", "--data-dir", str(server.data_dir), "--json").stdout)
    assert any(k["AccessKeyId"] == key["AccessKeyId"] and k["Revoked"] for k in listed["AccessKeys"])
    assert "SecretAccessKey" not in json.dumps(listed)
    log = (server.data_dir / "server.log").read_text()
    assert server.secret not in log and key["SecretAccessKey"] not in log


def test_aws_cli_and_endpoint_env(server: Server, tmp_path: Path) -> None:
    import json
    import os
    import subprocess
    import sys

    env = dict(os.environ, AWS_ACCESS_KEY_ID=server.key_id, AWS_SECRET_ACCESS_KEY=server.secret,
               AWS_DEFAULT_REGION="us-east-1", AWS_ENDPOINT_URL_REKOGNITION=server.url,
               AWS_CONFIG_FILE=str(tmp_path / "none"), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"))
    photo = data_path("faces", "face_recognition", "biden.jpg")
    aws = Path(sys.executable).with_name("aws")
    cli = subprocess.run([str(aws), "rekognition", "detect-faces", "--endpoint-url", server.url,
                          "--image-bytes", f"fileb://{photo}"], capture_output=True, text=True, env=env, timeout=120)
    assert cli.returncode == 0, cli.stderr
    assert len(json.loads(cli.stdout)["FaceDetails"]) == 1
    code_ = ("import boto3,sys; r=boto3.client('rekognition')"
             ".detect_faces(Image={'Bytes': open(sys.argv[1],'rb').read()}); print(len(r['FaceDetails']))")
    plain = subprocess.run([sys.executable, "-c", code_, str(photo)], capture_output=True, text=True, env=env,
                           timeout=120)
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout.strip() == "1"
