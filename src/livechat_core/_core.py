"""The desk's decisions: one command in, the changes and events out. Pure.

:func:`decide` reads what a command needs through a :class:`~livechat_core.ports.StoreTransaction`,
stages every change in a :class:`Unit` (nothing reaches the store until the desk saves
the returned :class:`~livechat_core.ports.Changes`), and either returns the changes whole
or raises a :class:`~livechat_core.LivechatError` having changed nothing.

Conversations change only by events applied with :func:`._conversation.apply`, which
consults the declared tables, so a decision can never move a conversation along a
transition the table lacks. Agents change through :data:`AGENT_MACHINE` the same way.
After the command's own effects, :func:`_route` offers queued conversations to eligible
agents of every queue the command touched (SPEC section 7).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Any, Protocol, TypeVar

import attrs

from . import _commands as cmd
from . import _events as ev
from ._conversation import apply
from ._errors import (
    AgentBusy,
    AgentStateError,
    AssetDeleted,
    ConversationExists,
    ConversationStateError,
    InvalidArgument,
    NoPendingOffer,
    NotOwner,
    NotParticipant,
    TargetUnavailable,
    UnknownAgent,
    UnknownConversation,
    UnknownQueue,
    UnknownWrapUpReason,
)
from ._i18n import system_text
from ._machines import AGENT_MACHINE, CONVERSATION_MACHINE, AgentState, ConversationState, LegState
from ._model import (
    Agent,
    Conversation,
    DisconnectReason,
    Leg,
    LegRole,
    Message,
    Queue,
    Role,
    replace,
)
from ._model import initials as initials_of
from .ports import Changes, StoreTransaction

_C = ConversationState
_L = LegState

CUSTOMER_PRESENT = frozenset(
    {
        _C.QUEUED,
        _C.OFFERED,
        _C.ACTIVE,
        _C.TRANSFER_REQUESTED,
        _C.CONFERENCE_REQUESTED,
        _C.CONFERENCING,
    }
)
OWNER_MAY_WRITE = frozenset({_C.ACTIVE, _C.CONFERENCE_REQUESTED, _C.CONFERENCING})
HELD = frozenset({_C.ACTIVE, _C.CONFERENCE_REQUESTED, _C.CONFERENCING})


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


class Unit:
    """The changes of one command, staged over the store's committed state."""

    def __init__(self, reader: StoreTransaction, now: float, settings: Settings) -> None:
        self.reader = reader
        self.now = now
        self.settings = settings
        self.events: list[ev.Event] = []
        self._queues: dict[str, tuple[Queue, int]] = {}
        self._agents: dict[str, tuple[Agent, int]] = {}
        self._conversations: dict[str, tuple[Conversation, int]] = {}
        self._deleted_assets: list[str] = []
        self._redactions: list[tuple[str, str, str]] = []
        self.touched_queues: set[str] = set()

    # --- reads, staged first -------------------------------------------------------------

    def find_queue(self, name: str) -> Queue | None:
        staged = self._queues.get(name)
        return staged[0] if staged else self.reader.queue(name)

    def queue(self, name: str, command: cmd.Command | None = None) -> Queue:
        queue = self.find_queue(name)
        if queue is None:
            raise UnknownQueue(f"no queue named {name!r}", aggregate_id=name, command=command)
        return queue

    def agent(self, agent_id: str, command: cmd.Command | None = None) -> Agent:
        staged = self._agents.get(agent_id)
        agent = staged[0] if staged else self.reader.agent(agent_id)
        if agent is None:
            raise UnknownAgent(
                f"no agent {agent_id!r} ever logged in", aggregate_id=agent_id, command=command
            )
        return agent

    def find_agent(self, agent_id: str) -> Agent | None:
        staged = self._agents.get(agent_id)
        return staged[0] if staged else self.reader.agent(agent_id)

    def conversation(
        self, conversation_id: str, command: cmd.Command | None = None
    ) -> Conversation:
        staged = self._conversations.get(conversation_id)
        conversation = staged[0] if staged else self.reader.conversation(conversation_id)
        if conversation is None:
            raise UnknownConversation(
                f"no conversation {conversation_id!r}",
                aggregate_id=conversation_id,
                command=command,
            )
        return conversation

    def members(self, queue: str) -> list[Agent]:
        found = {agent.id: agent for agent in self.reader.agents(queue)}
        for agent, _ in self._agents.values():
            if queue in agent.queues:
                found[agent.id] = agent
            else:
                found.pop(agent.id, None)
        return list(found.values())

    def queued(self, queues: Collection[str], limit: int) -> list[Conversation]:
        staged = self._conversations
        committed = self.reader.queued(queues, limit + len(staged))
        result = [c for c in committed if c.id not in staged]
        result.extend(c for c, _ in staged.values() if c.state is _C.QUEUED and c.queue in queues)
        result.sort(key=lambda c: (c.started_at, c.id))
        return result[:limit]

    # --- writes ---------------------------------------------------------------------------

    def put_queue(self, queue: Queue, base: int) -> None:
        self._queues[queue.name] = (queue, base)

    def put_agent(self, agent: Agent) -> None:
        """Stage an agent record built for this command (never one read from the store:
        :meth:`changes` stamps the new version on it in place)."""
        staged = self._agents.get(agent.id)
        base = staged[1] if staged else agent.version
        self._agents[agent.id] = (agent, base)
        if agent.routable:
            # Routing runs after every command, so a queue never keeps a chat waiting
            # while one of its members is routable: only room the agent did not have
            # before this command (or a queue they did not serve) can take a chat.
            before = self.reader.agent(agent.id)
            if (
                before is None
                or not before.routable
                or agent.free_capacity > before.free_capacity
                or not set(agent.queues) <= set(before.queues)
            ):
                self.touched_queues.update(agent.queues)

    def agent_event(self, agent: Agent, event_type: type[_E], **fields: Any) -> Agent:
        event = event_type(
            aggregate_id=agent.id, sequence=agent.sequence + 1, at=self.now, **fields
        )
        self.events.append(event)
        agent = replace(agent, sequence=event.sequence)
        self.put_agent(agent)
        return agent

    def emit(
        self,
        conversation: Conversation | None,
        event_type: type[_E],
        aggregate_id: str,
        **fields: Any,
    ) -> Conversation:
        """Apply one event to a conversation and stage the result."""
        sequence = 1 if conversation is None else conversation.version + 1
        event = event_type(aggregate_id=aggregate_id, sequence=sequence, at=self.now, **fields)
        updated = apply(conversation, event)
        staged = self._conversations.get(aggregate_id)
        base = staged[1] if staged else (0 if conversation is None else conversation.version)
        self._conversations[aggregate_id] = (updated, base)
        self.events.append(event)
        if updated.state is _C.QUEUED:
            self.touched_queues.add(updated.queue)
        return updated

    def post_system_message(
        self, conversation: Conversation, key: str, **params: str
    ) -> Conversation:
        message = Message(
            id=f"{conversation.id}/{len(conversation.messages) + 1}",
            role=Role.SYSTEM,
            author="system",
            text=system_text(self.settings.locale, key, **params),
            at=self.now,
            initials="",
        )
        return self.emit(conversation, ev.MessagePosted, conversation.id, message=message)

    def asset_deleted(self, asset: str) -> bool:
        return asset in self._deleted_assets or self.reader.asset_deleted(asset)

    def delete_asset(self, asset: str) -> None:
        self._deleted_assets.append(asset)

    def redact(self, conversation_id: str, message_id: str, text: str) -> None:
        self._redactions.append((conversation_id, message_id, text))

    def changes(self) -> Changes:
        for agent, base in self._agents.values():
            # staged agents are new records nobody else holds yet (see put_agent)
            object.__setattr__(agent, "version", base + 1)
        return Changes(
            queues=tuple(self._queues.values()),
            agents=tuple(self._agents.values()),
            conversations=tuple(self._conversations.values()),
            deleted_assets=tuple(self._deleted_assets),
            events=tuple(self.events),
            redactions=tuple(self._redactions),
        )


