"""How a conversation evolves: each event is looked up in the conversation table and its
effect applied. Pure.

The desk decides *which* events a command produces (``_core.py``); the table in
``_machines.py`` decides whether an event is allowed and where it leads; this module
holds what each effect named there *does*. :func:`apply` is the only way a conversation
changes, both when the desk decides and when :func:`replay` rebuilds one from its
events, so replaying a conversation's events from nothing rebuilds it exactly.

A command changes a :class:`Draft`, a mutable working copy of one conversation, with
every event it emits, and freezes it into a :class:`~livechat_core.Conversation` once,
when the command is decided. Leg steps go through the leg table too; each one tells the
agent it concerns how their holdings change (``on_leg``), so the desk updates exactly the
agents whose legs moved.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, ClassVar, Final, Protocol

from . import _events as ev
from ._errors import (
    ConversationStateError,
    InvalidArgument,
    MachineDefinitionError,
    NoPendingOffer,
    NotOwner,
    NotParticipant,
)
from ._inputs import check_items
from ._machines import (
    ALL_WRAPPED_UP,
    CONVERSATION_MACHINE,
    LEG_MACHINE,
    OPEN,
    ConversationState,
    LegState,
)
from ._masking import number_tail_start
from ._model import (
    Conversation,
    DisconnectReason,
    Leg,
    LegRole,
    Message,
    OfferKind,
    Outcome,
    Role,
    builder,
    copier_from,
    replace,
    updater,
)
from ._pci import recent_window

_C = ConversationState
_L = LegState
# enum members the hot path compares with, as module constants (a class attribute
# look-up per use costs more than a global's)
_DISCONNECT_ASSET_DELETED: Final = DisconnectReason.ASSET_DELETED
_DISCONNECT_CUSTOMER_ENDED: Final = DisconnectReason.CUSTOMER_ENDED
_KIND_CHAT: Final = OfferKind.CHAT
_KIND_CONFERENCE: Final = OfferKind.CONFERENCE
_KIND_TRANSFER: Final = OfferKind.TRANSFER
_LEGROLE_GUEST: Final = LegRole.GUEST
_LEGROLE_OWNER: Final = LegRole.OWNER
_LEG_ACTIVE: Final = LegState.ACTIVE
_LEG_OFFERED: Final = LegState.OFFERED
_LEG_WRAPPING_UP: Final = LegState.WRAPPING_UP
_OUTCOME_ABANDONED: Final = Outcome.ABANDONED
_OUTCOME_COMPLETED: Final = Outcome.COMPLETED
_OUTCOME_CUSTOMER_ENDED: Final = Outcome.CUSTOMER_ENDED
_OUTCOME_INTERRUPTED: Final = Outcome.INTERRUPTED
_ROLE_AGENT: Final = Role.AGENT
_ROLE_CUSTOMER: Final = Role.CUSTOMER
_NOBODY: Final[frozenset[str]] = frozenset()  # one shared empty set: nothing more to track


class LegHook(Protocol):
    """Told about every leg step: ``effect`` is the leg table's effect on the agent
    (``hold`` for a new offer, ``release``, ``start_wrapping``, ``finish_wrapping``)."""

    def __call__(self, agent_id: str, conversation_id: str, effect: str) -> None:
        """Update the agent's holdings."""


