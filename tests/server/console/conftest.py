"""The console in-process: the real app (create_app over a real Engine on a fresh data directory)
served by uvicorn on 127.0.0.1 in a thread of the test process, driven by httpx, logged in with
real keys from the key store."""

from __future__ import annotations

import base64
import contextlib
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest


@dataclass
class Console:
    url: str
    app: Any
    data_dir: Path
    keys: dict[str, tuple[str, str]]  # name -> (key id, secret)
    clients: list[httpx.Client] = field(default_factory=list)  # closed at the end

    def login(self, name: str) -> httpx.Client:
        """A fresh client logged in as the named key."""
        client = self.anonymous()
        key_id, secret = self.keys[name]
        r = client.post("/console/login", data={"access_key_id": key_id, "secret": secret}, follow_redirects=False)
        assert r.status_code == 303, r.text
        return client

    def anonymous(self) -> httpx.Client:
        client = httpx.Client(base_url=self.url, timeout=120, follow_redirects=True)
        self.clients.append(client)
        return client

    def key(self, name: str, *, scopes: str, collections: str = "*", purpose: str | None = None) -> None:
        from clearsight.policy.scopes import parse_scopes

        self.keys[name] = self.app.state.service.keys.create(name, scopes=parse_scopes(scopes),
                                                             collections=collections, purpose=purpose)


def csrf(html: str) -> str:
    found = re.search(r'data-csrf="([^"]+)"', html) or re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


@contextlib.contextmanager
def serve(app: Any) -> Iterator[str]:
    """uvicorn serving ``app`` on a free loopback port in a thread; its URL."""
    import uvicorn

    from ..conftest import free_port

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the console's server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=60)


@pytest.fixture(scope="session")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    from clearsight.engine import Engine
    from clearsight.server.app import create_app
    from clearsight.settings import Settings

    data_dir = tmp_path_factory.mktemp("console-data")
    (data_dir / "s3" / "videos").mkdir(parents=True)
    engine = Engine(Settings.load(data_dir=str(data_dir), workers=2, s3_root=str(data_dir / "s3")))
    app = create_app(engine)
    with serve(app) as url:
        c = Console(url, app, data_dir, {})
        c.key("admin", scopes="admin")
        c.key("viewer", scopes="detect,compare")
        c.key("searcher", scopes="detect,compare,search,enrol", collections="team-*")
        c.key("auditor", scopes="audit")
        try:
            yield c
        finally:
            for client in c.clients:
                client.close()