# --- helpers shared by the decisions ------------------------------------------------------


def _without(items: tuple[str, ...], item: str) -> tuple[str, ...]:
    """``items`` less one occurrence of ``item``."""
    if item not in items:
        return items
    index = items.index(item)
    return items[:index] + items[index + 1 :]


def _settle_agents(unit: Unit, before: Conversation, after: Conversation) -> None:
    """Bring agents' holdings in line with how the conversation's legs changed."""
    for index, old in enumerate(before.legs):
        new = after.legs[index]
        if old.state is new.state:
            continue
        agent = unit.agent(old.agent_id)
        holding, wrapping = agent.holding, agent.wrapping
        if old.state in (_L.OFFERED, _L.ACTIVE) and new.state not in (_L.OFFERED, _L.ACTIVE):
            holding = _without(holding, after.id)
        if new.state is _L.WRAPPING_UP:
            wrapping = (*wrapping, after.id)
        if old.state is _L.WRAPPING_UP:
            wrapping = _without(wrapping, after.id)
        unit.put_agent(replace(agent, holding=holding, wrapping=wrapping))
    for leg in after.legs[len(before.legs) :]:
        agent = unit.agent(leg.agent_id)
        unit.put_agent(replace(agent, holding=(*agent.holding, after.id), last_offer_at=unit.now))