class Draft(Conversation):
    """A conversation while one command (or a replay) changes it; see :func:`freeze`.

    The mutable twin of :class:`~livechat_core.Conversation`: the same slots (it adds
    none), set the ordinary way, so a decision reads it as it reads the record and
    :func:`freeze` makes it the record without copying it. Only :func:`of` (or
    :func:`copy_into` of a new ``Draft()``, its form without the class method) and
    :func:`started` make one, always a new object: a stored record is never changed.
    """

    __slots__ = ()
    __setattr__ = object.__setattr__
    __delattr__ = object.__delattr__
    # ``Draft()`` is an empty draft (object's __new__ and __init__, in C: cheaper than
    # ``object.__new__(Draft)``); only :meth:`of` (copy_into) and :func:`started` fill one
    __init__ = object.__init__

    id: str
    queue: str
    asset: str
    customer_name: str
    customer_contact: str
    proactive: bool
    started_at: float
    state: ConversationState
    owner: str | None
    accepted_at: float | None
    first_accepted_at: float | None
    legs: tuple[Leg, ...]
    messages: tuple[Message, ...]
    message_count: int
    declined_by: frozenset[str]
    handed_off_by: str | None
    cause: Outcome | None
    disconnect_reason: DisconnectReason | None
    outcome: Outcome | None
    ended_at: float | None
    closed_at: float | None
    last_event_at: float | None
    version: int
    # False while a command decides: only the messages masking at rest may look back over
    # are kept (the store has the transcript); True in replay and apply, which rebuild it.
    whole_transcript: ClassVar[bool] = False

    @classmethod
    def of(cls, record: Conversation) -> Draft:
        """A working copy of a stored conversation."""
        return copy_into(cls(), record)


def copy_into(draft: Draft, record: Conversation) -> Draft:
    """``draft`` (new and empty) filled with every field of ``record``: :meth:`Draft.of`,
    without the class method's binding (the desk's call is ``copy_into(Draft(), record)``)."""
    draft.id = record.id
    draft.queue = record.queue
    draft.asset = record.asset
    draft.customer_name = record.customer_name
    draft.customer_contact = record.customer_contact
    draft.proactive = record.proactive
    draft.started_at = record.started_at
    draft.state = record.state
    draft.owner = record.owner
    draft.accepted_at = record.accepted_at
    draft.first_accepted_at = record.first_accepted_at
    draft.legs = record.legs
    draft.messages = record.messages
    draft.message_count = record.message_count
    draft.declined_by = record.declined_by
    draft.handed_off_by = record.handed_off_by
    draft.cause = record.cause
    draft.disconnect_reason = record.disconnect_reason
    draft.outcome = record.outcome
    draft.ended_at = record.ended_at
    draft.closed_at = record.closed_at
    draft.last_event_at = record.last_event_at
    draft.version = record.version
    return draft


class _Rebuilding(Draft):
    """A draft that keeps the whole transcript: in :func:`replay` and :func:`apply`."""

    __slots__ = ()
    whole_transcript: ClassVar[bool] = True


_SNAPSHOT: Final = copier_from(Conversation)
_LEG: Final = builder(Leg)


def freeze(draft: Draft) -> Conversation:
    """The record of a draft, once the command (or replay) that changed it is done: the
    draft itself becomes the frozen record (the same slots), with no copy; nothing may
    change it after that."""
    draft.__class__ = Conversation  # type: ignore[assignment]
    return draft


def snapshot(draft: Readable) -> Conversation:
    """A frozen copy of a conversation as a command left it so far (the draft goes on)."""
    return draft if type(draft) is Conversation else _SNAPSHOT(draft)


def started(event: ev.ChatStarted, draft_class: type[Draft] | None = None) -> Draft:
    """The draft of a new conversation: ``queued``, the machine's initial state."""
    draft: Draft = (Draft if draft_class is None else draft_class)()
    draft.id = event.aggregate_id
    draft.queue = event.queue
    draft.asset = event.asset
    draft.customer_name = event.customer_name
    draft.customer_contact = event.customer_contact
    draft.proactive = event.proactive
    draft.started_at = event.at
    draft.state = _QUEUED
    draft.owner = None
    draft.accepted_at = None
    draft.first_accepted_at = None
    draft.legs = ()
    draft.messages = ()
    draft.message_count = 0
    draft.declined_by = _NOBODY
    draft.handed_off_by = None
    draft.cause = None
    draft.disconnect_reason = None
    draft.outcome = None
    draft.ended_at = None
    draft.closed_at = None
    draft.last_event_at = event.at
    draft.version = event.sequence
    return draft


_QUEUED: Final = CONVERSATION_MACHINE.initial


# --- who takes part: one check each, shared by the decisions and the effects ------------

Readable = Conversation | Draft


