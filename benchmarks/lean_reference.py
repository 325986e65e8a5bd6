"""What the essential work of a lifecycle costs with no layers: a diagnostic, not a baseline.

Run: ``.venv/bin/python benchmarks/lean_reference.py`` (about a minute).

Issue 9 asks for a desk lifecycle at most 0.5x the naive one of ``bench_core.py``. This
script answers a different question: how far below the naive lifecycle could a desk go if
it did only the work the lifecycle cannot skip, written straight through? Its
``LeanDesk`` keeps the eight commands of ``bench_core.desk_lifecycle`` to their essentials:

* one look-up per event in a ``(state, event type) -> (next state, effect)`` table;
* the library's own frozen events and messages, built by ``_model.builder``;
* the masking the SPEC requires at rest, through the desk's own filters (the same calls as
  ``bench_core.required_masking``);
* dict storage, an event log, an outbox, a routing list and a sorted deadline index.

It leaves out, on purpose, what the real desk must also do: agent events and their table,
legs as records, versions and conflict checks for concurrent writers, the time floor, the
transaction port, wrap-up deadlines, typed refusals naming the command, the indexes that
keep every command's cost flat, and packing for memory. So it is a floor for the shape of
the work, never a target or a baseline: the gap between it and the desk is what layering
and those guarantees cost together.

The naive lifecycle runs in alternating rounds in the same process; CPU time, medians.
"""

from __future__ import annotations

import bisect
import statistics
import time
from collections.abc import Callable
from typing import Any

from bench_core import NaiveChat, make_desk, naive_lifecycle, timed

from livechat_core import _events as ev
from livechat_core._model import Message, Role, builder

TABLE: dict[tuple[str | None, str], str] = {
    (None, "ChatStarted"): "queued",
    ("queued", "ChatOffered"): "offered",
    ("offered", "OfferAccepted"): "active",
    ("active", "MessagePosted"): "active",
    ("active", "ChatEnded"): "wrap_up",
    ("wrap_up", "WrapUpSubmitted"): "closed",
}
STARTED = builder(ev.ChatStarted)
OFFERED = builder(ev.ChatOffered)
ACCEPTED = builder(ev.OfferAccepted)
POSTED = builder(ev.MessagePosted)
ENDED = builder(ev.ChatEnded)
WRAPPED_UP = builder(ev.WrapUpSubmitted)
MESSAGE = builder(Message)


class Refused(Exception):
    """A command the table (or the owner check) does not allow."""


class Chat:
    __slots__ = ("count", "deadline", "id", "name", "owner", "queue", "state", "version")


class LeanAgent:
    __slots__ = ("holding", "id", "name", "version")


