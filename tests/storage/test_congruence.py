"""Every storage backend gives the same answers: one operation sequence run through Collections and
Users over each backend, compared answer by answer.

A backend joins by adding a factory to BACKENDS (the PostgreSQL one starts a real server, and
skips without one: tests/pg.py). Faces come from fixed vectors (a stand-in for the face models), so answers
depend only on the storage. Generated ids (face, image, receipt) come from a seeded uuid4, because
their order decides listings; they are also renamed by order of appearance (with their audit
pseudonyms) so a backend that made its own ids could join; timestamps are masked.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from clearsight.collections.service import Collections
from clearsight.collections.users import Users
from clearsight.errors import ClearSightError
from clearsight.faces import Face, Probe
from clearsight.policy.context import Caller, acting_as
from clearsight.settings import Settings
from clearsight.storage.base import JobRow, ProcessorRow, Store
from clearsight.storage.memory import MemoryStore
from clearsight.storage.sqlite import SqliteStore

from ..pg import fresh_url


def postgres(data_dir: Path) -> Store:
    """A PostgresStore on a fresh database of a real server (skips without one: tests/pg.py)."""
    url = fresh_url()
    from clearsight.storage.postgres import PostgresStore

    return PostgresStore(url)

AUDIT_KEY = "5a" * 32
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
TIMES = {"time", "CreationTimestamp", "RequestedAt", "CompletedAt"}
LONG_ID = "L" * 255  # the longest CollectionId the model allows

BACKENDS: dict[str, Callable[[Path], Store]] = {
    "sqlite": lambda data_dir: SqliteStore(data_dir / "clearsight.db"),
    "memory": lambda data_dir: MemoryStore(),
    "postgres": postgres,
}


class FixedFaces:
    """The face pipeline replaced by fixed vectors: an image is a name, its faces are IMAGES[name]."""

    def __init__(self, images: dict[str, list[np.ndarray]]) -> None:
        self.images = images

    def detect(self, rgb: Any) -> list[Face]:
        return [Face(np.array([10 + 30 * i, 10, 30 + 30 * i, 40], np.float32), 0.99, np.zeros((5, 2), np.float32),
                     embedding=v) for i, v in enumerate(self.images[rgb])]

    def face_detail(self, rgb: Any, face: Face, attributes: str) -> dict[str, Any]:
        return {"BoundingBox": {"Left": float(face.box[0]) / 200, "Top": 0.05, "Width": 0.1, "Height": 0.15},
                "Confidence": 99.0}

    def embed(self, rgb: Any, faces: list[Face]) -> None:
        pass

    def probe(self, img: Any, quality_filter: str | None, *, what: str = "image", others: bool = True) -> Probe:
        faces = self.detect(img.rgb)
        return Probe(faces[0], self.face_detail(img.rgb, faces[0], "DEFAULT"), faces[1:] if others else [])


class FixedEngine:
    """What Collections needs of the Engine, with the real calibration and fixed faces."""

    def __init__(self, engine: Any, images: dict[str, list[np.ndarray]]) -> None:
        self.calibration = engine.calibration
        self.model_version = engine.model_version
        self.settings = Settings.load(audit_key=AUDIT_KEY)
        self.faces = FixedFaces(images)

    def decode(self, image: Any) -> Any:
        return SimpleNamespace(rgb=image, width=200, height=200, sha256=hashlib.sha256(image.encode()).hexdigest())


def vectors(dimension: int) -> dict[str, list[np.ndarray]]:
    rng = np.random.default_rng(7)

    def unit(x: np.ndarray) -> np.ndarray:
        return (x / np.linalg.norm(x)).astype(np.float32)

    a, b, c = (unit(rng.standard_normal(dimension)) for _ in range(3))

    def near(x: np.ndarray, noise: float) -> np.ndarray:
        return unit(x + noise * unit(rng.standard_normal(dimension)))

    return {"a1": [near(a, 0.2)], "a2": [near(a, 0.25)], "a3": [near(a, 0.3)], "b1": [near(b, 0.2)],
            "b2": [near(b, 0.2)], "group": [near(c, 0.2), near(b, 0.3)], "c2": [near(c, 0.25)]}


def sequence(c: Collections, u: Users) -> Iterator[tuple[str, Any]]:
    """The operations, each answer (or error) in order."""

    def call(name: str, fn: Callable[..., Any], **kwargs: Any) -> tuple[str, Any]:
        try:
            return name, fn(**kwargs)
        except ClearSightError as exc:
            return name, {"error": exc.code, "type": type(exc).__name__, "message": exc.message}

    yield call("create alpha", c.create_collection, collection_id="alpha")
    yield call("create beta", c.create_collection, collection_id="beta", tags={"team": "x"})
    yield call("create long", c.create_collection, collection_id=LONG_ID)
    yield call("create alpha again", c.create_collection, collection_id="alpha")
    for cid, image, ext in [("alpha", "a1", "a1"), ("alpha", "a2", None), ("alpha", "b1", "b1"),
                            ("alpha", "group", "g"), ("beta", "b2", None), (LONG_ID, "c2", "c2"),
                            ("nope", "a1", None)]:
        yield call(f"index {image} into {cid[:8]}", c.index_faces, collection_id=cid, image=image,
                   external_image_id=ext, quality_filter="NONE")
    token = None
    while True:
        name, page = call("list collections", c.list_collections, max_results=1, next_token=token)
        yield name, page
        token = page.get("NextToken")
        if token is None:
            break
    token = None
    while True:
        name, page = call("list faces", c.list_faces, collection_id="alpha", max_results=2, next_token=token)
        yield name, page
        token = page.get("NextToken")
        if token is None:
            break
    faces = {f["ExternalImageId"]: f["FaceId"] for f in c.list_faces(collection_id="alpha")["Faces"]
             if "ExternalImageId" in f}
    yield from jobs(c.store, faces)
    yield from processors(c.store)
    yield call("describe alpha", c.describe_collection, collection_id="alpha")
    yield call("search a1", c.search_faces, collection_id="alpha", face_id=faces["a1"], face_match_threshold=50)
    yield call("search by a3", c.search_faces_by_image, collection_id="alpha", image="a3", face_match_threshold=50)
    yield call("search by c2 in long", c.search_faces_by_image, collection_id=LONG_ID, image="c2")
    yield call("create user", u.create_user, collection_id="alpha", user_id="ann")
    yield call("create user again", u.create_user, collection_id="alpha", user_id="ann")
    yield call("create user bob", u.create_user, collection_id="alpha", user_id="bob")
    a_faces = [f["FaceId"] for f in c.list_faces(collection_id="alpha")["Faces"] if f.get("ExternalImageId") != "b1"
               and f.get("ExternalImageId") != "g"]
    yield call("associate ann", u.associate_faces, collection_id="alpha", user_id="ann", face_ids=a_faces)
    yield call("associate b1 to ann", u.associate_faces, collection_id="alpha", user_id="ann",
               face_ids=[faces["b1"]], user_match_threshold=90)
    yield call("associate to ghost", u.associate_faces, collection_id="alpha", user_id="ghost",
               face_ids=[faces["b1"]])
    yield call("list users", u.list_users, collection_id="alpha", max_results=1)
    yield call("search users by ann", u.search_users, collection_id="alpha", face_id=faces["a1"],
               user_match_threshold=50)
    yield call("search users by a3", u.search_users_by_image, collection_id="alpha", image="a3",
               user_match_threshold=50)
    yield call("policy", lambda: asdict(c.set_policy("alpha", max_results=2, min_threshold=40)))
    yield call("search under policy", c.search_faces, collection_id="alpha", face_id=faces["a1"],
               face_match_threshold=30)
    yield call("delete faces", c.delete_faces, collection_id="alpha",
               face_ids=[faces["a1"], faces["b1"], "00000000-0000-4000-8000-000000000000"])
    yield call("disassociate", u.disassociate_faces, collection_id="alpha", user_id="ann", face_ids=[faces["a1"]])
    yield call("delete user", u.delete_user, collection_id="alpha", user_id="ann")
    yield call("delete user again", u.delete_user, collection_id="alpha", user_id="ann")
    yield call("delete a1", c.delete_faces, collection_id="alpha", face_ids=[faces["a1"]])
    yield call("faces after", c.list_faces, collection_id="alpha")
    yield call("delete beta", c.delete_collection, collection_id="beta")
    yield call("delete long", c.delete_collection, collection_id=LONG_ID)
    yield call("describe beta", c.describe_collection, collection_id="beta")
    yield call("collections left", c.list_collections)
    yield "audit verify", {k: v for k, v in asdict(c.audit.verify()).items() if k != "head"}
    yield "audit records", [{k: v for k, v in r.items() if k != "hash"} for r in c.audit.records()]
    yield "jobs after deletions", [job_row(j) for j in c.store.jobs()]
    yield "change log", [(op, cid[:8]) for _, cid, _, op in c.store.changes_since(0)]
    yield "token", (c.store.recall_token("k", "IndexFaces", "t1"),
                    c.store.remember_token("k", "IndexFaces", "t1", "sha-a", '{"ok": 1}'),
                    c.store.remember_token("k", "IndexFaces", "t1", "sha-b", '{"ok": 2}'),
                    c.store.recall_token("k", "IndexFaces", "t1"), c.store.recall_token("k", "IndexFaces", "t2"))


def job_row(job: JobRow | None) -> dict[str, Any] | None:
    return None if job is None else {k: v for k, v in asdict(job).items() if k != "updated"}


def jobs(store: Store, faces: dict[str, str]) -> Iterator[tuple[str, Any]]:
    """Stored-video jobs: limits, owners, checkpoints, both result orders, the end, the scrub."""
    def job(job_id: str, collection: str | None) -> JobRow:
        return JobRow(job_id=job_id, kind="FaceSearch", status="IN_PROGRESS", request="{}", request_sha256="r",
                      collection_id=collection, caller="{}", metadata="{}", created=1.0, updated=1.0)

    def call(name: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[str, Any]:
        try:
            out = fn(*args, **kwargs)
            return name, job_row(out) if isinstance(out, JobRow) else out
        except ClearSightError as exc:
            return name, {"error": exc.code, "type": type(exc).__name__}

    yield call("create job", store.create_job, job("j1", "alpha"), max_active=2)
    yield call("create job again", store.create_job, replace(job("j1", "beta"), request_sha256="x"), max_active=2)
    yield call("create job 2", store.create_job, job("j2", None), max_active=2)
    yield call("create job over the limit", store.create_job, job("j3", None), max_active=2)
    yield call("claim", store.claim_job, "j1", "me", expected=None)
    yield call("claim taken", store.claim_job, "j1", "you", expected=None)
    yield call("checkpoint by another", store.checkpoint_job, "j1", "you", progress_ms=5, state="{}", results=[])
    rows = [(400, 1, '{"b": 1}'), (200, 0, '{"a": 0}'), (200, 1, '{"a": 1}')]
    yield call("checkpoint", store.checkpoint_job, "j1", "me", progress_ms=400, state='{"s": 1}', results=rows)
    yield call("checkpoint again", store.checkpoint_job, "j1", "me", progress_ms=400, state='{"s": 2}',
               results=rows[:1])
    yield call("results by time", store.job_results, "j1")
    yield call("results by index after", store.job_results, "j1", by_index=True, after=(0, 200), limit=2)
    match = [{"Similarity": 99.0, "Face": {"FaceId": faces[n], "UserId": "ann"}} for n in ("a1", "g")]
    summary = json.dumps({"CollectionId": "alpha", "Tracks": [{"Index": 0, "FaceMatches": match}]})
    yield call("finish", store.finish_job, "j1", status="SUCCEEDED", message=None, summary=summary, expires=50.0)
    yield call("finish 2", store.finish_job, "j2", status="FAILED", message="no", summary=None, expires=500.0)
    yield call("jobs in progress", lambda: [job_row(j) for j in store.jobs(status="IN_PROGRESS")])
    yield call("job", lambda: job_row(store.job("j1")))
    yield call("purge", store.purge_jobs, 100.0)
    yield call("create job 4", store.create_job, replace(job("j4", "alpha"), status="SUCCEEDED", summary=summary),
               max_active=1)


def processors(store: Store) -> Iterator[tuple[str, Any]]:
    """Stream processors: names, the limit, compare-and-set updates, deletion."""
    def row(name: str) -> ProcessorRow:
        return ProcessorRow(name=name, arn=f"arn:aws:rekognition:us-east-1:111122223333:streamprocessor/{name}",
                            status="STOPPED", request="{}", collection_id="alpha", caller="{}", created=1.0,
                            updated=1.0)

    def shown(p: ProcessorRow | None) -> dict[str, Any] | None:
        return None if p is None else {k: v for k, v in asdict(p).items() if k != "updated"}

    def call(name: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[str, Any]:
        try:
            return name, fn(*args, **kwargs)
        except ClearSightError as exc:
            return name, {"error": exc.code, "type": type(exc).__name__}

    yield call("create processor", store.create_processor, row("cam-b"), max_processors=2)
    yield call("create processor again", store.create_processor, row("cam-b"), max_processors=2)
    yield call("create processor a", store.create_processor, row("cam-a"), max_processors=2)
    yield call("create processor over the limit", store.create_processor, row("cam-c"), max_processors=2)
    yield call("start", store.update_processor, "cam-a", {"status": "STARTING"}, expected={"status": "STOPPED"})
    yield call("start again", store.update_processor, "cam-a", {"status": "STARTING"}, expected={"status": "STOPPED"})
    yield call("claim", store.update_processor, "cam-a", {"owner": "me", "status": "RUNNING"},
               expected={"owner": None, "status": "STARTING"})
    yield call("claim taken", store.update_processor, "cam-a", {"owner": "you"}, expected={"owner": None})
    yield call("update ghost", store.update_processor, "ghost", {"status": "STOPPED"})
    yield call("delete running", store.delete_processor, "cam-a", expected={"status": "STOPPED"})
    yield call("processors", lambda: [shown(p) for p in store.processors()])
    yield call("processors after", lambda: [p.name for p in store.processors(after="cam-a", limit=5)])
    yield call("delete", store.delete_processor, "cam-b")
    yield call("processor gone", lambda: shown(store.processor("cam-b")))
    yield call("processor", lambda: shown(store.processor("cam-a")))


def normalised(transcript: list[tuple[str, Any]], pseudonym: Callable[[str], str]) -> list[tuple[str, Any]]:
    names: dict[str, str] = {}

    def rename(text: str) -> str:
        for found in UUID.findall(text):
            if found not in names:
                names[found] = f"<id{len(names)}>"
                names[pseudonym(found)] = f"<pseudonym{len(names) - 1}>"
        for value, name in names.items():
            text = text.replace(value, name)
        return text

    def walk(x: Any, key: str = "") -> Any:
        if key in TIMES and isinstance(x, (int, float)):
            return "<time>"
        if isinstance(x, dict):
            return {k: walk(v, k) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [walk(v) for v in x]
        if isinstance(x, str):
            return rename(x)
        return x

    return [(step, walk(answer)) for step, answer in transcript]


@pytest.fixture(params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def run(engine: Any, data_dir: Path, backend: str, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    ids = random.Random(1)
    monkeypatch.setattr(uuid, "uuid4", lambda: uuid.UUID(int=ids.getrandbits(128), version=4))
    data_dir.mkdir()
    (data_dir / "token.key").write_bytes(b"k" * 32)  # the same pagination tokens on every backend
    fixed = FixedEngine(engine, vectors(engine.calibration.recipe.dimension))
    c = Collections(data_dir, settings=fixed.settings, faces=fixed.faces, calibration=fixed.calibration,  # type: ignore[arg-type]
                    decode=fixed.decode, store=BACKENDS[backend](data_dir))
    try:
        with acting_as(Caller(request_id="request-1")):
            transcript = list(sequence(c, Users(c)))
        return normalised(transcript, c.audit.pseudonym)
    finally:
        c.close()


@pytest.fixture(scope="module")
def reference(engine: Any, tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, Any]]:
    """The SQLite backend's answers, which every backend must give."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        return run(engine, tmp_path_factory.mktemp("reference") / "data", "sqlite", monkeypatch)


