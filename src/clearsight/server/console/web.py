"""What every console page shares: the caller behind a session, running an operation through
``operations.dispatch`` in the engine's executor, the page frame, security headers, forms and
JSON twins."""

from __future__ import annotations

import asyncio
import html
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from ... import operations
from ...errors import AccessDeniedException, ClearSightError, ImageTooLargeException
from ...policy.context import Caller, acting_as
from ..keys import AccessKey
from .session import COOKIE, Session, Sessions

if TYPE_CHECKING:
    from ..app import Service

error_log = logging.getLogger("clearsight.server")
PREFIX = "/console"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; media-src 'self'; "
       "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
                    "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY", "Cache-Control": "no-store",
                    "Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Resource-Policy": "same-origin"}
PAGES = (("analyze", "Analyze", None), ("compare", "Compare", None), ("collections", "Collections", None),
         ("search", "Search", None), ("video", "Video", None), ("audit", "Audit", "audit"), ("keys", "Keys", "admin"))
PURPOSE_HEADER = "x-clearsight-purpose"


def esc(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts)) + " UTC" if ts else "-"


@dataclass(frozen=True)
class Visitor:
    """A logged-in person: the session and the access key it acts as."""

    session: Session
    key: AccessKey

    def caller(self, purpose: str | None = None) -> Caller:
        return Caller(access_key_id=self.key.access_key_id, request_id=str(uuid.uuid4()), scopes=self.key.scopes,
                      collections=self.key.collections, purpose=purpose or self.key.purpose)

    def may(self, scope: str | None) -> bool:
        return scope is None or "admin" in self.key.scopes or scope in self.key.scopes


class LoginRequired(Exception):
    """The request has no live session (answered with the login page or 401)."""


