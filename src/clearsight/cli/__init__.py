"""The ``clearsight`` command, built on the Engine (the same object the server uses)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import ClearSightError
from ..settings import SETTINGS, Settings
from .common import each_image, emit_error, engine_for


def _describe_face(i: int, face: dict[str, Any], width: int, height: int) -> str:
    b, p, q = face["BoundingBox"], face["Pose"], face["Quality"]
    box = (f"{b['Left'] * width:.0f},{b['Top'] * height:.0f} "
           f"{b['Width'] * width:.0f}x{b['Height'] * height:.0f}px")
    line = (f"  face {i}: {box}  confidence {face['Confidence']:.1f}  "
            f"yaw {p['Yaw']:+.0f} pitch {p['Pitch']:+.0f} roll {p['Roll']:+.0f}  "
            f"brightness {q['Brightness']:.0f} sharpness {q['Sharpness']:.0f}")
    for key in ("EyesOpen", "MouthOpen"):
        if key in face:
            line += f"  {key} {face[key]['Value']}"
    return line


def cmd_detect(args: argparse.Namespace) -> int:
    from .drawing import draw_faces

    engine = engine_for(args)

    def human(image: str, result: dict[str, Any]) -> None:
        img = engine.decode(image)
        faces = result["FaceDetails"]
        print(f"{image}: {len(faces)} face{'s' if len(faces) != 1 else ''}")
        for i, face in enumerate(faces, 1):
            print(_describe_face(i, face, img.width, img.height))

    return each_image(args, lambda image: engine.detect_faces(image, attributes=args.attributes), human,
                      lambda image, result, out: draw_faces(engine.decode(image).rgb, result["FaceDetails"], out))


def cmd_compare(args: argparse.Namespace) -> int:
    engine = engine_for(args)
    try:
        result = engine.compare_faces(args.source, args.target, similarity_threshold=args.threshold)
    except ClearSightError as exc:
        emit_error(exc, None, args.json)
        return 1
    if args.json:
        print(json.dumps(result))
        return 0
    matches, unmatched = result["FaceMatches"], result["UnmatchedFaces"]
    print(f"{len(matches)} of {len(matches) + len(unmatched)} faces in {args.target} match "
          f"the largest face in {args.source} at Similarity >= {args.threshold:g}")
    cal = engine.calibration
    for m in matches:
        sim = m["Similarity"]
        print(f"  match: Similarity {sim:.2f} (false-match rate at this similarity on LFW: "
              f"{cal.fmr_at(sim):.2g})")
    if unmatched:
        print(f"  {len(unmatched)} other face(s) below the threshold")
    return 0


def cmd_eval_lfw(args: argparse.Namespace) -> int:
    from ..evaluation import lfw

    engine = engine_for(args)
    root = Path(args.lfw_dir) if args.lfw_dir else Path(engine.settings.data) / "lfw"
    pairs_file = Path(args.pairs) if args.pairs else root / "pairs.txt"
    try:
        if not (root / "images").is_dir():
            from ..errors import InvalidParameterException

            raise InvalidParameterException(
                f"{root} has no images/ folder: pass --data DIR (the LFW folder holding images/)"
            )
        pairs = lfw.read_pairs(pairs_file)
        result, scores, same = lfw.run(engine.faces, root, pairs, quiet=args.json)
    except ClearSightError as exc:
        emit_error(exc, None, args.json)
        return 1
    roc = Path(args.roc)
    lfw.roc_png(scores, same, roc, f"LFW {pairs_file.name}, {engine.model_version}")
    if args.json:
        print(json.dumps({**result.to_json(), "roc_png": str(roc)}))
        return 0
    print(f"LFW {pairs_file.name}: {result.pairs} pairs over {result.images} images "
          f"({result.fallbacks} without a detection, centre fallback), {len(result.fold_accuracies)} folds")
    print(f"accuracy          {100 * result.accuracy:.2f}% +- {100 * result.accuracy_std:.2f}")
    for k, v in result.tar_at_far.items():
        print(f"TAR@FAR={k:<7}  {100 * v:.2f}%")
    for k, v in result.accuracy_at_similarity.items():
        print(f"accuracy at Similarity {k}: {100 * v:.2f}%")
    print(f"ROC curve: {roc}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    if args.target == "lfw":
        return cmd_eval_lfw(args)
    from .accountability import cmd_eval_dir

    args.dir = args.target
    return cmd_eval_dir(args)


def cmd_models(args: argparse.Namespace) -> int:
    from ..models.prepare import prepare
    from ..models.registry import CARDS

    settings = Settings.load()
    if args.action == "prepare":
        try:
            written = prepare(Path(settings.model_dir), force=args.force)
        except ClearSightError as exc:
            emit_error(exc, None, False)
            return 1
        for path in written:
            print(f"ok {path}")
        return 0
    for card in CARDS.values():
        print(f"{card.name:14} {card.task:10} {card.runtime:16} {card.origin}")
        print(f"{'':14} licence: {card.licence}")
    return 0


def cmd_settings(args: argparse.Namespace) -> int:
    if args.markdown:
        from ..settings import markdown_table

        print(markdown_table(), end="")
        return 0
    settings = Settings.load()
    for s in SETTINGS:
        print(f"{s.env:36} {settings.values[s.name]!s:28} {s.help}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clearsight",
        description="Self-hosted face analysis with Rekognition's API and built-in accountability.",
    )
    parser.add_argument("--version", action="version", version=f"clearsight {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("detect", help="detect faces (DetectFaces) in one or more images")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--json", action="store_true", help="one DetectFaces JSON response per line")
    p.add_argument("--draw", metavar="OUT.png", help="write the image with boxes and landmarks")
    p.add_argument("--attributes", choices=["DEFAULT", "ALL"], default="DEFAULT",
                   help="ALL adds EyesOpen and MouthOpen (never age, gender or emotion)")
    p.set_defaults(func=cmd_detect)

    p = sub.add_parser("compare", help="compare the largest face of SOURCE with faces in TARGET")
    p.add_argument("source", metavar="SOURCE")
    p.add_argument("target", metavar="TARGET")
    p.add_argument("--threshold", type=float, default=80.0,
                   help="SimilarityThreshold, 0-100 (default 80; see docs/accuracy.md)")
    p.add_argument("--json", action="store_true", help="the CompareFaces JSON response")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("eval", help="measure accuracy: `eval lfw` (LFW protocol) or `eval DIR` (a folder per person)")
    p.add_argument("target", metavar="lfw|DIR", help="lfw, or a folder with a subfolder of photos per person")
    p.add_argument("--pairs", metavar="FILE", help="lfw: pairs file in LFW format (default DIR/pairs.txt)")
    p.add_argument("--data", dest="lfw_dir", metavar="DIR",
                   help="lfw: the LFW folder holding images/ (default $CLEARSIGHT_DATA/lfw)")
    p.add_argument("--json", action="store_true", help="print a JSON object")
    p.add_argument("--roc", default="lfw_roc.png", metavar="OUT.png", help="lfw: where to write the ROC plot")
    p.add_argument("--groups", metavar="CSV", help="DIR: person,group labels for per-group figures")
    p.add_argument("--out", default="eval_report", metavar="REPORT_DIR", help="DIR: where to write the report")
    p.add_argument("--max-per-person", type=int, default=0, metavar="N", help="DIR: use at most N photos per person")
    p.add_argument("--data-dir", metavar="DIR", help="ClearSight's data directory (default $CLEARSIGHT_DATA_DIR)")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("models", help="list or prepare the models")
    p.add_argument("action", choices=["list", "prepare"])
    p.add_argument("--force", action="store_true", help="prepare again even if present")
    p.set_defaults(func=cmd_models)

    from . import accountability, collections, console, images, server, storage, streams, video

    for group in (collections, server, console, accountability, images, storage, video, streams):
        group.register(sub)

    p = sub.add_parser("settings", help="show every setting, its environment variable and value")
    p.add_argument("--markdown", action="store_true", help="print docs/settings.md")
    p.set_defaults(func=cmd_settings)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ClearSightError as exc:
        emit_error(exc, None, getattr(args, "json", False))
        return 1
    except KeyboardInterrupt:
        return 130


