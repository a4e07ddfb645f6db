"""Shared fixtures. Real data comes from $CLEARSIGHT_DATA (default ../shared/data); tests that
need it skip with the reason when it is absent."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# never write audit records or collections into the developer's real data directory
os.environ["CLEARSIGHT_DATA_DIR"] = tempfile.mkdtemp(prefix="clearsight-tests-")
DATA = Path(os.environ.get("CLEARSIGHT_DATA", ROOT.parent / "shared" / "data")).resolve()


def data_path(*parts: str) -> Path:
    path = DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real test data not found: {path} (set CLEARSIGHT_DATA to the shared data folder)")
    return path


@pytest.fixture(scope="session")
def data() -> Path:
    return data_path()


@pytest.fixture(scope="session")
def engine():  # type: ignore[no-untyped-def]
    from clearsight import Engine

    return Engine()


@pytest.fixture()
def collections(engine, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Collections over a fresh data directory, sharing the session engine's models."""
    c = engine.open_collections(tmp_path)
    yield c
    c.close()


@pytest.fixture()
def users(collections):  # type: ignore[no-untyped-def]
    from clearsight.collections.users import Users

    return Users(collections)
