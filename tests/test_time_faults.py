"""Time is checked where it enters (issue 15, item 4): a clock's result and ``tick(now)``.

A broken clock is a typed refusal that changes nothing; a clock that goes backwards
never stores an event before the events it follows (``docs/decisions.md``, "Time never
goes backwards"). Memory and SQLite.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from livechat_core import ClockError, Desk, InvalidArgument, MemoryStore, SqliteStore
from livechat_core.events import Event
from livechat_core.ports import Store

T0 = 1_700_000_000.0


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    made: Store = MemoryStore() if request.param == "memory" else SqliteStore(tmp_path / "d.db")
    yield made
    made.close()


class SettableClock:
    """Returns whatever it is set to, or raises it."""

    def __init__(self, value: Any = T0) -> None:
        self.value = value

    def __call__(self) -> float:
        if isinstance(self.value, BaseException):
            raise self.value
        result: float = self.value
        return result


def _desk_with_an_offer(store: Store, clock: SettableClock) -> tuple[Desk, str]:
    desk = Desk(store=store, clock=clock)
    desk.add_queue("support", ["Resolved"], offer_timeout=30.0)
    desk.login("jana", "Jana", ["support"])
    desk.set_available("jana")
    chat = desk.start_chat("support", "Karel", "k@example.com")
    return desk, chat


def _everything(desk: Desk, chat: str) -> tuple[object, ...]:
    return (
        desk.conversation(chat),
        desk.events(chat),
        desk.agents(),
        desk.queues(),
        desk.store.conversation_ids(),
        desk.store.events("jana", "agent"),
    )


BROKEN_CLOCK_VALUES: list[Any] = [
    math.nan,
    math.inf,
    -math.inf,
    None,
    "1700000000",
    True,
    2**70,
    10**400,
    [T0],
    ZeroDivisionError("division by zero"),
    RuntimeError("the time server is down"),
]


@pytest.mark.parametrize("value", BROKEN_CLOCK_VALUES, ids=repr)
def test_a_broken_clock_is_a_clock_error_and_changes_nothing(store: Store, value: Any) -> None:
    clock = SettableClock()
    desk, chat = _desk_with_an_offer(store, clock)
    before = _everything(desk, chat)
    clock.value = value
    commands: list[Callable[[], object]] = [
        lambda: desk.accept("jana", chat),
        lambda: desk.send_customer_message(chat, "hello"),
        lambda: desk.start_chat("support", "Eva", ""),
        lambda: desk.tick(),
        lambda: desk.add_queue("sales", ["Sold"]),
        lambda: desk.stats(),
    ]
    for command in commands:
        with pytest.raises(ClockError) as caught:
            command()
        assert caught.value.code == "clock_error"
        if isinstance(value, Exception):
            assert caught.value.__cause__ is value
    assert _everything(desk, chat) == before
    # The clock recovers: so does the desk.
    clock.value = T0 + 5
    desk.accept("jana", chat)
    assert desk.conversation(chat).accepted_at == T0 + 5


@pytest.mark.parametrize("now", [math.nan, math.inf, -math.inf, "soon", 2**70, [1.0], True])
def test_tick_with_a_time_that_is_no_time_is_refused(store: Store, now: Any) -> None:
    desk, chat = _desk_with_an_offer(store, SettableClock())
    before = _everything(desk, chat)
    with pytest.raises(InvalidArgument) as caught:
        desk.tick(now)
    assert isinstance(caught.value, TypeError | ValueError)
    assert _everything(desk, chat) == before


def _in_order(events: list[Event]) -> bool:
    return all(a.at <= b.at for a, b in itertools.pairwise(events))


def test_a_clock_going_backwards_holds_time_at_the_last_event(store: Store) -> None:
    clock = SettableClock(T0)
    desk, chat = _desk_with_an_offer(store, clock)
    clock.value = T0 - 3600  # NTP stepped the clock back an hour
    desk.accept("jana", chat)
    desk.send_customer_message(chat, "hello")
    conversation = desk.conversation(chat)
    assert conversation.accepted_at == T0
    assert conversation.started_at <= conversation.accepted_at
    assert [m.at for m in conversation.messages] == [T0]
    assert _in_order(desk.events(chat))
    assert _in_order(desk.store.events("jana", "agent"))
    # The timer stays meaningful: it counts from the acceptance.
    assert conversation.elapsed(T0 + 42) == 42.0
    # When the clock catches up, time moves on from there.
    clock.value = T0 + 10
    desk.send_customer_message(chat, "still there?")
    assert desk.conversation(chat).messages[-1].at == T0 + 10


def test_a_tick_in_the_past_fires_at_the_last_event_time(store: Store) -> None:
    clock = SettableClock(T0)
    desk, chat = _desk_with_an_offer(store, clock)
    clock.value = T0 + 40
    desk.send_customer_message(chat, "anyone?")  # after the 30 s offer deadline
    desk.tick(T0 + 35)  # a late tick with a time before that message
    events = desk.events(chat)
    assert [e.type for e in events][-1] == "OfferTimedOut"
    assert _in_order(events)
    assert desk.agent("jana").state == "rona"


def test_a_desk_whose_clock_lags_another_keeps_each_chat_in_order(tmp_path: Path) -> None:
    """Two desks on one file, one clock ten minutes behind the other: the lagging desk's
    commands on a chat the other touched are held at that chat's latest time."""
    ahead = SettableClock(T0 + 600)
    behind = SettableClock(T0)
    with SqliteStore(tmp_path / "d.db") as store:
        first = Desk(store=store, clock=ahead)
        first.add_queue("support", ["Resolved"])
        first.login("jana", "Jana", ["support"])
        first.set_available("jana")
        chat = first.start_chat("support", "Karel", "k@example.com")
        second = Desk(store=store, clock=behind)
        second.accept("jana", chat)
        second.send_agent_message("jana", chat, "Hello")
        conversation = second.conversation(chat)
        assert conversation.accepted_at == T0 + 600
        assert _in_order(second.events(chat))
        assert conversation.elapsed(T0 + 601) == 1.0


@pytest.mark.parametrize("timeout", [math.nan, math.inf, 0, -1, 2**70, 10**400, "30", None])
def test_offer_timeouts_that_are_no_durations_are_refused(store: Store, timeout: Any) -> None:
    desk = Desk(store=store)
    with pytest.raises(InvalidArgument):
        desk.add_queue("support", ["Resolved"], offer_timeout=timeout)
    assert desk.queues() == []
