"""AsyncDesk on PostgreSQL: psycopg's async connection on the event loop, pipelined,
every wait bounded, concurrent commands sharing commits.

Needs ``LIVECHAT_TEST_POSTGRES`` (see ``tests/conftest.py``). The store conformance
suite (``tests/test_store_postgres.py``) and the differential state machine
(``tests/test_store_differential.py``) run through this path as well.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from livechat_core import (
    AsyncDesk,
    Desk,
    InvalidArgument,
    StoreError,
    StoreTimeout,
    UnknownAgent,
    UnknownQueue,
)
from livechat_core.adapters import postgres_async
from livechat_core.adapters.postgres import PostgresStore
from livechat_core.testing.clock import ManualClock

pytestmark = pytest.mark.postgres

T0 = 1_700_000_000.0


@pytest.fixture
def store(postgres_dsn: str) -> Iterator[PostgresStore]:
    with PostgresStore(postgres_dsn, timeout=30.0) as store:
        yield store


class _Commits:
    """Counts the commits of the async transactions (monkeypatched in)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        original = postgres_async.AsyncPostgresTransaction.acommit

        async def counted(txn: postgres_async.AsyncPostgresTransaction) -> None:
            if txn.begun:
                self.count += 1
            await original(txn)

        monkeypatch.setattr(postgres_async.AsyncPostgresTransaction, "acommit", counted)


