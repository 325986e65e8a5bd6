"""Events: the facts a command leaves behind.

Every event is a frozen value with the id of the aggregate it belongs to, a sequence
number that increases by one per aggregate, and a timestamp. Conversation events are
complete: replaying them from nothing rebuilds the conversation exactly
(:func:`livechat_core._conversation.replay`).

:func:`to_record` and :func:`from_record` turn an event into the neutral JSON-ready
mapping that stores keep and transports carry (``docs/events.md``).
"""

from __future__ import annotations

import operator
from typing import Any, ClassVar, Final

import attrs

from ._errors import InvalidArgument
from ._inputs import check_instance
from ._model import Message, Role, builder, field_reader


@attrs.frozen(kw_only=True)
class Event:
    """Base of every event.

    Attributes:
        aggregate_id: the conversation, agent, queue or asset the event belongs to.
        sequence: 1 for the aggregate's first event, then one more for each.
        at: POSIX seconds, from the desk's clock (or the ``now`` given to ``tick``).
    """

    aggregate: ClassVar[str] = "conversation"

    aggregate_id: str
    sequence: int
    at: float

    @property
    def id(self) -> str:
        """Unique and stable: consumers drop duplicates by it (delivery is at least once)."""
        return f"{self.aggregate}:{self.aggregate_id}:{self.sequence}"

    @property
    def type(self) -> str:
        """The event's type name, as stored."""
        return type(self).__name__


# --- conversation events ----------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ChatStarted(Event):
    """A customer started a chat; it waits in ``queue``."""

    queue: str
    customer_name: str
    customer_contact: str
    proactive: bool
    asset: str


@attrs.frozen(kw_only=True)
class MessagePosted(Event):
    """A customer, agent or system message joined the transcript."""

    message: Message


@attrs.frozen(kw_only=True)
class MessagesRedacted(Event):
    """Earlier messages were rewritten to mask an item completed across messages.

    ``redactions`` pairs a message id with its new text. A desktop repaints those bubbles.
    """

    redactions: tuple[tuple[str, str], ...]


@attrs.frozen(kw_only=True)
class ChatOffered(Event):
    """Routing offered the queued chat to an agent until ``deadline``."""

    agent_id: str
    agent_name: str
    deadline: float


@attrs.frozen(kw_only=True)
class TransferRequested(Event):
    """The owner asked another agent to take the chat; the owner's leg wraps up now."""

    agent_id: str
    target_agent_id: str
    target_agent_name: str
    deadline: float
    wrap_up_deadline: float | None


@attrs.frozen(kw_only=True)
class ConferenceRequested(Event):
    """The owner invited a guest agent into the chat."""

    agent_id: str
    guest_agent_id: str
    guest_agent_name: str
    deadline: float


@attrs.frozen(kw_only=True)
class OfferAccepted(Event):
    """An agent accepted their offer (a chat, a transfer or a conference)."""

    agent_id: str


@attrs.frozen(kw_only=True)
class OfferDeclined(Event):
    """An agent declined their offer."""

    agent_id: str


@attrs.frozen(kw_only=True)
class OfferTimedOut(Event):
    """An offer was not accepted in time (the agent goes to RONA)."""

    agent_id: str


@attrs.frozen(kw_only=True)
class OfferRescinded(Event):
    """A pending offer was withdrawn (the agent went idle, or the owner withdrew it)."""

    agent_id: str


@attrs.frozen(kw_only=True)
class TransferredToQueue(Event):
    """The owner sent the chat to ``queue``; the owner's leg wraps up."""

    agent_id: str
    queue: str
    wrap_up_deadline: float | None


@attrs.frozen(kw_only=True)
class GuestReleased(Event):
    """The conference ended (``by`` the owner) or the guest left (``by`` the guest)."""

    agent_id: str
    by: str
    wrap_up_deadline: float | None


@attrs.frozen(kw_only=True)
class CustomerEnded(Event):
    """The customer clicked "End chat" in the widget."""


@attrs.frozen(kw_only=True)
class ChatInterrupted(Event):
    """An administrator deleted the conversation's asset."""

    asset: str


@attrs.frozen(kw_only=True)
class ChatEnded(Event):
    """The owner ended the chat; every active leg wraps up."""

    agent_id: str
    wrap_up_deadline: float | None


@attrs.frozen(kw_only=True)
class WrapUpSubmitted(Event):
    """An agent submitted the wrap-up of their leg (``automatic`` when a timeout did)."""

    agent_id: str
    reason: str
    notes: str
    automatic: bool


# --- agent, queue and asset events ------------------------------------------------------


@attrs.frozen(kw_only=True)
class AgentLoggedIn(Event):
    """An agent logged in (idle) to serve ``queues``."""

    aggregate: ClassVar[str] = "agent"
    name: str
    queues: tuple[str, ...]
    capacity: int


@attrs.frozen(kw_only=True)
class AgentAvailable(Event):
    """The agent set themselves available."""

    aggregate: ClassVar[str] = "agent"


