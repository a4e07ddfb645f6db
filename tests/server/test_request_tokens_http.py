"""ClientRequestToken through boto3: a retried write gets its first answer, a reused token with
other parameters is refused."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from ..conftest import data_path
from .conftest import Server


def test_boto3_retries_with_its_own_token(server: Server) -> None:
    rk = server.client()
    rk.create_collection(CollectionId="tokens-http")
    face = rk.index_faces(CollectionId="tokens-http", Image={"Bytes": data_path(
        "faces", "face_recognition", "obama.jpg").read_bytes()})["FaceRecords"][0]["Face"]["FaceId"]
    rk.create_user(CollectionId="tokens-http", UserId="u", ClientRequestToken="boto-1")
    assert rk.create_user(CollectionId="tokens-http", UserId="u", ClientRequestToken="boto-1")[
        "ResponseMetadata"]["HTTPStatusCode"] == 200
    first = rk.associate_faces(CollectionId="tokens-http", UserId="u", FaceIds=[face], ClientRequestToken="boto-2")
    again = rk.associate_faces(CollectionId="tokens-http", UserId="u", FaceIds=[face], ClientRequestToken="boto-2")
    assert first["AssociatedFaces"] == again["AssociatedFaces"] == [{"FaceId": face}]
    with pytest.raises(ClientError) as exc:
        rk.associate_faces(CollectionId="tokens-http", UserId="u", FaceIds=[face, face.replace(face[0], "0", 1)],
                           ClientRequestToken="boto-2")
    assert exc.value.response["Error"]["Code"] == "IdempotentParameterMismatchException"
    with pytest.raises(ClientError) as exc:  # without a token of its own, a second CreateUser is a conflict
        rk.create_user(CollectionId="tokens-http", UserId="u")
    assert exc.value.response["Error"]["Code"] == "ConflictException"
