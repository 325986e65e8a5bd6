"""Hypothesis strategies for property-testing code built on livechat-core.

* :func:`commands` and the per-command strategies draw **valid command values** (every
  field well-formed, so constructing them never raises); whether a desk *accepts* one
  depends on its state.
* :func:`scenarios` draws **command sequences a desk accepts**: a :class:`Scenario` of
  timed steps (queues, logins, chats, offers accepted, declined and missed, messages,
  transfers, conferences, customers leaving, asset deletion, wrap-ups, clock advances with
  ``Tick``). Play it on your desk, on any store, and check your own invariants.
* :func:`pii_items`, :func:`messages_with_item`, :func:`chat_texts`,
  :func:`hard_negatives` and :func:`surrounding_text` draw **sensitive items** (cards,
  IBANs, SSNs, e-mails, phones, in every supported format and evasion) and chat text
  around them, for testing what you do with transcripts.

Importing this module imports Hypothesis (``pip install hypothesis``, or the ``test``
extra); nothing else in livechat-core does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import attrs
from hypothesis import strategies as st

from .. import _commands as cmd
from .._composer import MAX_MESSAGE_LENGTH, compose, normalise
from .._desk import Desk
from .._errors import LivechatError
from .._events import Event
from .._machines import (
    CONFERENCE,
    CONVERSATION_MACHINE,
    OPEN,
    AgentState,
    LegState,
)
from .._model import Agent, LegRole
from .._pii_strategies import (
    chat_texts,
    hard_negatives,
    messages_with_item,
    pii_items,
    surrounding_text,
)
from .clock import DEFAULT_START, ManualClock

__all__ = [
    "Scenario",
    "Step",
    "agent_message_texts",
    "chat_texts",
    "commands",
    "customer_message_texts",
    "display_names",
    "hard_negatives",
    "identifiers",
    "messages_with_item",
    "pii_items",
    "scenarios",
    "surrounding_text",
    "wrap_up_reasons",
]

_PEOPLE = (
    "Jana Nováková",
    "Petr Svoboda",
    "Eva Dvořáková",
    "Karel Novák",
    "Melissa Brown",
    "Zoë O'Brien",
    "Łukasz Wiśniewski",
    "李小龍",
    "+447966197542",  # a name that is a phone number: conditional masking
)
_REASONS = ("Resolved", "Escalated", "Callback promised", "No answer", "Vyřešeno", "Transferred")


# --------------------------------------------------------------------------- values


# What the input policy (livechat_core._inputs) lets through: names are one line without
# control characters; texts may hold line breaks and tabs. Surrogates never.
_NAME_CHARACTERS = st.characters(exclude_categories=("Cc", "Cs"))
_TEXT_CHARACTERS = st.characters(exclude_categories=("Cc", "Cs"), include_characters="\n\r\t")


def identifiers() -> st.SearchStrategy[str]:
    """Ids of agents, conversations, queues and assets: short, lower-case, readable."""
    return st.from_regex(r"[a-z][a-z0-9_-]{0,15}", fullmatch=True)


def display_names() -> st.SearchStrategy[str]:
    """People's names as a widget or a login may carry them (any non-blank line of text)."""
    return st.one_of(
        st.sampled_from(_PEOPLE),
        st.text(_NAME_CHARACTERS, min_size=1, max_size=40).filter(lambda name: bool(name.strip())),
    )


def wrap_up_reasons() -> st.SearchStrategy[tuple[str, ...]]:
    """A queue's list of wrap-up reasons: one to five distinct, non-blank names."""
    reason = st.one_of(
        st.sampled_from(_REASONS),
        st.text(_NAME_CHARACTERS, min_size=1, max_size=30).filter(lambda text: bool(text.strip())),
    )
    return st.lists(reason, min_size=1, max_size=5, unique=True).map(tuple)


def _composable(text: str) -> bool:
    try:
        compose(text)
    except LivechatError:
        return False
    return True


