"""``clearsight serve`` and ``clearsight keys``: the HTTP service and its access keys."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

from ..settings import Settings

log = logging.getLogger("clearsight.server")


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.load(data_dir=args.data_dir, workers=getattr(args, "workers", None),
                         console=False if getattr(args, "no_console", False) else None)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from ..engine import Engine
    from ..server.app import create_app
    from ..server.keys import KeyStore
    from ..server.limits import protocol_class, raise_fd_limit

    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    settings = _settings(args)
    data_dir = Path(settings.data_dir)
    from ..datadir import open_for_serving

    open_for_serving(data_dir, integrity_check=settings.integrity_check,  # 0700, one server, database checked
                     storage_url=settings.storage_url)
    keys = KeyStore(data_dir, storage_url=settings.storage_url)
    url = f"http://{args.host}:{args.port}"
    if args.no_auth:
        log.warning("!" * 72)
        log.warning("AUTHENTICATION IS OFF (--no-auth): anyone who reaches %s can search faces.", url)
        log.warning("Use this for local experiments only.")
        log.warning("!" * 72)
    elif keys.empty():
        key_id, secret = keys.create("admin", scopes=frozenset({"admin"}))
        _show_admin_key(data_dir, key_id, secret, url)
    engine = Engine(settings)
    app = create_app(engine, auth=not args.no_auth)
    connections = int(settings.max_connections)
    fds = raise_fd_limit(max(4096, 2 * connections + 512))
    log.info("ClearSight serving %s on %s (data: %s; at most %d connections, %d file descriptors)",
             engine.model_version, url, data_dir, connections, fds)
    if settings.console:
        log.info("Web console: %s/console/ (log in with an access key, or `clearsight console login`)", url)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", timeout_graceful_shutdown=30,
                access_log=False, http=protocol_class(max_connections=connections,
                                                      idle_timeout=float(settings.idle_timeout)))
    return 0


ADMIN_KEY_FILE = "admin-key.txt"


def _show_admin_key(data_dir: Path, key_id: str, secret: str, url: str) -> None:
    """Show the first admin key to the person at the terminal, never through the log stream.

    On a terminal it is printed there; when the output goes to a log (systemd, docker, a file) it
    is written to an owner-only file in the data directory instead, and the log gets the path."""
    text = ("A new data directory: created an admin access key (shown once, store it now).\n"
            f"  export AWS_ACCESS_KEY_ID={key_id}\n"
            f"  export AWS_SECRET_ACCESS_KEY={secret}\n"
            f"  export AWS_ENDPOINT_URL_REKOGNITION={url}\n"
            "  export AWS_DEFAULT_REGION=us-east-1\n"
            "then boto3.client('rekognition') or `aws rekognition detect-faces ...` talk to ClearSight.\n")
    if sys.stderr.isatty():
        sys.stderr.write(text)
        sys.stderr.flush()
        return
    path = data_dir / ADMIN_KEY_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(path, 0o600)
    log.warning("A new data directory: created admin access key %s; its secret is in %s (mode 0600): "
                "read it, store it elsewhere, delete the file", key_id, path)


def cmd_keys(args: argparse.Namespace) -> int:
    from ..server.keys import KeyStore

    settings = _settings(args)
    keys = KeyStore(Path(settings.data_dir), storage_url=settings.storage_url)
    if args.action == "create":
        if not args.name:
            print("error: keys create needs --name", file=sys.stderr)
            return 2
        from ..policy.scopes import parse_scopes

        key_id, secret = keys.create(args.name, scopes=parse_scopes(args.scope), collections=args.collections,
                                     purpose=args.purpose)
        out: Any = {"AccessKeyId": key_id, "SecretAccessKey": secret}
        if args.json:
            print(json.dumps(out))
        else:
            print(f"AccessKeyId     {key_id}\nSecretAccessKey {secret}\n(the secret is not shown again)")
    elif args.action == "list":
        rows: list[dict[str, Any]] = [
            {"AccessKeyId": k.access_key_id, "Name": k.name, "Created": k.created, "Revoked": k.revoked,
             "Scopes": sorted(k.scopes), "Collections": list(k.collections), "Purpose": k.purpose}
            for k in keys.list()]
        if args.json:
            print(json.dumps({"AccessKeys": rows}))
        for r in rows if not args.json else []:
            state = "revoked" if r["Revoked"] else "active"
            print(f"{r['AccessKeyId']}  {r['Name']:20} {state:8} "
                  f"{time.strftime('%Y-%m-%d %H:%M', time.localtime(r['Created']))}  "
                  f"scopes={','.join(r['Scopes'])} collections={','.join(r['Collections'])}")
    else:
        if not args.key_id:
            print("error: keys revoke needs an access key id", file=sys.stderr)
            return 2
        keys.revoke(args.key_id)
        print(json.dumps({"Revoked": args.key_id}) if args.json else f"revoked {args.key_id}")
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser("serve", help="serve the Rekognition-compatible HTTP API")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--data-dir", metavar="DIR", help="storage (default $CLEARSIGHT_DATA_DIR)")
    p.add_argument("--no-auth", action="store_true", help="accept unsigned requests (local experiments only)")
    p.add_argument("--workers", type=int, help="inference threads (default: one per core)")
    p.add_argument("--no-console", action="store_true", help="do not serve the web console at /console/")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("keys", help="create, list or revoke access keys")
    p.add_argument("action", choices=["create", "list", "revoke"])
    p.add_argument("key_id", nargs="?", metavar="ACCESS_KEY_ID")
    p.add_argument("--name", help="a name for the new key")
    p.add_argument("--scope", metavar="OPS", help="comma-separated groups: detect, compare, search, enrol, "
                   "delete, admin, audit (default detect,compare,search)")
    p.add_argument("--collections", default="*", metavar="PATTERN",
                   help="comma-separated collection patterns the key may use (default *)")
    p.add_argument("--purpose", help="default purpose recorded for this key's requests")
    p.add_argument("--data-dir", metavar="DIR")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_keys)
