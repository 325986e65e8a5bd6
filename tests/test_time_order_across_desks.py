"""Time never goes backwards across desks whose clocks disagree (``docs/decisions.md``).

Several desks may share one store. A command's time is held at the latest time of the
stored records it changes; for a conversation that is ``last_event_at``, the time of its
newest event. Before that field, the floor walked the record's other times, and a message
another desk had stored (which the record no longer keeps: the transcript is stored as
rows) was invisible to it, so a desk with a lagging clock stored an offer, an acceptance or
a message before it. Here: two desks on one store, clocks 5 s or 600 s apart either way,
random command sequences: every conversation's stored events are in time order, and its
record read back equals the replay of its events. Also: a record written before
``last_event_at`` existed loads and is floored by its other times, and the desk's memory of
the versions it committed keeps conversations and agents apart.
"""

from __future__ import annotations

import contextlib
import json
import pathlib
import sqlite3
import tempfile
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from livechat_core import Desk, MemoryStore, replay
from livechat_core._errors import LivechatError
from livechat_core.adapters import _codec
from livechat_core.adapters.sqlite import SqliteStore
from livechat_core.ports import Store
from livechat_core.testing.clock import ManualClock
from livechat_core.testing.strategies import Scenario, scenarios

T0 = 1_700_000_000.0
SKEWS = st.sampled_from([5.0, -5.0, 600.0, -600.0])
# each step: which desk runs it, and whether inside a batch() block (the general way:
# ``_decide`` and ``_changed_floor``) or by itself (``_commit``, ``_attempt``)
TURNS = st.lists(st.tuples(st.booleans(), st.booleans()), min_size=64, max_size=64)


def _play(
    scenario: Scenario, turns: list[tuple[bool, bool]], skew: float, stores: tuple[Store, Store]
) -> list[Desk]:
    """The scenario's steps, each on the desk its turn names (the second one's clock
    ``skew`` seconds off the first's); refused steps change nothing and are skipped."""
    clocks = (ManualClock(scenario.start), ManualClock(scenario.start + skew))
    desks = [Desk(store=store, clock=clock) for store, clock in zip(stores, clocks, strict=True)]
    for step, (second, batched) in zip(scenario.steps, turns * 8, strict=False):
        clocks[second].set(step.at + (skew if second else 0.0))
        desk = desks[second]
        try:
            if batched:
                with desk.batch():
                    desk.handle(step.command)
            else:
                desk.handle(step.command)
        except LivechatError:
            pass  # (the other desk changed what the scenario's step expected)
    return desks


def _check(desks: list[Desk], store: Store) -> None:
    """Every conversation's stored events in time order, its record's ``last_event_at`` the
    time of the last one, and its record (with its transcript) the replay of them; every
    agent's events in time order, its ``last_event_at`` the last one's time."""
    for agent in desks[0].agents():
        agent_times = [event.at for event in store.events(agent.id, "agent")]
        assert agent_times == sorted(agent_times)
        assert agent.last_event_at == agent_times[-1]
    for conversation_id in store.conversation_ids():
        events = store.events(conversation_id)
        times = [event.at for event in events]
        assert times == sorted(times), [(type(e).__name__, e.at) for e in events]
        rebuilt = replay(events)
        assert rebuilt is not None
        assert rebuilt.last_event_at == times[-1]
        for desk in desks:
            assert desk.conversation(conversation_id) == rebuilt


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(max_steps=30), TURNS, SKEWS)
def test_two_desks_on_one_memory_store_store_every_conversation_in_time_order(
    scenario: Scenario, turns: list[tuple[bool, bool]], skew: float
) -> None:
    store = MemoryStore()
    desks = _play(scenario, turns, skew, (store, store))
    _check(desks, store)


@contextlib.contextmanager
def _one_file() -> Iterator[tuple[SqliteStore, SqliteStore]]:
    """Two stores (two connections) on one new SQLite file."""
    with tempfile.TemporaryDirectory() as directory:
        path = pathlib.Path(directory) / "desk.db"
        with (
            SqliteStore(path, synchronous="OFF") as one,
            SqliteStore(path, synchronous="OFF") as two,
        ):
            yield one, two


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(max_steps=30), TURNS, SKEWS)
def test_two_desks_on_one_sqlite_file_store_every_conversation_in_time_order(
    scenario: Scenario, turns: list[tuple[bool, bool]], skew: float
) -> None:
    with _one_file() as stores:
        desks = _play(scenario, turns, skew, stores)
        _check(desks, stores[0])
        _check(desks, stores[1])


