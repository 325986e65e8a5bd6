"""Commands: every change to the desk is one of these frozen values.

Commands validate on construction, so an invalid command cannot exist: an empty id, a
capacity below one or a negative timeout raise :class:`InvalidArgument` before the desk
sees anything. Whether the *state* allows a command is the desk's decision
(``Desk.handle``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import attrs

from ._composer import compose, normalise
from ._errors import ComposerError, EmptyMessage, InvalidArgument
from ._model import Agent, Conversation, Queue


def _text(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, str) or not value.strip():
        raise InvalidArgument(f"{attribute.name} must be a non-empty string, not {value!r}")


def _optional_text(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None:
        _text(instance, attribute, value)


def _string(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, str):
        raise InvalidArgument(f"{attribute.name} must be a string, not {value!r}")


def _flag(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, bool):
        raise InvalidArgument(f"{attribute.name} must be True or False, not {value!r}")


def _seconds(value: Any, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidArgument(f"{name} must be a number of seconds, not {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise InvalidArgument(f"{name} must be a positive, finite number of seconds")


def _timeout(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    _seconds(value, attribute.name)


def _optional_timeout(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None:
        _seconds(value, attribute.name)


def _identifier(value: Any) -> Any:
    """An id or name, also when given the view it names (an agent picked from
    ``available_agents``, a queue from ``queues``, a conversation view)."""
    if isinstance(value, Agent | Conversation):
        return value.id
    if isinstance(value, Queue):
        return value.name
    return value


def _names(value: Any) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise InvalidArgument(f"expected a list of names, not {value!r}")
    names = tuple(_identifier(name) for name in value)
    for name in names:
        if not isinstance(name, str) or not name.strip():
            raise InvalidArgument(f"every name must be a non-empty string, not {name!r}")
    if len(set(names)) != len(names):
        raise InvalidArgument(f"names must not repeat: {names!r}")
    return names


def _non_empty(instance: Any, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    if not value:
        raise InvalidArgument(f"{attribute.name} must not be empty")


def _message_text(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, str):
        raise InvalidArgument(f"a message must be a string, not {value!r}")


def _customer_text(text: str) -> str:
    if not text.strip():
        raise EmptyMessage("an empty message cannot be sent")
    return text


def _normalised(value: Any) -> Any:
    """A message's text as the composer sends it (NFC, ``\n`` line ends); the validator
    refuses anything that is not a string."""
    return normalise(value) if isinstance(value, str) else value


def _check_composed(command: SendAgentMessage | SendCustomerMessage, rule: Any) -> None:
    """Check the (normalised) text against a composer rule; a refusal names the
    conversation and carries the refused command, like every other refusal (SPEC
    section 3). The text was normalised on the way in, so the rule changes nothing."""
    try:
        rule(command.text)
    except ComposerError as error:
        error.aggregate_id = command.conversation_id
        error.command = command
        raise


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidArgument(f"expected a finite number of POSIX seconds, not {value!r}")
    return float(value)


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
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidArgument(f"capacity must be a whole number of at least 1, not {value!r}")


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
    customer_name: str = attrs.field(validator=_text)
    customer_contact: str = attrs.field(validator=_string)
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
        _check_composed(self, compose)


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
    notes: str = attrs.field(default="", validator=_string)


@attrs.frozen(kw_only=True)
class Tick(Command):
    """Fire every deadline that expired at or before ``now``."""

    now: float = attrs.field(converter=_number)
