"""``clearsight labels`` and ``clearsight text``: DetectLabels and DetectText from the shell.

``--json`` prints one Rekognition-shaped response per image, one JSON object per line, with an
extra ``"Image"`` key naming the file (like ``clearsight detect``).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .cli_common import each_image
from .engine import Engine
from .errors import InvalidParameterException
from .settings import Settings


def _engine(args: argparse.Namespace) -> Engine:
    return Engine(Settings.load())


def cmd_labels(args: argparse.Namespace) -> int:
    engine = _engine(args)
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
    engine = _engine(args)
    filters = {"WordFilter": {"MinConfidence": args.min_confidence}} if args.min_confidence is not None else None

    def human(image: str, result: dict[str, Any]) -> None:
        lines = [d for d in result["TextDetections"] if d["Type"] == "LINE"]
        words = len(result["TextDetections"]) - len(lines)
        print(f"{image}: {len(lines)} line{'s' if len(lines) != 1 else ''}, {words} word{'s' if words != 1 else ''}")
        for line in lines:
            print(f"  {line['Confidence']:5.1f}  {line['DetectedText']}")

    return each_image(args, lambda image: engine.detect_text(image, filters=filters), human,
                      lambda image, result, out: draw_text(engine.decode(image).rgb, result["TextDetections"], out))


def _write(img: np.ndarray, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out), img):
        raise InvalidParameterException(f"cannot write {out} (use a .png or .jpg name)")


def draw_labels(rgb: np.ndarray, labels: list[dict[str, Any]], out: Path) -> None:
    """Instance boxes with their label and confidence; the other labels listed in the corner."""
    img = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    h, w = img.shape[:2]
    thick = max(1, round(max(h, w) / 500))
    for i, label in enumerate(labels):
        color = _color(i)
        for inst in label["Instances"]:
            b = inst["BoundingBox"]
            p1 = (int(b["Left"] * w), int(b["Top"] * h))
            p2 = (int((b["Left"] + b["Width"]) * w), int((b["Top"] + b["Height"]) * h))
            cv2.rectangle(img, p1, p2, color, thick)
            _caption(img, f"{label['Name']} {inst['Confidence']:.0f}", (p1[0], max(12, p1[1] - 4)), color, thick)
    boxless = [f"{lb['Name']} {lb['Confidence']:.0f}" for lb in labels if not lb["Instances"]]
    for row, text in enumerate(boxless[:12]):
        _caption(img, text, (4, 16 * thick * (row + 1)), (255, 255, 255), thick)
    _write(img, out)


def draw_text(rgb: np.ndarray, detections: list[dict[str, Any]], out: Path) -> None:
    """Word polygons in green, line polygons in blue, each line's text above it."""
    img = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    h, w = img.shape[:2]
    thick = max(1, round(max(h, w) / 800))
    for d in detections:
        pts = np.array([[p["X"] * w, p["Y"] * h] for p in d["Geometry"]["Polygon"]], np.int32)
        color = (255, 120, 0) if d["Type"] == "LINE" else (0, 200, 0)
        cv2.polylines(img, [pts], True, color, thick)
        along = pts[1] - pts[0]
        if d["Type"] == "LINE" and abs(int(along[1])) <= abs(int(along[0])):  # captions on level lines only
            text = d["DetectedText"].encode("ascii", "replace").decode()
            _caption(img, text, (int(pts[0][0]), max(12, int(pts[0][1]) - 3)), color, thick)
    _write(img, out)


def _caption(img: np.ndarray, text: str, origin: tuple[int, int], color: tuple[int, int, int], thick: int) -> None:
    cv2.putText(img, text, origin, cv2.FONT_HERSHEY_SIMPLEX, 0.45 * thick, (0, 0, 0), thick + 2)
    cv2.putText(img, text, origin, cv2.FONT_HERSHEY_SIMPLEX, 0.45 * thick, color, thick)


def _color(i: int) -> tuple[int, int, int]:
    palette = ((0, 200, 0), (0, 140, 255), (255, 80, 80), (200, 0, 200), (0, 220, 220), (255, 200, 0))
    return palette[i % len(palette)]


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
