"""End to end in a real headless Chromium against `clearsight serve` on 127.0.0.1: the pages do
what they say with real models on real photos, pass axe-core's accessibility check, make no
request outside 127.0.0.1, log no console error, and carry the security headers. Screenshots of
every page land in out/console/ (look at them)."""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ...conftest import ROOT, data_path
from ..conftest import Server, clearsight, start_server
from .browser import Browser, chromium, chromium_path
from .vendor import AXE, vendored

SHOTS = ROOT / "out" / "console"
pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    chromium_path()  # skip before starting anything when there is no browser
    data_dir = tmp_path_factory.mktemp("console-e2e")
    (data_dir / "s3" / "videos").mkdir(parents=True)
    with start_server(data_dir) as server:
        yield server


@pytest.fixture(scope="module")
def browser(live: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    SHOTS.mkdir(parents=True, exist_ok=True)
    with chromium(tmp_path_factory.mktemp("chromium-profile")) as b:
        yield b


@pytest.fixture(scope="module")
def page(live: Server, browser: Browser) -> Any:
    out = clearsight("console", "login", "--url", live.url, "--data-dir", str(live.data_dir), "--json",
                     env=dict(os.environ))
    assert out.returncode == 0, out.stderr
    p = browser.page()
    response = p.goto(json.loads(out.stdout)["Url"])
    assert p.url.endswith("/console/analyze"), p.url
    assert response is not None
    return p


@pytest.fixture(scope="module")
def axe_source() -> str:
    from clearsight.settings import Settings

    try:
        return vendored(AXE, Path(Settings.load().model_dir) / "vendor").read_text()
    except Exception as exc:
        pytest.skip(f"axe-core {AXE.version} is not available: {exc}")


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def until(page: Any, expression: str, timeout: float = 20) -> None:
    """Poll ``expression`` (page.wait_for_function evaluates strings, which the console's CSP refuses)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"never true: {expression}"
        time.sleep(0.1)


def accessible(page: Any, axe: str) -> None:
    """axe-core finds no serious or critical violation on the page as it is now."""
    page.evaluate(axe + "\n;0")
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    bad = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3]) for v in result["violations"]
           if v["impact"] in ("serious", "critical")]
    assert not bad, f"{page.url}: {bad}"


def test_security_headers_and_login(live: Server, browser: Browser) -> None:
    p = browser.page()
    response = p.goto(live.url + "/console/analyze")
    assert p.url.endswith("/console/login")
    assert response is not None
    headers = response.headers
    assert "script-src 'self'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff" and headers["referrer-policy"] == "no-referrer"
    shot(p, "login")
    p.fill("input[name=access_key_id]", live.key_id)
    p.fill("input[name=secret]", "not the secret")
    p.click("button[type=submit]")
    assert "do not match" in p.inner_text("[role=alert]")
    p.close()
    expected = [e for e in browser.errors if "/console/login" in e and "401" in e]
    assert len(expected) == 1, browser.errors  # the refused login answered 401, as it should
    browser.errors.remove(expected[0])


def test_analyze_draws_six_faces(page: Any, axe_source: str) -> None:
    page.goto(page.url.split("/console/")[0] + "/console/analyze")
    page.set_input_files("#file-image", str(data_path("faces", "insightface", "t1.jpg")))
    started = time.perf_counter()
    page.click("form[data-form=analyze] button[type=submit]")
    page.wait_for_selector("main[data-found]")
    assert page.locator("svg rect[data-box]").count() == 6
    page.locator("svg rect[data-box]").nth(2).click()
    assert '"BoundingBox"' in page.inner_text("[data-selected]")
    page.locator("svg rect[data-box]").nth(3).focus()
    page.keyboard.press("Enter")
    assert page.locator("svg rect.selected").count() == 1
    snippet = page.evaluate("document.querySelector('[data-snippet=boto3]').textContent")
    assert "client.detect_faces(" in snippet and 'open("t1.jpg", "rb")' in snippet
    print(f"analyze round trip {time.perf_counter() - started:.2f} s")
    shot(page, "analyze")
    accessible(page, axe_source)


def test_analyze_labels_and_text(page: Any) -> None:
    page.goto(page.url.split("/console/")[0] + "/console/analyze")
    page.set_input_files("#file-image", str(data_path("coco", "images", "000000000139.jpg")))
    page.check("input[value=DetectLabels]")
    page.click("form[data-form=analyze] button[type=submit]")
    page.wait_for_selector("main[data-found]")
    assert page.locator("[data-items] li").count() > 0 and page.locator("svg rect.label").count() > 0
    shot(page, "analyze-labels")
    page.evaluate("delete document.getElementById('main').dataset.found")
    page.set_input_files("#file-image", str(data_path("ocr", "pytesseract", "test.png")))
    page.check("input[value=DetectText]")
    page.click("form[data-form=analyze] button[type=submit]")
    page.wait_for_selector("main[data-found]")
    assert page.locator("svg rect.text").count() > 0
    shot(page, "analyze-text")


def test_compare_shows_a_similarity(page: Any, axe_source: str) -> None:
    base = page.url.split("/console/")[0]
    page.goto(base + "/console/compare")
    page.set_input_files("#file-source", str(data_path("faces", "face_recognition", "obama.jpg")))
    page.set_input_files("#file-target", str(data_path("faces", "face_recognition", "obama2.jpg")))
    page.click("form[data-form=compare] button[type=submit]")
    cell = page.wait_for_selector("td[data-similarity]:not([data-similarity=''])")
    assert float(cell.get_attribute("data-similarity")) > 80
    assert "false match" in page.inner_text("[data-threshold-meaning]")
    page.fill("#threshold", "99.5")
    page.dispatch_event("#threshold", "input")
    assert "99.5" in page.inner_text("[data-threshold-meaning]")
    shot(page, "compare")
    accessible(page, axe_source)


def test_collection_index_search_audit(page: Any, live: Server, browser: Browser, axe_source: str) -> None:
    base = page.url.split("/console/")[0]
    page.goto(base + "/console/collections")
    page.fill("input[name=collection_id]", "e2e-people")
    page.check("input[name=require_purpose]")
    page.click("form[aria-label='Create a collection'] button[type=submit]")
    page.wait_for_url(re.compile(r".*/console/collections/e2e-people$"))
    page.set_input_files("#file-index", str(data_path("faces", "face_recognition", "obama.jpg")))
    page.fill("input[name=external_image_id]", "obama")
    page.click("form[data-form=index] button[type=submit]")
    page.wait_for_selector("td:text('obama')")
    shot(page, "collection")
    accessible(page, axe_source)
    page.goto(base + "/console/collections")
    shot(page, "collections")
    accessible(page, axe_source)

    page.goto(base + "/console/search?collection=e2e-people")
    page.set_input_files("#file-image", str(data_path("faces", "face_recognition", "obama2.jpg")))
    page.click("form[data-form=search] button[type=submit]")  # the purpose field is required: nothing sent
    assert page.evaluate("document.querySelector('[data-purpose]').validity.valueMissing")
    page.evaluate("document.querySelector('[data-purpose]').required = false")  # past the browser's own check
    page.click("form[data-form=search] button[type=submit]")
    page.wait_for_selector("[data-error]:not([hidden])")
    assert "must state a purpose" in page.inner_text("[data-error]")  # the policy's refusal, shown
    assert page.get_attribute("[data-outcome]", "data-outcome") == "refused"
    refusals = [e for e in browser.errors if "/console/api/SearchFacesByImage" in e or "status of 400" in e]
    assert len(refusals) == 1, browser.errors  # Chromium logs the 400 answer; it is the expected refusal
    browser.errors.remove(refusals[0])
    page.fill("[data-purpose]", "e2e: console test")
    page.click("form[data-form=search] button[type=submit]")
    page.wait_for_selector("main[data-found='1']")
    assert "obama" in page.inner_text("[data-candidates]")
    assert "human" in page.inner_text("[role=note]").lower() or "person must review" in page.inner_text("[role=note]")
    shot(page, "search")
    accessible(page, axe_source)

    page.goto(base + "/console/audit?collection=e2e-people")
    assert "SearchFacesByImage" in page.inner_text("table.audit")
    assert "e2e: console test" in page.inner_text("table.audit")
    assert "refused" in page.inner_text("table.audit")  # the refused search left its record
    page.click("button[name=verify]")
    assert page.get_attribute("[data-verify]", "data-verify") == "intact"
    shot(page, "audit")
    accessible(page, axe_source)

    page.goto(base + "/console/keys")
    shot(page, "keys")
    accessible(page, axe_source)


def test_video_page_seeks_to_a_match(page: Any, live: Server, axe_source: str) -> None:
    shutil.copy(data_path("video", "short_hamilton_clip.mp4"), live.s3_root / "videos" / "clip.mp4")
    base = page.url.split("/console/")[0]
    page.goto(base + "/console/collections/e2e-people")
    page.set_input_files("#file-index", str(data_path("video", "lin-manuel-miranda.png")))
    page.fill("input[name=external_image_id]", "lin-manuel-miranda")
    page.click("form[data-form=index] button[type=submit]")
    page.wait_for_selector("td:text('lin-manuel-miranda')")
    page.goto(base + "/console/video")
    shot(page, "video-start")
    accessible(page, axe_source)
    page.check("input[value=FaceSearch]")
    page.select_option("select[name=collection]", "e2e-people")
    page.fill("input[name=purpose]", "e2e: video")
    page.click("form[aria-label='Start a video job'] button[type=submit]")
    page.wait_for_selector("video[data-video]", timeout=240_000)
    found = page.locator(".seg.found").first
    seek = int(found.get_attribute("data-seek"))
    found.click()
    until(page, f"document.getElementById('main').dataset.seekedTo === '{seek}'")
    until(page, "Number(document.getElementById('main').dataset.boxesShown || 0) > 0")
    at = page.evaluate("document.querySelector('video').currentTime")
    assert abs(at * 1000 - seek) < 250, (at, seek)
    shot(page, "video-job")
    accessible(page, axe_source)


def test_nothing_left_the_machine_and_no_console_errors(browser: Browser) -> None:
    """Last: every page above, none of them reached past 127.0.0.1 or logged an error."""
    assert browser.outside == []
    assert browser.errors == []
