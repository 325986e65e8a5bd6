"""A pytest plugin with fixtures for testing code built on livechat-core.

Installed with the package and loaded by pytest automatically (an entry point in the
``pytest11`` group); without the entry point, enable it with
``pytest -p livechat_core.testing.pytest_plugin`` or ``pytest_plugins = [...]`` in your
root ``conftest.py``.

Fixtures:

``livechat_clock``
    A :class:`~livechat_core.testing.clock.ManualClock` at 2026-01-01 09:00 UTC: callable,
    with ``.now``, ``.advance(seconds)`` and ``.set(now)``.
``livechat_desk``
    A :class:`~livechat_core.Desk` on a fresh :class:`~livechat_core.MemoryStore`, on
    ``livechat_clock``.
``livechat_sqlite_desk``
    The same on a fresh SQLite file in ``tmp_path`` (closed after the test).
``livechat_postgres_desk``
    The same on a fresh PostgreSQL database, created on the server named by the
    ``LIVECHAT_TEST_POSTGRES`` environment variable (a libpq DSN of a role that may create
    databases) and dropped after the test; skipped when the variable is not set.
``livechat_store_desk``
    Parametrised: the test runs once on each store, ``memory``, ``sqlite`` and
    ``postgres`` (the last skipped without ``LIVECHAT_TEST_POSTGRES``).

The plugin imports livechat-core only when a fixture is used, so it costs nothing in test
runs that do not use it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .. import Desk
    from .clock import ManualClock

POSTGRES_ENV = "LIVECHAT_TEST_POSTGRES"
"""The environment variable naming the PostgreSQL server for ``livechat_postgres_desk``."""

STORES = ("memory", "sqlite", "postgres")


@pytest.fixture
def livechat_clock() -> ManualClock:
    """A clock the test moves by hand (``.advance(seconds)``), starting 2026-01-01 09:00 UTC."""
    from .clock import ManualClock

    return ManualClock()


@pytest.fixture
def livechat_desk(livechat_clock: ManualClock) -> Desk:
    """A desk on a fresh in-memory store, on ``livechat_clock``."""
    from .. import Desk

    return Desk(clock=livechat_clock)


@pytest.fixture
def livechat_sqlite_desk(livechat_clock: ManualClock, tmp_path: Path) -> Iterator[Desk]:
    """A desk on a fresh SQLite file in ``tmp_path``, on ``livechat_clock``."""
    from .. import Desk, SqliteStore

    store = SqliteStore(tmp_path / "livechat.db")
    try:
        yield Desk(store=store, clock=livechat_clock)
    finally:
        store.close()


@pytest.fixture
def livechat_postgres_desk(livechat_clock: ManualClock) -> Iterator[Desk]:
    """A desk on a fresh PostgreSQL database (``LIVECHAT_TEST_POSTGRES``), on ``livechat_clock``."""
    yield from _postgres_desk(livechat_clock)


@pytest.fixture(params=STORES)
def livechat_store_desk(
    request: pytest.FixtureRequest, livechat_clock: ManualClock, tmp_path: Path
) -> Iterator[Desk]:
    """A desk on each store in turn: the test runs once per store."""
    from .. import Desk, SqliteStore

    if request.param == "memory":
        yield Desk(clock=livechat_clock)
    elif request.param == "sqlite":
        store = SqliteStore(tmp_path / "livechat.db")
        try:
            yield Desk(store=store, clock=livechat_clock)
        finally:
            store.close()
    else:
        yield from _postgres_desk(livechat_clock)


def _postgres_desk(clock: ManualClock) -> Iterator[Desk]:
    server = os.environ.get(POSTGRES_ENV)
    if not server:
        pytest.skip(f"{POSTGRES_ENV} is not set: no PostgreSQL server to test on")
    psycopg = pytest.importorskip("psycopg", reason="PostgreSQL tests need livechat-core[postgres]")
    from psycopg import sql
    from psycopg.conninfo import make_conninfo

    from .. import Desk, PostgresStore

    name = f"livechat_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    store = None
    try:
        store = PostgresStore(make_conninfo(server, dbname=name))
        yield Desk(store=store, clock=clock)
    finally:
        if store is not None:
            store.close()
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