def pending_offer(
    conversation: Readable, agent_id: str, command: object | None = None
) -> tuple[int, Leg]:
    """The agent's offered leg, or :class:`NoPendingOffer`."""
    index = 0
    for leg in conversation.legs:  # (leg_in, inline: one call fewer on the decide path)
        if leg.state is _LEG_OFFERED and leg.agent_id == agent_id:
            return index, leg
        index += 1  # noqa: SIM113 (no enumerate object and index tuple per leg)
    raise NoPendingOffer(
        f"{agent_id} has no pending offer for conversation {conversation.id}",
        aggregate_id=conversation.id,
        state=conversation.state,
        command=command,
    )


def owner_leg(
    conversation: Readable, agent_id: str, command: object | None = None
) -> tuple[int, Leg] | None:
    """The agent's active owner leg, or :class:`NotOwner`; ``None`` once the conversation
    is closed, so that the table's refusal (naming the state) explains it instead."""
    index = 0
    for leg in conversation.legs:  # (leg_in, inline: one call fewer on the decide path)
        if leg.state is _LEG_ACTIVE and leg.agent_id == agent_id:
            if leg.role is _LEGROLE_OWNER and conversation.owner == agent_id:
                return index, leg
            break  # (the agent's oldest active leg is not the owner's)
        index += 1  # noqa: SIM113 (no enumerate object and index tuple per leg)
    if conversation.state not in OPEN:
        return None
    raise NotOwner(
        f"{agent_id} does not own conversation {conversation.id}",
        aggregate_id=conversation.id,
        state=conversation.state,
        command=command,
        agent_id=agent_id,
    )


def author_leg(
    conversation: Readable, agent_id: str, command: object | None = None
) -> tuple[int, Leg] | None:
    """The agent's active leg (owner or guest), or :class:`NotParticipant`; ``None`` once
    the conversation is closed (the table refuses it)."""
    index = 0
    for leg in conversation.legs:  # (leg_in, inline: one call fewer on the decide path)
        if leg.state is _LEG_ACTIVE and leg.agent_id == agent_id:
            return index, leg
        index += 1  # noqa: SIM113 (no enumerate object and index tuple per leg)
    if conversation.state not in OPEN:
        return None
    raise NotParticipant(
        f"{agent_id} takes no active part in conversation {conversation.id}",
        aggregate_id=conversation.id,
        state=conversation.state,
        command=command,
    )


def wrapping_leg(
    conversation: Readable, agent_id: str, command: object | None = None
) -> tuple[int, Leg]:
    """The agent's oldest leg wrapping up, or the refusal that explains why there is none."""
    found = conversation.leg_in(agent_id, _LEG_WRAPPING_UP)
    if found is not None:
        return found
    if conversation.leg_in(agent_id, _LEG_ACTIVE) is not None:
        raise ConversationStateError(
            f"{agent_id} must end conversation {conversation.id} before wrapping up",
            machine="leg",
            trigger="WrapUpSubmitted",
            state=conversation.state,
            aggregate_id=conversation.id,
            command=command,
        )
    raise NotParticipant(
        f"{agent_id} has nothing to wrap up in conversation {conversation.id}",
        aggregate_id=conversation.id,
        state=conversation.state,
        command=command,
    )


def message_input(conversation: Readable, message: Message) -> str:
    """The table input of a message: who wrote it decides where it is allowed."""
    if message.role is _ROLE_AGENT:
        found = conversation.leg_in(message.author, _LEG_ACTIVE)
        guest = found is not None and found[1].role is _LEGROLE_GUEST
        return "MessagePosted[guest]" if guest else "MessagePosted[owner]"
    return _MESSAGE_INPUTS[message.role]


_MESSAGE_INPUTS: Final = {role: f"MessagePosted[{role}]" for role in Role}
_AGENT: Final = _ROLE_AGENT


def _posted_input(conversation: Readable, event: ev.MessagePosted) -> str:
    """:func:`message_input` of the event's message, inline (one call per message)."""
    message = event.message
    role = message.role
    if role is _AGENT:
        author = message.author
        for leg in conversation.legs:  # (leg_in, inline)
            if leg.state is _LEG_ACTIVE and leg.agent_id == author:
                return "MessagePosted[guest]" if leg.role is _GUEST else "MessagePosted[owner]"
        return "MessagePosted[owner]"
    return _MESSAGE_INPUTS[role]


