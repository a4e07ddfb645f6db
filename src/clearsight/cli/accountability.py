"""``clearsight audit``, ``clearsight collection policy``, ``clearsight erase`` and ``clearsight eval DIR``."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path
from typing import Any

from ..params import iso_time
from ..policy.audit import AuditLog, VerifyResult, checkpoint_file
from .common import engine_for


def _verify_out(result: VerifyResult, audit: AuditLog) -> dict[str, Any]:
    out: dict[str, Any] = {"Intact": result.ok, "Records": result.records, "Head": result.head,
                           "KeyedFromRecord": result.keyed_from, "UnkeyedRecords": result.unkeyed,
                           "Checkpoints": result.checkpoints, "SignedCheckpoints": result.signed_checkpoints,
                           "LocalCheckpoint": audit.checkpoint_path.exists(), "AuditKeyId": audit.key.key_id}
    if not result.ok:
        out.update({"FirstBadRecord": result.first_bad, "Problem": result.problem})
    return out


def cmd_audit(args: argparse.Namespace) -> int:
    audit = engine_for(args).collections.audit
    if args.action == "verify":
        checkpoints = [checkpoint_file(path) for path in args.checkpoint or []]
        result = audit.verify(checkpoints=checkpoints)
        out = _verify_out(result, audit)
        if args.json:
            print(json.dumps(out))
        elif out["Intact"]:
            legacy = f", the first {result.unkeyed} unkeyed (legacy)" if result.unkeyed else ""
            print(f"audit chain intact: {result.records} records{legacy}, head {result.head[:16]}, "
                  f"checked against {result.checkpoints} checkpoint(s)")
        else:
            print(f"audit chain BROKEN at record {out.get('FirstBadRecord', '?')}: {out['Problem']}")
        return 0 if out["Intact"] else 1
    if args.action == "checkpoint":
        cp = audit.write_checkpoint(full=True)  # also refreshes the local checkpoint when the chain is intact
        if cp is None:
            cp, _ = audit.checkpoint()
        print(json.dumps(cp))
        return 0 if cp["intact"] else 1
    ids = {"face_id": args.face_id, "external_image_id": args.external_image_id, "user_id": args.user_id}
    for record in audit.records(since=iso_time("--since", args.since), key=args.key, collection=args.collection,
                                purpose=args.purpose, **ids):
        if args.json or args.action == "export":
            print(json.dumps(record))
        else:
            if "unreadable_record" in record:
                print(f"{record['seq']:>6} UNREADABLE (tampered with; run clearsight audit verify)")
                continue
            when = dt.datetime.fromtimestamp(record["time"], dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
            results = len(record["results"])
            print(f"{record['seq']:>6} {when} {record['operation']:20} {record['collection'] or '-':15} "
                  f"key={record['access_key_id']} purpose={record['purpose'] or '-'} {record['outcome']} "
                  f"results={results}")
    return 0


def cmd_policy(args: argparse.Namespace) -> int:
    c = engine_for(args).collections
    changes = {"min_threshold": args.min_threshold, "require_purpose": True if args.require_purpose else None,
               "retention_days": args.retention_days, "max_results": args.max_results,
               "store_images": None}
    if any(v is not None for v in changes.values()):
        policy = c.set_policy(args.collection, **changes)
    else:
        c.describe_collection(collection_id=args.collection)
        policy = c.policy(args.collection)
    body = json.loads(policy.to_json())
    if args.json:
        print(json.dumps({"CollectionId": args.collection, "Policy": body}))
    else:
        for k, v in body.items():
            print(f"{k:16} {v}")
    return 0


def cmd_erase(args: argparse.Namespace) -> int:
    engine = engine_for(args)
    purged = engine.collections.purge_expired()
    engine.collections.complete_erasure()
    out = {"PurgedExpiredFaces": {k: len(v) for k, v in purged.items()}, "ErasureComplete": True}
    print(json.dumps(out) if args.json else f"erasure complete; purged by retention: {out['PurgedExpiredFaces']}")
    return 0


def cmd_eval_dir(args: argparse.Namespace) -> int:
    from ..evaluation.report import run_report

    engine = engine_for(args)
    summary = run_report(engine, Path(args.dir), out=Path(args.out), groups_csv=Path(args.groups) if args.groups
                         else None, max_per_person=args.max_per_person, quiet=args.json)
    print(json.dumps(summary) if args.json else (Path(args.out) / "report.md").read_text())
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser("audit", help="verify, list or export the tamper-evident audit trail")
    p.add_argument("action", choices=["verify", "list", "export", "checkpoint"])
    p.add_argument("--since", metavar="ISO", help="records at or after this time")
    p.add_argument("--key", metavar="ID", help="records of this access key")
    p.add_argument("--collection", metavar="C")
    p.add_argument("--purpose", metavar="P")
    p.add_argument("--checkpoint", metavar="FILE", action="append",
                   help="verify: also check a checkpoint saved earlier with `clearsight audit checkpoint` (repeatable)")
    p.add_argument("--face-id", metavar="ID", help="list/export: records naming this FaceId (matched by pseudonym)")
    p.add_argument("--external-image-id", metavar="ID", help="list/export: records naming this ExternalImageId")
    p.add_argument("--user-id", metavar="ID", help="list/export: records naming this UserId")
    p.add_argument("--data-dir", metavar="DIR")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_audit)

    p = sub.add_parser("erase", help="purge faces past retention and complete pending erasure now")
    p.add_argument("--data-dir", metavar="DIR")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_erase)


def add_policy_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--min-threshold", type=float, metavar="T", help="policy: floor under the match thresholds")
    p.add_argument("--require-purpose", action="store_true", help="policy: searches must state a purpose")
    p.add_argument("--retention-days", type=float, metavar="D", help="policy: purge faces older than this")
    p.add_argument("--max-results", type=int, metavar="N", help="policy: most results per search")
