"""The memory store's save path (``_MemoryTransaction.save_last``) takes shortcuts: a
record among the recent ones is compared field by field with the one saved (the indexes
move only where a key they read changed), the record saved last is stored in place when
it is already the newest of ``_recent``, an agent routable neither before nor after
touches no routing index, and an event class is given its packer the first time it is
saved. Each index is checked here against the one rebuilt from the records, on both of
``save_last``'s paths: a store without an outbox saves a command's common shape on its own
path, one with an outbox goes through the general one (``tests/test_mem_fast_save.py``
holds the two equal)."""

from __future__ import annotations

from typing import Any

import attrs
import pytest
from hypothesis import given, settings

from livechat_core import Conversation, Desk
from livechat_core._events import ChatEnded
from livechat_core._events import pack as pack_event
from livechat_core._machines import ConversationState
from livechat_core.adapters import _packed, memory
from livechat_core.adapters.memory import MemoryStore
from livechat_core.ports import Changes, routing_key
from livechat_core.testing.clock import ManualClock
from livechat_core.testing.strategies import Scenario, scenarios

T0 = 1_767_258_000.0


def _records(store: MemoryStore) -> dict[str, Conversation]:
    """Every stored conversation as a record, read without touching ``_recent``."""
    found = {}
    for conversation_id, packed in store._packed_conversations.items():
        record = store._recent.get(conversation_id)
        if record is None:
            assert packed is not None
            record = _packed.unpack(packed)
        found[conversation_id] = record
    return found


def _rebuilt(store: MemoryStore) -> dict[str, Any]:
    """The indexes as they follow from the records."""
    records = _records(store)
    queued: dict[str, list[tuple[float, str]]] = {}
    open_by_asset: dict[str, set[str]] = {}
    for conversation_id, record in records.items():
        if record.state == "queued":
            queued.setdefault(record.queue, []).append((record.started_at, conversation_id))
        if record.state != "closed":
            open_by_asset.setdefault(record.asset, set()).add(conversation_id)
    deadlines = {
        conversation_id: record.next_deadline
        for conversation_id, record in records.items()
        if record.next_deadline is not None
    }
    routable: dict[str | None, list[tuple[float, str]]] = {}
    for agent in store._agents.values():
        if agent.routable:
            for queue in (None, *dict.fromkeys(agent.queues)):
                routable.setdefault(queue, []).append(routing_key(agent))
    return {
        "queued": {queue: sorted(keys) for queue, keys in queued.items()},
        "open": open_by_asset,
        "deadlines": deadlines,
        "due": sorted((deadline, key) for key, deadline in deadlines.items()),
        "routable": {queue: sorted(keys) for queue, keys in routable.items()},
    }


def _indexes(store: MemoryStore) -> dict[str, Any]:
    return {
        "queued": {queue: list(keys) for queue, keys in store._queued.items() if list(keys)},
        "open": {asset: set(ids) for asset, ids in store._open_by_asset.items() if ids},
        "deadlines": dict(store._deadlines),
        "due": list(store._due),
        "routable": {queue: list(keys) for queue, keys in store._routable.items() if list(keys)},
    }


def _check(store: MemoryStore) -> None:
    assert _indexes(store) == _rebuilt(store)
    # each closed conversation is in the heap ``archive`` reads (at its first close)
    closed = {key for key, record in _records(store).items() if record.state == "closed"}
    assert closed <= {conversation_id for _, conversation_id in store._closed}
    # ``_newest``, if any, is the last of ``_recent``'s keys, saved since it was packed
    newest = store._newest
    if newest is not None:
        assert list(store._recent)[-1] == newest
        assert store._packed_conversations[newest] is None


_OUTBOX = pytest.mark.parametrize("outbox", [True, False], ids=["general", "common shape"])


@_OUTBOX
@settings(max_examples=40, deadline=None)
@given(scenarios(max_steps=40))
def test_the_indexes_stay_those_of_the_records(outbox: bool, scenario: Scenario) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(memory, "_RECENT", 3)  # records go packed and come back often
        clock = ManualClock(scenario.start)
        store = MemoryStore(outbox=outbox)
        desk = Desk(store=store, clock=clock)
        for number, step in enumerate(scenario.steps):
            clock.set(step.at)
            desk.handle(step.command)
            _check(store)
            ids = store.conversation_ids()
            if ids:  # a read unpacks one that left the recent few
                with store.transaction(write=False) as txn:
                    txn.conversation(ids[number % len(ids)])
                _check(store)


def _store(*, packed: bool, outbox: bool = True) -> tuple[MemoryStore, str]:
    """A store with one queued chat (a queue without agents), its record kept as saved
    or (``packed``) packed."""
    store = MemoryStore(outbox=outbox)
    desk = Desk(store=store, clock=ManualClock(T0))
    desk.add_queue("support", ["Resolved"])
    desk.add_queue("billing", ["Resolved"])
    chat = desk.start_chat("support", "Karel", "k@example.com")
    if packed:
        while store._recent:
            store._evict()
        assert isinstance(store._packed_conversations[chat], tuple)
    return store, chat


def _save(store: MemoryStore, chat: str, **fields: Any) -> None:
    """Save the chat's record with ``fields`` changed (one version on)."""
    with store.transaction() as txn:
        record = txn.conversation(chat)
        assert record is not None
        changed = attrs.evolve(record, version=record.version + 1, **fields)
        txn.save_last(Changes(conversations=((changed, record.version),)))
    _check(store)


