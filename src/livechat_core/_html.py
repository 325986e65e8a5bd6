"""Readable HTML for notebooks: a conversation's transcript, an agent, a desk overview.

Importing this module attaches ``_repr_html_`` to the agent and conversation records
(the records themselves know nothing of views; ``livechat_core`` imports this module), and
the desk's ``_repr_html_`` calls :func:`desk_html`, so a conversation, an agent or a desk
shows as a small desktop-like card in Jupyter. Everything shown about a customer goes
through the masking policy first (by default ``MaskingPolicy()``: everything masked; a
customer name that is a phone number is masked as one), and every piece of text is
HTML-escaped. Styles are inline, so the cards look the same wherever HTML is rendered
(Jupyter, VS Code, GitHub's notebook viewer, an e-mail).
"""

from __future__ import annotations

import html
import time
from collections.abc import Iterable, Sequence
from typing import Protocol

from ._machines import HELD, IN_QUEUE, OWNED, WAITING, AgentState, ConversationState
from ._masking import MaskingPolicy, mask_across, mask_text
from ._model import Agent, Conversation, Message, Queue, Role
from ._surfaces import display_name
from .ports import Clock, Store

__all__ = ["agent_html", "conversation_html", "desk_html"]

_FONT = "font-family: system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; font-size: 13px"
_CARD = (
    f"{_FONT}; color: #1f2328; background: #fff; border: 1px solid #d0d7de; "
    "border-radius: 8px; padding: 10px 12px; max-width: 680px; line-height: 1.4"
)
_MUTED = "color: #656d76"
_STATE_COLOURS: dict[str, str] = {
    **dict.fromkeys(WAITING, "#9a6700"),  # waiting for an agent
    **dict.fromkeys(HELD, "#1a7f37"),  # an agent holds it
    # on the way out
    ConversationState.DISCONNECTED: "#cf222e",
    ConversationState.WRAP_UP: "#8250df",
    ConversationState.CLOSED: "#656d76",
    AgentState.AVAILABLE: "#1a7f37",
    AgentState.IDLE: "#9a6700",
    AgentState.RONA: "#cf222e",
    AgentState.LOGGED_OUT: "#656d76",
}


class DeskView(Protocol):
    """What the overview reads of a desk (``Desk`` is one)."""

    clock: Clock
    masking: MaskingPolicy

    @property
    def store(self) -> Store:
        """Where the desk keeps its state."""

    def queues(self) -> list[Queue]:
        """Every queue, by name."""

    def agents(self) -> list[Agent]:
        """Every agent, by id."""

    def conversation(self, conversation_id: str) -> Conversation:
        """One conversation."""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _badge(state: str) -> str:
    colour = _STATE_COLOURS.get(state, "#656d76")
    label = state.replace("_", " ")
    return (
        f'<span style="display: inline-block; padding: 0 7px; border-radius: 10px; '
        f"border: 1px solid {colour}; color: {colour}; font-size: 11px; "
        f'font-weight: 600; text-transform: uppercase; letter-spacing: .03em">{_e(label)}</span>'
    )


def _clock(seconds: float) -> str:
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _time_of_day(at: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(at))


def _avatar(initials: str, background: str, colour: str) -> str:
    return (
        f'<span title="{_e(initials)}" style="flex: none; display: inline-flex; '
        f"align-items: center; justify-content: center; width: 28px; height: 28px; "
        f"border-radius: 50%; background: {background}; color: {colour}; font-size: 11px; "
        f'font-weight: 600">{_e(initials or "?")}</span>'
    )


def _masked_texts(messages: Sequence[Message], policy: MaskingPolicy) -> list[str]:
    """Every message's text under ``policy``; a number split over consecutive customer
    messages is masked across them."""
    texts = [message.text for message in messages]
    if not policy.enabled:
        return texts
    start = 0
    while start < len(messages):
        if messages[start].role is not Role.CUSTOMER:
            texts[start] = mask_text(texts[start], policy)
            start += 1
            continue
        end = start
        while end < len(messages) and messages[end].role is Role.CUSTOMER:
            end += 1
        texts[start:end] = mask_across(texts[start:end], policy)
        start = end
    return texts


