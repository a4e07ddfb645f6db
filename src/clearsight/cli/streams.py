"""``clearsight streams ...``: the stream processors of the data directory (whoever created them),
listed with their counters, shown, started, stopped or deleted through the same operations (and
audit records) as over HTTP. ``clearsight serve`` runs them."""

from __future__ import annotations

import argparse
import json
from typing import Any

from .common import engine_for, paginate


def cmd_streams(args: argparse.Namespace) -> int:
    engine = engine_for(args)
    try:
        s = engine.streams
        if args.action == "list":
            rows = [s.describe_stream_processor(name=p["Name"])
                    for p in paginate(s.list_stream_processors, "StreamProcessors")]
            if args.json:
                print(json.dumps(rows))
                return 0
            for d in rows:
                stats: dict[str, Any] = d["ClearSightStreamProcessor"]
                print(f"{d['Name']:24} {d['Status']:9} analysed {stats.get('FramesAnalysed', 0):>7} dropped "
                      f"{stats.get('FramesDropped', 0):>6} identifications {stats.get('Identifications', 0):>5}"
                      + (f"  ({d['StatusMessage']})" if d.get("StatusMessage") else ""))
            return 0
        if not args.name:
            raise SystemExit(f"clearsight streams {args.action} needs a NAME")
        call = {"show": s.describe_stream_processor, "start": s.start_stream_processor,
                "stop": s.stop_stream_processor, "delete": s.delete_stream_processor}[args.action]
        print(json.dumps(call(name=args.name), default=str, indent=None if args.json else 1))
        return 0
    finally:
        engine.close()


def register(sub: Any) -> None:
    p = sub.add_parser("streams", help="list, show, start, stop or delete stream processors (live cameras)")
    p.add_argument("action", choices=["list", "show", "start", "stop", "delete"])
    p.add_argument("name", nargs="?", metavar="NAME")
    p.add_argument("--json", action="store_true")
    p.add_argument("--data-dir", metavar="DIR")
    p.set_defaults(func=cmd_streams)
