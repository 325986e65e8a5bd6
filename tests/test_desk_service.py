"""The application service around the core: transport, relay, retries, views."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from livechat_core import (
    ConcurrencyConflict,
    Desk,
    InvalidArgument,
    MemoryStore,
    RetriesExhausted,
    UnknownConversation,
    _commands,
    _core,
    filter_options,
)
from livechat_core.events import Event
from livechat_core.ports import Changes, StoreTransaction


class ListTransport:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def publish(self, events: Sequence[Event]) -> None:
        self.events.extend(events)


class RacingStore(MemoryStore):
    """Another writer wins the race for the first ``losses`` saves."""

    def __init__(self, losses: int) -> None:
        super().__init__()
        self.losses = losses

    def _check(self, changes: Changes) -> None:
        if self.losses:
            self.losses -= 1
            raise ConcurrencyConflict("another writer was first")
        super()._check(changes)


def test_every_committed_event_reaches_the_transport_in_order() -> None:
    transport = ListTransport()
    desk = Desk(transport=transport)
    desk.add_queue("support", ["Resolved"])
    desk.login("a", "Anna", ["support"])
    desk.set_available("a")
    conversation_id = desk.start_chat("support", "Karel", "k@example.com")
    assert [e.type for e in transport.events][-2:] == ["ChatStarted", "ChatOffered"]
    assert desk.store.pending() == []
    assert [e for e in transport.events if e.aggregate_id == conversation_id] == desk.events(
        conversation_id
    )


def test_a_desk_without_transport_keeps_no_outbox_but_all_history() -> None:
    desk = Desk()
    desk.add_queue("support", ["Resolved"])
    conversation_id = desk.start_chat("support", "Karel", "k@example.com")
    assert desk.store.pending() == []
    assert [e.type for e in desk.events(conversation_id)] == ["ChatStarted"]


def test_a_failing_transport_leaves_events_in_the_outbox_until_the_next_relay() -> None:
    class Flaky(ListTransport):
        fail = True

        def publish(self, events: Sequence[Event]) -> None:
            if self.fail:
                raise ConnectionError("broker down")
            super().publish(events)

    transport = Flaky()
    desk = Desk(transport=transport)
    desk.add_queue("support", ["Resolved"])  # committed: returns although publish failed
    assert [e.type for e in desk.store.pending()] == ["QueueConfigured"]
    assert [q.name for q in desk.queues()] == ["support"]  # committed all the same
    transport.fail = False
    assert desk.relay() == 1
    assert [e.type for e in transport.events] == ["QueueConfigured"]


def test_a_lost_race_is_retried_then_refused() -> None:
    desk = Desk(store=RacingStore(losses=3), retries=5)
    desk.add_queue("support", ["Resolved"])
    assert [q.name for q in desk.queues()] == ["support"]
    stubborn = Desk(store=RacingStore(losses=100), retries=2)
    with pytest.raises(RetriesExhausted) as caught:
        stubborn.add_queue("support", ["Resolved"])
    assert caught.value.code == "retries_exhausted"
    assert stubborn.queues() == []


def test_an_exception_inside_a_memory_transaction_rolls_back_the_save() -> None:
    desk = Desk()
    desk.add_queue("support", ["Resolved"])
    conversation_id = desk.start_chat("support", "Karel", "k@example.com")
    before = desk.conversation(conversation_id)
    store = desk.store

    def crash_after_saving() -> None:
        with store.transaction() as txn:
            assert isinstance(txn, StoreTransaction)
            command = _commands.CustomerEnd(conversation_id=conversation_id)
            txn.save(_core.decide(txn, command, 0.0, _core.Settings()))
            raise RuntimeError("crash after saving, before commit")

    with pytest.raises(RuntimeError):
        crash_after_saving()
    assert desk.conversation(conversation_id) == before
    assert [e.type for e in desk.events(conversation_id)] == ["ChatStarted"]


def test_bad_input_gets_typed_errors() -> None:
    desk = Desk()
    with pytest.raises(InvalidArgument):
        desk.add_queue("", ["Resolved"])
    with pytest.raises(InvalidArgument):
        desk.add_queue("q", [])
    with pytest.raises(InvalidArgument):
        desk.add_queue("q", ["a"], offer_timeout=-1)
    with pytest.raises(InvalidArgument):
        desk.add_queue("q", ["a"], default_wrap_up_reason="b")
    with pytest.raises(InvalidArgument):
        desk.add_queue("q", "ab")  # a string is not a list of reasons
    desk.add_queue("q", ["a"])
    with pytest.raises(InvalidArgument):
        desk.login("x", "X", ["q"], capacity=0)
    with pytest.raises(InvalidArgument):
        desk.handle("not a command")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument):
        Desk(locale="de")
    with pytest.raises(UnknownConversation):
        desk.conversation("nope")
    assert desk.add_queue("q", ["a"]) == []  # the same configuration again: no-op


def test_system_messages_speak_czech() -> None:
    desk = Desk(locale="cs")
    desk.add_queue("podpora", ["Vyřešeno"])
    desk.login("a", "Anna Malá", ["podpora"])
    desk.set_available("a")
    conversation_id = desk.start_chat("podpora", "Karel", "k@example.com")
    desk.accept("a", conversation_id)
    desk.customer_end(conversation_id)
    assert desk.conversation(conversation_id).messages[-1].text == "Zákazník ukončil konverzaci"


def test_views_picked_from_the_dialog_lists_may_stand_for_their_ids() -> None:
    desk = Desk()
    desk.add_queue("support", ["Resolved"])
    desk.add_queue("billing", ["Paid"])
    desk.login("jana", "Jana Nováková", desk.queues())  # type: ignore[arg-type]
    desk.login("petr", "Petr Svoboda", ["support"])
    desk.set_available("jana")
    desk.set_available("petr")
    chat = desk.start_chat("support", "Karel", "k@example.com")
    owner = desk.conversation(chat).legs[0].agent_id
    desk.accept(owner, chat)
    (target,) = filter_options(desk.available_agents(exclude=owner), "")
    # the annotations say str; views are accepted for callers who pass what a list gave them
    desk.request_conference(desk.agent(owner), desk.conversation(chat), target)  # type: ignore[arg-type]
    assert desk.conversation(chat).legs[-1].agent_id == target.id
    desk.end_conference(owner, chat)
    (billing,) = filter_options(desk.queues(), "bill")
    desk.transfer_to_queue(owner, chat, billing)  # type: ignore[arg-type]
    assert desk.conversation(chat).queue == "billing"
