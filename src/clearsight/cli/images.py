"""``clearsight labels`` and ``clearsight text``: DetectLabels and DetectText from the shell.

``--json`` prints one Rekognition-shaped response per image, one JSON object per line, with an
extra ``"Image"`` key naming the file (like ``clearsight detect``).
"""

from __future__ import annotations

import argparse
from typing import Any

from .common import each_image, engine_for
from .drawing import draw_labels, draw_text


def cmd_labels(args: argparse.Namespace) -> int:
    engine = engine_for(args)
    features = ["GENERAL_LABELS", "IMAGE_PROPERTIES"] if args.properties else ["GENERAL_LABELS"]

    def human(image: str, result: dict[str, Any]) -> None:
        labels = result["Labels"]
        print(f"{image}: {len(labels)} label{'s' if len(labels) != 1 else ''}")
        for label in labels:
            count = len(label["Instances"])
            parents = ", ".join(p["Name"] for p in label["Parents"])
            print(f"  {label['Name']:24} {label['Confidence']:5.1f}" + (f"  {count} instance(s)" if count else "")
                  + (f"  parents: {parents}" if parents else ""))
        if args.properties:
            q = result["ImageProperties"]["Quality"]
            colors = ", ".join(f"{c['CSSColor']} {c['PixelPercent']:.0f}%"
                               for c in result["ImageProperties"]["DominantColors"][:5])
            print(f"  quality: brightness {q['Brightness']:.0f} sharpness {q['Sharpness']:.0f} "
                  f"contrast {q['Contrast']:.0f}; colours: {colors}")

    return each_image(
        args, lambda image: engine.detect_labels(image, max_labels=args.max_labels, min_confidence=args.min_confidence,
                                                 features=features), human,
        lambda image, result, out: draw_labels(engine.decode(image).rgb, result["Labels"], out))


def cmd_text(args: argparse.Namespace) -> int:
    engine = engine_for(args)
    filters = {"WordFilter": {"MinConfidence": args.min_confidence}} if args.min_confidence is not None else None

    def human(image: str, result: dict[str, Any]) -> None:
        lines = [d for d in result["TextDetections"] if d["Type"] == "LINE"]
        words = len(result["TextDetections"]) - len(lines)
        print(f"{image}: {len(lines)} line{'s' if len(lines) != 1 else ''}, {words} word{'s' if words != 1 else ''}")
        for line in lines:
            print(f"  {line['Confidence']:5.1f}  {line['DetectedText']}")

    return each_image(args, lambda image: engine.detect_text(image, filters=filters), human,
                      lambda image, result, out: draw_text(engine.decode(image).rgb, result["TextDetections"], out))


def register(sub: Any) -> None:
    p = sub.add_parser("labels", help="detect objects, animals and scenes (DetectLabels) in images")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--json", action="store_true", help="one DetectLabels JSON response per line")
    p.add_argument("--min-confidence", type=float, metavar="C", help="MinConfidence, 0-100 (default 55)")
    p.add_argument("--max-labels", type=int, metavar="N", help="MaxLabels (default: all)")
    p.add_argument("--properties", action="store_true",
                   help="also the IMAGE_PROPERTIES feature (quality, dominant colours)")
    p.add_argument("--draw", metavar="OUT.png", help="write the image with the instance boxes")
    p.set_defaults(func=cmd_labels)

    p = sub.add_parser("text", help="read text (DetectText) in images")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--json", action="store_true", help="one DetectText JSON response per line")
    p.add_argument("--min-confidence", type=float, metavar="C", help="WordFilter MinConfidence, 0-100")
    p.add_argument("--draw", metavar="OUT.png", help="write the image with line and word polygons")
    p.set_defaults(func=cmd_text)