_GUEST: Final = _LEGROLE_GUEST


def _released_input(conversation: Readable, event: ev.GuestReleased) -> str:
    by_owner = event.by == conversation.owner
    return "GuestReleased[by owner]" if by_owner else "GuestReleased[by guest]"


# The events whose input is refined by who caused them; every other event's input is its
# type name.
_REFINED: Final[dict[type[ev.Event], Callable[[Readable, Any], str]]] = {
    ev.MessagePosted: _posted_input,
    ev.GuestReleased: _released_input,
}


def event_input(conversation: Readable, event: ev.Event) -> str:
    """The table input an event is looked up by (see ``_machines.py``)."""
    refine = _REFINED.get(type(event))
    return type(event).__name__ if refine is None else refine(conversation, event)


# --- leg steps ------------------------------------------------------------------------------

# (state, input) -> (next state, effect on the agent): the leg table's one lookup
_LEG_STEPS: Final = LEG_MACHINE.step_table()

# The changes a leg step makes besides its state and deadline, one copier each.
_LEG_ACCEPTED: Final = updater(Leg, "state", "deadline", "accepted_at")
_LEG_ENDED: Final = updater(Leg, "state", "deadline", "ended_at")
_LEG_WRAPPED_UP: Final = updater(
    Leg,
    "state",
    "deadline",
    "wrap_up_reason",
    "wrap_up_notes",
    "wrapped_up_at",
    "wrapped_up_automatically",
)


def _leg_step(
    draft: Draft, index: int, input_: str, on_leg: LegHook | None
) -> tuple[Leg, LegState]:
    """The leg table's lookup for one leg of the draft, and its effect on the agent
    (``on_leg``); the caller stores the leg at its next state with :func:`_put_leg`."""
    leg = draft.legs[index]
    found = _LEG_STEPS.get((leg.state, input_))
    if found is None:
        raise LEG_MACHINE.refusal(leg.state, input_, aggregate_id=draft.id)
    state, effect = found
    if on_leg is not None and effect != "keep":
        on_leg(leg.agent_id, draft.id, effect)
    return leg, state


def _put_leg(draft: Draft, index: int, updated: Leg) -> None:
    legs = draft.legs
    draft.legs = (updated,) if len(legs) == 1 else (*legs[:index], updated, *legs[index + 1 :])


def _end_leg(
    draft: Draft,
    index: int,
    input_: str,
    on_leg: LegHook | None,
    at: float,
    wrap_up_deadline: float | None = None,
) -> None:
    """Step one leg that ends (an offer ends, or an active leg starts wrapping up). Its
    deadline follows from where it lands: the wrap-up deadline while wrapping up, none
    otherwise (only a new offer has one)."""
    leg, state = _leg_step(draft, index, input_, on_leg)
    deadline = wrap_up_deadline if state is _LEG_WRAPPING_UP else None
    _put_leg(draft, index, _LEG_ENDED(leg, state, deadline, at))


def _add_offer(
    draft: Draft,
    event: ev.Event,
    on_leg: LegHook | None,
    *,
    agent_id: str,
    agent_name: str,
    role: LegRole,
    kind: OfferKind,
    deadline: float,
) -> None:
    """A new leg, born offered, in the conversation's current queue."""
    leg = _LEG(
        agent_id=agent_id,
        agent_name=agent_name,
        role=role,
        kind=kind,
        queue=draft.queue,
        state=_BORN,
        offered_at=event.at,
        deadline=deadline,
    )
    legs = draft.legs
    draft.legs = (*legs, leg) if legs else (leg,)
    if on_leg is not None:
        on_leg(agent_id, draft.id, "hold")


_BORN: Final = LEG_MACHINE.initial


