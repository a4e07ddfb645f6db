"""`clearsight video ...` and `clearsight worker`, as a user runs them (subprocesses, real data)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from ..conftest import data_path
from ..server.conftest import clearsight


def run(*args: str) -> subprocess.CompletedProcess[str]:
    out = clearsight(*args)
    assert out.returncode == 0, out.stderr
    return out


def test_video_faces_and_search_from_the_command_line(clip: Path, tmp_path: Path) -> None:
    d = str(tmp_path / "data")
    faces = json.loads(run("video", "faces", str(clip), "--sample-ms", "1000", "--json", "--data-dir", d).stdout)
    assert faces["VideoMetadata"]["FrameHeight"] == 360 and len({f["Timestamp"] for f in faces["Faces"]}) >= 8
    drawn = tmp_path / "faces.mp4"
    run("video", "faces", str(clip), "--sample-ms", "1000", "--draw", str(drawn), "--data-dir", d)
    assert drawn.stat().st_size > 10_000
    run("collection", "create", "ham", "--data-dir", d)
    run("index", str(data_path("video", "lin-manuel-miranda.png")), "--collection", "ham", "--external-id-from",
        "filename", "--data-dir", d)
    found = run("video", "search", str(clip), "--collection", "ham", "--purpose", "test", "--data-dir", d)
    assert "lin-manuel-miranda" in found.stdout and "false matches expected" in found.stdout
    jobs = json.loads(run("video", "jobs", "list", "--json", "--data-dir", d).stdout)["Jobs"]
    assert [(j["API"], j["JobStatus"], j["Progress"]) for j in jobs] == [("StartFaceSearch", "SUCCEEDED", 1.0)]
    shown = json.loads(run("video", "jobs", "wait", jobs[0]["JobId"], "--json", "--data-dir", d).stdout)
    assert shown["CollectionId"] == "ham"
    segments = run("video", "segments", str(clip), "--data-dir", d)
    assert segments.stdout.count("SHOT") == 4


def test_the_worker_runs_jobs_started_elsewhere_and_stops_on_sigterm(clip: Path, tmp_path: Path) -> None:
    from clearsight.engine import Engine
    from clearsight.settings import Settings

    d = tmp_path / "data"
    engine = Engine(Settings.load(data_dir=str(d), video_sample_ms=1000))
    job_id = engine.video.start_face_detection(video=clip)["JobId"]  # queued, nobody runs it here
    engine.close()
    env = dict(os.environ, CLEARSIGHT_VIDEO_SAMPLE_MS="1000")
    log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen([sys.executable, "-m", "clearsight.cli", "worker", "--data-dir", str(d)],
                              stdout=log, stderr=log, env=env)
    try:
        deadline = time.monotonic() + 180
        while True:
            shown = json.loads(run("video", "jobs", "show", job_id, "--json", "--data-dir", str(d)).stdout)
            if shown["JobStatus"] != "IN_PROGRESS" or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert shown["JobStatus"] == "SUCCEEDED", (tmp_path / "worker.log").read_text()
    finally:
        worker.send_signal(signal.SIGTERM)
        code = worker.wait(timeout=60)
        log.close()
    assert code == 0
