"""A file that is not a healthy livechat-core store is refused with a clear error, and
left byte for byte as it was."""

from __future__ import annotations

import contextlib
import os
import pathlib
import sqlite3
from collections.abc import Callable

import pytest

from livechat_core import Desk, SchemaError, StoreError
from livechat_core.adapters.sqlite import APPLICATION_ID, SCHEMA_VERSION, SqliteStore


def _make_store_file(path: pathlib.Path, chats: int = 0) -> None:
    """A real store file with a queue, an agent and ``chats`` conversations, checkpointed."""
    with SqliteStore(path) as store:
        desk = Desk(store=store)
        desk.add_queue("support", ["Resolved"])
        desk.login("jana", "Jana Nováková", ["support"])
        for number in range(chats):
            desk.start_chat("support", f"Customer {number}", f"c{number}@example.com")
    assert not pathlib.Path(f"{path}-wal").exists() or os.path.getsize(f"{path}-wal") == 0


def _sql(path: pathlib.Path, *statements: str) -> None:
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as connection:
        for statement in statements:
            connection.execute(statement)
        if connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _refused(
    path: pathlib.Path, match: str, use: Callable[[SqliteStore], object] | None = None
) -> SchemaError:
    before = path.read_bytes()

    def open_and_use() -> None:
        store = SqliteStore(path)
        try:
            assert use is not None, "opening the file should have been refused"
            use(store)
        finally:
            store.close()

    with pytest.raises(SchemaError, match=match) as caught:
        open_and_use()
    assert path.read_bytes() == before, "the refused file was modified"
    assert caught.value.code == "schema_error"
    return caught.value


def test_a_file_that_is_not_a_database_is_refused(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "desk.db"
    path.write_bytes(b"This is not a database, just some notes.\n" * 200)
    error = _refused(path, "corrupt or not a database")
    assert isinstance(error.__cause__, sqlite3.DatabaseError)


def test_a_foreign_sqlite_database_is_refused(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "shop.db"
    _sql(
        path,
        "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)",
        "INSERT INTO customers (name) VALUES ('Karel')",
    )
    _refused(path, "not a livechat-core store")


def test_a_database_of_another_application_is_refused(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "other.db"
    _sql(path, "PRAGMA application_id = 1234", "PRAGMA user_version = 1")
    _refused(path, "not a livechat-core store")


def test_a_store_missing_a_table_is_refused(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "desk.db"
    _make_store_file(path)
    _sql(path, "DROP TABLE outbox")
    _refused(path, "lacks the tables \\['outbox'\\]")


def test_a_store_of_a_newer_schema_version_is_refused(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "desk.db"
    _make_store_file(path)
    _sql(path, f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    _refused(path, "newer than this library")


def test_a_damaged_schema_page_is_refused(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "desk.db"
    _make_store_file(path)
    data = bytearray(path.read_bytes())
    data[100:4096] = b"\xa5" * (4096 - 100)  # page 1 after the header: the schema table
    path.write_bytes(bytes(data))
    _refused(path, "corrupt or not a database")


def test_a_damaged_data_page_is_reported_when_read(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "desk.db"
    _make_store_file(path, chats=200)
    data = bytearray(path.read_bytes())
    page_size = 4096
    for page in range(2, len(data) // page_size):
        start = page * page_size
        data[start : start + 64] = b"\xff" * 64
    path.write_bytes(bytes(data))

    def read_everything(store: SqliteStore) -> object:
        desk = Desk(store=store)
        return [desk.conversation(i) for i in store.conversation_ids()]

    _refused(path, "corrupt or not a database", read_everything)


def test_an_older_store_is_migrated_forward(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "desk.db"
    _sql(path, f"PRAGMA application_id = {APPLICATION_ID}", "PRAGMA user_version = 0")
    with SqliteStore(path) as store:
        Desk(store=store).add_queue("support", ["Resolved"])
    with contextlib.closing(sqlite3.connect(path)) as connection:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_an_unwritable_location_is_a_store_error(tmp_path: pathlib.Path) -> None:
    with pytest.raises(StoreError) as caught:
        SqliteStore(tmp_path / "missing-directory" / "desk.db")
    assert isinstance(caught.value.__cause__, sqlite3.Error)


def test_a_closed_store_refuses_to_work(tmp_path: pathlib.Path) -> None:
    store = SqliteStore(tmp_path / "desk.db")
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.pending()
