"""Protocol fuzzing: seeded requests generated from botocore's Rekognition model, signed with SigV4,
sent to a real `clearsight serve`, every answer judged by one oracle.

    python bench/fuzz.py [--cases 12000] [--seed 1] [--url URL --key-id ID --secret S] [--no-write]

Without --url the script starts its own server on 127.0.0.1 (a fresh data directory, an admin key).
tests/server/test_fuzz.py imports this module and runs a CI-sized slice of the same generator.

Each case is a request and what the generator knows about it: ``invalid`` (the model or the JSON
protocol forbids it: a required member missing, a wrong type, a number out of range, a bad enum or
pattern, an unknown member, a body that is not one JSON object...), or ``any`` (valid, or valid per
the model but with garbage in it, e.g. random bytes as an image). The oracle:

- the answer is 200, or an AWS JSON error: a JSON object with string ``__type`` and ``message``,
  content-type application/x-amz-json-1.1 and an x-amzn-RequestId header (200s too);
- never 500 (each one is a server bug);
- the error code is one botocore's model lists for the operation, or one any AWS JSON service may
  answer (``COMMON_ERRORS``); operations ClearSight does not implement may also answer
  UnsupportedOperationException;
- an ``invalid`` request never answers 200.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _server import start_server

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("CLEARSIGHT_DATA", ROOT.parent / "shared" / "data"))
FACE = DATA / "faces" / "face_recognition" / "obama-240p.jpg"
PREFIX = "RekognitionService."
JSON_11 = "application/x-amz-json-1.1"
BUCKET = "photos"
OUTCOMES = ["ok", "500 InternalServerError", "not an AWS JSON answer", "undocumented error code",
            "invalid request accepted"]

# Codes every AWS JSON 1.1 service may answer besides an operation's modelled errors: the common
# errors of the AWS API references, the JSON protocol's own (SerializationException,
# UnknownOperationException) and those of SigV4 authentication.
COMMON_ERRORS = frozenset({
    "AccessDeniedException", "IncompleteSignature", "InternalFailure", "InternalServerError",
    "InvalidClientTokenId", "InvalidSignatureException", "MissingAuthenticationTokenException",
    "NotAuthorized", "RequestExpired", "SerializationException", "ServiceUnavailable", "ThrottlingException",
    "UnknownOperationException", "UnrecognizedClientException", "ValidationException",
})
UNSUPPORTED = "UnsupportedOperationException"
RAW = "@RAW-JSON@"
# the same 12,000 cases (seed 1) against commit 0660e2d, before the protocol fixes
BEFORE = ("488 answered 500 (RecursionError on deep nesting; NUL or a lone surrogate in S3Object.Name reaching "
          "the file system), "
          "201 were not AWS JSON (Starlette's text 404/405), 206 carried an undocumented code "
          "(UnsupportedOperationException for unknown targets, ResourceAlreadyExistsException from CreateUser), "
          "50 invalid requests were accepted (duplicate keys, UTF-16 and BOM bodies)")

# strings tried, in order, where a member has a pattern: the first that matches (and fits) is used
CANDIDATES = ["fuzz", "fuzz-1", "fuzz_2.b", "0f8fad5b-d9cb-469f-a165-70867728950e", "face.jpg", "1", "1.0.0",
              "arn:aws:rekognition:us-east-1:123456789012:project/fuzz/version/fuzz/1",
              "arn:aws:rekognition:us-east-1:123456789012:project/fuzz/1",
              "arn:aws:rekognition:us-east-1:123456789012:project/fuzz/dataset/train/1",
              "arn:aws:iam::123456789012:role/fuzz", "arn:aws:sns:us-east-1:123456789012:fuzz",
              "arn:aws:kinesisvideo:us-east-1:123456789012:stream/fuzz",
              "arn:aws:kinesis:us-east-1:123456789012:stream/fuzz", "ab12", "fuzz value"]
BAD_STRINGS = ["bad value!", "", " ", "a/b\\c", "ü", "<script>", "fuzz\n", "../../etc/passwd", "*", "%00"]


def _images() -> dict[str, bytes]:
    from PIL import Image

    def encode(size: tuple[int, int], fmt: str) -> bytes:
        buf = io.BytesIO()
        Image.new("RGB", size, (120, 90, 60)).save(buf, fmt)
        return buf.getvalue()

    png = encode((1, 1), "PNG")
    out = {"png-1x1": png, "jpeg-64": encode((64, 64), "JPEG"), "truncated-png": png[:20],
           "png-magic-garbage": png[:8] + b"\x00" * 40, "gif-header": b"GIF89a", "empty-ish": b"\x00"}
    if FACE.is_file():
        out["face"] = FACE.read_bytes()
    return out


@dataclass
class Case:
    kind: str  # what was done, e.g. "valid", "wrong-type", "bad-json"
    operation: str | None  # None when the target itself is mutated
    body: bytes
    expect: str = "any"  # "invalid": must not answer 200
    target: str | None = None  # X-Amz-Target; None = omit the header
    content_type: str | None = JSON_11
    method: str = "POST"
    path: str = "/"


@dataclass
class Position:
    """One place in a request body: container[key] holds a value of shape ``shape``."""

    container: Any
    key: Any
    shape: str
    required: bool


class Generator:
    """Seeded requests for every operation of botocore's Rekognition model."""

    def __init__(self, seed: int, implemented: set[str]) -> None:
        from clearsight.server.protocol import service_model

        self.rng = random.Random(seed)
        self.model = service_model()
        self.shapes: dict[str, Any] = self.model["shapes"]
        self.operations = sorted(self.model["operations"])
        self.implemented = implemented
        self.images = _images()
        # implemented operations are where the bugs can hide: weight them up
        self.weighted = [op for op in self.operations for _ in range(6 if op in implemented else 1)]

    # -- valid values -------------------------------------------------------------------------
    def value(self, name: str, depth: int = 0, member: str = "") -> Any:
        s, rng = self.shapes[name], self.rng
        kind = s["type"]
        if name == "Image":
            return self.image()
        if kind == "structure":
            out = {}
            for m, spec in s.get("members", {}).items():
                if m in s.get("required", []) or (depth < 3 and rng.random() < 0.3):
                    v = self.value(spec["shape"], depth + 1, m)
                    if v is not None:
                        out[m] = v
            return out
        if kind in ("list", "map"):
            lo = s.get("min", 0)
            n = min(max(lo, rng.randint(0, 2)), s.get("max", 10**6))
            if kind == "list":
                return [self.value(s["member"]["shape"], depth + 1, member) for _ in range(n)]
            return {str(self.value(s["key"]["shape"], depth + 1)) + str(i): self.value(s["value"]["shape"], depth + 1)
                    for i in range(n)}
        if kind == "string":
            return self.string(s, member)
        if kind in ("integer", "long"):
            lo = s.get("min", 0)
            return rng.randint(lo, min(s.get("max", lo + 100), lo + 100))
        if kind in ("float", "double"):
            return round(rng.uniform(s.get("min", 0.0), s.get("max", 100.0)), 3)
        if kind == "boolean":
            return rng.random() < 0.5
        if kind == "blob":
            return base64.b64encode(self.rng.choice(list(self.images.values()))).decode()
        return None

    def string(self, s: dict[str, Any], member: str = "") -> str | None:
        if "enum" in s:
            return str(self.rng.choice(s["enum"]))
        lo, hi = s.get("min", 0), s.get("max", 64)
        pattern = s.get("pattern")
        fits = [c for c in CANDIDATES if lo <= len(c) <= hi and _matches(pattern, c) is not False]
        if member == "CollectionId" and "fuzz" in fits and self.rng.random() < 0.7:
            return "fuzz"
        if fits:
            return self.rng.choice(fits[:4])
        if not pattern:
            return ("fuzz" * (lo // 4 + 1))[:max(lo, 4)][:hi]
        return None

    def image(self) -> dict[str, Any]:
        rng = self.rng
        if rng.random() < 0.15:
            return {"S3Object": {"Bucket": BUCKET, "Name": rng.choice(["face.jpg", "missing.jpg", "../../x.jpg"])}}
        names = [n for n in self.images if n != "face"]
        name = "face" if "face" in self.images and rng.random() < 0.03 else rng.choice(names)
        return {"Bytes": base64.b64encode(self.images[name]).decode()}

    def request(self, operation: str) -> dict[str, Any]:
        shape = self.model["operations"][operation].get("input", {}).get("shape")
        return dict(self.value(shape)) if shape else {}

    # -- cases --------------------------------------------------------------------------------
    def cases(self, n: int) -> Iterator[Case]:
        for _ in range(n):
            yield self.case()

    def case(self) -> Case:
        op = self.rng.choice(self.weighted)
        roll = self.rng.random()
        if roll < 0.12:
            body = self.request(op)
            return Case("valid", op, _dump(body), "any", PREFIX + op)
        if roll < 0.80:
            return self.member_mutation(op)
        return self.protocol_mutation(op)

    def positions(self, body: dict[str, Any], shape: str) -> list[Position]:
        out: list[Position] = []

        def walk(value: Any, name: str) -> None:
            s = self.shapes[name]
            if s["type"] == "structure" and isinstance(value, dict):
                for k, v in value.items():
                    spec = s["members"][k]
                    out.append(Position(value, k, spec["shape"], k in s.get("required", [])))
                    walk(v, spec["shape"])
            elif s["type"] == "list" and isinstance(value, list):
                for i, v in enumerate(value):
                    out.append(Position(value, i, s["member"]["shape"], True))
                    walk(v, s["member"]["shape"])

        walk(body, shape)
        return out

    def member_mutation(self, op: str) -> Case:
        rng = self.rng
        shape = self.model["operations"][op].get("input", {}).get("shape")
        body = self.request(op)
        target = PREFIX + op
        if shape is None:
            return Case("unknown-member", op, _dump({"Bogus": 1}), "invalid", target)
        positions = self.positions(body, shape)
        if not positions or rng.random() < 0.1:
            where = rng.choice([p for p in positions if isinstance(p.container, dict)] or [None])
            container = body if where is None or not isinstance(self.value_at(where), dict) else self.value_at(where)
            container["Bogus" + rng.choice(["", "Member", "_x"])] = rng.choice([1, "x", None, {}])
            return Case("unknown-member", op, _dump(body), "invalid", target)
        p = rng.choice(positions)
        kind, expect, literal = self.mutate(p)
        raw = _dump(body)
        if literal is not None:  # JSON that json.dumps cannot write (deep nesting, 1e400, 1.0 for an int)
            raw = raw.replace(_dump(RAW), literal)
        return Case(kind, op, raw, expect, target)

    @staticmethod
    def value_at(p: Position) -> Any:
        return p.container[p.key]

    def mutate(self, p: Position) -> tuple[str, str, bytes | None]:
        """Change the value at p; return (kind, expect, JSON text for a RAW placeholder, if one was put)."""
        rng, s = self.rng, self.shapes[p.shape]
        kind = s["type"]
        choices = ["wrong-type", "null", "deep-nesting"]
        if p.required and isinstance(p.container, dict):
            choices += ["missing-required"] * 3
        if kind in ("integer", "long", "float", "double"):
            choices += ["out-of-range", "overflow", "non-finite", "huge-exponent"] + (["float-for-int"] * 2
                                                                                      if kind in ("integer", "long")
                                                                                      else [])
        if kind == "string":
            choices += ["nul", "lone-surrogate"] + (["bad-enum"] * 2 if "enum" in s else []) + (
                ["bad-pattern"] * 2 if s.get("pattern") else []) + (["too-long"] if "max" in s else []) + (
                ["too-short"] if s.get("min", 0) > 0 else [])
        if kind == "list":
            choices += ["huge-list"] + (["too-short"] if s.get("min", 0) > 0 else [])
        if kind == "blob":
            choices += ["bad-base64"] * 3 + ["garbage-bytes"] * 2 + ["too-short"]
        if p.shape == "Image":
            choices += ["image-neither", "image-both"]
        if kind == "structure":
            choices += ["unknown-nested"]
        what = rng.choice(choices)
        c, k = p.container, p.key
        if what == "missing-required":
            del c[k]
            return what, "invalid", None
        if what == "null":
            c[k] = None
            # null for a structure member means absent (as botocore would have omitted it)
            return what, "invalid" if p.required else "any", None
        if what == "wrong-type":
            c[k] = self.wrong_type(kind)
            return what, "invalid", None
        if what == "deep-nesting":
            depth = rng.choice([3, 50, 900, 5000, 100_000])
            c[k] = RAW
            return what, "invalid", b"[" * depth + b"1" + b"]" * depth
        if what == "out-of-range":
            lo, hi = s.get("min"), s.get("max")
            if lo is None and hi is None:
                c[k] = -1 if kind in ("integer", "long") else -1.5
                return what, "any", None
            step = 1 if kind in ("integer", "long") else 0.5
            c[k] = (lo - step) if lo is not None and (hi is None or rng.random() < 0.5) else hi + step
            return what, "invalid", None
        if what == "overflow":
            c[k] = rng.choice([2**31, 2**63, -(2**63) - 1, 10**30, 10**400])
            expect = "invalid" if kind in ("integer", "long") or abs(c[k]) > 1e308 else "any"
            return what, expect, None
        if what in ("non-finite", "huge-exponent", "float-for-int"):
            c[k] = RAW
            literal = {"non-finite": rng.choice(["NaN", "Infinity", "-Infinity"]),
                       "huge-exponent": rng.choice(["1e400", "-1e999"]),
                       "float-for-int": rng.choice(["1.0", "2.5", "1e2", "-0.0"])}[what]
            return what, "invalid", literal.encode()
        if what == "nul":
            c[k] = (c[k] or "fuzz") + "\x00"
            return what, "invalid", None
        if what == "lone-surrogate":
            c[k] = "fuzz\ud800"
            return what, "invalid", None
        if what == "bad-enum":
            c[k] = rng.choice(["NOT_AN_ENUM", str(c[k]).lower() + "x", ""])
            return what, "invalid", None
        if what == "bad-pattern":
            bad = [b for b in BAD_STRINGS if _matches(s["pattern"], b) is False
                   and s.get("min", 0) <= len(b) <= s.get("max", 10**9)]
            if not bad:
                return what, "any", None
            c[k] = rng.choice(bad)
            return what, "invalid", None
        if what == "too-long":
            c[k] = (str(c[k]) or "a") * (s["max"] // max(1, len(str(c[k]) or "a")) + 2)
            return what, "invalid" if len(c[k]) > s["max"] else "any", None
        if what == "too-short":
            if kind == "blob":
                c[k] = ""
            else:
                c[k] = c[k][: s["min"] - 1]
            return what, "invalid", None
        if what == "huge-list":
            hi = s.get("max")
            n = hi + 1 if hi is not None and hi < 5000 else 3000
            c[k] = [self.value(s["member"]["shape"], 3) for _ in range(min(n, 50))] * (n // min(n, 50) + 1)
            c[k] = c[k][:n]
            return what, "invalid" if hi is not None and n > hi else "any", None
        if what == "bad-base64":
            c[k] = rng.choice(["!!!!", "abc", "YQ", "YQ=", "Y Q==", "YWJj\n", "====", "é"])
            return what, "invalid", None
        if what == "garbage-bytes":
            c[k] = base64.b64encode(rng.randbytes(rng.choice([1, 16, 300, 5000]))).decode()
            return what, "any", None
        if what == "image-neither":
            c[k] = {}
            return what, "invalid", None
        if what == "image-both":
            c[k] = {"Bytes": base64.b64encode(self.images["png-1x1"]).decode(),
                    "S3Object": {"Bucket": BUCKET, "Name": "face.jpg"}}
            return what, "invalid", None
        # unknown-nested
        if isinstance(c[k], dict):
            c[k]["Bogus"] = True
            return what, "invalid", None
        c[k] = {"Bogus": True}
        return what, "invalid", None

    def wrong_type(self, kind: str) -> Any:
        by_kind: dict[str, list[Any]] = {
            "string": [1, 2.5, True, ["fuzz"], {"a": "b"}],
            "integer": [True, "5", 1.5, [1], {}], "long": [False, "5", [1]],
            "float": [True, "50", [50.0], {}], "double": [True, "50"],
            "boolean": [0, 1, "true", "false", [], {}],
            "list": ["fuzz", 1, {"0": "fuzz"}, True], "map": ["fuzz", [], 1],
            "structure": [[], "fuzz", 1, True], "blob": [1, [], {}, True],
        }
        return self.rng.choice(by_kind.get(kind, [[]]))

    def protocol_mutation(self, op: str) -> Case:
        rng = self.rng
        target = PREFIX + op
        has_required = bool(self.required(op))
        what = rng.choice(["non-object", "bad-json", "empty-body", "bad-utf8", "other-encoding", "duplicate-key",
                           "deep-body", "target", "target", "content-type", "content-type", "method-path"])
        body = self.request(op)
        if what == "non-object":
            return Case(what, op, rng.choice([b"[]", b"1", b'"fuzz"', b"null", b"true", b"[{}]"]), "invalid", target)
        if what == "bad-json":
            return Case(what, op, rng.choice([b"{[", b"{", b'{"a":1,}', b"{'a': 1}", b'{"a": 1} // c', b"abc",
                                              b'{"a": 1}x', b"\x00", b'{"a" 1}', b"{}{}"]), "invalid", target)
        if what == "empty-body":
            return Case(what, op, b"", "invalid" if has_required else "any", target)
        if what == "bad-utf8":
            raw = _dump({**body, "CollectionId": "fuzz@BAD@"})
            return Case(what, op, raw.replace(b"@BAD@", rng.choice([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xc0\xaf"])),
                        "invalid", target)
        if what == "other-encoding":
            text = json.dumps(body)
            return Case(what, op, rng.choice([text.encode("utf-16"), text.encode("utf-32"),
                                              b"\xef\xbb\xbf" + text.encode()]), "invalid", target)
        if what == "duplicate-key":
            key = next(iter(body), "Bogus")
            raw = _dump(body)
            dup = b'{"' + key.encode() + b'": ' + _dump(body.get(key, 1)) + (b", " if body else b"") + raw[1:]
            return Case(what, op, dup, "invalid", target)
        if what == "deep-body":
            depth = rng.choice([100, 1000, 100_000])
            raw = rng.choice([b'{"a": ' * depth + b"1" + b"}" * depth, b"[" * depth + b"]" * depth])
            return Case(what, op, raw, "invalid", target)
        if what == "target":
            bad = rng.choice([None, "", "RekognitionService", PREFIX, PREFIX + op.lower(), PREFIX + "NotAnOperation",
                              "AWSRekognition." + op, op, PREFIX + op + "x", PREFIX + "../" + op])
            return Case(what, None, _dump(body), "invalid", bad)
        if what == "method-path":
            method, path = rng.choice([("GET", "/"), ("PUT", "/"), ("DELETE", "/"), ("PATCH", "/"), ("POST", "/x"),
                                       ("POST", "/health"), ("POST", "/2016-06-27/collections"), ("GET", "/nope")])
            return Case(what, None, _dump(body), "invalid", target, method=method, path=path)
        ctype = rng.choice([None, "application/json", "text/plain", "application/x-www-form-urlencoded",
                            "application/x-amz-json-1.0", "multipart/form-data; boundary=x"])
        return Case(what, op, _dump(body), "any", target, ctype)

    def required(self, op: str) -> list[str]:
        shape = self.model["operations"][op].get("input", {}).get("shape")
        return list(self.shapes[shape].get("required", [])) if shape else []


def _matches(pattern: str | None, text: str) -> bool | None:
    """Whether text matches the model's pattern; None where Python cannot compile it (Java's \\p{L})."""
    if not pattern:
        return True
    try:
        return re.fullmatch(pattern, text) is not None
    except re.error:
        return None


def _dump(value: Any) -> bytes:
    return json.dumps(value).encode()


# -- sending and judging ---------------------------------------------------------------------------
@dataclass
class Report:
    counts: Counter[str] = field(default_factory=Counter)  # outcome -> cases
    kinds: Counter[str] = field(default_factory=Counter)  # case kind -> cases
    codes: Counter[str] = field(default_factory=Counter)  # status/__type -> cases
    failed: Counter[str] = field(default_factory=Counter)  # "outcome: case kind" -> cases
    examples: dict[str, list[str]] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def bugs(self) -> int:
        return self.total - self.counts["ok"]

    def table(self) -> str:
        rows = [f"| {o} | {self.counts[o]} |" for o in OUTCOMES]
        return "| outcome | cases |\n|---|---|\n" + "\n".join(rows) + f"\n| **total** | {self.total} |\n"


def signed_headers(url: str, key_id: str, secret: str, case: Case) -> dict[str, str]:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    headers: dict[str, str] = {}
    if case.target is not None:
        headers["X-Amz-Target"] = case.target
    if case.content_type is not None:
        headers["Content-Type"] = case.content_type
    request = AWSRequest(method=case.method, url=url.rstrip("/") + case.path, data=case.body, headers=headers)
    SigV4Auth(Credentials(key_id, secret), "rekognition", "us-east-1").add_auth(request)
    return dict(request.headers.items())


def allowed_codes(case: Case, model: dict[str, Any], implemented: set[str]) -> set[str]:
    codes = set(COMMON_ERRORS)
    if case.operation is not None:
        codes |= {e["shape"] for e in model["operations"][case.operation].get("errors", [])}
        if case.operation not in implemented:
            codes.add(UNSUPPORTED)
    return codes


def judge(case: Case, status: int, headers: Any, body: bytes, allowed: set[str]) -> tuple[str, str]:
    """(outcome, code) of one answer."""
    if status >= 500:
        return OUTCOMES[1], f"{status}"
    try:
        doc = json.loads(body)
    except ValueError:
        doc = None
    well_formed = (isinstance(doc, dict) and headers.get("content-type", "").startswith(JSON_11)
                   and bool(headers.get("x-amzn-requestid")))
    if status == 200:
        if not well_formed:
            return OUTCOMES[2], "200"
        return (OUTCOMES[4] if case.expect == "invalid" else OUTCOMES[0]), "200"
    if not (well_formed and isinstance(doc.get("__type"), str) and isinstance(doc.get("message"), str)):
        return OUTCOMES[2], f"{status}"
    code = doc["__type"].rsplit("#", 1)[-1]
    return (OUTCOMES[0] if code in allowed else OUTCOMES[3]), code


def run(url: str, key_id: str, secret: str, cases: int, seed: int, *, deadline: float | None = None) -> Report:
    """Send ``cases`` generated requests (stopping early past ``deadline``, a time.monotonic() value)."""
    import httpx

    from clearsight.server.protocol import service_model

    implemented = set(httpx.get(url + "/health", timeout=30).json()["operations"])
    gen = Generator(seed, implemented)
    report = Report()
    started = time.monotonic()
    with httpx.Client(base_url=url, timeout=120) as client:
        for case in gen.cases(cases):
            if deadline is not None and time.monotonic() > deadline:
                break
            headers = signed_headers(url, key_id, secret, case)
            try:
                r = client.request(case.method, case.path, content=case.body, headers=headers)
            except httpx.TransportError as exc:  # the server dropped the connection: not an AWS answer
                report.counts[OUTCOMES[2]] += 1
                report.examples.setdefault(OUTCOMES[2], []).append(f"{case.operation} {case.kind}: {exc!r}")
                continue
            outcome, code = judge(case, r.status_code, r.headers, r.content, allowed_codes(case, service_model(),
                                                                                          implemented))
            report.counts[outcome] += 1
            report.kinds[case.kind] += 1
            report.codes[code] += 1
            if outcome != OUTCOMES[0]:
                report.failed[f"{outcome}: {case.kind}"] += 1
                shown = case.body[:160].decode("utf-8", "replace")
                report.examples.setdefault(outcome, []).append(
                    f"{case.operation or case.target!r} {case.kind}: {r.status_code} {r.content[:200]!r} <- {shown}")
    report.seconds = time.monotonic() - started
    return report


def prepare(data_dir: Path) -> None:
    """The bucket folder the generated S3Object names point into."""
    bucket = data_dir / "s3" / BUCKET
    bucket.mkdir(parents=True, exist_ok=True)
    if FACE.is_file():
        (bucket / "face.jpg").write_bytes(FACE.read_bytes())


def seed_collection(url: str, key_id: str, secret: str) -> None:
    """A collection named "fuzz" so that valid requests reach past ResourceNotFoundException."""
    import httpx

    case = Case("setup", "CreateCollection", _dump({"CollectionId": "fuzz"}), target=PREFIX + "CreateCollection")
    httpx.post(url + "/", content=case.body, headers=signed_headers(url, key_id, secret, case), timeout=60)


def serve(data_dir: Path) -> tuple[subprocess.Popen[bytes], str, str, str]:
    proc, url, key = start_server(data_dir, key_name="fuzz")
    return proc, url, key["AccessKeyId"], key["SecretAccessKey"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=12_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--url")
    parser.add_argument("--key-id")
    parser.add_argument("--secret")
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    parser.add_argument("--examples", type=int, default=3, help="failing cases to print per outcome")
    args = parser.parse_args()
    proc = None
    with tempfile.TemporaryDirectory(prefix="clearsight-fuzz-") as tmp:
        if args.url:
            url, key_id, secret = args.url, args.key_id, args.secret
        else:
            prepare(Path(tmp))
            proc, url, key_id, secret = serve(Path(tmp))
        try:
            seed_collection(url, key_id, secret)
            report = run(url, key_id, secret, args.cases, args.seed)
        finally:
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=60)
    print(report.table())
    print(f"{report.total} cases in {report.seconds:.0f} s; by kind: {dict(sorted(report.kinds.items()))}")
    print(f"answers: {dict(report.codes.most_common())}")
    print(f"failures by kind: {dict(report.failed.most_common())}")
    for outcome, examples in report.examples.items():
        print(f"\n{outcome} ({len(examples)}):")
        for line in examples[: args.examples]:
            print("  ", line)
    if not args.no_write:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from _report import machine, write_section

        kinds = ", ".join(f"{k} {n}" for k, n in sorted(report.kinds.items()))
        write_section("fuzz", (
            "## Protocol fuzzing\n\n"
            f"Machine: {machine()}. Script: `bench/fuzz.py --cases {args.cases} --seed {args.seed}` against "
            "`clearsight serve --workers 2`, every request signed with SigV4 (so it reaches past authentication). "
            "Requests are generated from botocore's Rekognition model: valid ones and mutations of them "
            "(missing required members, wrong JSON types, null, out-of-range and 64-bit-overflowing numbers, "
            "NaN/Infinity, 1.0 for integers, too long/short strings and lists, bad enums and patterns, unknown "
            "members, NUL and lone surrogates, invalid base64, random bytes as images, deep nesting), and "
            "protocol-level ones (non-object, empty, non-JSON, non-UTF-8 and UTF-16 bodies, duplicate keys, "
            "wrong or missing X-Amz-Target, other paths and methods, other Content-Types). The oracle: 200 or an "
            "AWS JSON error "
            "(`__type`, `message`, application/x-amz-json-1.1, x-amzn-RequestId); never 500; an error code the "
            "model lists for the operation or one every AWS JSON service may answer; an invalid request never "
            f"answers 200.\n\n{report.table()}\n"
            f"Before the fixes (commit 0660e2d, same {args.cases} cases, seed 1): {BEFORE}.\n\n"
            f"{report.total} cases in {report.seconds:.0f} s. Cases by kind: {kinds}.\n"))
    sys.exit(1 if report.bugs() else 0)


if __name__ == "__main__":
    main()
