"""Shared fixtures. Real data comes from $CLEARSIGHT_DATA (default ../shared/data); tests that
need it skip with the reason when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
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