class Console:
    """The console's state over one Service: sessions, and the helpers every view uses."""

    def __init__(self, service: Service, sessions: Sessions) -> None:
        self.service = service
        self.engine = service.engine
        self.sessions = sessions

    # --- who is asking ----------------------------------------------------------------------
    def visitor(self, request: Request) -> Visitor:
        session = self.sessions.get(request.cookies.get(COOKIE))
        if session is None:
            raise LoginRequired
        key = self.service.keys.get(session.access_key_id)
        if key is None or key.revoked is not None:
            self.sessions.end_key(session.access_key_id)
            raise LoginRequired
        return Visitor(session, key)

    async def body(self, request: Request, limit: int) -> bytes:
        """The request body within ``limit`` bytes, the server's in-flight budget and its idle
        timeout (the API's own reader)."""
        length = int(request.headers.get("content-length") or 0)
        if length > limit:
            raise ImageTooLargeException(f"the request is {length} bytes; the console accepts {limit}")
        ticket = self.service.budget.ticket()
        try:
            ticket.grow(length)
            body = await self.service._read(request, ticket)
        finally:
            ticket.release()
        if len(body) > limit:
            raise ImageTooLargeException(f"the request exceeds {limit} bytes")
        return body

    async def form(self, request: Request, visitor: Visitor) -> dict[str, str]:
        """A urlencoded form, its CSRF token checked (at most 1 MB)."""
        body = await self.body(request, 1 << 20)
        fields = {k: ",".join(v) for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}
        check_csrf(visitor, fields.get("csrf"))
        return fields

    # --- doing things -----------------------------------------------------------------------
    async def call(self, caller: Caller, name: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        """One operation as the AWS API runs it: validated against botocore's model, then
        ``operations.dispatch`` (scopes, collection patterns, policies, audit) in the executor."""
        op = operations.lookup(name)
        params = self.service.validator.request(name, dict(payload))
        return await self.service._run(name, lambda: operations.dispatch(self.engine, caller, name, params),
                                       idempotent=op.idempotent)

    async def blocking(self, caller: Caller, fn: Callable[[], Any]) -> Any:
        """Work that is not a Rekognition operation (audit trail, keys, policies) in the executor, as the caller."""
        def run() -> Any:
            with acting_as(caller):
                return fn()
        return await asyncio.get_running_loop().run_in_executor(self.service.pool, run)

    # --- answering --------------------------------------------------------------------------
    def page(self, visitor: Visitor, active: str, title: str, body: str, *, script: bool = True,
             status: int = 200) -> Response:
        current = ' aria-current="page"'
        nav = "".join(f'<a href="{PREFIX}/{slug}"{current if slug == active else ""}>{label}</a>'
                      for slug, label, scope in PAGES if visitor.may(scope))
        flashes = "".join(f'<p class="flash {esc(kind)}" role="status">{esc(text)}</p>'
                          for kind, text in visitor.session.flash)
        visitor.session.flash.clear()
        scopes = ", ".join(sorted(visitor.key.scopes))
        key = visitor.key
        header = (f'<header class="top"><a class="brand" href="{PREFIX}/">ClearSight</a>'
                  f'<nav aria-label="Pages">{nav}</nav>'
                  f'<div class="who"><span title="scopes: {esc(scopes)}; collections: '
                  f'{esc(",".join(key.collections))}">{esc(key.name)} · <code>{esc(key.access_key_id)}</code></span>'
                  f'<form method="post" action="{PREFIX}/logout">{csrf_field(visitor)}'
                  f'<button class="link" type="submit">Log out</button></form></div></header>')
        return html_page(title, header + f'<main id="main" data-page="{esc(active)}" '
                         f'data-csrf="{esc(visitor.session.csrf)}"><h1>{esc(title)}</h1>{flashes}{body}</main>'
                         + FOOTER, script=script, status=status)

    def flash(self, visitor: Visitor, text: str, kind: str = "ok") -> None:
        visitor.session.flash.append((kind, text))


FOOTER = ('<footer class="foot">ClearSight console · served offline from this machine · '
          'every action runs the same operation as the AWS API, with its scopes, policies and audit trail</footer>')


def html_page(title: str, body: str, *, script: bool = True, status: int = 200) -> Response:
    js = f'<script src="{PREFIX}/static/console.js" defer></script>' if script else ""
    text = ('<!doctype html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<title>{esc(title)} · ClearSight</title><link rel="stylesheet" href="{PREFIX}/static/console.css">'
            f'<link rel="icon" href="{PREFIX}/static/icon.svg" type="image/svg+xml">{js}</head>'
            f'<body><a class="skip" href="#main">Skip to content</a>{body}</body></html>')
    return Response(text, status_code=status, media_type="text/html; charset=utf-8")


def csrf_field(visitor: Visitor) -> str:
    return f'<input type="hidden" name="csrf" value="{esc(visitor.session.csrf)}">'


def check_csrf(visitor: Visitor, token: str | None) -> None:
    import hmac

    if not token or not hmac.compare_digest(token, visitor.session.csrf):
        raise AccessDeniedException("the form's CSRF token is missing or stale: reload the page and try again")


def wants_json(request: Request) -> bool:
    return request.url.path.endswith(".json")


def twin(data: Any) -> JSONResponse:
    """The JSON twin of a page: the data it shows."""
    return JSONResponse(json.loads(json.dumps(data, default=str)))


def redirect(path: str) -> Response:
    return RedirectResponse(PREFIX + path, status_code=303)


def error_box(exc: ClearSightError) -> str:
    return (f'<div class="alert" role="alert"><strong>{esc(exc.code)}</strong> {esc(exc.message)}</div>')


def copy_as(request: Request, operation: str, params: Mapping[str, Any]) -> str:
    """The "copy as boto3 / aws cli" block for the request a server-rendered page made."""
    method = operations.snake(operation)
    endpoint = f"{request.url.scheme}://{request.url.netloc}"
    args = "".join(f"\n    {k}={v!r}," for k, v in params.items())
    boto3 = (f'import boto3\n\nclient = boto3.client("rekognition", endpoint_url="{endpoint}", '
             f'region_name="us-east-1")\nresponse = client.{method}({args}{chr(10) if args else ""})')
    cli = (f"aws rekognition {method.replace('_', '-')} --endpoint-url {endpoint} --region us-east-1"
           + (f" \\\n    --cli-input-json '{json.dumps(dict(params))}'" if params else ""))
    return ('<details class="snippets"><summary>Copy as boto3 / aws cli</summary>'
            f'<p class="muted">The {esc(operation)} request behind this page.</p><h3>boto3</h3>'
            f'<pre tabindex="0">{esc(boto3)}</pre><h3>aws cli</h3><pre tabindex="0">{esc(cli)}</pre></details>')


def q(value: str) -> str:
    return quote(value, safe="")


View = Callable[[Request], Awaitable[Response]]


def guard(view: View) -> View:
    """Every console answer: security headers; no session -> the login page (401 JSON for the API
    and the JSON twins); a ClearSightError -> its AWS JSON error (API, twins) or a page saying it."""
    async def run(request: Request) -> Response:
        machine = "/api/" in request.url.path or request.url.path.endswith((".json", ".jsonl"))
        try:
            response = await view(request)
        except LoginRequired:
            response = (JSONResponse({"__type": "AccessDeniedException", "message": "log in first"}, status_code=401)
                        if machine else redirect("/login"))
        except Exception as caught:
            exc = caught if isinstance(caught, ClearSightError) else None
            if exc is None:  # the one place an unexpected failure becomes an answer, as in the API
                request_id = str(uuid.uuid4())
                error_log.exception("console request %s (%s) failed", request_id, request.url.path)
                exc = ClearSightError(f"internal error (request id {request_id}): {type(caught).__name__}")
            title = "Refused" if exc.http_status < 500 else "Error"
            response = (JSONResponse(exc.to_dict(), status_code=exc.http_status) if machine else html_page(
                title, f'<main id="main" class="narrow"><h1>{esc(exc.code)}</h1>{error_box(exc)}'
                f'<p><a href="{PREFIX}/">Back to the console</a></p></main>', script=False, status=exc.http_status))
        response.headers.update(SECURITY_HEADERS)
        return response
    return run
