"""PostgreSQL's deferred writes in ``lock`` mode: a save that writes only rows the
transaction wrote already (and their events) travels with the next round trip instead of
one of its own, and still never overwrites another writer's work.

The first write of a row takes its row lock until the commit, so nobody else can change
the row or add its events in between: the deferred writes cannot fail. Checked here: the
round trips of a batched lifecycle, a scope that fails after a deferred save, a later
scope whose rollback keeps the earlier deferred writes, another connection's write of a
held row waiting and then conflicting, and reads around the transaction seeing them.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from batch_support import count_round_trips, lifecycle, one_agent_desk
from livechat_core import ConcurrencyConflict, Desk
from livechat_core._events import MessagePosted
from livechat_core._model import Message, Role
from livechat_core.adapters.postgres import PostgresStore
from livechat_core.ports import Changes
from livechat_core.testing import ManualClock
from livechat_core.testing._conformance import T0, make_conversation


class _Failed(Exception):
    pass


def _posted(chat: str, sequence: int) -> MessagePosted:
    message = Message(
        id=f"{chat}/{sequence}",
        role=Role.CUSTOMER,
        author="Karel",
        text="Dobrý den",
        at=T0,
        initials="K",
    )
    return MessagePosted(aggregate_id=chat, sequence=sequence, at=T0, message=message)


def _save(version: int, *events: Any) -> Changes:
    """``c1`` saved at ``version`` (read at the one before) with ``events``."""
    return Changes(
        conversations=((make_conversation("c1", version=version), version - 1),), events=events
    )


def test_a_batched_lifecycle_takes_four_round_trips(
    postgres_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The start's prefetch and save, the end's routing read (carrying the message,
    accept and agent message writes) and the commit (carrying the end's and the wrap-up's):
    four for six commands, where each save took one of its own (eight)."""
    with PostgresStore(postgres_dsn) as store:
        desk = one_agent_desk(store)
        with desk.batch():
            lifecycle(desk, 0)  # statements prepared, records known
        trips = [0]
        count_round_trips(monkeypatch, trips)
        with desk.batch():
            chat = lifecycle(desk, 1)
        assert trips == [4]
    with PostgresStore(postgres_dsn) as reopened:
        desk = Desk(store=reopened, clock=ManualClock(T0))
        assert desk.conversation(chat).state == "closed"
        assert [m.text for m in desk.conversation(chat).messages] == [
            "Dobrý den 1",
            "Hned to bude.",
        ]
        assert len(desk.events(chat)) == 7
        assert desk.agent("ann").holding == ()


def test_a_scope_failing_after_a_deferred_save_undoes_it(postgres_dsn: str) -> None:
    with PostgresStore(postgres_dsn) as store:
        with store.transaction() as txn:
            with txn.savepoint():
                txn.save(_save(1, _posted("c1", 1)))  # the row's first write: sent
            with txn.savepoint():
                txn.save(_save(2, _posted("c1", 2)))  # deferred

            def fail() -> None:
                with txn.savepoint():
                    txn.save(_save(3, _posted("c1", 3)))  # deferred, then undone
                    raise _Failed

            with pytest.raises(_Failed):
                fail()
            assert txn.conversation("c1") == make_conversation("c1", version=2)
            with txn.savepoint():
                txn.save(_save(3, _posted("c1", 3)))  # again, for real
        assert [event.sequence for event in store.events("c1")] == [1, 2, 3]
        with store.transaction(write=False) as txn:
            assert txn.conversation("c1") == make_conversation("c1", version=3)


def test_a_later_scope_rolled_back_keeps_the_deferred_writes_before_it(
    postgres_dsn: str,
) -> None:
    with PostgresStore(postgres_dsn) as store:
        with store.transaction() as txn:
            txn.save(Changes(conversations=((make_conversation("c2", version=1), 0),)))
        with store.transaction() as txn:
            with txn.savepoint():
                txn.save(_save(1, _posted("c1", 1)))
            with txn.savepoint():
                txn.save(_save(2, _posted("c1", 2)))  # deferred

            def stale() -> None:
                with txn.savepoint():  # sent with the deferred writes, then rolled back
                    stale = make_conversation("c2", version=3)
                    txn.save(Changes(conversations=((stale, 2),)))

            with pytest.raises(ConcurrencyConflict):
                stale()
        assert [event.sequence for event in store.events("c1")] == [1, 2]
        with store.transaction(write=False) as txn:
            assert txn.conversation("c1") == make_conversation("c1", version=2)
            assert txn.conversation("c2") == make_conversation("c2", version=1)


def test_another_writer_of_a_held_row_waits_and_conflicts(postgres_dsn: str) -> None:
    with PostgresStore(postgres_dsn) as store, PostgresStore(postgres_dsn) as other:
        with store.transaction() as txn:
            txn.save(_save(1))
        outcome: list[BaseException | None] = []
        started = threading.Event()

        def overwrite() -> None:
            started.set()
            try:
                with other.transaction() as theirs:
                    theirs.save(_save(2))  # waits for the row, then finds version 3
                outcome.append(None)
            except BaseException as error:
                outcome.append(error)

        with store.transaction() as txn:
            with txn.savepoint():
                txn.save(_save(2))  # sent: the row is held from here on
            with txn.savepoint():
                txn.save(_save(3))  # deferred to the commit
            writer = threading.Thread(target=overwrite)
            writer.start()
            started.wait(5)
            writer.join(1.0)
            assert writer.is_alive()  # waiting for the row lock
        writer.join(10)
        assert len(outcome) == 1
        assert isinstance(outcome[0], ConcurrencyConflict)
        with store.transaction(write=False) as txn:
            assert txn.conversation("c1") == make_conversation("c1", version=3)


def test_reads_around_the_transaction_see_its_deferred_events(postgres_dsn: str) -> None:
    with PostgresStore(postgres_dsn) as store:
        desk = one_agent_desk(store)
        with desk.batch():
            chat = desk.start_chat("support", "Karel", "")
            desk.send_customer_message(chat, "Dobrý den")  # deferred
            assert [m.text for m in store.transcript(chat)] == ["Dobrý den"]
            assert [e.type for e in store.events(chat)][-1] == "MessagePosted"
            assert chat in store.conversation_ids()
