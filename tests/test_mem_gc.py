"""A full garbage collection visits a bounded part of the memory store, however many
chats are live: the event log's full chunks, the packed conversations and the open
conversations per asset are containers the collector stops tracking (issue 9: a full
``gc.collect()`` under 50 ms with 100,000 live chats). Checked by what the collector
tracks and by the references it visits, not by timing."""

from __future__ import annotations

import gc
from typing import Any

from livechat_core import Desk
from livechat_core.adapters import memory
from livechat_core.adapters.memory import MemoryStore

# what a full collection traverses in the store: these containers are followed into,
# any other tracked object (a record, an agent, the lock) counts its own references only
_CONTAINERS = (list, tuple, dict, set, frozenset, memory._Log, memory._SortedKeys)


def _live(chats: int) -> MemoryStore:
    """A desk's store with ``chats`` accepted chats, after two full collections (a tuple is
    untracked by a collection that finds its items untracked already; the collector may
    meet a chunk before its events, whose own untracking then waits for the next one)."""
    desk = Desk()
    desk.add_queue("support", ["Resolved"])
    for n in range(chats // 1000 + 1):
        desk.login(f"a{n}", f"Agent {n}", ["support"], capacity=1000)
        desk.set_available(f"a{n}")
    for i in range(chats):
        chat = desk.start_chat("support", f"Customer {i}", f"c{i}@example.com")
        desk.accept(desk.conversation(chat).legs[0].agent_id, chat)
    store = desk.store
    assert isinstance(store, MemoryStore)
    gc.collect()
    gc.collect()
    return store


def _visits(store: MemoryStore) -> int:
    """How many references a full collection visits in the tracked objects reachable
    from the store's attributes (through the containers above)."""
    seen: set[int] = set()
    todo: list[Any] = [value for value in vars(store).values() if gc.is_tracked(value)]
    visits = 0
    while todo:
        thing = todo.pop()
        if id(thing) in seen:
            continue
        seen.add(id(thing))
        referents = gc.get_referents(thing)
        visits += len(referents)
        if isinstance(thing, _CONTAINERS) or thing is store:
            todo.extend(item for item in referents if gc.is_tracked(item))
    return visits


def test_a_full_collection_visits_no_more_of_the_store_with_twice_the_chats() -> None:
    fewer, more = _visits(_live(1500)), _visits(_live(3000))
    # 4,500 more events, 1,500 more conversations and open ones: before the chunks and
    # the untracked dictionaries, each cost a visit (7,500 more); now a few more chunks
    # and the filling one's entries (fewer than a chunk)
    assert more - fewer < memory._CHUNK + 50, (fewer, more)


def test_the_containers_that_grow_with_the_chats_are_not_tracked() -> None:
    store = _live(1200)
    assert not gc.is_tracked(store._packed_conversations)
    assert len(store._packed_conversations) == 1200
    # (the dictionary of assets holds dictionaries: tracked, one entry an asset)
    assert [gc.is_tracked(open_here) for open_here in store._open_by_asset.values()] == [False]
    assert sum(len(open_here) for open_here in store._open_by_asset.values()) == 1200
    log = store._log
    logged = len(store.log(0, 10_000))
    assert 3600 < logged == len(log)  # started, offered, accepted, and the agents'
    assert len(log.chunks) == logged // memory._CHUNK == 3
    assert len(log.tail) == logged % memory._CHUNK
    assert not any(gc.is_tracked(chunk) for chunk in log.chunks)
    assert len(gc.get_referents(log.chunks)) == len(log.chunks)
    assert not gc.is_tracked(store._log_positions)
    # the records kept unpacked are the few recent ones only
    assert len(store._recent) <= memory._RECENT


def test_a_saved_record_is_kept_unpacked_and_packed_when_it_leaves_the_recent_few() -> None:
    store = _live(memory._RECENT + 5)
    ids = list(store._packed_conversations)
    first, last = ids[0], ids[-1]
    assert store._packed_conversations[last] is None  # saved last: the record only
    assert store._recent[last].id == last
    packed = store._packed_conversations[first]
    assert isinstance(packed, tuple)
    assert first not in store._recent
    with store.transaction(write=False) as txn:
        record = txn.conversation(first)  # unpacked, kept among the recent few
    assert record is not None
    assert store._recent[first] is record
    assert store._packed_conversations[first] is packed  # read, not saved: still packed
    assert store._stored(first) is packed
    assert store._stored(last) is store._recent[last]
    assert store.conversation_ids() == ids
