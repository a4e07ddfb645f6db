"""The web console's numbers: the first render of each page (cold, the first request after the
server starts, and warm, the median of 20), the JS+CSS bytes a browser loads (raw and gzipped),
and the wall time of the end-to-end suite in a real Chromium (tests/server/console/test_e2e.py).

    python bench/console.py [--no-e2e]
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import ROOT, machine, table, write_section
from _server import CLI, start_server

PAGES = ("analyze", "compare", "collections", "collections/bench", "search", "video", "audit", "keys")
PHOTO = ROOT.parent / "shared" / "data" / "faces" / "insightface" / "t1.jpg"


def populate(url: str, key: dict[str, str]) -> int:
    """A collection of 30 faces (t1.jpg's six, five times) and 20 searches, so the pages have rows to show."""
    import boto3

    client = boto3.client("rekognition", endpoint_url=url, region_name="us-east-1",
                          aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])
    client.create_collection(CollectionId="bench")
    photo = PHOTO.read_bytes()
    for i in range(5):
        client.index_faces(CollectionId="bench", Image={"Bytes": photo}, ExternalImageId=f"t1-{i}")
    for _ in range(20):
        client.search_faces_by_image(CollectionId="bench", Image={"Bytes": photo}, FaceMatchThreshold=80)
    return 30
STATIC = ROOT / "src" / "clearsight" / "server" / "console" / "static"


def renders(url: str, data_dir: Path) -> list[list[object]]:
    import httpx

    link = json.loads(subprocess.run([*CLI, "console", "login", "--url", url, "--data-dir", str(data_dir), "--json"],
                                     capture_output=True, text=True, check=True, timeout=120).stdout)["Url"]
    rows: list[list[object]] = []
    with httpx.Client(timeout=60, follow_redirects=True) as c:
        c.get(link)
        for page in PAGES:
            started = time.perf_counter()
            r = c.get(f"{url}/console/{page}")
            cold = 1000 * (time.perf_counter() - started)
            assert r.status_code == 200, (page, r.status_code)
            warm = []
            for _ in range(20):
                started = time.perf_counter()
                c.get(f"{url}/console/{page}")
                warm.append(1000 * (time.perf_counter() - started))
            rows.append([f"/console/{page}", f"{cold:.1f}", f"{statistics.median(warm):.1f}", f"{len(r.content):,}"])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--no-e2e", action="store_true", help="skip timing the end-to-end suite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        proc, url, key = start_server(Path(tmp))
        try:
            populate(url, key)
            pages = renders(url, Path(tmp))
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    shipped = [[p.name, f"{p.stat().st_size:,}", f"{len(gzip.compress(p.read_bytes())):,}"]
               for p in sorted(STATIC.iterdir()) if p.suffix in (".js", ".css")]
    total = sum(p.stat().st_size for p in STATIC.iterdir() if p.suffix in (".js", ".css"))
    text = (f"Measured on {machine()} by `bench/console.py`: each page's HTML over loopback from `clearsight serve` "
            "(the server renders it, running the operations it shows through dispatch: the collection page "
            "lists 30 faces, the audit page about 60 records), its first request after a new login and the median "
            "of the next 20.\n\n"
            + table(["page", "first render (ms)", "warm median (ms)", "HTML bytes"], pages)
            + f"\nJS+CSS a browser loads: {total:,} bytes (goal < 150 KB), no library, no web font:\n\n"
            + table(["file", "bytes", "gzipped"], shipped))
    if not args.no_e2e:
        started = time.perf_counter()
        run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                              "tests/server/console/test_e2e.py"], cwd=ROOT, capture_output=True, text=True)
        wall = time.perf_counter() - started
        summary = (run.stdout.strip().splitlines() or ["?"])[-1]
        text += (f"\nEnd-to-end suite in headless Chromium (`pytest tests/server/console/test_e2e.py`: one server, "
                 f"one browser, every page, axe-core on each): {wall:.1f} s wall ({summary}).\n")
    write_section("console", text)
    write_section("console", text, path=ROOT / "docs" / "console.md")  # the same numbers, quoted there
    print(text)


if __name__ == "__main__":
    main()
