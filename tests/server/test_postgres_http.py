"""The boto3 sequence of test_boto3.py against a server whose storage_url is PostgreSQL (a real
server from tests/pg.py): faces, users, the audit chain and the access key live there, nothing in
a clearsight.db, and `clearsight erase` / `audit verify` work on it from the CLI beside the server."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..pg import fresh_url
from .conftest import Server, clearsight, start_server
from .test_boto3 import img
from .test_boto3 import test_collections_faces_users as boto3_sequence


@pytest.fixture(scope="module")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    url = fresh_url()
    with start_server(tmp_path_factory.mktemp("pg-server-data"), env={"CLEARSIGHT_STORAGE_URL": url}) as running:
        yield running, url


def test_the_boto3_sequence_runs_on_postgres(pg_server: tuple[Server, str]) -> None:
    server, url = pg_server
    boto3_sequence(server)
    import psycopg

    with psycopg.connect(url) as conn:
        audit = conn.execute("SELECT count(*) FROM audit").fetchone()
        keys = conn.execute("SELECT count(*) FROM access_keys").fetchone()
        receipts = conn.execute("SELECT count(*) FROM erasures WHERE completed IS NOT NULL").fetchone()
    assert audit and audit[0] > 10 and keys and keys[0] == 1 and receipts and receipts[0] == 2
    assert not (server.data_dir / "clearsight.db").exists()


def test_erase_and_audit_verify_from_the_cli_beside_the_server(pg_server: tuple[Server, str]) -> None:
    server, url = pg_server
    rk = server.client()
    rk.create_collection(CollectionId="cli")
    face = rk.index_faces(CollectionId="cli", Image={"Bytes": img("faces", "face_recognition", "obama.jpg")},
                          ExternalImageId="obama")["FaceRecords"][0]["Face"]["FaceId"]
    assert rk.delete_faces(CollectionId="cli", FaceIds=[face])["DeletedFaces"] == [face]
    import psycopg

    with psycopg.connect(url) as conn:  # erased before the response (a small database: erase_sync_bytes)
        pending = conn.execute("SELECT count(*) FROM erasures WHERE completed IS NULL").fetchone()
    assert pending and pending[0] == 0
    env = dict(os.environ, CLEARSIGHT_STORAGE_URL=url, CLEARSIGHT_DATA_DIR=str(server.data_dir))
    erased = clearsight("erase", "--json", "--data-dir", str(server.data_dir), env=env)
    assert erased.returncode == 0 and json.loads(erased.stdout)["ErasureComplete"], erased.stderr
    verified = clearsight("audit", "verify", "--json", "--data-dir", str(server.data_dir), env=env)
    assert verified.returncode == 0 and json.loads(verified.stdout)["Intact"], verified.stdout + verified.stderr
    assert not Path(server.data_dir / "clearsight.db").exists()
