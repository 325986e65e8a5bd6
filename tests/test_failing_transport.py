"""A committed command returns normally whatever the transport does (issue 15, item 2).

The change is stored, so raising would make a caller retry it: a second chat, a message
sent twice. The failure is logged without customer text, the events wait in the outbox,
and the next relay (after the next command, or an explicit one) delivers them in order.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from livechat_core import Desk, MemoryStore, SqliteStore, TransportError
from livechat_core.events import Event
from livechat_core.ports import Store

SECRET = "my password is hunter2"


class RecoveringTransport:
    """Raises while ``down``; afterwards records what it is given."""

    def __init__(self) -> None:
        self.down = True
        self.attempts = 0
        self.delivered: list[Event] = []

    def publish(self, events: Sequence[Event]) -> None:
        self.attempts += 1
        if self.down:
            raise ConnectionError(f"broker unreachable while sending {events[0]!r}")
        self.delivered.extend(events)


@pytest.fixture(params=["memory", "sqlite"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Store]]:
    opened: list[Store] = []

    def make() -> Store:
        store: Store = (
            MemoryStore(outbox=True)
            if request.param == "memory"
            else SqliteStore(tmp_path / "desk.db")
        )
        opened.append(store)
        return store

    yield make
    for store in opened:
        close = getattr(store, "close", None)
        if close is not None:
            close()


def test_commands_return_while_the_transport_fails_and_nothing_is_lost(
    make_store: Callable[[], Store], caplog: pytest.LogCaptureFixture
) -> None:
    transport = RecoveringTransport()
    desk = Desk(store=make_store(), transport=transport, clock=lambda: 1000.0)
    with caplog.at_level(logging.WARNING, logger="livechat_core"):
        desk.add_queue("support", ["Resolved"])
        desk.login("a1", "Jana Nováková", ["support"])
        desk.set_available("a1")
        conversation_id = desk.start_chat("support", "Eva Malá", "eva@example.com")
        desk.send_customer_message(conversation_id, SECRET)
    # Every command returned, and each one is stored exactly once.
    assert list(desk.store.conversation_ids()) == [conversation_id]
    assert [m.text for m in desk.conversation(conversation_id).messages] == [SECRET]
    assert transport.delivered == []
    assert transport.attempts == 5
    # Logged on the library's logger, once per failed relay, without customer text.
    failures = [r for r in caplog.records if r.name == "livechat_core"]
    assert len(failures) == 5
    for record in failures:
        assert record.levelno == logging.WARNING
        message = record.getMessage()
        assert "ConnectionError" in message
        assert "hunter2" not in message
        assert "Eva" not in message
        assert record.exc_info is None
    pending = desk.store.pending()
    assert [e.type for e in pending][:3] == ["QueueConfigured", "AgentLoggedIn", "AgentAvailable"]

    # The transport recovers: the next command's relay delivers the backlog first, in order.
    transport.down = False
    desk.accept("a1", conversation_id)
    assert transport.delivered[: len(pending)] == pending
    assert [e.type for e in transport.delivered[len(pending) :]] == ["OfferAccepted"]
    assert desk.store.pending() == []
    assert len({e.id for e in transport.delivered}) == len(transport.delivered)


def test_an_explicit_relay_reports_the_failure_as_a_typed_error(
    make_store: Callable[[], Store],
) -> None:
    transport = RecoveringTransport()
    desk = Desk(store=make_store(), transport=transport)
    desk.add_queue("support", ["Resolved"])
    with pytest.raises(TransportError) as caught:
        desk.relay()
    assert caught.value.code == "transport_error"
    assert isinstance(caught.value.__cause__, ConnectionError)
    assert [e.type for e in desk.store.pending()] == ["QueueConfigured"]
    transport.down = False
    assert desk.relay() == 1
    assert [e.type for e in transport.delivered] == ["QueueConfigured"]


def test_a_second_desk_relays_what_the_first_could_not(tmp_path: Path) -> None:
    """The outbox outlives the process: a desk opened later on the same file delivers."""
    failing = RecoveringTransport()
    with SqliteStore(tmp_path / "desk.db") as store:
        desk = Desk(store=store, transport=failing)
        desk.add_queue("support", ["Resolved"])
        conversation_id = desk.start_chat("support", "Eva Malá", "eva@example.com")
    working = RecoveringTransport()
    working.down = False
    with SqliteStore(tmp_path / "desk.db") as store:
        assert Desk(store=store, transport=working).relay() == 2
    assert [(e.type, e.aggregate_id) for e in working.delivered] == [
        ("QueueConfigured", "support"),
        ("ChatStarted", conversation_id),
    ]
