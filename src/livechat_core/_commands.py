"""Commands: every change to the desk is one of these frozen values.

Commands validate on construction, so an invalid command cannot exist: an empty id, a
capacity below one or a negative timeout raise :class:`InvalidArgument` before the desk
sees anything. Whether the *state* allows a command is the desk's decision
(``Desk.handle``).
"""

from __future__ import annotations

import functools
import itertools
import sys
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from collections.abc import Set as AbstractSet
from typing import Any, Final, TypeVar

import attrs

from ._composer import MAX_MESSAGE_LENGTH, check_composed, normalise
from ._errors import ComposerError, EmptyMessage, InvalidArgument
from ._inputs import (
    MAX_LIST_LENGTH,
    MAX_NAME_LENGTH,
    MAX_TEXT_LENGTH,
    check_contact,
    check_count,
    check_flag,
    check_name,
    check_seconds,
    check_text,
)
from ._model import Agent, Conversation, Queue


def _text(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    check_name(value, attribute.name)


def _optional_text(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None:
        _text(instance, attribute, value)


def _customer_name(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    check_name(value, attribute.name, line_breaks=True)  # typed into the widget


def _contact(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    check_contact(value, attribute.name)


def _notes(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    check_text(value, attribute.name)


def _flag(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    check_flag(value, attribute.name)


def _seconds(value: Any, name: str) -> None:
    check_seconds(value, name, positive=True)


def _timeout(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    _seconds(value, attribute.name)


def _optional_timeout(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None:
        _seconds(value, attribute.name)


def _identifier(value: Any) -> Any:
    """An id or name, also when given the view it names (an agent picked from
    ``available_agents``, a queue from ``queues``, a conversation view)."""
    if type(value) is str:
        return value
    if isinstance(value, Agent | Conversation):
        return value.id
    if isinstance(value, Queue):
        return value.name
    return value


def identifier(value: Any, field: str) -> str:
    """An id or name argument checked by the input policy (a view names its id)."""
    return check_name(_identifier(value), field)


def _names(value: Any) -> tuple[str, ...]:
    # A set is refused too: the order of names (wrap-up reasons) is shown as given.
    if isinstance(value, str | bytes | Mapping | AbstractSet) or not isinstance(value, Iterable):
        raise InvalidArgument(f"expected a list of names, not {value!r}")
    names = tuple(_identifier(name) for name in itertools.islice(value, MAX_LIST_LENGTH + 1))
    if len(names) > MAX_LIST_LENGTH:
        raise InvalidArgument(f"a list of names has at most {MAX_LIST_LENGTH} entries")
    for name in names:
        check_name(name, "every name")
    if len(set(names)) != len(names):
        raise InvalidArgument(f"names must not repeat: {names!r}")
    return names


def _non_empty(instance: Any, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    if not value:
        raise InvalidArgument(f"{attribute.name} must not be empty")


def _message_text(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    # Its length is the composer's (agents) or the desk's (customers) to judge.
    check_text(value, "a message", limit=sys.maxsize)


def _customer_text(text: str) -> str:
    if not text.strip():
        raise EmptyMessage("an empty message cannot be sent")
    return text


def _normalised(value: Any) -> Any:
    """A message's text as the composer sends it (NFC, ``\n`` line ends); the validator
    refuses anything that is not a string."""
    return normalise(value) if isinstance(value, str) else value


def _check_composed(command: SendAgentMessage | SendCustomerMessage, rule: Any) -> None:
    """Check the text, normalised on the way in, against a composer rule; a refusal
    names the conversation and carries the refused command, like every other refusal
    (SPEC section 3)."""
    try:
        rule(command.text)
    except ComposerError as error:
        error.aggregate_id = command.conversation_id
        error.command = command
        raise


def _number(value: Any) -> float:
    return check_seconds(value, "now")


MAX_CAPACITY: Final = 1_000
"""The most chats one agent may handle at once."""


@attrs.frozen(kw_only=True)
class Command:
    """Base of every command."""


@attrs.frozen(kw_only=True)
class AddQueue(Command):
    """Add a queue, or change its configuration."""

    name: str = attrs.field(validator=_text)
    wrap_up_reasons: tuple[str, ...] = attrs.field(converter=_names, validator=_non_empty)
    offer_timeout: float = attrs.field(default=30.0, validator=_timeout)
    wrap_up_timeout: float | None = attrs.field(default=None, validator=_optional_timeout)
    default_wrap_up_reason: str | None = attrs.field(default=None, validator=_optional_text)

    def __attrs_post_init__(self) -> None:
        reason = self.default_wrap_up_reason
        if reason is not None and reason not in self.wrap_up_reasons:
            raise InvalidArgument(f"the default wrap-up reason {reason!r} is not in the list")


def _capacity(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    check_count(value, "capacity", low=1, high=MAX_CAPACITY)


@attrs.frozen(kw_only=True)
class Login(Command):
    """An agent logs in (idle) to serve ``queues``."""

    agent_id: str = attrs.field(converter=_identifier, validator=_text)
    name: str = attrs.field(validator=_text)
    queues: tuple[str, ...] = attrs.field(converter=_names, validator=_non_empty)
    capacity: int = attrs.field(default=1, validator=_capacity)


@attrs.frozen(kw_only=True)
class Logout(Command):
    """An agent logs out (refused while they hold any leg)."""

    agent_id: str = attrs.field(converter=_identifier, validator=_text)


@attrs.frozen(kw_only=True)
class SetAvailable(Command):
    """An agent becomes available for offers (also the manual way out of RONA)."""

    agent_id: str = attrs.field(converter=_identifier, validator=_text)


@attrs.frozen(kw_only=True)
class SetIdle(Command):
    """An agent goes idle with a reason code; their pending offers are withdrawn."""

    agent_id: str = attrs.field(converter=_identifier, validator=_text)
    reason: str = attrs.field(validator=_text)


@attrs.frozen(kw_only=True)
class StartChat(Command):
    """A customer starts a chat from the widget of ``asset``."""

    conversation_id: str = attrs.field(converter=_identifier, validator=_text)
    queue: str = attrs.field(converter=_identifier, validator=_text)
    customer_name: str = attrs.field(validator=_customer_name)
    customer_contact: str = attrs.field(validator=_contact)
    proactive: bool = attrs.field(default=False, validator=_flag)
    asset: str = attrs.field(default="livechat", validator=_text)


@attrs.frozen(kw_only=True)
class Accept(Command):
    """An agent accepts their offer for a conversation."""

    agent_id: str = attrs.field(converter=_identifier, validator=_text)
    conversation_id: str = attrs.field(converter=_identifier, validator=_text)


@attrs.frozen(kw_only=True)
class Decline(Command):
    """An agent declines their offer for a conversation."""

    agent_id: str = attrs.field(converter=_identifier, validator=_text)
    conversation_id: str = attrs.field(converter=_identifier, validator=_text)


@attrs.frozen(kw_only=True)
class SendAgentMessage(Command):
    """An agent sends a message; the text obeys the composer rules (normalised here)."""

    agent_id: str = attrs.field(converter=_identifier, validator=_text)
    conversation_id: str = attrs.field(converter=_identifier, validator=_text)
    text: str = attrs.field(converter=_normalised, validator=_message_text)

    def __attrs_post_init__(self) -> None:
        _check_composed(self, check_composed)


@attrs.frozen(kw_only=True)
class SendCustomerMessage(Command):
    """The customer sends a message from the widget."""

    conversation_id: str = attrs.field(converter=_identifier, validator=_text)
    text: str = attrs.field(converter=_normalised, validator=_message_text)

    def __attrs_post_init__(self) -> None:
        _check_composed(self, _customer_text)


@attrs.frozen(kw_only=True)
class TransferToAgent(Command):
    """The owner transfers the chat to another available agent."""

    agent_id: str = attrs.field(converter=_identifier, validator=_text)
    conversation_id: str = attrs.field(converter=_identifier, validator=_text)
    target_agent_id: str = attrs.field(converter=_identifier, validator=_text)


@attrs.frozen(kw_only=True)
class TransferToQueue(Command):
    """The owner sends the chat to a queue."""

    agent_id: str = attrs.field(converter=_identifier, validator=_text)
    conversation_id: str = attrs.field(converter=_identifier, validator=_text)
    queue: str = attrs.field(converter=_identifier, validator=_text)


@attrs.frozen(kw_only=True)
class RequestConference(Command):
    """The owner invites another available agent as a guest."""

    agent_id: str = attrs.field(converter=_identifier, validator=_text)
    conversation_id: str = attrs.field(converter=_identifier, validator=_text)
    guest_agent_id: str = attrs.field(converter=_identifier, validator=_text)


@attrs.frozen(kw_only=True)
class EndConference(Command):
    """The owner ends the conference (or withdraws the invitation); a guest leaves."""

    agent_id: str = attrs.field(converter=_identifier, validator=_text)
    conversation_id: str = attrs.field(converter=_identifier, validator=_text)


@attrs.frozen(kw_only=True)
class CustomerEnd(Command):
    """The customer clicks "End chat" in the widget."""

    conversation_id: str = attrs.field(converter=_identifier, validator=_text)


@attrs.frozen(kw_only=True)
class DeleteAsset(Command):
    """An administrator deletes an asset (a chat entry point)."""

    asset: str = attrs.field(validator=_text)


@attrs.frozen(kw_only=True)
class End(Command):
    """The owner ends the chat; every active leg goes to wrap-up."""

    agent_id: str = attrs.field(converter=_identifier, validator=_text)
    conversation_id: str = attrs.field(converter=_identifier, validator=_text)


@attrs.frozen(kw_only=True)
class SubmitWrapUp(Command):
    """An agent submits the wrap-up of their leg with a reason and optional notes."""

    agent_id: str = attrs.field(converter=_identifier, validator=_text)
    conversation_id: str = attrs.field(converter=_identifier, validator=_text)
    reason: str = attrs.field(validator=_text)
    notes: str = attrs.field(default="", validator=_notes)


@attrs.frozen(kw_only=True)
class Tick(Command):
    """Fire every deadline that expired at or before ``now``."""

    now: float = attrs.field(converter=_number)


# --- the desk's own way to build a command -------------------------------------------------
#
# ``Desk.accept(agent_id, conversation_id)`` and its kind build their command through
# :func:`quick`: one generated function per class that checks the usual arguments with a
# few C-level string tests and sets the fields the plain way, the validated form of the
# command at a fraction of the cost of the validators, converters and
# ``object.__setattr__`` per field that ``__init__`` runs (``docs/performance.md``).
# Anything else (a view for an id, a name with a line break, a text to normalise, bad
# input) goes to ``cls(...)``, which converts it or refuses it with its usual typed error.

# The arguments each field check passes without conversion: a subset of what the field's
# converter returns unchanged and its validator (and the class's post-init check) accepts.
# ``{v}`` is the argument. A printable string holds no control character, line break or
# surrogate; ASCII (or NFC) printable text is what ``normalise`` returns unchanged.
_NAME: Final = "(type({v}) is str and ({v} in known or learn({v})))"
_TYPED_NAME: Final = (
    "(type({v}) is str and {v} and {v}.isprintable() and len({v}) <= MAX_NAME_LENGTH"
    " and not {v}.isspace())"
)
_PLAIN_TEXT: Final = (
    "(type({v}) is str and {v}.isprintable() and ({v}.isascii() or nfc({v}))"
    " and {v} and not {v}.isspace())"
)
_QUICK_CHECKS: Final[dict[Any, str]] = {
    _text: _NAME,
    _customer_name: _TYPED_NAME,  # one chat's: not worth remembering
    _contact: (
        "(type({v}) is str and (not {v} or ({v}.isprintable() and len({v}) <= MAX_NAME_LENGTH"
        " and not {v}.isspace())))"
    ),
    _flag: "({v} is True or {v} is False)",
    _notes: "(type({v}) is str and {v}.isprintable() and len({v}) <= MAX_TEXT_LENGTH)",
}
# the message texts, by class: their checks include the class's post-init rule
_QUICK_TEXTS: Final[dict[str, str]] = {
    # check_composed: not empty, no reserved character, at most MAX_MESSAGE_LENGTH
    "SendAgentMessage": (
        f"({_PLAIN_TEXT} and len({{v}}) <= MAX_MESSAGE_LENGTH"
        " and '<' not in {v} and '>' not in {v})"
    ),
    "SendCustomerMessage": _PLAIN_TEXT,  # not empty (the desk limits its length)
}
_QUICK_CONVERTERS: Final = (None, _identifier, _normalised)

# Ids and names already found to pass ``check_name`` (a chat's id and its agent's come
# back with every command): a set lookup instead of the checks. Bounded (emptied when
# full), and holding strings the records hold anyway: a few bytes a chat at most.
_KNOWN_NAMES: Final[set[str]] = set()
_KNOWN_LIMIT: Final = 512


def _learn(value: str) -> bool:
    """Whether ``value`` (a ``str``) passes ``check_name`` on its fast path; remembered
    if so."""
    if value and value.isprintable() and len(value) <= MAX_NAME_LENGTH and not value.isspace():
        if len(_KNOWN_NAMES) >= _KNOWN_LIMIT:
            _KNOWN_NAMES.clear()
        _KNOWN_NAMES.add(value)
        return True
    return False


_C = TypeVar("_C", bound=Command)


def quick(cls: type[_C]) -> Callable[..., _C]:
    """``cls``'s constructor with positional arguments in field order, generated once: a
    value equal to ``cls(**arguments)``, built without running the validators when every
    argument passes its field's quick check, else ``cls(**arguments)`` itself."""
    found = _QUICK.get(cls)
    if found is not None:
        return found  # type: ignore[return-value]
    fields = attrs.fields(cls)
    text_check = _QUICK_TEXTS.get(cls.__name__)
    if "__attrs_post_init__" in vars(cls) and text_check is None:
        raise TypeError(f"{cls.__name__} has a post-init rule quick() does not know")
    checks = []
    for field in fields:
        if field.converter not in _QUICK_CONVERTERS:
            raise TypeError(f"{cls.__name__}.{field.name} has a converter quick() does not know")
        if field.converter is _normalised:
            if field.validator is not _message_text or text_check is None:
                raise TypeError(f"{cls.__name__}.{field.name} is a text quick() does not know")
            check = text_check
        elif field.validator in _QUICK_CHECKS:
            check = _QUICK_CHECKS[field.validator]
        else:
            raise TypeError(f"{cls.__name__}.{field.name} has a check quick() does not know")
        checks.append(check.format(v=field.name))
    parameters = ", ".join(
        field.name if field.default is attrs.NOTHING else f"{field.name}=default_{field.name}"
        for field in fields
    )
    arguments = ", ".join(f"{field.name}={field.name}" for field in fields)
    source = (
        f"def build({parameters}):\n"
        f"    if {' and '.join(checks)}:\n"
        "        self = new(building)\n"
        + "".join(f"        self.{field.name} = {field.name}\n" for field in fields)
        + "        self.__class__ = cls\n"
        "        return self\n"
        f"    return cls({arguments})\n"
    )
    building = type(
        f"Quick{cls.__name__}",
        (cls,),
        {"__slots__": (), "__setattr__": object.__setattr__, "__delattr__": object.__delattr__},
    )
    namespace: dict[str, Any] = {
        f"default_{field.name}": field.default
        for field in fields
        if field.default is not attrs.NOTHING
    }
    namespace.update(
        new=object.__new__,
        building=building,
        cls=cls,
        nfc=functools.partial(unicodedata.is_normalized, "NFC"),
        known=_KNOWN_NAMES,
        learn=_learn,
        MAX_NAME_LENGTH=MAX_NAME_LENGTH,
        MAX_TEXT_LENGTH=MAX_TEXT_LENGTH,
        MAX_MESSAGE_LENGTH=MAX_MESSAGE_LENGTH,
    )
    exec(compile(source, f"<quick {cls.__qualname__}>", "exec"), namespace)
    build: Callable[..., _C] = namespace["build"]
    _QUICK[cls] = build
    return build


_QUICK: dict[type, Callable[..., Command]] = {}
