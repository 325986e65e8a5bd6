"""The PostgreSQL store passes the store conformance suite on a real server.

Needs ``LIVECHAT_TEST_POSTGRES`` (see ``tests/conftest.py``); both concurrency modes run.
"""

from __future__ import annotations

import pickle
import threading
from collections.abc import Callable

import psycopg
import pytest

from batch_support import count_round_trips
from livechat_core import ConcurrencyConflict, Desk, SchemaError, StoreError
from livechat_core.adapters.postgres import MIGRATIONS, SCHEMA_VERSION, PostgresStore
from livechat_core.ports import Changes, Store
from livechat_core.testing import StoreConformance
from livechat_core.testing._conformance import every_event, make_queue, save

pytestmark = pytest.mark.postgres


class TestPostgresStoreLock(StoreConformance):
    concurrency = "lock"

    @pytest.fixture(autouse=True)
    def _database(self, postgres_dsn: str) -> None:
        self.dsn = postgres_dsn

    def make_store(self) -> Store:
        return PostgresStore(self.dsn, concurrency=self.concurrency)  # type: ignore[arg-type]


class TestPostgresStoreSerializable(TestPostgresStoreLock):
    concurrency = "serializable"


class TestPostgresStoreUnprepared(TestPostgresStoreLock):
    """``prepare=False``, for poolers that keep no prepared statements: every statement
    is sent with its text, bound to its values."""

    def make_store(self) -> Store:
        return PostgresStore(self.dsn, prepare=False)


def test_an_event_stored_twice_conflicts(postgres_dsn: str) -> None:
    event = every_event()[0]
    with PostgresStore(postgres_dsn) as store:
        save(store, Changes(events=(event,)))
        with pytest.raises(ConcurrencyConflict), store.transaction() as txn:
            txn.save(Changes(events=(event,)))
        assert store.events("c1") == [event]


def test_the_schema_is_created_once_and_reopened(postgres_dsn: str) -> None:
    with PostgresStore(postgres_dsn) as first:
        Desk(store=first).add_queue("support", ["Resolved"])
    with PostgresStore(postgres_dsn) as second:
        assert [q.name for q in Desk(store=second).queues()] == ["support"]


def test_schemas_keep_stores_apart(postgres_dsn: str) -> None:
    with PostgresStore(postgres_dsn, schema="a") as a, PostgresStore(postgres_dsn, schema="b") as b:
        save(a, Changes(queues=((make_queue(), 0),)))
        with b.transaction(write=False) as txn:
            assert txn.queues() == []


def test_a_foreign_schema_is_refused_untouched(postgres_dsn: str) -> None:
    with psycopg.connect(postgres_dsn, autocommit=True) as connection:
        connection.execute("CREATE SCHEMA livechat")
        connection.execute("CREATE TABLE livechat.queues (name text)")
        with pytest.raises(SchemaError, match="not a livechat-core store"):
            PostgresStore(postgres_dsn)
        tables = connection.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'livechat'"
        ).fetchall()
        assert tables == [("queues",)]