def agent_message_texts(max_size: int = 300) -> st.SearchStrategy[str]:
    """Texts the composer accepts: not blank, no ``<`` or ``>``, at most 1000 code points
    after normalisation; line breaks, Czech, emoji, and messages right at the limit."""
    characters = st.characters(
        exclude_categories=("Cc", "Cs"), include_characters="\n\r\t", exclude_characters="<>"
    )
    return st.one_of(
        st.text(characters, min_size=1, max_size=min(max_size, MAX_MESSAGE_LENGTH)),
        st.sampled_from(
            (
                "Dobrý den, jak vám mohu pomoci?",
                "Let me check that for you.\nOne moment please 🙂",
                "x" * MAX_MESSAGE_LENGTH,
                "a\r\n" * 333,
            )
        ),
    ).filter(_composable)


def customer_message_texts() -> st.SearchStrategy[str]:
    """What customers type: anything not blank, sensitive items included (no composer
    rules apply to customers)."""
    return st.one_of(chat_texts(), st.text(_TEXT_CHARACTERS, min_size=1, max_size=200)).filter(
        lambda text: bool(normalise(text).strip())
    )


_SECONDS = st.floats(min_value=0.5, max_value=3600, allow_nan=False, allow_infinity=False)
_NOW = st.floats(min_value=0, max_value=4e9, allow_nan=False, allow_infinity=False)


@st.composite
def _add_queue(draw: st.DrawFn, queues: st.SearchStrategy[str]) -> cmd.AddQueue:
    reasons = draw(wrap_up_reasons())
    return cmd.AddQueue(
        name=draw(queues),
        wrap_up_reasons=reasons,
        offer_timeout=draw(_SECONDS),
        wrap_up_timeout=draw(st.none() | _SECONDS),
        default_wrap_up_reason=draw(st.none() | st.sampled_from(reasons)),
    )


def commands(
    *,
    agent_ids: Sequence[str] | None = None,
    conversation_ids: Sequence[str] | None = None,
    queues: Sequence[str] | None = None,
) -> st.SearchStrategy[cmd.Command]:
    """Any command, with valid field values.

    Ids are drawn from the given pools (so that commands of one test meet the same
    agents, conversations and queues), else from :func:`identifiers`.
    """
    agent = st.sampled_from(list(agent_ids)) if agent_ids else identifiers()
    chat = st.sampled_from(list(conversation_ids)) if conversation_ids else identifiers()
    queue = st.sampled_from(list(queues)) if queues else identifiers()
    text = display_names()
    return st.one_of(
        _add_queue(queue),
        st.builds(
            cmd.Login,
            agent_id=agent,
            name=text,
            queues=st.lists(queue, min_size=1, max_size=3, unique=True),
            capacity=st.integers(1, 5),
        ),
        st.builds(cmd.Logout, agent_id=agent),
        st.builds(cmd.SetAvailable, agent_id=agent),
        st.builds(cmd.SetIdle, agent_id=agent, reason=st.sampled_from(("break", "lunch"))),
        st.builds(
            cmd.StartChat,
            conversation_id=chat,
            queue=queue,
            customer_name=text,
            customer_contact=st.one_of(st.just(""), pii_items().map(lambda item: item.text)),
            proactive=st.booleans(),
            asset=st.sampled_from(("livechat", "web", "app")),
        ),
        st.builds(cmd.Accept, agent_id=agent, conversation_id=chat),
        st.builds(cmd.Decline, agent_id=agent, conversation_id=chat),
        st.builds(
            cmd.SendAgentMessage,
            agent_id=agent,
            conversation_id=chat,
            text=agent_message_texts(),
        ),
        st.builds(cmd.SendCustomerMessage, conversation_id=chat, text=customer_message_texts()),
        st.builds(cmd.TransferToAgent, agent_id=agent, conversation_id=chat, target_agent_id=agent),
        st.builds(cmd.TransferToQueue, agent_id=agent, conversation_id=chat, queue=queue),
        st.builds(
            cmd.RequestConference, agent_id=agent, conversation_id=chat, guest_agent_id=agent
        ),
        st.builds(cmd.EndConference, agent_id=agent, conversation_id=chat),
        st.builds(cmd.CustomerEnd, conversation_id=chat),
        st.builds(cmd.DeleteAsset, asset=st.sampled_from(("livechat", "web", "app"))),
        st.builds(cmd.End, agent_id=agent, conversation_id=chat),
        st.builds(
            cmd.SubmitWrapUp,
            agent_id=agent,
            conversation_id=chat,
            reason=st.sampled_from(_REASONS),
            notes=st.text(_TEXT_CHARACTERS, max_size=100),
        ),
        st.builds(cmd.Tick, now=_NOW),
    )


