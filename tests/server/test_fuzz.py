"""Protocol fuzzing: bench/fuzz.py's seeded generator at CI size against the real server, and the JSON
edge cases it found, pinned one by one in-process."""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from clearsight.errors import ClearSightError, InvalidParameterException, SerializationException
from clearsight.server.protocol import Validator, parse_body

from .conftest import Server

CI_CASES = 2500  # about 20 s on 2 shared cores; bench/fuzz.py runs 12,000
CI_SECONDS = 75  # a hard stop, well above the expected time


def load_fuzz() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "bench" / "fuzz.py"
    spec = importlib.util.spec_from_file_location("clearsight_bench_fuzz", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def test_fuzz_server_answers_every_request_as_aws_would(server: Server) -> None:
    fuzz = load_fuzz()
    bucket = server.s3_root / fuzz.BUCKET
    bucket.mkdir(parents=True, exist_ok=True)
    if fuzz.FACE.is_file():
        (bucket / "face.jpg").write_bytes(fuzz.FACE.read_bytes())
    fuzz.seed_collection(server.url, server.key_id, server.secret)
    report = fuzz.run(server.url, server.key_id, server.secret, CI_CASES, seed=7,
                      deadline=time.monotonic() + CI_SECONDS)
    assert report.total >= CI_CASES // 2, f"only {report.total} cases ran in {CI_SECONDS} s"
    failures = "\n".join(f"{outcome}: {line}" for outcome, lines in report.examples.items() for line in lines[:5])
    assert report.bugs() == 0, f"\n{report.table()}\n{failures}"
    assert report.kinds["valid"] > 100 and report.codes["200"] > 50  # the valid requests do get through


def test_fuzz_generator_is_seeded_and_covers_every_operation() -> None:
    fuzz = load_fuzz()
    a = [(c.kind, c.body) for c in fuzz.Generator(3, {"DetectFaces"}).cases(300)]
    b = [(c.kind, c.body) for c in fuzz.Generator(3, {"DetectFaces"}).cases(300)]
    assert a == b
    gen = fuzz.Generator(3, set())
    for op in gen.operations:  # every operation's valid request passes the server's own validator
        Validator().request(op, parse_body(fuzz._dump(gen.request(op))))


def refused(body: bytes, operation: str = "CreateCollection") -> ClearSightError:
    with pytest.raises(ClearSightError) as exc:
        Validator().request(operation, parse_body(body))
    return exc.value


@pytest.mark.parametrize("body", [
    b'{"CollectionId": NaN}', b'{"MaxResults": Infinity}', b'{"MaxResults": -Infinity}',
    b'{"CollectionId": "a", "CollectionId": "b"}', b'{"CollectionId": "\xff"}', b"\xef\xbb\xbf{}",
    '{"CollectionId": "a"}'.encode("utf-16"), b"[]", b"null", b"1", b'"x"', b"{[", b'{"a": 1,}',
    b"[" * 100_000 + b"]" * 100_000, b'{"a": ' * 50_000 + b"1" + b"}" * 50_000,
    b'{"NextToken": "a\\ud800"}', b'{"MaxResults": 1e400}', b'{"MaxResults": 123456789012345678901234567890}',
    b'{"MaxResults": 1' + b"0" * 5000 + b"}",
])
def test_fuzz_bodies_aws_cannot_deserialize_are_serialization_exceptions(body: bytes) -> None:
    err = refused(body, "ListCollections")
    assert isinstance(err, SerializationException) and err.http_status == 400, err.message


@pytest.mark.parametrize(("body", "error"), [
    (b'{"CollectionId": "fuzz", "MaxFaces": 1.0}', SerializationException),  # a float for an integer
    (b'{"CollectionId": "fuzz", "MaxFaces": true}', SerializationException),
    (b'{"CollectionId": "fuzz", "MaxFaces": "5"}', SerializationException),
    (b'{"CollectionId": "fuzz", "MaxFaces": 4294967296}', SerializationException),  # beyond 32 bits
    (b'{"CollectionId": ["fuzz"]}', SerializationException),
    (b'{"CollectionId": "fu\\u0000zz"}', InvalidParameterException),
    (b'{"CollectionId": null}', InvalidParameterException),  # null is absent: the required member is missing
    (b'{"CollectionId": "fuzz", "Bogus": 1}', InvalidParameterException),
    (b'{"CollectionId": "bad id!"}', InvalidParameterException),
])
def test_fuzz_member_values(body: bytes, error: type[ClearSightError]) -> None:
    operation = "SearchFacesByImage" if b"MaxFaces" in body else "CreateCollection"
    if operation == "SearchFacesByImage":
        body = body[:-1] + b', "Image": {"Bytes": "AA=="}}'
    assert type(refused(body, operation)) is error


def test_fuzz_accepted_edge_cases() -> None:
    v = Validator()
    assert parse_body(b"") == {}
    params: dict[str, Any] = v.request("SearchFacesByImage", parse_body(
        b'{"CollectionId": "fuzz", "Image": {"Bytes": "AA=="}, "MaxFaces": 4, "FaceMatchThreshold": 80, '
        b'"QualityFilter": null}'))
    assert params["MaxFaces"] == 4 and params["FaceMatchThreshold"] == 80.0 and "QualityFilter" not in params
