"""The video page: jobs started on a local bucket object through dispatch, results as tracks,
the video served with HTTP Range."""

from __future__ import annotations

import shutil
import time
from typing import Any

import httpx

from ...conftest import data_path
from .conftest import Console
from .test_workflows import api, form


def wait_job(c: httpx.Client, location: str) -> dict[str, Any]:
    path, _, query = location.partition("?")
    deadline = time.monotonic() + 240
    while True:
        out: dict[str, Any] = c.get(path + ".json?" + query).json()
        if out["JobStatus"] != "IN_PROGRESS" or time.monotonic() > deadline:
            return out
        time.sleep(0.5)


def test_face_search_job_tracks_and_range(console: Console) -> None:
    shutil.copy(data_path("video", "short_hamilton_clip.mp4"), console.data_dir / "s3" / "videos" / "clip.mp4")
    admin = console.login("admin")
    assert {"Bucket": "videos", "Name": "clip.mp4", "Bytes": (console.data_dir / "s3" / "videos" / "clip.mp4")
            .stat().st_size} in admin.get("/console/video.json").json()["Videos"]
    form(admin, "/console/collections/create", "/console/collections", collection_id="cast")
    api(admin, "IndexFaces", {"CollectionId": "cast", "ExternalImageId": "lin-manuel-miranda", "Image": {
        "Bytes": __import__("base64").b64encode(data_path("video", "lin-manuel-miranda.png").read_bytes()).decode()}})
    r = admin.post("/console/video/start", data={"csrf": _csrf(admin), "video": "videos/clip.mp4",
                                                  "kind": "FaceSearch", "collection": "cast", "threshold": "80",
                                                  "purpose": "console test"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    out = wait_job(admin, r.headers["location"])
    assert out["JobStatus"] == "SUCCEEDED", out
    assert any(t["Matched"] for t in out["Tracks"]), out["Tracks"]
    html = admin.get(r.headers["location"]).text
    assert "data-seek=" in html and "<video" in html and "A match is a lead" in html
    media = admin.get("/console/media/videos/clip.mp4", headers={"Range": "bytes=0-99"})
    assert media.status_code == 206 and len(media.content) == 100 and media.headers["content-type"] == "video/mp4"
    assert admin.get("/console/media/videos/../../clearsight.db").status_code == 400
    viewer = console.login("viewer")  # detect and compare only: no face search
    r = viewer.post("/console/video/start", data={"csrf": _csrf(viewer), "video": "videos/clip.mp4",
                                                   "kind": "FaceSearch", "collection": "cast"})
    assert "may not call StartFaceSearch" in r.text


def _csrf(c: httpx.Client) -> str:
    from .conftest import csrf

    return csrf(c.get("/console/video").text)