def _lagging_pair(store: Store) -> tuple[Desk, ManualClock, Desk, ManualClock]:
    """Desk ``a`` at T0 and desk ``b`` 5 s ahead, on ``store``, with a queue and an agent."""
    a_clock, b_clock = ManualClock(T0), ManualClock(T0 + 5)
    a = Desk(store=store, clock=a_clock, new_id=lambda: "chat")
    b = Desk(store=store, clock=b_clock)
    a.add_queue("support", ["Resolved"])
    a.login("jana", "Jana Nováková", ["support"])
    return a, a_clock, b, b_clock


def test_a_message_the_record_no_longer_keeps_still_holds_the_next_event() -> None:
    """The case the Hypothesis run of two desks first found: a customer message stored by
    the desk ahead (a text not ending in digits: the record keeps no copy of it), then an
    offer from the lagging desk. The offer is held at the message's time."""
    store = MemoryStore()
    a, a_clock, b, _ = _lagging_pair(store)
    a.start_chat("support", "Karel", "")
    b.send_customer_message("chat", "Hello?")  # at T0 + 5
    assert b.conversation("chat").messages[-1].at == T0 + 5
    with store.transaction() as txn:
        record = txn.conversation("chat")
    assert record is not None
    assert record.messages == ()
    assert record.last_event_at == T0 + 5
    a_clock.set(T0 + 1)
    events = a.set_available("jana")  # routes the chat: offered to jana
    offered = [event for event in events if event.aggregate_id == "chat"]
    assert [type(event).__name__ for event in offered] == ["ChatOffered"]
    assert offered[0].at == T0 + 5
    assert [event.at for event in store.events("chat")] == [T0, T0 + 5, T0 + 5]


def test_a_customer_leaving_a_held_chat_holds_the_agents_end() -> None:
    """A customer end leaves no other time on a held chat (no leg steps; its system message
    is not kept in the record): the lagging desk's end is held at it."""
    store = MemoryStore()
    a, a_clock, b, _ = _lagging_pair(store)
    a.set_available("jana")
    a.start_chat("support", "Karel", "")
    a.accept("jana", "chat")
    b.customer_end("chat")  # at T0 + 5
    a_clock.set(T0 + 1)
    (ended,) = a.end("jana", "chat")
    assert ended.at == T0 + 5
    times = [event.at for event in store.events("chat")]
    assert times == [T0, T0, T0, T0 + 5, T0 + 5, T0 + 5]


def test_a_record_written_before_last_event_at_loads_and_is_floored_by_its_other_times() -> None:
    """An old-format record (no ``last_event_at`` in its JSON) decodes with ``None``; the
    floor is then the latest time the record holds, as before the field; the next event
    writes the field."""
    with tempfile.TemporaryDirectory() as directory:
        path = pathlib.Path(directory) / "desk.db"
        with SqliteStore(path) as store:
            a, a_clock, b, _b_clock = _lagging_pair(store)
            a.set_available("jana")
            a.start_chat("support", "Karel", "")  # offered to jana at T0
            b.accept("jana", "chat")  # accepted at T0 + 5: the leg's and the record's time
        with contextlib.closing(sqlite3.connect(path)) as connection, connection:
            (record,) = connection.execute(
                "SELECT record FROM conversations WHERE id = 'chat'"
            ).fetchone()
            document = json.loads(record)
            assert document.pop("last_event_at") == T0 + 5
            connection.execute(
                "UPDATE conversations SET record = ? WHERE id = 'chat'",
                (_codec.dumps(document),),
            )
        assert _codec.conversation_from_json(document).last_event_at is None
        with SqliteStore(path) as store:
            a_clock.set(T0 + 1)
            a = Desk(store=store, clock=a_clock)  # a new desk: nothing of its own yet
            old = a.conversation("chat")
            assert old.last_event_at is None
            assert old.accepted_at == T0 + 5
            (event,) = a.send_agent_message("jana", "chat", "Dobrý den")
            assert event.at == T0 + 5  # held at the acceptance, the latest time it holds
            new = a.conversation("chat")
            assert new.last_event_at == T0 + 5
            assert new == replay(store.events("chat"))