def _bubble(message: Message, text: str, author: str) -> str:
    body = _e(text)
    stamp = f'<span style="{_MUTED}; font-size: 11px">{_e(_time_of_day(message.at))}</span>'
    if message.role is Role.SYSTEM:
        return (
            f'<div style="text-align: center; margin: 6px 0; {_MUTED}; font-size: 12px; '
            f'font-style: italic; white-space: pre-wrap">{body} · {stamp}</div>'
        )
    bubble = (
        "max-width: 75%; padding: 6px 10px; border-radius: 12px; white-space: pre-wrap; "
        "overflow-wrap: anywhere"
    )
    if message.role is Role.CUSTOMER:
        return (
            '<div style="display: flex; gap: 6px; align-items: flex-end; margin: 6px 0">'
            + _avatar(message.initials, "#d0d7de", "#1f2328")
            + f'<div style="{bubble}; background: #eaeef2; border-bottom-left-radius: 3px">'
            f'<div style="{_MUTED}; font-size: 11px">{_e(author)}</div>{body}</div>'
            f"{stamp}</div>"
        )
    return (
        '<div style="display: flex; gap: 6px; align-items: flex-end; margin: 6px 0; '
        'justify-content: flex-end">'
        f"{stamp}"
        f'<div style="{bubble}; background: #0969da; color: #fff; border-bottom-right-radius: 3px">'
        f'<div style="color: #cfe3ff; font-size: 11px">{_e(author)}</div>{body}</div>'
        + _avatar(message.initials, "#0550ae", "#fff")
        + "</div>"
    )


def conversation_html(
    conversation: Conversation, now: float | None = None, policy: MaskingPolicy | None = None
) -> str:
    """The conversation as a desktop card: header, legs and the transcript's bubbles.

    Args:
        conversation: the view (``desk.conversation(id)``).
        now: POSIX seconds for the timer (time since the owner accepted); ``None`` shows
            when it was accepted instead.
        policy: masking for everything about the customer; ``None`` → ``MaskingPolicy()``.

    Customer messages are grey bubbles on the left with the customer's initials, agent
    messages blue on the right with the agent's, system messages centred.
    """
    policy = MaskingPolicy() if policy is None else policy
    name = display_name(conversation.customer_name, policy)
    contact = mask_text(conversation.customer_contact, policy)
    agent_names = {leg.agent_id: leg.agent_name for leg in conversation.legs}
    owner = (
        f"{agent_names.get(conversation.owner, conversation.owner)}" if conversation.owner else "—"
    )
    facts = [
        f"queue <b>{_e(conversation.queue)}</b>",
        f"owner <b>{_e(owner)}</b>",
    ]
    accepted = conversation.accepted_at
    if conversation.state in OWNED and accepted is not None:
        if now is not None:
            facts.append(f"⏱ <b>{_clock(conversation.elapsed(now))}</b>")
        else:
            facts.append(f"accepted {_e(_time_of_day(accepted))}")
    elif now is not None and conversation.state in IN_QUEUE:
        facts.append(f"waiting <b>{_clock(max(0.0, now - conversation.started_at))}</b>")
    if conversation.outcome is not None:
        facts.append(f"outcome <b>{_e(str(conversation.outcome).replace('_', ' '))}</b>")
    if conversation.proactive:
        facts.append('<span title="the business invited the visitor">★ proactive</span>')
    header = (
        '<div style="display: flex; justify-content: space-between; align-items: baseline; '
        'gap: 8px; flex-wrap: wrap">'
        f"<div><b>{_e(name)}</b>"
        + (f' <span style="{_MUTED}">{_e(contact)}</span>' if contact and contact != name else "")
        + f"</div><div>{_badge(conversation.state)}</div></div>"
        f'<div style="{_MUTED}; margin: 2px 0 6px">'
        + " · ".join(facts)
        + f' · <span style="font-family: monospace">{_e(conversation.id)}</span></div>'
    )
    legs = ""
    if conversation.legs:
        rows = "".join(
            "<tr>"
            f"<td>{_e(leg.agent_name)}</td><td>{_e(leg.role)}</td><td>{_e(leg.kind)}</td>"
            f"<td>{_e(str(leg.state).replace('_', ' '))}</td>"
            f"<td>{_e(leg.wrap_up_reason or '')}"
            + (" (automatic)" if leg.wrapped_up_automatically else "")
            + (
                f' <span style="{_MUTED}">— {_e(leg.wrap_up_notes)}</span>'
                if leg.wrap_up_notes
                else ""
            )
            + "</td></tr>"
            for leg in conversation.legs
        )
        legs = (
            f'<table style="border-collapse: collapse; font-size: 12px; margin-bottom: 6px; '
            f'{_MUTED}"><tr><th style="text-align: left; padding-right: 10px">agent</th>'
            '<th style="text-align: left; padding-right: 10px">role</th>'
            '<th style="text-align: left; padding-right: 10px">offered as</th>'
            '<th style="text-align: left; padding-right: 10px">leg</th>'
            f'<th style="text-align: left">wrap-up</th></tr>{rows}</table>'
        )
    texts = _masked_texts(conversation.messages, policy)
    bubbles = []
    for message, text in zip(conversation.messages, texts, strict=True):
        if message.role is Role.CUSTOMER:
            author = name
        elif message.role is Role.AGENT:
            author = agent_names.get(message.author, message.author)
        else:
            author = ""
        bubbles.append(_bubble(message, text, author))
    transcript = "".join(bubbles) or f'<div style="{_MUTED}">No messages yet.</div>'
    return (
        f'<div class="livechat-conversation" style="{_CARD}">{header}{legs}'
        f'<div style="border-top: 1px solid #d0d7de; padding-top: 4px">{transcript}</div></div>'
    )


