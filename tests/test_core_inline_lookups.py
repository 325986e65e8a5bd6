"""The decide path's inlined look-ups give exactly what the plain rules give.

Issue 9 (per-command cost): who takes part (``pending_offer``, ``owner_leg``,
``author_leg``) and which input a message is looked up by walk the legs themselves instead
of calling ``leg_in``; a customer message posted to a record that keeps no earlier message
keeps itself only when it ends with digits, without the walk of ``recent_window``; a draft
is filled by ``copy_into``. Each property compares a shortcut with the rule written plainly.
"""

from __future__ import annotations

from typing import Any

import attrs
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from livechat_core import _events as ev
from livechat_core._conversation import (
    EFFECTS,
    Draft,
    _posted_input,
    author_leg,
    copy_into,
    owner_leg,
    pending_offer,
)
from livechat_core._errors import LivechatError
from livechat_core._machines import OPEN, ConversationState, LegState
from livechat_core._model import Conversation, Leg, LegRole, Message, OfferKind, Role
from livechat_core._pci import recent_window

AGENTS = ["a1", "a2", "x"]


def _leg(agent_id: str, role: LegRole, state: LegState) -> Leg:
    return Leg(
        agent_id=agent_id,
        agent_name=agent_id,
        role=role,
        kind=OfferKind.CHAT,
        queue="support",
        state=state,
        offered_at=0.0,
    )


def _record(**fields: Any) -> Conversation:
    """A conversation ``c1`` in ``support`` with ``fields`` (queued, no legs, by default)."""
    return Conversation(
        id="c1",
        queue="support",
        asset="livechat",
        customer_name="C",
        customer_contact="",
        proactive=False,
        started_at=0.0,
        **fields,
    )


@st.composite
def conversations(draw: st.DrawFn) -> Conversation:
    legs = draw(
        st.lists(
            st.builds(
                _leg,
                st.sampled_from(AGENTS[:2]),
                st.sampled_from(LegRole),
                st.sampled_from(LegState),
            ),
            max_size=4,
        )
    )
    return _record(
        state=draw(st.sampled_from(ConversationState)),
        owner=draw(st.sampled_from([None, *AGENTS])),
        legs=tuple(legs),
    )


def _outcome(call: Any, *args: Any) -> Any:
    """What a look-up returns, or the type, code and message of what it raises."""
    try:
        return ("returned", call(*args))
    except LivechatError as error:
        return ("raised", type(error), error.code, str(error))


# --- the rules, written with leg_in (as they were before the look-ups were inlined) -----


def plain_pending_offer(conversation: Conversation, agent_id: str, command: object) -> Any:
    found = conversation.leg_in(agent_id, LegState.OFFERED)
    if found is None:
        pending_offer(attrs.evolve(conversation, legs=()), agent_id, command)  # its refusal
    return found


def plain_owner_leg(conversation: Conversation, agent_id: str, command: object) -> Any:
    found = conversation.leg_in(agent_id, LegState.ACTIVE)
    if conversation.owner != agent_id or found is None or found[1].role is not LegRole.OWNER:
        if conversation.state not in OPEN:
            return None
        owner_leg(attrs.evolve(conversation, legs=()), agent_id, command)  # its refusal
    return found


def plain_author_leg(conversation: Conversation, agent_id: str, command: object) -> Any:
    found = conversation.leg_in(agent_id, LegState.ACTIVE)
    if found is None:
        if conversation.state not in OPEN:
            return None
        author_leg(attrs.evolve(conversation, legs=()), agent_id, command)  # its refusal
    return found


def plain_posted_input(conversation: Conversation, event: ev.MessagePosted) -> str:
    message = event.message
    if message.role is Role.AGENT:
        found = conversation.leg_in(message.author, LegState.ACTIVE)
        guest = found is not None and found[1].role is LegRole.GUEST
        return "MessagePosted[guest]" if guest else "MessagePosted[owner]"
    return f"MessagePosted[{message.role}]"