def _emit(
    unit: Unit, conversation: Conversation, event_type: type[_E], **fields: Any
) -> Conversation:
    """Emit a conversation event and keep the agents' holdings in step."""
    after = unit.emit(conversation, event_type, conversation.id, **fields)
    _settle_agents(unit, conversation, after)
    return after


def _refuse_state(
    conversation: Conversation, trigger: str, command: cmd.Command, why: str = ""
) -> ConversationStateError:
    return ConversationStateError(
        why
        or f"conversation {conversation.id} cannot {trigger.replace('_', ' ')} "
        f"while {conversation.state}",
        machine="conversation",
        trigger=trigger,
        state=conversation.state,
        aggregate_id=conversation.id,
        command=command,
    )


def _check_transition(conversation: Conversation, trigger: str, command: cmd.Command) -> None:
    if not CONVERSATION_MACHINE.allows(conversation.state, trigger):
        raise _refuse_state(conversation, trigger, command)


def _owner_leg(
    unit: Unit, agent_id: str, conversation: Conversation, trigger: str, command: cmd.Command
) -> Leg:
    """The agent's active owner leg, or the refusal that explains why there is none."""
    unit.agent(agent_id, command)
    found = conversation.leg_of(agent_id, _L.ACTIVE)
    if conversation.owner != agent_id or found is None or found[1].role is not LegRole.OWNER:
        if conversation.state is _C.CLOSED:
            raise _refuse_state(conversation, trigger, command)
        raise NotOwner(
            f"{agent_id} does not own conversation {conversation.id}",
            aggregate_id=conversation.id,
            state=conversation.state,
            command=command,
            agent_id=agent_id,
        )
    _check_transition(conversation, trigger, command)
    return found[1]


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


def _pending_offer(unit: Unit, command: cmd.Accept | cmd.Decline) -> tuple[Conversation, Leg]:
    conversation = unit.conversation(command.conversation_id, command)
    unit.agent(command.agent_id, command)
    found = conversation.leg_of(command.agent_id, _L.OFFERED)
    if found is None:
        raise NoPendingOffer(
            f"{command.agent_id} has no pending offer for conversation {conversation.id}",
            aggregate_id=conversation.id,
            state=conversation.state,
            command=command,
        )
    return conversation, found[1]


def _wrap_up_deadline(unit: Unit, conversation: Conversation) -> float | None:
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
    _agent_transition(unit, agent, "login", command)
    agent = replace(
        agent,
        name=command.name,
        queues=command.queues,
        capacity=command.capacity,
        state=AgentState.IDLE,
        idle_reason=None,
        available_since=None,
    )
    unit.agent_event(
        agent, ev.AgentLoggedIn, name=command.name, queues=command.queues, capacity=command.capacity
    )


def _agent_transition(unit: Unit, agent: Agent, trigger: str, command: cmd.Command) -> AgentState:
    try:
        return AGENT_MACHINE.next_state(agent.state, trigger, aggregate_id=agent.id)
    except AgentStateError as error:
        error.command = command
        raise


def _logout(unit: Unit, command: cmd.Logout) -> None:
    agent = unit.agent(command.agent_id, command)
    state = _agent_transition(unit, agent, "logout", command)
    if agent.holding or agent.wrapping:
        raise AgentBusy(
            f"{agent.id} still holds {len(agent.holding)} chat(s) and wraps up "
            f"{len(agent.wrapping)}",
            aggregate_id=agent.id,
            state=agent.state,
            command=command,
        )
    unit.agent_event(replace(agent, state=state, available_since=None), ev.AgentLoggedOut)


def _set_available(unit: Unit, command: cmd.SetAvailable) -> None:
    agent = unit.agent(command.agent_id, command)
    state = _agent_transition(unit, agent, "set_available", command)
    if agent.state is state:
        return  # repeating the current state is a no-op
    agent = replace(agent, state=state, idle_reason=None, available_since=unit.now)
    unit.agent_event(agent, ev.AgentAvailable)


