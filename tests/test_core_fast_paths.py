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
from hypothesis import given
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
    snapshot,
)
from livechat_core._machines import CONVERSATION_MACHINE, AgentState, LegState
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
        frozen.version = 0
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


@pytest.mark.parametrize("cls", list(ev.EVENT_TYPES.values()), ids=lambda cls: cls.__name__)
@given(data=st.data())
def test_the_input_by_type_is_the_input_of_the_event(
    cls: type[ev.Event], data: st.DataObject
) -> None:
    conversation: Conversation = data.draw(st.sampled_from(_CONVERSATIONS))
    event = _event_of(cls, data)
    expected = event_input(conversation, event)
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
