"""The service under attack: signature holes, replays, idle sockets, bodies in memory, timeouts,
the first admin secret. Real servers on 127.0.0.1, real boto3 clients and raw sockets."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import re
import socket
import sqlite3
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from ..conftest import data_path
from .conftest import Server, start_server

JSON_11 = "application/x-amz-json-1.1"


def photo(*parts: str) -> bytes:
    return data_path("faces", *parts).read_bytes()


def sign(server: Server, target: str, body: bytes, *, region: str = "us-east-1", service: str = "rekognition",
         headers: dict[str, str] | None = None, signed: list[str] | None = None,
         payload_hash: str | None = None) -> dict[str, str]:
    """A SigV4-signed header set made by hand, so a test can leave a header unsigned or sign a payload
    hash of its choice (botocore's signer always does the right thing)."""
    from clearsight.server.sigv4 import canonical_request, signing_key

    now = dt.datetime.now(dt.UTC)
    amz_date, date = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    out = {"host": server.url.removeprefix("http://"), "x-amz-date": amz_date, "content-type": JSON_11,
           "x-amz-target": f"RekognitionService.{target}", **(headers or {})}
    names = sorted(signed if signed is not None else out)
    creq = canonical_request("POST", "/", "", out, names, payload_hash or hashlib.sha256(body).hexdigest())
    scope = f"{date}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(creq.encode()).hexdigest()])
    sig = hmac.new(signing_key(server.secret, date, region, service), to_sign.encode(), hashlib.sha256).hexdigest()
    out["authorization"] = (f"AWS4-HMAC-SHA256 Credential={server.key_id}/{scope}, "
                            f"SignedHeaders={';'.join(names)}, Signature={sig}")
    return out


def error(r: httpx.Response) -> str:
    assert r.headers["content-type"].startswith(JSON_11)
    return str(r.json()["__type"])


def exists(server: Server, collection: str) -> bool:
    return collection in server.client().list_collections()["CollectionIds"]


# --- signatures (the session server) -------------------------------------------------------------
def test_a_prepended_or_appended_operation_header_is_refused(server: Server) -> None:
    server.client().create_collection(CollectionId="victim")
    body = json.dumps({"CollectionId": "victim"}).encode()
    good = sign(server, "DescribeCollection", body)
    for order in ("before", "after"):
        pairs = list(good.items())
        extra = ("X-Amz-Target", "RekognitionService.DeleteCollection")
        pairs = [extra, *pairs] if order == "before" else [*pairs, extra]
        r = httpx.post(server.url + "/", content=body, headers=pairs)
        assert r.status_code == 403 and error(r) == "InvalidSignatureException", r.text
        assert exists(server, "victim")
    assert httpx.post(server.url + "/", content=body, headers=good).json()["FaceCount"] == 0


def test_the_operation_header_must_be_signed(server: Server) -> None:
    server.client().create_collection(CollectionId="victim-2")
    body = json.dumps({"CollectionId": "victim-2"}).encode()
    unsigned_target = sign(server, "DeleteCollection", body, signed=["content-type", "host", "x-amz-date"])
    r = httpx.post(server.url + "/", content=body, headers=unsigned_target)
    assert r.status_code == 403 and error(r) == "InvalidSignatureException" and "x-amz-target" in r.text
    assert exists(server, "victim-2")


def test_unsigned_payload_is_refused(server: Server) -> None:
    server.client().create_collection(CollectionId="victim-3")
    captured = json.dumps({"CollectionId": "victim-3"}).encode()
    headers = sign(server, "DeleteCollection", captured, headers={"x-amz-content-sha256": "UNSIGNED-PAYLOAD"},
                   payload_hash="UNSIGNED-PAYLOAD")
    r = httpx.post(server.url + "/", content=captured, headers=headers)
    assert r.status_code == 403 and error(r) == "InvalidSignatureException" and "UNSIGNED-PAYLOAD" in r.text
    assert exists(server, "victim-3")


@pytest.mark.parametrize(("region", "service"), [("eu-west-9", "rekognition"), ("us-east-1", "s3"),
                                                 ("us-east-1", "dynamodb"), ("", "rekognition")])
def test_credential_scope_names_this_service_and_region(server: Server, region: str, service: str) -> None:
    body = b"{}"
    r = httpx.post(server.url + "/", content=body, headers=sign(server, "ListCollections", body, region=region,
                                                                service=service))
    assert r.status_code == 403 and error(r) == "InvalidSignatureException"
    assert "Credential should be scoped to" in r.json()["message"]


def test_a_client_in_another_region_is_told_what_to_set(server: Server) -> None:
    with pytest.raises(ClientError) as exc:
        server.client(region_name="eu-west-9").list_collections()
    assert exc.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert "us-east-1" in exc.value.response["Error"]["Message"]


def test_session_tokens_are_refused(server: Server) -> None:
    with pytest.raises(ClientError) as exc:
        server.client(aws_session_token="anything-at-all").list_collections()
    assert exc.value.response["Error"]["Code"] == "UnrecognizedClientException"


def test_replays_are_accepted_without_the_cache(server: Server) -> None:
    """As on AWS: a captured request can be replayed within the 5-minute window (documented)."""
    body = b"{}"
    headers = sign(server, "ListCollections", body)
    assert [httpx.post(server.url + "/", content=body, headers=headers).status_code for _ in range(2)] == [200, 200]


# --- a guarded server: replay cache, small limits, a tiny request timeout, no key made beforehand ----
@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("guarded")
    env = {"CLEARSIGHT_REPLAY_CACHE": "true", "CLEARSIGHT_MAX_CONNECTIONS": "30", "CLEARSIGHT_IDLE_TIMEOUT": "3",
           "CLEARSIGHT_MAX_INFLIGHT_BYTES": str(12 * 1024 * 1024), "CLEARSIGHT_REQUEST_TIMEOUT": "0.05",
           "CLEARSIGHT_FACE_MODEL": "clearsight-face-fast-1"}
    with start_server(data_dir, env=env, key=False) as running:
        text = (data_dir / "admin-key.txt").read_text()
        running.key_id = re.search(r"AWS_ACCESS_KEY_ID=(\S+)", text)[1]  # type: ignore[index]
        running.secret = re.search(r"AWS_SECRET_ACCESS_KEY=(\S+)", text)[1]  # type: ignore[index]
        yield running


def test_the_first_admin_secret_never_reaches_the_log(guarded: Server) -> None:
    key_file = guarded.data_dir / "admin-key.txt"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    log = (guarded.data_dir / "server.log").read_text()
    assert guarded.secret not in log and str(key_file) in log and guarded.key_id in log
    guarded.client().create_collection(CollectionId="admin-works")


def test_the_replay_cache_refuses_a_second_use_of_a_write(guarded: Server) -> None:
    body = json.dumps({"CollectionId": "replayed"}).encode()
    headers = sign(guarded, "CreateCollection", body)
    first = httpx.post(guarded.url + "/", content=body, headers=headers)
    assert first.status_code == 200, first.text
    guarded.client().delete_collection(CollectionId="replayed")
    again = httpx.post(guarded.url + "/", content=body, headers=headers)
    assert again.status_code == 403 and error(again) == "InvalidSignatureException" and "replay" in again.text
    assert "replayed" not in guarded.client().list_collections()["CollectionIds"]


def test_a_slow_write_is_never_answered_retry_and_commits_once(guarded: Server) -> None:
    rk = guarded.client(config=Config(retries={"max_attempts": 1}, read_timeout=300))
    rk.create_collection(CollectionId="slow")
    group = photo("insightface", "t1.jpg")  # six faces: far beyond the 0.05 s limit
    indexed = rk.index_faces(CollectionId="slow", Image={"Bytes": group}, MaxFaces=100, QualityFilter="NONE")
    assert len(indexed["FaceRecords"]) >= 5
    with sqlite3.connect(guarded.data_dir / "clearsight.db") as db:
        stored = db.execute("SELECT count(*) FROM faces WHERE collection_id='slow'").fetchone()[0]
    assert stored == len(indexed["FaceRecords"])
    with pytest.raises(ClientError) as exc:  # a read past the limit may be retried: it changes nothing
        rk.detect_labels(Image={"Bytes": group})  # the first call loads two label models: ~0.4 s here
    assert exc.value.response["Error"]["Code"] == "ThrottlingException"


def _raw_request(port: int, headers: str, body: bytes = b"") -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(headers.encode() + body)
    return s


def _read_all(s: socket.socket) -> bytes:
    chunks = []
    try:
        while chunk := s.recv(65536):
            chunks.append(chunk)
    except (ConnectionResetError, TimeoutError):
        pass
    return b"".join(chunks)


def test_idle_sockets_are_shed_then_closed(guarded: Server) -> None:
    port = int(guarded.url.rsplit(":", 1)[1])
    idle = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(60)]
    try:
        time.sleep(0.3)
        started = time.monotonic()
        with pytest.raises(ClientError) as exc:  # the cap answers at once, with an error botocore retries
            guarded.client().list_collections()
        assert time.monotonic() - started < 5
        assert exc.value.response["Error"]["Code"] == "ThrottlingException"
        assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
        time.sleep(3.5)  # past idle_timeout: the server closed every idle socket
        still_open = 0
        for s in idle:
            s.settimeout(1)
            try:
                while s.recv(65536):  # the cap's 503 answer, if any, then end of file
                    pass
            except ConnectionResetError:
                pass
            except TimeoutError:
                still_open += 1
        assert still_open == 0
        assert "ThrottlingException" not in json.dumps(guarded.client().list_collections())
    finally:
        for s in idle:
            s.close()