def _set_idle(unit: Unit, command: cmd.SetIdle) -> None:
    agent = unit.agent(command.agent_id, command)
    state = _agent_transition(unit, agent, "set_idle", command)
    if agent.state is state and agent.idle_reason == command.reason:
        return
    for conversation_id in agent.holding:
        conversation = unit.conversation(conversation_id)
        if conversation.leg_of(agent.id, _L.OFFERED) is not None:
            _emit(unit, conversation, ev.OfferRescinded, agent_id=agent.id)
    agent = unit.agent(agent.id)
    agent = replace(agent, state=state, idle_reason=command.reason)
    unit.agent_event(agent, ev.AgentIdle, reason=command.reason)


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
    unit.emit(
        None,
        ev.ChatStarted,
        command.conversation_id,
        queue=command.queue,
        customer_name=unit.settings.scrub(command.customer_name),
        customer_contact=unit.settings.scrub(command.customer_contact),
        proactive=command.proactive,
        asset=command.asset,
    )


def _accept(unit: Unit, command: cmd.Accept) -> None:
    conversation, leg = _pending_offer(unit, command)
    conversation = _emit(unit, conversation, ev.OfferAccepted, agent_id=command.agent_id)
    if leg.role is LegRole.GUEST:
        unit.post_system_message(conversation, "agent_joined", name=leg.agent_name)


def _decline(unit: Unit, command: cmd.Decline) -> None:
    conversation, _ = _pending_offer(unit, command)
    _emit(unit, conversation, ev.OfferDeclined, agent_id=command.agent_id)


def _send_agent_message(unit: Unit, command: cmd.SendAgentMessage) -> None:
    conversation = unit.conversation(command.conversation_id, command)
    agent = unit.agent(command.agent_id, command)
    found = conversation.leg_of(agent.id, _L.ACTIVE)
    if conversation.disconnect_reason is DisconnectReason.ASSET_DELETED:
        raise AssetDeleted(
            f"the asset of conversation {conversation.id} was deleted; end it",
            aggregate_id=conversation.id,
            state=conversation.state,
            command=command,
        )
    if found is None:
        if conversation.state is _C.CLOSED:
            raise _refuse_state(conversation, "send_message", command)
        raise NotParticipant(
            f"{agent.id} takes no active part in conversation {conversation.id}",
            aggregate_id=conversation.id,
            state=conversation.state,
            command=command,
        )
    leg = found[1]
    allowed = OWNER_MAY_WRITE if leg.role is LegRole.OWNER else {_C.CONFERENCING}
    if conversation.state not in allowed:
        raise _refuse_state(conversation, "send_message", command)
    message = Message(
        id=f"{conversation.id}/{len(conversation.messages) + 1}",
        role=Role.AGENT,
        author=agent.id,
        text=unit.settings.scrub(command.text),
        at=unit.now,
        initials=initials_of(agent.name),
    )
    unit.emit(conversation, ev.MessagePosted, conversation.id, message=message)


def _send_customer_message(unit: Unit, command: cmd.SendCustomerMessage) -> None:
    conversation = unit.conversation(command.conversation_id, command)
    if conversation.state not in CUSTOMER_PRESENT:
        raise _refuse_state(conversation, "send_message", command)
    text, redactions = unit.settings.customer_text(conversation, command.text)
    if redactions:
        conversation = unit.emit(
            conversation, ev.MessagesRedacted, conversation.id, redactions=redactions
        )
        for message_id, new_text in redactions:
            unit.redact(conversation.id, message_id, new_text)
    message = Message(
        id=f"{conversation.id}/{len(conversation.messages) + 1}",
        role=Role.CUSTOMER,
        author=conversation.customer_name,
        text=text,
        at=unit.now,
        initials=initials_of(conversation.customer_name),
    )
    unit.emit(conversation, ev.MessagePosted, conversation.id, message=message)


def _transfer_to_agent(unit: Unit, command: cmd.TransferToAgent) -> None:
    conversation = unit.conversation(command.conversation_id, command)
    _owner_leg(unit, command.agent_id, conversation, "transfer_to_agent", command)
    target = _target(unit, command.agent_id, command.target_agent_id, command)
    queue = unit.queue(conversation.queue)
    _emit(
        unit,
        conversation,
        ev.TransferRequested,
        agent_id=command.agent_id,
        target_agent_id=target.id,
        target_agent_name=target.name,
        deadline=unit.now + queue.offer_timeout,
        wrap_up_deadline=queue.wrap_up_deadline(unit.now),
    )


