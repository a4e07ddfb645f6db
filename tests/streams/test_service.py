"""Stream processors in process, on the Hamilton clip replayed as a camera: requests refused with clear
errors, face search records and their audit trail, regions of interest, the latency budget dropping
frames (never queueing them), the policy enforced while running, connected-home labels and notices,
and the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from clearsight.errors import ClearSightError, InvalidParameterException, ResourceInUseException
from clearsight.streams import session as session_module
from clearsight.streams.analysis import in_regions
from clearsight.streams.config import Sources
from clearsight.streams.service import StreamProcessors

from .conftest import CLIP, OUT, ROLE, TOPIC, Factory, kvs

FACES = {"FaceSearch": {"CollectionId": "hamilton", "FaceMatchThreshold": 80.0}}


def create(s: StreamProcessors, name: str, **extra: Any) -> dict[str, Any]:
    args: dict[str, Any] = {"input": {"KinesisVideoStream": {"Arn": CLIP}}, "output": {"KinesisDataStream": {
        "Arn": OUT}}, "settings": FACES, "role_arn": ROLE, **extra}
    return s.create_stream_processor(name=name, **args)


def until(s: StreamProcessors, name: str, ok: Callable[[dict[str, Any]], bool], timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        d = s.describe_stream_processor(name=name)
        if ok(d):
            return d
        assert time.monotonic() < deadline, f"{name}: {d['Status']} {d.get('StatusMessage')}"
        time.sleep(0.2)


def records(s: StreamProcessors, name: str) -> list[dict[str, Any]]:
    path = Path(s.sinks.targets[OUT][0]) / f"{name}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_requests_are_refused_with_clear_errors(streams: Factory) -> None:
    s, _ = streams()
    (s.s3_root / "records").mkdir(parents=True)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"input": {"KinesisVideoStream": {"Arn": kvs("elsewhere")}}}, "stream_sources"),
        ({"output": {"KinesisDataStream": {"Arn": OUT.replace("out", "other")}}}, "stream_sinks"),
        ({"output": {"S3Destination": {"Bucket": "nobucket"}}}, "does not exist"),
        ({"output": {"S3Destination": {"Bucket": "records", "KeyPrefix": "../../"}}}, "leaves its bucket"),
        ({"settings": {}}, "exactly one of FaceSearch and ConnectedHome"),
        ({"settings": {"ConnectedHome": {"Labels": ["CAR"]}}}, "PERSON, PET, PACKAGE, ALL"),
        ({"settings": {"FaceSearch": {"CollectionId": "nope"}}}, "nope"),
        ({"regions_of_interest": [{"BoundingBox": {"Left": 0, "Top": 0, "Width": 2, "Height": 1}}]}, "Width"),
        ({"regions_of_interest": [{"Polygon": [{"X": 0, "Y": 0}]}]}, "at least 3 Points"),
        ({"notification_channel": {"SNSTopicArn": TOPIC.replace("events", "other")}}, "video_notification_sinks"),
        ({"tags": {"clearsight:latency-ms": "soon"}}, "latency-ms"),
        ({"tags": ["clearsight:latency-ms"]}, "Tags must map"),
        ({"data_sharing_preference": {"OptIn": "yes"}}, "OptIn"),
    ]
    for extra, expected in cases:
        with pytest.raises(ClearSightError) as err:
            create(s, "cam", **extra)
        assert expected in err.value.message, (extra, err.value.message)
    with pytest.raises(InvalidParameterException, match="Name"):
        create(s, "no spaces")
    create(s, "cam")
    with pytest.raises(ResourceInUseException):
        create(s, "cam")
    with pytest.raises(InvalidParameterException, match="cannot be updated"):
        s.update_stream_processor(name="cam", settings_for_update={"ConnectedHomeForUpdate": {"MinConfidence": 60}})
    with pytest.raises(ResourceInUseException, match="not running"):
        s.stop_stream_processor(name="cam")
    for bad in ({"data_sharing_preference_for_update": ["OptIn"]}, {"parameters_to_delete": "RegionsOfInterest"},
                {"parameters_to_delete": ["Everything"]}):
        with pytest.raises(InvalidParameterException):
            s.update_stream_processor(name="cam", **bad)
    for bad in ({"stop_selector": {"MaxDurationInSeconds": 600}}, {"start_selector": ["now"]}):
        with pytest.raises(InvalidParameterException):
            s.start_stream_processor(name="cam", **bad)
    with pytest.raises(ValueError, match="stream_sources"):
        Sources.parse("not-an-arn=rtsp://x")
    assert s.list_stream_processors(max_results=1) == {"StreamProcessors": [{"Name": "cam", "Status": "STOPPED"}]}
    s.delete_stream_processor(name="cam")
    assert s.list_stream_processors()["StreamProcessors"] == []


def test_regions_of_interest() -> None:
    box = {"Left": 0.4, "Top": 0.4, "Width": 0.2, "Height": 0.2}  # centred at (0.5, 0.5)
    assert in_regions(box, None) and in_regions(box, [])
    assert in_regions(box, [{"BoundingBox": {"Left": 0.3, "Top": 0.3, "Width": 0.4, "Height": 0.4}}])
    assert not in_regions(box, [{"BoundingBox": {"Left": 0.0, "Top": 0.0, "Width": 0.2, "Height": 0.2}}])
    triangle = [{"X": 0.0, "Y": 0.0}, {"X": 1.0, "Y": 0.0}, {"X": 0.0, "Y": 1.0}]
    assert in_regions({"Left": 0.2, "Top": 0.2, "Width": 0.2, "Height": 0.2}, [{"Polygon": triangle}])
    assert not in_regions({"Left": 0.7, "Top": 0.7, "Width": 0.1, "Height": 0.1}, [{"Polygon": triangle}])


def test_face_search_records_audit_regions_and_the_budget(streams: Factory) -> None:
    s, ids = streams()
    (s.s3_root / "records").mkdir(parents=True)
    create(s, "all", output={"KinesisDataStream": {"Arn": OUT}, "S3Destination": {"Bucket": "records",
                                                                                    "KeyPrefix": "lobby/"}})
    create(s, "corner", regions_of_interest=[{"BoundingBox": {"Left": 0, "Top": 0, "Width": 0.05, "Height": 0.05}}])
    create(s, "hurried", tags={"clearsight:latency-ms": "0"})
    for name in ("all", "corner", "hurried"):
        s.start_stream_processor(name=name, stop_selector={"MaxDurationInSeconds": 4})
    s.runner.start()
    for name in ("all", "corner", "hurried"):
        d = until(s, name, lambda d: d["Status"] == "STOPPED")
        assert "MaxDurationInSeconds" in d["StatusMessage"]
    got = records(s, "all")
    assert got and any(m["Face"]["FaceId"] == ids["lin-manuel-miranda"] for r in got
                       for f in r["FaceSearchResponse"] for m in f["MatchedFaces"])
    assert set(got[0]) >= {"InputInformation", "StreamProcessorInformation", "FaceSearchResponse"}
    assert got[0]["InputInformation"]["KinesisVideo"]["StreamArn"] == CLIP
    session = s.describe_stream_processor(name="all")["ClearSightStreamProcessor"]["SessionId"]
    in_bucket = (s.s3_root / "records" / "lobby" / "all" / session / "results.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in in_bucket] == got
    assert records(s, "corner") == [], "no face has its centre in the corner region"
    hurried = s.describe_stream_processor(name="hurried")["ClearSightStreamProcessor"]
    assert records(s, "hurried") == [] and hurried["FramesAnalysed"] == 0 and hurried["FramesDroppedLate"] > 5
    audit = list(s.audit.records())
    ops = [r["operation"] for r in audit]
    assert ops.count("CreateStreamProcessor") == 3 and ops.count("StartStreamProcessor") == 3
    assert ops.count("StreamProcessorEnded") == 3
    found = [r for r in audit if r["operation"] == "StreamProcessorIdentification"]
    assert found and all(r["collection"] == "hamilton" and r["threshold"] == 80.0 for r in found)
    assert ids["lin-manuel-miranda"] not in json.dumps(found), "faces are named by pseudonyms in the trail"
    assert s.audit.verify().ok


def test_a_policy_change_stops_a_running_processor(streams: Factory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(session_module, "POLICY_EVERY", 0.3)
    s, _ = streams()
    create(s, "cam")
    s.start_stream_processor(name="cam")
    s.runner.start()
    until(s, "cam", lambda d: d["Status"] == "RUNNING")
    s.collections.set_policy("hamilton", min_threshold=95)
    d = until(s, "cam", lambda d: d["Status"] == "FAILED")
    assert "floor" in d["StatusMessage"]
    refused = [r for r in s.audit.records() if r["operation"] == "StreamProcessorSearch"]
    assert refused and refused[-1]["outcome"] == "refused"
    with pytest.raises(ClearSightError, match="floor"):
        s.start_stream_processor(name="cam")


def test_connected_home_labels_and_notices(streams: Factory, tmp_path: Path) -> None:
    s, _ = streams()
    create(s, "home", settings={"ConnectedHome": {"Labels": ["PERSON", "PET"], "MinConfidence": 40}},
           notification_channel={"SNSTopicArn": TOPIC}, data_sharing_preference={"OptIn": True})
    d = s.describe_stream_processor(name="home")
    assert d["DataSharingPreference"] == {"OptIn": True} and "never shares" in d["ClearSightStreamProcessor"][
        "DataSharing"]
    s.update_stream_processor(name="home", settings_for_update={"ConnectedHomeForUpdate": {"Labels": ["PERSON"]}},
                              parameters_to_delete=["ConnectedHomeMinConfidence"])
    assert s.describe_stream_processor(name="home")["Settings"] == {"ConnectedHome": {"Labels": ["PERSON"]}}
    s.start_stream_processor(name="home")
    s.runner.start()
    until(s, "home", lambda d: bool(records(s, "home")), timeout=60)
    s.stop_stream_processor(name="home")
    until(s, "home", lambda d: d["Status"] == "STOPPED")
    labels = [label for r in records(s, "home") for label in r["labels"]]
    assert labels and {label["name"] for label in labels} == {"PERSON"}
    notices = [json.loads(p.read_text()) for p in (tmp_path / "notices").glob("home-*.json")]
    kinds = {n["eventNamespace"]["type"] for n in notices}
    assert kinds == {"LABEL_DETECTED", "STREAM_PROCESSING_COMPLETE"}


def test_cli_lists_and_stops(streams: Factory) -> None:
    s, _ = streams()
    create(s, "cam")
    s.start_stream_processor(name="cam")  # no runner here: it waits STARTING
    data_dir = str(s.settings.data_dir)
    env_settings = {"CLEARSIGHT_STREAM_SOURCES": str(s.settings.stream_sources),
                    "CLEARSIGHT_STREAM_SINKS": str(s.settings.stream_sinks)}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "clearsight.cli", "streams", *args, "--data-dir", data_dir],
                              capture_output=True, text=True, timeout=120, env={**os.environ, **env_settings})

    listed = cli("list")
    assert listed.returncode == 0 and "cam" in listed.stdout and "STARTING" in listed.stdout, listed.stderr
    assert cli("stop", "cam").returncode == 0
    assert json.loads(cli("show", "cam", "--json").stdout)["Status"] == "STOPPED"
    refused = cli("start", "nobody")
    assert refused.returncode == 1 and "ResourceNotFoundException" in refused.stderr
