"""Video: start face detection and face search jobs on local bucket objects, follow their
progress, and show their results as tracks on a time axis; a click seeks the ``<video>``
(served here with HTTP Range) and the boxes follow the playhead. Start*/Get* are the AWS
operations, through dispatch: GetFaceSearch is audited each time a results page is read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Route

from ...errors import AccessDeniedException, ClearSightError, InvalidParameterException
from .web import PREFIX, Console, Visitor, copy_as, csrf_field, esc, q, redirect, twin

SUFFIXES = {".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/quicktime", ".webm": "video/webm",
            ".mkv": "video/x-matroska"}
KINDS = ("FaceDetection", "FaceSearch")
MAX_ROWS = 5000


def _videos(root: Path) -> list[dict[str, Any]]:
    """Video objects in the local buckets (folders under the object root), at most 500."""
    out: list[dict[str, Any]] = []
    if not root.is_dir():
        return out
    for bucket in sorted(p for p in root.iterdir() if p.is_dir()):
        for path in sorted(bucket.rglob("*")):
            if path.suffix.lower() in SUFFIXES and path.is_file() and len(out) < 500:
                out.append({"Bucket": bucket.name, "Name": str(path.relative_to(bucket)), "Bytes": path.stat().st_size})
    return out


def routes(console: Console) -> list[BaseRoute]:
    engine = console.engine

    async def page(request: Request) -> Response:
        visitor = console.visitor(request)
        videos = await console.blocking(visitor.caller(), lambda: _videos(engine.objects.root))
        collections: list[str] = []
        if visitor.may("search"):
            try:
                collections = (await console.call(visitor.caller(), "ListCollections", {}))["CollectionIds"]
            except ClearSightError:
                collections = []
        if request.url.path.endswith(".json"):
            return twin({"Videos": videos, "Collections": collections, "Operations": ["StartFaceDetection",
                                                                                      "StartFaceSearch"]})
        return console.page(visitor, "video", "Stored video", _start_form(visitor, videos, collections))

    async def start(request: Request) -> Response:
        visitor = console.visitor(request)
        form = await console.form(request, visitor)
        bucket, _, name = form.get("video", "").partition("/")
        payload: dict[str, Any] = {"Video": {"S3Object": {"Bucket": bucket, "Name": name}}}
        kind = form.get("kind", "FaceDetection")
        if kind not in KINDS:
            raise InvalidParameterException(f"kind must be one of {', '.join(KINDS)}")
        if kind == "FaceSearch":
            payload["CollectionId"] = form.get("collection", "")
            payload["FaceMatchThreshold"] = float(form.get("threshold") or 80)
        try:
            out = await console.call(visitor.caller(form.get("purpose", "").strip() or None), f"Start{kind}", payload)
        except ClearSightError as exc:
            console.flash(visitor, f"Start{kind}: {exc.code}: {exc.message}", "error")
            return redirect("/video")
        return redirect(f"/video/jobs/{q(out['JobId'])}?kind={kind}")

    async def job(request: Request) -> Response:
        visitor = console.visitor(request)
        job_id = request.path_params["job_id"].removesuffix(".json")
        kind = request.query_params.get("kind", "FaceDetection")
        if kind not in KINDS:
            raise InvalidParameterException(f"kind must be one of {', '.join(KINDS)}")
        caller = visitor.caller()
        out = await console.call(caller, f"Get{kind}", {"JobId": job_id, "MaxResults": 1000})
        rows = out.get("Faces" if kind == "FaceDetection" else "Persons", [])
        while out.get("NextToken") and len(rows) < MAX_ROWS:
            out = await console.call(caller, f"Get{kind}", {"JobId": job_id, "MaxResults": 1000,
                                                          "NextToken": out["NextToken"]})
            rows += out.get("Faces" if kind == "FaceDetection" else "Persons", [])
        data = {**{k: v for k, v in out.items() if k not in ("Faces", "Persons", "NextToken")}, "Kind": kind,
                "Rows": rows, "SampleMillis": int(engine.settings.video_sample_ms),
                "Tracks": _tracks(kind, out, rows, int(engine.settings.video_sample_ms))}
        if request.url.path.endswith(".json"):
            return twin(data)
        return console.page(visitor, "video", f"{kind} job", _job_body(visitor, job_id, kind, data)
                            + copy_as(request, f"Get{kind}", {"JobId": job_id, "MaxResults": 1000}))

    async def media(request: Request) -> Response:
        visitor = console.visitor(request)
        if not (visitor.may("detect") or visitor.may("search")):
            raise AccessDeniedException(f"access key {visitor.key.access_key_id} may not read videos")
        obj = {"Bucket": request.path_params["bucket"], "Name": request.path_params["name"]}
        path = await console.blocking(visitor.caller(), lambda: engine.objects.path(obj))
        kind = SUFFIXES.get(path.suffix.lower())
        if kind is None:
            raise InvalidParameterException(f"s3://{obj['Bucket']}/{obj['Name']} is not a video")
        return FileResponse(path, media_type=kind)

    return [Route("/video", page), Route("/video.json", page), Route("/video/start", start, methods=["POST"]),
            Route("/video/jobs/{job_id}", job), Route("/media/{bucket}/{name:path}", media)]


def _tracks(kind: str, out: dict[str, Any], rows: list[dict[str, Any]], sample_ms: int) -> list[dict[str, Any]]:
    """Tracks for the time axis: FaceSearch's tracked people (ClearSightAppearances), or for
    FaceDetection the moments faces were seen, merged where samples follow each other."""
    if kind == "FaceSearch":
        names = {m["Face"]["FaceId"]: m["Face"].get("ExternalImageId") or m["Face"].get("UserId")
                 for r in rows for m in r.get("FaceMatches", [])}
        return [{"Label": f"Person {t['Index']}" + (
                    f" · {names.get(t['FaceId']) or t['FaceId'][:8]} ({t['BestSimilarity']:.1f}%)"
                    if t.get("FaceId") else " · no match"),
                 "Matched": bool(t.get("FaceId")), "Index": t["Index"],
                 "Segments": [[t["FirstTimestamp"], t["LastTimestamp"]]]}
                for t in out.get("ClearSightAppearances", [])]
    segments: list[list[int]] = []
    for ts in sorted({int(r["Timestamp"]) for r in rows}):
        if segments and ts - segments[-1][1] <= 2 * sample_ms:
            segments[-1][1] = ts
        else:
            segments.append([ts, ts])
    return [{"Label": "Faces seen", "Matched": False, "Index": None, "Segments": segments}] if segments else []


def _start_form(visitor: Visitor, videos: list[dict[str, Any]], collections: list[str]) -> str:
    if not videos:
        return ('<p class="empty">No video objects yet. Put a video in a bucket folder under the object root '
                '(setting <code>s3_root</code>, default <code>&lt;data_dir&gt;/s3</code>): '
                '<code>s3/videos/clip.mp4</code> is <code>{"Bucket": "videos", "Name": "clip.mp4"}</code>.</p>')
    options = "".join(f'<option value="{esc(v["Bucket"])}/{esc(v["Name"])}">s3://{esc(v["Bucket"])}/{esc(v["Name"])} '
                      f'({v["Bytes"] / 1e6:.1f} MB)</option>' for v in videos)
    cols = "".join(f'<option>{esc(c)}</option>' for c in collections)
    search = (f'<fieldset><legend>Face search (StartFaceSearch)</legend><label>Collection <select name="collection">'
              f'{cols}</select></label><label>Threshold <input type="number" name="threshold" value="80" min="0" '
              'max="100" step="0.5"></label><label>Purpose <input name="purpose" maxlength="256"></label></fieldset>'
              if collections else '<p class="muted">Face search needs a collection this key may search.</p>')
    kinds = "".join(f'<label class="choice"><input type="radio" name="kind" value="{k}"{" checked" if i == 0 else ""}'
                    f'{" disabled" if k == "FaceSearch" and not collections else ""}> Start{k}</label>'
                    for i, k in enumerate(KINDS))
    return ('<p class="lede">Start a stored-video job on a local bucket object. Jobs run in the background; '
            'the job page follows them and shows the results on a time axis.</p>'
            f'<form method="post" action="{PREFIX}/video/start" class="card" aria-label="Start a video job">'
            f'{csrf_field(visitor)}<label>Video <select name="video">{options}</select></label>'
            f'<fieldset><legend>Job</legend>{kinds}</fieldset>{search}'
            '<button type="submit" class="primary">Start job</button></form>')


def _job_body(visitor: Visitor, job_id: str, kind: str, data: dict[str, Any]) -> str:
    status = data.get("JobStatus", "")
    head = (f'<dl class="facts inline"><dt>Job</dt><dd><code>{esc(job_id)}</code></dd><dt>Status</dt>'
            f'<dd data-job-status="{esc(status)}">{esc(status)}</dd>')
    meta = data.get("VideoMetadata") or {}
    if meta.get("DurationMillis"):
        head += f'<dt>Duration</dt><dd>{meta["DurationMillis"] / 1000:.1f} s</dd>'
    head += "</dl>"
    if status == "IN_PROGRESS":
        return head + ('<section class="card" data-poll="1"><p>Working on it; this page refreshes when the job is '
                       'done.</p><progress aria-label="Job progress"></progress></section>')
    if status != "SUCCEEDED":
        return head + f'<div class="alert" role="alert">{esc(data.get("StatusMessage") or status)}</div>'
    s3 = (data.get("Video") or {}).get("S3Object") or {}
    src = f'{PREFIX}/media/{q(s3.get("Bucket", ""))}/{esc(s3.get("Name", ""))}'
    duration = int(meta.get("DurationMillis") or 1)
    boxes = json.dumps([[r["Timestamp"], *(round(b[k], 4) for k in ("Left", "Top", "Width", "Height")),
                         (r.get("Person") or {}).get("Index")]
                        for r in data["Rows"] for b in [(r.get("Face") or r.get("Person") or {}).get("BoundingBox")]
                        if b])
    tracks = "".join(
        f'<div class="track-label">{esc(t["Label"])}</div>'
        f'<div class="track" role="group" aria-label="{esc(t["Label"])}">'
        + "".join(f'<button type="button" class="seg{" found" if t["Matched"] else ""}" data-seek="{a}" '
                  f'data-from="{100 * a / duration:.3f}" data-width="{100 * max(b - a, 1) / duration:.3f}" '
                  f'aria-label="{esc(t["Label"])}: {a / 1000:.1f} s to {b / 1000:.1f} s"></button>'
                  for a, b in t["Segments"]) + "</div>" for t in data["Tracks"])
    account = data.get("ClearSightAccountability")
    note = (f'<p class="note" role="note"><strong>A match is a lead, not an identification.</strong> '
            f'{esc(account["Summary"])}</p>' if account else "")
    return (head + note + f'<div class="split"><figure class="stage" data-video-stage><div class="frame">'
            f'<video controls preload="auto" src="{src}" data-video data-boxes="{esc(boxes)}" '
            f'data-sample="{int(data.get("SampleMillis", 200))}" '
            f'aria-label="The video, with the faces found outlined"></video></div></figure><section class="card">'
            f'<h2>Tracks</h2><div class="timeline" data-duration="{duration}">'
            f'{tracks or "<p class=muted>No face found.</p>"}<div class="axis" aria-hidden="true"><span>0 s</span>'
            f'<span>{duration / 2000:.1f} s</span><span>{duration / 1000:.1f} s</span></div></div>'
            f'<p class="muted" data-playhead aria-live="polite">Click a track to seek.</p></section></div>')
