"""livechat-core: live chat between website customers and contact-center agents.

A pure core (the agent, conversation and leg state machines, the composer rules, the
masking functions) under a :class:`Desk` service that loads state through a store port,
applies one command atomically, saves it with its events and publishes them through a
transport port. See ``README.md`` and ``docs/`` for a tour.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import (
    _html,  # noqa: F401 - attaches the notebook views to the records
    events,
)
from ._async import AsyncDesk
from ._commands import (
    Accept,
    AddQueue,
    Command,
    CustomerEnd,
    Decline,
    DeleteAsset,
    End,
    EndConference,
    Login,
    Logout,
    RequestConference,
    SendAgentMessage,
    SendCustomerMessage,
    SetAvailable,
    SetIdle,
    StartChat,
    SubmitWrapUp,
    Tick,
    TransferToAgent,
    TransferToQueue,
)
from ._composer import MAX_MESSAGE_LENGTH, compose, fill_template
from ._conversation import replay
from ._core import LongestWaitingFirst, RoutingStrategy
from ._desk import Desk, Offer
from ._errors import (
    AgentBusy,
    AgentStateError,
    AssetDeleted,
    ClockError,
    CommandRefused,
    ComposerError,
    ConcurrencyConflict,
    ConversationExists,
    ConversationStateError,
    EmptyMessage,
    InvalidArgument,
    InvalidTransition,
    LivechatError,
    MachineDefinitionError,
    MessageTooLong,
    MissingTemplateParameter,
    NoPendingOffer,
    NotOwner,
    NotParticipant,
    ReservedCharacter,
    RetriesExhausted,
    SchemaError,
    SettingsMismatch,
    StoreError,
    StoreTimeout,
    TargetUnavailable,
    TransportError,
    UnknownAgent,
    UnknownConversation,
    UnknownQueue,
    UnknownWrapUpReason,
)
from ._events import Event
from ._events import from_record as event_from_record
from ._events import to_record as event_to_record
from ._frames import events_frame
from ._machines import AgentState, ConversationState, LegState
from ._masking import Detector, Finding, MaskingPolicy, find_sensitive, mask_across, mask_text
from ._model import (
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
)
from ._relay import Relay, Worker
from ._report import (
    AgentFigures,
    Figures,
    Interval,
    QueueStats,
    Report,
    Wallboard,
    compute_report,
    compute_wallboard,
)
from ._search import filter_options
from ._simulation import ShiftConfig, ShiftReport, simulate
from ._surfaces import Surfaces, render_surfaces
from .adapters.memory import MemoryStore
from .adapters.sqlite import SqliteStore
from .adapters.transports import CallbackTransport, MemoryTransport

if TYPE_CHECKING:
    from .adapters.postgres import PostgresStore


def __getattr__(name: str) -> object:
    # PostgresStore needs psycopg (the ``postgres`` extra): import it only when asked for.
    if name == "PostgresStore":
        from .adapters.postgres import PostgresStore

        return PostgresStore
    raise AttributeError(f"module 'livechat_core' has no attribute {name!r}")


__version__ = "0.1.0"

__all__ = [
    "MAX_MESSAGE_LENGTH",
    "Accept",
    "AddQueue",
    "Agent",
    "AgentBusy",
    "AgentFigures",
    "AgentState",
    "AgentStateError",
    "AssetDeleted",
    "AsyncDesk",
    "CallbackTransport",
    "ClockError",
    "Command",
    "CommandRefused",
    "ComposerError",
    "ConcurrencyConflict",
    "Conversation",
    "ConversationExists",
    "ConversationState",
    "ConversationStateError",
    "CustomerEnd",
    "Decline",
    "DeleteAsset",
    "Desk",
    "Detector",
    "DisconnectReason",
    "EmptyMessage",
    "End",
    "EndConference",
    "Event",
    "Figures",
    "Finding",
    "Interval",
    "InvalidArgument",
    "InvalidTransition",
    "Leg",
    "LegRole",
    "LegState",
    "LivechatError",
    "Login",
    "Logout",
    "LongestWaitingFirst",
    "MachineDefinitionError",
    "MaskingPolicy",
    "MemoryStore",
    "MemoryTransport",
    "Message",
    "MessageTooLong",
    "MissingTemplateParameter",
    "NoPendingOffer",
    "NotOwner",
    "NotParticipant",
    "Offer",
    "OfferKind",
    "Outcome",
    "PostgresStore",
    "Queue",
    "QueueStats",
    "Relay",
    "Report",
    "RequestConference",
    "ReservedCharacter",
    "RetriesExhausted",
    "Role",
    "RoutingStrategy",
    "SchemaError",
    "SendAgentMessage",
    "SendCustomerMessage",
    "SetAvailable",
    "SetIdle",
    "SettingsMismatch",
    "ShiftConfig",
    "ShiftReport",
    "SqliteStore",
    "StartChat",
    "StoreError",
    "StoreTimeout",
    "SubmitWrapUp",
    "Surfaces",
    "TargetUnavailable",
    "Tick",
    "TransferToAgent",
    "TransferToQueue",
    "TransportError",
    "UnknownAgent",
    "UnknownConversation",
    "UnknownQueue",
    "UnknownWrapUpReason",
    "Wallboard",
    "Worker",
    "__version__",
    "compose",
    "compute_report",
    "compute_wallboard",
    "event_from_record",
    "event_to_record",
    "events",
    "events_frame",
    "fill_template",
    "filter_options",
    "find_sensitive",
    "mask_across",
    "mask_text",
    "render_surfaces",
    "replay",
    "simulate",
]
