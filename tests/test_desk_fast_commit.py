"""The desk's command methods take a short way to the store (``Desk._commit``: no checks
of what the command is, the time floor of the records the desk committed itself not
worked out, the versions it committed remembered by id): the same events, the same
refusals, the same times as the general way (``handle`` inside a ``batch()`` block:
``_run``, ``_decide`` and ``_changed_floor``), also when another desk with a clock
ahead or behind changes the same records in between (issue 9, per-command cost)."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from livechat_core import ClockError, Desk, MemoryStore, _desk
from livechat_core import _commands as cmd
from livechat_core._errors import LivechatError
from livechat_core._inputs import MAX_SECONDS
from livechat_core.events import Event
from livechat_core.testing.clock import ManualClock
from livechat_core.testing.strategies import Scenario, commands, scenarios

T0 = 1_700_000_000.0


def by_method(desk: Desk, command: cmd.Command) -> Any:
    """``command`` through the desk method that builds it (a tick through ``tick``)."""
    c: Any = command
    if isinstance(command, cmd.StartChat):
        desk._new_id = lambda: c.conversation_id
        return desk.start_chat(c.queue, c.customer_name, c.customer_contact, c.proactive, c.asset)
    if isinstance(command, cmd.AddQueue):
        return desk.add_queue(
            c.name, c.wrap_up_reasons, c.offer_timeout, c.wrap_up_timeout, c.default_wrap_up_reason
        )
    if isinstance(command, cmd.Login):
        return desk.login(c.agent_id, c.name, c.queues, c.capacity)
    if isinstance(command, cmd.SubmitWrapUp):
        return desk.submit_wrap_up(c.agent_id, c.conversation_id, c.reason, c.notes)
    if isinstance(command, cmd.Tick):
        return desk.tick(c.now)
    method: Callable[..., Any] = getattr(desk, METHODS[type(command)])
    return method(*(getattr(command, name) for name in FIELDS[type(command)]))


METHODS: dict[type, str] = {
    cmd.Logout: "logout",
    cmd.SetAvailable: "set_available",
    cmd.SetIdle: "set_idle",
    cmd.Accept: "accept",
    cmd.Decline: "decline",
    cmd.SendAgentMessage: "send_agent_message",
    cmd.SendCustomerMessage: "send_customer_message",
    cmd.TransferToAgent: "transfer_to_agent",
    cmd.TransferToQueue: "transfer_to_queue",
    cmd.RequestConference: "request_conference",
    cmd.EndConference: "end_conference",
    cmd.CustomerEnd: "customer_end",
    cmd.DeleteAsset: "delete_asset",
    cmd.End: "end",
}
FIELDS: dict[type, list[str]] = {
    cls: [field.name for field in attrs.fields(cls)] for cls in METHODS
}


def the_general_way(desk: Desk, command: cmd.Command) -> Any:
    """``command`` by ``handle`` inside a ``batch()`` block of its own: the general path
    (a savepoint, ``_decide``, ``_changed_floor``), committed when the block ends."""
    with desk.batch():
        return desk.handle(command)


def outcome(run: Callable[[Desk, cmd.Command], Any], desk: Desk, command: cmd.Command) -> Any:
    try:
        run(desk, command)
    except LivechatError as error:
        return type(error), error.code, str(error)
    return "ok"


def stored(desk: Desk) -> Any:
    return desk.events_after(0, 1_000_000), desk.agents(), desk.queues()


@st.composite
def with_refusals(draw: st.DrawFn) -> tuple[Scenario, list[tuple[float, cmd.Command]]]:
    """A scenario's steps with commands drawn at random (many of them refused) among
    them, on the scenario's agents, chats and queues."""
    scenario = draw(scenarios(max_steps=30))
    agents = [c.agent_id for c in scenario.commands if isinstance(c, cmd.Login)] or ["a"]
    chats = [c.conversation_id for c in scenario.commands if isinstance(c, cmd.StartChat)]
    queues = [c.name for c in scenario.commands if isinstance(c, cmd.AddQueue)]
    noise = commands(agent_ids=agents, conversation_ids=chats or ["c"], queues=queues)
    steps = [(step.at, step.command) for step in scenario.steps]
    for _ in range(draw(st.integers(0, 12))):
        at = draw(st.integers(0, len(steps)))
        when = steps[at - 1][0] if at else scenario.start
        steps.insert(at, (when, draw(noise)))
    return scenario, steps


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(with_refusals())
def test_the_methods_give_what_the_general_way_gives(
    drawn: tuple[Scenario, list[tuple[float, cmd.Command]]],
) -> None:
    scenario, steps = drawn
    desks = []
    for _ in range(2):
        clock = ManualClock(scenario.start)
        desks.append((Desk(clock=clock), clock))
    for at, command in steps:
        outcomes = []
        for (desk, clock), run in zip(desks, (by_method, the_general_way), strict=True):
            clock.set(at)
            outcomes.append(outcome(run, desk, command))
        assert outcomes[0] == outcomes[1]
        assert stored(desks[0][0]) == stored(desks[1][0])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    scenarios(max_steps=30),
    st.lists(st.booleans(), min_size=64, max_size=64),
    st.sampled_from([-600.0, -5.0, 5.0, 600.0]),
)
def test_two_desks_on_one_store_hold_the_times_the_general_way_holds(
    scenario: Scenario, turns: list[bool], skew: float
) -> None:
    """Two desks, one's clock ``skew`` seconds off the other's, take turns on one store:
    each command's time is held at the latest time of the records it changes, the
    general way's time, whichever desk committed them."""
    worlds = []
    for _ in range(2):
        store = MemoryStore()
        one, two = ManualClock(scenario.start), ManualClock(scenario.start + skew)
        worlds.append(((Desk(store=store, clock=one), one), (Desk(store=store, clock=two), two)))
    for index, step in enumerate(scenario.steps):
        second = turns[index % len(turns)]
        outcomes = []
        for world, run in zip(worlds, (by_method, the_general_way), strict=True):
            desk, clock = world[second]
            clock.set(step.at + (skew if second else 0.0))
            outcomes.append(outcome(run, desk, step.command))
        assert outcomes[0] == outcomes[1]
        assert stored(worlds[0][0][0]) == stored(worlds[1][0][0])


