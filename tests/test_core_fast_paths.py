"""The decide path's shortcuts give exactly what the rules they replace give.

Issue 9 (per-command cost): a conversation's draft is the mutable twin of its record and
becomes the record when the command is decided (no second copy); a leg or an agent is
copied by a generated updater of the fields that step changes; an event is applied by one
look-up in a lookup derived from the declared table (next state, effect, rules of the
next state) and one more by its type (input, refinement, concerned leg); the agent whose
leg stepped is updated in place of the plain "replace, then compare routability" rule.
Each property below compares a shortcut with the rule written out plainly.
"""

from __future__ import annotations

import pickle
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livechat_core import _core, _model
from livechat_core import _events as ev
from livechat_core._conversation import (
    _BY_TYPE,
    CONCERNED_LEG,
    CONDITIONS,
    EFFECTS,
    STEPS,
    Draft,
    event_input,
    freeze,
    message_input,
    snapshot,
)
from livechat_core._machines import (
    CONVERSATION_MACHINE,
    AgentState,
    ConversationState,
    LegState,
)
from livechat_core._model import Agent, Conversation, updater

RECORDS: list[type] = [_model.Message, _model.Queue, _model.Agent, _model.Leg, Conversation]

values = st.one_of(
    st.none(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=5),
    st.tuples(st.text(max_size=3)),
    st.booleans(),
)


@st.composite
def records(draw: st.DrawFn, cls: type) -> Any:
    return cls(**{f.name: draw(values) for f in attrs.fields(cls)})


@pytest.mark.parametrize("cls", RECORDS, ids=lambda cls: cls.__name__)
@settings(deadline=None)  # (load-proof: a few ms per example under load)
@given(data=st.data())
def test_an_updater_is_evolve_with_the_same_fields(cls: type, data: st.DataObject) -> None:
    record = data.draw(records(cls))
    names = [f.name for f in attrs.fields(cls)]
    changed = data.draw(st.lists(st.sampled_from(names), unique=True, min_size=1))
    new = [data.draw(values) for _ in changed]
    copy: Any = updater(cls, *changed)(record, *new)
    assert type(copy) is cls
    assert copy == attrs.evolve(record, **dict(zip(changed, new, strict=True)))
    for name, value in zip(changed, new, strict=True):
        assert getattr(copy, name) is value
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        setattr(copy, names[0], None)


def test_an_updater_refuses_unknown_or_repeated_fields() -> None:
    with pytest.raises(TypeError):
        updater(Agent, "no_such")
    with pytest.raises(TypeError):
        updater(Agent, "version", "version")


@settings(deadline=None)  # (load-proof: a few ms per example under load)
@given(data=st.data())
def test_a_frozen_draft_is_the_record_and_its_copy_was_new(data: st.DataObject) -> None:
    record = data.draw(records(Conversation))
    draft = Draft.of(record)
    assert draft is not record
    marker: Any = object()
    draft.version = marker  # a draft changes; the record it was copied from does not
    assert record.version is not marker
    draft.version = record.version
    copy = snapshot(draft)
    assert type(copy) is Conversation
    assert copy is not draft
    assert copy == record
    frozen = freeze(draft)
    assert frozen is draft
    assert type(frozen) is Conversation
    assert frozen == record
    assert hash(frozen) == hash(record)
    assert repr(frozen) == repr(record)
    assert pickle.loads(pickle.dumps(frozen)) == record
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        frozen.version = 0  # type: ignore[misc]
    assert snapshot(frozen) is frozen  # a record is its own snapshot


def test_the_lookup_is_the_declared_table_with_its_code() -> None:
    table = CONVERSATION_MACHINE.step_table()
    assert set(STEPS) == set(table)
    for pair, (dest, effect) in table.items():
        state, code, rules = STEPS[pair]
        assert state is dest
        assert code is EFFECTS[effect]
        expected = tuple(
            (CONDITIONS[input_], input_)
            for (source, input_) in table
            if source == dest and input_ in CONDITIONS
        )
        assert rules == (expected or None)


def _event_of(cls: type[ev.Event], data: st.DataObject) -> ev.Event:
    fields: dict[str, Any] = {}
    for field in attrs.fields(cls):
        if field.name == "message":
            fields["message"] = _model.Message(
                id="c1/1",
                role=data.draw(st.sampled_from(_model.Role)),
                author=data.draw(st.sampled_from(["a1", "a2", "x"])),
                text="hi",
                at=1.0,
                initials="",
            )
        elif field.name in ("agent_id", "by"):
            fields[field.name] = data.draw(st.sampled_from(["a1", "a2", "x"]))
        else:
            fields[field.name] = data.draw(values)
    return cls(**fields)


