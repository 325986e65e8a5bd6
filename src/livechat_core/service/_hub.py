"""The event hub: the store's event log, read once, fanned out to every open socket.

One task per service process reads the log by position (``desk.events_after``) when a
command of this process committed (it is poked) and every ``poll_interval`` seconds (for
commands of other processes and desks that share the store). Each event is kept in a
bounded buffer together with the agents it concerns, computed as it is read: an agent's
own events, and every event of a conversation while the agent has a leg in it (from the
offer to the end of that leg: declined, timed out, rescinded or wrapped up). The
customer's widget gets the events of its conversation.

A socket follows the buffer from a position: it sends, in log order, every event after
that position that concerns its reader, each frame carrying its position. A client that
reconnects with the last position it saw resumes without a gap or a duplicate. A
position older than the buffer cannot be resumed exactly; the socket then says
``reset`` with the current position, and the client reloads its view (as after a
first connect) and follows from there.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Final

import attrs

from .. import _events as ev
from .._events import Event

logger = logging.getLogger("livechat_core.service")

# Events that bring an agent into a conversation, and the field naming them.
_JOINING: Final[dict[type[Event], str]] = {
    ev.ChatOffered: "agent_id",
    ev.TransferRequested: "target_agent_id",
    ev.ConferenceRequested: "guest_agent_id",
}
_NAMES: Final[dict[type[Event], str]] = {
    ev.ChatOffered: "agent_name",
    ev.TransferRequested: "target_agent_name",
    ev.ConferenceRequested: "guest_agent_name",
}
_PENDING: Final = "pending"
_HELD: Final = "held"


def _swap(legs: dict[str, list[str]], agent_id: str, old: str, new: str | None) -> bool:
    """Turn the agent's first ``old`` leg into ``new`` (``None``: end it); whether one was."""
    states = legs.get(agent_id)
    if not states or old not in states:
        return False
    index = states.index(old)
    if new is None:
        del states[index]
        if not states:
            del legs[agent_id]
    else:
        states[index] = new
    return True


ReadLog = Callable[[int, int], Awaitable[list[tuple[int, Event]]]]


@attrs.frozen
class Entry:
    """One event of the log with the readers it concerns when it was read: the topics
    ``agent:<id>`` of the agents, and ``conversation:<id>`` of its conversation."""

    position: int
    event: Event
    topics: frozenset[str]


def agent_topic(agent_id: str) -> str:
    """The topic of an agent's socket."""
    return f"agent:{agent_id}"


def conversation_topic(conversation_id: str) -> str:
    """The topic of a customer's socket."""
    return f"conversation:{conversation_id}"


class PositionGone(Exception):
    """A socket asked to resume from a position the buffer no longer holds."""

    def __init__(self, head: int) -> None:
        super().__init__(f"position too old; the log is at {head}")
        self.head = head