class Recording(Desk):
    """A desk whose ``handle`` sees every command (as the async desk's replay does)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seen: list[cmd.Command] = []

    def handle(self, command: cmd.Command) -> list[Event]:
        self.seen.append(command)
        return super().handle(command)


def test_a_subclass_that_overrides_handle_gets_every_command_of_the_methods() -> None:
    desk = Recording(clock=ManualClock(T0))
    desk.add_queue("support", ["Resolved"])
    desk.login("jana", "Jana", ["support"])
    desk.set_available("jana")
    chat = desk.start_chat("support", "Karel", "k@example.com")
    desk.accept("jana", chat)
    desk.send_customer_message(chat, "Hello")
    desk.send_agent_message("jana", chat, "Hi")
    desk.end("jana", chat)
    desk.submit_wrap_up("jana", chat, "Resolved")
    desk.tick()
    assert [type(command).__name__ for command in desk.seen] == [
        "AddQueue",
        "Login",
        "SetAvailable",
        "StartChat",
        "Accept",
        "SendCustomerMessage",
        "SendAgentMessage",
        "End",
        "SubmitWrapUp",
        "Tick",
    ]
    assert desk.conversation(chat).state == "closed"


def test_a_subclass_of_such_a_subclass_goes_through_its_handle_too() -> None:
    class Deeper(Recording):
        pass

    desk = Deeper(clock=ManualClock(T0))
    desk.add_queue("support", ["Resolved"])
    assert [type(command).__name__ for command in desk.seen] == ["AddQueue"]


def test_a_subclass_that_keeps_handle_takes_the_short_way() -> None:
    class Plain(Desk):
        pass

    assert Plain._commit is Desk._commit
    assert Recording._commit is _desk._through_handle


def test_a_refusal_of_a_method_is_logged_by_its_code(caplog: pytest.LogCaptureFixture) -> None:
    desk = Desk(clock=ManualClock(T0))
    with caplog.at_level(logging.INFO, logger="livechat_core"), pytest.raises(LivechatError):
        desk.accept("nobody", "nothing")
    assert [record.getMessage() for record in caplog.records] == [
        "Accept refused: unknown_conversation"
    ]


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 1e13, -1e13, "now", None])
def test_a_clock_out_of_range_is_refused_on_a_fresh_desk(value: Any) -> None:
    """The short way's one range test starts at the desk's latest time, never below the
    earliest time a clock may give: a fresh desk refuses what the general way refuses."""
    clock = ManualClock(T0)
    desk = Desk(clock=clock)
    desk.add_queue("support", ["Resolved"])
    desk.clock = lambda: value
    with pytest.raises(ClockError):
        desk.login("jana", "Jana", ["support"])
    assert desk.agents() == []


def test_a_clock_that_gives_an_int_gives_float_times() -> None:
    desk = Desk(clock=lambda: 1_700_000_000)
    desk.add_queue("support", ["Resolved"])
    desk.login("jana", "Jana", ["support"])
    (_, event), *_ = desk.events_after(0, 1)
    assert type(event.at) is float
    assert event.at == 1_700_000_000.0


def test_the_earliest_and_latest_times_a_clock_may_give_are_taken() -> None:
    for now in (-MAX_SECONDS, MAX_SECONDS):
        desk = Desk(clock=ManualClock(now))
        desk.add_queue("support", ["Resolved"])
        assert desk.events_after(0, 1)[0][1].at == now


def test_the_records_a_desk_remembers_as_its_own_stay_few() -> None:
    """New records and records another desk saved are where ``_own`` grows: it is kept
    bounded there, not at every save."""
    store = MemoryStore()
    desk = Desk(store=store, clock=ManualClock(T0))
    other = Desk(store=store, clock=ManualClock(T0))
    desk.add_queue("support", ["Resolved"])
    desk.login("jana", "Jana", ["support"], capacity=1000)
    desk.set_available("jana")
    chats = [desk.start_chat("support", f"Customer {i}", "") for i in range(400)]
    assert len(desk._own) <= _desk._OWN + 2
    for chat in chats:
        other.accept("jana", chat)
        desk.send_agent_message("jana", chat, "Hello")
    assert len(desk._own) <= _desk._OWN + 2
    assert len(other._own) <= _desk._OWN + 2
    # after the clearing, the records are remembered again as the desk saves them
    desk.send_agent_message("jana", chats[-1], "Again")
    assert desk._own[chats[-1]] == desk.conversation(chats[-1]).version


def test_metrics_and_batch_blocks_send_the_methods_the_general_way() -> None:
    """One counter says why a command may not take the short way: the metrics hook, and
    each open ``batch()`` block; it goes back to what it was when a block ends."""
    seen: list[tuple[str, str, int]] = []
    measured = Desk(
        clock=ManualClock(T0),
        metrics=lambda name, outcome, _, lost: seen.append((name, outcome, lost)),
    )
    plain = Desk(clock=ManualClock(T0))
    for desk in (measured, plain):
        before = desk._general
        with desk.batch():
            desk.add_queue("support", ["Resolved"])
            assert desk._general == before + 1
            with pytest.raises(LivechatError):
                desk.accept("jana", "nothing")
        assert desk._general == before
        desk.login("jana", "Jana", ["support"])
    assert (measured._general, plain._general) == (1, 0)
    assert seen == [
        ("AddQueue", "ok", 0),
        ("Accept", "unknown_conversation", 0),
        ("Login", "ok", 0),
    ]
