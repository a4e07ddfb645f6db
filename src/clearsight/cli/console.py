"""``clearsight console login``: a one-time link that logs a browser in to the web console."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..settings import Settings


def cmd_console(args: argparse.Namespace) -> int:
    from ..server.console import login_token
    from ..server.console.session import LOGIN_TOKEN_SECONDS, console_key
    from ..server.keys import KeyStore

    settings = Settings.load(data_dir=args.data_dir)
    data_dir = Path(settings.data_dir)
    keys = KeyStore(data_dir, storage_url=settings.storage_url)
    active = [k for k in keys.list() if k.revoked is None]
    if args.key:
        chosen = next((k for k in active if k.access_key_id == args.key), None)
        if chosen is None:
            print(f"error: no active access key {args.key} (see `clearsight keys list`)", file=sys.stderr)
            return 2
    else:
        chosen = next((k for k in active if k.admin), None)
        if chosen is None:
            print("error: no active admin key; pass --key ACCESS_KEY_ID or create one with "
                  "`clearsight keys create --name admin --scope admin`", file=sys.stderr)
            return 2
    token = login_token(console_key(data_dir), chosen.access_key_id)
    url = f"{args.url.rstrip('/')}/console/login/{token}"
    if args.json:
        print(json.dumps({"Url": url, "AccessKeyId": chosen.access_key_id, "ExpiresIn": LOGIN_TOKEN_SECONDS}))
    else:
        print(f"{url}\n(one use, within {LOGIN_TOKEN_SECONDS / 60:g} minutes; logs in as {chosen.access_key_id}, "
              f"{chosen.name})")
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser("console", help="the web console: print a one-time login link")
    p.add_argument("action", choices=["login"])
    p.add_argument("--key", metavar="ACCESS_KEY_ID", help="log in as this key (default: the first active admin key)")
    p.add_argument("--url", default="http://127.0.0.1:8080", help="where the server is (default %(default)s)")
    p.add_argument("--data-dir", metavar="DIR")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_console)
