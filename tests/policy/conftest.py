from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from clearsight.collections.service import Collections
from clearsight.collections.users import Users


@pytest.fixture()
def collections(engine, tmp_path: Path) -> Iterator[Collections]:  # type: ignore[no-untyped-def]
    c = Collections(engine, tmp_path)
    yield c
    c.close()


@pytest.fixture()
def users(collections: Collections) -> Users:
    return Users(collections)
