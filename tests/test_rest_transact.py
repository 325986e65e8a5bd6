"""``Store.transact``, the desk's way into a store (issue 9, per-command cost): the memory
store's short way (its lock, no context-manager layer) keeps a transaction's contract:
all or nothing, one at a time, nested calls apart, and a store that overrides
``transaction`` still goes through it."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from livechat_core import ConcurrencyConflict, Desk, MemoryStore, StoreTimeout
from livechat_core._errors import ClockError
from livechat_core._events import ChatOffered
from livechat_core._model import Queue
from livechat_core.adapters import memory
from livechat_core.ports import Changes, StoreTransaction


def _queue(name: str) -> Changes:
    return Changes(queues=((Queue(name=name, wrap_up_reasons=("Resolved",)), 0),))


def test_a_body_that_raises_leaves_nothing_it_saved() -> None:
    store = MemoryStore()

    def body(txn: StoreTransaction, name: str) -> None:
        txn.save(_queue(name))
        raise RuntimeError("after the save")

    with pytest.raises(RuntimeError):
        store.transact(body, "support")
    with store.transaction() as txn:
        assert txn.queues() == []
    # the lock was released and the next body runs with a clean transaction
    assert store.transact(lambda txn, name: txn.save(_queue(name)), "sales") is None
    with store.transaction() as txn:
        assert [queue.name for queue in txn.queues()] == ["sales"]


def test_a_body_returns_its_value_committed() -> None:
    store = MemoryStore()

    def body(txn: StoreTransaction, name: str) -> str:
        txn.save_last(_queue(name))
        return name

    assert store.transact(body, "support") == "support"
    with store.transaction() as txn:
        assert [queue.name for queue in txn.queues()] == ["support"]


def test_a_nested_transact_has_a_transaction_of_its_own() -> None:
    store = MemoryStore()
    store.transact(lambda txn, _: None, None)  # a transaction object to reuse
    seen: list[StoreTransaction] = []

    def inner(txn: StoreTransaction, name: str) -> None:
        seen.append(txn)
        txn.save(_queue(name))
        raise RuntimeError("the inner one fails")

    def outer(txn: StoreTransaction, name: str) -> None:
        seen.append(txn)
        txn.save(_queue(name))
        with pytest.raises(RuntimeError):
            store.transact(inner, "inner")

    store.transact(outer, "outer")
    assert seen[0] is not seen[1]
    with store.transaction() as txn:
        # the inner body's save was undone, the outer one's stands
        assert [queue.name for queue in txn.queues()] == ["outer"]


def test_transact_waits_for_the_lock_and_times_out() -> None:
    store = MemoryStore(lock_timeout=0.05)
    held = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with store.transaction():
            held.set()
            release.wait(5)

    thread = threading.Thread(target=hold)
    thread.start()
    held.wait(5)
    try:
        with pytest.raises(StoreTimeout):
            store.transact(lambda txn, _: None, None)
    finally:
        release.set()
        thread.join()
    assert store.transact(lambda txn, value: value, 7) == 7


def test_a_store_overriding_transaction_is_gone_through() -> None:
    class Racing(MemoryStore):
        losses = 0

        def transaction(self, *, write: bool = True) -> Any:
            if self.losses:
                self.losses -= 1
                raise ConcurrencyConflict("another writer won")
            return super().transaction(write=write)

    store = Racing()
    desk = Desk(store=store)
    store.losses = 2
    desk.add_queue("support", ["Resolved"])  # retried twice, then committed
    assert store.losses == 0
    assert [queue.name for queue in desk.queues()] == ["support"]


@pytest.mark.parametrize("time", [float("nan"), float("inf"), "now", None, 1e13])
def test_a_clock_giving_no_time_is_refused_on_the_short_way(time: Any) -> None:
    desk = Desk(clock=lambda: time)
    with pytest.raises(ClockError):
        desk.add_queue("support", ["Resolved"])
    assert Desk(store=desk.store).queues() == []


def test_a_clock_giving_an_int_is_taken_as_seconds() -> None:
    desk = Desk(clock=lambda: 1_700_000_000)
    desk.add_queue("support", ["Resolved"])
    desk.login("a0", "Anna", ["support"])
    (event,) = desk.store.events("a0", "agent")
    assert event.at == 1_700_000_000.0
    assert type(event.at) is float


def test_a_clock_that_raises_once_refuses_that_command() -> None:
    calls = [0]

    def flaky() -> float:
        calls[0] += 1
        if calls[0] == 1:
            raise OSError("no time")
        return 1_700_000_000.0

    desk = Desk(clock=flaky)
    with pytest.raises(ClockError):
        desk.add_queue("support", ["Resolved"])
    assert desk.queues() == []
    desk.add_queue("support", ["Resolved"])
    assert [queue.name for queue in desk.queues()] == ["support"]


def test_a_packer_that_fails_leaves_the_store_as_it_was() -> None:
    """A command's save packs and logs its events before it writes a record: when the
    second event cannot be packed, the first one's log entry, position and outbox entry
    are taken back, and nothing else was written."""
    store = MemoryStore(outbox=True)
    desk = Desk(store=store)
    desk.add_queue("support", ["Resolved"])
    desk.login("jana", "Jana", ["support"])
    desk.set_available("jana")  # a start_chat logs ChatStarted, then ChatOffered
    before = (
        list(store._log),
        {key: bytes(value) for key, value in store._log_positions.items()},
        dict(store._outbox),
        store.conversation_ids(),
        desk.agent("jana"),
    )

    def broken(event: Any) -> Any:
        raise RuntimeError("cannot pack")

    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(memory._PACKERS, ChatOffered, broken)
        with pytest.raises(RuntimeError):
            desk.start_chat("support", "Karel", "k@example.com")
    after = (
        list(store._log),
        {key: bytes(value) for key, value in store._log_positions.items()},
        dict(store._outbox),
        store.conversation_ids(),
        desk.agent("jana"),
    )
    assert after == before
    chat = desk.start_chat("support", "Karel", "k@example.com")  # and the store goes on
    assert [event.type for event in desk.events(chat)] == ["ChatStarted", "ChatOffered"]
