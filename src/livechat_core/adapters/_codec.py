"""Records and events to JSON and back, shared by the durable stores.

Every durable store keeps a queue, an agent or a conversation as one JSON document
(beside a few indexed columns the reads need) and an event as the neutral record of
:func:`livechat_core.event_to_record`. The documents are plain JSON: enumerations are
their lower-case string values, tuples and frozensets are lists (frozensets sorted), and
numbers are POSIX seconds as JSON numbers (Python's ``repr`` of a float round-trips
exactly). ``docs/stores.md`` documents every field.

A document that does not decode raises :class:`~livechat_core.SchemaError`: it was
written by something else, or by a newer library.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar

import attrs

from .._errors import InvalidArgument, SchemaError
from .._events import Event, from_record, record_data
from .._machines import AgentState, ConversationState, LegState
from .._model import (
    Agent,
    Conversation,
    DisconnectReason,
    Leg,
    LegRole,
    Message,
    OfferKind,
    Outcome,
    Queue,
    Role,
    field_reader,
)

_T = TypeVar("_T")


def _optional(convert: Callable[[Any], _T]) -> Callable[[Any], _T | None]:
    return lambda value: None if value is None else convert(value)


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(str(item) for item in value)


def _legs(value: Any) -> tuple[Leg, ...]:
    return tuple(_build(Leg, item) for item in value)


def _messages(value: Any) -> tuple[Message, ...]:
    return tuple(_build(Message, item) for item in value)


# Fields whose JSON form is not already the attrs value; every other field is passed as is.
_DECODERS: Final[dict[type[Any], dict[str, Callable[[Any], Any]]]] = {
    Queue: {"wrap_up_reasons": _strings},
    Agent: {
        "queues": _strings,
        "state": AgentState,
        "holding": _strings,
        "wrapping": _strings,
    },
    Leg: {"role": LegRole, "kind": OfferKind, "state": LegState},
    Message: {"role": Role},
    Conversation: {
        "state": ConversationState,
        "legs": _legs,
        "messages": _messages,
        "declined_by": lambda value: frozenset(_strings(value)),
        "cause": _optional(Outcome),
        "disconnect_reason": _optional(DisconnectReason),
        "outcome": _optional(Outcome),
    },
}


_READERS: dict[type[Any], tuple[tuple[str, ...], Callable[[Any], tuple[Any, ...]]]] = {}


def _default(value: Any) -> Any:
    """What ``json.dumps`` cannot encode by itself: attrs records and frozensets.

    Tuples become lists and enumerations (``StrEnum``) their string values in the
    encoder itself, so only records come back to Python, one call each.
    """
    cls = type(value)
    reader = _READERS.get(cls)
    if reader is None:
        if isinstance(value, frozenset):
            return sorted(value)
        if not attrs.has(cls):
            raise TypeError(f"{cls.__name__} is not JSON serializable")
        # Field names and a C-speed getter, looked up once per class (the hot path).
        reader = _READERS[cls] = field_reader(cls)
    names, values_of = reader
    return dict(zip(names, values_of(value), strict=True))


def _build(cls: type[_T], document: Any) -> _T:
    if not isinstance(document, Mapping):
        raise TypeError(f"a {cls.__name__} document must be a JSON object, not {document!r}")
    fields = dict(document)
    for name, decode in _DECODERS.get(cls, {}).items():
        if name in fields:
            fields[name] = decode(fields[name])
    return cls(**fields)


def dumps(document: Any) -> str:
    """Compact JSON text, UTF-8 characters kept as they are."""
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def loads(text: str | bytes) -> Any:
    """Parse JSON text, translating a malformed document into :class:`SchemaError`."""
    try:
        return json.loads(text)
    except (ValueError, TypeError) as error:
        raise SchemaError(f"a stored document is not JSON: {error}") from error


_ENCODE: Final = json.JSONEncoder(
    separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_default
).encode


def record_to_json(record: Queue | Agent | Conversation) -> str:
    """The JSON document of a queue, an agent or a conversation."""
    return _ENCODE(record)


def _record_from_json(cls: type[_T], text: str | bytes | Mapping[str, Any]) -> _T:
    document = loads(text) if isinstance(text, str | bytes) else text
    try:
        return _build(cls, document)
    except (TypeError, ValueError) as error:
        raise SchemaError(f"a stored {cls.__name__.lower()} does not decode: {error}") from error


def queue_from_json(text: str | bytes | Mapping[str, Any]) -> Queue:
    """Decode :func:`record_to_json`'s document of a queue."""
    return _record_from_json(Queue, text)


def agent_from_json(text: str | bytes | Mapping[str, Any]) -> Agent:
    """Decode :func:`record_to_json`'s document of an agent."""
    return _record_from_json(Agent, text)


def conversation_from_json(text: str | bytes | Mapping[str, Any]) -> Conversation:
    """Decode :func:`record_to_json`'s document of a conversation.

    A record written before ``message_count`` existed held the whole transcript in
    ``messages``: its count is their number (the record is rewritten in the new form by
    the conversation's next change).
    """
    document = loads(text) if isinstance(text, str | bytes) else text
    if isinstance(document, Mapping) and "message_count" not in document:
        messages = document.get("messages")
        document = {
            **document,
            "message_count": len(messages) if isinstance(messages, list) else 0,
        }
    return _record_from_json(Conversation, document)


def event_data_json(event: Event) -> str:
    """The JSON of the ``data`` member of the event's neutral record."""
    return dumps(record_data(event))


def event_columns(event: Event) -> tuple[str, str, int, str, float, str]:
    """The columns an event is stored in, in order: ``aggregate``, ``aggregate_id``,
    ``sequence``, ``type``, ``at`` and ``data`` (JSON text)."""
    return (
        event.aggregate,
        event.aggregate_id,
        event.sequence,
        event.type,
        event.at,
        event_data_json(event),
    )


def event_from_columns(
    aggregate_id: str,
    sequence: int,
    at: float,
    type_name: str,
    data: str | bytes | Mapping[str, Any],
) -> Event:
    """Rebuild an event from its stored columns (``data`` as JSON text or already decoded)."""
    decoded = loads(data) if isinstance(data, str | bytes) else data
    record = {
        "type": type_name,
        "aggregate_id": aggregate_id,
        "sequence": sequence,
        "at": at,
        "data": decoded,
    }
    try:
        return from_record(record)
    except InvalidArgument as error:
        raise SchemaError(f"a stored {type_name} event does not decode: {error}") from error


def redact_message_data(
    data: Mapping[str, Any], message_id: str, text: str
) -> dict[str, Any] | None:
    """The ``data`` of a ``MessagePosted`` record with ``message_id``'s text replaced, or
    ``None`` if the record is about another message."""
    message = data.get("message")
    if not isinstance(message, Mapping) or message.get("id") != message_id:
        return None
    return {**data, "message": {**message, "text": text}}


def parse_event_id(event_id: str) -> tuple[str, str, int] | None:
    """``"conversation:abc:3"`` → ``("conversation", "abc", 3)``; ``None`` if malformed.

    The aggregate id may itself contain ``:``; the aggregate never does.
    """
    aggregate, _, rest = event_id.partition(":")
    aggregate_id, _, sequence = rest.rpartition(":")
    if not aggregate or not aggregate_id or not sequence.isdigit():
        return None
    return aggregate, aggregate_id, int(sequence)
