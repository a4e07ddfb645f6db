"""The operation table is data: everything derived from it agrees with it and with botocore's model."""

from __future__ import annotations

import inspect
import operator
from pathlib import Path

import pytest

from clearsight import Engine, operations
from clearsight.operations import NOT_IMPLEMENTED, OPERATIONS, SCOPE_GROUPS, snake
from clearsight.policy.scopes import SCOPES
from clearsight.server.protocol import service_model

ROOT = Path(__file__).resolve().parent.parent


def test_every_botocore_operation_is_served_or_has_a_reason() -> None:
    model = set(service_model()["operations"])
    assert set(OPERATIONS) | set(NOT_IMPLEMENTED) == model
    assert not set(OPERATIONS) & set(NOT_IMPLEMENTED)
    assert all(len(reason) > 20 for reason in NOT_IMPLEMENTED.values())


def test_groups_are_scopes_and_every_operation_has_one() -> None:
    assert {op.group for op in OPERATIONS.values()} <= set(SCOPES)
    assert sorted(n for names in SCOPE_GROUPS.values() for n in names) == sorted(OPERATIONS)


@pytest.mark.parametrize("op", OPERATIONS.values(), ids=lambda o: o.name)
def test_declarations_match_the_model_and_the_engine(op: operations.Operation, engine: Engine) -> None:
    model = service_model()
    members = model["shapes"][model["operations"][op.name]["input"]["shape"]]["members"]
    assert set(op.images) == {m for m, spec in members.items() if spec["shape"] == "Image"}
    assert (op.collection is not None) == ("CollectionId" in members)
    method = operator.attrgetter(op.target)(engine)
    accepted = inspect.signature(method).parameters
    missing = [m for m in members if snake(m) not in accepted]
    assert missing == [], f"{op.name}: members refused as unsupported: {missing}"


def test_docs_table_is_generated_from_the_table() -> None:
    doc = (ROOT / "docs" / "http.md").read_text()
    assert operations.markdown_table() in doc, "regenerate the table in docs/http.md from operations.markdown_table()"


def test_unimplemented_operations_say_why(engine: Engine) -> None:
    from clearsight.errors import UnsupportedOperationException
    from clearsight.policy.context import Caller

    with pytest.raises(UnsupportedOperationException, match="public figures"):
        operations.dispatch(engine, Caller(), "RecognizeCelebrities", {})
    with pytest.raises(UnsupportedOperationException, match="not a Rekognition operation"):
        operations.dispatch(engine, Caller(), "FlyToTheMoon", {})


def test_dispatch_checks_scope_and_refuses_unknown_members(engine: Engine, tmp_path: Path) -> None:
    from clearsight.errors import AccessDeniedException, InvalidParameterException
    from clearsight.policy.context import Caller

    kiosk = Caller(access_key_id="kiosk", scopes=frozenset({"detect"}))
    with pytest.raises(AccessDeniedException):
        operations.dispatch(engine, kiosk, "ListCollections", {})
    with pytest.raises(InvalidParameterException, match="does not support"):
        operations.dispatch(engine, Caller(), "ListCollections", {"Bogus": 1})
    assert "CollectionIds" in operations.dispatch(engine, Caller(), "ListCollections", {})