def _plain_input(conversation: Conversation, event: ev.Event) -> str:
    """The input of an event, written out: its type name, refined by who caused it."""
    if isinstance(event, ev.MessagePosted):
        return message_input(conversation, event.message)
    if isinstance(event, ev.GuestReleased):
        by_owner = event.by == conversation.owner
        return "GuestReleased[by owner]" if by_owner else "GuestReleased[by guest]"
    return type(event).__name__


@pytest.mark.parametrize("cls", list(ev.EVENT_TYPES.values()), ids=lambda cls: cls.__name__)
@settings(deadline=None)  # (load-proof: a few ms per example under load)
@given(data=st.data())
def test_the_input_by_type_is_the_input_of_the_event(
    cls: type[ev.Event], data: st.DataObject
) -> None:
    conversation: Conversation = data.draw(st.sampled_from(_CONVERSATIONS))
    event = _event_of(cls, data)
    expected = _plain_input(conversation, event)
    assert event_input(conversation, event) == expected
    input_, refine, concerned = _BY_TYPE[cls]
    found = input_ if refine is None else refine(conversation, event)
    assert found == expected
    if refine is None:
        assert concerned is CONCERNED_LEG.get(expected)


def _leg(agent_id: str, role: _model.LegRole, state: LegState) -> _model.Leg:
    return _model.Leg(
        agent_id=agent_id,
        agent_name=agent_id,
        role=role,
        kind=_model.OfferKind.CHAT,
        queue="support",
        state=state,
        offered_at=0.0,
    )


_CONVERSATIONS = [
    Conversation(
        id="c1",
        queue="support",
        asset="livechat",
        customer_name="C",
        customer_contact="",
        proactive=False,
        started_at=0.0,
        owner=owner,
        legs=legs,
    )
    for owner, legs in [
        (None, ()),
        ("a1", (_leg("a1", _model.LegRole.OWNER, LegState.ACTIVE),)),
        (
            "a1",
            (
                _leg("a1", _model.LegRole.OWNER, LegState.ACTIVE),
                _leg("a2", _model.LegRole.GUEST, LegState.ACTIVE),
            ),
        ),
    ]
]


# --- the agent whose leg stepped ----------------------------------------------------------


def _without(items: tuple[str, ...], item: str) -> tuple[str, ...]:
    found = list(items)
    if item in found:
        found.remove(item)
    return tuple(found)


def _leg_rule(agent: Agent, effect: str, conversation_id: str, now: float) -> dict[str, Any]:
    """What each leg effect does to the agent, written out plainly."""
    if effect == "hold":
        return {"holding": (*agent.holding, conversation_id), "last_offer_at": now}
    if effect == "release":
        return {"holding": _without(agent.holding, conversation_id)}
    if effect == "start_wrapping":
        return {
            "holding": _without(agent.holding, conversation_id),
            "wrapping": (*agent.wrapping, conversation_id),
        }
    assert effect == "finish_wrapping"
    return {"wrapping": _without(agent.wrapping, conversation_id)}


class _Reader:
    def __init__(self, agent: Agent) -> None:
        self._agent = agent

    def agent(self, agent_id: str) -> Agent | None:
        return self._agent if agent_id == self._agent.id else None


chats = st.lists(st.sampled_from(["c1", "c2", "c3"]), max_size=3).map(tuple)


@settings(deadline=None)  # (load-proof: a few ms per example under load)
@given(
    holding=chats,
    wrapping=chats,
    capacity=st.integers(0, 3),
    state=st.sampled_from(AgentState),
    effect=st.sampled_from(["hold", "release", "start_wrapping", "finish_wrapping"]),
    conversation_id=st.sampled_from(["c1", "c2", "c4"]),
    staged=st.booleans(),
)
def test_a_leg_step_updates_its_agent_as_the_plain_rule_does(
    holding: tuple[str, ...],
    wrapping: tuple[str, ...],
    capacity: int,
    state: AgentState,
    effect: str,
    conversation_id: str,
    staged: bool,
) -> None:
    agent = Agent(
        id="a1",
        name="A",
        queues=("support", "sales"),
        capacity=capacity,
        state=state,
        holding=holding,
        wrapping=wrapping,
        version=4,
    )
    unit = _core.Unit(_Reader(agent), 7.0, _core.Settings())  # type: ignore[arg-type]
    base = agent.version
    if staged:  # an earlier step of the same command staged the agent already
        unit._agents["a1"] = (agent, 3)
        base = 3
    unit._on_leg("a1", conversation_id, effect)
    updated, found_base = unit._agents["a1"]
    assert found_base == base
    expected = attrs.evolve(
        agent, version=base + 1, **_leg_rule(agent, effect, conversation_id, 7.0)
    )
    assert type(updated) is Agent
    assert updated == expected
    freed = expected.routable and expected.free_capacity > agent.free_capacity
    assert unit.touched_queues == ({"support", "sales"} if freed else set())


