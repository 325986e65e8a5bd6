"""The SQLite store's schema versions 6 and 7: fewer pages per unbatched command, same
behaviour.

Event positions are plain rowids again (AUTOINCREMENT rewrote its counter page in every
commit), and archiving keeps the highest position handed out in a placeholder row when
it takes the newest events; the index of open conversations is read through
``closed_at``, so a step of a chat does not rewrite it; the routing index is a table of
routable memberships, so an agent becoming routable or not writes one b-tree, not two.
The pages a command commits are read from the WAL (each frame names its page) and named
through SQLite's ``dbstat``.
"""

from __future__ import annotations

import pathlib
import sqlite3
import struct
from typing import Any

import pytest

from batch_support import lifecycle, one_agent_desk
from livechat_core import AgentState, ConversationState, Desk
from livechat_core.adapters import sqlite as sqlite_adapter
from livechat_core.adapters.sqlite import SqliteStore
from livechat_core.events import AgentAvailable, ChatStarted
from livechat_core.ports import Changes
from livechat_core.testing import ManualClock
from livechat_core.testing._conformance import T0, make_agent, save

_PAGE = 4096
_FRAME_HEADER = 24
_WAL_HEADER = 32


def _wal_pages(path: pathlib.Path) -> list[int]:
    """The page number of every frame in the WAL, oldest first."""
    data = (path.parent / (path.name + "-wal")).read_bytes()
    pages, offset = [], _WAL_HEADER
    while offset + _FRAME_HEADER + _PAGE <= len(data):
        pages.append(struct.unpack(">I", data[offset : offset + 4])[0])
        offset += _FRAME_HEADER + _PAGE
    return pages


def _page_names(path: pathlib.Path) -> dict[int, str]:
    """Which table or index each page of the file belongs to (``dbstat``)."""
    with sqlite3.connect(path) as connection:
        try:
            rows = connection.execute("SELECT pageno, name FROM dbstat").fetchall()
        except sqlite3.OperationalError:
            pytest.skip("this SQLite has no dbstat table")
    return {int(page): str(name) for page, name in rows}


def test_the_steps_of_a_chat_commit_neither_the_counter_nor_the_open_index(
    tmp_path: pathlib.Path,
) -> None:
    path = tmp_path / "desk.db"
    with SqliteStore(path, synchronous="OFF") as store:
        desk = one_agent_desk(store)
        lifecycle(desk, 0)
        connection = store._connection
        assert connection is not None
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.execute("PRAGMA wal_autocheckpoint=0")
        names = _page_names(path)
        chat = desk.start_chat("support", "Karel", "karel@example.com")
        opened = len(_wal_pages(path))
        desk.send_customer_message(chat, "Dobrý den")
        desk.accept("ann", chat)  # offered -> active
        desk.send_agent_message("ann", chat, "Hned to bude.")
        desk.end("ann", chat)  # active -> wrapping up
        stepped = [names.get(page, "(new page)") for page in _wal_pages(path)[opened:]]
        desk.submit_wrap_up("ann", chat, "Resolved")  # -> closed
        closed = [names.get(page, "(new page)") for page in _wal_pages(path)[opened:]]
        assert desk.conversation(chat).state == ConversationState.CLOSED
    assert "sqlite_sequence" not in closed
    assert "conversations_open" not in stepped
    # ann routable again after end: one routing row in, the memberships untouched
    assert "agent_routing" in stepped
    assert "agent_queues" not in closed
    assert "conversations_open" in closed  # closing takes the chat out of it
    assert "events" in names.values()
    assert "conversations_open" in names.values()


def test_archiving_the_newest_events_keeps_their_positions(tmp_path: pathlib.Path) -> None:
    """The next event is numbered above every event ever logged, archived ones too; the
    placeholder that keeps the position is no event anywhere."""
    clock = ManualClock(T0)
    with SqliteStore(tmp_path / "desk.db") as store:
        desk = Desk(store=store, clock=clock)
        desk.add_queue("support", ["Resolved"])
        first = desk.start_chat("support", "Karel", "")
        desk.customer_end(first)
        clock.now += 1
        second = desk.start_chat("support", "Jana", "")
        desk.customer_end(second)
        logged = store.log()
        top = logged[-1][0]
        assert {event.aggregate_id for _, event in logged} == {"support", first, second}
        assert logged[-1][1].aggregate_id == second
        clock.now += 10
        assert [a.conversation.id for a in desk.archive(clock.now, limit=1)] == [first]
        assert store.log() == [item for item in logged if item[1].aggregate_id != first]
        assert [a.conversation.id for a in desk.archive(clock.now)] == [second]
        kept = [item for item in logged if item[1].aggregate_id == "support"]
        assert store.log() == kept
        assert store.pending() == [event for _, event in kept]
        assert store.events("", "") == []
        third = desk.start_chat("support", "Petr", "")
        position, event = store.log(after=kept[-1][0])[0]
        assert event.aggregate_id == third
        assert position == top + 1
        assert next(e.aggregate_id for _, e in store.log(after=top)) == third
        assert {e.aggregate_id for e in store.pending()} == {"support", third}
        # archiving again with older events left drops the old placeholder
        desk.customer_end(third)
        clock.now += 10
        fourth = desk.start_chat("support", "Eva", "")
        desk.archive(clock.now)
        connection = store._connection
        assert connection is not None
        placeholders = connection.execute(
            "SELECT position FROM events WHERE aggregate = ''"
        ).fetchall()
        assert placeholders == []  # fourth's events are the newest: nothing to keep
        assert {e.aggregate_id for _, e in store.log()} == {"support", fourth}


