"""JSON projections of the desk's views for the desktop, the widget and the HTTP API.

Everything an agent's screen receives is masked here, on the server, by the desk's
policy: customer names (conditional masking of a name that is a phone number), contacts,
message texts, the request popover and every surface of SPEC section 6. The desktop
never receives an unmasked item, so no script in the browser can leak one.

The customer's widget gets the transcript as stored (card numbers are already masked
at rest); it is the customer's own conversation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from .._desk import Offer
from .._errors import LivechatError
from .._events import Event, MessagePosted, MessagesRedacted
from .._machines import ConversationState
from .._masking import MaskingPolicy, mask_text
from .._model import Agent, Conversation, Leg, Message, Queue, Role
from .._surfaces import display_name, render_surfaces

JSON = dict[str, Any]

# Conversation states in which the customer is still in the chat (SPEC section 5).
CUSTOMER_PRESENT = frozenset(
    {
        ConversationState.QUEUED,
        ConversationState.OFFERED,
        ConversationState.ACTIVE,
        ConversationState.TRANSFER_REQUESTED,
        ConversationState.CONFERENCE_REQUESTED,
        ConversationState.CONFERENCING,
    }
)


def error_json(error: LivechatError) -> JSON:
    """The body of a refusal: the error's stable ``code``, its message and its data."""
    details = {key: _plain(value) for key, value in error.details.items()}
    return {
        "error": {
            "code": error.code,
            "message": error.message,
            "aggregate_id": error.aggregate_id,
            "state": None if error.state is None else str(error.state),
            "details": details,
        }
    }


def _plain(value: object) -> object:
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, tuple | list | frozenset | set):
        return [_plain(item) for item in value]
    return str(value)


def queue_json(queue: Queue) -> JSON:
    """A queue's configuration."""
    return {
        "name": queue.name,
        "wrap_up_reasons": list(queue.wrap_up_reasons),
        "offer_timeout": queue.offer_timeout,
        "wrap_up_timeout": queue.wrap_up_timeout,
        "default_wrap_up_reason": queue.default_wrap_up_reason,
    }


def agent_json(agent: Agent) -> JSON:
    """An agent as the desk sees them (no customer data)."""
    return {
        "id": agent.id,
        "name": agent.name,
        "state": str(agent.state),
        "idle_reason": agent.idle_reason,
        "capacity": agent.capacity,
        "queues": list(agent.queues),
        "holding": list(agent.holding),
        "wrapping": list(agent.wrapping),
        "free_capacity": agent.free_capacity,
    }


def message_json(message: Message, policy: MaskingPolicy | None, names: Mapping[str, str]) -> JSON:
    """One bubble: masked by ``policy`` for an agent's screen, as stored when ``None``."""
    text = message.text if policy is None else mask_text(message.text, policy)
    if message.role is Role.CUSTOMER:
        author_name = message.author if policy is None else display_name(message.author, policy)
    elif message.role is Role.AGENT:
        author_name = names.get(message.author, message.author)
    else:
        author_name = ""
    return {
        "id": message.id,
        "role": str(message.role),
        "author": message.author if message.role is not Role.CUSTOMER else author_name,
        "author_name": author_name,
        "text": text,
        "at": message.at,
        "initials": message.initials,
    }


def leg_json(leg: Leg) -> JSON:
    """One agent's participation."""
    return {
        "agent_id": leg.agent_id,
        "agent_name": leg.agent_name,
        "role": str(leg.role),
        "kind": str(leg.kind),
        "queue": leg.queue,
        "state": str(leg.state),
        "offered_at": leg.offered_at,
        "deadline": leg.deadline,
        "accepted_at": leg.accepted_at,
        "ended_at": leg.ended_at,
        "wrap_up_reason": leg.wrap_up_reason,
        "wrap_up_notes": leg.wrap_up_notes,
        "wrapped_up_at": leg.wrapped_up_at,
        "wrapped_up_automatically": leg.wrapped_up_automatically,
    }


