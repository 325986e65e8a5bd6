"""Races between real OS processes on one SQLite file and on one PostgreSQL database.

Four worker processes, each with its own desk on the shared store, play customers and
agents at random: start chats, send messages, accept, decline, end, wrap up, go idle
and available. Commands that lose to another worker are refused or retried; none may be
lost. Afterwards:

* every customer message whose command returned is in its transcript exactly once;
* replaying the whole event log in commit order, no agent ever holds more offered or
  active chats than their capacity, and no conversation has two pending offers;
* no conversation is forgotten in a queue while a member agent could take it.
"""

from __future__ import annotations

import collections
import contextlib
import multiprocessing
import pathlib
import random
import sqlite3
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import pytest

from livechat_core import (
    AgentState,
    CommandRefused,
    ConversationState,
    Desk,
    Event,
    LegState,
)
from livechat_core._conversation import apply
from livechat_core.adapters import _codec
from livechat_core.adapters.sqlite import SqliteStore
from livechat_core.events import AgentLoggedIn
from livechat_core.ports import Store

WORKERS = 4
STEPS = 70
AGENTS = {"jana": 2, "petr": 1, "eva": 1, "adam": 2, "zdena": 1}
QUEUES = {
    "jana": ["support", "billing"],
    "petr": ["support"],
    "eva": ["billing"],
    "adam": ["support", "billing"],
    "zdena": ["billing"],
}


def prepare(store: Store) -> None:
    """Queues and agents, all available; long offer timeouts so nothing expires."""
    desk = Desk(store=store)
    desk.add_queue("support", ["Resolved"], offer_timeout=3600.0)
    desk.add_queue("billing", ["Paid"], offer_timeout=3600.0)
    for agent_id, capacity in AGENTS.items():
        desk.login(agent_id, agent_id.title(), QUEUES[agent_id], capacity=capacity)
        desk.set_available(agent_id)


def worker(store: Store, number: int) -> tuple[list[tuple[str, str]], collections.Counter[str]]:
    """Random customer and agent commands; returns the messages whose command returned."""
    rng = random.Random(number)
    desk = Desk(store=store)
    sent: list[tuple[str, str]] = []
    tally: collections.Counter[str] = collections.Counter()
    chats: list[str] = []
    try:
        for step in range(STEPS):
            try:
                action = rng.random()
                if action < 0.2 or not chats:
                    chats.append(
                        desk.start_chat(rng.choice(["support", "billing"]), f"W{number}", "x")
                    )
                    tally["start_chat"] += 1
                elif action < 0.45:
                    chat = rng.choice(chats[-6:])
                    text = f"worker {number} step {step} says hello"
                    desk.send_customer_message(chat, text)
                    sent.append((chat, text))
                    tally["customer_message"] += 1
                else:
                    tally[_agent_turn(desk, rng, rng.choice(list(AGENTS)))] += 1
            except CommandRefused as refused:
                tally[f"refused:{refused.code}"] += 1
    finally:
        store.close()
    return sent, tally


def _agent_turn(desk: Desk, rng: random.Random, agent_id: str) -> str:
    agent = desk.agent(agent_id)
    if agent.state is not AgentState.AVAILABLE:
        desk.set_available(agent_id)
        return "set_available"
    offers = desk.offers(agent_id)
    if offers:
        if rng.random() < 0.8:
            desk.accept(agent_id, offers[0].conversation_id)
            return "accept"
        desk.decline(agent_id, offers[0].conversation_id)
        return "decline"
    if agent.wrapping:
        reason = "Resolved" if desk.conversation(agent.wrapping[0]).queue == "support" else "Paid"
        desk.submit_wrap_up(agent_id, agent.wrapping[0], reason)
        return "wrap_up"
    if agent.holding:
        chat = agent.holding[0]
        if rng.random() < 0.5:
            desk.send_agent_message(agent_id, chat, f"{agent_id} answers")
            return "agent_message"
        desk.end(agent_id, chat)
        return "end"
    if rng.random() < 0.1:
        desk.set_idle(agent_id, "coffee")
        return "set_idle"
    return "nothing"


