"""A store written by the code before issue 10 opens and is migrated forward in place.

The fixtures in ``tests/fixtures`` were written by that code (``make_v1_stores.py``, run
at commit c59f5da): a SQLite file of schema version 1 and a ``pg_dump`` of a PostgreSQL
schema of version 2, each with a JSON file of what that code showed of it.
Opened by the present code, every record, event and outbox entry must still be there, the
desk must continue where it stopped, and the file must carry the present version.
"""

from __future__ import annotations

import json
import pathlib
import shutil
import sqlite3
from typing import Any

import pytest

from conftest import postgres_server
from livechat_core import ConversationState, Desk, event_to_record
from livechat_core.adapters import _codec
from livechat_core.adapters import sqlite as sqlite_adapter
from livechat_core.adapters.sqlite import SqliteStore
from livechat_core.ports import Store

FIXTURES = pathlib.Path(__file__).parent / "fixtures"
T0 = 1_700_000_000.0


def _shown(desk: Desk) -> dict[str, Any]:
    """What ``make_v1_stores.expected`` recorded, read through the present code."""
    conversations = desk.store.conversation_ids()
    views = [desk.conversation(cid) for cid in conversations]
    # new since: the count of messages, which the old records did not carry
    assert [view.message_count for view in views] == [len(view.messages) for view in views]
    # and the time of the newest event, which a record written before it does not carry
    # (None until the conversation's next event; its time floor is then its other times)
    assert [view.last_event_at for view in views] == [None] * len(views)
    agents = [json.loads(_codec.record_to_json(agent)) for agent in desk.agents()]
    assert [agent.pop("last_event_at") for agent in agents] == [None] * len(agents)
    records = [json.loads(_codec.record_to_json(view)) for view in views]
    for record in records:
        del record["message_count"], record["last_event_at"]
    return {
        "queues": [json.loads(_codec.record_to_json(queue)) for queue in desk.queues()],
        "agents": agents,
        "conversations": records,
        "events": {
            cid: [event_to_record(event) for event in desk.events(cid)] for cid in conversations
        },
        "agent_events": {
            agent.id: [event_to_record(e) for e in desk.store.events(agent.id, "agent")]
            for agent in desk.agents()
        },
        "pending": [event.id for event in desk.store.pending(10_000)],
    }


def _continues(store: Store) -> None:
    """The migrated desk goes on: the routing index holds the agents who were free,
    deadlines fire, routing offers, messages append, chats close and archive."""
    now = [T0 + 10]
    desk = Desk(store=store, clock=lambda: now[0], new_id=lambda: "chat-new")
    assert [agent.id for agent in desk.available_agents()] == ["dana", "emil"]
    assert desk.conversation("chat-2").state == ConversationState.OFFERED
    fired = desk.tick(T0 + 100)  # the offers of chat-2 (bob) and chat-4 (alice) time out
    assert {event.aggregate_id for event in fired} >= {"chat-2", "chat-4", "bob", "alice"}
    assert desk.agent("bob").state == "rona"
    # oldest chat first, to the longest waiting routable member of its queue
    assert [offer.conversation_id for offer in desk.offers("dana")] == ["chat-2"]
    assert [offer.conversation_id for offer in desk.offers("emil")] == ["chat-4"]
    desk.accept("emil", "chat-4")
    desk.send_customer_message("chat-3", "Thanks!")
    assert [m.text for m in desk.conversation("chat-3").messages][-1] == "Thanks!"
    new = desk.start_chat("sales", "Nový Zákazník", "")
    assert desk.conversation(new).state == ConversationState.OFFERED  # dana has room
    archived = desk.archive(T0 + 1000)
    assert [item.conversation.id for item in archived] == ["chat-1"]
    assert [m.text for m in archived[0].conversation.messages][:2] == [
        "Dobrý den, platím kartou ********",
        "****1111",
    ]


def test_a_version_1_sqlite_file_is_migrated_in_place(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "desk.db"
    shutil.copy(FIXTURES / "store_v1.sqlite", path)
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA user_version").fetchone() == (1,)
    expected = json.loads((FIXTURES / "store_v1.json").read_text())
    with SqliteStore(path) as store:
        assert _shown(Desk(store=store)) == expected
    with sqlite3.connect(path) as connection:
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        assert version == sqlite_adapter.SCHEMA_VERSION > 1
    with SqliteStore(path) as store:  # reopened: continues where it stopped
        assert _shown(Desk(store=store)) == expected
        _continues(store)


def test_a_version_2_postgres_schema_is_migrated_in_place() -> None:
    server = postgres_server()
    import psycopg
    from psycopg import sql

    from livechat_core.adapters import postgres as postgres_adapter

    schema = "livechat_v1"
    # Without psql's meta-commands (pg_dump's \restrict lines), which the server does not
    # know; pg_dump's preamble empties search_path for the session, the store sets its own.
    text = (FIXTURES / "store_v1_postgres.sql").read_text()
    dump = "".join(line for line in text.splitlines(True) if not line.startswith("\\"))
    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute(
            sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
        )
        connection.execute(dump.encode())
    expected = json.loads((FIXTURES / "store_v1_postgres.json").read_text())
    try:
        with postgres_adapter.PostgresStore(server, schema=schema) as store:
            assert _shown(Desk(store=store)) == expected
        with psycopg.connect(server) as connection:
            version = connection.execute(
                sql.SQL("SELECT version FROM {}.schema_info").format(sql.Identifier(schema))
            ).fetchone()
            assert version == (postgres_adapter.SCHEMA_VERSION,)
        with postgres_adapter.PostgresStore(server, schema=schema) as store:
            assert _shown(Desk(store=store)) == expected
            _continues(store)
    finally:
        with psycopg.connect(server, autocommit=True) as connection:
            connection.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
            )


@pytest.mark.parametrize("name", ["store_v1.sqlite", "store_v1_postgres.sql"])
def test_the_fixtures_are_of_the_versions_before(name: str) -> None:
    if name.endswith(".sqlite"):
        with sqlite3.connect(f"file:{FIXTURES / name}?mode=ro&immutable=1", uri=True) as connection:
            assert connection.execute("PRAGMA user_version").fetchone() == (1,)
    else:
        assert (
            "INSERT INTO livechat_v1.schema_info VALUES (true, 'livechat-core', 2);"
            in (FIXTURES / name).read_text()
        )
