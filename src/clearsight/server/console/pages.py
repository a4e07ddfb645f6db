"""Login and logout, the operation API the image pages post to, static files, and the pages
whose work happens in the browser: Analyze, Compare, Search."""

from __future__ import annotations

import hmac
import json
import time
from importlib import resources
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ...calibration import Calibration
from ...errors import AccessDeniedException, InvalidParameterException
from .session import COOKIE
from .web import PREFIX, PURPOSE_HEADER, Console, check_csrf, esc, html_page, redirect, twin

STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                ".svg": "image/svg+xml"}
IMAGE_OPS = ("DetectFaces", "DetectLabels", "DetectText")
MAX_FAILURES, LOCKOUT_SECONDS = 5, 60.0  # failed logins per key id before it must wait


def _static_files() -> dict[str, bytes]:
    folder = resources.files(__package__).joinpath("static")
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.name.rsplit(".", 1)[-1] in ("css", "js", "svg")}


def snippet_block() -> str:
    return ('<details class="snippets"><summary>Copy as boto3 / aws cli</summary>'
            '<p class="muted">The request this page sent, for a script of your own.</p>'
            '<h3>boto3</h3><pre tabindex="0" data-snippet="boto3">Run the page first.</pre>'
            '<h3>aws cli</h3><pre tabindex="0" data-snippet="cli">Run the page first.</pre>'
            '<h3>Response JSON</h3><pre tabindex="0" data-snippet="json">-</pre></details>')


def _drop(slot: str, label: str) -> str:
    return (f'<div class="drop" data-drop="{slot}"><label for="file-{slot}">{esc(label)}</label>'
            f'<input type="file" id="file-{slot}" name="{slot}" accept="image/jpeg,image/png" data-file="{slot}">'
            f'<p class="muted">or drop a JPEG or PNG here · never stored</p></div>')


ANALYZE = ('<p class="lede">Find faces, labels and text in one image. The image goes to the operation and is dropped: '
           'nothing is stored.</p><form class="card controls" data-form="analyze">' + _drop("image", "Choose an image")
           + '<fieldset><legend>Operation</legend>'
           + "".join(f'<label class="choice"><input type="radio" name="operation" value="{op}"'
                     f'{" checked" if op == "DetectFaces" else ""}> {op}</label>' for op in IMAGE_OPS)
           + '</fieldset><button type="submit" class="primary">Analyze</button></form>'
           '<div class="alert" role="alert" hidden data-error></div>'
           '<div class="split"><figure class="stage" data-stage="image"><figcaption class="muted">No image yet.'
           '</figcaption></figure><aside class="card"><h2>Found <span data-count></span></h2>'
           '<ol class="items" data-items></ol><h2>Selected</h2>'
           '<pre class="json" tabindex="0" data-selected>Click a box or an item.'
           '</pre></aside></div>')

COMPARE_INTRO = ('<p class="lede">Compare the largest face of a source image with every face of a target image. '
                 'The threshold control shows what a match at that threshold is worth, as measured on LFW.</p>')


def _compare_body(cal: Calibration) -> str:
    table = json.dumps([[r[0], r[2], r[3]] for r in cal.table])
    return (COMPARE_INTRO + '<form class="card controls" data-form="compare"><div class="pair">'
            + _drop("source", "Source image") + _drop("target", "Target image") + '</div>'
            '<button type="submit" class="primary">Compare</button></form>'
            f'<section class="card threshold" data-calibration="{esc(table)}" data-model="{esc(cal.model_version)}">'
            '<label for="threshold">Similarity threshold <output data-threshold-value>80</output></label>'
            '<input type="range" id="threshold" min="0" max="100" step="0.5" value="80">'
            '<p data-threshold-meaning aria-live="polite"></p></section>'
            '<div class="alert" role="alert" hidden data-error></div>'
            '<div class="pair"><figure class="stage" data-stage="source"></figure>'
            '<figure class="stage" data-stage="target"></figure></div>'
            '<section class="card"><h2>Target faces</h2><table class="grid"><thead><tr><th scope="col">Face</th>'
            '<th scope="col">Similarity</th><th scope="col">At this threshold</th></tr></thead>'
            '<tbody data-matches><tr><td colspan="3" class="muted">Run a comparison.</td></tr></tbody></table>'
            '</section>')


