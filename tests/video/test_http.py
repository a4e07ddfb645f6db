"""boto3 against a real `clearsight serve`: each Start/Get pair with AWS's own polling loop (NextToken
'' and MaxResults), idempotency, the job limit, refusals, and kill -9 in the middle of a job."""

from __future__ import annotations

import json
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from ..conftest import data_path
from ..server.conftest import Server, start_server
from .conftest import PEOPLE, broken_videos

TOPIC = "arn:aws:sns:us-east-1:111122223333:AmazonRekognitionDone"
CHANNEL = {"SNSTopicArn": TOPIC, "RoleArn": "arn:aws:iam::111122223333:role/RekognitionPublish"}
VIDEO = {"S3Object": {"Bucket": "videos", "Name": "clips/hamilton.mp4"}}


def put_videos(server: Server, clip: Path) -> None:
    folder = server.s3_root / "videos" / "clips"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(clip, folder / "hamilton.mp4")  # a bucket is a folder of the test's own data directory
    for name, path in broken_videos(server.data_dir / "made", clip).items():
        shutil.copyfile(path, folder / path.name.replace(path.stem, name))


def enrol(client: Any) -> dict[str, str]:
    client.create_collection(CollectionId="hamilton")
    ids = {}
    for name in PEOPLE:
        out = client.index_faces(CollectionId="hamilton", ExternalImageId=name,
                                 Image={"Bytes": data_path("video", f"{name}.png").read_bytes()})
        ids[name] = out["FaceRecords"][0]["Face"]["FaceId"]
    return ids


def wait(get: Any, job_id: str, timeout: float = 240) -> dict[str, Any]:
    """What replaces SQS: poll Get* until the job is no longer IN_PROGRESS."""
    deadline = time.monotonic() + timeout
    while True:
        out = get(JobId=job_id, MaxResults=1)
        if out["JobStatus"] != "IN_PROGRESS":
            return dict(out)
        assert time.monotonic() < deadline, f"job {job_id} hung"
        time.sleep(0.5)


def aws_loop(get: Any, job_id: str, key: str, **extra: Any) -> list[dict[str, Any]]:
    """AWS's published GetFaceSearch/GetFaceDetection loop, unmodified in shape."""
    max_results, pagination_token, finished, items = 10, "", False, []
    while not finished:
        response = get(JobId=job_id, MaxResults=max_results, NextToken=pagination_token, **extra)
        meta = response["VideoMetadata"]
        assert (meta[0] if isinstance(meta, list) else meta)["Codec"] == "h264"  # on every page
        items += response[key]
        if "NextToken" in response:
            pagination_token = response["NextToken"]
        else:
            finished = True
    return items


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Any, dict[str, str]]]:
    clip = data_path("video", "short_hamilton_clip.mp4")
    data_dir = tmp_path_factory.mktemp("video-server")
    env = {"CLEARSIGHT_VIDEO_CHUNK_MS": "1000", "CLEARSIGHT_VIDEO_MAX_JOBS": "3",
           "CLEARSIGHT_VIDEO_NOTIFICATION_SINKS": f"{TOPIC}={data_dir / 'spool'}"}
    with start_server(data_dir, env=env) as server:
        put_videos(server, clip)
        client = server.client()
        yield server, client, enrol(client)


@pytest.fixture(scope="module")
def searched(served: tuple[Server, Any, dict[str, str]]) -> tuple[str, list[dict[str, Any]]]:
    _, client, _ = served
    job_id = client.start_face_search(Video=VIDEO, CollectionId="hamilton", FaceMatchThreshold=80,
                                      NotificationChannel=CHANNEL, JobTag="hamilton-1")["JobId"]
    done = wait(client.get_face_search, job_id)
    assert done["JobStatus"] == "SUCCEEDED", done
    return job_id, aws_loop(client.get_face_search, job_id, "Persons", SortBy="TIMESTAMP")


def test_face_search_round_trip(served: tuple[Server, Any, dict[str, str]],
                                searched: tuple[str, list[dict[str, Any]]]) -> None:
    server, client, ids = served
    job_id, persons = searched
    lin = [p["Timestamp"] for p in persons if any(m["Face"]["FaceId"] == ids["lin-manuel-miranda"]
                                                   for m in p["FaceMatches"])]
    assert any(t < 1500 for t in lin) and sum(3600 <= t <= 7900 for t in lin) >= 20
    page = client.get_face_search(JobId=job_id, MaxResults=3, NextToken="")
    assert page["JobTag"] == "hamilton-1" and page["Video"] == VIDEO and len(page["Persons"]) == 3
    assert "ClearSightAccountability" not in page, "boto3 drops the extension fields"
    message = json.loads((server.data_dir / "spool" / f"{job_id}.json").read_text())
    assert message == {**message, "JobId": job_id, "Status": "SUCCEEDED", "API": "StartFaceSearch",
                       "JobTag": "hamilton-1", "Video": {"S3ObjectName": "clips/hamilton.mp4", "S3Bucket": "videos"}}