def test_a_slow_header_socket_is_closed(guarded: Server) -> None:
    port = int(guarded.url.rsplit(":", 1)[1])
    with _raw_request(port, "POST / HTTP/1.1\r\nHost: x\r\nX-Slow: ") as s:
        started = time.monotonic()
        assert _read_all(s) == b"" and time.monotonic() - started < 8


def test_request_bodies_in_memory_are_bounded(guarded: Server) -> None:
    port = int(guarded.url.rsplit(":", 1)[1])
    size = 5 * 1024 * 1024
    head = (f"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {JSON_11}\r\n"
            f"X-Amz-Target: RekognitionService.DetectFaces\r\nContent-Length: {size}\r\n\r\n")
    slow = [_raw_request(port, head, b"{" + b" " * 1000) for _ in range(2)]  # 10 MB of 12 held
    try:
        time.sleep(0.5)
        with _raw_request(port, head.replace("Content-Length", "Connection: close\r\nContent-Length"),
                          b"x" * 100) as third:
            r = _read_all(third)
        assert b" 400 " in r.split(b"\r\n", 1)[0] and b"ThrottlingException" in r
        for s in slow:  # the idle timeout ends the slow bodies and frees their share
            assert b"InvalidParameterException" in _read_all(s)
        listed = guarded.client(config=Config(retries={"max_attempts": 5})).list_collections()
        assert "CollectionIds" in listed
    finally:
        for s in slow:
            s.close()


