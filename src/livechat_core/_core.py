"""The desk's decisions: one command in, the changes and events out. Pure.

:func:`decide` reads what a command needs through a :class:`Reader` (the committed state),
and a decision only chooses which events the command emits. Every event goes through the
one lookup of its machine's table (``_machines.py``): a conversation event through
:func:`._conversation.apply_to`, an agent event through :meth:`Unit.agent_step`, leg steps
inside the conversation's effects. A pair the table lacks refuses the command, naming it,
the aggregate and its state; nothing is saved then. The checks left here are about *who*
asks (the owner, a participant, an available target), never about which state allows what.

Each record a command changes is built once: conversations are changed as mutable
:class:`~._conversation.Draft` copies and frozen when the command is decided; an agent is
rebuilt only when a leg step or an agent event changes them (the leg table names how).
Routing (SPEC section 7) runs only when the command queued a conversation or gave an
available agent room, and only in those queues.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Any, Final, Protocol, TypeVar

import attrs

from . import _commands as cmd
from . import _events as ev
from ._conversation import (
    STEPS,
    Draft,
    Readable,
    apply_event,
    author_leg,
    copy_into,
    owner_leg,
    snapshot,
    started,
    wrapping_leg,
)
from ._errors import (
    AgentBusy,
    AssetDeleted,
    ConversationExists,
    InvalidArgument,
    MachineDefinitionError,
    NotParticipant,
    TargetUnavailable,
    UnknownAgent,
    UnknownConversation,
    UnknownQueue,
    UnknownWrapUpReason,
)
from ._i18n import system_text
from ._machines import (
    AGENT_MACHINE,
    CONVERSATION_MACHINE,
    LEG_MACHINE,
    AgentState,
    ConversationState,
    LegState,
)
from ._model import (
    Agent,
    Conversation,
    DisconnectReason,
    LegRole,
    Message,
    Queue,
    Role,
    builder,
    replace,
    updater,
)
from ._model import initials as initials_of
from .ports import Changes, routing_key

_C = ConversationState
_L = LegState
# enum members the hot path compares with, as module constants (a class attribute
# look-up per use costs more than a global's)
_AGENT_AVAILABLE: Final = AgentState.AVAILABLE
_AGENT_IDLE: Final = AgentState.IDLE
_CONV_DISCONNECTED: Final = ConversationState.DISCONNECTED
_CONV_QUEUED: Final = ConversationState.QUEUED
_DISCONNECT_ASSET_DELETED: Final = DisconnectReason.ASSET_DELETED
_LEGROLE_GUEST: Final = LegRole.GUEST
_LEG_ACTIVE: Final = LegState.ACTIVE
_LEG_OFFERED: Final = LegState.OFFERED
_ROLE_AGENT: Final = Role.AGENT
_ROLE_CUSTOMER: Final = Role.CUSTOMER
_ROLE_SYSTEM: Final = Role.SYSTEM
_AGENT: Final = _ROLE_AGENT
_ASSET_DELETED: Final = _DISCONNECT_ASSET_DELETED
_CUSTOMER: Final = _ROLE_CUSTOMER
_QUEUED: Final = _CONV_QUEUED
_MESSAGE: Final = builder(Message)
_CHANGES: Final = builder(Changes)
_STARTED: Final = builder(ev.ChatStarted)
_OFFERED: Final = builder(ev.ChatOffered)
_ACCEPTED: Final = builder(ev.OfferAccepted)
_POSTED: Final = builder(ev.MessagePosted)
_ENDED: Final = builder(ev.ChatEnded)
_WRAPPED_UP: Final = builder(ev.WrapUpSubmitted)


class Reader(Protocol):
    """What a decision reads: the committed state, through a store transaction."""

    def queue(self, name: str) -> Queue | None:
        """The queue, or ``None``."""

    def agent(self, agent_id: str) -> Agent | None:
        """The agent, or ``None``."""

    def agents(self, queue: str | None = None) -> list[Agent]:
        """Every agent, or those serving ``queue``; by id."""

    def routable(self, queue: str | None, limit: int) -> list[Agent]:
        """At most ``limit`` routable members of ``queue``, in routing order."""

    def conversation(self, conversation_id: str) -> Conversation | None:
        """The conversation, or ``None``."""

    def queued(self, queues: Collection[str], limit: int) -> list[Conversation]:
        """Queued conversations of ``queues``, oldest first."""

    def due(self, now: float, limit: int) -> list[str]:
        """Ids of conversations with a deadline at or before ``now``."""

    def open_on_asset(self, asset: str) -> list[str]:
        """Ids of the conversations of ``asset`` not closed."""

    def asset_deleted(self, asset: str) -> bool:
        """Whether ``asset`` was deleted."""


class RoutingStrategy(Protocol):
    """Chooses which eligible agent gets the next offer of a conversation.

    ``agents`` is never empty: every one is a member of the conversation's queue,
    available and with free capacity (decliners of this conversation are left out while
    anybody else is eligible). Conversations are always served oldest first.
    """

    def choose(self, conversation: Conversation, agents: Sequence[Agent]) -> Agent:
        """The agent to offer ``conversation`` to."""


class LongestWaitingFirst:
    """SPEC section 7: the agent who has waited longest since their last offer (or since
    becoming available, if never offered) first; ties by agent id."""

    def choose(self, conversation: Conversation, agents: Sequence[Agent]) -> Agent:
        """The longest-waiting agent."""
        return self.longest_waiting(agents)

    @staticmethod
    def longest_waiting(agents: Sequence[Agent]) -> Agent:
        """The agent who waited longest (the conversation does not matter)."""
        return min(agents, key=lambda agent: (agent.waiting_since, agent.id))


@attrs.frozen(kw_only=True)
class Settings:
    """What a desk decides with, besides the state: locale, routing, customer-text filter.

    ``customer_text`` receives the conversation and the normalised text of a new
    customer message and returns the text to store plus redactions of earlier messages
    (``(message_id, new_text)``); ``scrub`` filters every other free text that gets
    stored (agent messages, wrap-up notes, the customer's name and contact). The desk's
    defaults mask card numbers in all of them (PCI at rest).
    """

    locale: str = "en"
    routing: RoutingStrategy = attrs.field(factory=LongestWaitingFirst)
    customer_text: Callable[[Conversation, str], tuple[str, tuple[tuple[str, str], ...]]] = (
        attrs.field(default=lambda conversation, text: (text, ()))
    )
    scrub: Callable[[str], str] = attrs.field(default=lambda text: text)


_E = TypeVar("_E", bound=ev.Event)


def _waiting_order(conversation: Readable) -> tuple[float, str]:
    """Queued conversations are served oldest first, ties by id."""
    return conversation.started_at, conversation.id


def _without(items: tuple[str, ...], item: str) -> tuple[str, ...]:
    """``items`` less one occurrence of ``item``."""
    if len(items) == 1:  # (the usual case: one chat at a time)
        return () if items[0] == item else items
    if item not in items:
        return items
    index = items.index(item)
    return items[:index] + items[index + 1 :]


# What each effect of the agent table changes besides the state, from the event.
_AGENT_EFFECTS: Final[dict[str, Callable[[Any], dict[str, Any]]]] = {
    "log_in": lambda event: {
        "name": event.name,
        "queues": event.queues,
        "capacity": event.capacity,
        "idle_reason": None,
        "available_since": None,
    },
    "become_available": lambda event: {"idle_reason": None, "available_since": event.at},
    "go_idle": lambda event: {"idle_reason": event.reason},
    "miss_offer": lambda event: {},
    "log_out": lambda event: {"available_since": None},
}

_HOLD: Final = updater(Agent, "version", "holding", "last_offer_at")
_HOLDING: Final = updater(Agent, "version", "holding")
_WRAPPING: Final = updater(Agent, "version", "wrapping")
_HOLDING_WRAPPING: Final = updater(Agent, "version", "holding", "wrapping")

# What each effect of the leg table does to the agent whose leg stepped: the agent at
# ``version``, from the conversation's id and the time; "hold" is a new offer (a leg is
# born offered).
_LEG_EFFECTS: Final[dict[str, Callable[[Agent, int, str, float], Agent]]] = {
    "hold": lambda agent, version, conversation_id, now: _HOLD(
        agent, version, (*agent.holding, conversation_id), now
    ),
    "release": lambda agent, version, conversation_id, now: _HOLDING(
        agent, version, _without(agent.holding, conversation_id)
    ),
    "start_wrapping": lambda agent, version, conversation_id, now: _HOLDING_WRAPPING(
        agent,
        version,
        _without(agent.holding, conversation_id),
        (*agent.wrapping, conversation_id),
    ),
    "finish_wrapping": lambda agent, version, conversation_id, now: _WRAPPING(
        agent, version, _without(agent.wrapping, conversation_id)
    ),
}
_AVAILABLE: Final = _AGENT_AVAILABLE


_NO_QUEUES: Final[dict[str, tuple[Queue, int]]] = {}  # never written: see put_queue
_NOTHING_TOUCHED: Final[frozenset[str]] = frozenset()


class Unit:
    """The changes of one command, staged over the committed state read through ``reader``."""

    __slots__ = (
        "_agents",
        "_deleted_assets",
        "_drafts",
        "_queued_drafts",
        "_queues",
        "_redactions",
        "events",
        "now",
        "reader",
        "settings",
        "touched_queues",
    )

    def __init__(self, reader: Reader, now: float, settings: Settings) -> None:
        self.reader = reader
        self.now = now
        self.settings = settings
        self.events: list[ev.Event] = []
        self._agents: dict[str, tuple[Agent, int]] = {}
        self._drafts: dict[str, tuple[Draft, int]] = {}
        # how many drafts were queued as committed: the most that a committed queue's
        # head can hold of conversations this command changed (see ``queued``)
        self._queued_drafts = 0
        # what few commands change start as shared empty values, replaced when written
        self._queues: dict[str, tuple[Queue, int]] = _NO_QUEUES
        self._deleted_assets: tuple[str, ...] = ()
        self._redactions: tuple[tuple[str, str, str], ...] = ()
        self.touched_queues: frozenset[str] = _NOTHING_TOUCHED

    # --- reads, staged first -------------------------------------------------------------

    def find_queue(self, name: str) -> Queue | None:
        staged = self._queues.get(name)
        return staged[0] if staged else self.reader.queue(name)

    def queue(self, name: str, command: cmd.Command | None = None) -> Queue:
        staged = self._queues.get(name)  # (find_queue, without a call more)
        queue = staged[0] if staged else self.reader.queue(name)
        if queue is None:
            raise UnknownQueue(f"no queue named {name!r}", aggregate_id=name, command=command)
        return queue

    def find_agent(self, agent_id: str) -> Agent | None:
        staged = self._agents.get(agent_id)
        return staged[0] if staged else self.reader.agent(agent_id)

    def agent(self, agent_id: str, command: cmd.Command | None = None) -> Agent:
        staged = self._agents.get(agent_id)  # (find_agent, without a call more)
        agent = staged[0] if staged else self.reader.agent(agent_id)
        if agent is None:
            raise UnknownAgent(
                f"no agent {agent_id!r} ever logged in", aggregate_id=agent_id, command=command
            )
        return agent

    def conversation(self, conversation_id: str, command: cmd.Command | None = None) -> Readable:
        """The conversation as this command left it so far: its draft once it changed."""
        staged = self._drafts.get(conversation_id)
        if staged is not None:
            return staged[0]
        found = self.reader.conversation(conversation_id)
        if found is None:
            raise UnknownConversation(
                f"no conversation {conversation_id!r}",
                aggregate_id=conversation_id,
                command=command,
            )
        return found

    def members(self, queue: str) -> list[Agent]:
        found = {agent.id: agent for agent in self.reader.agents(queue)}
        for agent, _ in self._agents.values():
            if queue in agent.queues:
                found[agent.id] = agent
            else:
                found.pop(agent.id, None)
        return list(found.values())

    def routable(self, queue: str, limit: int) -> list[Agent]:
        """At most ``limit`` members of ``queue`` who may get an offer now, in routing
        order: the store's index of the committed agents, with this command's staged
        agents in their new places (read a few more than asked, in case some of the
        committed ones are staged; more only when they were)."""
        staged = self._agents
        if not staged:
            return self.reader.routable(queue, limit)
        extra = 4
        while True:
            committed = self.reader.routable(queue, limit + extra)
            found = [agent for agent in committed if agent.id not in staged]
            if len(found) >= limit or len(committed) < limit + extra:
                break
            extra *= 4
        found.extend(
            agent for agent, _ in staged.values() if agent.routable and queue in agent.queues
        )
        found.sort(key=routing_key)
        return found[:limit]

    def queued(self, queues: Collection[str], limit: int) -> list[Readable]:
        staged = self._drafts
        # a staged conversation that the committed queues still hold is skipped below:
        # only those read as queued can be there (a tick stages a batch of offers)
        committed = self.reader.queued(queues, limit + self._queued_drafts)
        if not staged:
            return list(committed)
        result: list[Readable] = [c for c in committed if c.id not in staged] if committed else []
        for draft, _ in staged.values():
            if draft.state is _QUEUED and draft.queue in queues:
                result.append(draft)
        if len(result) > 1:
            result.sort(key=_waiting_order)
        if len(result) > limit:
            del result[limit:]
        return result

    def asset_deleted(self, asset: str) -> bool:
        return asset in self._deleted_assets or self.reader.asset_deleted(asset)

    # --- the one lookup, ahead of a check that must come after it -----------------------

    def admit(self, conversation: Readable, input_: str, command: cmd.Command) -> None:
        """Refuse now, as the table will, if ``input_`` has no row from the state."""
        if (conversation.state, input_) not in STEPS:  # (the table's pairs, one look-up)
            raise CONVERSATION_MACHINE.refusal(
                conversation.state, input_, aggregate_id=conversation.id, command=command
            )

    # --- writes ---------------------------------------------------------------------------

    def put_queue(self, queue: Queue, base: int) -> None:
        if self._queues is _NO_QUEUES:
            self._queues = {}
        self._queues[queue.name] = (queue, base)

    def _put_agent(self, agent: Agent, **changes: Any) -> Agent:
        """Stage the agent with ``changes``: one new record, at its next version."""
        staged = self._agents.get(agent.id)
        base = staged[1] if staged else agent.version
        updated = replace(agent, version=base + 1, **changes)
        self._agents[agent.id] = (updated, base)
        return updated

    def agent_step(
        self, agent: Agent, event_type: type[_E], command: cmd.Command | None, **fields: Any
    ) -> Agent:
        """Emit an agent event: the agent table's lookup, then its effect."""
        state, effect = AGENT_MACHINE.step(
            agent.state, event_type.__name__, aggregate_id=agent.id, command=command
        )
        event = builder(event_type)(
            aggregate_id=agent.id, sequence=agent.sequence + 1, at=self.now, **fields
        )
        self.events.append(event)
        updated = self._put_agent(
            agent,
            state=state,
            sequence=event.sequence,
            last_event_at=event.at,  # (the time floor of the agent's next event)
            **_AGENT_EFFECTS[effect](event),
        )
        if updated.routable and not agent.routable:
            self.touched_queues = self.touched_queues.union(updated.queues)
        return updated

    def _on_leg(self, agent_id: str, conversation_id: str, effect: str) -> None:
        """A leg of ``agent_id`` stepped: the leg table's effect on that agent, and no other."""
        staged = self._agents.get(agent_id)
        if staged is None:
            found = self.reader.agent(agent_id)
            if found is None:
                raise UnknownAgent(f"no agent {agent_id!r} ever logged in", aggregate_id=agent_id)
            agent, base = found, found.version
        else:
            agent, base = staged
        updated = _LEG_EFFECTS[effect](agent, base + 1, conversation_id, self.now)
        self._agents[agent_id] = (updated, base)
        holding = len(updated.holding)
        if (
            updated.state is _AVAILABLE
            and holding < len(agent.holding)
            and holding < updated.capacity
        ):
            # room freed for an available agent (routable now, with more free capacity
            # than before): their queues may route a waiting chat
            self.touched_queues = self.touched_queues.union(updated.queues)

    def emit(
        self,
        conversation: Readable | None,
        event_type: type[_E],
        aggregate_id: str,
        command: cmd.Command | None = None,
        **fields: Any,
    ) -> Draft:
        """Apply one conversation event (the table's lookup, then its effect) to the
        conversation's draft; refused, it changes nothing."""
        if conversation is None:
            event = builder(event_type)(
                aggregate_id=aggregate_id, sequence=1, at=self.now, **fields
            )
            if not isinstance(event, ev.ChatStarted):
                raise InvalidArgument(f"event {event.id} before the conversation started")
            return self.start(event)
        event = builder(event_type)(
            aggregate_id=aggregate_id, sequence=conversation.version + 1, at=self.now, **fields
        )
        return self.apply(conversation, event, command)

    def start(self, event: ev.ChatStarted) -> Draft:
        """Stage a new conversation from its first event."""
        draft = started(event)
        self._drafts[event.aggregate_id] = (draft, 0)
        self.events.append(event)
        self.touched_queues = self.touched_queues.union((draft.queue,))
        return draft

    def apply(
        self, conversation: Readable, event: ev.Event, command: cmd.Command | None = None
    ) -> Draft:
        """Apply one conversation event, built by the caller at the conversation's next
        sequence: :meth:`emit` without building the event from keywords."""
        draft: Draft
        if type(conversation) is Draft:
            draft = conversation  # type: ignore[assignment]  # (mypy narrows no exact type)
        else:
            draft = copy_into(Draft(), conversation)  # (Draft.of)
            self._drafts[draft.id] = (draft, draft.version)
            if draft.state is _QUEUED:
                self._queued_drafts += 1
        before, queue = draft.state, draft.queue
        apply_event(draft, event, self._on_leg, command)
        self.events.append(event)
        if draft.state is _QUEUED and (before is not _QUEUED or draft.queue != queue):
            self.touched_queues = self.touched_queues.union((draft.queue,))
        return draft

    def post_system_message(self, conversation: Readable, key: str, **params: str) -> Draft:
        message = _MESSAGE(
            id=f"{conversation.id}/{conversation.message_count + 1}",
            role=_ROLE_SYSTEM,
            author="system",
            text=system_text(self.settings.locale, key, **params),
            at=self.now,
            initials="",
        )
        return self.emit(conversation, ev.MessagePosted, conversation.id, message=message)

    def delete_asset(self, asset: str) -> None:
        self._deleted_assets = (*self._deleted_assets, asset)

    def redact(self, conversation_id: str, message_id: str, text: str) -> None:
        self._redactions = (*self._redactions, (conversation_id, message_id, text))

    def changes(self) -> Changes:
        """The staged changes, each changed conversation frozen once."""
        conversations: tuple[tuple[Conversation, int], ...] = ()
        for draft, base in self._drafts.values():
            if draft.version != base:
                draft.__class__ = Conversation  # type: ignore[assignment]  # (freeze, inline)
                staged = (draft, base)
                conversations = (*conversations, staged) if conversations else (staged,)
        agents = tuple(self._agents.values()) if self._agents else ()
        if self._queues or self._deleted_assets or self._redactions:
            return _CHANGES(
                queues=tuple(self._queues.values()),
                agents=agents,
                conversations=conversations,
                deleted_assets=self._deleted_assets,
                events=tuple(self.events),
                redactions=self._redactions,
            )
        return _USUAL_CHANGES(_NO_CHANGES, agents, conversations, tuple(self.events))


# what nearly every command changes: agents, conversations and events, by position
_NO_CHANGES: Final = Changes()
_USUAL_CHANGES: Final = updater(Changes, "agents", "conversations", "events")


def _check_effects() -> None:
    """Every effect the agent and leg tables name has its code here."""
    leg_effects = {"keep", *_LEG_EFFECTS}
    for machine, known in ((AGENT_MACHINE, set(_AGENT_EFFECTS)), (LEG_MACHINE, leg_effects)):
        for _, input_, _, effect in machine.table:
            if effect not in known:
                raise MachineDefinitionError(f"{machine.name}: no code for {effect!r}")
            if input_.partition("[")[0] not in ev.EVENT_TYPES:
                raise MachineDefinitionError(f"{machine.name}: {input_!r} names no event")


_check_effects()


# --- helpers shared by the decisions ------------------------------------------------------


def _target(unit: Unit, agent_id: str, target_id: str, command: cmd.Command) -> Agent:
    """A transfer or conference target: another agent, available, with free capacity."""
    target = unit.find_agent(target_id)
    if target is None or target_id == agent_id or not target.routable:
        raise TargetUnavailable(
            f"{target_id} is not another available agent with free capacity",
            aggregate_id=target_id,
            state=None if target is None else target.state,
            command=command,
        )
    return target


def _wrap_up_deadline(unit: Unit, conversation: Readable) -> float | None:
    return unit.queue(conversation.queue).wrap_up_deadline(unit.now)


# --- the decisions ------------------------------------------------------------------------


def _add_queue(unit: Unit, command: cmd.AddQueue) -> None:
    existing = unit.find_queue(command.name)
    base = 0 if existing is None else existing.version
    queue = Queue(
        name=command.name,
        wrap_up_reasons=command.wrap_up_reasons,
        offer_timeout=float(command.offer_timeout),
        wrap_up_timeout=None if command.wrap_up_timeout is None else float(command.wrap_up_timeout),
        default_wrap_up_reason=command.default_wrap_up_reason,
        version=base + 1,
    )
    if existing is not None and replace(existing, version=base + 1) == queue:
        return  # the same configuration again: nothing changes
    unit.put_queue(queue, base)
    unit.events.append(
        ev.QueueConfigured(
            aggregate_id=queue.name,
            sequence=queue.version,
            at=unit.now,
            wrap_up_reasons=queue.wrap_up_reasons,
            offer_timeout=queue.offer_timeout,
            wrap_up_timeout=queue.wrap_up_timeout,
            default_wrap_up_reason=queue.default_wrap_up_reason,
        )
    )


def _login(unit: Unit, command: cmd.Login) -> None:
    for name in command.queues:
        unit.queue(name, command)
    existing = unit.find_agent(command.agent_id)
    agent = existing or Agent(id=command.agent_id, name=command.name, queues=command.queues)
    unit.agent_step(
        agent,
        ev.AgentLoggedIn,
        command,
        name=command.name,
        queues=command.queues,
        capacity=command.capacity,
    )


def _logout(unit: Unit, command: cmd.Logout) -> None:
    agent = unit.agent(command.agent_id, command)
    AGENT_MACHINE.step(agent.state, "AgentLoggedOut", aggregate_id=agent.id, command=command)
    if agent.holding or agent.wrapping:
        raise AgentBusy(
            f"{agent.id} still holds {len(agent.holding)} chat(s) and wraps up "
            f"{len(agent.wrapping)}",
            aggregate_id=agent.id,
            state=agent.state,
            command=command,
        )
    unit.agent_step(agent, ev.AgentLoggedOut, command)


def _set_available(unit: Unit, command: cmd.SetAvailable) -> None:
    agent = unit.agent(command.agent_id, command)
    if agent.state is _AGENT_AVAILABLE:
        return  # already available: nothing changes, no event
    unit.agent_step(agent, ev.AgentAvailable, command)


def _set_idle(unit: Unit, command: cmd.SetIdle) -> None:
    agent = unit.agent(command.agent_id, command)
    AGENT_MACHINE.step(agent.state, "AgentIdle", aggregate_id=agent.id, command=command)
    if agent.state is _AGENT_IDLE and agent.idle_reason == command.reason:
        return  # the same reason again: nothing changes, no event
    for conversation_id in agent.holding:
        conversation = unit.conversation(conversation_id)
        if conversation.leg_in(agent.id, _LEG_OFFERED) is not None:
            unit.emit(conversation, ev.OfferRescinded, conversation_id, command, agent_id=agent.id)
    unit.agent_step(unit.agent(agent.id), ev.AgentIdle, command, reason=command.reason)


def _start_chat(unit: Unit, command: cmd.StartChat) -> None:
    unit.queue(command.queue, command)
    if unit.asset_deleted(command.asset):
        raise AssetDeleted(
            f"the asset {command.asset!r} was deleted", aggregate_id=command.asset, command=command
        )
    if unit.reader.conversation(command.conversation_id) is not None:
        raise ConversationExists(
            f"conversation {command.conversation_id!r} exists",
            aggregate_id=command.conversation_id,
            command=command,
        )
    scrub = unit.settings.scrub
    unit.start(
        _STARTED(
            aggregate_id=command.conversation_id,
            sequence=1,
            at=unit.now,
            queue=command.queue,
            customer_name=scrub(command.customer_name),
            customer_contact=scrub(command.customer_contact),
            proactive=command.proactive,
            asset=command.asset,
        )
    )


def _accept(unit: Unit, command: cmd.Accept) -> None:
    conversation = unit.conversation(command.conversation_id, command)
    unit.agent(command.agent_id, command)
    event = _ACCEPTED(
        aggregate_id=conversation.id,
        sequence=conversation.version + 1,
        at=unit.now,
        agent_id=command.agent_id,
    )
    accepted = unit.apply(conversation, event, command)
    found = accepted.leg_in(command.agent_id, _LEG_ACTIVE)
    if found is not None and found[1].role is _LEGROLE_GUEST:
        unit.post_system_message(accepted, "agent_joined", name=found[1].agent_name)


def _decline(unit: Unit, command: cmd.Decline) -> None:
    conversation = unit.conversation(command.conversation_id, command)
    unit.agent(command.agent_id, command)
    unit.emit(conversation, ev.OfferDeclined, conversation.id, command, agent_id=command.agent_id)


def _send_agent_message(unit: Unit, command: cmd.SendAgentMessage) -> None:
    conversation = unit.conversation(command.conversation_id, command)
    agent = unit.agent(command.agent_id, command)
    if conversation.disconnect_reason is _ASSET_DELETED:
        raise AssetDeleted(
            f"the asset of conversation {conversation.id} was deleted; end it",
            aggregate_id=conversation.id,
            state=conversation.state,
            command=command,
        )
    author_leg(conversation, agent.id, command)
    text = unit.settings.scrub(command.text)
    _post(unit, conversation, command, _AGENT, agent.id, text, initials_of(agent.name))


def _send_customer_message(unit: Unit, command: cmd.SendCustomerMessage) -> None:
    conversation = unit.conversation(command.conversation_id, command)
    unit.admit(conversation, "MessagePosted[customer]", command)  # before masking anything
    record = conversation if type(conversation) is Conversation else snapshot(conversation)
    text, redactions = unit.settings.customer_text(record, command.text)
    if redactions:
        conversation = unit.emit(
            conversation, ev.MessagesRedacted, conversation.id, command, redactions=redactions
        )
        for message_id, new_text in redactions:
            unit.redact(conversation.id, message_id, new_text)
    name = conversation.customer_name
    _post(unit, conversation, command, _CUSTOMER, name, text, initials_of(name))


def _post(
    unit: Unit,
    conversation: Readable,
    command: cmd.Command,
    role: Role,
    author: str,
    text: str,
    initials: str,
) -> None:
    """Post the conversation's next message (its text already masked): one
    ``MessagePosted``, through the table's one look-up."""
    conversation_id = conversation.id
    now = unit.now
    message = _MESSAGE(
        id=f"{conversation_id}/{conversation.message_count + 1}",
        role=role,
        author=author,
        text=text,
        at=now,
        initials=initials,
    )
    event = _POSTED(
        aggregate_id=conversation_id,
        sequence=conversation.version + 1,
        at=now,
        message=message,
    )
    unit.apply(conversation, event, command)


def _owned(unit: Unit, command: cmd.Command, conversation_id: str, agent_id: str) -> Readable:
    """The conversation, if ``agent_id`` owns it (the table refuses a closed one)."""
    conversation = unit.conversation(conversation_id, command)
    unit.agent(agent_id, command)
    owner_leg(conversation, agent_id, command)
    return conversation


def _transfer_to_agent(unit: Unit, command: cmd.TransferToAgent) -> None:
    conversation = _owned(unit, command, command.conversation_id, command.agent_id)
    unit.admit(conversation, "TransferRequested", command)  # the state, before the target
    target = _target(unit, command.agent_id, command.target_agent_id, command)
    queue = unit.queue(conversation.queue)
    unit.emit(
        conversation,
        ev.TransferRequested,
        conversation.id,
        command,
        agent_id=command.agent_id,
        target_agent_id=target.id,
        target_agent_name=target.name,
        deadline=unit.now + queue.offer_timeout,
        wrap_up_deadline=queue.wrap_up_deadline(unit.now),
    )


def _transfer_to_queue(unit: Unit, command: cmd.TransferToQueue) -> None:
    unit.conversation(command.conversation_id, command)
    unit.queue(command.queue, command)
    conversation = _owned(unit, command, command.conversation_id, command.agent_id)
    unit.emit(
        conversation,
        ev.TransferredToQueue,
        conversation.id,
        command,
        agent_id=command.agent_id,
        queue=command.queue,
        wrap_up_deadline=_wrap_up_deadline(unit, conversation),
    )


def _request_conference(unit: Unit, command: cmd.RequestConference) -> None:
    conversation = _owned(unit, command, command.conversation_id, command.agent_id)
    unit.admit(conversation, "ConferenceRequested", command)  # the state, before the guest
    guest = _target(unit, command.agent_id, command.guest_agent_id, command)
    unit.emit(
        conversation,
        ev.ConferenceRequested,
        conversation.id,
        command,
        agent_id=command.agent_id,
        guest_agent_id=guest.id,
        guest_agent_name=guest.name,
        deadline=unit.now + unit.queue(conversation.queue).offer_timeout,
    )


def _end_conference(unit: Unit, command: cmd.EndConference) -> None:
    conversation = unit.conversation(command.conversation_id, command)
    agent_id = command.agent_id
    unit.agent(agent_id, command)
    found = conversation.leg_in(agent_id, _LEG_ACTIVE)
    if found is not None and found[1].role is _LEGROLE_GUEST:
        guest = found[1]  # the guest leaves
    elif conversation.owner == agent_id:
        invited = [
            leg for _, leg in conversation.legs_in(_LEG_OFFERED) if leg.role is _LEGROLE_GUEST
        ]
        if invited:  # the owner withdraws the invitation
            unit.admit(conversation, "OfferRescinded", command)
            owner_leg(conversation, agent_id, command)
            unit.emit(
                conversation,
                ev.OfferRescinded,
                conversation.id,
                command,
                agent_id=invited[0].agent_id,
            )
            return
        unit.admit(conversation, "GuestReleased[by owner]", command)
        owner_leg(conversation, agent_id, command)
        guest = next(
            leg for _, leg in conversation.legs_in(_LEG_ACTIVE) if leg.role is _LEGROLE_GUEST
        )
    else:
        raise NotParticipant(
            f"{agent_id} neither owns nor is a guest of {conversation.id}",
            aggregate_id=conversation.id,
            state=conversation.state,
            command=command,
        )
    left = unit.emit(
        conversation,
        ev.GuestReleased,
        conversation.id,
        command,
        agent_id=guest.agent_id,
        by=agent_id,
        wrap_up_deadline=_wrap_up_deadline(unit, conversation),
    )
    unit.post_system_message(left, "agent_left", name=guest.agent_name)


def _customer_end(unit: Unit, command: cmd.CustomerEnd) -> None:
    conversation = unit.conversation(command.conversation_id, command)
    ended = unit.emit(conversation, ev.CustomerEnded, conversation.id, command)
    if ended.state is _CONV_DISCONNECTED:
        unit.post_system_message(ended, "customer_ended")


def _delete_asset(unit: Unit, command: cmd.DeleteAsset) -> None:
    if unit.asset_deleted(command.asset):
        return  # deleting it again changes nothing
    unit.delete_asset(command.asset)
    unit.events.append(ev.AssetDeletedEvent(aggregate_id=command.asset, sequence=1, at=unit.now))
    for conversation_id in unit.reader.open_on_asset(command.asset):
        conversation = unit.conversation(conversation_id)
        if not CONVERSATION_MACHINE.allows(conversation.state, "ChatInterrupted"):
            continue  # already disconnected or wrapping up: untouched
        interrupted = unit.emit(
            conversation, ev.ChatInterrupted, conversation_id, command, asset=command.asset
        )
        if interrupted.state is _CONV_DISCONNECTED:
            unit.post_system_message(interrupted, "asset_deleted")


def _end(unit: Unit, command: cmd.End) -> None:
    conversation = _owned(unit, command, command.conversation_id, command.agent_id)
    event = _ENDED(
        aggregate_id=conversation.id,
        sequence=conversation.version + 1,
        at=unit.now,
        agent_id=command.agent_id,
        wrap_up_deadline=_wrap_up_deadline(unit, conversation),
    )
    unit.apply(conversation, event, command)


def _submit_wrap_up(unit: Unit, command: cmd.SubmitWrapUp) -> None:
    conversation = unit.conversation(command.conversation_id, command)
    unit.agent(command.agent_id, command)
    _, leg = wrapping_leg(conversation, command.agent_id, command)
    queue = unit.queue(leg.queue)
    if command.reason not in queue.wrap_up_reasons:
        raise UnknownWrapUpReason(
            f"{command.reason!r} is not a wrap-up reason of queue {queue.name!r}",
            aggregate_id=conversation.id,
            state=conversation.state,
            command=command,
            reasons=queue.wrap_up_reasons,
        )
    event = _WRAPPED_UP(
        aggregate_id=conversation.id,
        sequence=conversation.version + 1,
        at=unit.now,
        agent_id=command.agent_id,
        reason=command.reason,
        notes=unit.settings.scrub(command.notes) if command.notes else "",  # "" masks to ""
        automatic=False,
    )
    unit.apply(conversation, event, command)


_DUE_BATCH = 10_000


def _tick(unit: Unit, command: cmd.Tick) -> None:
    # Every expired deadline fires (SPEC section 4), however many: the store reads the
    # committed state, so conversations fired earlier in this tick are read again and
    # skipped, and the reads grow by one batch until the store has no more. Desk.tick
    # hands this a reader whose ``due`` returns one bounded batch after a cursor, each
    # batch its own transaction, so one decision never holds more than that batch.
    unit.now = command.now  # a tick decides at the time it names
    fired: set[str] = set()
    while True:
        limit = len(fired) + _DUE_BATCH
        due = unit.reader.due(command.now, limit=limit)
        fresh = [conversation_id for conversation_id in due if conversation_id not in fired]
        for conversation_id in fresh:
            fired.add(conversation_id)
            _fire_deadlines(unit, conversation_id, command.now)
        if len(due) < limit or not fresh:
            return


def _fire_deadlines(unit: Unit, conversation_id: str, now: float) -> None:
    """Fire the expired deadlines of one conversation, oldest first."""
    conversation = unit.conversation(conversation_id)
    expired = sorted(
        (leg.deadline, index)
        for index, leg in enumerate(conversation.legs)
        if leg.deadline is not None and leg.deadline <= now
    )
    for _, index in expired:
        conversation = unit.conversation(conversation_id)
        leg = conversation.legs[index]
        # which event fires is the leg table's say: an offer times out, a wrap-up is
        # submitted with the queue's automatic reason
        if LEG_MACHINE.allows(leg.state, "OfferTimedOut"):
            unit.emit(conversation, ev.OfferTimedOut, conversation_id, agent_id=leg.agent_id)
            agent = unit.agent(leg.agent_id)
            unit.agent_step(agent, ev.AgentRona, None, conversation_id=conversation_id)
        elif LEG_MACHINE.allows(leg.state, "WrapUpSubmitted"):
            queue = unit.queue(leg.queue)
            unit.emit(
                conversation,
                ev.WrapUpSubmitted,
                conversation_id,
                agent_id=leg.agent_id,
                reason=queue.automatic_wrap_up_reason,
                notes="",
                automatic=True,
            )


_EVERY: Final = 2**31 - 1


def _route(unit: Unit) -> None:
    """Offer queued conversations of the touched queues to eligible agents, oldest first.

    Routing reads the store's index of routable agents per queue (longest waiting
    first), never a whole queue: whether a queue has anybody routable is one row, and
    the agent chosen for a conversation is among the first ``len(skipped) + 1`` rows.
    """
    while unit.touched_queues:
        touched = sorted(unit.touched_queues)
        # Whether anything waits is asked first: once a chat is accepted or ended, its
        # queue is usually empty, and nobody's routability needs reading then.
        # (two: with one, the offer below leaves nothing to route)
        waiting = unit.queued(touched, limit=2)
        if not waiting:
            return
        if len(touched) == 1:
            first = unit.routable(touched[0], 1)
            if not first:
                return
        else:
            live = [queue for queue in touched if unit.routable(queue, 1)]
            waiting = unit.queued(live, limit=2) if live else []
            if not waiting:
                return
            first = unit.routable(waiting[0].queue, 1)
        conversation = waiting[0]
        agent = _choose(unit, conversation, first[0])
        queue = unit.queue(conversation.queue)
        now = unit.now
        event = _OFFERED(
            aggregate_id=conversation.id,
            sequence=conversation.version + 1,
            at=now,
            agent_id=agent.id,
            agent_name=agent.name,
            deadline=now + queue.offer_timeout,
        )
        unit.apply(conversation, event)
        if len(waiting) == 1:
            # The last chat waiting where anybody was routable is offered, and an offer
            # gives nobody room: the next round would find nothing to route.
            return


def _choose(unit: Unit, conversation: Readable, first: Agent) -> Agent:
    """The agent to offer ``conversation`` to, among the routable members of its queue
    (``first`` of them in routing order).

    Who declined it is skipped while anybody else is eligible; who handed it off (a
    transfer) while anybody else who did not decline is (SPEC section 7).
    """
    declined_by = conversation.declined_by
    handed_off_by = conversation.handed_off_by
    routing = unit.settings.routing
    if type(routing) is LongestWaitingFirst:
        if not declined_by and handed_off_by is None:
            return first  # nobody is skipped: the longest waiting is the one
        # In routing order, so the first agent that is not skipped is the one: with
        # len(skipped) + 1 rows, at least one is not skipped unless the queue has fewer.
        skipped = {*declined_by, *([handed_off_by] if handed_off_by else [])}
        eligible = unit.routable(conversation.queue, len(skipped) + 1)
    else:  # a strategy of the user's own sees every routable member
        eligible = unit.routable(conversation.queue, _EVERY)
    others = [a for a in eligible if a.id not in declined_by]
    preferred = [a for a in others if a.id != handed_off_by] or others or eligible
    if type(routing) is LongestWaitingFirst:
        return preferred[0]
    # a strategy of the user's own reads a frozen record
    return routing.choose(snapshot(conversation), preferred)


_DECISIONS: dict[type[cmd.Command], Callable[[Unit, Any], None]] = {
    cmd.AddQueue: _add_queue,
    cmd.Login: _login,
    cmd.Logout: _logout,
    cmd.SetAvailable: _set_available,
    cmd.SetIdle: _set_idle,
    cmd.StartChat: _start_chat,
    cmd.Accept: _accept,
    cmd.Decline: _decline,
    cmd.SendAgentMessage: _send_agent_message,
    cmd.SendCustomerMessage: _send_customer_message,
    cmd.TransferToAgent: _transfer_to_agent,
    cmd.TransferToQueue: _transfer_to_queue,
    cmd.RequestConference: _request_conference,
    cmd.EndConference: _end_conference,
    cmd.CustomerEnd: _customer_end,
    cmd.DeleteAsset: _delete_asset,
    cmd.End: _end,
    cmd.SubmitWrapUp: _submit_wrap_up,
    cmd.Tick: _tick,
}


def decide(reader: Reader, command: cmd.Command, now: float, settings: Settings) -> Changes:
    """Everything ``command`` changes, or the refusal; reads through ``reader`` only."""
    decision = _DECISIONS.get(type(command))
    if decision is None:
        raise InvalidArgument(f"not a livechat command: {command!r}")
    unit = Unit(reader, now, settings)
    decision(unit, command)
    if unit.touched_queues:
        _route(unit)
    return unit.changes()
