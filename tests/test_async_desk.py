"""AsyncDesk: the sync desk's methods as coroutines, run where they never block the loop."""

from __future__ import annotations

import asyncio
import inspect
import logging
import pathlib
import threading
from contextlib import AbstractContextManager
from typing import Any

import pytest

from livechat_core import (
    AsyncDesk,
    ConcurrencyConflict,
    ConversationState,
    Desk,
    InvalidArgument,
    LivechatError,
    MemoryStore,
    NoPendingOffer,
    RetriesExhausted,
    SqliteStore,
    UnknownAgent,
    UnknownConversation,
)
from livechat_core.ports import StoreTransaction
from livechat_core.testing import ManualClock

PUBLIC_DESK_METHODS = sorted(
    name
    for name, member in inspect.getmembers(Desk, inspect.isfunction)
    if not name.startswith("_") and name != "batch"
)


def test_every_desk_method_is_a_coroutine_of_the_same_name() -> None:
    desk = AsyncDesk()
    for name in PUBLIC_DESK_METHODS:
        assert inspect.iscoroutinefunction(getattr(desk, name)), name


@pytest.mark.parametrize("name", [name for name in PUBLIC_DESK_METHODS if name in vars(AsyncDesk)])
def test_each_coroutine_takes_the_desk_methods_arguments(name: str) -> None:
    sync = inspect.signature(getattr(Desk, name))
    asynchronous = inspect.signature(getattr(AsyncDesk, name))
    assert list(asynchronous.parameters.values()) == list(sync.parameters.values())
    if name != "stored_events":  # a list instead of a lazy iterator (see its docstring)
        assert asynchronous.return_annotation == sync.return_annotation


def test_unknown_attributes_are_attribute_errors() -> None:
    desk = AsyncDesk()
    with pytest.raises(AttributeError):
        desk.no_such_method  # noqa: B018
    with pytest.raises(AttributeError):
        desk._read  # noqa: B018


def test_the_constructor_checks_like_the_desk() -> None:
    with pytest.raises(InvalidArgument):
        AsyncDesk(masking="everything")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        AsyncDesk(no_such_option=True)


class RecordingStore(SqliteStore):
    """Records the thread of every transaction."""

    threads: set[int]

    def transaction(self, *, write: bool = True) -> AbstractContextManager[StoreTransaction]:
        self.threads.add(threading.get_ident())
        return super().transaction(write=write)


@pytest.fixture
def sqlite_path(tmp_path: pathlib.Path) -> pathlib.Path:
    return tmp_path / "desk.db"


def test_a_durable_store_is_never_touched_from_the_event_loop(sqlite_path: pathlib.Path) -> None:
    store = RecordingStore(sqlite_path, synchronous="OFF")
    store.threads = set()

    async def work() -> int:
        async with AsyncDesk(store=store) as desk:
            await desk.add_queue("support", ["Resolved"])
            await desk.login("jana", "Jana", ["support"])
            chats = await asyncio.gather(
                *(desk.start_chat("support", f"C{n}", "c@example.com") for n in range(10))
            )
            await desk.set_available("jana")
            await desk.accept("jana", chats[0])
            assert (await desk.conversation(chats[0])).state == ConversationState.ACTIVE
            assert len(await desk.events_after()) > 10
        return threading.get_ident()

    loop_thread = asyncio.run(work())
    store.close()
    assert store.threads
    assert loop_thread not in store.threads


def test_a_memory_desk_without_transport_runs_in_the_loop() -> None:
    async def work() -> bool:
        desk = AsyncDesk()
        await desk.add_queue("support", ["Resolved"])
        return desk._thread is None

    assert asyncio.run(work())


def test_errors_are_the_desk_errors_and_change_nothing(sqlite_path: pathlib.Path) -> None:
    store = SqliteStore(sqlite_path, synchronous="OFF")
    clock = ManualClock()

    async def work() -> None:
        async with AsyncDesk(store=store, clock=clock) as desk:
            await desk.add_queue("support", ["Resolved"])
            await desk.login("jana", "Jana", ["support"])
            chat = await desk.start_chat("support", "Karel", "k@example.com")
            before = await desk.events_after()
            with pytest.raises(NoPendingOffer) as caught:
                await desk.accept("jana", chat)
            assert caught.value.code == "no_pending_offer"
            with pytest.raises(UnknownConversation):
                await desk.conversation("nobody")
            with pytest.raises(InvalidArgument):
                await desk.events_after(-1)
            assert await desk.events_after() == before

    asyncio.run(work())
    store.close()


