"""Conversations as flat tuples of plain values, for the in-memory store.

The garbage collector stops tracking a tuple whose items are all atoms (strings,
numbers, ``None``) or such tuples, once a collection has seen it; a full collection then
never visits it again. A frozen record (an ``attrs`` instance) is always tracked, and so
are its tuple of legs and each leg. Kept as records, every live chat costs a full
collection three objects to traverse; kept packed, none (``docs/performance.md``).

A packed conversation is one flat tuple (a tuple inside a tuple would be untracked only
by a later collection than the one that first sees them): the record's fields in
declaration order (enumerations as their string values; legs, messages and decliners
left empty; the store's indexes read the state, queue, start and version without
unpacking), how many legs, messages and decliners follow, then each leg's values, each
message's values and the decliners, sorted.
"""

from __future__ import annotations

import enum
from typing import Any, Final

from .._model import (
    Conversation,
    DisconnectReason,
    Leg,
    LegRole,
    Message,
    OfferKind,
    Outcome,
    Role,
    builder,
    field_reader,
)
from .._states import ConversationState, LegState

Packed = tuple[Any, ...]


def _lister(cls: type) -> Any:
    """``record -> [each field's value]``, generated: attribute reads in Python code are
    specialised by the interpreter, cheaper than a C getter's generic ones."""
    names, _ = field_reader(cls)
    namespace: dict[str, Any] = {}
    values = ", ".join(f"record.{name}" for name in names)
    exec(f"def values(record):\n    return [{values}]\n", namespace)
    return namespace["values"]


def _enum_slots(
    cls: type, enums: dict[str, type[enum.Enum]]
) -> tuple[tuple[int, dict[str, Any]], ...]:
    """The positions of ``cls``'s enumeration fields, each with its members by value."""
    names, _ = field_reader(cls)
    return tuple(
        (names.index(name), {member.value: member for member in kind})
        for name, kind in enums.items()
    )


_LEG_NAMES = field_reader(Leg)[0]
_LEG_VALUES: Final = _lister(Leg)
_LEG_ENUMS: Final = _enum_slots(Leg, {"role": LegRole, "kind": OfferKind, "state": LegState})
_LEG_WIDTH: Final = len(_LEG_NAMES)
_MESSAGE_NAMES = field_reader(Message)[0]
_MESSAGE_VALUES: Final = _lister(Message)
_MESSAGE_ENUMS: Final = _enum_slots(Message, {"role": Role})
_MESSAGE_WIDTH: Final = len(_MESSAGE_NAMES)
_NAMES = field_reader(Conversation)[0]
_VALUES: Final = _lister(Conversation)
_ENUMS: Final = _enum_slots(
    Conversation,
    {
        "state": ConversationState,
        "cause": Outcome,
        "disconnect_reason": DisconnectReason,
        "outcome": Outcome,
    },
)
_LEGS: Final = _NAMES.index("legs")
_MESSAGES: Final = _NAMES.index("messages")
_DECLINED_BY: Final = _NAMES.index("declined_by")

# The record's fields keep their places; the three lengths follow, then the legs'
# values, the messages' values and the decliners, one after the other.
ID: Final = _NAMES.index("id")
QUEUE: Final = _NAMES.index("queue")
ASSET: Final = _NAMES.index("asset")
STARTED_AT: Final = _NAMES.index("started_at")
STATE: Final = _NAMES.index("state")
CLOSED_AT: Final = _NAMES.index("closed_at")
VERSION: Final = _NAMES.index("version")
_LENGTHS: Final = len(_NAMES)
_LEG: Final = builder(Leg)
_MESSAGE: Final = builder(Message)
_CONVERSATION: Final = builder(Conversation)
_HEAD: Final = _LENGTHS + 3  # the fields, the three lengths


def _flat(flat: list[Any], enums: tuple[tuple[int, dict[str, Any]], ...]) -> list[Any]:
    for index, _ in enums:
        member = flat[index]
        if member is not None:
            flat[index] = member._value_
    return flat


def _members(flat: list[Any], enums: tuple[tuple[int, dict[str, Any]], ...]) -> list[Any]:
    for index, members in enums:
        value = flat[index]
        if value is not None:
            flat[index] = members[value]
    return flat


def pack(conversation: Conversation) -> Packed:
    """``conversation`` as one flat tuple of plain values (see the module's docstring)."""
    flat = _flat(_VALUES(conversation), _ENUMS)
    legs, messages, declined_by = flat[_LEGS], flat[_MESSAGES], flat[_DECLINED_BY]
    flat[_LEGS] = flat[_MESSAGES] = flat[_DECLINED_BY] = None
    flat.extend((len(legs), len(messages), len(declined_by)))
    for leg in legs:
        flat.extend(_flat(_LEG_VALUES(leg), _LEG_ENUMS))
    for message in messages:
        flat.extend(_flat(_MESSAGE_VALUES(message), _MESSAGE_ENUMS))
    flat.extend(sorted(declined_by))
    return tuple(flat)


def _fields(
    names: tuple[str, ...], values: Packed, enums: tuple[tuple[int, dict[str, Any]], ...]
) -> dict[str, Any]:
    return dict(zip(names, _members(list(values), enums), strict=True))


def unpack(packed: Packed) -> Conversation:
    """The conversation :func:`pack` was given (an equal record)."""
    flat = _members(list(packed[:_LENGTHS]), _ENUMS)
    legs_end = _HEAD + packed[_LENGTHS] * _LEG_WIDTH
    messages_end = legs_end + packed[_LENGTHS + 1] * _MESSAGE_WIDTH
    legs, messages = packed[_HEAD:legs_end], packed[legs_end:messages_end]
    flat[_LEGS] = tuple(
        [
            _LEG(**_fields(_LEG_NAMES, legs[at : at + _LEG_WIDTH], _LEG_ENUMS))
            for at in range(0, len(legs), _LEG_WIDTH)
        ]
    )
    flat[_MESSAGES] = tuple(
        [
            _MESSAGE(**_fields(_MESSAGE_NAMES, messages[at : at + _MESSAGE_WIDTH], _MESSAGE_ENUMS))
            for at in range(0, len(messages), _MESSAGE_WIDTH)
        ]
    )
    flat[_DECLINED_BY] = frozenset(packed[messages_end:])
    return _CONVERSATION(**dict(zip(_NAMES, flat, strict=True)))