@_OUTBOX
@pytest.mark.parametrize("packed", [False, True], ids=["record", "packed"])
def test_each_key_an_index_reads_moves_it(packed: bool, outbox: bool) -> None:
    store, chat = _store(packed=packed, outbox=outbox)
    _check(store)
    assert store._queued["support"]
    _save(store, chat, queue="billing")  # queued: moves to the other queue's index
    assert list(store._queued["billing"])
    assert not list(store._queued["support"])
    _save(store, chat, started_at=T0 - 60)  # queued: moves in its queue's index
    assert list(store._queued["billing"]) == [(T0 - 60, chat)]
    _save(store, chat, asset="web")  # the open conversations of another asset
    assert set(store._open_by_asset["web"]) == {chat}
    _save(store, chat, state=ConversationState.OFFERED)  # out of the queue's index
    assert not list(store._queued["billing"])
    _save(store, chat, state=ConversationState.ACTIVE, queue="support")  # nothing moves
    _save(store, chat, asset="livechat")  # active: the asset's index moves
    assert set(store._open_by_asset["livechat"]) == {chat}
    _save(store, chat, state=ConversationState.QUEUED)  # back into a queue's index
    assert list(store._queued["support"]) == [(T0 - 60, chat)]
    _save(store, chat, state=ConversationState.CLOSED, closed_at=T0 + 5)
    assert not store._open_by_asset["livechat"]
    assert store._closed == [(T0 + 5, chat)]
    _save(store, chat, closed_at=T0 + 9)  # closed: no index reads its close again
    assert store._closed == [(T0 + 5, chat)]


@_OUTBOX
def test_a_record_saved_again_is_the_newest_of_the_recent_ones(outbox: bool) -> None:
    store = MemoryStore(outbox=outbox)
    desk = Desk(store=store, clock=ManualClock(T0))
    desk.add_queue("support", ["Resolved"])
    first = desk.start_chat("support", "Karel", "k@example.com")
    second = desk.start_chat("support", "Eva", "e@example.com")
    assert list(store._recent) == [first, second]
    _save(store, first, customer_name="Karel N.")  # saved: moved to the end
    assert list(store._recent) == [second, first]
    _save(store, first, customer_name="Karel Novák")  # the newest already: in place
    assert list(store._recent) == [second, first]
    while store._recent:
        store._evict()
    with store.transaction(write=False) as txn:
        txn.conversation(first)  # unpacked: the newest
        txn.conversation(second)  # unpacked after it: the newest now
    assert list(store._recent) == [first, second]
    _save(store, first, customer_name="K. Novák")  # so it moves to the end
    assert list(store._recent) == [second, first]
    assert store._recent[first].customer_name == "K. Novák"
    store._evict()  # the second saved last and packed: read back after the first
    with store.transaction(write=False) as txn:
        txn.conversation(second)
    assert list(store._recent) == [first, second]
    _save(store, first, customer_name="K. N.")  # not the last any more: moved
    assert list(store._recent) == [second, first]
    assert store._recent[first].customer_name == "K. N."
    # the record saved is the one kept, and packed once it leaves
    store._evict()
    store._evict()
    packed = store._packed_conversations[first]
    assert packed is not None
    assert _packed.unpack(packed).customer_name == "K. N."


def test_an_event_class_without_a_packer_is_given_one() -> None:
    @attrs.frozen(kw_only=True)
    class LateEnded(ChatEnded):
        """An event class made after the store's packers."""

    event = LateEnded(aggregate_id="c1", sequence=3, at=T0, agent_id="jana", wrap_up_deadline=None)
    assert LateEnded not in memory._PACKERS
    try:
        assert memory._pack(event) == pack_event(event)
        assert LateEnded in memory._PACKERS
        store = MemoryStore()
        with store.transaction() as txn:
            txn.save_last(Changes(events=(event,)))
        assert list(store._log) == [pack_event(event)]
    finally:
        memory._PACKERS.pop(LateEnded, None)


def test_an_undone_save_and_an_archive_leave_no_record_to_store_in_place() -> None:
    store, chat = _store(packed=True)
    with store.transaction(write=False) as txn:
        record = txn.conversation(chat)  # unpacked: the last of the recent, not saved
    assert record is not None
    _check(store)
    try:
        with store.transaction() as txn:
            changed = attrs.evolve(record, version=record.version + 1, customer_name="Eva")
            txn.save(Changes(conversations=((changed, record.version),)))
            _check(store)
            raise RuntimeError("undo the save")
    except RuntimeError:
        pass
    _check(store)  # the packed record is back, and nothing is stored in place over it
    _save(store, chat, customer_name="Karel N.")
    while store._recent:
        store._evict()
    packed = store._packed_conversations[chat]
    assert packed is not None
    assert _packed.unpack(packed).customer_name == "Karel N."
    _save(store, chat, state=ConversationState.CLOSED, closed_at=T0 + 5)
    assert [found.conversation.id for found in store.archive(T0 + 10)] == [chat]
    _check(store)
    assert chat not in store._packed_conversations


@_OUTBOX
def test_with_no_record_kept_every_save_is_packed(outbox: bool) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(memory, "_RECENT", 0)
        store, chat = _store(packed=False, outbox=outbox)
        assert not store._recent
        _save(store, chat, customer_name="Karel N.")
        _save(store, chat, customer_name="Karel Novák")
        assert not store._recent
        packed = store._packed_conversations[chat]
        assert packed is not None
        assert _packed.unpack(packed).customer_name == "Karel Novák"