def _wrap_active(
    draft: Draft,
    event: ev.Event,
    on_leg: LegHook | None,
    agent_id: str,
    role: LegRole,
    wrap_up_deadline: float | None,
) -> None:
    """The agent's active leg of ``role`` starts wrapping up."""
    found = draft.leg_in(agent_id, _LEG_ACTIVE)
    if found is None or found[1].role is not role:
        raise InvalidArgument(f"{agent_id} holds no active {role} leg in {draft.id}")
    _end_leg(draft, found[0], type(event).__name__, on_leg, event.at, wrap_up_deadline)


def _end_legs(
    draft: Draft, event: ev.Event, on_leg: LegHook | None, wrap_up_deadline: float | None
) -> None:
    """Every leg the event concerns steps: the leg table has a row for it from its state
    (offers are rescinded; with ``ChatEnded``, active legs start wrapping up too)."""
    input_ = type(event).__name__
    at = event.at
    legs = draft.legs
    stepped = list(legs)
    index = -1
    for leg in legs:
        index += 1  # (no enumerate object and index tuple per leg)
        found = _LEG_STEPS.get((leg.state, input_))
        if found is not None:  # the table's lookup: this leg steps
            state, effect = found
            if on_leg is not None and effect != "keep":
                on_leg(leg.agent_id, draft.id, effect)
            deadline = wrap_up_deadline if state is _LEG_WRAPPING_UP else None
            stepped[index] = _LEG_ENDED(leg, state, deadline, at)
    draft.legs = tuple(stepped)


# --- the effects named in the conversation table -----------------------------------------

Effect = Callable[[Draft, Any, "LegHook | None", int], None]
"""An effect: ``(draft, event, on_leg, leg)``; ``leg`` is the index of the leg the event
concerns when its input names one (:data:`CONCERNED_LEG`), else -1."""


def _offer_chat(draft: Draft, event: ev.ChatOffered, on_leg: LegHook | None, leg: int) -> None:
    _add_offer(
        draft,
        event,
        on_leg,
        agent_id=event.agent_id,
        agent_name=event.agent_name,
        role=_LEGROLE_OWNER,
        kind=_KIND_CHAT,
        deadline=event.deadline,
    )


def _offer_transfer(
    draft: Draft, event: ev.TransferRequested, on_leg: LegHook | None, leg: int
) -> None:
    _wrap_active(draft, event, on_leg, event.agent_id, _LEGROLE_OWNER, event.wrap_up_deadline)
    _add_offer(
        draft,
        event,
        on_leg,
        agent_id=event.target_agent_id,
        agent_name=event.target_agent_name,
        role=_LEGROLE_OWNER,
        kind=_KIND_TRANSFER,
        deadline=event.deadline,
    )


def _invite_guest(
    draft: Draft, event: ev.ConferenceRequested, on_leg: LegHook | None, leg: int
) -> None:
    _add_offer(
        draft,
        event,
        on_leg,
        agent_id=event.guest_agent_id,
        agent_name=event.guest_agent_name,
        role=_LEGROLE_GUEST,
        kind=_KIND_CONFERENCE,
        deadline=event.deadline,
    )


def _accept_leg(draft: Draft, event: ev.OfferAccepted, on_leg: LegHook | None, leg: int) -> None:
    found, state = _leg_step(draft, leg, "OfferAccepted", on_leg)
    _put_leg(draft, leg, _LEG_ACCEPTED(found, state, None, event.at))


def _take_ownership(
    draft: Draft, event: ev.OfferAccepted, on_leg: LegHook | None, leg: int
) -> None:
    found, state = _leg_step(draft, leg, "OfferAccepted", on_leg)  # (_accept_leg, inline)
    _put_leg(draft, leg, _LEG_ACCEPTED(found, state, None, event.at))
    draft.owner = event.agent_id
    draft.accepted_at = event.at
    if draft.first_accepted_at is None:
        draft.first_accepted_at = event.at
    draft.declined_by = _NOBODY


def _join_as_guest(draft: Draft, event: ev.OfferAccepted, on_leg: LegHook | None, leg: int) -> None:
    _accept_leg(draft, event, on_leg, leg)


