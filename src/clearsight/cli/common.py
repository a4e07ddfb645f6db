"""What every command shares: the Engine it builds, errors printed one way, the per-image loop."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ClearSightError

if TYPE_CHECKING:
    from ..engine import Engine


def engine_for(args: argparse.Namespace, **overrides: Any) -> Engine:
    """The Engine every command builds: the settings, with --data-dir when the command has one."""
    from ..engine import Engine
    from ..settings import Settings

    return Engine(Settings.load(data_dir=getattr(args, "data_dir", None), **overrides))


def emit_error(exc: ClearSightError, image: str | None, as_json: bool) -> None:
    """The error on stderr; with --json also a JSON line on stdout (with the image, if any)."""
    if as_json:
        body: dict[str, Any] = {"Error": {"Code": exc.code, "Message": exc.message}}
        if image is not None:
            body = {"Image": image, **body}
        print(json.dumps(body))
    print(f"error: {exc.code}: {exc.message}", file=sys.stderr)


def each_image(
    args: argparse.Namespace,
    call: Callable[[str], dict[str, Any]],
    human: Callable[[str, dict[str, Any]], None],
    draw: Callable[[str, dict[str, Any], Path], None] | None = None,
) -> int:
    """Run ``call`` on every ``args.images`` entry: one JSON line each with --json (plus an
    "Image" key), else ``human``; ``--draw OUT.png`` writes OUT_1.png, OUT_2.png... for several.
    A bad image is reported and skipped; the exit status is 1 if any failed."""
    from .drawing import output_path

    status = 0
    for n, image in enumerate(args.images):
        out = output_path(Path(args.draw), n, len(args.images)) if getattr(args, "draw", None) else None
        try:
            result = call(image)
            if out is not None and draw is not None:
                draw(image, result, out)
        except ClearSightError as exc:
            emit_error(exc, image, args.json)
            status = 1
            continue
        if args.json:
            print(json.dumps({"Image": image, **result}))
            continue
        human(image, result)
        if out is not None:
            print(f"  drawn to {out}")
    return status


def paginate(call: Callable[..., dict[str, Any]], key: str, *, limit: int | None = None, **kwargs: Any
             ) -> Iterator[Any]:
    """Every item under ``key`` of a paged listing (ListCollections, ListFaces, ListUsers...),
    following NextToken; at most ``limit`` items when given."""
    token, n = None, 0
    while True:
        page = call(next_token=token, **kwargs)
        for item in page[key]:
            if limit is not None and n >= limit:
                return
            n += 1
            yield item
        token = page.get("NextToken")
        if not token:
            return