# --- the queued conversations a command sees ---------------------------------------------


class _Queues:
    """A reader of committed queues: the queued conversations of each, oldest first."""

    def __init__(self, committed: list[Conversation]) -> None:
        self._committed = committed

    def queued(self, queues: Any, limit: int) -> list[Conversation]:
        found = [c for c in self._committed if c.queue in queues]
        found.sort(key=lambda c: (c.started_at, c.id))
        return found[:limit]


def _queued(id_: str, queue: str, started_at: float) -> Conversation:
    return Conversation(
        id=id_,
        queue=queue,
        asset="livechat",
        customer_name="C",
        customer_contact="",
        proactive=False,
        started_at=started_at,
    )


@settings(deadline=None)  # (load-proof: a few ms per example under load)
@given(
    committed=st.lists(
        st.tuples(st.sampled_from(["s", "t"]), st.sampled_from([1.0, 2.0, 3.0])), max_size=6
    ),
    changed=st.lists(
        st.tuples(st.integers(0, 8), st.sampled_from(["queued", "offered"]), st.booleans()),
        max_size=4,
    ),
    queues=st.sampled_from([("s",), ("t",), ("s", "t")]),
    limit=st.integers(0, 4),
)
def test_queued_is_the_committed_queue_with_the_staged_changes(
    committed: list[tuple[str, float]],
    changed: list[tuple[int, str, bool]],
    queues: tuple[str, ...],
    limit: int,
) -> None:
    records = [_queued(f"c{i}", q, at) for i, (q, at) in enumerate(committed)]
    unit = _core.Unit(_Queues(records), 9.0, _core.Settings())  # type: ignore[arg-type]
    for index, state, moved in changed:  # a command changed some, queued or not
        if index < len(records):
            draft = Draft.of(records[index])
            if draft.id in unit._drafts:
                continue
            unit._drafts[draft.id] = (draft, draft.version)
            unit._queued_drafts += 1
        else:
            draft = Draft.of(_queued(f"n{index}", "s", 2.5))
            unit._drafts[draft.id] = (draft, 0)
        draft.state = ConversationState(state)
        if moved:
            draft.queue = "t" if draft.queue == "s" else "s"
    staged = {id_: draft for id_, (draft, _) in unit._drafts.items()}
    expected = [c for c in records if c.queue in queues and c.id not in staged]
    expected += [d for d in staged.values() if d.state == "queued" and d.queue in queues]
    expected.sort(key=lambda c: (c.started_at, c.id))
    found = unit.queued(queues, limit)
    assert [c.id for c in found] == [c.id for c in expected[:limit]]
    for conversation in found:  # a changed one as this command left it
        assert conversation is staged.get(conversation.id, conversation)


@pytest.mark.parametrize("conversation", _CONVERSATIONS, ids=["unheld", "owned", "conference"])
@pytest.mark.parametrize("author", ["a1", "a2", "x"])
def test_the_input_of_every_author_is_the_plain_one(
    conversation: Conversation, author: str
) -> None:
    for role in _model.Role:
        message = _model.Message(id="c1/1", role=role, author=author, text="", at=0.0, initials="")
        event: ev.Event = ev.MessagePosted(aggregate_id="c1", sequence=2, at=0.0, message=message)
        _, refine, _ = _BY_TYPE[ev.MessagePosted]
        assert refine is not None
        assert refine(conversation, event) == _plain_input(conversation, event)
    event = ev.GuestReleased(
        aggregate_id="c1", sequence=2, at=0.0, agent_id="a2", by=author, wrap_up_deadline=None
    )
    _, refine, _ = _BY_TYPE[ev.GuestReleased]
    assert refine is not None
    assert refine(conversation, event) == _plain_input(conversation, event)


@settings(deadline=None)  # (load-proof: a few ms per example under load)
@given(
    legs=st.lists(st.tuples(st.sampled_from(["a1", "a2"]), st.sampled_from(LegState)), max_size=4),
    agent_id=st.sampled_from(["a1", "a2", "x"]),
    state=st.sampled_from(LegState),
)
def test_leg_in_is_leg_of_one_state(
    legs: list[tuple[str, LegState]], agent_id: str, state: LegState
) -> None:
    conversation = attrs.evolve(
        _CONVERSATIONS[0],
        legs=tuple(_leg(agent, _model.LegRole.OWNER, leg_state) for agent, leg_state in legs),
    )
    assert conversation.leg_in(agent_id, state) == conversation.leg_of(agent_id, state)
    assert Draft.of(conversation).leg_in(agent_id, state) == conversation.leg_of(agent_id, state)
