"""Shared fixtures: a fresh PostgreSQL database per test for the store tests.

``LIVECHAT_TEST_POSTGRES`` is a libpq DSN of a server where the tests may create and drop
databases (``scripts/with-postgres.sh`` starts a throwaway one and sets it). Without it
the PostgreSQL tests are skipped locally, and fail when the ``CI`` variable is set: in CI
a missing server is a broken pipeline, not a reason to test less.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from hypothesis import settings

# In CI the property tests explore the same (many) examples on every run, so a red build
# always means a change broke something; locally, and with HYPOTHESIS_PROFILE=deep, they
# search afresh each time.
settings.register_profile("livechat-ci", derandomize=True, deadline=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("livechat-ci")

POSTGRES_ENV = "LIVECHAT_TEST_POSTGRES"


def postgres_server() -> str:
    """The server's DSN, or skip (fail in CI) when there is none."""
    dsn = os.environ.get(POSTGRES_ENV)
    if not dsn:
        if os.environ.get("CI"):
            pytest.fail(f"{POSTGRES_ENV} is not set; CI must run the PostgreSQL tests")
        pytest.skip(f"{POSTGRES_ENV} is not set (scripts/with-postgres.sh sets it)")
    return dsn


@pytest.fixture
def postgres_dsn() -> Iterator[str]:
    """The DSN of a new, empty database, dropped after the test."""
    server = postgres_server()
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import make_conninfo

    name = f"livechat_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_conninfo(server, dbname=name)
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