def test_fd_limit_is_raised(guarded: Server) -> None:
    pids = [p for p in os.listdir("/proc") if p.isdigit()]
    for pid in pids:
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"serve" in cmd and str(guarded.data_dir).encode() in cmd:
            limits = Path(f"/proc/{pid}/limits").read_text()
            soft = int(re.search(r"Max open files\s+(\d+)", limits)[1])  # type: ignore[index]
            assert soft >= 4096 or soft == int(re.search(r"Max open files\s+\d+\s+(\d+)", limits)[1])  # type: ignore[index]
            return
    pytest.fail("the guarded server's process was not found")


# --- answers that leaked internals or ignored a member -------------------------------------------
def test_s3_answers_name_the_object_not_the_servers_folder(server: Server) -> None:
    rk = server.client()
    with pytest.raises(ClientError) as exc:
        rk.detect_faces(Image={"S3Object": {"Bucket": "photos", "Name": "missing.jpg"}})
    assert exc.value.response["Error"]["Code"] == "InvalidS3ObjectException"
    message = exc.value.response["Error"]["Message"]
    assert "s3://photos/missing.jpg" in message and str(server.s3_root) not in message


def test_s3_object_version_is_refused_by_name(server: Server) -> None:
    (server.s3_root / "photos" / "v.jpg").write_bytes(photo("face_recognition", "biden.jpg"))
    with pytest.raises(ClientError) as exc:
        server.client().detect_faces(Image={"S3Object": {"Bucket": "photos", "Name": "v.jpg", "Version": "3"}})
    assert exc.value.response["Error"]["Code"] == "InvalidParameterException"
    assert "Version" in exc.value.response["Error"]["Message"]