def test_the_sequence_means_something(reference: list[tuple[str, Any]]) -> None:
    answers = dict(reference)
    assert answers["create alpha again"]["type"] == "ResourceAlreadyExistsException"
    assert answers["create user again"]["type"] == "ConflictException"
    assert answers["describe beta"]["type"] == "ResourceNotFoundException"
    assert answers["index a1 into nope"]["type"] == "ResourceNotFoundException"
    assert answers["create long"]["StatusCode"] == 200 and answers["delete long"]["StatusCode"] == 200
    assert [m["Face"]["ExternalImageId"] for m in answers["search by c2 in long"]["FaceMatches"]] == ["c2"]
    assert len(answers["search by a3"]["FaceMatches"]) == 2
    assert answers["associate b1 to ann"]["UnsuccessfulFaceAssociations"][0]["Reasons"] == ["LOW_MATCH_CONFIDENCE"]
    assert answers["audit verify"]["ok"] and answers["audit verify"]["records"] > 20
    assert answers["collections left"]["CollectionIds"] == ["alpha"]
    assert answers["create job again"] == answers["create job"], "an existing job is returned, not replaced"
    assert answers["create job over the limit"]["type"] == "LimitExceededException"
    assert answers["claim taken"] is False and answers["checkpoint by another"] is False
    assert [r[:2] for r in answers["results by time"]] == [[200, 0], [200, 1], [400, 1]]
    assert answers["purge"] == ["j1"]
    assert answers["create processor again"]["type"] == "ResourceInUseException"
    assert answers["create processor over the limit"]["type"] == "LimitExceededException"
    assert answers["start"] and not answers["start again"] and answers["claim"] and not answers["claim taken"]
    assert answers["delete running"] is False and answers["delete"] is True and answers["processor gone"] is None
    assert answers["processor"]["owner"] == "me" and answers["processor"]["status"] == "RUNNING"
    scrubbed = json.loads(answers["jobs after deletions"][1]["summary"])["Tracks"][0]
    assert len(scrubbed["FaceMatches"]) == 1 and "UserId" not in scrubbed["FaceMatches"][0]["Face"]
    assert answers["token"][0] is None and answers["token"][1] == answers["token"][2] == answers["token"][3]


def test_every_backend_answers_like_sqlite(engine: Any, tmp_path: Path, backend: str,
                                           reference: list[tuple[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    got = run(engine, tmp_path / "data", backend, monkeypatch)
    assert [step for step, _ in got] == [step for step, _ in reference]
    for (step, answer), (_, expected) in zip(got, reference):
        assert answer == expected, step
