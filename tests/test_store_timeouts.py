"""Every store call is bounded (issue 15, item 1): a writer waits for another process's
lock (SQLite), or another thread's open transaction (SQLite and memory), at most the
store's timeout, then gets :class:`StoreTimeout`, and nothing changed."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from livechat_core import Desk, MemoryStore, SqliteStore, StoreTimeout
from livechat_core.ports import Store


def test_a_lock_held_by_another_process_ends_in_store_timeout(tmp_path: Path) -> None:
    path = tmp_path / "desk.db"
    with SqliteStore(path, busy_timeout=0.3) as store:
        desk = Desk(store=store)
        desk.add_queue("support", ["Resolved"])
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another writer holds the file's write lock
        try:
            started = time.monotonic()
            with pytest.raises(StoreTimeout) as caught:
                desk.add_queue("sales", ["Sold"])
            assert caught.value.code == "store_timeout"
            assert time.monotonic() - started < 10
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert [q.name for q in desk.queues()] == ["support"]
        desk.add_queue("sales", ["Sold"])
        assert [q.name for q in desk.queues()] == ["sales", "support"]


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_a_batch_held_open_by_another_thread_ends_in_store_timeout(
    tmp_path: Path, kind: str
) -> None:
    store: Store = (
        MemoryStore(lock_timeout=0.3)
        if kind == "memory"
        else SqliteStore(tmp_path / "desk.db", busy_timeout=0.3)
    )
    try:
        desk = Desk(store=store)
        desk.add_queue("support", ["Resolved"])
        inside = threading.Event()
        release = threading.Event()

        def hold() -> None:
            with desk.batch():
                desk.add_queue("billing", ["Paid"])
                inside.set()
                release.wait(30)

        holder = threading.Thread(target=hold)
        holder.start()
        try:
            assert inside.wait(30)
            with pytest.raises(StoreTimeout):
                desk.add_queue("sales", ["Sold"])
        finally:
            release.set()
            holder.join(30)
        assert [q.name for q in desk.queues()] == ["billing", "support"]
    finally:
        store.close()
