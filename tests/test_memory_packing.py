"""The memory store keeps conversations packed into tuples of plain values: every record
comes back equal, and a full garbage collection has nothing of them to traverse."""

from __future__ import annotations

import gc

from hypothesis import given, settings

from livechat_core import Conversation, Desk
from livechat_core.adapters import _packed
from livechat_core.adapters.memory import MemoryStore
from livechat_core.testing.clock import ManualClock
from livechat_core.testing.strategies import Scenario, scenarios


def _desk(scenario: Scenario) -> tuple[Desk, MemoryStore]:
    clock = ManualClock(scenario.start)
    store = MemoryStore()
    desk = Desk(store=store, clock=clock)
    scenario.play(desk, clock)
    return desk, store


@settings(max_examples=40, deadline=None)
@given(scenarios(max_steps=40))
def test_every_stored_conversation_unpacks_to_the_record_saved(scenario: Scenario) -> None:
    _, store = _desk(scenario)
    # the records saved last are kept as saved, and packed once they leave ``_recent``
    saved = {
        conversation_id: record
        for conversation_id, record in store._recent.items()
        if store._stored(conversation_id) is record
    }
    assert saved or not store.conversation_ids()
    while store._recent:
        store._evict()
    for conversation_id in store.conversation_ids():
        stored = store._stored(conversation_id)
        assert isinstance(stored, tuple)  # every one packed now
        with store.transaction(write=False) as txn:
            record = txn.conversation(conversation_id)
        assert record is not None
        if conversation_id in saved:
            assert record == saved[conversation_id]
        assert _packed.pack(record) == stored
        assert store._deadlines.get(conversation_id) == record.next_deadline
        assert record.id == conversation_id


@settings(max_examples=20, deadline=None)
@given(scenarios(max_steps=40))
def test_a_full_collection_does_not_traverse_stored_conversations(scenario: Scenario) -> None:
    _, store = _desk(scenario)
    gc.collect()
    for conversation_id in store.conversation_ids():
        stored = store._stored(conversation_id)
        # packed, or one of the few records saved last (not yet packed)
        assert not gc.is_tracked(stored) or store._recent.get(conversation_id) is stored
        # nor the conversation's positions in the event log
        positions = store._log_positions.get(("conversation", conversation_id))
        assert positions is None or not gc.is_tracked(positions)


def test_many_live_chats_leave_only_a_few_records_for_the_collector() -> None:
    desk = Desk()
    desk.add_queue("support", ["Resolved"])
    desk.login("a0", "Agent", ["support"], capacity=1000)
    desk.set_available("a0")
    for i in range(600):
        desk.accept("a0", desk.start_chat("support", f"Customer {i}", ""))
    gc.collect()
    ours = set(desk.store.conversation_ids())
    records = sum(
        1 for thing in gc.get_objects() if isinstance(thing, Conversation) and thing.id in ours
    )
    # at most the store's few recently used records (and none per chat beyond them); records
    # other tests left behind are not this desk's
    assert records <= 256
