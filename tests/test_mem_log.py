"""The memory store's event log is kept in chunks (``memory._Log``: full chunks frozen
into tuples, so a full collection stops visiting their events). Every read of it is what
one list of the events gives: with chunks of four entries, a store answers exactly as a
store whose log is one chunk (every lifecycle below, archive, redaction and undone saves
crossing chunk boundaries)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livechat_core import Desk, InvalidArgument
from livechat_core.adapters import memory
from livechat_core.adapters.memory import MemoryStore
from livechat_core.ports import Changes
from livechat_core.testing.clock import ManualClock
from livechat_core.testing.strategies import Scenario, scenarios


@pytest.fixture
def small_chunks() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(memory, "_CHUNK", 4)
        yield


def _observe(store: MemoryStore) -> list[Any]:
    """Everything the store reads from its log."""
    ids = store.conversation_ids()
    whole = store.log(0, 100_000)
    return [
        whole,
        [store.log(after, 3) for after in range(len(whole) + 6)],
        [store.events(conversation_id) for conversation_id in ids],
        [store.transcript(conversation_id) for conversation_id in ids],
        store.pending(100_000),
        list(store._log),
        len(store._log),
    ]


def _play(scenario: Scenario) -> list[Any]:
    clock = ManualClock(scenario.start)
    store = MemoryStore(outbox=True)
    desk = Desk(store=store, clock=clock)
    scenario.play(desk, clock)
    seen = _observe(store)
    # a block rolled back after logging events: its undo takes them back across chunks
    try:
        with desk.batch():
            desk.add_queue("rolled-back", ["Resolved"])
            desk.login("rolled", "Rolled", ["rolled-back"])
            desk.set_available("rolled")
            raise InvalidArgument("roll the block back")
    except InvalidArgument:
        pass
    seen.append(_observe(store))
    # every message redacted (each message's event rewritten in its chunk), one of
    # them in a transaction that is undone
    for conversation_id in store.conversation_ids():
        for message in store.transcript(conversation_id):
            redaction = Changes(redactions=((conversation_id, message.id, "[gone]"),))
            try:
                with store.transaction() as txn:
                    txn.save(Changes(redactions=((conversation_id, message.id, "[undone]"),)))
                    raise InvalidArgument("undo it")
            except InvalidArgument:
                pass
            with store.transaction() as txn:
                txn.save(redaction)
    seen.append(_observe(store))
    archived = store.archive(math.inf)
    seen.append(archived)
    seen.append(_observe(store))
    # and a new chat after it all (its id is random: compared as "after")
    if store._queues:
        chat = desk.start_chat(next(iter(store._queues)), "After", "after@example.com")
        seen.append(repr(_observe(store)).replace(chat, "after"))
    return seen


@settings(max_examples=15, deadline=None)
@given(scenarios(max_steps=40))
def test_a_log_in_chunks_of_four_reads_as_one_list(scenario: Scenario) -> None:
    whole = _play(scenario)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(memory, "_CHUNK", 4)
        chunked = _play(scenario)
    assert chunked == whole


_Op = tuple[str, int]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("apspcg"), st.integers(0, 40)), max_size=80))
def test_the_log_keeps_what_a_list_keeps(ops: list[_Op]) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(memory, "_CHUNK", 4)
        log = memory._Log()
        model: list[Any] = []
        for number, (op, at) in enumerate(ops):
            if op == "a":
                entry = ("Event", str(number))
                log.append(entry)
                model.append(entry)
            elif op == "p" and model:
                assert log.pop() == model.pop()
            elif op == "s" and model:
                log[at % len(model)] = ("Redacted", str(number))
                model[at % len(model)] = ("Redacted", str(number))
            elif op == "c" and model:
                indexes = list(range(at % len(model), len(model), 3))
                log.clear(indexes)
                for index in indexes:
                    model[index] = None
            elif op == "g" and model:
                assert log[at % len(model)] == model[at % len(model)]
            assert len(log) == len(model)
            assert list(log) == model
            assert list(log.entries(at)) == list(enumerate(model, 1))[at:]
            assert len(log.tail) < 4
            assert [len(chunk) for chunk in log.chunks] == [4] * (len(model) // 4)
        with pytest.raises(IndexError):
            log[-1]
        with pytest.raises(IndexError):
            log[len(model)]


def test_a_save_that_fills_a_chunk_seals_it(small_chunks: None) -> None:
    store = MemoryStore()
    desk = Desk(store=store)
    desk.add_queue("support", ["Resolved"])
    desk.login("jana", "Jana", ["support"], capacity=10)
    desk.set_available("jana")
    for i in range(5):
        desk.accept("jana", desk.start_chat("support", f"Customer {i}", ""))
    log = store._log
    assert len(log.tail) < 4
    assert len(log.chunks) == len(log) // 4
    assert all(type(chunk) is tuple for chunk in log.chunks)
