"""A real headless Chromium (Debian's ``chromium`` package) driven by Playwright, on a fresh
profile, with every request outside 127.0.0.1 refused and recorded, and console errors kept."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium_path() -> str:
    found = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if found is None:
        pytest.skip("Debian's chromium is not installed here (apt-get install chromium; .ci/run does it as root)")
    return found


@dataclass
class Browser:
    context: Any
    outside: list[str] = field(default_factory=list)  # requests that tried to leave 127.0.0.1
    errors: list[str] = field(default_factory=list)  # console errors and uncaught page errors

    def page(self) -> Any:
        page = self.context.new_page()
        page.on("console", lambda m: self.errors.append(f"{page.url}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"{page.url}: {e}"))
        return page


@contextlib.contextmanager
def chromium(profile: Path) -> Iterator[Browser]:
    executable = chromium_path()
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (the dev extra)")
    with sync_api.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile), executable_path=executable, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1360, "height": 900}, service_workers="block")
        browser = Browser(context)

        def guard(route: Any) -> None:
            host = urlsplit(route.request.url).hostname
            if route.request.url.startswith(("blob:", "data:")) or host == "127.0.0.1":
                route.continue_()
            else:
                browser.outside.append(route.request.url)
                route.abort()

        context.route("**/*", guard)
        try:
            yield browser
        finally:
            context.close()
