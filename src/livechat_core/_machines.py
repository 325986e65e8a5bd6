"""The three state machines, each declared once from one literal table.

Theory of operation
-------------------
Each table below is the whole truth of its machine: rows of ``(trigger, sources, dest)``
read top to bottom. At import, each table is declared to ``transitions`` as one
:class:`transitions.Machine` (``auto_transitions=False``, invalid triggers never ignored)
which checks the declaration. The hot path never runs that ``Machine``: creating one per
agent or conversation would cost tens of kilobytes and half a millisecond each, and every
model it decorates becomes a reference cycle. Instead :class:`StateMachine` derives a
plain ``{(state, trigger): dest}`` dictionary from the declared machine, and
``tests/test_machines.py`` proves that dictionary and the ``Machine`` agree on every
``(state, trigger)`` pair. The Mermaid diagrams in ``docs/`` are generated from the same
declaration (:func:`mermaid`) and a test fails when they are stale.

Which trigger fires is decided by the desk (``_core.py``); a table only says whether the
trigger is allowed in the current state and where it leads. A missing pair raises
:class:`InvalidTransition` naming the machine, the state and the trigger.
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


class AgentState(enum.StrEnum):
    """States of an agent (SPEC section 2)."""

    LOGGED_OUT = "logged_out"
    IDLE = "idle"
    AVAILABLE = "available"
    RONA = "rona"


class ConversationState(enum.StrEnum):
    """States of a conversation, the task routed to agents (SPEC section 2)."""

    QUEUED = "queued"
    OFFERED = "offered"
    ACTIVE = "active"
    TRANSFER_REQUESTED = "transfer_requested"
    CONFERENCE_REQUESTED = "conference_requested"
    CONFERENCING = "conferencing"
    DISCONNECTED = "disconnected"
    WRAP_UP = "wrap_up"
    CLOSED = "closed"


class LegState(enum.StrEnum):
    """States of one agent's participation in a conversation (a reservation)."""

    OFFERED = "offered"
    ACTIVE = "active"
    WRAPPING_UP = "wrapping_up"
    DONE = "done"
    DECLINED = "declined"
    TIMED_OUT = "timed_out"
    RESCINDED = "rescinded"


Row = tuple[str, str | Sequence[str], str]

_A = AgentState
AGENT_TABLE: Final[tuple[Row, ...]] = (
    # trigger          sources                              dest
    ("login",          _A.LOGGED_OUT,                       _A.IDLE),
    ("set_available",  (_A.IDLE, _A.RONA, _A.AVAILABLE),    _A.AVAILABLE),
    ("set_idle",       (_A.AVAILABLE, _A.RONA, _A.IDLE),    _A.IDLE),
    ("miss_offer",     (_A.AVAILABLE, _A.RONA),             _A.RONA),
    ("logout",         (_A.IDLE, _A.AVAILABLE, _A.RONA),    _A.LOGGED_OUT),
)  # fmt: skip

_C = ConversationState
_HELD = (_C.ACTIVE, _C.CONFERENCE_REQUESTED, _C.CONFERENCING)
_UNHELD = (_C.QUEUED, _C.OFFERED, _C.TRANSFER_REQUESTED)
CONVERSATION_TABLE: Final[tuple[Row, ...]] = (
    # trigger               sources                                   dest
    ("offer",               _C.QUEUED,                                _C.OFFERED),
    ("accept",              _C.OFFERED,                               _C.ACTIVE),
    ("requeue",             _C.OFFERED,                               _C.QUEUED),
    ("transfer_to_agent",   _C.ACTIVE,                                _C.TRANSFER_REQUESTED),
    ("accept",              _C.TRANSFER_REQUESTED,                    _C.ACTIVE),
    ("requeue",             _C.TRANSFER_REQUESTED,                    _C.QUEUED),
    ("transfer_to_queue",   _C.ACTIVE,                                _C.QUEUED),
    ("request_conference",  _C.ACTIVE,                                _C.CONFERENCE_REQUESTED),
    ("accept",              _C.CONFERENCE_REQUESTED,                  _C.CONFERENCING),
    ("cancel_conference",   _C.CONFERENCE_REQUESTED,                  _C.ACTIVE),
    ("release_guest",       _C.CONFERENCING,                          _C.ACTIVE),
    ("release_guest",       _C.DISCONNECTED,                          _C.DISCONNECTED),
    ("disconnect",          _HELD,                                    _C.DISCONNECTED),
    ("end",                 (*_HELD, _C.DISCONNECTED),                _C.WRAP_UP),
    ("wrap_up",             _UNHELD,                                  _C.WRAP_UP),
    ("close",               (*_UNHELD, _C.WRAP_UP),                   _C.CLOSED),
)  # fmt: skip