def test_sync_and_async_desks_share_one_file(sqlite_path: pathlib.Path) -> None:
    """A sync desk in a thread and an async desk on the same file at the same time."""
    clock = ManualClock()
    setup = Desk(store=SqliteStore(sqlite_path), clock=clock)
    setup.add_queue("support", ["Resolved"])
    setup.store.close()
    sync_ids: list[str] = []

    def sync_customers() -> None:
        store = SqliteStore(sqlite_path)
        desk = Desk(store=store, clock=clock)
        for n in range(30):
            sync_ids.append(desk.start_chat("support", f"Sync {n}", "s@example.com"))
        store.close()

    async def async_customers() -> list[str]:
        store = SqliteStore(sqlite_path)
        async with AsyncDesk(store=store, clock=clock) as desk:
            chats = await asyncio.gather(
                *(desk.start_chat("support", f"Async {n}", "a@example.com") for n in range(30))
            )
        store.close()
        return list(chats)

    worker = threading.Thread(target=sync_customers)
    worker.start()
    async_ids = asyncio.run(async_customers())
    worker.join()
    store = SqliteStore(sqlite_path)
    assert sorted(store.conversation_ids()) == sorted(sync_ids + async_ids)
    logged = store.log(limit=10_000)
    assert [position for position, _ in logged] == list(range(1, len(logged) + 1))
    store.close()


def test_a_call_cancelled_before_it_runs_does_not_run(sqlite_path: pathlib.Path) -> None:
    store = SqliteStore(sqlite_path, synchronous="OFF")
    gate = threading.Event()

    async def work() -> list[str]:
        async with AsyncDesk(store=store) as desk:
            await desk.add_queue("support", ["Resolved"])
            assert desk._thread is not None
            # Hold the desk's thread so the next call waits in line, then cancel it.
            blocker = asyncio.ensure_future(desk._thread.submit(gate.wait, command=False))
            waiting = asyncio.ensure_future(desk.login("jana", "Jana", ["support"]))
            await asyncio.sleep(0)
            waiting.cancel()
            gate.set()
            await blocker
            with pytest.raises(asyncio.CancelledError):
                await waiting
            return [agent.id for agent in await desk.agents()]

    assert asyncio.run(work()) == []
    store.close()


def test_a_closed_desk_refuses_new_calls(sqlite_path: pathlib.Path) -> None:
    store = SqliteStore(sqlite_path, synchronous="OFF")

    async def work() -> None:
        desk = AsyncDesk(store=store)
        await desk.add_queue("support", ["Resolved"])
        await desk.aclose()
        with pytest.raises(RuntimeError, match="closed"):
            await desk.queues()

    asyncio.run(work())
    store.close()


def test_a_transport_is_called_off_the_loop() -> None:
    threads: list[int] = []

    class Transport:
        def publish(self, events: Any) -> None:
            threads.append(threading.get_ident())

    async def work() -> int:
        async with AsyncDesk(store=MemoryStore(), transport=Transport()) as desk:
            await desk.add_queue("support", ["Resolved"])
        return threading.get_ident()

    loop_thread = asyncio.run(work())
    assert threads
    assert loop_thread not in threads


# --- logging and metrics ------------------------------------------------------------------


def test_refusals_and_metrics_are_reported_without_customer_text(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[tuple[str, str, int]] = []

    def metrics(command: str, outcome: str, seconds: float, retries: int) -> None:
        assert seconds >= 0
        calls.append((command, outcome, retries))

    desk = Desk(metrics=metrics)
    desk.add_queue("support", ["Resolved"])
    chat = desk.start_chat("support", "Karel Novák", "karel@example.com")
    with caplog.at_level(logging.INFO, logger="livechat_core"):
        desk.send_customer_message(chat, "my secret plan")
        with pytest.raises(UnknownAgent):
            desk.accept("jana", chat)
        desk.customer_end(chat)
        with pytest.raises(LivechatError):
            desk.send_customer_message(chat, "my secret plan, again")
    assert calls == [
        ("AddQueue", "ok", 0),
        ("StartChat", "ok", 0),
        ("SendCustomerMessage", "ok", 0),
        ("Accept", "unknown_agent", 0),
        ("CustomerEnd", "ok", 0),
        ("SendCustomerMessage", "conversation_state", 0),
    ]
    messages = [record.getMessage() for record in caplog.records]
    assert "Accept refused: unknown_agent" in messages
    assert all("secret" not in message and "Karel" not in message for message in messages)


def test_retried_conflicts_are_counted_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[tuple[str, str, int]] = []

    class Racing(MemoryStore):
        """Loses the race twice on the first save after it is armed."""

        losses = 0

        def transaction(self, *, write: bool = True) -> Any:
            if self.losses:
                self.losses -= 1
                raise ConcurrencyConflict("another writer won")
            return super().transaction(write=write)

    store = Racing()
    desk = Desk(store=store, metrics=lambda c, o, s, r: calls.append((c, o, r)))
    store.losses = 2
    with caplog.at_level(logging.DEBUG, logger="livechat_core"):
        desk.add_queue("support", ["Resolved"])
    assert calls == [("AddQueue", "ok", 2)]
    messages = [record.getMessage() for record in caplog.records]
    assert "AddQueue lost a race for its records (attempt 1); retrying" in messages
    assert "AddQueue committed after 2 lost races" in messages
    store.losses = 100
    with pytest.raises(RetriesExhausted):
        Desk(store=store, retries=3, metrics=lambda c, o, s, r: calls.append((c, o, r))).login(
            "jana", "Jana", ["support"]
        )
    assert calls[-1] == ("Login", "retries_exhausted", 4)


def test_a_metrics_hook_must_be_callable() -> None:
    with pytest.raises(InvalidArgument):
        Desk(metrics=42)  # type: ignore[arg-type]