def test_empty_attributes_mean_default(server: Server) -> None:
    out = server.client().detect_faces(Image={"Bytes": photo("face_recognition", "biden.jpg")}, Attributes=[])
    assert len(out["FaceDetails"]) == 1 and "Landmarks" in out["FaceDetails"][0]


# --- a full disk --------------------------------------------------------------------------------
@pytest.fixture()
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 48 MB tmpfs (root only; the test skips, saying so, where mounting is not allowed)."""
    import subprocess

    mnt = tmp_path / "small"
    mnt.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(mnt)], capture_output=True,
                          text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill ({made.stderr.strip() or 'not root'})")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def _fill(folder: Path) -> Path:
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        for size in (1 << 20, 1 << 12, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                pass
    finally:
        os.close(fd)
    return filler


def test_a_full_disk_refuses_writes_keeps_serving_reads_and_recovers(small_disk: Path) -> None:
    data_dir = small_disk / "data"
    data_dir.mkdir()
    with start_server(data_dir, env={"CLEARSIGHT_FACE_MODEL": "clearsight-face-fast-1"}) as srv:
        rk = srv.client()
        rk.create_collection(CollectionId="staff")
        rk.index_faces(CollectionId="staff", Image={"Bytes": photo("face_recognition", "obama.jpg")})
        spare = rk.index_faces(CollectionId="staff", Image={"Bytes": photo("face_recognition", "obama2.jpg")})
        rk.delete_faces(CollectionId="staff", FaceIds=[spare["FaceRecords"][0]["Face"]["FaceId"]])
        doomed = rk.index_faces(CollectionId="staff", Image={"Bytes": photo("face_recognition", "obama2.jpg")})
        filler = _fill(small_disk)
        with pytest.raises(ClientError) as exc:
            rk.index_faces(CollectionId="staff", Image={"Bytes": photo("face_recognition", "biden.jpg")})
        err = exc.value.response
        assert err["Error"]["Code"] == "InternalServerError" and err["ResponseMetadata"]["HTTPStatusCode"] == 500
        assert "full" in err["Error"]["Message"] and "nothing was written" in err["Error"]["Message"]
        assert len(rk.detect_faces(Image={"Bytes": photo("face_recognition", "biden.jpg")})["FaceDetails"]) == 1
        assert rk.describe_collection(CollectionId="staff")["FaceCount"] == 2
        try:  # a deletion either commits and is answered (erasure waits for space) or writes nothing
            rk.delete_faces(CollectionId="staff", FaceIds=[doomed["FaceRecords"][0]["Face"]["FaceId"]])
            left = 1
        except ClientError as deletion:
            assert deletion.response["Error"]["Code"] == "InternalServerError"
            assert "nothing was written" in deletion.response["Error"]["Message"]
            left = 2
        assert rk.describe_collection(CollectionId="staff")["FaceCount"] == left
        filler.unlink()  # space returns: no restart needed
        rk.index_faces(CollectionId="staff", Image={"Bytes": photo("face_recognition", "biden.jpg")})
        assert rk.describe_collection(CollectionId="staff")["FaceCount"] == left + 1
        found = rk.search_faces_by_image(CollectionId="staff", Image={"Bytes": photo("face_recognition", "biden.jpg")},
                                         FaceMatchThreshold=95)
        assert len(found["FaceMatches"]) == 1
        log = (data_dir / "server.log").read_text()
        assert "Traceback" not in log


def test_health_lists_the_operation_table(server: Server) -> None:
    from clearsight.operations import OPERATIONS

    assert httpx.get(server.url + "/health").json()["operations"] == sorted(OPERATIONS)


def test_errors_never_show_python_internals(server: Server) -> None:
    rk = server.client()
    for image in (b"not an image" * 20, b"\x89PNG\r\n\x1a\n" + b"\0" * 64):
        with pytest.raises(ClientError) as exc:
            rk.detect_faces(Image={"Bytes": image})
        message = exc.value.response["Error"]["Message"]
        assert exc.value.response["Error"]["Code"] == "InvalidImageFormatException"
        assert " object at 0x" not in message and "Traceback" not in message
