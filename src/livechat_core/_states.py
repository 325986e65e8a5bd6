"""The states of the three machines (SPEC section 2), apart so every module can name them.

The records (``_model``) and the events need the state names, and the tables in
``_machines.py`` need the events; keeping the names here breaks that circle. Everything
else about the machines (groups, tables, lookups) lives in ``_machines.py``, which
re-exports these enums.
"""

from __future__ import annotations

import enum


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
