"""The three state machines, each the one literal table that drives it.

Theory of operation
-------------------
A command becomes events (``_core.py`` decides which); an event moves machines. Each
table below maps ``(state, input)`` to ``(next state, effect)``, in the shape of h2's
``_transitions`` and h11's event-triggered tables. An *input* is the type name of the
event (``"OfferAccepted"``), refined by its author where the author decides what is
allowed (``"MessagePosted[guest]"``), or, for the one state-triggered rule, the name of a
condition (``all_wrapped_up``) checked after every event, as h11 does after each event.
The *effect* names what the step does to the record besides its state; its code lives
beside the record (``_conversation.py`` for conversations, ``_core.py`` for the agent
records that legs hold). Nothing else decides whether a step is allowed: a pair missing
from a table is refused by :meth:`StateMachine.step`, the one lookup, with an error naming
the command, the input, the aggregate and its state; a refused command changes nothing.

:data:`COMMANDS` is the one vocabulary from commands to the inputs they may emit, and
the state groups (:data:`HELD`, :data:`CUSTOMER_PRESENT`, ...) are declared here once and
imported wherever a state is tested.

At import, each table is declared to ``transitions`` as one :class:`transitions.Machine`
(``auto_transitions=False``, invalid triggers never ignored), which checks it. The hot
path never runs that ``Machine``: creating one per agent or conversation costs tens of
kilobytes and a tenth of a millisecond, and every model it decorates becomes a reference
cycle. Instead :class:`StateMachine` derives a plain ``{(state, input): (next, effect)}``
dictionary from the declared machine, and ``tests/test_machines.py`` proves both agree on
every pair. The Mermaid diagrams in ``docs/`` are generated from the same declaration
(:func:`mermaid`) and a test fails when they are stale.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from typing import Any, Final, Generic, TypeVar

from transitions import Machine

from ._errors import (
    AgentStateError,
    ConversationStateError,
    InvalidTransition,
    MachineDefinitionError,
)
from ._states import AgentState, ConversationState, LegState

__all__ = [
    "AGENT_MACHINE",
    "AGENT_TABLE",
    "ALL_WRAPPED_UP",
    "COMMANDS",
    "CONFERENCE",
    "CONVERSATION_MACHINE",
    "CONVERSATION_TABLE",
    "CUSTOMER_PRESENT",
    "HELD",
    "HOLDING_LEGS",
    "IN_QUEUE",
    "LEG_MACHINE",
    "LEG_TABLE",
    "LOGGED_IN",
    "MACHINES",
    "OPEN",
    "OWNED",
    "WAITING",
    "AgentState",
    "ConversationState",
    "LegState",
    "StateMachine",
    "mermaid",
]

_A = AgentState
_C = ConversationState
_L = LegState

# --- state groups: declared once, imported wherever a state is tested ---------------------

LOGGED_IN: Final = frozenset({_A.IDLE, _A.AVAILABLE, _A.RONA})
"""Agent states of a logged-in agent."""

WAITING: Final = frozenset({_C.QUEUED, _C.OFFERED, _C.TRANSFER_REQUESTED})
"""Conversation states in which no agent holds the chat: it waits for one."""

IN_QUEUE: Final = frozenset({_C.QUEUED, _C.OFFERED})
"""Conversation states in which its queue owns it: no agent accepted it there yet."""

HELD: Final = frozenset({_C.ACTIVE, _C.CONFERENCE_REQUESTED, _C.CONFERENCING})
"""Conversation states in which an owner holds the chat with the customer present."""

CONFERENCE: Final = frozenset({_C.CONFERENCE_REQUESTED, _C.CONFERENCING})
"""Conversation states in which a conference is asked for or under way."""

CUSTOMER_PRESENT: Final = WAITING | HELD
"""Conversation states in which the customer is still in the chat."""

OWNED: Final = HELD | {_C.DISCONNECTED}
"""Conversation states with an owner who accepted it (the desktop's timer runs)."""

OPEN: Final = frozenset(ConversationState) - {_C.CLOSED}
"""Conversation states before closing."""

HOLDING_LEGS: Final = frozenset({_L.OFFERED, _L.ACTIVE})
"""Leg states that count against the agent's capacity (the agent *holds* the chat)."""

ALL_WRAPPED_UP: Final = "all_wrapped_up"
"""The state-triggered input: fires after any event that leaves no leg wrapping up."""

# --- the tables ---------------------------------------------------------------------------

Sources = enum.StrEnum | frozenset[Any] | tuple[enum.StrEnum, ...]
Row = tuple[Sources, str, enum.StrEnum | None, str]
"""``(source state or states, input, next state or None to stay, effect)``."""

AGENT_TABLE: Final[tuple[Row, ...]] = (
    # sources                  input               next             effect
    (_A.LOGGED_OUT,            "AgentLoggedIn",    _A.IDLE,         "log_in"),
    ((_A.IDLE, _A.RONA),       "AgentAvailable",   _A.AVAILABLE,    "become_available"),
    (LOGGED_IN,                "AgentIdle",        _A.IDLE,         "go_idle"),
    ((_A.AVAILABLE, _A.RONA),  "AgentRona",        _A.RONA,         "miss_offer"),
    (LOGGED_IN,                "AgentLoggedOut",   _A.LOGGED_OUT,   "log_out"),
)  # fmt: skip

CONVERSATION_TABLE: Final[tuple[Row, ...]] = (
    # sources                 input                      next                     effect
    (_C.QUEUED,               "ChatOffered",             _C.OFFERED,              "offer_chat"),
    (_C.OFFERED,              "OfferAccepted",           _C.ACTIVE,               "take_ownership"),
    (_C.OFFERED,              "OfferDeclined",           _C.QUEUED,               "requeue_declined"),
    (_C.OFFERED,              "OfferTimedOut",           _C.QUEUED,               "requeue"),
    (_C.OFFERED,              "OfferRescinded",          _C.QUEUED,               "requeue"),
    (_C.ACTIVE,               "TransferRequested",       _C.TRANSFER_REQUESTED,   "offer_transfer"),
    (_C.TRANSFER_REQUESTED,   "OfferAccepted",           _C.ACTIVE,               "take_ownership"),
    (_C.TRANSFER_REQUESTED,   "OfferDeclined",           _C.QUEUED,               "return_declined_transfer"),
    (_C.TRANSFER_REQUESTED,   "OfferTimedOut",           _C.QUEUED,               "return_transfer"),
    (_C.TRANSFER_REQUESTED,   "OfferRescinded",          _C.QUEUED,               "return_transfer"),
    (_C.ACTIVE,               "TransferredToQueue",      _C.QUEUED,               "hand_to_queue"),
    (_C.ACTIVE,               "ConferenceRequested",     _C.CONFERENCE_REQUESTED, "invite_guest"),
    (_C.CONFERENCE_REQUESTED, "OfferAccepted",           _C.CONFERENCING,         "join_as_guest"),
    (_C.CONFERENCE_REQUESTED, "OfferDeclined",           _C.ACTIVE,               "withdraw_invitation"),
    (_C.CONFERENCE_REQUESTED, "OfferTimedOut",           _C.ACTIVE,               "withdraw_invitation"),
    (_C.CONFERENCE_REQUESTED, "OfferRescinded",          _C.ACTIVE,               "withdraw_invitation"),
    (_C.CONFERENCING,         "GuestReleased[by owner]", _C.ACTIVE,               "release_guest"),
    (_C.CONFERENCING,         "GuestReleased[by guest]", _C.ACTIVE,               "release_guest"),
    (_C.DISCONNECTED,         "GuestReleased[by guest]", None,                    "release_guest"),
    (HELD,                    "CustomerEnded",           _C.DISCONNECTED,         "disconnect"),
    (HELD,                    "ChatInterrupted",         _C.DISCONNECTED,         "disconnect"),
    (WAITING,                 "CustomerEnded",           _C.WRAP_UP,              "leave_waiting"),
    (WAITING,                 "ChatInterrupted",         _C.WRAP_UP,              "leave_waiting"),
    (OWNED,                   "ChatEnded",               _C.WRAP_UP,              "end_chat"),
    (OPEN,                    "WrapUpSubmitted",         None,                    "submit_wrap_up"),
    (CUSTOMER_PRESENT,        "MessagePosted[customer]", None,                    "post"),
    (HELD,                    "MessagePosted[owner]",    None,                    "post"),
    (_C.CONFERENCING,         "MessagePosted[guest]",    None,                    "post"),
    (OPEN,                    "MessagePosted[system]",   None,                    "post"),
    (OPEN,                    "MessagesRedacted",        None,                    "redact"),
    # state-triggered: the last wrap-up (or a customer leaving an unheld chat) closes it
    (_C.WRAP_UP,              ALL_WRAPPED_UP,            _C.CLOSED,               "close"),
)  # fmt: skip

LEG_TABLE: Final[tuple[Row, ...]] = (
    # sources          input                   next               effect on the agent
    (_L.OFFERED,       "OfferAccepted",        _L.ACTIVE,         "keep"),
    (_L.OFFERED,       "OfferDeclined",        _L.DECLINED,       "release"),
    (_L.OFFERED,       "OfferTimedOut",        _L.TIMED_OUT,      "release"),
    (_L.OFFERED,       "OfferRescinded",       _L.RESCINDED,      "release"),
    (_L.OFFERED,       "CustomerEnded",        _L.RESCINDED,      "release"),
    (_L.OFFERED,       "ChatInterrupted",      _L.RESCINDED,      "release"),
    (_L.OFFERED,       "ChatEnded",            _L.RESCINDED,      "release"),
    (_L.ACTIVE,        "TransferRequested",    _L.WRAPPING_UP,    "start_wrapping"),
    (_L.ACTIVE,        "TransferredToQueue",   _L.WRAPPING_UP,    "start_wrapping"),
    (_L.ACTIVE,        "GuestReleased",        _L.WRAPPING_UP,    "start_wrapping"),
    (_L.ACTIVE,        "ChatEnded",            _L.WRAPPING_UP,    "start_wrapping"),
    (_L.WRAPPING_UP,   "WrapUpSubmitted",      _L.DONE,           "finish_wrapping"),
)  # fmt: skip
"""A leg is born ``offered`` by an offer (its agent starts holding the chat: ``hold``)."""

COMMANDS: Final[dict[str, tuple[str, ...]]] = {
    # command                the inputs its decision may emit, the one it is named after first
    "Login":                 ("AgentLoggedIn",),
    "Logout":                ("AgentLoggedOut",),
    "SetAvailable":          ("AgentAvailable",),
    "SetIdle":               ("AgentIdle", "OfferRescinded"),
    "StartChat":             ("ChatStarted",),
    "Accept":                ("OfferAccepted", "MessagePosted[system]"),
    "Decline":               ("OfferDeclined",),
    "SendAgentMessage":      ("MessagePosted[owner]", "MessagePosted[guest]"),
    "SendCustomerMessage":   ("MessagePosted[customer]", "MessagesRedacted"),
    "TransferToAgent":       ("TransferRequested",),
    "TransferToQueue":       ("TransferredToQueue",),
    "RequestConference":     ("ConferenceRequested",),
    "EndConference":         ("GuestReleased[by owner]", "GuestReleased[by guest]",
                              "OfferRescinded", "MessagePosted[system]"),
    "CustomerEnd":           ("CustomerEnded", "MessagePosted[system]"),
    "DeleteAsset":           ("ChatInterrupted", "MessagePosted[system]"),
    "End":                   ("ChatEnded",),
    "SubmitWrapUp":          ("WrapUpSubmitted",),
    "Tick":                  ("OfferTimedOut", "AgentRona", "WrapUpSubmitted"),
    # routing, after any command that queued a chat or gave an agent room
    "(routing)":             ("ChatOffered",),
}  # fmt: skip
"""Which inputs each command's decision may emit. ``ChatStarted`` creates a conversation
(``queued``); the first ``Login`` of an agent creates them ``logged_out`` first."""


S = TypeVar("S", bound=enum.StrEnum)


class StateMachine(Generic[S]):
    """One declared table and the lookup derived from it.

    Attributes:
        name: ``"agent"``, ``"conversation"`` or ``"leg"``.
        states: the state enum.
        table: the literal rows the machine was declared from.
        declaration: the :class:`transitions.Machine` built from the table (no model).
        inputs: every input of the table, in declaration order.
        effects: ``{(state, input): effect}`` for every pair the table has.
    """

    def __init__(
        self,
        name: str,
        states: type[S],
        table: Sequence[Row],
        initial: S,
        error: type[InvalidTransition] = InvalidTransition,
    ) -> None:
        self.name = name
        self.states = states
        self.table = tuple(table)
        self.initial = initial
        self._error = error
        self.declaration = declare(states, self.table, initial)
        self.effects: dict[tuple[str, str], str] = {}
        for sources, input_, _, effect in self.table:
            for source in _as_tuple(sources):
                if (source, input_) in self.effects:
                    raise MachineDefinitionError(
                        f"{name}: two rows for {input_!r} from {source!r}", aggregate_id=name
                    )
                self.effects[(source, input_)] = effect
        # the lookup: (state, input) -> (next state, effect), the next state as declared
        self._steps: dict[tuple[str, str], tuple[S, str]] = {}
        for input_, event in self.declaration.events.items():
            for source, transitions in event.transitions.items():
                if len(transitions) != 1:
                    raise MachineDefinitionError(
                        f"{name}: {input_!r} from {source!r} is ambiguous", aggregate_id=name
                    )
                dest = states(str(transitions[0].dest))
                self._steps[(source, input_)] = (dest, self.effects[(source, input_)])
        self.inputs: tuple[str, ...] = tuple(self.declaration.events)

    @property
    def triggers(self) -> tuple[str, ...]:
        """The inputs, under the name ``transitions`` gives them."""
        return self.inputs

    def step(
        self,
        state: str,
        input_: str,
        *,
        aggregate_id: str | None = None,
        command: object | None = None,
    ) -> tuple[S, str]:
        """``(next state, effect)`` for ``input_`` in ``state``: the one lookup.

        Raises the machine's :class:`InvalidTransition` subclass, naming the command (if
        any), the input, the aggregate and its state, when the table has no such row.
        """
        try:
            return self._steps[(state, input_)]
        except KeyError:
            raise self.refusal(state, input_, aggregate_id=aggregate_id, command=command) from None

    def next_state(
        self,
        state: str,
        input_: str,
        *,
        aggregate_id: str | None = None,
        command: object | None = None,
    ) -> S:
        """Where ``input_`` leads from ``state``; raises when the table has no such row."""
        return self.step(state, input_, aggregate_id=aggregate_id, command=command)[0]

    def refusal(
        self,
        state: str,
        input_: str,
        *,
        aggregate_id: str | None = None,
        command: object | None = None,
    ) -> InvalidTransition:
        """The error for a pair the table lacks (see :meth:`step`)."""
        subject = f"{self.name} {aggregate_id}" if aggregate_id else self.name
        asked = f"{type(command).__name__} ({input_})" if command is not None else input_
        return self._error(
            f"{asked} refused: {subject} is {state}",
            machine=self.name,
            trigger=input_,
            state=state,
            aggregate_id=aggregate_id,
            command=command,
        )

    def step_table(self) -> dict[tuple[str, str], tuple[S, str]]:
        """A copy of the derived lookup: ``{(state, input): (next state, effect)}``."""
        return dict(self._steps)

    def allows(self, state: str, input_: str) -> bool:
        """Whether the table has a row for ``input_`` from ``state``."""
        return (state, input_) in self._steps

    def pairs(self) -> Iterator[tuple[str, str, str | None]]:
        """Every ``(state, input, next state or None)`` pair, in declaration order."""
        for state in self.states:
            for input_ in self.inputs:
                found = self._steps.get((state.value, input_))
                yield state.value, input_, None if found is None else found[0]


def _as_tuple(sources: Sources) -> tuple[str, ...]:
    if isinstance(sources, enum.Enum):
        return (str(sources),)
    if isinstance(sources, frozenset):
        return tuple(sorted(str(source) for source in sources))
    return tuple(str(source) for source in sources)


def declare(states: type[enum.StrEnum], table: Sequence[Row], initial: enum.StrEnum) -> Machine:
    """Declare one table to ``transitions`` as a model-less machine (checks the table)."""
    names = [state.value for state in states]
    rows = []
    for sources, input_, dest, _ in table:
        for source in _as_tuple(sources):
            target = source if dest is None else str(dest)
            for state in (source, target):
                if state not in names:
                    raise MachineDefinitionError(f"unknown state {state!r} in row {input_!r}")
            rows.append({"trigger": input_, "source": source, "dest": target})
    return Machine(
        model=None,
        states=names,
        transitions=rows,
        initial=initial.value,
        auto_transitions=False,
        ignore_invalid_triggers=False,
    )


def mermaid(machine: StateMachine[Any]) -> str:
    """A Mermaid ``stateDiagram-v2`` of the machine, generated from its declaration."""
    lines = ["stateDiagram-v2", f"    [*] --> {machine.initial.value}"]
    for input_, event in machine.declaration.events.items():
        for source, transitions in event.transitions.items():
            for transition in transitions:
                lines.append(f"    {source} --> {transition.dest}: {input_}")
    leaving = {source for source, _, dest in machine.pairs() if dest not in (None, source)}
    terminal = {s.value for s in machine.states} - leaving
    lines.extend(f"    {state} --> [*]" for state in sorted(terminal))
    return "\n".join(lines) + "\n"


AGENT_MACHINE: Final = StateMachine(
    "agent", AgentState, AGENT_TABLE, AgentState.LOGGED_OUT, AgentStateError
)
CONVERSATION_MACHINE: Final = StateMachine(
    "conversation",
    ConversationState,
    CONVERSATION_TABLE,
    ConversationState.QUEUED,
    ConversationStateError,
)
LEG_MACHINE: Final = StateMachine("leg", LegState, LEG_TABLE, LegState.OFFERED)

MACHINES: Final[dict[str, StateMachine[Any]]] = {
    m.name: m for m in (AGENT_MACHINE, CONVERSATION_MACHINE, LEG_MACHINE)
}