def agent_html(agent: Agent) -> str:
    """The agent as a card: name, state (with the idle reason), load against capacity."""
    held = len(agent.holding)
    share = min(1.0, held / agent.capacity) if agent.capacity else 0.0
    state = _badge(agent.state)
    if agent.state is AgentState.IDLE and agent.idle_reason:
        state += f' <span style="{_MUTED}">({_e(agent.idle_reason)})</span>'
    load = (
        f'<span style="display: inline-block; width: 80px; height: 8px; background: #eaeef2; '
        f'border-radius: 4px; vertical-align: middle; overflow: hidden">'
        f'<span style="display: block; height: 100%; width: {share:.0%}; '
        f'background: #0969da"></span></span> {held}/{agent.capacity} chats'
    )

    def chats(label: str, ids: Iterable[str]) -> str:
        listed = ", ".join(f'<span style="font-family: monospace">{_e(i)}</span>' for i in ids)
        return f'<div style="{_MUTED}">{label}: {listed}</div>' if listed else ""

    return (
        f'<div class="livechat-agent" style="{_CARD}; max-width: 420px">'
        '<div style="display: flex; justify-content: space-between; gap: 8px">'
        f"<b>{_e(agent.name)}</b><span>{state}</span></div>"
        f'<div style="{_MUTED}">{_e(agent.id)} · queues {_e(", ".join(agent.queues))}</div>'
        f'<div style="margin-top: 4px">{load}</div>'
        + chats("holding", dict.fromkeys(agent.holding))
        + chats("wrapping up", dict.fromkeys(agent.wrapping))
        + "</div>"
    )


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], empty: str) -> str:
    if not rows:
        return f'<div style="{_MUTED}; margin-bottom: 8px">{_e(empty)}</div>'
    cell = "padding: 2px 10px 2px 0; text-align: left; vertical-align: top"
    head = "".join(f'<th style="{cell}; {_MUTED}">{_e(h)}</th>' for h in headers)
    body = "".join(
        "<tr>" + "".join(f'<td style="{cell}">{value}</td>' for value in row) + "</tr>"
        for row in rows
    )
    return (
        f'<table style="border-collapse: collapse; margin-bottom: 8px">'
        f"<tr>{head}</tr>{body}</table>"
    )