@settings(deadline=None, max_examples=300)  # (load-proof: a few ms per example under load)
@given(conversation=conversations(), agent_id=st.sampled_from(AGENTS))
def test_who_takes_part_is_the_plain_rule(conversation: Conversation, agent_id: str) -> None:
    for fast, plain in (
        (pending_offer, plain_pending_offer),
        (owner_leg, plain_owner_leg),
        (author_leg, plain_author_leg),
    ):
        for record in (conversation, copy_into(Draft(), conversation)):
            assert _outcome(fast, record, agent_id, "cmd") == _outcome(
                plain, conversation, agent_id, "cmd"
            )


@settings(deadline=None, max_examples=300)
@given(conversation=conversations(), author=st.sampled_from(AGENTS), role=st.sampled_from(Role))
def test_the_input_of_a_message_is_the_plain_rule(
    conversation: Conversation, author: str, role: Role
) -> None:
    message = Message(id="c1/1", role=role, author=author, text="", at=0.0, initials="")
    event = ev.MessagePosted(aggregate_id="c1", sequence=2, at=0.0, message=message)
    assert _posted_input(conversation, event) == plain_posted_input(conversation, event)


def test_an_owner_whose_oldest_active_leg_is_a_guest_does_not_own() -> None:
    conversation = _record(
        state=ConversationState.ACTIVE,
        owner="a1",
        legs=(
            _leg("a1", LegRole.GUEST, LegState.ACTIVE),
            _leg("a1", LegRole.OWNER, LegState.ACTIVE),
        ),
    )
    assert _outcome(owner_leg, conversation, "a1", None) == _outcome(
        plain_owner_leg, conversation, "a1", None
    )
    assert _outcome(owner_leg, conversation, "a1", None)[0] == "raised"


# --- what a customer message posted to an empty record keeps ------------------------------

texts = st.one_of(
    st.text(alphabet="0123456789 .-+/abc?!\u0663\uff17\u200b\u00a0", max_size=20),
    st.text(max_size=20),
)


@settings(deadline=None, max_examples=300)
@given(text=texts, role=st.sampled_from(Role))
@example(text="4111 1111", role=Role.CUSTOMER)
@example(text="call me.", role=Role.CUSTOMER)
@example(text="", role=Role.CUSTOMER)
def test_a_message_posted_to_an_empty_record_keeps_the_recent_window(text: str, role: Role) -> None:
    record = _record(state=ConversationState.ACTIVE)
    message = Message(id="c1/1", role=role, author="C", text=text, at=0.0, initials="")
    event = ev.MessagePosted(aggregate_id="c1", sequence=1, at=0.0, message=message)
    draft = copy_into(Draft(), record)
    EFFECTS["post"](draft, event, None, -1)
    keep = recent_window((message,))
    assert draft.messages == ((message,) if keep else ())
    assert draft.message_count == 1


@pytest.mark.parametrize("field", [f.name for f in attrs.fields(Conversation)])
def test_copy_into_copies_every_field(field: str) -> None:
    record = _record()
    marker: Any = object()
    changed = attrs.evolve(record, **{field: marker})
    assert getattr(copy_into(Draft(), changed), field) is marker


def test_a_decided_conversation_is_frozen_once_and_paired_with_its_base() -> None:
    from livechat_core import Desk, _core
    from livechat_core import _commands as cmd

    desk = Desk()
    desk.add_queue("support", ["Resolved"])
    desk.login("a0", "Agent 0", ["support"])
    desk.set_available("a0")
    conversation_id = desk.start_chat("support", "Customer", "c@example.com")
    command = cmd.SendCustomerMessage(conversation_id=conversation_id, text="hello")
    with desk.store.transaction() as txn:
        before = txn.conversation(conversation_id)
        assert before is not None
        changes = _core.decide(txn, command, 2e9, _core.Settings())
    ((record, base),) = changes.conversations
    assert type(record) is Conversation
    assert base == before.version
    assert record.version == base + 1
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        record.version = 0  # type: ignore[misc]
