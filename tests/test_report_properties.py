"""Report invariants on any scenario a desk accepts, and a cross-check of the event fold
against the records the desk keeps (conversations with their legs, built by ``apply``)."""

from __future__ import annotations

import math
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from livechat_core import Desk, compute_report
from livechat_core.testing import ManualClock
from livechat_core.testing.strategies import Scenario, scenarios


def played(scenario: Scenario) -> tuple[Desk, ManualClock]:
    clock = ManualClock(scenario.start)
    desk = Desk(clock=clock)
    scenario.play(desk, clock)
    return desk, clock


def mean(values: list[float]) -> float | None:
    return math.fsum(values) / len(values) if values else None


@settings(max_examples=60, deadline=None)
@given(scenarios(max_agents=3, max_queues=2, max_steps=50), st.randoms(use_true_random=False))
def test_figures_agree_with_the_records(scenario: Scenario, rng: random.Random) -> None:
    desk, clock = played(scenario)
    report = desk.report()
    chats = [desk.conversation(cid) for cid in desk.store.conversation_ids()]

    # the chat figures, recomputed from the conversation records
    assert report.offered == len(chats)
    accepted = [c for c in chats if c.first_accepted_at is not None]
    assert report.handled == len(accepted)
    assert report.abandoned == sum(1 for c in chats if c.outcome == "abandoned")
    waits = [c.first_accepted_at - c.started_at for c in accepted if c.first_accepted_at]
    assert report.asa == mean(waits)
    owner_legs = [
        leg.wrapped_up_at - leg.accepted_at
        for c in chats
        for leg in c.legs
        if leg.role == "owner" and leg.accepted_at is not None and leg.wrapped_up_at is not None
    ]
    assert report.wrapped_legs == len(owner_legs)
    assert report.aht == mean(owner_legs)
    legs_by_agent: dict[str, int] = {}
    for c in chats:
        for leg in c.legs:
            if leg.accepted_at is not None:
                legs_by_agent[leg.agent_id] = legs_by_agent.get(leg.agent_id, 0) + 1
    assert {a: f.legs for a, f in report.by_agent.items() if f.legs} == legs_by_agent

    # shapes and ranges
    assert report.handled + report.abandoned <= report.offered
    for figures in (report, *report.by_queue.values(), *(i.figures for i in report.intervals)):
        assert figures.service_level is None or 0 <= figures.service_level <= 1
        assert figures.abandon_rate is None or 0 <= figures.abandon_rate <= 1
    for name in ("offered", "handled", "abandoned", "wrapped_legs"):
        assert sum(getattr(q, name) for q in report.by_queue.values()) == getattr(report, name)
        assert sum(getattr(i.figures, name) for i in report.intervals) == getattr(report, name)
    for agent in report.by_agent.values():
        assert 0 <= agent.idle_not_busy <= agent.idle <= agent.logged_in + 1e-9
        assert 0 <= agent.busy <= agent.logged_in + 1e-9
        assert agent.occupancy is None or 0 <= agent.occupancy <= 1 + 1e-9

    # the pure function, on the events in any order, agrees with the desk
    events = list(desk.stored_events())
    rng.shuffle(events)
    queues = [queue.name for queue in desk.queues()]
    assert compute_report(events, now=clock(), queues=queues) == report
    # every queue is reported, a quiet one with zeros, as the wallboard lists them
    assert set(report.by_queue) >= set(desk.stats().queues)

    # two adjacent windows share the chats out between them
    if chats:
        middle = rng.choice(chats).started_at
        first, second = desk.report(until=middle), desk.report(since=middle)
        assert first.offered + second.offered == report.offered
        assert first.handled + second.handled == report.handled

    # the wallboard counts what the records hold
    board = desk.stats()
    queued = [c for c in chats if c.state == "queued"]
    assert sum(q.waiting for q in board.queues.values()) == len(queued)
    assert sum(board.agents.values()) == len(desk.agents())
    assert all(q.longest_wait >= 0 for q in board.queues.values())