def test_face_detection_round_trip_and_idempotency(served: tuple[Server, Any, dict[str, str]]) -> None:
    _, client, _ = served
    first = client.start_face_detection(Video=VIDEO, ClientRequestToken="retry-1", FaceAttributes="ALL")
    again = client.start_face_detection(Video=VIDEO, ClientRequestToken="retry-1", FaceAttributes="ALL")
    assert first["JobId"] == again["JobId"]
    with pytest.raises(ClientError) as err:
        client.start_face_detection(Video=VIDEO, ClientRequestToken="retry-1", FaceAttributes="DEFAULT")
    assert err.value.response["Error"]["Code"] == "IdempotentParameterMismatchException"
    assert wait(client.get_face_detection, first["JobId"])["JobStatus"] == "SUCCEEDED"
    faces = aws_loop(client.get_face_detection, first["JobId"], "Faces")
    assert len(faces) > 40 and "EyesOpen" in faces[0]["Face"]
    assert [f["Timestamp"] for f in faces] == sorted(f["Timestamp"] for f in faces)


def test_refusals(served: tuple[Server, Any, dict[str, str]]) -> None:
    _, client, _ = served

    def code(call: Any, **kwargs: Any) -> str:
        with pytest.raises(ClientError) as err:
            call(**kwargs)
        return str(err.value.response["Error"]["Code"]) + ": " + str(err.value.response["Error"]["Message"])

    assert code(client.start_person_tracking, Video=VIDEO).startswith("UnsupportedOperationException: ")
    assert "discontinued" in code(client.start_person_tracking, Video=VIDEO)
    versioned = {"S3Object": {**VIDEO["S3Object"], "Version": "1"}}
    assert "Version" in code(client.start_face_detection, Video=versioned)
    outside = {"S3Object": {"Bucket": "videos", "Name": "../../clearsight.db"}}
    assert code(client.start_face_detection, Video=outside).startswith("InvalidS3ObjectException")
    empty = {"S3Object": {"Bucket": "videos", "Name": "clips/empty.mp4"}}
    assert code(client.start_face_detection, Video=empty).startswith("InvalidParameterException: ")
    unknown = {**CHANNEL, "SNSTopicArn": TOPIC + "-nobody"}
    assert "video_notification_sinks" in code(client.start_face_detection, Video=VIDEO, NotificationChannel=unknown)
    assert code(client.get_face_search, JobId="0" * 64).startswith("ResourceNotFoundException")
    damaged = client.start_face_detection(Video={"S3Object": {"Bucket": "videos", "Name": "clips/damaged.mp4"}})
    failed = wait(client.get_face_detection, damaged["JobId"])
    assert failed["JobStatus"] == "FAILED" and "damaged" in failed["StatusMessage"]


def test_more_jobs_than_the_limit(served: tuple[Server, Any, dict[str, str]]) -> None:
    _, client, _ = served
    started = [client.start_face_search(Video=VIDEO, CollectionId="hamilton")["JobId"] for _ in range(3)]
    with pytest.raises(ClientError) as err:
        client.start_face_search(Video=VIDEO, CollectionId="hamilton")
    assert err.value.response["Error"]["Code"] == "LimitExceededException"
    for job_id in started:
        assert wait(client.get_face_search, job_id)["JobStatus"] == "SUCCEEDED"