def _end_offer(draft: Draft, event: Any, on_leg: LegHook | None, leg: int) -> str:
    """The agent's offer ends (declined, timed out or rescinded)."""
    _end_leg(draft, leg, type(event).__name__, on_leg, event.at)
    agent_id: str = event.agent_id
    return agent_id


def _requeue(draft: Draft, event: Any, on_leg: LegHook | None, leg: int) -> None:
    _end_offer(draft, event, on_leg, leg)


def _requeue_declined(
    draft: Draft, event: ev.OfferDeclined, on_leg: LegHook | None, leg: int
) -> None:
    draft.declined_by = draft.declined_by | {_end_offer(draft, event, on_leg, leg)}


def _return_transfer(draft: Draft, event: Any, on_leg: LegHook | None, leg: int) -> None:
    # back in its queue: the queue owns it now, and the agent who handed it off is skipped
    # while somebody else can take it (as after a transfer to a queue)
    _end_offer(draft, event, on_leg, leg)
    draft.handed_off_by = draft.owner
    draft.owner = None


def _return_declined_transfer(
    draft: Draft, event: ev.OfferDeclined, on_leg: LegHook | None, leg: int
) -> None:
    _return_transfer(draft, event, on_leg, leg)
    draft.declined_by = draft.declined_by | {event.agent_id}


def _withdraw_invitation(draft: Draft, event: Any, on_leg: LegHook | None, leg: int) -> None:
    _end_offer(draft, event, on_leg, leg)


def _hand_to_queue(
    draft: Draft, event: ev.TransferredToQueue, on_leg: LegHook | None, leg: int
) -> None:
    _wrap_active(draft, event, on_leg, event.agent_id, _LEGROLE_OWNER, event.wrap_up_deadline)
    draft.queue = event.queue
    draft.owner = None
    draft.accepted_at = None
    draft.declined_by = _NOBODY
    draft.handed_off_by = event.agent_id  # skipped while somebody else can take it


def _release_guest(draft: Draft, event: ev.GuestReleased, on_leg: LegHook | None, leg: int) -> None:
    _wrap_active(draft, event, on_leg, event.agent_id, _LEGROLE_GUEST, event.wrap_up_deadline)


def _cause(draft: Draft, event: ev.Event) -> tuple[Outcome, DisconnectReason]:
    if type(event) is ev.ChatInterrupted:
        return draft.cause or _OUTCOME_INTERRUPTED, _DISCONNECT_ASSET_DELETED
    accepted = draft.first_accepted_at is not None
    cause = draft.cause or (_OUTCOME_CUSTOMER_ENDED if accepted else _OUTCOME_ABANDONED)
    return cause, _DISCONNECT_CUSTOMER_ENDED


def _disconnect(draft: Draft, event: ev.Event, on_leg: LegHook | None, leg: int) -> None:
    """The customer left (or the asset went away) while an owner held the chat."""
    draft.cause, draft.disconnect_reason = _cause(draft, event)
    _end_legs(draft, event, on_leg, None)


def _leave_waiting(draft: Draft, event: ev.Event, on_leg: LegHook | None, leg: int) -> None:
    """The customer left (or the asset went away) while nobody held the chat."""
    draft.cause = _cause(draft, event)[0]
    draft.ended_at = event.at
    _end_legs(draft, event, on_leg, None)


def _end_chat(draft: Draft, event: ev.ChatEnded, on_leg: LegHook | None, leg: int) -> None:
    _end_legs(draft, event, on_leg, event.wrap_up_deadline)
    draft.ended_at = event.at


def _submit_wrap_up(
    draft: Draft, event: ev.WrapUpSubmitted, on_leg: LegHook | None, leg: int
) -> None:
    index, _ = wrapping_leg(draft, event.agent_id)
    found, state = _leg_step(draft, index, "WrapUpSubmitted", on_leg)
    _put_leg(
        draft,
        index,
        _LEG_WRAPPED_UP(found, state, None, event.reason, event.notes, event.at, event.automatic),
    )


