"""The vendored JS is the version and bytes recorded, and nothing vendored is served to users."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

from .vendor import AXE, vendored


def test_axe_core_matches_its_record() -> None:
    from clearsight.models.files import sha256_file
    from clearsight.settings import Settings

    try:
        path = vendored(AXE, Path(Settings.load().model_dir) / "vendor")
    except Exception as exc:  # no npm and not fetched before: say so
        pytest.skip(f"axe-core {AXE.version} is not available: {exc}")
    assert sha256_file(path) == AXE.member_sha256
    assert f"axe v{AXE.version}" in path.read_text()[:400]


def test_the_console_serves_only_its_own_small_files() -> None:
    folder = resources.files("clearsight.server.console").joinpath("static")
    names = sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
    assert names == ["console.css", "console.js", "icon.svg"], names
    shipped = sum(len(folder.joinpath(n).read_bytes()) for n in names if n.endswith((".js", ".css")))
    assert shipped < 150_000, f"{shipped} bytes of JS+CSS: the goal is under 150 KB"
    for name in names:
        text = folder.joinpath(name).read_text()
        assert "http://" not in text.replace("http://www.w3.org/2000/svg", "") and "https://" not in text, name
        assert "eval(" not in text and "new Function" not in text, name
