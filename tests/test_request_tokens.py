"""ClientRequestToken as Rekognition honours it: a retried write gets its first answer again."""

from __future__ import annotations

import pytest

from clearsight import Engine, operations
from clearsight.errors import ConflictException, IdempotentParameterMismatchException
from clearsight.policy.context import Caller


def test_a_retried_create_and_delete_user_answer_as_the_first_time(engine: Engine) -> None:
    me = Caller(access_key_id="retry-tests")
    operations.dispatch(engine, me, "CreateCollection", {"CollectionId": "tokens"})
    create = {"CollectionId": "tokens", "UserId": "ana", "ClientRequestToken": "t-create-1"}
    assert operations.dispatch(engine, me, "CreateUser", create) == {}
    assert operations.dispatch(engine, me, "CreateUser", create) == {}  # the lost-response retry
    with pytest.raises(ConflictException):  # a new request (new token) for the same user
        operations.dispatch(engine, me, "CreateUser", {**create, "ClientRequestToken": "t-create-2"})
    with pytest.raises(IdempotentParameterMismatchException):
        operations.dispatch(engine, me, "CreateUser", {**create, "UserId": "bo"})
    other = Caller(access_key_id="someone-else")  # tokens are per access key
    with pytest.raises(ConflictException):
        operations.dispatch(engine, other, "CreateUser", create)
    delete = {"CollectionId": "tokens", "UserId": "ana", "ClientRequestToken": "t-delete-1"}
    assert operations.dispatch(engine, me, "DeleteUser", delete) == {}
    assert operations.dispatch(engine, me, "DeleteUser", delete) == {}