def test_a_version_1_schema_is_migrated_forward_with_its_data(postgres_dsn: str) -> None:
    with psycopg.connect(postgres_dsn, autocommit=True) as connection:
        connection.execute("CREATE SCHEMA old")
        connection.execute("SET search_path TO old")
        connection.execute(MIGRATIONS[0].encode())
    with PostgresStore(postgres_dsn, schema="old") as store:
        desk = Desk(store=store)
        desk.add_queue("support", ["Resolved"])
        desk.login("jana", "Jana Nováková", ["support"])
    with psycopg.connect(postgres_dsn, autocommit=True) as connection:
        # Back to version 1 with data in it: what versions 2 to 5 added goes, the rows stay.
        connection.execute("DROP FUNCTION old.expect_written")
        connection.execute("DROP TABLE old.desk_settings")
        connection.execute("ALTER TABLE old.conversations DROP COLUMN closed_at")
        connection.execute("ALTER TABLE old.agent_queues DROP COLUMN waiting_since")
        connection.execute("DROP TRIGGER events_notify ON old.events")
        connection.execute("DROP FUNCTION old.notify_events")
        connection.execute("DROP TABLE old.consumers")
        connection.execute("ALTER TABLE old.events DROP COLUMN log_position")
        connection.execute("UPDATE old.schema_info SET version = 1")
    with PostgresStore(postgres_dsn, schema="old") as store:
        desk = Desk(store=store)
        assert [queue.name for queue in desk.queues()] == ["support"]
        desk.set_available("jana")
        chat = desk.start_chat("support", "Karel Novák", "karel@example.com")
        assert desk.conversation(chat).state == "offered"
        logged = [event.id for _, event in desk.events_after()]
        assert logged[:2] == ["queue:support:1", "agent:jana:1"], "old events keep their order"
        assert logged[2:] == [
            "agent:jana:2",
            f"conversation:{chat}:1",
            f"conversation:{chat}:2",
        ]
    with psycopg.connect(postgres_dsn) as connection:
        version = connection.execute("SELECT version FROM old.schema_info").fetchone()
        assert version == (SCHEMA_VERSION,)


def test_a_stale_last_save_names_the_record(postgres_dsn: str) -> None:
    with PostgresStore(postgres_dsn) as store:
        save(store, Changes(queues=((make_queue(), 0),)))
        with pytest.raises(ConcurrencyConflict) as caught, store.transaction() as txn:
            txn.save_last(Changes(queues=((make_queue(version=3), 2),)))
        assert caught.value.aggregate_id == "support"
        assert "queue support changed since it was read" in str(caught.value)


def test_a_newer_schema_is_refused(postgres_dsn: str) -> None:
    PostgresStore(postgres_dsn).close()
    with psycopg.connect(postgres_dsn, autocommit=True) as connection:
        connection.execute("UPDATE livechat.schema_info SET version = 99")
    with pytest.raises(SchemaError, match="newer"):
        PostgresStore(postgres_dsn)


def test_a_missing_table_is_refused(postgres_dsn: str) -> None:
    PostgresStore(postgres_dsn).close()
    with psycopg.connect(postgres_dsn, autocommit=True) as connection:
        connection.execute("DROP TABLE livechat.outbox")
    with pytest.raises(SchemaError, match="outbox"):
        PostgresStore(postgres_dsn)


def test_an_unreachable_server_is_a_store_error() -> None:
    with pytest.raises(StoreError) as caught:
        PostgresStore("host=/nonexistent port=1 user=nobody dbname=none connect_timeout=1")
    assert isinstance(caught.value.__cause__, psycopg.Error)


