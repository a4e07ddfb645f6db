"""Hostile image files: crafts decompression bombs, CPU sinks and odd modes in a temp dir and measures each
through ``clearsight.images.decode`` in a fresh subprocess (wall time, peak RSS growth after imports).

    python bench/hostile_images.py [--save out.json] [--before before.json] [--no-write]

``--before`` adds the answer and cost measured by an earlier ``--save`` run (e.g. on the previous code,
with PYTHONPATH pointing at it) beside each row.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import struct
import subprocess
import sys
import tempfile
import zlib
from collections.abc import Callable
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import ROOT, machine, table, write_section

DATA = Path(os.environ.get("CLEARSIGHT_DATA", ROOT.parent / "shared" / "data"))
FACE = DATA / "faces" / "face_recognition" / "obama.jpg"
BIG = 6300  # 6300 x 6300 = 39.7 megapixels: just under the 40 MP limit

MEASURE = r"""
import json, resource, sys, time
from clearsight.errors import ClearSightError
from clearsight.images import decode
from PIL import Image
import io
Image.init()  # every plugin imported, and one small image decoded, before measuring
warm = io.BytesIO(); Image.new("RGB", (100, 100)).save(warm, "PNG"); decode(warm.getvalue())
data = open(sys.argv[1], "rb").read()
def peak_kb():  # VmHWM belongs to this process image; ru_maxrss on Linux carries the parent's over exec
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
base = peak_kb()
t = time.perf_counter()
try:
    img = decode(data)
    answer = f"decoded {img.width}x{img.height}"
except ClearSightError as exc:
    answer = type(exc).__name__
except BaseException as exc:  # what a server would answer 500
    answer = "CRASH " + type(exc).__name__
