from __future__ import annotations

from .conftest import Console


def test_pages_render(console: Console) -> None:
    c = console.login("admin")
    for page in ("analyze", "compare", "collections", "search", "audit", "keys", "video"):
        r = c.get(f"/console/{page}")
        assert r.status_code == 200, (page, r.text[:500])