def test_the_store_reconnects_after_its_connection_broke(postgres_dsn: str) -> None:
    with PostgresStore(postgres_dsn) as store:
        save(store, Changes(queues=((make_queue(), 0),)))
        with psycopg.connect(postgres_dsn, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        with pytest.raises(StoreError), store.transaction(write=False) as txn:
            txn.queues()
        with store.transaction(write=False) as txn:
            assert [q.name for q in txn.queues()] == ["support"]


def test_a_pickled_store_reconnects_by_dsn(postgres_dsn: str) -> None:
    with PostgresStore(postgres_dsn) as store:
        save(store, Changes(queues=((make_queue(), 0),)))
        copy = pickle.loads(pickle.dumps(store))
        try:
            with copy.transaction(write=False) as txn:
                assert [q.name for q in txn.queues()] == ["support"]
        finally:
            copy.close()


def _in_thread(work: Callable[[], object]) -> tuple[threading.Thread, threading.Event]:
    done = threading.Event()

    def run() -> None:
        work()
        done.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, done


def test_routing_locks_only_the_queues_it_reads(postgres_dsn: str) -> None:
    """Lock mode: a routing read holds its queue until commit; other queues stay free."""
    with PostgresStore(postgres_dsn) as first, PostgresStore(postgres_dsn) as second:
        save(first, Changes(queues=((make_queue(), 0), (make_queue("billing"), 0))))

        def route(queue: str) -> Callable[[], object]:
            def work() -> object:
                with second.transaction() as txn:
                    return txn.queued([queue], 1)

            return work

        with first.transaction() as txn:
            txn.queued(["support"], 1)
            other, other_done = _in_thread(route("billing"))
            assert other_done.wait(5), "a routing read of another queue waited"
            other.join()
            same, same_done = _in_thread(route("support"))
            assert not same_done.wait(0.3), "two routing reads of one queue overlapped"
        assert same_done.wait(5)
        same.join()


def test_an_asset_deletion_waits_for_chats_starting_on_it(postgres_dsn: str) -> None:
    """Starting chats share the asset's lock; deleting the asset takes it alone."""
    with PostgresStore(postgres_dsn) as first, PostgresStore(postgres_dsn) as second:

        def start() -> object:
            with second.transaction() as txn:
                return txn.asset_deleted("shop")

        def delete() -> object:
            with second.transaction() as txn:
                return txn.open_on_asset("shop")

        with first.transaction() as txn:
            txn.prefetch(assets=["shop"])  # a chat start checks the asset
            starting, started = _in_thread(start)
            assert started.wait(5), "two chat starts on one asset waited for each other"
            starting.join()
            deleting, deleted = _in_thread(delete)
            assert not deleted.wait(0.3), "an asset was deleted while a chat started on it"
        assert deleted.wait(5)
        deleting.join()


def test_each_command_of_a_lifecycle_takes_two_round_trips(
    postgres_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The prefetch (with the routing rows its hint names) and the writes with COMMIT:
    docs/stores.md and docs/performance.md count on it."""

    with PostgresStore(postgres_dsn) as store:
        desk = Desk(store=store)
        desk.add_queue("support", ["Resolved"])
        desk.login("jana", "Jana Nováková", ["support"])
        desk.set_available("jana")
        warm = desk.start_chat("support", "Karel Novák", "karel@example.com")
        desk.accept("jana", warm)
        desk.end("jana", warm)
        desk.submit_wrap_up("jana", warm, "Resolved")  # statements prepared, records known

        # A round trip is a pipeline or a statement psycopg sends (a bare COMMIT, a
        # ROLLBACK TO SAVEPOINT).
        trips: list[int] = []
        count_round_trips(monkeypatch, trips)
        steps: list[tuple[str, Callable[[], object]]] = []
        chat = ""

        def start() -> None:
            nonlocal chat
            chat = desk.start_chat("support", "Eva Dvořáková", "eva@example.com")

        steps = [
            ("start_chat", start),
            ("send_customer_message", lambda: desk.send_customer_message(chat, "Hello")),
            ("accept", lambda: desk.accept("jana", chat)),
            ("send_agent_message", lambda: desk.send_agent_message("jana", chat, "Hi")),
            ("end", lambda: desk.end("jana", chat)),
            ("submit_wrap_up", lambda: desk.submit_wrap_up("jana", chat, "Resolved")),
        ]
        counted = {}
        for name, step in steps:
            trips.append(0)
            step()
            counted[name] = trips[-1]
        assert counted == {name: 2 for name, _ in steps}
        assert desk.conversation(chat).state == "closed"


def test_a_record_another_store_changed_is_read_anew(postgres_dsn: str) -> None:
    """A store keeps decoded records by version: a newer version written by another
    store (another process) is read, not the one kept."""
    with PostgresStore(postgres_dsn) as first, PostgresStore(postgres_dsn) as second:
        desk, other = Desk(store=first), Desk(store=second)
        desk.add_queue("support", ["Resolved"])
        desk.login("jana", "Jana Nováková", ["support"])
        desk.set_available("jana")
        chat = desk.start_chat("support", "Karel Novák", "karel@example.com")
        assert desk.conversation(chat).state == "offered"  # first keeps this version
        other.accept("jana", chat)
        other.send_agent_message("jana", chat, "Hi")
        assert desk.conversation(chat).state == "active"
        assert [m.text for m in desk.conversation(chat).messages] == ["Hi"]
        desk.end("jana", chat)  # decided on the version the other store wrote
        assert other.conversation(chat).state == "wrap_up"