# --------------------------------------------------------------------------- scenarios


@attrs.frozen(kw_only=True)
class Step:
    """One step of a scenario: ``command``, handled when the clock reads ``at``."""

    at: float
    command: cmd.Command


@attrs.frozen(kw_only=True)
class Scenario:
    """A sequence of timed commands that a fresh desk accepts, one after the other.

    Attributes:
        start: the clock's time before the first step.
        steps: the commands and the times they are handled at (never decreasing).
    """

    start: float
    steps: tuple[Step, ...]

    @property
    def commands(self) -> list[cmd.Command]:
        """The commands alone, in order."""
        return [step.command for step in self.steps]

    def play(self, desk: Desk, clock: ManualClock) -> list[Event]:
        """Handle every step on ``desk`` (empty, with ``clock`` as its clock), moving
        ``clock`` to each step's time; returns all the events, in order."""
        events: list[Event] = []
        for step in self.steps:
            clock.set(step.at)
            events.extend(desk.handle(step.command))
        return events


_QUEUE_NAMES = ("support", "billing", "sales")
_ASSETS = ("livechat", "web")

_Candidate = Callable[[st.DrawFn], cmd.Command]
# built once: a strategy validates itself on first use, which would cost every draw
_CUSTOMER_TEXTS = customer_message_texts()
_AGENT_TEXTS = agent_message_texts(80)
_IDLE_REASONS = st.sampled_from(("break", "lunch"))
_ADVANCES = st.sampled_from((1.0, 5.0, 15.0, 31.0, 61.0, 300.0))
_CONTACTS = st.sampled_from(("", "karel@example.com", "+420 777 123 456"))
_NAMES = st.sampled_from(_PEOPLE)
_NOTES = st.sampled_from(("", "called back", "poznámka"))
_AGENT_NAMES = st.sampled_from(_PEOPLE[:7])
_CAPACITIES = st.integers(1, 3)
_REASON_LISTS = st.lists(st.sampled_from(_REASONS), min_size=1, max_size=3, unique=True)
_OFFER_TIMEOUTS = st.sampled_from((10.0, 30.0))
_WRAP_UP_TIMEOUTS = st.sampled_from((None, 60.0))


def _fixed(command: cmd.Command) -> _Candidate:
    """A candidate that needs no further drawing."""
    return lambda draw: command


def _wrap_up(agent_id: str, chat_id: str, reasons: Sequence[str]) -> _Candidate:
    def build(draw: st.DrawFn) -> cmd.Command:
        return cmd.SubmitWrapUp(
            agent_id=agent_id,
            conversation_id=chat_id,
            reason=draw(st.sampled_from(reasons)),
            notes=draw(_NOTES),
        )

    return build


