"""The in-memory store: what ``Desk()`` uses when given no store.

It keeps the records in dictionaries with the indexes the desk's reads need (queued
conversations per queue in start order, a deadline heap, open conversations per asset),
and obeys the same contract as the durable stores: one transaction at a time (a lock),
optimistic version checks, an outbox. It lives as long as the process.
"""

from __future__ import annotations

import bisect
import heapq
import threading
from collections.abc import Collection, Sequence
from contextlib import AbstractContextManager

import attrs

from .._errors import ConcurrencyConflict
from .._events import Event, MessagePosted
from .._machines import ConversationState
from .._model import Agent, Conversation, Queue
from ..ports import Changes, Store, StoreTransaction

_QUEUED = ConversationState.QUEUED
_CLOSED = ConversationState.CLOSED


class MemoryStore(Store):
    """Desk state in this process's memory. Thread-safe; not shared between processes."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._queues: dict[str, Queue] = {}
        self._agents: dict[str, Agent] = {}
        self._members: dict[str, set[str]] = {}
        self._conversations: dict[str, Conversation] = {}
        self._queued: dict[str, list[tuple[float, str]]] = {}
        self._deadlines: list[tuple[float, str]] = []
        self._open_by_asset: dict[str, set[str]] = {}
        self._deleted_assets: set[str] = set()
        self._events: dict[tuple[str, str], list[Event]] = {}
        self._outbox: dict[str, Event] = {}

    def transaction(self, *, write: bool = True) -> AbstractContextManager[StoreTransaction]:
        """One transaction at a time; ``save`` applies all changes or none."""
        return _MemoryTransaction(self)

    def events(self, aggregate_id: str, aggregate: str = "conversation") -> list[Event]:
        """The events of one aggregate, oldest first."""
        with self._lock:
            return list(self._events.get((aggregate, aggregate_id), ()))

    def pending(self, limit: int = 1000) -> list[Event]:
        """Outbox events in commit order."""
        if not self._outbox:
            return []
        with self._lock:
            result = []
            for event in self._outbox.values():
                if len(result) >= limit:
                    break
                result.append(event)
            return result

    def mark_published(self, event_ids: Sequence[str]) -> None:
        """Drop published events from the outbox."""
        with self._lock:
            for event_id in event_ids:
                self._outbox.pop(event_id, None)

    def conversation_ids(self) -> list[str]:
        """Every conversation id, in start order."""
        with self._lock:
            return list(self._conversations)

    # --- applying a save -----------------------------------------------------------------

    def _check(self, changes: Changes) -> None:
        for queue, base in changes.queues:
            self._expect("queue", queue.name, self._queues.get(queue.name), base)
        for agent, base in changes.agents:
            self._expect("agent", agent.id, self._agents.get(agent.id), base)
        for conversation, base in changes.conversations:
            current = self._conversations.get(conversation.id)
            self._expect("conversation", conversation.id, current, base)

    @staticmethod
    def _expect(kind: str, key: str, current: Queue | Agent | Conversation | None, base: int) -> None:
        version = 0 if current is None else current.version
        if version != base:
            raise ConcurrencyConflict(
                f"{kind} {key} changed since it was read (version {version}, expected {base})",
                aggregate_id=key,
            )

    def _apply(self, changes: Changes) -> None:
        for queue, _ in changes.queues:
            self._queues[queue.name] = queue
        for agent, _ in changes.agents:
            previous = self._agents.get(agent.id)
            if previous is not None:
                for name in previous.queues:
                    self._members[name].discard(agent.id)
            for name in agent.queues:
                self._members.setdefault(name, set()).add(agent.id)
            self._agents[agent.id] = agent
        for conversation, _ in changes.conversations:
            self._put_conversation(conversation)
        self._deleted_assets.update(changes.deleted_assets)
        for event in changes.events:
            self._events.setdefault((event.aggregate, event.aggregate_id), []).append(event)
            self._outbox[event.id] = event
        for conversation_id, message_id, text in changes.redactions:
            self._redact(conversation_id, message_id, text)

    def _put_conversation(self, conversation: Conversation) -> None:
        previous = self._conversations.get(conversation.id)
        if previous is not None and previous.state is _QUEUED:
            entries = self._queued[previous.queue]
            entries.pop(bisect.bisect_left(entries, (previous.started_at, previous.id)))
        if conversation.state is _QUEUED:
            entries = self._queued.setdefault(conversation.queue, [])
            bisect.insort(entries, (conversation.started_at, conversation.id))
        deadline = conversation.next_deadline
        if deadline is not None and (previous is None or previous.next_deadline != deadline):
            heapq.heappush(self._deadlines, (deadline, conversation.id))
        on_asset = self._open_by_asset.setdefault(conversation.asset, set())
        if conversation.state is _CLOSED:
            on_asset.discard(conversation.id)
        else:
            on_asset.add(conversation.id)
        self._conversations[conversation.id] = conversation

    def _redact(self, conversation_id: str, message_id: str, text: str) -> None:
        """Rewrite the stored copy of a message (event history and outbox alike)."""
        events = self._events.get(("conversation", conversation_id), [])
        for i, event in enumerate(events):
            if isinstance(event, MessagePosted) and event.message.id == message_id:
                redacted = attrs.evolve(event, message=attrs.evolve(event.message, text=text))
                events[i] = redacted
                if event.id in self._outbox:
                    self._outbox[event.id] = redacted


class _MemoryTransaction(StoreTransaction, AbstractContextManager["_MemoryTransaction"]):
    """Holds the store's lock from ``__enter__`` to ``__exit__``."""

    def __init__(self, store: MemoryStore) -> None:
        self._store = store

    def __enter__(self) -> _MemoryTransaction:
        self._store._lock.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._store._lock.release()

    def queue(self, name: str) -> Queue | None:
        return self._store._queues.get(name)

    def queues(self) -> list[Queue]:
        return sorted(self._store._queues.values(), key=lambda q: q.name)

    def agent(self, agent_id: str) -> Agent | None:
        return self._store._agents.get(agent_id)

    def agents(self, queue: str | None = None) -> list[Agent]:
        store = self._store
        if queue is None:
            return [store._agents[key] for key in sorted(store._agents)]
        return [store._agents[key] for key in sorted(store._members.get(queue, ()))]

    def conversation(self, conversation_id: str) -> Conversation | None:
        return self._store._conversations.get(conversation_id)

    def queued(self, queues: Collection[str], limit: int) -> list[Conversation]:
        merged = heapq.merge(*(self._store._queued.get(q, ()) for q in queues))
        conversations = self._store._conversations
        result = []
        for _, conversation_id in merged:
            if len(result) >= limit:
                break
            result.append(conversations[conversation_id])
        return result

    def due(self, now: float, limit: int) -> list[str]:
        heap = self._store._deadlines
        conversations = self._store._conversations
        found: list[tuple[float, str]] = []
        while heap and heap[0][0] <= now and len(found) < limit:
            deadline, conversation_id = heapq.heappop(heap)
            if conversations[conversation_id].next_deadline == deadline:
                found.append((deadline, conversation_id))
        for entry in found:  # still due until a save moves the deadline
            heapq.heappush(heap, entry)
        return list(dict.fromkeys(conversation_id for _, conversation_id in sorted(found)))

    def open_on_asset(self, asset: str) -> list[str]:
        return sorted(self._store._open_by_asset.get(asset, ()))

    def asset_deleted(self, asset: str) -> bool:
        return asset in self._store._deleted_assets

    def save(self, changes: Changes) -> None:
        self._store._check(changes)
        self._store._apply(changes)
