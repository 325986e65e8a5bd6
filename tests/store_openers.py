"""Opening one durable store again and again, for tests parametrized by its kind."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from livechat_core import SqliteStore


def store_opener(
    request: pytest.FixtureRequest, tmp_path: Path, kind: str, file_name: str
) -> Callable[[], Any]:
    """A function that opens the same store each call (a new object on one SQLite file
    named ``file_name``, or on the test's PostgreSQL database)."""
    if kind == "sqlite":
        path = tmp_path / file_name
        return lambda: SqliteStore(path)
    from livechat_core import PostgresStore

    dsn = request.getfixturevalue("postgres_dsn")
    return lambda: PostgresStore(dsn)
