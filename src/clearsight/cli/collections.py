"""``clearsight collection|index|search|faces|users``: the collection commands.

Every command takes ``--data-dir DIR`` (default ``$CLEARSIGHT_DATA_DIR``, else a per-user
folder) and ``--json`` (the Rekognition-shaped response on stdout).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..errors import ClearSightError, InvalidParameterException
from .common import engine_for, paginate

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"}




def _print(args: argparse.Namespace, result: dict[str, Any], human: Callable[[dict[str, Any]], object]) -> None:
    if args.json:
        print(json.dumps(result))
    else:
        human(result)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", metavar="DIR", help="collection storage (default $CLEARSIGHT_DATA_DIR)")
    p.add_argument("--json", action="store_true", help="print the Rekognition-shaped JSON response")


# --- collection ---------------------------------------------------------------------------------
def cmd_collection(args: argparse.Namespace) -> int:
    engine = engine_for(args)
    c = engine.collections
    if args.action == "list":
        ids = list(paginate(c.list_collections, "CollectionIds"))
        result = {"CollectionIds": ids, "FaceModelVersions": [c.describe_collection(collection_id=i)["FaceModelVersion"]
                                                              for i in ids]}
        _print(args, result, lambda r: [print(i) for i in r["CollectionIds"]])
        return 0
    if not args.id:
        raise InvalidParameterException(f"`clearsight collection {args.action}` needs a collection id")
    if args.action == "policy":
        from .accountability import cmd_policy

        args.collection = args.id
        return cmd_policy(args)
    if args.action == "migrate":
        return _migrate(args)
    if args.action == "create":
        result = c.create_collection(collection_id=args.id)
        _print(args, result, lambda r: print(f"created {r['CollectionArn']} ({r['FaceModelVersion']})"))
    elif args.action == "describe":
        result = c.describe_collection(collection_id=args.id)
        _print(args, result, lambda r: print(
            f"{args.id}: {r['FaceCount']} faces, {r['UserCount']} users, model {r['FaceModelVersion']}, "
            f"created {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(r['CreationTimestamp']))}"))
    else:
        result = c.delete_collection(collection_id=args.id)
        _print(args, result, lambda r: print(f"deleted {args.id}"))
    return 0


def _migrate(args: argparse.Namespace) -> int:
    engine = engine_for(args, **({"face_model": args.to} if args.to else {}))

    def progress(done: int, total: int) -> None:
        if sys.stderr.isatty():
            print(f"\r[{'#' * int(30 * done / total):<30}] {done}/{total} images", end="", file=sys.stderr, flush=True)

    try:
        r = engine.migrator.migrate(collection_id=args.id, images=Path(args.images) if args.images else None,
                                    drop_missing=args.drop_missing, progress=progress)
    finally:
        engine.close()
    if sys.stderr.isatty():
        print(file=sys.stderr)

    def human(r: dict[str, Any]) -> None:
        if r["Status"] == "ALREADY_CURRENT":
            print(f"{args.id} already holds {r['ToModel']} embeddings: nothing to do")
            return
        print(f"{args.id}: {r['FromModel']} -> {r['ToModel']}: {r['Staged']} of {r['Faces']} faces embedded again"
              + (f", {len(r['DeletedFaces'])} deleted" if "DeletedFaces" in r else ""))
        for m in r["Missing"]:
            print(f"  cannot migrate {m['FaceId']} ({m.get('ExternalImageId') or '-'}): {m['Reason']}")
        if r["Status"] == "MIGRATED":
            print(f"migrated: {args.id} now holds {r['ToModel']} embeddings (same FaceIds, users and policy)")
        else:
            print("not switched yet: supply the images (--images DIR: files of the same names) or delete those "
                  "faces (--drop-missing), then run this again; what is done is kept")

    _print(args, r, human)
    return 0 if r["Status"] != "INCOMPLETE" else 1


# --- index --------------------------------------------------------------------------------------
def iter_images(paths: list[str]) -> Iterator[Path]:
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            yield from sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
        elif p.is_file():
            yield p
        else:
            raise InvalidParameterException(f"no such file or folder: {p}")


def external_id(path: Path, mode: str | None) -> str | None:
    if mode is None:
        return None
    raw = path.stem if mode == "filename" else path.parent.name
    return re.sub(r"[^a-zA-Z0-9_.\-:]", "_", raw)[:255] or None


def cmd_index(args: argparse.Namespace) -> int:
    engine = engine_for(args)
    c = engine.collections
    c.describe_collection(collection_id=args.collection)  # fail early on a missing collection
    files = list(iter_images(args.paths))
    done = c.store.sources(args.collection)
    todo = [f for f in files if str(f.resolve()) not in done]
    faces = errors = 0
    start = time.perf_counter()
    results = []
    try:
        for i, path in enumerate(todo, 1):
            try:
                r = c.index_faces(collection_id=args.collection, image=path,
                                  external_image_id=external_id(path, args.external_id_from),
                                  max_faces=args.max_faces, quality_filter=args.quality_filter,
                                  source=str(path.resolve()))
                faces += len(r["FaceRecords"])
                if args.json:
                    results.append({"Image": str(path), **r})
            except ClearSightError as exc:
                errors += 1
                print(f"\n{path}: {exc.code}: {exc.message}", file=sys.stderr)
            if not args.json or sys.stderr.isatty():
                rate = i / max(1e-9, time.perf_counter() - start)
                bar = "#" * int(30 * i / len(todo))
                print(f"\r[{bar:<30}] {i}/{len(todo)} images, {faces} faces, {rate:.1f} images/s",
                      end="", file=sys.stderr, flush=True)
    finally:
        engine.close()
    if todo:
        print(file=sys.stderr)
    summary = {"Images": len(files), "Skipped": len(files) - len(todo), "Indexed": len(todo) - errors,
               "Errors": errors, "FacesIndexed": faces, "Seconds": round(time.perf_counter() - start, 3)}
    if args.json:
        for r in results:
            print(json.dumps(r))
    print(json.dumps(summary) if args.json else
          f"{summary['Indexed']} images indexed ({faces} faces), {summary['Skipped']} already indexed, "
          f"{errors} errors")
    return 1 if errors else 0


# --- search -------------------------------------------------------------------------------------
def _human_matches(r: dict[str, Any]) -> None:
    matches = r["FaceMatches"]
    print(f"{len(matches)} match{'es' if len(matches) != 1 else ''}")
    for m in matches:
        f = m["Face"]
        print(f"  {m['Similarity']:8.4f}  {f['FaceId']}  {f.get('ExternalImageId', '')}  {f.get('UserId', '')}")


def cmd_search(args: argparse.Namespace) -> int:
    engine = engine_for(args)
    r = engine.collections.search_faces_by_image(collection_id=args.collection, image=args.image,
                                                 face_match_threshold=args.threshold, max_faces=args.max_faces)
    _print(args, r, _human_matches)
    return 0


# --- faces --------------------------------------------------------------------------------------
def cmd_faces(args: argparse.Namespace) -> int:
    engine = engine_for(args)
    c = engine.collections
    if args.action == "list":
        faces = list(paginate(c.list_faces, "Faces", limit=args.limit or None, collection_id=args.collection,
                              user_id=args.user_id, max_results=4096))
        result = {"Faces": faces, "FaceModelVersion": engine.model_version}
        _print(args, result, lambda r: [print(f"{f['FaceId']}  {f.get('ExternalImageId', '')}  "
                                              f"{f.get('UserId', '')}") for f in r["Faces"]])
    else:
        if not args.face_ids:
            raise InvalidParameterException("`clearsight faces delete` needs one or more face ids")
        result = c.delete_faces(collection_id=args.collection, face_ids=args.face_ids)
        _print(args, result, lambda r: print(f"deleted {len(r['DeletedFaces'])}, "
                                             f"not deleted {len(r['UnsuccessfulFaceDeletions'])}"))
    engine.close()
    return 0


# --- users --------------------------------------------------------------------------------------
def cmd_users(args: argparse.Namespace) -> int:
    engine = engine_for(args)
    u = engine.users
    cid = args.collection
    if args.action == "create":
        result = u.create_user(collection_id=cid, user_id=args.user_id)
        _print(args, result, lambda r: print(f"created user {args.user_id}"))
    elif args.action == "delete":
        result = u.delete_user(collection_id=cid, user_id=args.user_id)
        _print(args, result, lambda r: print(f"deleted user {args.user_id}"))
    elif args.action == "list":
        result = u.list_users(collection_id=cid)
        _print(args, result, lambda r: [print(x["UserId"]) for x in r["Users"]])
    elif args.action == "associate":
        result = u.associate_faces(collection_id=cid, user_id=args.user_id, face_ids=args.face_ids,
                                   user_match_threshold=args.threshold)
        _print(args, result, lambda r: print(f"associated {len(r['AssociatedFaces'])}, "
                                             f"failed {len(r['UnsuccessfulFaceAssociations'])}"))
    elif args.action == "disassociate":
        result = u.disassociate_faces(collection_id=cid, user_id=args.user_id, face_ids=args.face_ids)
        _print(args, result, lambda r: print(f"disassociated {len(r['DisassociatedFaces'])}"))
    else:
        if args.image:
            result = u.search_users_by_image(collection_id=cid, image=args.image, user_match_threshold=args.threshold)
        else:
            result = u.search_users(collection_id=cid, user_id=args.user_id, face_id=args.face_id,
                                    user_match_threshold=args.threshold)
        _print(args, result, lambda r: [print(f"  {m['Similarity']:8.4f}  {m['User']['UserId']}")
                                        for m in r["UserMatches"]])
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser("collection", help="create, list, describe, delete or migrate face collections")
    p.add_argument("action", choices=["create", "list", "describe", "delete", "policy", "migrate"])
    p.add_argument("id", nargs="?", metavar="ID")
    p.add_argument("--to", metavar="MODEL", help="migrate: the face model to move to (default: the running one)")
    p.add_argument("--images", metavar="DIR", help="migrate: a folder with the collection's images, by file name")
    p.add_argument("--drop-missing", action="store_true",
                   help="migrate: delete (and erase) faces whose image cannot be found, then switch")
    from .accountability import add_policy_options

    add_policy_options(p)
    _common(p)
    p.set_defaults(func=cmd_collection)

    p = sub.add_parser("index", help="add the faces in images or folders to a collection (IndexFaces)")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--collection", required=True, metavar="C")
    p.add_argument("--external-id-from", choices=["filename", "parent"],
                   help="set ExternalImageId from the file name or its folder's name")
    p.add_argument("--max-faces", type=int, metavar="N", help="faces to index per image (largest kept)")
    p.add_argument("--quality-filter", choices=["NONE", "AUTO", "LOW", "MEDIUM", "HIGH"])
    _common(p)
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("search", help="search a collection with the largest face of an image")
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("--collection", required=True, metavar="C")
    p.add_argument("--threshold", type=float, metavar="T", help="FaceMatchThreshold (default 80)")
    p.add_argument("--max-faces", type=int, metavar="N", help="most matches (default 80)")
    _common(p)
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("faces", help="list or delete the faces of a collection")
    p.add_argument("action", choices=["list", "delete"])
    p.add_argument("face_ids", nargs="*", metavar="FACE_ID")
    p.add_argument("--collection", required=True, metavar="C")
    p.add_argument("--user-id", help="list only this user's faces")
    p.add_argument("--limit", type=int, default=0, help="list at most this many")
    _common(p)
    p.set_defaults(func=cmd_faces)

    p = sub.add_parser("users", help="manage users (sets of faces of one person) and search them")
    p.add_argument("action", choices=["create", "delete", "list", "associate", "disassociate", "search"])
    p.add_argument("--collection", required=True, metavar="C")
    p.add_argument("--user-id", metavar="U")
    p.add_argument("--face-ids", nargs="+", default=[], metavar="FACE_ID")
    p.add_argument("--face-id", metavar="FACE_ID", help="search: users matching this face")
    p.add_argument("--image", metavar="IMAGE", help="search: users matching the largest face of an image")
    p.add_argument("--threshold", type=float, metavar="T", help="UserMatchThreshold")
    _common(p)
    p.set_defaults(func=cmd_users)
