"""``livechat_core.testing`` for users: strategies, the manual clock and the pytest plugin."""

from __future__ import annotations

import importlib.metadata
import os
import tempfile
import textwrap
from pathlib import Path

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from livechat_core import (
    Command,
    Desk,
    InvalidArgument,
    LivechatError,
    SqliteStore,
    StartChat,
    event_to_record,
    find_sensitive,
    mask_text,
)
from livechat_core._machines import ConversationState, LegState
from livechat_core._pii_samples import Item, LabelledMessage
from livechat_core.testing.clock import DEFAULT_START, ManualClock
from livechat_core.testing.strategies import (
    Scenario,
    agent_message_texts,
    chat_texts,
    commands,
    customer_message_texts,
    messages_with_item,
    pii_items,
    scenarios,
)

pytest_plugins = ["pytester"]

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --------------------------------------------------------------------------- the clock


def test_manual_clock_moves_only_forward() -> None:
    clock = ManualClock()
    assert clock() == clock.now == DEFAULT_START
    assert clock.advance(2.5) == DEFAULT_START + 2.5
    assert clock.set(DEFAULT_START + 10) == clock() == DEFAULT_START + 10
    with pytest.raises(InvalidArgument):
        clock.advance(-1)
    with pytest.raises(InvalidArgument):
        clock.set(DEFAULT_START)
    with pytest.raises(InvalidArgument):
        clock.advance(float("nan"))
    with pytest.raises(InvalidArgument):
        ManualClock(float("inf"))
    assert clock() == DEFAULT_START + 10  # refused moves changed nothing
    assert repr(ManualClock(5)) == "ManualClock(5.0)"


# --------------------------------------------------------------------------- strategies


@FAST
@given(commands())
def test_commands_are_valid_values(command: Command) -> None:
    assert isinstance(command, Command)
    assert attrs.evolve(command) == command  # validators pass again


@FAST
@given(
    commands(agent_ids=["jana", "petr"], conversation_ids=["chat-1"], queues=["support"]).filter(
        lambda c: not isinstance(c, StartChat) or c.conversation_id == "chat-1"
    )
)
def test_commands_draw_ids_from_the_pools(command: Command) -> None:
    values = attrs.asdict(command)
    for field in ("agent_id", "target_agent_id", "guest_agent_id"):
        if field in values:
            assert values[field] in ("jana", "petr")
    if "conversation_id" in values:
        assert values["conversation_id"] == "chat-1"
    if "queue" in values:
        assert values["queue"] == "support"


def _active_chat() -> tuple[Desk, str]:
    desk = Desk(clock=ManualClock())
    desk.add_queue("support", ["Resolved"])
    desk.login("jana", "Jana Nováková", ["support"])
    desk.set_available("jana")
    chat = desk.start_chat("support", "Karel Novák", "")
    desk.accept("jana", chat)
    return desk, chat


@FAST
@given(agent_message_texts(max_size=1000), customer_message_texts())
def test_message_texts_are_accepted_by_a_desk(agent_text: str, customer_text: str) -> None:
    desk, chat = _active_chat()
    desk.send_customer_message(chat, customer_text)
    desk.send_agent_message("jana", chat, agent_text)
    assert len(desk.conversation(chat).messages) == 2


@settings(max_examples=60, deadline=None)
@given(scenarios())
def test_scenarios_are_accepted_by_a_fresh_desk(scenario: Scenario) -> None:
    clock = ManualClock(scenario.start)
    desk = Desk(clock=clock)
    events = scenario.play(desk, clock)  # raises if any step is refused
    assert [step.at for step in scenario.steps] == sorted(step.at for step in scenario.steps)
    assert len(events) >= len(scenario.steps) - sum(
        1 for c in scenario.commands if type(c).__name__ == "Tick"
    )


@settings(max_examples=15, deadline=None)
@given(scenarios(max_steps=25))
def test_scenarios_replay_identically_on_sqlite(scenario: Scenario) -> None:
    clock = ManualClock(scenario.start)
    in_memory = scenario.play(Desk(clock=clock), clock)
    clock = ManualClock(scenario.start)
    with tempfile.TemporaryDirectory() as directory, SqliteStore(Path(directory, "d.db")) as store:
        on_disk = scenario.play(Desk(store=store, clock=clock), clock)
    assert [event_to_record(e) for e in on_disk] == [event_to_record(e) for e in in_memory]


def test_scenarios_reach_every_corner_of_the_article() -> None:
    seen: set[str] = set()

    @settings(max_examples=60, deadline=None, database=None, derandomize=True)
    @given(scenarios())
    def collect(scenario: Scenario) -> None:
        seen.update(type(command).__name__ for command in scenario.commands)

    collect()
    assert seen >= {
        "AddQueue",
        "Login",
        "SetAvailable",
        "StartChat",
        "Accept",
        "Decline",
        "SendCustomerMessage",
        "SendAgentMessage",
        "TransferToQueue",
        "CustomerEnd",
        "End",
        "SubmitWrapUp",
        "Tick",
    }