def conversation_json(
    conversation: Conversation, policy: MaskingPolicy, now: float, names: Mapping[str, str]
) -> JSON:
    """The conversation for an agent's screen: every customer item masked by ``policy``,
    with the text of every masked surface (``surfaces``)."""
    return {
        "id": conversation.id,
        "state": str(conversation.state),
        "owner": conversation.owner,
        "queue": conversation.queue,
        "asset": conversation.asset,
        "proactive": conversation.proactive,
        "customer_name": display_name(conversation.customer_name, policy),
        "customer_contact": mask_text(conversation.customer_contact, policy),
        "started_at": conversation.started_at,
        "accepted_at": conversation.accepted_at,
        "elapsed": conversation.elapsed(now),
        "outcome": None if conversation.outcome is None else str(conversation.outcome),
        "disconnect_reason": (
            None if conversation.disconnect_reason is None else str(conversation.disconnect_reason)
        ),
        "legs": [leg_json(leg) for leg in conversation.legs],
        "messages": [message_json(m, policy, names) for m in conversation.messages],
        "surfaces": attrs.asdict(render_surfaces(conversation, policy)),
    }


def chat_json(conversation: Conversation, names: Mapping[str, str]) -> JSON:
    """The conversation for the customer's widget: the transcript as stored, agents by
    display name, and no agent-side detail (legs, surfaces)."""
    agent = names.get(conversation.owner, "") if conversation.owner else ""
    return {
        "id": conversation.id,
        "state": str(conversation.state),
        "queue": conversation.queue,
        "proactive": conversation.proactive,
        "customer_name": conversation.customer_name,
        "agent_name": agent,
        "ended": conversation.state not in CUSTOMER_PRESENT,
        "messages": [message_json(m, None, names) for m in conversation.messages],
    }


def offer_json(
    offer: Offer, conversation: Conversation, policy: MaskingPolicy, names: Mapping[str, str]
) -> JSON:
    """The request popover: customer name, queue, thread, agent name, date, proactive
    marker and the deadline of the countdown to RONA; masked by ``policy``."""
    surfaces = render_surfaces(conversation, policy)
    return {
        "conversation_id": offer.conversation_id,
        "kind": str(offer.kind),
        "deadline": offer.deadline,
        "customer_name": display_name(offer.customer_name, policy),
        "queue": offer.queue,
        "agent_name": offer.agent_name,
        "at": offer.at,
        "proactive": offer.proactive,
        "thread": [message_json(m, policy, names) for m in offer.messages],
        "title": surfaces.task_title,
        "preview": surfaces.message_preview,
        "popover": surfaces.notification_popover,
        "notification": surfaces.desktop_notification,
    }


def event_brief(event: Event) -> JSON:
    """What a command's answer says about each of its events (no customer data)."""
    return {"id": event.id, "type": event.type}


def agent_frame(
    position: int, event: Event, policy: MaskingPolicy, names: Mapping[str, str]
) -> JSON:
    """A WebSocket frame for an agent's desktop: masked by ``policy``."""
    frame: JSON = {
        "position": position,
        "id": event.id,
        "type": event.type,
        "aggregate": event.aggregate,
        "aggregate_id": event.aggregate_id,
        "at": event.at,
    }
    if isinstance(event, MessagePosted):
        frame["message"] = message_json(event.message, policy, names)
    elif isinstance(event, MessagesRedacted):
        frame["redactions"] = [[mid, mask_text(text, policy)] for mid, text in event.redactions]
    return frame


def customer_frame(position: int, event: Event, names: Mapping[str, str]) -> JSON:
    """A WebSocket frame for the customer's widget."""
    frame: JSON = {
        "position": position,
        "id": event.id,
        "type": event.type,
        "at": event.at,
    }
    if isinstance(event, MessagePosted):
        frame["message"] = message_json(event.message, None, names)
    elif isinstance(event, MessagesRedacted):
        frame["redactions"] = [list(pair) for pair in event.redactions]
    return frame