def routes(console: Console) -> list[BaseRoute]:
    static = _static_files()
    engine = console.engine
    failures: dict[str, list[float]] = {}  # access key id -> recent failed logins (monotonic times)

    async def login_page(request: Request) -> Response:
        return _login_form()

    async def login(request: Request) -> Response:
        body = (await console.body(request, 4096)).decode("utf-8", "replace")
        from urllib.parse import parse_qs

        fields = {k: v[-1] for k, v in parse_qs(body).items()}
        key_id, secret = fields.get("access_key_id", "").strip(), fields.get("secret", "")
        now = time.monotonic()
        recent = [t for t in failures.get(key_id, []) if now - t < LOCKOUT_SECONDS]
        if len(recent) >= MAX_FAILURES:
            return _login_form(f"Too many failed logins for this key id; wait {LOCKOUT_SECONDS:g} seconds.",
                               status=429)
        known = console.service.keys.secret(key_id) if key_id else None
        if known is None or not hmac.compare_digest(known.encode(), secret.encode()):
            failures[key_id] = [*recent, now][-MAX_FAILURES:]
            return _login_form("That access key id and secret do not match an active key.", status=401)
        failures.pop(key_id, None)
        return _start(request, key_id)

    async def login_token(request: Request) -> Response:
        key_id = console.sessions.redeem(request.path_params["token"])
        if key_id is None or console.service.keys.secret(key_id) is None:
            return _login_form("That login link is used, expired or not for an active key; run "
                               "`clearsight console login` again.", status=401)
        return _start(request, key_id)

    def _start(request: Request, key_id: str) -> Response:
        cookie, _ = console.sessions.create(key_id)
        response = redirect("/")
        # a browser-session cookie: the server ends the session itself after the idle timeout
        response.set_cookie(COOKIE, cookie, httponly=True, samesite="strict", path=PREFIX,
                            secure=request.url.scheme == "https")
        return response

    async def logout(request: Request) -> Response:
        visitor = console.visitor(request)
        await console.form(request, visitor)
        console.sessions.end(request.cookies.get(COOKIE))
        response = redirect("/login")
        response.delete_cookie(COOKIE, path=PREFIX)
        return response

    async def api(request: Request) -> Response:
        """POST /console/api/<Operation>: the AWS JSON request body, the session's key, the CSRF header."""
        visitor = console.visitor(request)
        check_csrf(visitor, request.headers.get("x-csrf-token"))
        name = request.path_params["operation"]
        body = await console.body(request, console.service.max_body)
        try:
            payload = json.loads(body or b"{}")
        except ValueError as exc:
            raise InvalidParameterException("the request body is not JSON") from exc
        if not isinstance(payload, dict):
            raise InvalidParameterException("the request body must be a JSON object")
        caller = visitor.caller(request.headers.get(PURPOSE_HEADER) or None)
        return JSONResponse(await console.call(caller, name, payload))

    async def home(request: Request) -> Response:
        console.visitor(request)
        return redirect("/analyze")

    async def analyze(request: Request) -> Response:
        visitor = console.visitor(request)
        if request.url.path.endswith(".json"):
            return twin({"Operations": list(IMAGE_OPS), "Api": f"{PREFIX}/api/<Operation>"})
        return console.page(visitor, "analyze", "Analyze an image", ANALYZE + snippet_block())

    async def compare(request: Request) -> Response:
        visitor = console.visitor(request)
        cal = engine.calibration
        if request.url.path.endswith(".json"):
            return twin({"Operation": "CompareFaces", "FaceModelVersion": cal.model_version,
                         "Calibration": [{"Similarity": s, "FalseMatchRate": f, "FalseNonMatchRate": n}
                                         for s, _, f, n in cal.table]})
        return console.page(visitor, "compare", "Compare faces", _compare_body(cal) + snippet_block())

    async def search(request: Request) -> Response:
        visitor = console.visitor(request)
        listing: list[dict[str, Any]] = []
        error = ""
        try:
            out = await console.call(visitor.caller(), "ListCollections", {})
            policies = await console.blocking(visitor.caller(), lambda: {
                cid: engine.collections.policy(cid) for cid in out.get("CollectionIds", [])})
            listing = [{"CollectionId": cid, "RequirePurpose": p.require_purpose, "MinThreshold": p.min_threshold}
                       for cid, p in policies.items()]
        except AccessDeniedException as exc:
            error = exc.message
        chosen = request.query_params.get("collection", "")
        if request.url.path.endswith(".json"):
            return twin({"Operation": "SearchFacesByImage", "Collections": listing, "Error": error or None})
        return console.page(visitor, "search", "Search a collection", _search_body(listing, chosen, error)
                            + snippet_block())

    async def static_file(request: Request) -> Response:
        name = request.path_params["name"]
        data = static.get(name)
        if data is None:
            return Response("not found", status_code=404, media_type="text/plain")
        return Response(data, media_type=STATIC_TYPES[name[name.rindex("."):]],
                        headers={"Cache-Control": "public, max-age=3600"})

    return [Route("/", home), Route("/login", login_page), Route("/login", login, methods=["POST"]),
            Route("/login/{token}", login_token), Route("/logout", logout, methods=["POST"]),
            Route("/api/{operation}", api, methods=["POST"]),
            Route("/analyze", analyze), Route("/analyze.json", analyze),
            Route("/compare", compare), Route("/compare.json", compare),
            Route("/search", search), Route("/search.json", search),
            Route("/static/{name}", static_file)]