class _Builder:
    """Grows a scenario on a scratch desk, offering only commands its state allows."""

    def __init__(self, draw: st.DrawFn, start: float) -> None:
        self.draw = draw
        self.clock = ManualClock(start)
        self.desk = Desk(clock=self.clock)
        self.steps: list[Step] = []
        self.chats: list[str] = []
        self.queues: dict[str, tuple[str, ...]] = {}
        self.deleted: set[str] = set()
        self.queue_lists: st.SearchStrategy[list[str]] | None = None

    def apply(self, command: cmd.Command) -> None:
        # Every candidate is one the desk's state allows; a refusal here is a bug in the
        # candidates (or in the desk), and Hypothesis reports it with the sequence so far.
        self.desk.handle(command)
        self.steps.append(Step(at=self.clock.now, command=command))
        if isinstance(command, cmd.DeleteAsset):
            self.deleted.add(command.asset)

    def candidates(self) -> list[_Candidate]:
        """What may happen next; a candidate appears several times to weigh it (sampled_from
        draws uniformly): the steps that move chats along weigh more than agent churn."""
        desk, queues = self.desk, list(self.queues)
        found: list[_Candidate] = []
        assets = [asset for asset in _ASSETS if asset not in self.deleted]
        if assets:
            chat_id = f"chat-{len(self.chats) + 1}"

            def start(draw: st.DrawFn) -> cmd.Command:
                self.chats.append(chat_id)
                return cmd.StartChat(
                    conversation_id=chat_id,
                    queue=draw(st.sampled_from(queues)),
                    customer_name=draw(_NAMES),
                    customer_contact=draw(_CONTACTS),
                    proactive=draw(st.booleans()),
                    asset=draw(st.sampled_from(assets)),
                )

            found += [start] * 3

        def advance(draw: st.DrawFn) -> cmd.Command:
            self.clock.advance(draw(_ADVANCES))
            return cmd.Tick(now=self.clock.now)

        found += [advance] * 2
        for agent in desk.agents():
            found.extend(self._agent_candidates(agent))
        for existing in self.chats:
            found.extend(self._chat_candidates(existing))
        if "web" not in self.deleted and len(self.steps) > 3:
            found.append(_fixed(cmd.DeleteAsset(asset="web")))
        return found

    def _agent_candidates(self, agent: Agent) -> list[_Candidate]:
        agent_id, state = agent.id, agent.state
        found: list[_Candidate] = []
        if state is AgentState.LOGGED_OUT:
            found += [lambda draw: self._login(draw, agent_id)] * 2
            return found
        if state is not AgentState.AVAILABLE:
            found += [_fixed(cmd.SetAvailable(agent_id=agent_id))] * 3
        if state is not AgentState.IDLE:
            found.append(lambda draw: cmd.SetIdle(agent_id=agent_id, reason=draw(_IDLE_REASONS)))
        if not agent.holding and not agent.wrapping:
            found.append(_fixed(cmd.Logout(agent_id=agent_id)))
        for offer in self.desk.offers(agent_id):
            chat_id = offer.conversation_id
            found += [_fixed(cmd.Accept(agent_id=agent_id, conversation_id=chat_id))] * 6
            found.append(_fixed(cmd.Decline(agent_id=agent_id, conversation_id=chat_id)))
        return found

    def _chat_candidates(self, chat_id: str) -> list[_Candidate]:
        view = self.desk.conversation(chat_id)
        state, owner = view.state, view.owner
        found: list[_Candidate] = []
        if state not in OPEN:
            return found
        # what each party may do here is the table's say (``_machines.py``)
        allows = CONVERSATION_MACHINE.allows
        if allows(state, "MessagePosted[customer]"):
            found += [
                lambda draw: cmd.SendCustomerMessage(
                    conversation_id=chat_id, text=draw(_CUSTOMER_TEXTS)
                )
            ] * 2
            found.append(_fixed(cmd.CustomerEnd(conversation_id=chat_id)))
        if owner is not None and allows(state, "MessagePosted[owner]"):
            found += [
                lambda draw: cmd.SendAgentMessage(
                    agent_id=owner, conversation_id=chat_id, text=draw(_AGENT_TEXTS)
                )
            ] * 2
        if owner is not None and allows(state, "TransferRequested"):
            targets = [agent.id for agent in self.desk.available_agents(exclude=owner)]
            if targets:
                found.append(
                    lambda draw: cmd.TransferToAgent(
                        agent_id=owner,
                        conversation_id=chat_id,
                        target_agent_id=draw(st.sampled_from(targets)),
                    )
                )
                found.append(
                    lambda draw: cmd.RequestConference(
                        agent_id=owner,
                        conversation_id=chat_id,
                        guest_agent_id=draw(st.sampled_from(targets)),
                    )
                )
            found.append(
                lambda draw: cmd.TransferToQueue(
                    agent_id=owner,
                    conversation_id=chat_id,
                    queue=draw(st.sampled_from(list(self.queues))),
                )
            )
        if owner is not None and state in CONFERENCE:
            found += [_fixed(cmd.EndConference(agent_id=owner, conversation_id=chat_id))] * 2
        if owner is not None and allows(state, "ChatEnded"):
            found += [_fixed(cmd.End(agent_id=owner, conversation_id=chat_id))] * 2
        wrapping: set[str] = set()
        for leg in view.legs:
            if leg.role is LegRole.GUEST and leg.state is LegState.ACTIVE:
                guest = leg.agent_id
                found.append(_fixed(cmd.EndConference(agent_id=guest, conversation_id=chat_id)))
                if allows(state, "MessagePosted[guest]"):
                    text = "Happy to help."
                    found.append(
                        _fixed(
                            cmd.SendAgentMessage(agent_id=guest, conversation_id=chat_id, text=text)
                        )
                    )
            if leg.state is LegState.WRAPPING_UP and leg.agent_id not in wrapping:
                # An agent with two legs wrapping up here (the chat came back to them
                # through a queue) submits the older one first, with its queue's reasons.
                wrapping.add(leg.agent_id)
                found += [_wrap_up(leg.agent_id, chat_id, self.queues[leg.queue])] * 4
        return found

    def _login(self, draw: st.DrawFn, agent_id: str) -> cmd.Command:
        if self.queue_lists is None:  # the queues are all added before anyone logs in
            self.queue_lists = st.lists(st.sampled_from(list(self.queues)), min_size=1, unique=True)
        return cmd.Login(
            agent_id=agent_id,
            name=draw(_AGENT_NAMES),
            queues=draw(self.queue_lists),
            capacity=draw(_CAPACITIES),
        )


