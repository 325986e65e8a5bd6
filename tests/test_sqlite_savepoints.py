"""SQLite's savepoint scopes and ``Desk.batch()``: every way out of a scope undoes all of
its writes and nothing before it; a refused command in a block leaves the others; a file
reopened after a block continues where it stopped."""

from __future__ import annotations

from pathlib import Path

import pytest

from livechat_core import ConcurrencyConflict, Desk, NoPendingOffer
from livechat_core.adapters.sqlite import SqliteStore
from livechat_core.ports import Changes, StoreTransaction
from livechat_core.testing import ManualClock
from livechat_core.testing._conformance import make_queue


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    return SqliteStore(str(tmp_path / "desk.db"))


def _names(store: SqliteStore) -> list[str]:
    with store.transaction(write=False) as txn:
        return [queue.name for queue in txn.queues()]


def _fail_in_a_scope(txn: StoreTransaction, *names: str, inner: bool = False) -> None:
    """Save a queue per name in a savepoint scope (in a nested one with ``inner``, which
    ends normally), then raise."""
    with txn.savepoint():
        if inner:
            with txn.savepoint():
                for name in names:
                    txn.save(Changes(queues=((make_queue(name), 0),)))
        else:
            for name in names:
                txn.save(Changes(queues=((make_queue(name), 0),)))
        raise RuntimeError("the command failed after its saves")


def test_a_batch_of_commands_is_one_transaction(store: SqliteStore) -> None:
    desk = Desk(store=store, clock=ManualClock(1_700_000_000.0))
    desk.add_queue("support", ["Resolved"])
    desk.login("ann", "Ann", ["support"])
    statements: list[str] = []
    store._connect().set_trace_callback(statements.append)
    with desk.batch():
        desk.set_available("ann")
        chat = desk.start_chat("support", "Karel", "")
        desk.accept("ann", chat)
        desk.send_customer_message(chat, "Dobrý den")
    store._connect().set_trace_callback(None)
    assert [s for s in statements if s.split()[0] in ("BEGIN", "COMMIT")] == [
        "BEGIN IMMEDIATE",
        "COMMIT",
    ]
    assert desk.conversation(chat).state.value == "active"
    assert [m.text for m in store.transcript(chat)] == ["Dobrý den"]


def test_a_refused_command_in_a_batch_leaves_the_others(store: SqliteStore) -> None:
    desk = Desk(store=store, clock=ManualClock(1_700_000_000.0))
    desk.add_queue("support", ["Resolved"])
    desk.login("ann", "Ann", ["support"])
    with desk.batch():
        chat = desk.start_chat("support", "Karel", "")
        with pytest.raises(NoPendingOffer):
            desk.accept("ann", chat)  # not offered to her: refused, nothing changed
        desk.set_available("ann")  # routes the queued chat to her
    assert desk.conversation(chat).legs[0].agent_id == "ann"


def test_a_save_is_undone_when_its_scope_fails(store: SqliteStore) -> None:
    with store.transaction() as txn:
        txn.save(Changes(queues=((make_queue("first"), 0),)))
        with pytest.raises(RuntimeError):
            _fail_in_a_scope(txn, "second")
        assert txn.queue("second") is None
    assert _names(store) == ["first"]


def test_two_saves_in_a_scope_are_undone_together(store: SqliteStore) -> None:
    with store.transaction() as txn:
        with pytest.raises(RuntimeError):
            _fail_in_a_scope(txn, "a", "b")
        with txn.savepoint():
            txn.save(Changes(queues=((make_queue("c"), 0),)))
            txn.save(Changes(queues=((make_queue("d"), 0),)))
    assert _names(store) == ["c", "d"]


def test_a_stale_save_in_a_scope_writes_nothing(store: SqliteStore) -> None:
    with store.transaction() as txn:
        txn.save(Changes(queues=((make_queue("q"), 0),)))
    with store.transaction() as txn:
        with pytest.raises(ConcurrencyConflict), txn.savepoint():
            txn.save(Changes(queues=((make_queue("q", version=2), 5),)))  # stale base
        with txn.savepoint():
            txn.save(Changes(queues=((make_queue("r"), 0),)))
    assert _names(store) == ["q", "r"]


def test_nested_scopes_undo_only_the_inner_one(store: SqliteStore) -> None:
    with store.transaction() as txn:
        with txn.savepoint():
            txn.save(Changes(queues=((make_queue("outer"), 0),)))
            with pytest.raises(RuntimeError):
                _fail_in_a_scope(txn, "inner")
            assert txn.queue("outer") is not None
        with pytest.raises(RuntimeError):
            _fail_in_a_scope(txn, "kept-by-inner", inner=True)
    assert _names(store) == ["outer"]


def test_a_reopened_file_sees_every_command_of_the_batch(tmp_path: Path) -> None:
    path = str(tmp_path / "desk.db")
    with SqliteStore(path) as store:
        desk = Desk(store=store, clock=ManualClock(1_700_000_000.0))
        desk.add_queue("support", ["Resolved"])
        desk.login("ann", "Ann", ["support"])
        with desk.batch():
            desk.set_available("ann")
            chat = desk.start_chat("support", "Karel", "")
            desk.accept("ann", chat)
    with SqliteStore(path) as store:
        desk = Desk(store=store, clock=ManualClock(1_700_000_100.0))
        assert desk.conversation(chat).state.value == "active"
        desk.send_customer_message(chat, "continues where it stopped")
        assert [m.text for m in store.transcript(chat)] == ["continues where it stopped"]