def test_an_agent_event_of_the_lagging_desk_is_held_at_the_agents_last_event() -> None:
    """Idle, RONA and logout leave no other time on the agent: the desk ahead sets the
    agent idle, then the lagging desk sets it available, held at the idle's time."""
    store = MemoryStore()
    a, a_clock, b, _ = _lagging_pair(store)
    a.set_available("jana")
    b.set_idle("jana", "lunch")  # at T0 + 5
    assert b.agent("jana").last_event_at == T0 + 5
    a_clock.set(T0 + 1)
    (available,) = a.set_available("jana")
    assert available.at == T0 + 5
    assert [event.at for event in store.events("jana", "agent")] == [T0, T0, T0 + 5, T0 + 5]
    assert a.agent("jana").last_event_at == T0 + 5


def test_a_conversation_and_an_agent_with_one_id_are_remembered_apart() -> None:
    """A custom id generator gives a conversation the id of an agent, and both reach the
    same version: the lagging desk committed the conversation's, the desk ahead the
    agent's. The lagging desk must still read the agent's time floor."""
    store = MemoryStore()
    a_clock, b_clock = ManualClock(T0), ManualClock(T0 + 600)
    a = Desk(store=store, clock=a_clock, new_id=lambda: "jana")
    b = Desk(store=store, clock=b_clock)
    a.add_queue("support", ["Resolved"])
    a.add_queue("sales", ["Sold"])
    a.login("jana", "Jana Nováková", ["sales"])  # agent jana, version 1 (a's)
    a.start_chat("support", "Karel", "")  # conversation jana, version 1 (a's)
    b.set_available("jana")  # agent jana, version 2 (b's), available since T0 + 600
    a_clock.set(T0 + 1)
    a.send_customer_message("jana", "Hello?")  # conversation jana, version 2 (a's)
    assert a.conversation("jana").version == a.agent("jana").version == 2
    a_clock.set(T0 + 2)
    (idle,) = a.set_idle("jana", "break")
    assert idle.at == T0 + 600  # held at the agent's time, which b stored
    times = [event.at for event in store.events("jana", "agent")]
    assert times == sorted(times)


def test_one_memory_for_both_kinds_would_skip_the_agents_floor() -> None:
    """Why the two are kept apart: sharing one dictionary (the former ``_own``), the
    conversation's version is taken for the agent's and the agent's floor is skipped."""
    store = MemoryStore()
    a_clock, b_clock = ManualClock(T0), ManualClock(T0 + 600)
    a = Desk(store=store, clock=a_clock, new_id=lambda: "jana")
    a._own_agents = a._own  # the former single dictionary
    b = Desk(store=store, clock=b_clock)
    a.add_queue("support", ["Resolved"])
    a.add_queue("sales", ["Sold"])
    a.login("jana", "Jana Nováková", ["sales"])
    a.start_chat("support", "Karel", "")
    b.set_available("jana")
    a_clock.set(T0 + 1)
    a.send_customer_message("jana", "Hello?")
    a_clock.set(T0 + 2)
    (idle,) = a.set_idle("jana", "break")
    assert idle.at == T0 + 2  # below the agent's last event (T0 + 600): out of order


def _fail_in_a_block(desk: Desk) -> None:
    with desk.batch():
        desk.set_available("jana")
        desk.start_chat("support", "Karel", "")
        raise RuntimeError("the block fails")


def test_the_desks_memory_of_its_own_forgets_both_kinds_with_a_failed_block() -> None:
    desk = Desk(clock=ManualClock(T0))
    desk.add_queue("support", ["Resolved"])
    desk.login("jana", "Jana", ["support"])
    assert desk._own_agents == {"jana": 1}
    with pytest.raises(RuntimeError, match="the block fails"):
        _fail_in_a_block(desk)
    assert desk._own == {}
    assert desk._own_agents == {}
