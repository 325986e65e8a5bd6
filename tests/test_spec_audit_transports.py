"""SPEC section 11: "Transports that ship with the library: in-memory, callback, Redis
Streams and webhook". The first two were missing (any object with ``publish`` worked, but
the library shipped neither); these tests hold the shipped ones to the Transport port."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

import livechat_core
from livechat_core import CallbackTransport, Desk, MemoryTransport, Relay, SqliteStore
from livechat_core.events import Event
from livechat_core.ports import Transport
from livechat_core.testing import ManualClock


def lifecycle(desk: Desk) -> str:
    desk.add_queue("Podpora", ["Vyřešeno"])
    desk.login("a1", "Jana Nováková", ["Podpora"])
    desk.set_available("a1")
    chat = desk.start_chat("Podpora", "Petr Svoboda", "petr@example.com")
    desk.accept("a1", chat)
    desk.send_customer_message(chat, "Dobrý den")
    desk.end("a1", chat)
    desk.submit_wrap_up("a1", chat, "Vyřešeno")
    return chat


def test_both_are_exported_and_satisfy_the_transport_port() -> None:
    from livechat_core.adapters import CallbackTransport as FromAdapters
    from livechat_core.adapters import MemoryTransport as MemoryFromAdapters

    assert FromAdapters is CallbackTransport
    assert MemoryFromAdapters is MemoryTransport
    assert {"CallbackTransport", "MemoryTransport"} <= set(livechat_core.__all__)
    assert isinstance(MemoryTransport(), Transport)
    assert isinstance(CallbackTransport(lambda event: None), Transport)


def test_memory_transport_keeps_every_event_in_order() -> None:
    transport = MemoryTransport()
    desk = Desk(clock=ManualClock(1_800_000_000.0), transport=transport)
    chat = lifecycle(desk)
    assert [e.id for e in transport.events] == [e.id for _, e in desk.events_after(0)]
    assert [e.sequence for e in transport.events if e.aggregate_id == chat] == list(
        range(1, len(desk.events(chat)) + 1)
    )
    transport.events.clear()  # a copy: the transport's own list is unchanged
    assert transport.events
    transport.clear()
    assert transport.events == []


def test_memory_transport_is_safe_across_threads() -> None:
    transport = MemoryTransport()
    batches = [[object()] * 10 for _ in range(8)]

    def publish(batch: list[object]) -> None:
        for _ in range(200):
            transport.publish(batch)  # type: ignore[arg-type]

    threads = [threading.Thread(target=publish, args=(batch,)) for batch in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(transport.events) == 8 * 200 * 10


def test_callback_transport_calls_back_once_per_event_in_order() -> None:
    seen: list[Event] = []
    desk = Desk(clock=ManualClock(1_800_000_000.0), transport=CallbackTransport(seen.append))
    lifecycle(desk)
    assert [e.id for e in seen] == [e.id for _, e in desk.events_after(0)]


def test_a_failing_callback_leaves_the_events_for_the_next_relay(tmp_path: Path) -> None:
    seen: list[str] = []
    failing = {"on": True}

    def callback(event: Event) -> None:
        if failing["on"]:
            raise ConnectionError("consumer down")
        seen.append(event.id)

    store = SqliteStore(tmp_path / "cb.db")
    desk = Desk(store=store, transport=CallbackTransport(callback))
    desk.add_queue("Podpora", ["Vyřešeno"])  # committed; the failure is logged, not raised
    assert seen == []
    failing["on"] = False
    relay = Relay(store, CallbackTransport(callback), name="cb")
    relay.publish_pending()
    relay.close()
    assert seen == [e.id for _, e in desk.events_after(0)]
    store.close()


def test_callback_must_be_callable() -> None:
    with pytest.raises(livechat_core.InvalidArgument):
        CallbackTransport("not callable")  # type: ignore[arg-type]


def test_a_batch_reaches_the_callback_event_by_event() -> None:
    seen: list[Event] = []
    desk = Desk(transport=CallbackTransport(seen.append))
    desk.add_queue("Podpora", ["Vyřešeno"])
    with desk.batch():
        for n in range(3):
            desk.start_chat("Podpora", f"Zákazník {n}", f"z{n}@example.com")
    assert [e.id for e in seen] == [e.id for _, e in desk.events_after(0)]
