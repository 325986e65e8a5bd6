"""Every error the library raises on purpose.

Errors are data: each class carries a stable, machine-readable ``code`` that callers may
branch on, and refusals carry the aggregate they concern, its state and the command that
was refused. ``docs/errors.md`` lists every code; a test keeps that page honest.

Two families are kept apart:

* refusals (:class:`CommandRefused` and its subclasses): a well-formed command that the
  current state does not allow; nothing changed;
* definition and infrastructure errors (:class:`MachineDefinitionError`,
  :class:`StoreError` and its subclasses): the library or its storage is misconfigured.
"""

from __future__ import annotations

from typing import Any


class LivechatError(Exception):
    """Base of every error ``livechat_core`` raises on purpose.

    Attributes:
        code: stable machine-readable identifier of the error kind.
        aggregate_id: the agent, conversation, queue or asset concerned, if any.
        state: the state of that aggregate when the error was raised, if any.
        command: the command that was refused, if any.
    """

    code: str = "livechat_error"

    def __init__(
        self,
        message: str,
        *,
        aggregate_id: str | None = None,
        state: str | None = None,
        command: object | None = None,
        **details: Any,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.aggregate_id = aggregate_id
        self.state = state
        self.command = command
        self.details = details

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}"

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only details must survive pickling (multiprocessing workers re-raise them).
        return (
            _rebuild_error,
            (
                type(self),
                self.message,
                self.aggregate_id,
                self.state,
                self.command,
                self.details,
            ),
        )


def _rebuild_error(
    cls: type[LivechatError],
    message: str,
    aggregate_id: str | None,
    state: str | None,
    command: object | None,
    details: dict[str, Any],
) -> LivechatError:
    error = cls.__new__(cls)
    LivechatError.__init__(
        error, message, aggregate_id=aggregate_id, state=state, command=command, **details
    )
    return error


class InvalidArgument(LivechatError, TypeError, ValueError):
    """A value that can never be valid: a wrong type, an empty id, a control character
    in a name, a negative timeout, a capacity below one. It is also a ``TypeError`` and
    a ``ValueError``, so code written against the standard library's conventions
    catches it either way. ``details["field"]`` names the argument when known."""

    code = "invalid_argument"


class ClockError(LivechatError):
    """The desk's clock raised, or returned something other than a finite number of
    POSIX seconds; the command was not applied. The clock's exception, if any, is
    chained as ``__cause__``."""

    code = "clock_error"


class SettingsMismatch(LivechatError):
    """A desk was opened on a store whose recorded settings (PCI at rest, the masked
    kinds, the locale) differ from its own: desks sharing a store must agree on what
    is stored. ``details["stored"]`` and ``details["own"]`` hold both; open the desk
    with ``adopt_stored_settings=True`` to take the store's."""

    code = "settings_mismatch"


class MachineDefinitionError(LivechatError):
    """A state-machine table is inconsistent (a bug in the library, found at import)."""

    code = "machine_definition"


# --- refusals ---------------------------------------------------------------------------


class CommandRefused(LivechatError):
    """A well-formed command that the current state does not allow. Nothing changed."""

    code = "command_refused"


class UnknownQueue(CommandRefused):
    """The command names a queue that was never added."""

    code = "unknown_queue"


class UnknownAgent(CommandRefused):
    """The command names an agent that never logged in."""

    code = "unknown_agent"


class UnknownConversation(CommandRefused):
    """The command names a conversation that does not exist."""

    code = "unknown_conversation"


class UnknownWrapUpReason(CommandRefused):
    """The wrap-up reason is not in the list of the leg's queue."""

    code = "unknown_wrap_up_reason"


class InvalidTransition(CommandRefused):
    """The machine has no such transition from the current state.

    Attributes:
        machine: ``"agent"``, ``"conversation"`` or ``"leg"``.
        trigger: the transition that was asked for.
    """

    code = "invalid_transition"

    def __init__(self, message: str, *, machine: str, trigger: str, **kwargs: Any) -> None:
        super().__init__(message, machine=machine, trigger=trigger, **kwargs)
        self.machine = machine
        self.trigger = trigger


class AgentStateError(InvalidTransition):
    """The agent's state does not allow the command (e.g. login when logged in)."""

    code = "agent_state"


class ConversationStateError(InvalidTransition):
    """The conversation's state does not allow the command (e.g. transfer before accepting)."""

    code = "conversation_state"


class NotParticipant(CommandRefused):
    """The agent has no leg in the conversation that allows the command."""

    code = "not_participant"


class NotOwner(CommandRefused):
    """Only the conversation's owner may do this (transfer, conference, end)."""

    code = "not_owner"


class NoPendingOffer(CommandRefused):
    """Accept or decline without an offer to that agent for that conversation."""

    code = "no_pending_offer"


class TargetUnavailable(CommandRefused):
    """A transfer or conference target is not another available agent with free capacity."""

    code = "target_unavailable"


class AgentBusy(CommandRefused):
    """Logout refused: the agent still holds an offered, active or wrapping-up leg."""

    code = "agent_busy"


class AssetDeleted(CommandRefused):
    """The conversation's asset (its chat entry point) was deleted by an administrator."""

    code = "asset_deleted"


class ConversationExists(CommandRefused):
    """A conversation id was used twice."""

    code = "conversation_exists"


class ComposerError(CommandRefused):
    """An agent message breaks a composer rule (SPEC section 5)."""

    code = "composer_error"


class EmptyMessage(ComposerError):
    """An empty or whitespace-only message."""

    code = "empty_message"


class MessageTooLong(ComposerError):
    """More than the composer's limit of code points after normalisation."""

    code = "message_too_long"


class ReservedCharacter(ComposerError):
    """``<`` or ``>`` in an agent message; ``position`` is its index in the normalised text."""

    code = "reserved_character"

    def __init__(self, message: str, *, position: int, character: str, **kwargs: Any) -> None:
        super().__init__(message, position=position, character=character, **kwargs)
        self.position = position
        self.character = character


class MissingTemplateParameter(ComposerError):
    """A ``<name>`` placeholder of a template has no value in the mapping."""

    code = "missing_template_parameter"


# --- storage ----------------------------------------------------------------------------


class StoreError(LivechatError):
    """The store failed; the driver's own exception is chained as ``__cause__``."""

    code = "store_error"


class ConcurrencyConflict(StoreError):
    """A write carried a stale version: another writer changed the record first."""

    code = "concurrency_conflict"


class RetriesExhausted(StoreError):
    """A command lost the race for its records more times than the desk retries."""

    code = "retries_exhausted"


class StoreTimeout(StoreError):
    """The store did not answer in time: a lock held by another writer for too long, a
    statement that ran past the store's timeout, a server that stopped answering. The
    command was not applied, except when the answer to a PostgreSQL ``COMMIT`` itself
    was lost, which no client can tell apart; the connection is reopened on next use."""

    code = "store_timeout"


class TransportError(LivechatError):
    """The transport failed to publish; the events stay in the store's outbox and the
    next relay sends them again. The transport's own exception is chained as
    ``__cause__``. A command never raises it: its change is committed, the failure logged."""

    code = "transport_error"


class SchemaError(StoreError):
    """The database is foreign, corrupt, missing a table or newer than this library."""

    code = "schema_error"