_L = LegState
LEG_TABLE: Final[tuple[Row, ...]] = (
    # trigger          sources           dest
    ("accept",         _L.OFFERED,       _L.ACTIVE),
    ("decline",        _L.OFFERED,       _L.DECLINED),
    ("expire",         _L.OFFERED,       _L.TIMED_OUT),
    ("rescind",        _L.OFFERED,       _L.RESCINDED),
    ("wrap_up",        _L.ACTIVE,        _L.WRAPPING_UP),
    ("submit_wrap_up", _L.WRAPPING_UP,   _L.DONE),
)  # fmt: skip


S = TypeVar("S", bound=enum.StrEnum)


class StateMachine(Generic[S]):
    """One declared machine and the lookup table derived from it.

    Attributes:
        name: ``"agent"``, ``"conversation"`` or ``"leg"``.
        states: the state enum.
        declaration: the :class:`transitions.Machine` built from the table (no model).
        table: the literal rows the machine was declared from.
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
        # keys are (state, trigger); values are the enum members, so callers get a state
        self._next: dict[tuple[str, str], S] = {}
        for trigger, event in self.declaration.events.items():
            for source, transitions in event.transitions.items():
                if len(transitions) != 1:
                    raise MachineDefinitionError(
                        f"{name}: {trigger!r} from {source!r} is ambiguous",
                        aggregate_id=name,
                    )
                self._next[(source, trigger)] = states(str(transitions[0].dest))
        self.triggers: tuple[str, ...] = tuple(self.declaration.events)

    def next_state(self, state: str, trigger: str, *, aggregate_id: str | None = None) -> S:
        """Where ``trigger`` leads from ``state``; raises when the table has no such row."""
        try:
            return self._next[(state, trigger)]
        except KeyError:
            raise self._error(
                f"{self.name} {aggregate_id or ''} cannot {trigger.replace('_', ' ')} "
                f"while {state}".replace("  ", " "),
                machine=self.name,
                trigger=trigger,
                state=state,
                aggregate_id=aggregate_id,
            ) from None

    def allows(self, state: str, trigger: str) -> bool:
        """Whether the table has a row for ``trigger`` from ``state``."""
        return (state, trigger) in self._next

    def pairs(self) -> Iterator[tuple[str, str, str | None]]:
        """Every ``(state, trigger, dest or None)`` pair, in declaration order."""
        for state in self.states:
            for trigger in self.triggers:
                yield state.value, trigger, self._next.get((state.value, trigger))


def declare(states: type[enum.StrEnum], table: Sequence[Row], initial: enum.StrEnum) -> Machine:
    """Declare one table to ``transitions`` as a model-less machine (checks the table)."""
    names = [state.value for state in states]
    rows = []
    for trigger, sources, dest in table:
        source_list = [sources] if isinstance(sources, str) else list(sources)
        for state in (*source_list, dest):
            if state not in names:
                raise MachineDefinitionError(f"unknown state {state!r} in row {trigger!r}")
        rows.append(
            {"trigger": trigger, "source": [str(s) for s in source_list], "dest": str(dest)}
        )
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
    for trigger, sources, dest in machine.table:
        for source in [sources] if isinstance(sources, str) else sources:
            lines.append(f"    {source} --> {dest}: {trigger}")
    terminal = {s.value for s in machine.states} - {
        str(source) for _, sources, _ in machine.table for source in _as_tuple(sources)
    }
    lines.extend(f"    {state} --> [*]" for state in sorted(terminal))
    return "\n".join(lines) + "\n"


def _as_tuple(sources: str | Sequence[str]) -> tuple[str, ...]:
    return (sources,) if isinstance(sources, str) else tuple(sources)


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