def _transfer_to_queue(unit: Unit, command: cmd.TransferToQueue) -> None:
    conversation = unit.conversation(command.conversation_id, command)
    unit.queue(command.queue, command)
    _owner_leg(unit, command.agent_id, conversation, "transfer_to_queue", command)
    _emit(
        unit,
        conversation,
        ev.TransferredToQueue,
        agent_id=command.agent_id,
        queue=command.queue,
        wrap_up_deadline=_wrap_up_deadline(unit, conversation),
    )


def _request_conference(unit: Unit, command: cmd.RequestConference) -> None:
    conversation = unit.conversation(command.conversation_id, command)
    _owner_leg(unit, command.agent_id, conversation, "request_conference", command)
    guest = _target(unit, command.agent_id, command.guest_agent_id, command)
    _emit(
        unit,
        conversation,
        ev.ConferenceRequested,
        agent_id=command.agent_id,
        guest_agent_id=guest.id,
        guest_agent_name=guest.name,
        deadline=unit.now + unit.queue(conversation.queue).offer_timeout,
    )


def _end_conference(unit: Unit, command: cmd.EndConference) -> None:
    conversation = unit.conversation(command.conversation_id, command)
    unit.agent(command.agent_id, command)
    guest = conversation.leg_of(command.agent_id, _L.ACTIVE)
    if guest is not None and guest[1].role is LegRole.GUEST:
        _check_transition(conversation, "release_guest", command)
        left = _emit(
            unit,
            conversation,
            ev.GuestReleased,
            agent_id=command.agent_id,
            by=command.agent_id,
            wrap_up_deadline=_wrap_up_deadline(unit, conversation),
        )
        unit.post_system_message(left, "agent_left", name=guest[1].agent_name)
        return
    if conversation.owner != command.agent_id or conversation.state not in (
        _C.CONFERENCE_REQUESTED,
        _C.CONFERENCING,
    ):
        if conversation.owner == command.agent_id:
            raise _refuse_state(conversation, "end_conference", command)
        raise NotParticipant(
            f"{command.agent_id} neither owns nor is a guest of {conversation.id}",
            aggregate_id=conversation.id,
            state=conversation.state,
            command=command,
        )
    _owner_leg(unit, command.agent_id, conversation, "end", command)
    if conversation.state is _C.CONFERENCE_REQUESTED:
        (_, invited), *_ = conversation.legs_in(_L.OFFERED)
        _emit(unit, conversation, ev.OfferRescinded, agent_id=invited.agent_id)
        return
    (_, present), *_ = [
        (i, leg) for i, leg in conversation.legs_in(_L.ACTIVE) if leg.role is LegRole.GUEST
    ]
    left = _emit(
        unit,
        conversation,
        ev.GuestReleased,
        agent_id=present.agent_id,
        by=command.agent_id,
        wrap_up_deadline=_wrap_up_deadline(unit, conversation),
    )
    unit.post_system_message(left, "agent_left", name=present.agent_name)


def _customer_end(unit: Unit, command: cmd.CustomerEnd) -> None:
    conversation = unit.conversation(command.conversation_id, command)
    if conversation.state not in CUSTOMER_PRESENT:
        raise _refuse_state(conversation, "customer_end", command)
    ended = _emit(unit, conversation, ev.CustomerEnded)
    if ended.state is _C.DISCONNECTED:
        unit.post_system_message(ended, "customer_ended")


def _delete_asset(unit: Unit, command: cmd.DeleteAsset) -> None:
    if unit.asset_deleted(command.asset):
        return  # deleting it again changes nothing
    unit.delete_asset(command.asset)
    unit.events.append(ev.AssetDeletedEvent(aggregate_id=command.asset, sequence=1, at=unit.now))
    for conversation_id in unit.reader.open_on_asset(command.asset):
        conversation = unit.conversation(conversation_id)
        if conversation.state not in CUSTOMER_PRESENT:
            continue  # already disconnected or wrapping up: untouched
        interrupted = _emit(unit, conversation, ev.ChatInterrupted, asset=command.asset)
        if interrupted.state is _C.DISCONNECTED:
            unit.post_system_message(interrupted, "asset_deleted")