def _post(draft: Draft, event: ev.MessagePosted, on_leg: LegHook | None, leg: int) -> None:
    draft.message_count += 1
    message = event.message
    if draft.whole_transcript:
        draft.messages = (*draft.messages, message)
    elif not draft.messages:
        # Nothing was kept: only a customer message can start a part of a number the next
        # customer message's masking would look back over, and only when it ends with digits
        # (recent_window of this message alone, without the walk)
        if message.role is _ROLE_CUSTOMER:
            text = message.text
            if number_tail_start(text) != len(text):
                draft.messages = (message,)
    else:
        # The record keeps what the next customer message's masking may look back over;
        # the message itself is stored as its own row (its MessagePosted event).
        messages = (*draft.messages, message)
        keep = recent_window(messages)
        draft.messages = messages[len(messages) - keep :] if keep else ()


def _redact(draft: Draft, event: ev.MessagesRedacted, on_leg: LegHook | None, leg: int) -> None:
    texts = dict(event.redactions)
    draft.messages = tuple(
        replace(m, text=texts[m.id]) if m.id in texts else m for m in draft.messages
    )


def _close(draft: Draft, event: ev.Event, on_leg: LegHook | None, leg: int) -> None:
    draft.closed_at = event.at
    draft.outcome = draft.cause or _OUTCOME_COMPLETED


def _all_wrapped_up(draft: Draft) -> bool:
    for leg in draft.legs:  # noqa: SIM110 (a loop: no generator per event)
        if leg.state is _WRAPPING_UP:
            return False
    return True


_WRAPPING_UP: Final = _LEG_WRAPPING_UP


EFFECTS: Final[dict[str, Effect]] = {
    "offer_chat": _offer_chat,
    "take_ownership": _take_ownership,
    "join_as_guest": _join_as_guest,
    "requeue": _requeue,
    "requeue_declined": _requeue_declined,
    "return_transfer": _return_transfer,
    "return_declined_transfer": _return_declined_transfer,
    "withdraw_invitation": _withdraw_invitation,
    "offer_transfer": _offer_transfer,
    "hand_to_queue": _hand_to_queue,
    "invite_guest": _invite_guest,
    "release_guest": _release_guest,
    "disconnect": _disconnect,
    "leave_waiting": _leave_waiting,
    "end_chat": _end_chat,
    "submit_wrap_up": _submit_wrap_up,
    "post": _post,
    "redact": _redact,
    "close": _close,
}
"""What each effect named in :data:`~._machines.CONVERSATION_TABLE` does."""

CONCERNED_LEG: Final[dict[str, Callable[[Readable, str, object | None], tuple[int, Leg]]]] = {
    "OfferAccepted": pending_offer,
    "OfferDeclined": pending_offer,
    "OfferTimedOut": pending_offer,
    "OfferRescinded": pending_offer,
}
"""Inputs that concern one agent's leg, and how it is found (or the refusal, raised before
the table's own, so an agent without an offer is told so whatever the state)."""

CONDITIONS: Final[dict[str, Callable[[Draft], bool]]] = {ALL_WRAPPED_UP: _all_wrapped_up}
"""When each state-triggered input of the table fires."""


Step = tuple[ConversationState, Effect, "Rules | None"]
"""A row of the derived lookup: the next state, the effect's code, and the state-triggered
rules of the next state (``None`` when it has none)."""
Rules = tuple[tuple[Callable[[Draft], bool], str], ...]


def _derive() -> dict[tuple[str, str], Step]:
    steps: dict[tuple[str, str], Step] = {}
    rules: dict[str, list[tuple[Callable[[Draft], bool], str]]] = {}
    table = CONVERSATION_MACHINE.step_table()
    for (state, input_), (_, effect) in table.items():
        if effect not in EFFECTS:
            raise MachineDefinitionError(f"conversation: no code for the effect {effect!r}")
        if input_ in CONDITIONS:
            rules.setdefault(state, []).append((CONDITIONS[input_], input_))
        elif input_.partition("[")[0] not in ev.EVENT_TYPES:
            raise MachineDefinitionError(f"conversation: {input_!r} names no event")
    for (state, input_), (dest, effect) in table.items():
        found = rules.get(dest)
        steps[(state, input_)] = (dest, EFFECTS[effect], None if found is None else tuple(found))
    return steps


