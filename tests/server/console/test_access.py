"""Serving and access: login (key and secret, one-time link), the session cookie, CSRF, idle
expiry, security headers, scopes deciding what a key sees, and clear errors for bad input."""

from __future__ import annotations

import json
import os
import time

import httpx
import pytest

from ...conftest import ROOT
from ..conftest import clearsight
from .conftest import Console, csrf

PAGES = ("analyze", "compare", "collections", "search", "video", "audit", "keys")


def test_no_session_means_the_login_page(console: Console) -> None:
    c = console.anonymous()
    r = c.get("/console/analyze", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/login"
    assert c.get("/console/collections.json").status_code == 401
    r = c.post("/console/api/DetectFaces", json={})
    assert r.status_code == 401 and r.json()["__type"] == "AccessDeniedException"
    page = c.get("/console/login")
    assert page.status_code == 200 and "Access key id" in page.text
    assert c.get("/console", follow_redirects=False).headers["location"] == "/console/"
    assert c.get("/console/").url.path == "/console/login"


def test_login_with_key_and_secret(console: Console) -> None:
    key_id, secret = console.keys["viewer"]
    c = console.anonymous()
    bad = c.post("/console/login", data={"access_key_id": key_id, "secret": secret + "x"})
    assert bad.status_code == 401 and "do not match" in bad.text
    r = c.post("/console/login", data={"access_key_id": key_id, "secret": secret}, follow_redirects=False)
    assert r.status_code == 303
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie
    assert c.get("/console/analyze").status_code == 200


def test_failed_logins_are_throttled_per_key_id(console: Console) -> None:
    c = console.anonymous()
    codes = [c.post("/console/login", data={"access_key_id": "CSKNOSUCHKEY", "secret": "guess"}).status_code
             for _ in range(6)]
    assert codes == [401] * 5 + [429]
    key_id, secret = console.keys["viewer"]  # other keys are not affected
    assert c.post("/console/login", data={"access_key_id": key_id, "secret": secret}).status_code == 200


def test_one_time_login_link(console: Console) -> None:
    from clearsight.server.console import login_token
    from clearsight.server.console.session import console_key

    token = login_token(console_key(console.data_dir), console.keys["admin"][0])
    c = console.anonymous()
    r = c.get(f"/console/login/{token}", follow_redirects=False)
    assert r.status_code == 303 and "clearsight_console=" in r.headers["set-cookie"]
    again = console.anonymous().get(f"/console/login/{token}")
    assert again.status_code == 401 and "used, expired" in again.text
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert console.anonymous().get(f"/console/login/{forged}").status_code == 401


def test_console_login_cli_prints_a_working_link(console: Console) -> None:
    out = clearsight("console", "login", "--url", console.url, "--data-dir", str(console.data_dir), "--json",
                     env=dict(os.environ))
    assert out.returncode == 0, out.stderr
    link = json.loads(out.stdout)
    assert link["Url"].startswith(console.url + "/console/login/")
    r = console.anonymous().get(link["Url"])
    assert r.status_code == 200 and 'data-page="analyze"' in r.text


def test_sessions_expire_when_idle() -> None:
    from clearsight.server.console.session import Sessions

    sessions = Sessions(b"k" * 32, idle_seconds=0.2)
    cookie, _ = sessions.create("CSKTEST")
    assert sessions.get(cookie) is not None
    time.sleep(0.3)
    assert sessions.get(cookie) is None
    cookie, _ = sessions.create("CSKTEST")
    assert sessions.get(cookie[:-1] + ("A" if cookie[-1] != "A" else "B")) is None  # a forged signature


def test_csrf_is_required_on_every_post(console: Console) -> None:
    c = console.login("admin")
    r = c.post("/console/api/DetectFaces", json={"Image": {"Bytes": ""}})
    assert r.status_code == 400 and "CSRF" in r.json()["message"]
    r = c.post("/console/collections/create", data={"collection_id": "no-csrf"})
    assert r.status_code == 400 and "CSRF" in r.text
    token = csrf(c.get("/console/analyze").text)
    r = c.post("/console/collections/create", data={"collection_id": "no-csrf", "csrf": "wrong" + token})
    assert r.status_code == 400
    assert c.get("/console/collections.json").json()["Collections"] == [] or all(
        x["CollectionId"] != "no-csrf" for x in c.get("/console/collections.json").json()["Collections"])


def test_security_headers_on_every_answer(console: Console) -> None:
    c = console.login("admin")
    for path in [f"/console/{p}" for p in PAGES] + [f"/console/{p}.json" for p in PAGES if p != "video"] + [
            "/console/login", "/console/static/console.js"]:
        r = c.get(path)
        assert r.status_code == 200, (path, r.text[:300])
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe" not in csp, path
        assert r.headers["x-content-type-options"] == "nosniff" and r.headers["referrer-policy"] == "no-referrer"
        assert "<script>" not in r.text and " style=" not in r.text and " onclick=" not in r.text, path


def test_pages_are_fast_and_small(console: Console) -> None:
    c = console.login("admin")
    for page in PAGES:
        c.get(f"/console/{page}")
        started = time.perf_counter()
        r = c.get(f"/console/{page}")
        ms = 1000 * (time.perf_counter() - started)
        assert r.status_code == 200 and ms < 200, (page, ms)
    static = ROOT / "src" / "clearsight" / "server" / "console" / "static"
    assert sum(p.stat().st_size for p in static.iterdir() if p.suffix in (".js", ".css")) < 150_000


def test_a_key_sees_only_what_its_scopes_allow(console: Console) -> None:
    viewer = console.login("viewer")
    page = viewer.get("/console/analyze").text
    assert 'href="/console/audit"' not in page and 'href="/console/keys"' not in page
    assert 'href="/console/compare"' in page
    r = viewer.get("/console/keys")
    assert r.status_code == 400 and "may not call the access keys" in r.text
    assert viewer.get("/console/audit.json").json()["__type"] == "AccessDeniedException"
    r = viewer.get("/console/collections.json")  # ListCollections needs the search scope
    assert r.status_code == 400 and "may not call ListCollections" in r.json()["message"]
    admin = console.login("admin")
    page = admin.get("/console/analyze").text
    assert 'href="/console/audit"' in page and 'href="/console/keys"' in page


@pytest.mark.parametrize("body, code", [
    (b"not json", "InvalidParameterException"),
    (b"[1, 2]", "InvalidParameterException"),
    (b'{"Image": {"Bytes": "%%%"}}', "SerializationException"),
    (b'{"Image": {"Bytes": "aGVsbG8="}}', "InvalidImageFormatException"),
    (b'{"Nope": 1}', "InvalidParameterException"),
])
def test_bad_input_is_a_clear_error(console: Console, body: bytes, code: str) -> None:
    c = console.login("admin")
    token = csrf(c.get("/console/analyze").text)
    r = c.post("/console/api/DetectFaces", content=body, headers={"X-CSRF-Token": token})
    assert r.status_code == 400 and r.json()["__type"] == code, r.text


def test_unknown_and_unserved_operations(console: Console) -> None:
    c = console.login("admin")
    token = csrf(c.get("/console/analyze").text)
    r = c.post("/console/api/RecognizeCelebrities", json={}, headers={"X-CSRF-Token": token})
    assert r.status_code == 400 and "by design" in r.json()["message"]
    r = c.post("/console/api/NoSuchThing", json={}, headers={"X-CSRF-Token": token})
    assert r.json()["__type"] == "UnknownOperationException"
    assert c.get("/console/static/nothing.js").status_code == 404


def test_the_console_can_be_turned_off(console: Console) -> None:
    from clearsight.server.app import create_app
    from clearsight.settings import Settings

    assert Settings.load(console=False).console is False
    app = create_app(console.app.state.service.engine, console=False)
    assert not [r for r in app.routes if getattr(r, "path", "") == "/console"]
    out = clearsight("serve", "--help")
    assert "--no-console" in out.stdout


def test_logout_ends_the_session(console: Console) -> None:
    c = console.login("viewer")
    token = csrf(c.get("/console/analyze").text)
    assert c.post("/console/logout", data={"csrf": token}, follow_redirects=False).status_code == 303
    c.cookies.clear()
    assert isinstance(c, httpx.Client)
    assert c.get("/console/analyze", follow_redirects=False).status_code == 303