def test_scenarios_refuse_impossible_bounds() -> None:
    with pytest.raises(ValueError, match="agents"):
        scenarios(max_agents=0)
    with pytest.raises(ValueError, match="queues"):
        scenarios(max_queues=4)


@FAST
@given(pii_items())
def test_pii_items_are_found(item: Item) -> None:
    assert item.kind in {finding.kind for finding in find_sensitive(item.text)}


@FAST
@given(messages_with_item(), chat_texts())
def test_chat_text_carrying_items_is_masked(message: LabelledMessage, other: str) -> None:
    assert message.text[message.start : message.end] not in mask_text(message.text)
    assert mask_text(mask_text(other)) == mask_text(other)


# --------------------------------------------------------------------------- a user's test


def _closed_chats_have_only_finished_legs(desk: Desk, chat_ids: list[str]) -> None:
    for chat_id in chat_ids:
        view = desk.conversation(chat_id)
        if view.state is ConversationState.CLOSED:
            assert view.outcome is not None
            assert all(leg.state is not LegState.ACTIVE for leg in view.legs)


@settings(max_examples=40, deadline=None)
@given(scenarios(), st.data())
def test_a_users_property_every_closed_chat_is_finished(
    scenario: Scenario, data: st.DataObject
) -> None:
    """The kind of test the docs show: play a scenario, then check one's own invariant."""
    clock = ManualClock(scenario.start)
    desk = Desk(clock=clock)
    scenario.play(desk, clock)
    chats = [c.conversation_id for c in scenario.commands if isinstance(c, StartChat)]
    _closed_chats_have_only_finished_legs(desk, chats)
    # refused commands change nothing, whatever the state the scenario left
    command = data.draw(commands(agent_ids=["agent-1", "agent-2"], conversation_ids=chats or ["x"]))
    before = [desk.conversation(chat) for chat in chats]
    try:
        desk.handle(command)
    except LivechatError:
        assert [desk.conversation(chat) for chat in chats] == before


# --------------------------------------------------------------------------- the plugin


def _plugin_args() -> list[str]:
    """Load the plugin by module unless its entry point already does."""
    for entry in importlib.metadata.entry_points(group="pytest11"):
        if entry.value.startswith("livechat_core.testing.pytest_plugin"):
            return []
    return ["-p", "livechat_core.testing.pytest_plugin"]


USER_TESTS = """
from hypothesis import given, settings
from livechat_core import Desk
from livechat_core.testing.clock import ManualClock
from livechat_core.testing.strategies import scenarios


def test_clock(livechat_clock):
    start = livechat_clock()
    livechat_clock.advance(30)
    assert livechat_clock.now == start + 30


def test_rona_after_the_offer_timeout(livechat_desk, livechat_clock):
    livechat_desk.add_queue("support", ["Resolved"], offer_timeout=30)
    livechat_desk.login("jana", "Jana", ["support"])
    livechat_desk.set_available("jana")
    livechat_desk.start_chat("support", "Karel", "")
    livechat_clock.advance(31)
    livechat_desk.tick()
    assert livechat_desk.agent("jana").state == "rona"


def test_sqlite_desk_is_on_disk(livechat_sqlite_desk, tmp_path):
    livechat_sqlite_desk.add_queue("support", ["Resolved"])
    assert (tmp_path / "livechat.db").exists()
    assert [q.name for q in livechat_sqlite_desk.queues()] == ["support"]


def test_each_store(livechat_store_desk):
    livechat_store_desk.add_queue("support", ["Resolved"])
    livechat_store_desk.login("jana", "Jana", ["support"])
    assert livechat_store_desk.agent("jana").state == "idle"


def test_postgres(livechat_postgres_desk):
    livechat_postgres_desk.add_queue("support", ["Resolved"])


@settings(max_examples=10, deadline=None)
@given(scenarios(max_steps=10))
def test_users_property(scenario):
    clock = ManualClock(scenario.start)
    desk = Desk(clock=clock)
    scenario.play(desk, clock)
    for agent in desk.agents():
        assert len(agent.holding) <= agent.capacity
"""


def test_the_plugin_fixtures_in_a_users_test_run(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LIVECHAT_TEST_POSTGRES", raising=False)
    pytester.makepyfile(test_user=textwrap.dedent(USER_TESTS))
    result = pytester.runpytest(*_plugin_args(), "-q", "-p", "no:cacheprovider")
    # memory and sqlite run; the PostgreSQL cases skip without a server
    result.assert_outcomes(passed=6, skipped=2)


def test_the_postgres_fixtures_on_a_real_server(pytester: pytest.Pytester) -> None:
    if not os.environ.get("LIVECHAT_TEST_POSTGRES"):
        pytest.skip("LIVECHAT_TEST_POSTGRES is not set (scripts/with-postgres.sh sets it)")
    pytester.makepyfile(test_user=textwrap.dedent(USER_TESTS))
    result = pytester.runpytest(*_plugin_args(), "-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=8)
