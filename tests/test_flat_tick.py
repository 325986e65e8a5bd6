"""A tick reads the due conversations with the due query itself (SQLite): one indexed
scan per batch of ``TICK_BATCH``, no lookup by id per deadline, and the same statements
per deadline with a few or many due."""

from __future__ import annotations

import collections
import re
import sqlite3
from pathlib import Path
from typing import Any

from livechat_core import Desk
from livechat_core._desk import TICK_BATCH
from livechat_core.adapters.sqlite import SqliteStore
from livechat_core.testing import ManualClock

T0 = 1_700_000_000.0


def _desk_with_offers(path: Path, offers: int) -> tuple[Desk, SqliteStore]:
    """A desk with ``offers`` chats offered (100 per agent), on the file reopened: the
    store keeps none of the records decoded."""
    with SqliteStore(str(path)) as store:
        desk = Desk(store=store, clock=ManualClock(T0))
        desk.add_queue("support", ["Resolved"], offer_timeout=30.0)
        for agent in range(-(-offers // 100)):
            with desk.batch():
                desk.login(f"a{agent:04d}", "Agent", ["support"], capacity=100)
                desk.set_available(f"a{agent:04d}")
                for _ in range(min(100, offers - agent * 100)):
                    desk.start_chat("support", "Karel", "")
    store = SqliteStore(str(path))
    return Desk(store=store, clock=ManualClock(T0)), store


class _Counting:
    """The store's connection, counting the statements it is asked to run (by their text
    up to ``WHERE``; a trace callback would expand every trigger row's statement)."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection
        self.kinds: collections.Counter[str] = collections.Counter()

    def execute(self, sql: str, *parameters: Any) -> sqlite3.Cursor:
        self.kinds[re.sub(r"\s+", " ", sql).split(" WHERE")[0]] += 1
        return self.connection.execute(sql, *parameters)

    def executemany(self, sql: str, *parameters: Any) -> sqlite3.Cursor:
        self.kinds[re.sub(r"\s+", " ", sql).split(" WHERE")[0]] += 1
        return self.connection.executemany(sql, *parameters)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.connection, name)


def _tick_statements(desk: Desk, store: SqliteStore) -> tuple[int, collections.Counter[str]]:
    connection = store._connect()
    counting = _Counting(connection)
    store._connection = counting  # type: ignore[assignment]
    try:
        fired = desk.tick(T0 + 3600)
    finally:
        store._connection = connection
    return sum(1 for event in fired if event.type == "OfferTimedOut"), counting.kinds


def test_a_tick_reads_no_conversation_by_id(tmp_path: Path) -> None:
    offers = TICK_BATCH * 5 // 2
    desk, store = _desk_with_offers(tmp_path / "desk.db", offers)
    with store:
        fired, kinds = _tick_statements(desk, store)
    assert fired == offers
    assert not [k for k in kinds if k.startswith("SELECT version, record FROM conversations")]
    due = [n for k, n in kinds.items() if k.startswith("SELECT next_deadline, id")]
    assert due == [3]  # one scan per batch
    # besides it, at most one read of conversations per batch (routing's queued chats)
    assert sum(n for k, n in kinds.items() if "FROM conversations" in k) <= 3 + 3
    assert kinds["BEGIN IMMEDIATE"] == 3  # two full batches and a half: a short one ends it


def test_statements_per_deadline_do_not_grow_with_the_number_due(tmp_path: Path) -> None:
    small_desk, small_store = _desk_with_offers(tmp_path / "small.db", TICK_BATCH)
    large_desk, large_store = _desk_with_offers(tmp_path / "large.db", 3 * TICK_BATCH)
    with small_store, large_store:
        small_fired, small = _tick_statements(small_desk, small_store)
        large_fired, large = _tick_statements(large_desk, large_store)
    assert (small_fired, large_fired) == (TICK_BATCH, 3 * TICK_BATCH)
    # per batch of TICK_BATCH deadlines: the same statements (within one for the final batch)
    per_batch_small = sum(small.values()) / 1
    per_batch_large = sum(large.values()) / 3
    assert per_batch_large <= per_batch_small * 1.1


def test_a_reopened_file_ticks_where_it_stopped(tmp_path: Path) -> None:
    desk, store = _desk_with_offers(tmp_path / "desk.db", 700)
    assert len([e for e in desk.tick(T0 + 15) if e.type == "OfferTimedOut"]) == 0
    store.close()
    with SqliteStore(str(tmp_path / "desk.db")) as reopened:
        desk = Desk(store=reopened, clock=ManualClock(T0 + 100))
        fired = desk.tick(T0 + 3600)
        assert sum(1 for e in fired if e.type == "OfferTimedOut") == 700
        assert desk.tick(T0 + 3600) == []