def test_commands_and_views_never_use_the_sync_connection_nor_a_thread(
    store: PostgresStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = ManualClock(T0)

    async def day() -> tuple[list[Any], int]:
        async with AsyncDesk(store=store, clock=clock) as desk:
            threads = threading.active_count()

            def refuse(*args: Any, **kwargs: Any) -> Any:
                raise AssertionError("the sync store was used")

            monkeypatch.setattr(store, "transaction", refuse)
            monkeypatch.setattr(store, "_query", refuse)
            await desk.add_queue("support", ["Resolved"])
            await desk.login("jana", "Jana", ["support"], 2)
            await desk.set_available("jana")
            chat = await desk.start_chat("support", "Karel", "karel@example.com")
            await desk.send_customer_message(chat, "Dobrý den")
            await desk.accept("jana", chat)
            clock.now += 5
            await desk.end("jana", chat)
            await desk.tick(T0 + 1_000)
            seen = [
                await desk.conversation(chat),
                await desk.agent("jana"),
                await desk.offers("jana"),
                await desk.available_agents(),
                await desk.agents(),
                await desk.queues(),
                await desk.events(chat),
                await desk.stats(),
                await desk.surfaces(chat),
            ]
            return seen, threading.active_count() - threads

    seen, new_threads = asyncio.run(day())
    assert new_threads == 0
    assert seen[0].state.value == "wrap_up"
    assert [m.text for m in seen[0].messages][:1] == ["Dobrý den"]
    assert seen[6][0].type == "ChatStarted"
    # The same answers as a sync desk reading the same database.
    monkeypatch.undo()
    sync = Desk(store=store, clock=clock)
    assert seen[0] == sync.conversation(seen[0].id)
    assert seen[4] == sync.agents()
    assert seen[6] == sync.events(seen[0].id)


def test_concurrent_commands_share_commits_and_lose_nothing(
    store: PostgresStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    commits = _Commits(monkeypatch)
    clock = ManualClock(T0)
    customers = 100

    async def day() -> list[str]:
        async with AsyncDesk(store=store, clock=clock) as desk:
            await desk.add_queue("support", ["Resolved"])
            before = commits.count
            chats = await asyncio.gather(
                *(
                    desk.start_chat("support", f"C{n}", f"c{n}@example.com")
                    for n in range(customers)
                )
            )
            assert commits.count - before < customers / 2, "concurrent commands share commits"
            return list(chats)

    chats = asyncio.run(day())
    assert sorted(chats) == sorted(store.conversation_ids())
    assert len(set(chats)) == customers


def test_a_refused_command_in_a_group_changes_nothing_and_the_others_commit(
    store: PostgresStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    commits = _Commits(monkeypatch)

    async def day() -> list[Any]:
        async with AsyncDesk(store=store, connections=1) as desk:
            await desk.add_queue("support", ["Resolved"])
            before = commits.count
            outcomes = await asyncio.gather(
                desk.start_chat("support", "A", "a@example.com"),
                desk.start_chat("sales", "B", "b@example.com"),
                desk.login("jana", "Jana", ["support"]),
                desk.set_available("nobody"),
                desk.start_chat("support", "C", "c@example.com"),
                return_exceptions=True,
            )
            assert commits.count - before == 1, "one group, one commit"
            return list(outcomes)

    outcomes = asyncio.run(day())
    assert isinstance(outcomes[1], UnknownQueue)
    assert isinstance(outcomes[3], UnknownAgent)
    assert sorted(store.conversation_ids()) == sorted([outcomes[0], outcomes[4]])
    assert [agent.id for agent in Desk(store=store).agents()] == ["jana"]


def test_an_async_batch_is_one_transaction_and_an_exception_rolls_it_back(
    store: PostgresStore,
) -> None:
    async def day() -> tuple[str, int]:
        async with AsyncDesk(store=store) as desk:
            await desk.add_queue("support", ["Resolved"])
            async with desk.batch():
                await desk.login("jana", "Jana", ["support"])
                await desk.set_idle("jana", "lunch")
                inside = (await desk.agent("jana")).state.value  # the block's own view
                assert Desk(store=store).agents() == []  # not committed yet

            async def failing_block() -> None:
                async with desk.batch():
                    await desk.start_chat("support", "Karel", "karel@example.com")
                    raise RuntimeError("leave the block")

            with pytest.raises(RuntimeError):
                await failing_block()
            return inside, len(store.conversation_ids())

    assert asyncio.run(day()) == ("idle", 0)
    assert [agent.id for agent in Desk(store=store).agents()] == ["jana"]


def test_bad_input_is_refused_before_any_round_trip(store: PostgresStore) -> None:
    async def day() -> None:
        async with AsyncDesk(store=store) as desk:
            with pytest.raises(InvalidArgument):
                await desk.start_chat("support", "x" * 10_000, "a@example.com")
            with pytest.raises(InvalidArgument):
                await desk.handle("not a command")  # type: ignore[arg-type]

    asyncio.run(day())
    assert store.conversation_ids() == []


def test_the_loop_keeps_running_while_a_command_waits_for_a_lock(postgres_dsn: str) -> None:
    """A command blocked behind another connection's lock waits on the loop's socket
    watcher: other coroutines run meanwhile; past the store's timeout it is a
    StoreTimeout, and the desk serves the next command."""
    with PostgresStore(postgres_dsn, timeout=1.0) as store:
        Desk(store=store).add_queue("support", ["Resolved"])

        async def day() -> tuple[int, float]:
            async with AsyncDesk(store=store) as desk:
                beats = 0
                stop = asyncio.Event()

                async def heartbeat() -> None:
                    nonlocal beats
                    while not stop.is_set():
                        beats += 1
                        await asyncio.sleep(0.01)

                with psycopg.connect(postgres_dsn) as holder:
                    holder.execute("LOCK TABLE livechat.queues IN ACCESS EXCLUSIVE MODE")
                    beating = asyncio.create_task(heartbeat())
                    started = time.monotonic()
                    with pytest.raises(StoreTimeout):
                        await desk.add_queue("support", ["Resolved", "Escalated"])
                    waited = time.monotonic() - started
                    stop.set()
                    await beating
                    holder.rollback()
                await desk.add_queue("support", ["Resolved", "Escalated"])
                assert [q.wrap_up_reasons for q in await desk.queues()] == [
                    ("Resolved", "Escalated")
                ]
                return beats, waited

        beats, waited = asyncio.run(day())
        assert waited < 30
        assert beats >= 10, "the event loop ran other coroutines while the command waited"


def test_a_server_that_stops_answering_is_a_store_timeout(postgres_dsn: str) -> None:
    """The client's own bound on the async connection: a server process stopped
    (SIGSTOP) mid-command is given up on after twice the timeout."""
    with PostgresStore(postgres_dsn, timeout=1.0) as store:

        async def day() -> None:
            async with AsyncDesk(store=store, connections=1) as desk:
                await desk.add_queue("support", ["Resolved"])
                runner = desk._postgres
                assert runner is not None
                connection = await runner.sessions[0]._connect()
                backend = connection.info.backend_pid
                try:
                    os.kill(backend, signal.SIGSTOP)
                except PermissionError:
                    pytest.skip("the server's processes belong to another user")
                try:
                    started = time.monotonic()
                    with pytest.raises(StoreTimeout):
                        await desk.add_queue("sales", ["Sold"])
                    assert time.monotonic() - started < 30
                finally:
                    os.kill(backend, signal.SIGCONT)
                await desk.add_queue("sales", ["Sold"])  # on a new connection
                assert [q.name for q in await desk.queues()] == ["sales", "support"]

        asyncio.run(day())


def test_a_megabyte_message_crosses_the_async_pipeline(store: PostgresStore) -> None:
    """Megabyte parameters out and a megabyte record back in one round trip, read
    while still sending (the sync store's hardening, kept on the async path)."""

    async def day() -> str:
        async with AsyncDesk(store=store, max_customer_message_length=2_000_000) as desk:
            await desk.add_queue("support", ["Resolved"])
            await desk.login("a1", "Jana", ["support"])
            await desk.set_available("a1")
            chat = await desk.start_chat("support", "Eva", "eva@example.com")
            await desk.accept("a1", chat)
            await desk.send_customer_message(chat, "hello " * 170_000 + "4711")
            with pytest.raises(UnknownQueue):
                await desk.transfer_to_queue("a1", chat, "q" * 200)
            await desk.send_customer_message(chat, "still here")
            return (await desk.conversation(chat)).messages[-1].text

    assert asyncio.run(day()) == "still here"


def test_a_cancelled_caller_does_not_break_the_desk(store: PostgresStore) -> None:
    async def day() -> list[str]:
        async with AsyncDesk(store=store) as desk:
            await desk.add_queue("support", ["Resolved"])
            calls = [
                asyncio.ensure_future(desk.start_chat("support", f"C{n}", "c@example.com"))
                for n in range(20)
            ]
            await asyncio.sleep(0)
            calls[5].cancel()
            calls[15].cancel()
            await asyncio.gather(*calls, return_exceptions=True)
            await desk.start_chat("support", "After", "after@example.com")
            return [
                c.id
                for c in await asyncio.gather(*map(desk.conversation, store.conversation_ids()))
            ]

    ids = asyncio.run(day())
    assert len(ids) == len(set(ids)) >= 19


def test_commands_waiting_at_once_spread_over_the_connections(store: PostgresStore) -> None:
    """A hundred customers of one queue at once: the desk's connections share them (each
    group one commit), the one queue's lock keeps routing right, nothing is lost."""
    clock = ManualClock(T0)

    async def day() -> tuple[list[Any], int]:
        async with AsyncDesk(store=store, clock=clock, connections=4) as desk:
            await desk.add_queue("support", ["Resolved"])
            await asyncio.gather(
                *(desk.login(f"agent{n}", f"Agent {n}", ["support"], 3) for n in range(8))
            )
            await asyncio.gather(*(desk.set_available(f"agent{n}") for n in range(8)))

            async def customer(n: int) -> str:
                chat = await desk.start_chat("support", f"C{n}", f"c{n}@example.com")
                await desk.send_customer_message(chat, f"hello {n}")
                return chat

            chats = await asyncio.gather(*(customer(n) for n in range(100)))
            conversations = await asyncio.gather(*map(desk.conversation, chats))
            runner = desk._postgres
            assert runner is not None
            opened = sum(1 for session in runner.sessions if session._connection is not None)
            return list(conversations), opened

    conversations, opened = asyncio.run(day())
    assert opened >= 2
    assert len({c.id for c in conversations}) == 100
    offered = [c for c in conversations if c.state.value == "offered"]
    assert len(offered) == 24, "eight agents, three chats each"
    assert all(len(c.messages) == 1 for c in conversations)
    holding = [chat for agent in Desk(store=store).agents() for chat in agent.holding]
    assert sorted(holding) == sorted(c.id for c in offered)


def test_the_number_of_connections_is_checked(store: PostgresStore) -> None:
    for wrong in (0, -1, 1.5, True, "4"):
        with pytest.raises(InvalidArgument):
            AsyncDesk(store=store, connections=wrong)  # type: ignore[arg-type]


def test_a_transport_gets_every_event_once_in_order_from_concurrent_commands(
    store: PostgresStore,
) -> None:
    published: list[Any] = []

    class Transport:
        def publish(self, events: Any) -> None:
            published.extend(events)

    async def day() -> int:
        async with AsyncDesk(store=store, transport=Transport()) as desk:
            await desk.add_queue("support", ["Resolved"])

            async def customer(n: int) -> None:
                chat = await desk.start_chat("support", f"C{n}", f"c{n}@example.com")
                await desk.send_customer_message(chat, f"hello {n}")

            await asyncio.gather(*(customer(n) for n in range(40)), desk.relay())
            return await desk.relay()

    assert asyncio.run(day()) == 0, "every event was relayed after its commit"
    logged = [event for _, event in store.log(0, 100_000)]
    assert sorted(e.id for e in published) == sorted(e.id for e in logged)
    assert len({e.id for e in published}) == len(published), "none twice"
    for chat in store.conversation_ids():
        assert [e for e in published if e.aggregate_id == chat] == store.events(chat)
    assert store.pending() == []


def test_a_replay_makes_each_read_once_and_a_runaway_one_is_stopped(
    store: PostgresStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    Desk(store=store).add_queue("support", ["Resolved"])
    Desk(store=store).add_queue("sales", ["Sold"])

    async def day() -> tuple[list[Any], int, int]:
        session = postgres_async.AsyncPostgresSession(store)
        try:
            txn = await session.begin(write=False)
            runs = 0

            def three_reads() -> list[Any]:
                nonlocal runs
                runs += 1
                return [txn.queue(name) for name in ("sales", "nothing", "support")]

            found = await txn.replay(three_reads)
            first = runs
            again = await txn.replay(three_reads)  # kept decoded: no read, one run
            assert again == found
            monkeypatch.setattr(postgres_async, "_REPLAYS", 5)
            count = iter(range(1_000))
            with pytest.raises(StoreError):
                await txn.replay(lambda: txn.conversation(f"chat{next(count)}"))
            await txn.aabandon()
            return found, first, runs - first
        finally:
            await session.close()

    found, first, second = asyncio.run(day())
    assert [queue.name if queue else None for queue in found] == ["sales", None, "support"]
    assert first == 4, "three reads, each made once, then the run that finds them all"
    assert second == 1