def test_kill_9_mid_job_then_restart_resumes_without_duplicates(
        served: tuple[Server, Any, dict[str, str]], searched: tuple[str, list[dict[str, Any]]],
        tmp_path: Path) -> None:
    clip = data_path("video", "short_hamilton_clip.mp4")
    _, reference = searched
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    env = {"CLEARSIGHT_VIDEO_CHUNK_MS": "1000"}
    with start_server(data_dir, env=env) as server:
        put_videos(server, clip)
        client = server.client()
        enrol(client)
        key = (server.key_id, server.secret)
        job_id = client.start_face_search(Video=VIDEO, CollectionId="hamilton")["JobId"]
        deadline = time.monotonic() + 120
        while not client.get_face_search(JobId=job_id)["Persons"]:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert server.proc is not None
        server.proc.send_signal(signal.SIGKILL)  # mid-job: some chunks committed, one cut short
        server.proc.wait()
    with start_server(data_dir, env=env, key=False) as again:
        again.key_id, again.secret = key
        client = again.client()
        done = wait(client.get_face_search, job_id)
        assert done["JobStatus"] == "SUCCEEDED"
        persons = aws_loop(client.get_face_search, job_id, "Persons")
    keys = [(p["Timestamp"], p["Person"]["Index"]) for p in persons]
    assert len(keys) == len(set(keys)), "no result twice"

    def shape(items: list[dict[str, Any]]) -> list[tuple[int, int, int]]:
        return [(p["Timestamp"], p["Person"]["Index"], len(p["FaceMatches"])) for p in items]

    assert shape(persons) == shape(reference), "nothing lost: the same answer as an uninterrupted run"


def test_segment_label_and_text_round_trips(served: tuple[Server, Any, dict[str, str]]) -> None:
    from .test_labels_text_segments import made_video

    server, client, _ = served
    seg = client.start_segment_detection(Video=VIDEO, SegmentTypes=["SHOT"])["JobId"]
    labels = client.start_label_detection(Video=VIDEO, MinConfidence=70)["JobId"]
    made_video(server.s3_root / "videos" / "clips" / "sign.mp4", [("text:EXIT 42", 0.6)])
    text = client.start_text_detection(Video={"S3Object": {"Bucket": "videos", "Name": "clips/sign.mp4"}},
                                       Filters={"WordFilter": {"MinConfidence": 50}})["JobId"]
    assert wait(client.get_segment_detection, seg)["JobStatus"] == "SUCCEEDED"
    out = client.get_segment_detection(JobId=seg, MaxResults=2, NextToken="")
    assert out["VideoMetadata"][0]["FrameWidth"] == 640 and out["SelectedSegmentTypes"][0]["Type"] == "SHOT"
    shots = []
    token = ""
    while True:
        page = client.get_segment_detection(JobId=seg, MaxResults=2, NextToken=token)
        shots += page["Segments"]
        token = page.get("NextToken", "")
        if not token:
            break
    assert [s["ShotSegment"]["Index"] for s in shots] == [0, 1, 2, 3]
    assert wait(client.get_label_detection, labels)["JobStatus"] == "SUCCEEDED"
    found = aws_loop(client.get_label_detection, labels, "Labels", SortBy="TIMESTAMP", AggregateBy="TIMESTAMPS")
    assert any(i["Label"]["Name"] == "Person" for i in found)
    segments = client.get_label_detection(JobId=labels, AggregateBy="SEGMENTS", SortBy="NAME")["Labels"]
    assert segments and all("DurationMillis" in s for s in segments)
    assert wait(client.get_text_detection, text)["JobStatus"] == "SUCCEEDED"
    words = [d["TextDetection"]["DetectedText"] for d in client.get_text_detection(JobId=text)["TextDetections"]
             if d["TextDetection"]["Type"] == "WORD"]
    assert "EXIT" in words and "42" in words


def test_scopes_and_collection_patterns_gate_video_face_search(served: tuple[Server, Any, dict[str, str]],
                                                               searched: tuple[str, list[dict[str, Any]]]) -> None:
    from ..server.conftest import clearsight
    from ..server.test_accountability_http import audit, make_key

    server, _, _ = served
    job_id, _ = searched
    kiosk: Any = make_key(server, "video-kiosk", "detect", "*")
    with pytest.raises(ClientError) as err:
        kiosk.start_face_search(Video=VIDEO, CollectionId="hamilton")
    assert err.value.response["Error"]["Code"] == "AccessDeniedException"
    other: Any = make_key(server, "video-other", "search", "lobby-*")
    with pytest.raises(ClientError) as err:
        other.get_face_search(JobId=job_id)
    assert err.value.response["Error"]["Code"] == "AccessDeniedException"
    refused = [r for r in audit(server) if r["outcome"] == "refused" and r["operation"] in
               ("StartFaceSearch", "GetFaceSearch")]
    assert {r["operation"] for r in refused} == {"StartFaceSearch", "GetFaceSearch"}
    done = [r for r in audit(server) if r["operation"] == "FaceSearchJob"]
    assert done and all(r["outcome"] == "ok" for r in done)
    assert clearsight("audit", "verify", "--data-dir", str(server.data_dir)).returncode == 0