class EventHub:
    """Reads the event log by position and serves it to sockets; see the module doc.

    Args:
        read_log: ``desk.events_after`` (a coroutine function of ``(after, limit)``).
        capacity: how many recent events are kept for sockets to resume from.
        poll_interval: seconds between reads when nobody pokes the hub.
        page: events read per call.
    """

    def __init__(
        self,
        read_log: ReadLog,
        *,
        capacity: int = 50_000,
        poll_interval: float = 0.25,
        page: int = 1000,
    ) -> None:
        self._read_log = read_log
        self._capacity = capacity
        self._poll_interval = poll_interval
        self._page = page
        self._entries: list[Entry] = []
        self._positions: list[int] = []
        self.position = 0  # the last position read
        self.floor = 0  # positions at or below it may be missing from the buffer
        self._members: dict[str, dict[str, list[str]]] = {}
        self.names: dict[str, str] = {}  # agent id → display name
        self._history: dict[str, deque[str]] = {}
        self._wake = asyncio.Event()
        self._waiters: dict[str, set[asyncio.Event]] = {}
        self._task: asyncio.Task[None] | None = None

    # --- reading the log -----------------------------------------------------------------

    async def start(self) -> None:
        """Read the whole log once (the membership of open conversations needs it), then
        follow it in a background task."""
        await self.pull()
        # Sockets may resume only from what this process has read.
        self.floor = self.position if not self._entries else self._entries[0].position - 1
        self._task = asyncio.create_task(self._run(), name="livechat-event-hub")

    async def stop(self) -> None:
        """Stop following the log."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def poke(self) -> None:
        """A command of this process committed: read the log now."""
        self._wake.set()

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_interval)
            self._wake.clear()
            try:
                await self.pull()
            except Exception:  # the store may be briefly unavailable: try again later
                logger.exception("reading the event log failed; retrying")
                await asyncio.sleep(self._poll_interval)

    async def pull(self) -> int:
        """Read every event after :attr:`position`; returns how many were read. The
        sockets of the topics they concern are woken."""
        total = 0
        touched: set[str] = set()
        while True:
            batch = await self._read_log(self.position, self._page)
            for position, event in batch:
                if position <= self.position:
                    continue  # a store that answers with what we already have
                entry = Entry(position, event, self._topics(event))
                self._add(entry)
                touched.update(entry.topics)
                self.position = position
            total += len(batch)
            if len(batch) < self._page:
                break
        for topic in touched:
            for waiter in self._waiters.get(topic, ()):
                waiter.set()
        return total

    def _topics(self, event: Event) -> frozenset[str]:
        topics = {agent_topic(agent_id) for agent_id in self._ingest(event)}
        if event.aggregate == "conversation":
            topics.add(conversation_topic(event.aggregate_id))
        return frozenset(topics)

    def _ingest(self, event: Event) -> frozenset[str]:
        """Who ``event`` concerns, updating the conversations' membership.

        Membership follows the legs: an offer adds a pending leg for its agent, an accept
        makes it held, a decline, timeout or rescission ends a pending one, a submitted
        wrap-up ends a held one, and the end of the chat (by the customer, the owner or
        an administrator) rescinds every pending one. The event that ends a leg still
        goes to its agent, so their screen clears it.
        """
        if event.aggregate == "agent":
            if isinstance(event, ev.AgentLoggedIn):
                self.names[event.aggregate_id] = event.name
            return frozenset({event.aggregate_id})
        if event.aggregate != "conversation":
            return frozenset()
        conversation_id = event.aggregate_id
        legs = self._members.setdefault(conversation_id, {})
        joining = _JOINING.get(type(event))
        if joining is not None:
            agent_id = getattr(event, joining)
            legs.setdefault(agent_id, []).append(_PENDING)
            self.names[agent_id] = getattr(event, _NAMES[type(event)])
        concerned = frozenset(legs)
        if isinstance(event, ev.OfferAccepted):
            _swap(legs, event.agent_id, _PENDING, _HELD)
        elif isinstance(event, ev.OfferDeclined | ev.OfferTimedOut | ev.OfferRescinded):
            _swap(legs, event.agent_id, _PENDING, None)
        elif isinstance(event, ev.WrapUpSubmitted):
            _swap(legs, event.agent_id, _HELD, None)
            history = self._history.setdefault(event.agent_id, deque(maxlen=20))
            with contextlib.suppress(ValueError):
                history.remove(conversation_id)
            history.appendleft(conversation_id)
        elif isinstance(event, ev.CustomerEnded | ev.ChatInterrupted | ev.ChatEnded):
            for agent_id in list(legs):
                while _swap(legs, agent_id, _PENDING, None):
                    pass
        if not legs:
            del self._members[conversation_id]
        return concerned

    def _add(self, entry: Entry) -> None:
        self._entries.append(entry)
        self._positions.append(entry.position)
        if len(self._entries) > self._capacity + self._capacity // 4:
            # Trim in chunks, so appending stays cheap on average.
            cut = len(self._entries) - self._capacity
            self.floor = self._entries[cut - 1].position
            del self._entries[:cut]
            del self._positions[:cut]

    def history(self, agent_id: str) -> list[str]:
        """The conversations the agent wrapped up most recently (this process saw), newest
        first: the agent's interaction history."""
        return list(self._history.get(agent_id, ()))

    def members(self, conversation_id: str) -> list[str]:
        """The agents with a leg in the conversation now."""
        return sorted(self._members.get(conversation_id, ()))

    # --- following ------------------------------------------------------------------------

    def after(self, position: int) -> Sequence[Entry]:
        """The buffered entries after ``position``; :class:`PositionGone` when the buffer
        no longer reaches back that far."""
        if position < self.floor:
            raise PositionGone(self.position)
        start = bisect.bisect_right(self._positions, position)
        return self._entries[start:]

    async def follow(
        self, position: int, topic: str, heartbeat: float = 15.0
    ) -> AsyncIterator[tuple[int, Entry | None]]:
        """Yield ``(position, entry)`` for every entry after ``position`` that concerns
        ``topic``, in log order, forever; ``(position, None)`` when ``heartbeat`` seconds
        passed without one, so a client can move its position past events that did not
        concern it. Raises :class:`PositionGone` (also later, should the reader fall too
        far behind)."""
        loop = asyncio.get_running_loop()
        cursor = position
        last = loop.time()
        woken = asyncio.Event()
        self._waiters.setdefault(topic, set()).add(woken)
        try:
            while True:
                woken.clear()
                for entry in self.after(cursor):
                    cursor = entry.position
                    if topic in entry.topics:
                        last = loop.time()
                        yield cursor, entry
                if loop.time() - last >= heartbeat:
                    last = loop.time()
                    yield cursor, None
                if cursor >= self.position:
                    remaining = max(0.0, heartbeat - (loop.time() - last))
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(woken.wait(), remaining)
        finally:
            waiters = self._waiters.get(topic)
            if waiters is not None:
                waiters.discard(woken)
                if not waiters:
                    del self._waiters[topic]
