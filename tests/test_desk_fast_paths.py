"""The shortcuts of the desk's and the memory store's command path keep the behaviour of
the long way: the time floor of records another desk saved, events packed as
``_events.pack`` packs them, the indexes after a rolled-back block, conversations kept
as records and packed later."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import given, settings

from livechat_core import Desk, InvalidArgument, MemoryStore
from livechat_core._events import pack as pack_event
from livechat_core._events import unpack as unpack_event
from livechat_core.adapters import memory
from livechat_core.events import Event
from livechat_core.testing.clock import ManualClock
from livechat_core.testing.strategies import Scenario, scenarios

T0 = 1_700_000_000.0


class SettableClock:
    def __init__(self, value: float) -> None:
        self.value = value

    def __call__(self) -> float:
        return self.value


def _in_order(events: Sequence[Event]) -> bool:
    times = [event.at for event in events]
    return times == sorted(times)


def test_a_lagging_desk_is_held_at_the_time_another_desk_saved_after_its_own_save() -> None:
    """The lagging desk saved the chat and the agent itself first (so it knows those
    versions as its own), then the other desk, whose clock is ahead, changed them: the
    lagging desk's next command is held at the other desk's time, not at its own."""
    store = MemoryStore()
    ahead = SettableClock(T0 + 600)
    behind = SettableClock(T0)
    lagging = Desk(store=store, clock=behind)
    lagging.add_queue("support", ["Resolved"])
    lagging.login("jana", "Jana", ["support"])
    lagging.set_available("jana")
    chat = lagging.start_chat("support", "Karel", "k@example.com")  # offered to jana
    other = Desk(store=store, clock=ahead)
    other.accept("jana", chat)
    lagging.send_agent_message("jana", chat, "Hello")
    assert lagging.conversation(chat).messages[-1].at == T0 + 600
    assert _in_order(lagging.events(chat))
    lagging.end("jana", chat)
    assert lagging.conversation(chat).ended_at == T0 + 600
    assert _in_order(lagging.events(chat))


def test_a_desk_running_alone_keeps_its_clock() -> None:
    """Records this desk saved itself are not walked again, and hold its own times."""
    clock = SettableClock(T0)
    desk = Desk(clock=clock)
    desk.add_queue("support", ["Resolved"])
    desk.login("jana", "Jana", ["support"])
    desk.set_available("jana")
    chat = desk.start_chat("support", "Karel", "k@example.com")
    clock.value = T0 + 5
    desk.accept("jana", chat)
    clock.value = T0 + 3  # the clock went back: held at the desk's latest time
    desk.send_agent_message("jana", chat, "Hello")
    assert desk.conversation(chat).messages[-1].at == T0 + 5
    clock.value = T0 + 9
    desk.end("jana", chat)
    assert desk.conversation(chat).ended_at == T0 + 9


@settings(max_examples=25, deadline=None)
@given(scenarios(max_steps=40))
def test_the_store_packs_every_event_as_the_events_module_does(scenario: Scenario) -> None:
    clock = ManualClock(scenario.start)
    store = MemoryStore()
    desk = Desk(store=store, clock=clock)
    scenario.play(desk, clock)
    for packed in store._log:
        assert packed is not None
        event = unpack_event(packed)
        assert memory._pack(event) == pack_event(event) == packed


def test_a_rolled_back_block_restores_the_indexes_and_deadlines() -> None:
    clock = ManualClock(T0)
    desk = Desk(clock=clock)
    desk.add_queue("support", ["Resolved"], offer_timeout=30.0)
    desk.login("jana", "Jana", ["support"])
    desk.set_available("jana")
    waiting = desk.start_chat("support", "Karel", "k@example.com")  # offered to jana
    store = desk.store
    assert isinstance(store, MemoryStore)
    before = (
        dict(store._deadlines),
        {queue: list(keys) for queue, keys in store._queued.items() if list(keys)},
        {asset: set(ids) for asset, ids in store._open_by_asset.items()},
        desk.conversation(waiting),
    )
    try:
        with desk.batch():
            desk.accept("jana", waiting)  # the offer's deadline goes
            desk.start_chat("support", "Eva", "e@example.com")  # queued
            raise InvalidArgument("roll the block back")
    except InvalidArgument:
        pass
    after = (
        dict(store._deadlines),
        {queue: list(keys) for queue, keys in store._queued.items() if list(keys)},
        {asset: set(ids) for asset, ids in store._open_by_asset.items() if ids},
        desk.conversation(waiting),
    )
    assert after == (before[0], before[1], {k: v for k, v in before[2].items() if v}, before[3])
    # the restored offer still times out at its deadline
    clock.advance(31)
    desk.tick()
    assert desk.agent("jana").state == "rona"


def test_conversations_saved_last_are_packed_once_they_leave_the_recent_few() -> None:
    desk = Desk()
    desk.add_queue("support", ["Resolved"])
    desk.login("jana", "Jana", ["support"], capacity=1000)
    desk.set_available("jana")
    chats = [desk.start_chat("support", f"Customer {i}", "") for i in range(memory._RECENT + 10)]
    store = desk.store
    assert isinstance(store, MemoryStore)
    first, last = chats[0], chats[-1]
    assert isinstance(store._stored(first), tuple)  # left the recent few: packed
    assert store._stored(last) is store._recent[last]  # kept as saved
    # a packed one reads back equal, and its next command saves it as a record again
    assert desk.conversation(first).state == "offered"
    desk.accept("jana", first)
    assert store._stored(first) is store._recent[first]
    assert desk.conversation(first).state == "active"