def desk_html(
    desk: DeskView, now: float | None = None, policy: MaskingPolicy | None = None, limit: int = 50
) -> str:
    """An overview of the desk: queues, agents and the open conversations.

    Args:
        desk: the desk to show.
        now: POSIX seconds for waiting times and timers; ``None`` → the desk's clock.
        policy: masking of customer data; ``None`` → the desk's masking policy.
        limit: at most this many open conversations are listed (oldest first).
    """
    now = float(desk.clock()) if now is None else now
    policy = desk.masking if policy is None else policy
    queues = desk.queues()
    agents = desk.agents()
    open_ids: dict[str, None] = {}
    for agent in agents:
        open_ids.update(dict.fromkeys(agent.holding))
        open_ids.update(dict.fromkeys(agent.wrapping))
    with desk.store.transaction(write=False) as txn:
        queued = txn.queued([queue.name for queue in queues], limit=limit)
    open_ids.update(dict.fromkeys(conversation.id for conversation in queued))
    conversations = sorted(
        (desk.conversation(conversation_id) for conversation_id in open_ids),
        key=lambda c: (c.started_at, c.id),
    )
    conversations = [c for c in conversations if c.state is not ConversationState.CLOSED]
    waiting: dict[str, int] = {queue.name: 0 for queue in queues}
    for conversation in conversations:
        if conversation.state in IN_QUEUE:
            waiting[conversation.queue] = waiting.get(conversation.queue, 0) + 1
    queue_rows = [
        [
            f"<b>{_e(queue.name)}</b>",
            str(waiting.get(queue.name, 0)),
            f"{queue.offer_timeout:g} s",
            _e(", ".join(queue.wrap_up_reasons)),
        ]
        for queue in queues
    ]
    names = {agent.id: agent.name for agent in agents}
    agent_rows = [
        [
            f"<b>{_e(agent.name)}</b> "
            f'<span style="{_MUTED}; font-family: monospace">{_e(agent.id)}</span>',
            _badge(agent.state)
            + (
                f' <span style="{_MUTED}">({_e(agent.idle_reason)})</span>'
                if agent.state is AgentState.IDLE and agent.idle_reason
                else ""
            ),
            f"{len(agent.holding)}/{agent.capacity}",
            _e(", ".join(agent.queues)),
        ]
        for agent in agents
    ]
    conversation_rows = []
    for conversation in conversations[:limit]:
        if conversation.state in OWNED and conversation.accepted_at is not None:
            timer = f"⏱ {_clock(conversation.elapsed(now))}"
        else:
            timer = f"waiting {_clock(max(0.0, now - conversation.started_at))}"
        last = _masked_texts(conversation.messages, policy)[-1] if conversation.messages else ""
        if len(last) > 60:
            last = last[:59] + "…"
        conversation_rows.append(
            [
                f'<span style="font-family: monospace">{_e(conversation.id)}</span>',
                _e(display_name(conversation.customer_name, policy)),
                _e(conversation.queue),
                _badge(conversation.state),
                _e(
                    names.get(conversation.owner, conversation.owner) if conversation.owner else "—"
                ),
                _e(timer),
                f'<span style="{_MUTED}">{_e(last)}</span>',
            ]
        )
    title = f"Desk at {_time_of_day(now)} UTC"
    return (
        f'<div class="livechat-desk" style="{_CARD}; max-width: 960px">'
        f'<div style="font-size: 15px; font-weight: 600; margin-bottom: 6px">{_e(title)}</div>'
        "<b>Queues</b>"
        + _table(["queue", "waiting", "offer timeout", "wrap-up reasons"], queue_rows, "No queues.")
        + "<b>Agents</b>"
        + _table(["agent", "state", "load", "queues"], agent_rows, "Nobody logged in yet.")
        + f"<b>Open conversations ({len(conversations)})</b>"
        + _table(
            ["id", "customer", "queue", "state", "owner", "time", "last message"],
            conversation_rows,
            "No open conversations.",
        )
        + "</div>"
    )


def _agent_card(self: Agent) -> str:
    """The agent's card for notebooks: state, capacity, what they hold."""
    return agent_html(self)


def _transcript(self: Conversation) -> str:
    """A transcript with bubbles and initials for notebooks (masked by the default policy)."""
    return conversation_html(self)


# The records know nothing of views; the views attach themselves.
Agent._repr_html_ = _agent_card  # type: ignore[attr-defined]
Conversation._repr_html_ = _transcript  # type: ignore[attr-defined]