def race(store: Store, events_in_commit_order: Callable[[], list[Event]]) -> None:
    prepare(store)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(WORKERS, mp_context=context) as pool:
        results = list(pool.map(worker, [store] * WORKERS, range(WORKERS)))
    desk = Desk(store=store)
    tally: collections.Counter[str] = collections.Counter()
    for sent, counts in results:
        tally.update(counts)
        for chat, text in sent:
            texts = [message.text for message in desk.conversation(chat).messages]
            assert texts.count(text) == 1, (chat, text, texts)
    assert tally["accept"] > 0, tally
    assert tally["start_chat"] > 0, tally
    _check_capacity(events_in_commit_order())
    _check_nobody_forgotten(desk)


def _check_capacity(events: list[Event]) -> None:
    capacity: dict[str, int] = {}
    conversations: dict[str, Any] = {}
    holders: dict[str, set[str]] = {}
    load: collections.Counter[str] = collections.Counter()
    for event in events:
        if isinstance(event, AgentLoggedIn):
            capacity[event.aggregate_id] = event.capacity
        if event.aggregate != "conversation":
            continue
        conversation = apply(conversations.get(event.aggregate_id), event)
        conversations[event.aggregate_id] = conversation
        pending = [leg for leg in conversation.legs if leg.state is LegState.OFFERED]
        assert len(pending) <= 1, f"{event.id}: two pending offers {pending}"
        now = {
            leg.agent_id
            for leg in conversation.legs
            if leg.state in (LegState.OFFERED, LegState.ACTIVE)
        }
        before = holders.get(event.aggregate_id, set())
        for agent_id in now - before:
            load[agent_id] += 1
            assert load[agent_id] <= capacity[agent_id], f"{event.id}: {agent_id} over capacity"
        for agent_id in before - now:
            load[agent_id] -= 1
        holders[event.aggregate_id] = now


def _check_nobody_forgotten(desk: Desk) -> None:
    queued = collections.defaultdict(list)
    for chat in desk.store.conversation_ids():
        conversation = desk.conversation(chat)
        if conversation.state is ConversationState.QUEUED:
            queued[conversation.queue].append(chat)
    for agent in desk.agents():
        if agent.routable:
            waiting = [chat for queue in agent.queues for chat in queued[queue]]
            assert not waiting, f"{agent.id} is free while {waiting} wait in a queue"


def test_processes_racing_on_one_sqlite_file(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "desk.db"
    store = SqliteStore(path, synchronous="NORMAL")

    def events() -> list[Event]:
        with contextlib.closing(sqlite3.connect(path)) as connection:
            rows = connection.execute(
                "SELECT aggregate_id, sequence, at, type, data FROM events ORDER BY position"
            ).fetchall()
        return [_codec.event_from_columns(*row) for row in rows]

    try:
        race(store, events)
    finally:
        store.close()


@pytest.fixture
def postgres_events(postgres_dsn: str) -> Callable[[], list[Event]]:
    import psycopg

    def events() -> list[Event]:
        with psycopg.connect(postgres_dsn) as connection:
            rows = connection.execute(
                "SELECT aggregate_id, sequence, at, type, data FROM livechat.events "
                "ORDER BY position"
            ).fetchall()
        return [_codec.event_from_columns(*row) for row in rows]

    return events


@pytest.mark.postgres
@pytest.mark.parametrize("concurrency", ["lock", "serializable"])
def test_processes_racing_on_one_postgres_database(
    postgres_dsn: str, postgres_events: Callable[[], list[Event]], concurrency: str
) -> None:
    from livechat_core.adapters.postgres import PostgresStore

    store = PostgresStore(postgres_dsn, concurrency=concurrency)  # type: ignore[arg-type]
    try:
        race(store, postgres_events)
    finally:
        store.close()
