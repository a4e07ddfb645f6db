"""``clearsight video ...`` (stored video in this process) and ``clearsight worker`` (the job and stream
runners alone).

``video faces`` analyses a file here and now (no job); ``video search`` starts a face search job
and runs it in this process (the same gates and audit records as StartFaceSearch over HTTP);
``video jobs`` lists, shows, waits for and cancels the jobs of the data directory, whoever started
them (boto3, the CLI...).
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from ..policy.context import Caller, acting_as
from .common import engine_for, paginate


def _progress(done: float, label: str) -> None:
    width = 30
    filled = round(width * done)
    sys.stderr.write(f"\r{label} [{'#' * filled}{'.' * (width - filled)}] {100 * done:5.1f}%")
    sys.stderr.flush()


def cmd_faces(args: argparse.Namespace) -> int:
    engine = engine_for(args)
    result = engine.video.detect_faces_in(args.video, sample_ms=args.sample_ms, face_attributes=args.attributes)
    if args.draw:
        from ..video.decode import samples
        from .drawing import draw_video_faces

        step = int(args.sample_ms or engine.settings.video_sample_ms)
        frames = ((s.timestamp, s.rgb) for s in samples(Path(args.video), every_ms=step))
        draw_video_faces(frames, result["Faces"], Path(args.draw), fps=1000.0 / step)
    if args.json:
        print(json.dumps(result))
        return 0
    meta = result["VideoMetadata"]
    stamps = sorted({f["Timestamp"] for f in result["Faces"]})
    print(f"{args.video}: {meta['DurationMillis'] / 1000:.1f} s {meta['FrameWidth']}x{meta['FrameHeight']} "
          f"{meta['Codec']}; {len(result['Faces'])} faces at {len(stamps)} sampled timestamps")
    for ts in stamps:
        here = [f["Face"] for f in result["Faces"] if f["Timestamp"] == ts]
        print(f"  {ts / 1000:7.2f} s  {len(here)} face(s), confidence "
              + ", ".join(f"{f['Confidence']:.0f}" for f in here))
    if args.draw:
        print(f"  drawn to {args.draw}")
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    engine = engine_for(args)
    video = engine.video
    with acting_as(Caller(purpose=args.purpose)):
        job_id = video.start_face_search(video=args.video, collection_id=args.collection,
                                         face_match_threshold=args.threshold)["JobId"]
        video.run_now(job_id)
        persons = list(paginate(lambda **kw: video.get_face_search(job_id=job_id, **kw), "Persons"))
        last = video.get_face_search(job_id=job_id, max_results=1)
    result = {**last, "Persons": persons}
    result.pop("NextToken", None)
    if args.json:
        print(json.dumps(result))
        return 0 if result["JobStatus"] == "SUCCEEDED" else 1
    print(f"job {job_id}: {result['JobStatus']} {result.get('StatusMessage', '')}".rstrip())
    names = {m["Face"]["FaceId"]: m["Face"].get("ExternalImageId") or m["Face"].get("UserId") or ""
             for p in persons for m in p["FaceMatches"]}
    for t in result.get("ClearSightAppearances", []):
        who = (f"{t['FaceId']} {names.get(t['FaceId'], '')} (Similarity {t['BestSimilarity']:.1f})"
               if "FaceId" in t else "no match")
        print(f"  person {t['Index']}: {t['FirstTimestamp'] / 1000:.2f}-{t['LastTimestamp'] / 1000:.2f} s, "
              f"{t['Samples']} samples: {who}")
    if "ClearSightAccountability" in result:
        print("  " + result["ClearSightAccountability"]["Summary"])
    return 0 if result["JobStatus"] == "SUCCEEDED" else 1


def cmd_other(args: argparse.Namespace) -> int:
    """labels, text, segments: the job run here, every page of its answer."""
    engine = engine_for(args)
    video = engine.video
    kind, key = {"labels": ("label_detection", "Labels"), "text": ("text_detection", "TextDetections"),
                 "segments": ("segment_detection", "Segments")}[args.video_command]
    start = getattr(video, f"start_{kind}")
    get = getattr(video, f"get_{kind}")
    extra: dict[str, Any] = {"segment_types": ["SHOT", "TECHNICAL_CUE"]} if kind == "segment_detection" else {}
    if kind == "label_detection" and args.min_confidence is not None:
        extra["min_confidence"] = args.min_confidence
    job_id = start(video=args.video, **extra)["JobId"]
    video.run_now(job_id)
    items = list(paginate(lambda **kw: get(job_id=job_id, **kw), key))
    result = {**get(job_id=job_id, max_results=1), key: items}
    result.pop("NextToken", None)
    if args.json:
        print(json.dumps(result))
    elif result["JobStatus"] != "SUCCEEDED":
        print(f"job {job_id}: {result['JobStatus']} {result.get('StatusMessage', '')}")
    for item in [] if args.json else items:
        if key == "Labels":
            print(f"  {item['Timestamp'] / 1000:7.2f} s  {item['Label']['Name']} {item['Label']['Confidence']:.0f}")
        elif key == "TextDetections" and item["TextDetection"]["Type"] == "LINE":
            print(f"  {item['Timestamp'] / 1000:7.2f} s  {item['TextDetection']['DetectedText']}")
        elif key == "Segments":
            what = item.get("ShotSegment", {}).get("Index", item.get("TechnicalCueSegment", {}).get("Type"))
            print(f"  {item['StartTimecodeSMPTE']} - {item['EndTimecodeSMPTE']}  {item['Type']} {what}")
    return 0 if result["JobStatus"] == "SUCCEEDED" else 1


def cmd_jobs(args: argparse.Namespace) -> int:
    engine = engine_for(args)
    video = engine.video
    if args.action == "list":
        jobs = video.list_jobs()
        if args.json:
            print(json.dumps({"Jobs": jobs}))
        for j in [] if args.json else jobs:
            print(f"{j['JobId'][:16]}  {j['API']:20} {j['JobStatus']:11} {100 * j['Progress']:5.1f}%  {j['Video']}")
        return 0
    if not args.job_id:
        print(f"error: video jobs {args.action} needs a JobId", file=sys.stderr)
        return 2
    if args.action == "cancel":
        job = video.cancel_job(args.job_id)
    elif args.action == "wait":
        while (job := video.describe(video.job(args.job_id)))["JobStatus"] == "IN_PROGRESS":
            if not args.json:
                _progress(job["Progress"], job["JobId"][:16])
            time.sleep(args.interval)
        if not args.json:
            _progress(1.0, job["JobId"][:16])
            sys.stderr.write("\n")
    else:
        job = video.describe(video.job(args.job_id))
    if args.json:
        print(json.dumps(job))
    else:
        print(f"{job['JobId']}  {job['API']}  {job['JobStatus']}  {job.get('StatusMessage', '')}".rstrip())
    return 0 if job["JobStatus"] != "FAILED" else 1


def cmd_worker(args: argparse.Namespace) -> int:
    """Run the video job runner alone, until SIGTERM or Ctrl-C (jobs are released and resume later)."""
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    engine = engine_for(args)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    engine.video.runner.start()
    engine.streams.runner.start()  # stream processors too (the server's runner and this one share them)
    logging.getLogger("clearsight.video").info("video worker %s running jobs and stream processors of %s",
                                               engine.video.runner.owner, engine.settings.data_dir)
    interval = float(engine.settings.maintenance_interval)
    try:
        while not done.wait(interval):
            engine.video.purge_expired()
    except KeyboardInterrupt:
        pass
    finally:
        engine.close()
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser("video", help="stored video: faces and face search in a video file, and video jobs")
    groups = p.add_subparsers(dest="video_command", required=True)

    q = groups.add_parser("faces", help="faces in a video, every --sample-ms (GetFaceDetection's answer, no job)")
    q.add_argument("video", metavar="VIDEO")
    q.add_argument("--sample-ms", type=int, metavar="N", help="analyse a frame every N ms (default 200)")
    q.add_argument("--attributes", choices=["DEFAULT", "ALL"], default="DEFAULT")
    q.add_argument("--json", action="store_true", help="the GetFaceDetection-shaped JSON")
    q.add_argument("--draw", metavar="OUT.mp4", help="write the sampled frames with their faces")
    q.add_argument("--data-dir", metavar="DIR")
    q.set_defaults(func=cmd_faces)

    q = groups.add_parser("search", help="find a collection's faces in a video (a face search job, run here)")
    q.add_argument("video", metavar="VIDEO")
    q.add_argument("--collection", required=True, metavar="ID")
    q.add_argument("--threshold", type=float, default=80.0, help="FaceMatchThreshold, 0-100 (default 80)")
    q.add_argument("--purpose", help="why you search (recorded in the audit trail; some collections require it)")
    q.add_argument("--json", action="store_true", help="the GetFaceSearch-shaped JSON, every page")
    q.add_argument("--data-dir", metavar="DIR")
    q.set_defaults(func=cmd_search)

    for name, what in (("labels", "labels every --sample-ms (StartLabelDetection)"),
                       ("text", "text every --sample-ms (StartTextDetection)"),
                       ("segments", "shots and black frames (StartSegmentDetection)")):
        q = groups.add_parser(name, help=f"{what}, as a job run here")
        q.add_argument("video", metavar="VIDEO")
        if name == "labels":
            q.add_argument("--min-confidence", type=float, help="MinConfidence, 0-100 (default 50)")
        q.add_argument("--json", action="store_true", help="the Get* JSON, every page")
        q.add_argument("--data-dir", metavar="DIR")
        q.set_defaults(func=cmd_other)

    q = groups.add_parser("jobs", help="list, show, wait for or cancel video jobs")
    q.add_argument("action", choices=["list", "show", "wait", "cancel"])
    q.add_argument("job_id", nargs="?", metavar="JOB_ID")
    q.add_argument("--interval", type=float, default=1.0, help="wait: seconds between polls")
    q.add_argument("--json", action="store_true")
    q.add_argument("--data-dir", metavar="DIR")
    q.set_defaults(func=cmd_jobs)

    p = sub.add_parser("worker", help="run stored-video jobs and stream processors (without the HTTP server)")
    p.add_argument("--data-dir", metavar="DIR")
    p.set_defaults(func=cmd_worker)