class LeanDesk:
    """The lifecycle's essential work, straight through (see the module's docstring)."""

    def __init__(self, scrub: Callable[[str], str], customer_text: Callable[..., Any]) -> None:
        self.chats: dict[str, Chat] = {}
        self.agents: dict[str, LeanAgent] = {}
        self.log: list[ev.Event] = []
        self.outbox: list[ev.Event] = []
        self.deadlines: list[tuple[float, str]] = []
        self.routable: dict[str, list[tuple[float, str]]] = {"support": [(0.0, "a0")]}
        self.scrub, self.customer_text = scrub, customer_text
        self.record: Any = None  # the conversation the customer-text filter looks back over
        self.count = 0
        agent = LeanAgent()
        agent.id, agent.name, agent.holding, agent.version = "a0", "Agent 0", (), 1
        self.agents["a0"] = agent

    def _chat(self, conversation_id: str, event_type: str) -> tuple[Chat, str]:
        chat = self.chats.get(conversation_id)
        if chat is None:
            raise Refused(conversation_id)
        state = TABLE.get((chat.state, event_type))
        if state is None:
            raise Refused(event_type)
        return chat, state

    def _emit(self, event: ev.Event) -> None:
        self.log.append(event)
        self.outbox.append(event)

    def start_chat(self, queue: str, name: str, contact: str) -> str:
        if type(queue) is not str or type(name) is not str or type(contact) is not str:
            raise TypeError("strings only")
        now = time.time()
        self.count += 1
        chat = Chat()
        chat.id, chat.queue, chat.state, chat.owner = f"c{self.count}", queue, "queued", queue
        chat.name, chat.count, chat.version, chat.deadline = self.scrub(name), 0, 1, None
        contact = self.scrub(contact)
        self._emit(
            STARTED(
                aggregate_id=chat.id,
                sequence=1,
                at=now,
                queue=queue,
                customer_name=chat.name,
                customer_contact=contact,
                proactive=False,
                asset="livechat",
            )
        )
        self.chats[chat.id] = chat
        waiting = self.routable[queue]
        if waiting:  # route to the longest-waiting routable agent
            _, agent_id = waiting.pop(0)
            agent = self.agents[agent_id]
            chat.state = TABLE[(chat.state, "ChatOffered")]
            chat.owner, chat.deadline = agent_id, now + 30.0
            chat.version += 1
            agent.holding = (*agent.holding, chat.id)
            agent.version += 1
            bisect.insort(self.deadlines, (chat.deadline, chat.id))
            self._emit(
                OFFERED(
                    aggregate_id=chat.id,
                    sequence=chat.version,
                    at=now,
                    agent_id=agent_id,
                    agent_name=agent.name,
                    deadline=chat.deadline,
                )
            )
        return chat.id

    def accept(self, agent_id: str, conversation_id: str) -> None:
        now = time.time()
        chat, state = self._chat(conversation_id, "OfferAccepted")
        if chat.owner != agent_id:
            raise Refused(agent_id)
        del self.deadlines[bisect.bisect_left(self.deadlines, (chat.deadline, chat.id))]
        chat.state, chat.deadline = state, None
        chat.version += 1
        self._emit(ACCEPTED(aggregate_id=chat.id, sequence=chat.version, at=now, agent_id=agent_id))

    def _post(self, chat: Chat, role: Role, author: str, text: str, now: float) -> None:
        chat.count += 1
        chat.version += 1
        message = MESSAGE(
            id=f"{chat.id}/{chat.count}", role=role, author=author, text=text, at=now, initials=""
        )
        self._emit(POSTED(aggregate_id=chat.id, sequence=chat.version, at=now, message=message))

    def send_customer_message(self, conversation_id: str, text: str) -> None:
        if type(text) is not str or len(text) > 10_000:
            raise TypeError("a text of at most 10,000 characters")
        now = time.time()
        chat, _ = self._chat(conversation_id, "MessagePosted")
        masked, _ = self.customer_text(self.record, text)
        self._post(chat, Role.CUSTOMER, chat.name, masked, now)

    def send_agent_message(self, agent_id: str, conversation_id: str, text: str) -> None:
        if type(text) is not str or len(text) > 10_000:
            raise TypeError("a text of at most 10,000 characters")
        now = time.time()
        chat, _ = self._chat(conversation_id, "MessagePosted")
        if chat.owner != agent_id:
            raise Refused(agent_id)
        self._post(chat, Role.AGENT, agent_id, self.scrub(text), now)

    def end(self, agent_id: str, conversation_id: str) -> None:
        now = time.time()
        chat, state = self._chat(conversation_id, "ChatEnded")
        if chat.owner != agent_id:
            raise Refused(agent_id)
        chat.state = state
        chat.version += 1
        self._emit(
            ENDED(
                aggregate_id=chat.id,
                sequence=chat.version,
                at=now,
                agent_id=agent_id,
                wrap_up_deadline=None,
            )
        )

    def submit_wrap_up(self, agent_id: str, conversation_id: str, reason: str) -> None:
        now = time.time()
        chat, state = self._chat(conversation_id, "WrapUpSubmitted")
        chat.state = state
        chat.version += 1
        agent = self.agents[agent_id]
        agent.holding = tuple(held for held in agent.holding if held != chat.id)
        agent.version += 1
        self.routable[chat.queue].append((now, agent_id))
        self._emit(
            WRAPPED_UP(
                aggregate_id=chat.id,
                sequence=chat.version,
                at=now,
                agent_id=agent_id,
                reason=reason,
                notes="",
                automatic=False,
            )
        )
        del self.chats[chat.id]  # not kept after closing, like the naive lifecycle
        self.log.clear()
        self.outbox.clear()


def lean_lifecycle(desk: LeanDesk, i: int) -> None:
    """``bench_core.desk_lifecycle``'s eight commands on the lean desk."""
    conversation_id = desk.start_chat("support", f"Customer {i}", "customer@example.com")
    desk.accept("a0", conversation_id)
    desk.send_customer_message(conversation_id, "Hello, I need help with my order")
    desk.send_agent_message("a0", conversation_id, "Hello, how can I help?")
    desk.send_customer_message(conversation_id, "It has not arrived yet")
    desk.send_agent_message("a0", conversation_id, "Let me check that for you")
    desk.end("a0", conversation_id)
    desk.submit_wrap_up("a0", conversation_id, "Resolved")


def main() -> None:
    desk = make_desk()
    settings = desk._settings
    lean = LeanDesk(settings.scrub, settings.customer_text)
    conversation_id = desk.start_chat("support", "Customer 0", "customer@example.com")
    desk.accept("a0", conversation_id)
    lean.record = desk.conversation(conversation_id)
    ratios, naive_us, lean_us = [], [], []
    for _ in range(7):
        chats: dict[str, NaiveChat] = {}
        naive = timed(3000, lambda i, chats=chats: naive_lifecycle(chats, i))
        leaned = timed(3000, lambda i: lean_lifecycle(lean, i))
        naive_us.append(naive * 1e6)
        lean_us.append(leaned * 1e6)
        ratios.append(leaned / naive)
    print(
        f"lean reference {statistics.median(lean_us):.1f} us,"
        f" naive {statistics.median(naive_us):.1f} us per lifecycle:"
        f" ratio {statistics.median(ratios):.3f}"
        f" (rounds: {', '.join(f'{r:.3f}' for r in ratios)})"
    )


if __name__ == "__main__":
    main()