def _version_5_file(path: pathlib.Path) -> None:
    """A file of schema version 5 (the scripts before 6, as the code before wrote it)."""
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("BEGIN IMMEDIATE")
        for script in sqlite_adapter.MIGRATIONS[:5]:
            for statement in sqlite_adapter._statements(script):
                connection.execute(statement)
        connection.execute(f"PRAGMA application_id={sqlite_adapter.APPLICATION_ID}")
        connection.execute("PRAGMA user_version=5")
        connection.execute("COMMIT")
    finally:
        connection.close()


def test_a_version_5_file_keeps_the_positions_its_counter_handed_out(
    tmp_path: pathlib.Path,
) -> None:
    path = tmp_path / "desk.db"
    _version_5_file(path)
    events = [
        AgentAvailable(aggregate_id="ann", sequence=number, at=T0 + number)
        for number in range(1, 5)
    ]
    with sqlite3.connect(path, isolation_level=None) as connection:
        for event in events:
            connection.execute(
                "INSERT INTO events (aggregate, aggregate_id, sequence, type, at, data) "
                "VALUES ('agent', ?, ?, 'AgentAvailable', ?, '{}')",
                (event.aggregate_id, event.sequence, event.at),
            )
        # the newest two were archived by the code before: its counter stays at 4
        connection.execute("DELETE FROM outbox WHERE event_position > 2")
        connection.execute("DELETE FROM events WHERE position > 2")
        assert connection.execute("SELECT seq FROM sqlite_sequence").fetchall() == [(4,)]
        connection.execute(
            "INSERT INTO conversations (id, version, state, queue, asset, started_at, "
            "record) VALUES ('old', 1, 'closed', 'support', 'livechat', 0.0, '{}')"
        )
    with SqliteStore(path) as store:
        assert [(p, e) for p, e in store.log()] == [(1, events[0]), (2, events[1])]
        assert [e.id for e in store.pending()] == [events[0].id, events[1].id]
        started = ChatStarted(
            aggregate_id="chat",
            sequence=1,
            at=T0,
            queue="support",
            customer_name="Karel",
            customer_contact="",
            proactive=False,
            asset="livechat",
        )
        save(store, Changes(events=(started,)))
        assert store.log(after=2) == [(5, started)]
        with store.transaction(write=False) as txn:
            assert txn.open_on_asset("livechat") == []  # closed, closed_at filled
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA user_version").fetchone() == (
            sqlite_adapter.SCHEMA_VERSION,
        )
        assert connection.execute("SELECT closed_at FROM conversations").fetchall() == [(0.0,)]
        (index,) = connection.execute(
            "SELECT sql FROM sqlite_master WHERE name = 'conversations_open'"
        ).fetchone()
        assert "closed_at IS NULL" in index
        assert connection.execute(
            "SELECT count(*) FROM sqlite_master WHERE sql LIKE '%AUTOINCREMENT%'"
        ).fetchone() == (0,)


def test_agents_saved_without_being_read_move_their_routing_rows(tmp_path: pathlib.Path) -> None:
    """A save of an agent not read in its transaction (the store reads the stored record
    to find its routing rows): routable, then in other queues, then not routable."""

    def rows(store: SqliteStore) -> list[tuple[str, float, str]]:
        connection = store._connection
        assert connection is not None
        return connection.execute("SELECT * FROM agent_routing ORDER BY queue").fetchall()

    available: dict[str, Any] = {"state": AgentState.AVAILABLE, "available_since": T0}
    with SqliteStore(tmp_path / "desk.db") as store:
        save(store, Changes(agents=((make_agent(**available), 0),)))
        assert rows(store) == [("support", T0, "jana")]
        moved = make_agent(queues=("sales", "vip"), version=2, **available)
        save(store, Changes(agents=((moved, 1),)))
        assert rows(store) == [("sales", T0, "jana"), ("vip", T0, "jana")]
        later: dict[str, Any] = {"state": AgentState.AVAILABLE, "available_since": T0 + 5}
        save(store, Changes(agents=((make_agent(queues=("vip",), version=3, **later), 2),)))
        assert rows(store) == [("vip", T0 + 5, "jana")]
        save(store, Changes(agents=((make_agent(queues=("vip",), version=4), 3),)))
        assert rows(store) == []
        with store.transaction(write=False) as txn:
            assert txn.routable("vip", 5) == []
            assert [agent.id for agent in txn.agents("vip")] == ["jana"]
