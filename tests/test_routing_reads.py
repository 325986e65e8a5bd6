"""Routing reads the head of a queue, not one row per conversation the command changed.

A command that changed many conversations (a tick fires a batch of offers) asks whether
anything waits with a read bounded by the conversations it changed that were *queued*
when it read them: only those can stand at the committed queue's head while their drafts
say otherwise. Before, the read asked for one extra row per changed conversation, so a
tick on a long queue decoded a batch of queued records per batch of deadlines.
"""

from __future__ import annotations

import pytest

from livechat_core import Desk, MemoryStore
from livechat_core import _events as ev
from livechat_core._core import Settings, Unit
from livechat_core._desk import TICK_BATCH
from livechat_core.adapters import memory
from livechat_core.testing import ManualClock

T0 = 1_700_000_000.0


def _queued_desk(chats: int) -> tuple[Desk, MemoryStore, list[str]]:
    store = MemoryStore()
    desk = Desk(store=store, clock=ManualClock(T0))
    desk.add_queue("support", ["Resolved"], offer_timeout=30.0)
    desk.login("a1", "Alice", ["support"], capacity=10)  # idle: nobody is offered a chat
    ids = [desk.start_chat("support", f"C{i}", "") for i in range(chats)]
    return desk, store, sorted(ids)  # started at one time: the queue's order is by id


def test_changed_conversations_that_were_queued_are_skipped_at_the_head() -> None:
    _, store, ids = _queued_desk(5)
    with store.transaction() as txn:
        unit = Unit(txn, T0 + 1, Settings())
        for conversation_id in ids[:3]:  # the three oldest leave the queue in this command
            unit.emit(
                unit.conversation(conversation_id),
                ev.ChatOffered,
                conversation_id,
                agent_id="a1",
                agent_name="Alice",
                deadline=T0 + 31,
            )
        assert [c.id for c in unit.queued(["support"], limit=2)] == ids[3:5]
        assert [c.id for c in unit.queued(["support"], limit=5)] == ids[3:5]


def test_changed_conversations_still_queued_keep_their_place() -> None:
    _, store, ids = _queued_desk(4)
    with store.transaction() as txn:
        unit = Unit(txn, T0 + 1, Settings())
        unit.emit(
            unit.conversation(ids[1]),
            ev.ChatOffered,
            ids[1],
            agent_id="a1",
            agent_name="Alice",
            deadline=T0 + 31,
        )
        unit.emit(
            unit.conversation(ids[1]), ev.OfferTimedOut, ids[1], agent_id="a1"
        )  # queued again, as the draft
        found = unit.queued(["support"], limit=3)
        assert [c.id for c in found] == ids[:3]
        assert found[1] is unit.conversation(ids[1])  # the draft, not the committed record


def test_a_tick_reads_a_few_queued_rows_per_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    """Three batches of offers time out and go back to the queue one after another: each
    batch's routing reads the queue's head (the chats requeued by the batches before)
    with a bounded read, not a row per deadline of the batch."""
    store = MemoryStore()
    clock = ManualClock(T0)
    desk = Desk(store=store, clock=clock)
    desk.add_queue("support", ["Resolved"], offer_timeout=30.0)
    offers = 3 * TICK_BATCH
    for agent in range(offers // 100):
        with desk.batch():
            desk.login(f"a{agent}", "Agent", ["support"], capacity=100)
            desk.set_available(f"a{agent}")
            for _ in range(100):
                desk.start_chat("support", "Karel", "")
    rows: list[int] = []
    queued = memory._MemoryTransaction.queued

    def counted(self: memory._MemoryTransaction, queues: object, limit: int) -> object:
        found = queued(self, queues, limit)  # type: ignore[arg-type]
        rows.append(len(found))
        return found

    monkeypatch.setattr(memory._MemoryTransaction, "queued", counted)
    fired = desk.tick(T0 + 3600)
    assert sum(1 for event in fired if event.type == "OfferTimedOut") == offers
    assert rows
    assert max(rows) <= 2  # before: up to TICK_BATCH + 2 per read