def _search_body(listing: list[dict[str, Any]], chosen: str, error: str) -> str:
    if error:
        return f'<div class="alert" role="alert">{esc(error)}</div>'
    if not listing:
        return (f'<p class="empty">No collection this key may use. <a href="{PREFIX}/collections">Create one</a> '
                'first.</p>')
    options = "".join(
        f'<option value="{esc(c["CollectionId"])}" data-require-purpose="{str(c["RequirePurpose"]).lower()}" '
        f'data-min-threshold="{c["MinThreshold"]:g}"{" selected" if c["CollectionId"] == chosen else ""}>'
        f'{esc(c["CollectionId"])}{" (purpose required)" if c["RequirePurpose"] else ""}</option>' for c in listing)
    return ('<p class="lede">Search a collection for the largest face of an image (SearchFacesByImage). '
            'The search, its purpose and its results are recorded in the audit trail.</p>'
            '<form class="card controls" data-form="search">' + _drop("image", "Image to search with")
            + f'<div class="fields"><label>Collection <select name="collection" data-collection>{options}</select>'
            '</label><label>Purpose <input name="purpose" data-purpose maxlength="256" '
            'placeholder="e.g. case 2026-114, missing person"></label>'
            '<label>Threshold <input type="number" name="threshold" value="80" min="0" max="100" step="0.5" '
            'data-search-threshold></label><label>Max faces <input type="number" name="max" value="10" min="1" '
            'max="4096" data-max-faces></label></div><p class="muted" data-purpose-note></p>'
            '<button type="submit" class="primary">Search</button></form>'
            '<p class="note" role="note"><strong>A match is a lead, not an identification.</strong> A person must '
            'review every candidate before anyone acts on it; similarity is not certainty.</p>'
            '<div class="alert" role="alert" hidden data-error></div>'
            '<div class="split"><figure class="stage" data-stage="image"></figure><section class="card">'
            '<h2>Candidates</h2><table class="grid"><thead><tr><th scope="col">FaceId</th><th scope="col">'
            'ExternalImageId</th><th scope="col">UserId</th><th scope="col">Similarity</th></tr></thead>'
            '<tbody data-candidates><tr><td colspan="4" class="muted">Run a search.</td></tr></tbody></table>'
            '<h2>Accountability</h2><dl class="facts" data-accountability><dt>Status</dt><dd>No search yet.</dd>'
            '</dl></section></div>')


def _login_form(message: str = "", *, status: int = 200) -> Response:
    alert = f'<div class="alert" role="alert">{esc(message)}</div>' if message else ""
    return html_page("Log in", (
        '<main id="main" class="login"><h1>ClearSight</h1><p class="lede">Log in with an access key. '
        'The console acts as that key: it sees only what the key\'s scopes and collection patterns allow.</p>'
        f'{alert}<form method="post" action="{PREFIX}/login" class="card">'
        '<label>Access key id <input name="access_key_id" autocomplete="username" required '
        'spellcheck="false"></label>'
        '<label>Secret access key <input name="secret" type="password" autocomplete="current-password" '
        'required></label><button type="submit" class="primary">Log in</button></form>'
        '<p class="muted">On the server, <code>clearsight console login</code> prints a one-time login link.</p>'
        '</main>'), script=False, status=status)
