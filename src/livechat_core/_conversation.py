"""How a conversation evolves: one pure function from (conversation, event) to conversation.

The desk decides *which* events a command produces (``_core.py``); this module is the
only place that says what each event *does*. Every transition goes through the
declared tables (``_machines.py``), so an event the table does not allow raises before
anything is staged. Replaying a conversation's events from nothing with :func:`apply`
therefore rebuilds it exactly: it is how the desk builds it in the first place.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from . import _events as ev
from ._errors import ConversationStateError, InvalidArgument
from ._machines import CONVERSATION_MACHINE, LEG_MACHINE, ConversationState, LegState
from ._model import Conversation, DisconnectReason, Leg, LegRole, OfferKind, Outcome, replace

_C = ConversationState
_L = LegState


def _leg_step(leg: Leg, trigger: str, conversation_id: str, **changes: object) -> Leg:
    state = LEG_MACHINE.next_state(leg.state, trigger, aggregate_id=conversation_id)
    return replace(leg, state=state, **changes)


def _step(conversation: Conversation, trigger: str) -> ConversationState:
    return CONVERSATION_MACHINE.next_state(
        conversation.state, trigger, aggregate_id=conversation.id
    )


def _replace_leg(legs: tuple[Leg, ...], index: int, leg: Leg) -> tuple[Leg, ...]:
    return (*legs[:index], leg, *legs[index + 1 :])


def _pending_leg(conversation: Conversation, agent_id: str) -> tuple[int, Leg]:
    found = conversation.leg_of(agent_id, _L.OFFERED)
    if found is None:
        raise InvalidArgument(f"no pending offer for {agent_id} in {conversation.id}")
    return found


def _wrap_legs(
    conversation: Conversation, at: float, wrap_up_deadline: float | None, *, wrap_active: bool
) -> tuple[Leg, ...]:
    """Pending offers are rescinded; with ``wrap_active``, active legs start wrapping up."""
    legs = list(conversation.legs)
    for i, leg in enumerate(legs):
        if leg.state is _L.ACTIVE and wrap_active:
            legs[i] = _leg_step(
                leg, "wrap_up", conversation.id, ended_at=at, deadline=wrap_up_deadline
            )
        elif leg.state is _L.OFFERED:
            legs[i] = _leg_step(leg, "rescind", conversation.id, ended_at=at, deadline=None)
    return tuple(legs)


def _settle(conversation: Conversation, at: float) -> Conversation:
    """After the customer left or the asset went away while nobody held the chat."""
    wrapping = any(leg.state is _L.WRAPPING_UP for leg in conversation.legs)
    if wrapping:
        return replace(conversation, state=_step(conversation, "wrap_up"), ended_at=at)
    return replace(
        conversation,
        state=_step(conversation, "close"),
        ended_at=at,
        closed_at=at,
        outcome=conversation.cause,
    )


def _requeue_or_cancel(conversation: Conversation, leg: Leg) -> ConversationState:
    if leg.kind is OfferKind.CONFERENCE:
        return _step(conversation, "cancel_conference")
    return _step(conversation, "requeue")


def _offer_refused(
    trigger: str,
) -> Callable[[Conversation, ev.Event], Conversation]:
    """Declined, timed out or rescinded: the leg ends and the chat goes back where it was."""

    def handle(conversation: Conversation, event: ev.Event) -> Conversation:
        agent_id: str = getattr(event, "agent_id")  # noqa: B009 - shared by three event types
        index, leg = _pending_leg(conversation, agent_id)
        legs = _replace_leg(
            conversation.legs,
            index,
            _leg_step(leg, trigger, conversation.id, ended_at=event.at, deadline=None),
        )
        state = _requeue_or_cancel(conversation, leg)
        owner = conversation.owner
        declined_by = conversation.declined_by
        handed_off_by = conversation.handed_off_by
        if leg.kind is OfferKind.TRANSFER and owner is not None:
            # back in its queue: the queue owns it now, and the agent who handed it off is
            # skipped while somebody else can take it (as after a transfer to a queue)
            handed_off_by = owner
            owner = None
        if trigger == "decline" and leg.kind is not OfferKind.CONFERENCE:
            declined_by = declined_by | {agent_id}
        return replace(
            conversation,
            state=state,
            legs=legs,
            owner=owner,
            declined_by=declined_by,
            handed_off_by=handed_off_by,
        )

    return handle


def _started(conversation: Conversation | None, event: ev.ChatStarted) -> Conversation:
    if conversation is not None:
        raise InvalidArgument(f"conversation {event.aggregate_id} already started")
    return Conversation(
        id=event.aggregate_id,
        queue=event.queue,
        asset=event.asset,
        customer_name=event.customer_name,
        customer_contact=event.customer_contact,
        proactive=event.proactive,
        started_at=event.at,
    )


def _message(conversation: Conversation, event: ev.MessagePosted) -> Conversation:
    return replace(conversation, messages=(*conversation.messages, event.message))


def _redacted(conversation: Conversation, event: ev.MessagesRedacted) -> Conversation:
    texts = dict(event.redactions)
    messages = tuple(
        replace(m, text=texts[m.id]) if m.id in texts else m for m in conversation.messages
    )
    return replace(conversation, messages=messages)


def _new_offer(
    conversation: Conversation,
    event: ev.Event,
    agent_id: str,
    agent_name: str,
    role: LegRole,
    kind: OfferKind,
    deadline: float,
) -> tuple[Leg, ...]:
    """The legs with a new offered one at the end (in the conversation's current queue)."""
    leg = Leg(
        agent_id=agent_id,
        agent_name=agent_name,
        role=role,
        kind=kind,
        queue=conversation.queue,
        state=_L.OFFERED,
        offered_at=event.at,
        deadline=deadline,
    )
    return (*conversation.legs, leg)


def _wrap_active_leg(
    conversation: Conversation,
    agent_id: str,
    role: LegRole,
    at: float,
    wrap_up_deadline: float | None,
) -> tuple[Leg, ...]:
    """The legs with the agent's active leg of ``role`` wrapping up."""
    found = conversation.leg_of(agent_id, _L.ACTIVE)
    if found is None or found[1].role is not role:
        raise InvalidArgument(f"{agent_id} holds no active {role} leg in {conversation.id}")
    index, leg = found
    wrapped = _leg_step(leg, "wrap_up", conversation.id, ended_at=at, deadline=wrap_up_deadline)
    return _replace_leg(conversation.legs, index, wrapped)


def _offered(conversation: Conversation, event: ev.ChatOffered) -> Conversation:
    legs = _new_offer(
        conversation,
        event,
        event.agent_id,
        event.agent_name,
        LegRole.OWNER,
        OfferKind.CHAT,
        event.deadline,
    )
    return replace(conversation, state=_step(conversation, "offer"), legs=legs)


def _transfer_requested(conversation: Conversation, event: ev.TransferRequested) -> Conversation:
    state = _step(conversation, "transfer_to_agent")
    wrapped = _wrap_active_leg(
        conversation, event.agent_id, LegRole.OWNER, event.at, event.wrap_up_deadline
    )
    legs = _new_offer(
        replace(conversation, legs=wrapped),
        event,
        event.target_agent_id,
        event.target_agent_name,
        LegRole.OWNER,
        OfferKind.TRANSFER,
        event.deadline,
    )
    return replace(conversation, state=state, legs=legs)


def _conference_requested(
    conversation: Conversation, event: ev.ConferenceRequested
) -> Conversation:
    legs = _new_offer(
        conversation,
        event,
        event.guest_agent_id,
        event.guest_agent_name,
        LegRole.GUEST,
        OfferKind.CONFERENCE,
        event.deadline,
    )
    return replace(conversation, state=_step(conversation, "request_conference"), legs=legs)


def _accepted(conversation: Conversation, event: ev.OfferAccepted) -> Conversation:
    index, leg = _pending_leg(conversation, event.agent_id)
    state = _step(conversation, "accept")
    legs = _replace_leg(
        conversation.legs,
        index,
        _leg_step(leg, "accept", conversation.id, accepted_at=event.at, deadline=None),
    )
    if leg.role is LegRole.GUEST:
        return replace(conversation, state=state, legs=legs)
    return replace(
        conversation,
        state=state,
        legs=legs,
        owner=event.agent_id,
        accepted_at=event.at,
        first_accepted_at=conversation.first_accepted_at or event.at,
        declined_by=frozenset(),
    )


def _transferred_to_queue(conversation: Conversation, event: ev.TransferredToQueue) -> Conversation:
    state = _step(conversation, "transfer_to_queue")
    legs = _wrap_active_leg(
        conversation, event.agent_id, LegRole.OWNER, event.at, event.wrap_up_deadline
    )
    return replace(
        conversation,
        state=state,
        legs=legs,
        queue=event.queue,
        owner=None,
        accepted_at=None,
        declined_by=frozenset(),
        handed_off_by=event.agent_id,  # skipped while somebody else can take it
    )


def _guest_released(conversation: Conversation, event: ev.GuestReleased) -> Conversation:
    state = _step(conversation, "release_guest")
    legs = _wrap_active_leg(
        conversation, event.agent_id, LegRole.GUEST, event.at, event.wrap_up_deadline
    )
    return replace(conversation, state=state, legs=legs)


def _customer_ended(conversation: Conversation, event: ev.CustomerEnded) -> Conversation:
    cause = conversation.cause or (
        Outcome.CUSTOMER_ENDED if conversation.first_accepted_at is not None else Outcome.ABANDONED
    )
    return _leave(conversation, event.at, cause, DisconnectReason.CUSTOMER_ENDED)


def _interrupted(conversation: Conversation, event: ev.ChatInterrupted) -> Conversation:
    cause = conversation.cause or Outcome.INTERRUPTED
    return _leave(conversation, event.at, cause, DisconnectReason.ASSET_DELETED)


def _leave(
    conversation: Conversation, at: float, cause: Outcome, reason: DisconnectReason
) -> Conversation:
    legs = _wrap_legs(conversation, at, None, wrap_active=False)
    if conversation.state in (_C.ACTIVE, _C.CONFERENCE_REQUESTED, _C.CONFERENCING):
        return replace(
            conversation,
            state=_step(conversation, "disconnect"),
            legs=legs,
            cause=cause,
            disconnect_reason=reason,
        )
    return _settle(replace(conversation, legs=legs, cause=cause), at)


def _ended(conversation: Conversation, event: ev.ChatEnded) -> Conversation:
    state = _step(conversation, "end")
    legs = _wrap_legs(conversation, event.at, event.wrap_up_deadline, wrap_active=True)
    return replace(conversation, state=state, legs=legs, ended_at=event.at)


def _wrapped_up(conversation: Conversation, event: ev.WrapUpSubmitted) -> Conversation:
    found = conversation.leg_of(event.agent_id, _L.WRAPPING_UP)
    if found is None:
        raise InvalidArgument(f"{event.agent_id} has nothing to wrap up in {conversation.id}")
    index, leg = found
    done = _leg_step(
        leg,
        "submit_wrap_up",
        conversation.id,
        deadline=None,
        wrap_up_reason=event.reason,
        wrap_up_notes=event.notes,
        wrapped_up_at=event.at,
        wrapped_up_automatically=event.automatic,
    )
    conversation = replace(conversation, legs=_replace_leg(conversation.legs, index, done))
    still_wrapping = any(leg.state is _L.WRAPPING_UP for leg in conversation.legs)
    if conversation.state is _C.WRAP_UP and not still_wrapping:
        return replace(
            conversation,
            state=_step(conversation, "close"),
            closed_at=event.at,
            outcome=conversation.cause or Outcome.COMPLETED,
        )
    return conversation


_HANDLERS: dict[type[ev.Event], Callable[[Conversation, ev.Event], Conversation]] = {
    ev.MessagePosted: _message,  # type: ignore[dict-item]
    ev.MessagesRedacted: _redacted,  # type: ignore[dict-item]
    ev.ChatOffered: _offered,  # type: ignore[dict-item]
    ev.TransferRequested: _transfer_requested,  # type: ignore[dict-item]
    ev.ConferenceRequested: _conference_requested,  # type: ignore[dict-item]
    ev.OfferAccepted: _accepted,  # type: ignore[dict-item]
    ev.OfferDeclined: _offer_refused("decline"),
    ev.OfferTimedOut: _offer_refused("expire"),
    ev.OfferRescinded: _offer_refused("rescind"),
    ev.TransferredToQueue: _transferred_to_queue,  # type: ignore[dict-item]
    ev.GuestReleased: _guest_released,  # type: ignore[dict-item]
    ev.CustomerEnded: _customer_ended,  # type: ignore[dict-item]
    ev.ChatInterrupted: _interrupted,  # type: ignore[dict-item]
    ev.ChatEnded: _ended,  # type: ignore[dict-item]
    ev.WrapUpSubmitted: _wrapped_up,  # type: ignore[dict-item]
}


def apply(conversation: Conversation | None, event: ev.Event) -> Conversation:
    """The conversation after ``event``; raises if the event does not fit its state."""
    expected = 1 if conversation is None else conversation.version + 1
    if event.sequence != expected:
        raise InvalidArgument(f"event {event.id} out of sequence (expected {expected})")
    if isinstance(event, ev.ChatStarted):
        result = _started(conversation, event)
    else:
        if conversation is None:
            raise InvalidArgument(f"event {event.id} before the conversation started")
        if conversation.state is _C.CLOSED:
            raise ConversationStateError(
                f"conversation {conversation.id} is closed",
                machine="conversation",
                trigger=event.type,
                state=conversation.state,
                aggregate_id=conversation.id,
            )
        handler = _HANDLERS.get(type(event))
        if handler is None:
            raise InvalidArgument(f"{event.type} is not a conversation event")
        result = handler(conversation, event)
    # Every handler builds a new record that nobody else holds yet, so stamping its
    # version in place keeps it frozen for everyone who will ever see it (and saves a copy).
    assert result is not conversation
    object.__setattr__(result, "version", event.sequence)
    return result


def replay(events: Iterable[ev.Event]) -> Conversation | None:
    """Rebuild a conversation from its events, oldest first."""
    conversation: Conversation | None = None
    for event in events:
        conversation = apply(conversation, event)
    return conversation