def _end(unit: Unit, command: cmd.End) -> None:
    conversation = unit.conversation(command.conversation_id, command)
    _owner_leg(unit, command.agent_id, conversation, "end", command)
    _emit(
        unit,
        conversation,
        ev.ChatEnded,
        agent_id=command.agent_id,
        wrap_up_deadline=_wrap_up_deadline(unit, conversation),
    )


def _submit_wrap_up(unit: Unit, command: cmd.SubmitWrapUp) -> None:
    conversation = unit.conversation(command.conversation_id, command)
    unit.agent(command.agent_id, command)
    found = conversation.leg_of(command.agent_id, _L.WRAPPING_UP)
    if found is None:
        if conversation.leg_of(command.agent_id, _L.ACTIVE) is not None:
            raise _refuse_state(
                conversation,
                "submit_wrap_up",
                command,
                f"{command.agent_id} must end conversation {conversation.id} before wrapping up",
            )
        raise NotParticipant(
            f"{command.agent_id} has nothing to wrap up in conversation {conversation.id}",
            aggregate_id=conversation.id,
            state=conversation.state,
            command=command,
        )
    queue = unit.queue(found[1].queue)
    if command.reason not in queue.wrap_up_reasons:
        raise UnknownWrapUpReason(
            f"{command.reason!r} is not a wrap-up reason of queue {queue.name!r}",
            aggregate_id=conversation.id,
            state=conversation.state,
            command=command,
            reasons=queue.wrap_up_reasons,
        )
    _emit(
        unit,
        conversation,
        ev.WrapUpSubmitted,
        agent_id=command.agent_id,
        reason=command.reason,
        notes=unit.settings.scrub(command.notes),
        automatic=False,
    )


_DUE_BATCH = 10_000


def _tick(unit: Unit, command: cmd.Tick) -> None:
    # Every expired deadline fires (SPEC section 4), however many: the store reads the
    # committed state, so conversations fired earlier in this tick are read again and
    # skipped, and the reads grow by one batch until the store has no more.
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
        if leg.state is _L.OFFERED:
            conversation = _emit(unit, conversation, ev.OfferTimedOut, agent_id=leg.agent_id)
            agent = unit.agent(leg.agent_id)
            state = AGENT_MACHINE.next_state(agent.state, "miss_offer", aggregate_id=agent.id)
            unit.agent_event(
                replace(agent, state=state),
                ev.AgentRona,
                conversation_id=conversation_id,
            )
        elif leg.state is _L.WRAPPING_UP:
            queue = unit.queue(leg.queue)
            _emit(
                unit,
                conversation,
                ev.WrapUpSubmitted,
                agent_id=leg.agent_id,
                reason=queue.automatic_wrap_up_reason,
                notes="",
                automatic=True,
            )


def _route(unit: Unit) -> None:
    """Offer queued conversations of the touched queues to eligible agents, oldest first."""
    while unit.touched_queues and unit.queued(unit.touched_queues, limit=1):
        pools = {
            queue: [agent for agent in unit.members(queue) if agent.routable]
            for queue in sorted(unit.touched_queues)
        }
        live = [queue for queue, agents in pools.items() if agents]
        waiting = unit.queued(live, limit=1) if live else []
        if not waiting:
            return
        conversation = waiting[0]
        eligible = pools[conversation.queue]
        # Who declined it is skipped while anybody else is eligible; who handed it off
        # (a transfer) while anybody else who did not decline is.
        others = [a for a in eligible if a.id not in conversation.declined_by]
        handed_off_by = conversation.handed_off_by
        preferred = [a for a in others if a.id != handed_off_by] or others or eligible
        agent = unit.settings.routing.choose(conversation, preferred)
        queue = unit.queue(conversation.queue)
        _emit(
            unit,
            conversation,
            ev.ChatOffered,
            agent_id=agent.id,
            agent_name=agent.name,
            deadline=unit.now + queue.offer_timeout,
        )


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


def decide(
    reader: StoreTransaction, command: cmd.Command, now: float, settings: Settings
) -> Changes:
    """Everything ``command`` changes, or the refusal; reads through ``reader`` only."""
    decision = _DECISIONS.get(type(command))
    if decision is None:
        raise InvalidArgument(f"not a livechat command: {command!r}")
    unit = Unit(reader, command.now if isinstance(command, cmd.Tick) else now, settings)
    decision(unit, command)
    _route(unit)
    return unit.changes()
