"""A Hypothesis state machine drives a Desk with random commands, valid and invalid, and
clock advances, and checks the desk's invariants after every step.

CI runs the ``ci`` profile (hundreds of runs, tens of steps each); run a larger search with
``HYPOTHESIS_PROFILE=deep pytest tests/test_desk_stateful.py``.
"""

from __future__ import annotations

import os
from typing import Any

import attrs
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from livechat_core import (
    Desk,
    LivechatError,
    replay,
)
from livechat_core import _commands as cmd
from livechat_core import events as ev
from livechat_core.testing import ManualClock

settings.register_profile(
    "ci",
    derandomize=bool(os.environ.get("CI")),  # the same examples on every CI run
    max_examples=300,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("deep", max_examples=3000, stateful_step_count=80, deadline=None)
settings.register_profile("dev", max_examples=60, stateful_step_count=30, deadline=None)

AGENTS = ("a1", "a2", "a3", "a4")
QUEUES = ("support", "billing")
REASONS = ("Resolved", "Escalated")
ASSETS = ("web", "app")
TEXTS = st.sampled_from(
    ["Hi", "Dobrý den", "a < b", "", "x" * 1001, "line\r\nbreak", "4111 1111", "1111 1111"]
)


def _state(desk: Desk) -> Any:
    """Everything observable about the desk."""
    store = desk.store
    with store.transaction(write=False) as txn:
        agents = tuple(txn.agents())
        queues = tuple(txn.queues())
    conversations = tuple(desk.conversation(i) for i in store.conversation_ids())
    return agents, queues, conversations


def _offered_agent(event: ev.Event) -> str | None:
    """The agent an event offers something to, if it is an offer."""
    if isinstance(event, ev.ChatOffered):
        return event.agent_id
    if isinstance(event, ev.TransferRequested):
        return event.target_agent_id
    if isinstance(event, ev.ConferenceRequested):
        return event.guest_agent_id
    return None


class DeskMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = ManualClock(1_000.0)
        self.published: list[ev.Event] = []
        self.desk = Desk(clock=self.clock, transport=self, new_id=self._new_id)
        self.counter = 0
        self.offered_while_unavailable: list[str] = []
        self.closed: set[str] = set()
        self.desk.add_queue("support", REASONS, offer_timeout=30, wrap_up_timeout=120)
        self.desk.add_queue("billing", REASONS, offer_timeout=20)

    def publish(self, events: Any) -> None:
        self.published.extend(events)

    def _new_id(self) -> str:
        self.counter += 1
        return f"c{self.counter}"

    def _conversation_ids(self) -> list[str]:
        return self.desk.store.conversation_ids()

    def _run(self, command: cmd.Command) -> None:
        before = _state(self.desk)
        agents_before = {a.id: a for a in before[0]}
        try:
            events = self.desk.handle(command)
        except LivechatError:
            assert _state(self.desk) == before, "a refused command changed something"
            return
        for event in events:
            target = _offered_agent(event)
            if target is None:
                continue
            # (c) offers go only to agents who were available before the command, or whom
            # this very command made available
            was = agents_before.get(target)
            made_available = isinstance(command, cmd.SetAvailable) and command.agent_id == target
            if not made_available and (was is None or was.state != "available"):
                self.offered_while_unavailable.append(target)

    # --- rules ---------------------------------------------------------------------------

    @rule(
        agent=st.sampled_from(AGENTS),
        queues=st.sets(st.sampled_from(QUEUES), min_size=1),
        capacity=st.integers(1, 3),
    )
    def login(self, agent: str, queues: set[str], capacity: int) -> None:
        self._run(
            cmd.Login(
                agent_id=agent, name=f"Agent {agent}", queues=sorted(queues), capacity=capacity
            )
        )

    @rule(agent=st.sampled_from(AGENTS))
    def logout(self, agent: str) -> None:
        self._run(cmd.Logout(agent_id=agent))

    @rule(agent=st.sampled_from(AGENTS))
    def set_available(self, agent: str) -> None:
        self._run(cmd.SetAvailable(agent_id=agent))

    @rule(agent=st.sampled_from(AGENTS), reason=st.sampled_from(["lunch", "meeting"]))
    def set_idle(self, agent: str, reason: str) -> None:
        self._run(cmd.SetIdle(agent_id=agent, reason=reason))

    @rule(
        queue=st.sampled_from((*QUEUES, "nowhere")),
        asset=st.sampled_from(ASSETS),
        proactive=st.booleans(),
    )
    def start_chat(self, queue: str, asset: str, proactive: bool) -> None:
        self._run(
            cmd.StartChat(
                conversation_id=self._new_id(),
                queue=queue,
                customer_name="Jana Nováková",
                customer_contact="+420 777 123 456",
                proactive=proactive,
                asset=asset,
            )
        )

    @precondition(lambda self: self._conversation_ids())
    @rule(
        data=st.data(),
        agent=st.sampled_from(AGENTS),
        action=st.sampled_from(["accept", "decline", "end", "end_conference", "transfer_queue"]),
    )
    def agent_action(self, data: st.DataObject, agent: str, action: str) -> None:
        conversation_id = data.draw(st.sampled_from(self._conversation_ids()))
        command: cmd.Command
        if action == "accept":
            command = cmd.Accept(agent_id=agent, conversation_id=conversation_id)
        elif action == "decline":
            command = cmd.Decline(agent_id=agent, conversation_id=conversation_id)
        elif action == "end":
            command = cmd.End(agent_id=agent, conversation_id=conversation_id)
        elif action == "end_conference":
            command = cmd.EndConference(agent_id=agent, conversation_id=conversation_id)
        else:
            queue = data.draw(st.sampled_from(QUEUES))
            command = cmd.TransferToQueue(
                agent_id=agent, conversation_id=conversation_id, queue=queue
            )
        self._run(command)

    @precondition(lambda self: self._conversation_ids())
    @rule(
        data=st.data(),
        agent=st.sampled_from(AGENTS),
        other=st.sampled_from(AGENTS),
        conference=st.booleans(),
    )
    def invite(self, data: st.DataObject, agent: str, other: str, conference: bool) -> None:
        conversation_id = data.draw(st.sampled_from(self._conversation_ids()))
        if conference:
            self._run(
                cmd.RequestConference(
                    agent_id=agent, conversation_id=conversation_id, guest_agent_id=other
                )
            )
        else:
            self._run(
                cmd.TransferToAgent(
                    agent_id=agent, conversation_id=conversation_id, target_agent_id=other
                )
            )

    @precondition(lambda self: self._conversation_ids())
    @rule(
        data=st.data(), agent=st.sampled_from(AGENTS), reason=st.sampled_from((*REASONS, "bogus"))
    )
    def wrap_up(self, data: st.DataObject, agent: str, reason: str) -> None:
        conversation_id = data.draw(st.sampled_from(self._conversation_ids()))
        self._run(
            cmd.SubmitWrapUp(
                agent_id=agent, conversation_id=conversation_id, reason=reason, notes="n"
            )
        )

    @precondition(lambda self: self._conversation_ids())
    @rule(data=st.data(), text=TEXTS, agent=st.sampled_from((*AGENTS, None)))
    def message(self, data: st.DataObject, text: str, agent: str | None) -> None:
        conversation_id = data.draw(st.sampled_from(self._conversation_ids()))
        try:
            command: cmd.Command = (
                cmd.SendCustomerMessage(conversation_id=conversation_id, text=text)
                if agent is None
                else cmd.SendAgentMessage(
                    agent_id=agent, conversation_id=conversation_id, text=text
                )
            )
        except LivechatError:
            return  # an invalid command cannot even be built
        self._run(command)

    @precondition(lambda self: self._conversation_ids())
    @rule(data=st.data())
    def customer_end(self, data: st.DataObject) -> None:
        conversation_id = data.draw(st.sampled_from(self._conversation_ids()))
        self._run(cmd.CustomerEnd(conversation_id=conversation_id))

    @rule(asset=st.sampled_from(ASSETS))
    def delete_asset(self, asset: str) -> None:
        self._run(cmd.DeleteAsset(asset=asset))

    @rule(seconds=st.sampled_from([1.0, 10.0, 19.5, 20.0, 30.0, 45.0, 121.0]))
    def advance_and_tick(self, seconds: float) -> None:
        self.clock.now += seconds
        self._run(cmd.Tick(now=self.clock.now))

    # --- invariants -------------------------------------------------------------------------

    @invariant()
    def every_open_conversation_has_exactly_one_owner(self) -> None:  # (a)
        agents = {a.id: a for a in self.desk.agents()}
        queues = {q.name for q in self.desk.queues()}
        for conversation_id in self._conversation_ids():
            view = self.desk.conversation(conversation_id)
            if view.state == "closed":
                continue
            assert view.queue in queues
            if view.state in ("queued", "offered"):
                assert view.owner is None, view
            elif view.state != "wrap_up":
                assert view.owner in agents, view
                held = view.leg_of(view.owner, "active", "wrapping_up")  # type: ignore[arg-type]
                assert held is not None, view

    @invariant()
    def no_agent_over_capacity_and_holdings_match_legs(self) -> None:  # (b)
        holding: dict[str, list[str]] = {}
        wrapping: dict[str, list[str]] = {}
        for conversation_id in self._conversation_ids():
            for leg in self.desk.conversation(conversation_id).legs:
                if leg.state in ("offered", "active"):
                    holding.setdefault(leg.agent_id, []).append(conversation_id)
                elif leg.state == "wrapping_up":
                    wrapping.setdefault(leg.agent_id, []).append(conversation_id)
        for agent in self.desk.agents():
            assert len(agent.holding) <= agent.capacity, agent
            assert sorted(agent.holding) == sorted(holding.get(agent.id, [])), agent
            assert sorted(agent.wrapping) == sorted(wrapping.get(agent.id, [])), agent
            if agent.state == "logged_out":
                assert not agent.holding
                assert not agent.wrapping

    @invariant()
    def offers_went_only_to_available_agents(self) -> None:  # (c)
        assert self.offered_while_unavailable == []

    @invariant()
    def closed_stays_closed(self) -> None:  # (e)
        for conversation_id in self._conversation_ids():
            state = self.desk.conversation(conversation_id).state
            if conversation_id in self.closed:
                assert state == "closed"
            elif state == "closed":
                self.closed.add(conversation_id)

    @invariant()
    def replay_rebuilds_every_conversation(self) -> None:  # (f)
        for conversation_id in self._conversation_ids():
            assert replay(self.desk.events(conversation_id)) == self.desk.conversation(
                conversation_id
            )

    @invariant()
    def sequences_strictly_increase_and_everything_was_published(self) -> None:  # (g)
        last: dict[tuple[str, str], int] = {}
        for event in self.published:
            key = (event.aggregate, event.aggregate_id)
            assert event.sequence == last.get(key, 0) + 1, event
            last[key] = event.sequence
        assert len({e.id for e in self.published}) == len(self.published)

    @invariant()
    def queued_chats_are_not_forgotten(self) -> None:
        """No chat waits in a queue while a member of it could take it."""
        routable = [a for a in self.desk.agents() if a.routable]
        for conversation_id in self._conversation_ids():
            view = self.desk.conversation(conversation_id)
            if view.state == "queued":
                assert not [a for a in routable if view.queue in a.queues], view


TestDesk = DeskMachine.TestCase
TestDesk.settings = settings.get_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def test_refused_command_state_comparison_sees_records() -> None:
    """The refusal check compares full records, so a sneaky change would show."""
    desk = Desk()
    desk.add_queue("q", ["r"])
    before = _state(desk)
    desk.login("a", "A", ["q"])
    assert _state(desk) != before
    assert attrs.has(type(_state(desk)[0][0]))