@st.composite
def _scenarios(draw: st.DrawFn, max_agents: int, max_queues: int, max_steps: int) -> Scenario:
    builder = _Builder(draw, DEFAULT_START)
    for name in _QUEUE_NAMES[: draw(st.integers(1, max_queues))]:
        reasons = draw(_REASON_LISTS)
        builder.queues[name] = tuple(reasons)
        builder.apply(
            cmd.AddQueue(
                name=name,
                wrap_up_reasons=reasons,
                offer_timeout=draw(_OFFER_TIMEOUTS),
                wrap_up_timeout=draw(_WRAP_UP_TIMEOUTS),
            )
        )
    for index in range(draw(st.integers(1, max_agents))):
        agent_id = f"agent-{index + 1}"
        builder.apply(builder._login(draw, agent_id))
        if draw(st.booleans()):
            builder.apply(cmd.SetAvailable(agent_id=agent_id))
    for _ in range(draw(st.integers(0, max_steps))):
        candidate = draw(st.sampled_from(builder.candidates()))
        builder.apply(candidate(draw))
    return Scenario(start=DEFAULT_START, steps=tuple(builder.steps))


def scenarios(
    *, max_agents: int = 4, max_queues: int = 2, max_steps: int = 40
) -> st.SearchStrategy[Scenario]:
    """Scenarios a fresh desk accepts step by step: queues, agents logging in, then up to
    ``max_steps`` commands drawn from what the desk's state allows at each point.

    Every step was accepted by a scratch in-memory desk while drawing, so playing the
    scenario on an empty desk of any store (with a :class:`ManualClock` starting at
    ``scenario.start``) is accepted too, and gives the same events. Shrinks towards short
    scenarios of early, simple steps.
    """
    if max_agents < 1 or not 1 <= max_queues <= len(_QUEUE_NAMES) or max_steps < 0:
        raise ValueError("need 1+ agents, 1 to 3 queues and a non-negative number of steps")
    return _scenarios(max_agents, max_queues, max_steps)