ms = (time.perf_counter() - t) * 1000
peak = peak_kb() - base
print(json.dumps({"answer": answer, "ms": ms, "rss_mb": peak / 1024}))
"""


# --- PNG / BMP / ICO writers for files Pillow will not save --------------------------------------
def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _zeros_deflated(n: int, level: int = 9) -> bytes:
    comp, out, block = zlib.compressobj(level), [], bytes(1 << 20)
    while n > 0:
        out.append(comp.compress(block[: min(n, len(block))]))
        n -= len(block)
    return b"".join(out) + comp.flush()


def _png(width: int, height: int, depth: int, colour: int, idat: bytes, *, interlace: int = 0,
         before: list[bytes] | None = None, after: list[bytes] | None = None, idat_split: int = 0) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, interlace)
    parts = [b"\x89PNG\r\n\x1a\n", _chunk(b"IHDR", ihdr)]
    if colour == 3:
        parts.append(_chunk(b"PLTE", bytes(3 * 256)))
    parts += before or []
    step = idat_split or max(1, len(idat))
    parts += [_chunk(b"IDAT", idat[i:i + step]) for i in range(0, len(idat), step)]
    parts += after or []
    parts.append(_chunk(b"IEND", b""))
    return b"".join(parts)


def _raw_size(width: int, height: int, bits: int, interlace: int) -> int:
    if not interlace:
        return height * (1 + (width * bits + 7) // 8)
    total = 0
    for x0, y0, dx, dy in ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
                           (0, 1, 1, 2)):
        w, h = (width - x0 + dx - 1) // dx, (height - y0 + dy - 1) // dy
        if w and h:
            total += h * (1 + (w * bits + 7) // 8)
    return total


def png_flat(width: int, height: int, depth: int, colour: int, interlace: int = 0) -> bytes:
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[colour]
    return _png(width, height, depth, colour, _zeros_deflated(_raw_size(width, height, depth * channels, interlace)),
                interlace=interlace)


def png_idat_overflow() -> bytes:
    """A 200x200 grey PNG whose IDAT stream inflates to 512 MB: far more than the image needs."""
    return _png(200, 200, 8, 0, _zeros_deflated(512 << 20))


def png_text_bomb(kind: bytes) -> bytes:
    """A 200x200 PNG carrying 200 compressed text chunks (or one iCCP) that each inflate to ~1 MB."""
    blob = zlib.compress(bytes((1 << 20) - 64), 9)
    if kind == b"iCCP":
        chunks = [_chunk(b"iCCP", b"icc\x00\x00" + blob)]
    elif kind == b"iTXt":
        chunks = [_chunk(b"iTXt", b"k%d\x00\x01\x00\x00\x00" % i + blob) for i in range(200)]
    else:
        chunks = [_chunk(b"zTXt", b"k%d\x00\x00" % i + blob) for i in range(200)]
    return _png(200, 200, 8, 0, zlib.compress(bytes(_raw_size(200, 200, 8, 0))), before=chunks)


def png_many_chunks() -> bytes:
    """A 200x200 PNG with 400,000 empty ancillary chunks before its image data (4.8 MB)."""
    junk = _chunk(b"juNk", b"") * 400_000
    return _png(200, 200, 8, 0, zlib.compress(bytes(_raw_size(200, 200, 8, 0))), before=[junk])


def png_tiny_idats() -> bytes:
    """A 1000x1000 grey PNG whose image data is split into 1-byte IDAT chunks."""
    return _png(1000, 1000, 8, 0, _zeros_deflated(_raw_size(1000, 1000, 8, 0)), idat_split=1)


def apng_frames(n: int = 2000) -> bytes:
    buf = io.BytesIO()
    frames = [Image.new("RGB", (200, 200), (i % 256, 0, 0)) for i in range(n)]
    frames[0].save(buf, "PNG", save_all=True, append_images=frames[1:], duration=10)
    return buf.getvalue()


def bmp_rle8(width: int, height: int, body: bytes) -> bytes:
    palette = bytes(4 * 256)
    offset = 14 + 40 + len(palette)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 8, 1, len(body), 2835, 2835, 256, 0)
    return b"BM" + struct.pack("<IHHI", offset + len(body), 0, 0, offset) + info + palette + body


def bmp_rle_flat() -> bytes:
    row = b"\xff\x00" * (BIG // 255) + bytes([BIG % 255, 0]) + b"\x00\x00"
    return bmp_rle8(BIG, BIG, row * BIG + b"\x00\x01")


def bmp_rle_eol(side: int = 2800) -> bytes:
    """One pixel then end-of-line on every row: Pillow pads each row a byte at a time in Python."""
    return bmp_rle8(side, side, b"\x01\x00\x00\x00" * side + b"\x00\x01")


def ico(entries: list[tuple[int, int, bytes]]) -> bytes:
    head = struct.pack("<HHH", 0, 1, len(entries))
    offset, dirs, blobs = 6 + 16 * len(entries), [], []
    for w, h, blob in entries:
        dirs.append(struct.pack("<BBBBHHII", w % 256, h % 256, 0, 0, 1, 32, len(blob), offset))
        blobs.append(blob)
        offset += len(blob)
    return head + b"".join(dirs) + b"".join(blobs)


def ico_png_bomb() -> bytes:
    """An ICO whose directory says 256x256 but whose embedded PNG is 8000x8000 (64 MP) of one colour."""
    return ico([(256, 256, png_flat(8000, 8000, 1, 3))])


def ico_bmp_bomb() -> bytes:
    """An ICO whose embedded DIB header claims 7000x7000 (twice the height: XOR + AND masks)."""
    dib = struct.pack("<IiiHHIIiiII", 40, 7000, 14000, 1, 32, 0, 0, 0, 0, 0, 0) + bytes(4096)
    return ico([(0, 0, dib)])


def save(img: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def jpeg_many_markers(n: int = 1_000_000) -> bytes:
    """A small JPEG with a million empty COM segments before its first scan (4 MB)."""
    jpg = save(Image.new("RGB", (200, 200), (90, 90, 90)), "JPEG")
    return jpg[:2] + b"\xff\xfe\x00\x02" * n + jpg[2:]


def jpeg_many_scans(side: int = 2800, copies: int = 100_000) -> bytes:
    """A progressive JPEG whose second (AC) scan is repeated 100,000 times: libjpeg runs every one."""
    jpg = save(Image.new("L", (side, side), 90), "JPEG", progressive=True)
    sos = jpg.index(b"\xff\xda", jpg.index(b"\xff\xda") + 2)
    end = sos + 2
    while not (jpg[end] == 0xFF and jpg[end + 1] != 0x00 and not 0xD0 <= jpg[end + 1] <= 0xD7):
        end += 1  # the end of the scan's entropy-coded data: the next marker
    return jpg[:sos] + jpg[sos:end] * copies + jpg[end:]


def gray16(path: Path) -> bytes:
    import numpy as np

    g = np.asarray(Image.open(path).convert("L"), dtype=np.uint16) * 257
    return save(Image.fromarray(g), "PNG")


def rgb48(path: Path) -> bytes:
    """A 16-bit-per-channel RGB PNG (Pillow cannot write one; numpy + zlib can)."""
    import numpy as np

    rgb = np.asarray(Image.open(path).convert("RGB"), dtype=">u2") * 257
    raw = b"".join(b"\x00" + row.tobytes() for row in rgb)
    return _png(rgb.shape[1], rgb.shape[0], 16, 2, zlib.compress(raw))


def exif_rotated(side: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6
    return save(Image.open(FACE).convert("RGB").resize((side, side)), "JPEG", quality=85, exif=exif)


def multi_frame(fmt: str, n: int) -> bytes:
    frames = [Image.new("L", (200, 200), i % 256) for i in range(n)]
    extra = {"compression": "tiff_deflate"} if fmt == "TIFF" else {}
    return save(frames[0], fmt, save_all=True, append_images=frames[1:], **extra)


def gif_comment_blocks(n: int = 2_000_000) -> bytes:
    """A GIF whose comment, before the first frame, is 2 million 1-byte sub-blocks (Pillow joins them
    one at a time: quadratic)."""
    gif = save(Image.new("L", (200, 200), 90), "GIF")
    start = 13 + (3 << ((gif[10] & 7) + 1) if gif[10] & 0x80 else 0)
    return gif[:start] + b"\x21\xfe" + b"\x01c" * n + b"\x00" + gif[start:]


def tiff_many_tags(n: int = 60_000) -> bytes:
    """A 200x200 TIFF whose first IFD carries 60,000 private tags (Pillow parses each in Python)."""
    tif = bytearray(save(Image.new("L", (200, 200), 90), "TIFF"))
    ifd = struct.unpack_from("<I", tif, 4)[0]
    count = struct.unpack_from("<H", tif, ifd)[0]
    entries = [bytes(tif[ifd + 2 + 12 * i: ifd + 14 + 12 * i]) for i in range(count)]
    entries += [struct.pack("<HHII", 40000 + i % 20000, 3, 1, 7) for i in range(n)]
    entries.sort(key=lambda e: struct.unpack_from("<H", e)[0])
    new_ifd = len(tif) + (len(tif) & 1)
    out = tif + bytes(new_ifd - len(tif)) + struct.pack("<H", len(entries)) + b"".join(entries) + bytes(4)
    struct.pack_into("<I", out, 4, new_ifd)
    return bytes(out)


def mpo() -> bytes:
    face = Image.open(FACE).convert("RGB")
    return save(face, "MPO", save_all=True, append_images=[face.transpose(Image.Transpose.FLIP_LEFT_RIGHT)])


def cases() -> list[tuple[str, Callable[[], bytes]]]:
    flat = Image.new("RGB", (BIG, BIG), (200, 30, 30))
    return [
        ("PNG palette 6300x6300 (the 4.9 KB attack)", lambda: save(Image.new("P", (BIG, BIG), 0), "PNG")),
        ("PNG 1-bit 6300x6300", lambda: png_flat(BIG, BIG, 1, 0)),
        ("PNG RGB flat 6300x6300", lambda: save(flat, "PNG")),
        ("PNG 16-bit grey flat 6300x6300", lambda: png_flat(BIG, BIG, 16, 0)),
        ("PNG palette interlaced 6300x6300", lambda: png_flat(BIG, BIG, 1, 3, interlace=1)),
        ("PNG RGBA interlaced 3000x3000", lambda: png_flat(3000, 3000, 8, 6, interlace=1)),
        ("PNG 200x200, IDAT inflating to 512 MB", png_idat_overflow),
        ("PNG 200 zTXt chunks of 1 MB", lambda: png_text_bomb(b"zTXt")),
        ("PNG 200 iTXt chunks of 1 MB", lambda: png_text_bomb(b"iTXt")),
        ("PNG iCCP of 1 MB", lambda: png_text_bomb(b"iCCP")),
        ("PNG 400k empty chunks", png_many_chunks),
        ("PNG 1000x1000 in 1-byte IDATs", png_tiny_idats),
        ("APNG 2000 frames", apng_frames),
        ("PNG 9000x9000 (over 40 MP)", lambda: save(Image.new("P", (9000, 9000), 0), "PNG")),
        ("PNG claims 65535x65535", lambda: png_flat(65535, 65535, 1, 0)),
        ("JPEG flat 6300x6300", lambda: save(flat, "JPEG", quality=75)),
        ("JPEG progressive flat 6300x6300", lambda: save(flat, "JPEG", progressive=True, optimize=True)),
        ("JPEG 1M empty COM markers", jpeg_many_markers),
        ("JPEG progressive, 50k repeated scans", jpeg_many_scans),
        ("JPEG photo 6000x6000 EXIF rotated", lambda: exif_rotated(6000)),
        ("JPEG CMYK", lambda: save(Image.open(FACE).convert("CMYK"), "JPEG")),
        ("MPO two frames", mpo),
        ("WebP lossless flat 6300x6300", lambda: save(flat, "WEBP", lossless=True)),
        ("GIF flat 6300x6300", lambda: save(Image.new("P", (BIG, BIG), 0), "GIF")),
        ("GIF 1000 frames", lambda: multi_frame("GIF", 1000)),
        ("GIF comment of 2M 1-byte sub-blocks", gif_comment_blocks),
        ("TIFF deflate flat 6300x6300", lambda: save(flat, "TIFF", compression="tiff_deflate")),
        ("TIFF 1-bit G4 6300x6300", lambda: save(Image.new("1", (BIG, BIG), 1), "TIFF", compression="group4")),
        ("TIFF 1000 pages", lambda: multi_frame("TIFF", 1000)),
        ("TIFF IFD with 60k tags", tiff_many_tags),
        ("TIFF float (F) face", lambda: save(Image.open(FACE).convert("F"), "TIFF")),
        ("BMP RLE8 flat 6300x6300", bmp_rle_flat),
        ("BMP RLE8 2800x2800, end-of-line per row", bmp_rle_eol),
        ("ICO with a 64 MP embedded PNG", ico_png_bomb),
        ("ICO with a 49 MP embedded DIB", ico_bmp_bomb),
        ("PNG 16-bit grey face", lambda: gray16(FACE)),
        ("PNG LA face", lambda: save(Image.open(FACE).convert("LA"), "PNG")),
        ("PNG palette + tRNS face", lambda: save(Image.open(FACE).convert("P"), "PNG", transparency=0)),
        ("PNG 16-bit RGB face", lambda: rgb48(FACE)),
    ]


def measure(path: Path, timeout: float) -> dict[str, object]:
    try:
        out = subprocess.run([sys.executable, "-c", MEASURE, str(path)], capture_output=True, text=True,
                             timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"answer": f"HANG (> {timeout:.0f} s)", "ms": timeout * 1000, "rss_mb": float("nan")}
    if out.returncode != 0 or not out.stdout.strip():
        return {"answer": f"CRASH (exit {out.returncode})", "ms": float("nan"), "rss_mb": float("nan")}
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--save", type=Path, help="write the results as JSON")
    ap.add_argument("--before", type=Path, help="results of an earlier --save run to show beside these")
    ap.add_argument("--no-write", action="store_true", help="print only; do not update docs/benchmarks.md")
    ap.add_argument("--timeout", type=float, default=60.0)
    args = ap.parse_args()
    before = json.loads(args.before.read_text()) if args.before else {}
    results: dict[str, dict[str, object]] = {}
    rows: list[list[object]] = []
    with tempfile.TemporaryDirectory(prefix="hostile-") as tmp:
        for i, (name, make) in enumerate(cases()):
            path = Path(tmp) / f"{i:02d}.bin"
            path.write_bytes(make())
            r = measure(path, args.timeout)
            r["bytes"] = path.stat().st_size
            results[name] = r
            row: list[object] = [name, f"{r['bytes']:,}", r["answer"], f"{r['ms']:.0f}", f"{r['rss_mb']:.0f}"]
            if before:
                b = before.get(name, {})
                row[2:2] = [b.get("answer", "-")]
                row[4:4] = [f"{b.get('ms', float('nan')):.0f}"]
                row[6:6] = [f"{b.get('rss_mb', float('nan')):.0f}"]
            rows.append(row)
            print(" | ".join(str(v) for v in row), flush=True)
            path.unlink()
    if args.save:
        args.save.write_text(json.dumps(results, indent=1))
    header = ["file", "bytes", "answer", "ms", "peak RSS MB"]
    if before:
        header = ["file", "bytes", "before", "answer", "before ms", "ms", "before MB", "peak RSS MB"]
    md = (
        "## Hostile images\n\n"
        f"Machine: {machine()}. Script: `bench/hostile_images.py`. Each file is crafted in a temp dir and decoded "
        "by `clearsight.images.decode` in a fresh subprocess; ms is wall time of the call, peak RSS MB the growth "
        "of the process's peak resident size over its size after imports. The rules are in docs/caveats.md "
        "(Image limits). Files marked decoded are answered normally.\n\n"
        + table(header, rows)
    )
    if not args.no_write:
        write_section("hostile_images", md)
    else:
        print(md)


if __name__ == "__main__":
    main()