# (state, input) -> (next state, effect function, rules of the next state), derived from the
# declared table once: applying an event is one look-up and one call
STEPS: Final = _derive()

# event type -> (its input, the refinement by who caused it or None, the look-up of the leg
# it concerns or None): the input an event is looked up by, found with one look-up
_BY_TYPE: Final = {
    cls: (name, _REFINED.get(cls), CONCERNED_LEG.get(name)) for name, cls in ev.EVENT_TYPES.items()
}


def apply_to(
    draft: Draft,
    event: ev.Event,
    *,
    on_leg: LegHook | None = None,
    command: object | None = None,
) -> None:
    """Apply one event to a draft: the table's lookup, then the row's effect.

    Raises (the draft unchanged) when the table has no row for the event in the
    draft's state: :class:`ConversationStateError` naming ``command``, the input, the
    conversation and its state.
    """
    apply_event(draft, event, on_leg, command)


def apply_event(
    draft: Draft, event: ev.Event, on_leg: LegHook | None, command: object | None
) -> None:
    """:func:`apply_to`, its arguments by position (the desk's per-event call)."""
    sequence = event.sequence
    if sequence != draft.version + 1:
        raise InvalidArgument(f"event {event.id} out of sequence (expected {draft.version + 1})")
    kind = _BY_TYPE.get(type(event))
    if kind is None:  # not a conversation event: the table has no row for it
        input_, concerned = type(event).__name__, None
    else:
        input_, refine, concerned = kind
        if refine is not None:
            input_ = refine(draft, event)
            concerned = CONCERNED_LEG.get(input_)
    leg = -1 if concerned is None else concerned(draft, event.agent_id, command)[0]  # type: ignore[attr-defined]
    found = STEPS.get((draft.state, input_))
    if found is None:
        raise CONVERSATION_MACHINE.refusal(
            draft.state, input_, aggregate_id=draft.id, command=command
        )
    state, effect, rules = found
    effect(draft, event, on_leg, leg)
    draft.state = state
    draft.version = sequence
    draft.last_event_at = event.at  # (the time floor of the conversation's next event)
    while rules is not None:
        for condition, rule in rules:
            if condition(draft):
                state, effect, rules = STEPS[(state, rule)]
                effect(draft, event, on_leg, -1)
                draft.state = state
                break
        else:
            return


def apply(conversation: Conversation | None, event: ev.Event) -> Conversation:
    """The conversation after ``event``; raises if the event does not fit its state."""
    if isinstance(event, ev.ChatStarted):
        if conversation is not None:
            raise InvalidArgument(f"conversation {event.aggregate_id} already started")
        if event.sequence != 1:
            raise InvalidArgument(f"event {event.id} out of sequence (expected 1)")
        return freeze(started(event, _Rebuilding))
    if conversation is None:
        raise InvalidArgument(f"event {event.id} before the conversation started")
    if type(event).aggregate != "conversation":
        raise InvalidArgument(f"{event.type} is not a conversation event")
    draft = _Rebuilding.of(conversation)
    apply_event(draft, event, None, None)
    return freeze(draft)


def replay(events: Iterable[ev.Event]) -> Conversation | None:
    """Rebuild a conversation from its events, oldest first."""
    draft: Draft | None = None
    for event in check_items(events, ev.Event, "events"):
        if isinstance(event, ev.ChatStarted):
            if draft is not None:
                raise InvalidArgument(f"conversation {event.aggregate_id} already started")
            if event.sequence != 1:
                raise InvalidArgument(f"event {event.id} out of sequence (expected 1)")
            draft = started(event, _Rebuilding)
        elif draft is None:
            raise InvalidArgument(f"event {event.id} before the conversation started")
        elif type(event).aggregate != "conversation":
            raise InvalidArgument(f"{event.type} is not a conversation event")
        else:
            apply_event(draft, event, None, None)
    return None if draft is None else freeze(draft)