@attrs.frozen(kw_only=True)
class AgentIdle(Event):
    """The agent set themselves idle with a reason code."""

    aggregate: ClassVar[str] = "agent"
    reason: str


@attrs.frozen(kw_only=True)
class AgentRona(Event):
    """The agent did not accept an offer in time: redirection on no answer."""

    aggregate: ClassVar[str] = "agent"
    conversation_id: str


@attrs.frozen(kw_only=True)
class AgentLoggedOut(Event):
    """The agent logged out."""

    aggregate: ClassVar[str] = "agent"


@attrs.frozen(kw_only=True)
class QueueConfigured(Event):
    """A queue was added or its configuration changed."""

    aggregate: ClassVar[str] = "queue"
    wrap_up_reasons: tuple[str, ...]
    offer_timeout: float
    wrap_up_timeout: float | None
    default_wrap_up_reason: str | None


@attrs.frozen(kw_only=True)
class AssetDeletedEvent(Event):
    """An administrator deleted an asset (a chat entry point)."""

    aggregate: ClassVar[str] = "asset"


EVENT_TYPES: dict[str, type[Event]] = {
    cls.__name__: cls
    for cls in (
        ChatStarted,
        MessagePosted,
        MessagesRedacted,
        ChatOffered,
        TransferRequested,
        ConferenceRequested,
        OfferAccepted,
        OfferDeclined,
        OfferTimedOut,
        OfferRescinded,
        TransferredToQueue,
        GuestReleased,
        CustomerEnded,
        ChatInterrupted,
        ChatEnded,
        WrapUpSubmitted,
        AgentLoggedIn,
        AgentAvailable,
        AgentIdle,
        AgentRona,
        AgentLoggedOut,
        QueueConfigured,
        AssetDeletedEvent,
    )
}


def to_record(event: Event) -> dict[str, Any]:
    """The neutral JSON-ready mapping of an event (see ``docs/events.md``)."""
    check_instance(event, Event, "event")
    return {
        "id": event.id,
        "type": event.type,
        "aggregate": event.aggregate,
        "aggregate_id": event.aggregate_id,
        "sequence": event.sequence,
        "at": event.at,
        "data": record_data(event),
    }


def record_data(event: Event) -> dict[str, Any]:
    """The ``data`` member of :func:`to_record`'s mapping: the event's own fields."""
    cls = type(event)
    names = _DATA_FIELDS.get(cls)
    if names is None:
        common = ("aggregate_id", "sequence", "at")
        names = _DATA_FIELDS[cls] = tuple(
            field.name for field in attrs.fields(cls) if field.name not in common
        )
    data: dict[str, Any] = {}
    for name in names:
        value = getattr(event, name)
        if type(value) is Message:
            value = dict(zip(_MESSAGE_FIELDS, _message_values(value), strict=True))
            value["role"] = str(value["role"])
        elif type(value) is tuple:
            value = [list(v) if type(v) is tuple else v for v in value]
        data[name] = value
    return data


_DATA_FIELDS: dict[type[Event], tuple[str, ...]] = {}
_MESSAGE_FIELDS: Final = tuple(field.name for field in attrs.fields(Message))
_message_values: Final = operator.attrgetter(*_MESSAGE_FIELDS)


def from_record(record: dict[str, Any]) -> Event:
    """Rebuild an event from :func:`to_record`'s mapping (as decoded from JSON)."""
    try:
        cls = EVENT_TYPES[record["type"]]
        data = dict(record["data"])
        for field in attrs.fields(cls):
            if field.name not in data:
                continue
            value = data[field.name]
            if field.name == "message":
                message = dict(value)
                message["role"] = Role(message["role"])
                data["message"] = Message(**message)
            elif isinstance(value, list):
                data[field.name] = tuple(tuple(v) if isinstance(v, list) else v for v in value)
        return cls(
            aggregate_id=record["aggregate_id"],
            sequence=record["sequence"],
            at=record["at"],
            **data,
        )
    except (KeyError, TypeError, ValueError) as error:
        raise InvalidArgument(f"not an event record: {error}") from error


def pack(event: Event) -> tuple[Any, ...]:
    """An event as a flat tuple of plain values: compact, and once the garbage collector
    has seen it, never traversed again (tuples of atoms are untracked)."""
    cls = type(event)
    values = field_reader(cls)[1](event)
    if cls is MessagePosted:
        message_id, role, *rest = _message_values(values[-1])
        return (cls.__name__, *values[:-1], (message_id, role._value_, *rest))
    return (cls.__name__, *values)


def unpack(packed: tuple[Any, ...]) -> Event:
    """The event :func:`pack` was given."""
    cls = EVENT_TYPES[packed[0]]
    names, _ = field_reader(cls)
    values = dict(zip(names, packed[1:], strict=True))
    if cls is MessagePosted:
        fields = dict(zip(field_reader(Message)[0], values["message"], strict=True))
        fields["role"] = Role(fields["role"])
        values["message"] = builder(Message)(**fields)
    return builder(cls)(**values)
