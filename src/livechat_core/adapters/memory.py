"""The in-memory store: what ``Desk()`` uses when given no store.

It keeps the records in dictionaries with the indexes the desk's reads need (queued
conversations per queue in start order, a deadline heap, open conversations per asset),
and obeys the same contract as the durable stores: one transaction at a time (a lock),
optimistic version checks, an outbox. It lives as long as the process.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import math
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from functools import partial
from typing import Any, Final

import attrs

from .._errors import ConcurrencyConflict, InvalidArgument, StoreTimeout
from .._events import Event, MessagePosted, pack, unpack
from .._machines import ConversationState
from .._model import Agent, Conversation, Message, Queue
from .._positions import check_consumer, check_limit, check_position
from ..ports import (
    ArchivedConversation,
    Changes,
    Store,
    StoreTransaction,
    routing_key,
    with_transcript,
)
from . import _packed as packed_conversation

_QUEUED = ConversationState.QUEUED.value
_CLOSED = ConversationState.CLOSED.value
_Stored = packed_conversation.Packed
_QUEUE, _ASSET = packed_conversation.QUEUE, packed_conversation.ASSET
_STARTED_AT, _STATE = packed_conversation.STARTED_AT, packed_conversation.STATE
_CLOSED_AT, _VERSION = packed_conversation.CLOSED_AT, packed_conversation.VERSION
_DEADLINE = packed_conversation.NEXT_DEADLINE
_RECENT: Final = 256  # records kept unpacked (see ``MemoryStore._recent``)


class MemoryStore(Store):
    """Desk state in this process's memory. Thread-safe; not shared between processes.

    Args:
        outbox: keep saved events in an outbox until ``mark_published``. A desk without a
            transport has nobody to publish to, so ``Desk()`` turns it off for its own
            store; everything else (history, replay) is unchanged.
        lock_timeout: seconds a transaction waits for another thread's (a long
            ``batch()`` block) before :class:`~livechat_core.StoreTimeout` is raised.
    """

    def __init__(self, *, outbox: bool = True, lock_timeout: float = 30.0) -> None:
        if type(lock_timeout) not in (int, float) or not 0 < lock_timeout < math.inf:
            raise InvalidArgument(f"lock_timeout must be positive seconds, not {lock_timeout!r}")
        self.lock_timeout = float(lock_timeout)
        self._keep_outbox = outbox
        self._lock = threading.RLock()
        self._queues: dict[str, Queue] = {}
        self._agents: dict[str, Agent] = {}
        self._members: dict[str, set[str]] = {}
        # routable agents in routing order, per queue and (key None) of any queue
        self._routable: dict[str | None, _SortedKeys] = {}
        # each conversation packed into a tuple of plain values (``_packed``): like the
        # event histories below, the collector stops traversing it
        self._conversations: dict[str, packed_conversation.Packed] = {}
        # the records of the conversations saved or read last, with their packed form:
        # a chat's next command reads its record without unpacking it (a bounded few,
        # so the collector's work does not grow with the chats)
        self._recent: dict[str, tuple[packed_conversation.Packed, Conversation]] = {}
        self._queued: dict[str, _SortedKeys] = {}
        self._deadlines: list[tuple[float, str]] = []
        self._with_deadline = 0  # conversations with a deadline: the heap's live entries
        self._closed: list[tuple[float, str]] = []  # (closed_at, id), a heap, for archive
        self._open_by_asset: dict[str, set[str]] = {}
        self._deleted_assets: set[str] = set()
        # each aggregate's history as a tuple of packed events: the garbage collector
        # stops traversing them, which keeps full collections short with many live chats
        # (in chunks, so that appending to a long one copies only its last chunk)
        self._events: dict[tuple[str, str], _History] = {}
        # The event log: every event's packed tuple (the history's own object) in commit
        # order, position = index + 1, None once archived; and each aggregate's positions
        # in a compact byte string (8 bytes an event: a bytearray, which the garbage
        # collector does not track, unlike array.array), for redactions and archiving.
        self._log: list[_Packed | None] = []
        self._log_positions: dict[tuple[str, str], bytearray] = {}
        self._consumers: dict[str, int] = {}
        # The outbox: each unpublished event's log position (an int, not the event: a
        # desk without a transport keeps every event here, and event objects are
        # tracked by the garbage collector, whose full collections then grow with them).
        self._outbox: dict[str, int] = {}

    def transaction(self, *, write: bool = True) -> AbstractContextManager[StoreTransaction]:
        """One transaction at a time; ``save`` applies all changes or none."""
        return _MemoryTransaction(self)

    def events(self, aggregate_id: str, aggregate: str = "conversation") -> list[Event]:
        """The events of one aggregate, oldest first."""
        with self._lock:
            history = self._events.get((aggregate, aggregate_id), ())
            return [unpack(packed) for packed in _packed(history)]

    def transcript(self, conversation_id: str) -> list[Message]:
        """Every message of a conversation, oldest first (from its history)."""
        with self._lock:
            history = self._events.get(("conversation", conversation_id), ())
            return [
                event.message
                for packed in _packed(history)
                if packed[0] == _POSTED and isinstance(event := unpack(packed), MessagePosted)
            ]

    def log(self, after: int = 0, limit: int = 1000) -> list[tuple[int, Event]]:
        """Events with a position above ``after``, in position (commit) order."""
        after = check_position(after, "after")
        limit = check_limit(limit)
        found: list[tuple[int, Event]] = []
        with self._lock:
            log = self._log
            position = after
            while position < len(log) and len(found) < limit:
                packed = log[position]
                position += 1
                if packed is not None:
                    found.append((position, unpack(packed)))
        return found

    def consumer_position(self, name: str) -> int:
        """The position ``name`` saved last, 0 if it never saved one."""
        name = check_consumer(name)
        with self._lock:
            return self._consumers.get(name, 0)

    def save_consumer_position(self, name: str, position: int) -> None:
        """Record that consumer ``name`` has handled every event up to ``position``."""
        name = check_consumer(name)
        position = check_position(position, "position")
        with self._lock:
            self._consumers[name] = position

    def pending(self, limit: int = 1000) -> list[Event]:
        """Outbox events in commit order."""
        if not self._outbox:
            return []
        with self._lock:
            result: list[Event] = []
            log = self._log
            for position in self._outbox.values():
                if len(result) >= limit:
                    break
                packed = log[position - 1]
                assert packed is not None  # archiving drops an event from the outbox too
                result.append(unpack(packed))
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
            current_queue = self._queues.get(queue.name)
            version = 0 if current_queue is None else current_queue.version
            self._expect("queue", queue.name, version, base)
        for agent, base in changes.agents:
            current_agent = self._agents.get(agent.id)
            version = 0 if current_agent is None else current_agent.version
            self._expect("agent", agent.id, version, base)
        for conversation, base in changes.conversations:
            current = self._conversations.get(conversation.id)
            version = 0 if current is None else current[_VERSION]
            self._expect("conversation", conversation.id, version, base)

    @staticmethod
    def _expect(kind: str, key: str, version: int, base: int) -> None:
        if version != base:
            raise ConcurrencyConflict(
                f"{kind} {key} changed since it was read (version {version}, expected {base})",
                aggregate_id=key,
            )

    def _apply(self, changes: Changes, undo: list[Callable[[], None]] | None) -> None:
        """Apply ``changes``; with ``undo``, append the steps that revert them (to run in
        reverse order). Without it nothing is logged: the events are packed first, so
        nothing after the first write can fail."""
        packed = [(event, pack(event)) for event in changes.events]
        for queue, _ in changes.queues:
            if undo is not None:
                undo.append(partial(self._put_queue, queue.name, self._queues.get(queue.name)))
            self._queues[queue.name] = queue
        for agent, _ in changes.agents:
            if undo is not None:
                undo.append(partial(self._put_agent, agent.id, self._agents.get(agent.id)))
            self._put_agent(agent.id, agent)
        for conversation, _ in changes.conversations:
            if undo is not None:
                previous = self._conversations.get(conversation.id)
                undo.append(partial(self._put_packed, conversation.id, previous))
            self._put_conversation(conversation.id, conversation)
        if changes.deleted_assets:
            added = set(changes.deleted_assets) - self._deleted_assets
            self._deleted_assets |= added
            if undo is not None:
                undo.append(partial(self._deleted_assets.difference_update, added))
        histories = self._events
        for event, flat in packed:
            key = (event.aggregate, event.aggregate_id)
            history = histories.get(key, ())
            if undo is not None:
                undo.append(partial(self._put_history, key, history))
            histories[key] = _appended(history, flat)
            self._log.append(flat)
            positions = self._log_positions.setdefault(key, bytearray())
            positions += len(self._log).to_bytes(_POSITION_BYTES, "little")
            if undo is not None:
                undo.append(partial(self._unlog, key))
            if self._keep_outbox:
                self._outbox[event.id] = len(self._log)
                if undo is not None:
                    undo.append(partial(self._unpublish, event.id))
        for conversation_id, message_id, text in changes.redactions:
            steps = self._redact(conversation_id, message_id, text)
            if undo is not None:
                undo.extend(steps)

    def _unpublish(self, event_id: str) -> None:
        self._outbox.pop(event_id, None)

    def _put_queue(self, name: str, queue: Queue | None) -> None:
        if queue is None:
            self._queues.pop(name, None)
        else:
            self._queues[name] = queue

    def _put_agent(self, agent_id: str, agent: Agent | None) -> None:
        previous = self._agents.get(agent_id)
        if previous is not None:
            for name in previous.queues:
                self._members[name].discard(agent_id)
            if previous.routable:
                key = routing_key(previous)
                for index in (None, *dict.fromkeys(previous.queues)):
                    self._routable[index].remove(key)
        if agent is None:
            self._agents.pop(agent_id, None)
        else:
            for name in agent.queues:
                self._members.setdefault(name, set()).add(agent_id)
            if agent.routable:
                key = routing_key(agent)
                for index in (None, *dict.fromkeys(agent.queues)):
                    self._routable.setdefault(index, _SortedKeys()).add(key)
            self._agents[agent_id] = agent

    def _put_conversation(self, conversation_id: str, conversation: Conversation | None) -> None:
        """Store (or, with ``None``, forget) a conversation and keep the indexes in step."""
        if conversation is None:
            self._put_packed(conversation_id, None)
        else:
            stored = packed_conversation.pack(conversation, self._recent.get(conversation_id))
            self._put_packed(conversation_id, stored)
            self._remember(conversation_id, stored, conversation)

    def _remember(self, conversation_id: str, stored: _Stored, conversation: Conversation) -> None:
        recent = self._recent
        recent.pop(conversation_id, None)
        recent[conversation_id] = (stored, conversation)
        if len(recent) > _RECENT:
            del recent[next(iter(recent))]

    def _unpacked(self, conversation_id: str) -> Conversation | None:
        """The stored conversation as a record."""
        stored = self._conversations.get(conversation_id)
        if stored is None:
            return None
        found = self._recent.get(conversation_id)
        if found is not None and found[0] is stored:
            return found[1]
        conversation = packed_conversation.unpack(stored)
        self._remember(conversation_id, stored, conversation)
        return conversation

    def _put_packed(self, conversation_id: str, conversation: _Stored | None) -> None:
        """:meth:`_put_conversation` of a packed conversation."""
        previous = self._conversations.get(conversation_id)
        if previous is not None:
            if previous[_STATE] == _QUEUED:
                self._queued[previous[_QUEUE]].remove((previous[_STARTED_AT], conversation_id))
            self._open_by_asset[previous[_ASSET]].discard(conversation_id)
            if previous[_DEADLINE] is not None:
                self._with_deadline -= 1
        if conversation is None:
            self._conversations.pop(conversation_id, None)
            return  # stale heap entries are skipped by ``due`` and dropped by compaction
        if conversation[_STATE] == _QUEUED:
            entries = self._queued.setdefault(conversation[_QUEUE], _SortedKeys())
            entries.add((conversation[_STARTED_AT], conversation_id))
        deadline = conversation[_DEADLINE]
        if deadline is not None:
            self._with_deadline += 1
            if previous is None or previous[_DEADLINE] != deadline:
                heapq.heappush(self._deadlines, (deadline, conversation_id))
                if len(self._deadlines) > 2 * self._with_deadline + 1024:
                    self._compact_deadlines()
        if conversation[_STATE] != _CLOSED:
            self._open_by_asset.setdefault(conversation[_ASSET], set()).add(conversation_id)
        elif previous is None or previous[_STATE] != _CLOSED:
            closed_at = conversation[_CLOSED_AT]
            heapq.heappush(self._closed, (0.0 if closed_at is None else closed_at, conversation_id))
        self._conversations[conversation_id] = conversation

    def _compact_deadlines(self) -> None:
        """Drop the heap entries of deadlines that moved or went: an accepted offer's
        entry would otherwise stay until a tick passes its time."""
        conversations = self._conversations
        self._deadlines = [
            (deadline, conversation_id)
            for deadline, conversation_id in self._deadlines
            if (found := conversations.get(conversation_id)) is not None
            and found[_DEADLINE] == deadline
        ]
        heapq.heapify(self._deadlines)

    def archive(self, before: float, limit: int = 1000) -> list[ArchivedConversation]:
        """Move conversations closed before ``before`` out of memory and return them."""
        archived: list[ArchivedConversation] = []
        with self._lock:
            heap = self._closed
            while heap and heap[0][0] < before and len(archived) < limit:
                _, conversation_id = heapq.heappop(heap)
                stored = self._conversations.get(conversation_id)
                if stored is None or stored[_STATE] != _CLOSED:
                    continue
                conversation = packed_conversation.unpack(stored)
                key = ("conversation", conversation_id)
                events = tuple(unpack(packed) for packed in _packed(self._events.pop(key, ())))
                for position in _positions(self._log_positions.pop(key, bytearray())):
                    self._log[position - 1] = None  # out of memory; the log skips gaps
                conversation = with_transcript(conversation, events)
                for event in events:
                    self._outbox.pop(event.id, None)
                del self._conversations[conversation_id]
                if conversation.next_deadline is not None:
                    self._with_deadline -= 1
                archived.append(ArchivedConversation(conversation=conversation, events=events))
        return archived

    def _unlog(self, key: tuple[str, str]) -> None:
        """Undo the last event logged (it belongs to ``key``)."""
        self._log.pop()
        positions = self._log_positions[key]
        del positions[-_POSITION_BYTES:]
        if not positions:
            del self._log_positions[key]

    def _put_history(self, key: tuple[str, str], history: _History) -> None:
        if history:
            self._events[key] = history
        else:
            self._events.pop(key, None)

    def _redact(self, conversation_id: str, message_id: str, text: str) -> list[Callable[[], None]]:
        """Rewrite the stored copy of a message (event history and outbox alike)."""
        key = ("conversation", conversation_id)
        history = self._events.get(key, ())
        undo: list[Callable[[], None]] = [partial(self._put_history, key, history)]
        rewritten: _History = ()
        positions = _positions(self._log_positions.get(key, bytearray()))
        for index, packed in enumerate(_packed(history)):
            # only the message's own event is decoded (its message's id comes first)
            if packed[0] == _POSTED and packed[-1][0] == message_id:
                event = unpack(packed)
                assert isinstance(event, MessagePosted)
                redacted = attrs.evolve(event, message=attrs.evolve(event.message, text=text))
                packed = pack(redacted)
                slot = positions[index] - 1  # the logged copy is rewritten too
                undo.append(partial(self._log.__setitem__, slot, self._log[slot]))
                self._log[slot] = packed  # the outbox refers to this slot
            rewritten = _appended(rewritten, packed)
        self._events[key] = rewritten
        return undo


_Key = tuple[float, str]
_BLOCK: Final = 512


class _SortedKeys:
    """Keys in order, in blocks of at most ``2 * _BLOCK``: adding or removing one moves
    at most a block, not every key after it (a list with ``bisect.insort`` moved the
    whole tail: chats going back to a long queue made each timeout dearer)."""

    __slots__ = ("_blocks", "_firsts")

    def __init__(self) -> None:
        self._blocks: list[list[_Key]] = []
        self._firsts: list[_Key] = []  # each block's first key

    def _block(self, key: _Key) -> int:
        return max(0, bisect.bisect_right(self._firsts, key) - 1)

    def add(self, key: _Key) -> None:
        if not self._blocks:
            self._blocks.append([key])
            self._firsts.append(key)
            return
        index = self._block(key)
        block = self._blocks[index]
        bisect.insort(block, key)
        self._firsts[index] = block[0]
        if len(block) > 2 * _BLOCK:
            self._blocks[index : index + 1] = [block[:_BLOCK], block[_BLOCK:]]
            self._firsts[index : index + 1] = [block[0], block[_BLOCK]]

    def remove(self, key: _Key) -> None:
        index = self._block(key)
        block = self._blocks[index]
        del block[bisect.bisect_left(block, key)]
        if block:
            self._firsts[index] = block[0]
        else:
            del self._blocks[index]
            del self._firsts[index]

    def __iter__(self) -> Iterator[_Key]:
        for block in self._blocks:
            yield from block


_EMPTY_KEYS: Final = _SortedKeys()

_Packed = tuple[Any, ...]
_History = tuple[()] | tuple[tuple[tuple[_Packed, ...], ...], tuple[_Packed, ...]]
"""An aggregate's packed events: full chunks of :data:`_CHUNK`, and the last one."""
_CHUNK: Final = 64

_POSITION_BYTES: Final = 8
"""Bytes of one logged position in an aggregate's position string (little-endian)."""


def _positions(data: bytearray) -> list[int]:
    """The log positions packed in ``data`` by :meth:`MemoryStore._apply`, in order."""
    return [
        int.from_bytes(data[at : at + _POSITION_BYTES], "little")
        for at in range(0, len(data), _POSITION_BYTES)
    ]


_POSTED: Final = MessagePosted.__name__


def _appended(history: _History, packed: _Packed) -> _History:
    """``history`` with one more event: copies the last chunk, not the history."""
    chunks, tail = history or ((), ())
    tail = (*tail, packed)
    if len(tail) >= _CHUNK:
        return ((*chunks, tail), ())
    return (chunks, tail)


def _packed(history: _History) -> Iterator[_Packed]:
    """The events of ``history``, oldest first."""
    if history:
        chunks, tail = history
        for chunk in chunks:
            yield from chunk
        yield from tail


class _MemoryTransaction(StoreTransaction, AbstractContextManager["_MemoryTransaction"]):
    """Holds the store's lock from ``__enter__`` to ``__exit__``."""

    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self._undo: list[Callable[[], None]] = []

    def __enter__(self) -> _MemoryTransaction:
        store = self._store
        if not store._lock.acquire(timeout=store.lock_timeout):
            raise StoreTimeout(
                f"another thread held the memory store past its lock timeout "
                f"({store.lock_timeout:g} s)"
            )
        return self

    def __exit__(self, exc_type: object, *exc_info: object) -> None:
        try:
            if exc_type is not None:
                for step in reversed(self._undo):
                    step()
        finally:
            self._undo = []
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

    def routable(self, queue: str | None, limit: int) -> list[Agent]:
        agents = self._store._agents
        entries = self._store._routable.get(queue)
        if entries is None:
            return []
        return [agents[agent_id] for _, agent_id in itertools.islice(entries, max(limit, 0))]

    def conversation(self, conversation_id: str) -> Conversation | None:
        return self._store._unpacked(conversation_id)

    def queued(self, queues: Collection[str], limit: int) -> list[Conversation]:
        merged = heapq.merge(*(self._store._queued.get(q, _EMPTY_KEYS) for q in queues))
        unpacked = self._store._unpacked
        result: list[Conversation] = []
        for _, conversation_id in merged:
            if len(result) >= limit:
                break
            found = unpacked(conversation_id)
            assert found is not None
            result.append(found)
        return result

    def due(self, now: float, limit: int) -> list[str]:
        return [conversation_id for _, conversation_id in self.due_after(now, None, limit)]

    def due_after(
        self, now: float, after: tuple[float, str] | None, limit: int
    ) -> list[tuple[float, str]]:
        heap = self._store._deadlines
        conversations = self._store._conversations
        found: list[tuple[float, str]] = []
        kept: list[tuple[float, str]] = []  # due, but at or before the cursor
        while heap and heap[0][0] <= now and len(found) < limit:
            entry = heapq.heappop(heap)
            current = conversations.get(entry[1])
            if current is None or current[_DEADLINE] != entry[0]:
                continue  # a stale entry: the deadline moved or went
            if after is not None and entry <= after:
                kept.append(entry)
            elif not found or found[-1] != entry:
                found.append(entry)
        for entry in (*kept, *found):  # still due until a save moves the deadline
            heapq.heappush(heap, entry)
        return found

    def open_on_asset(self, asset: str) -> list[str]:
        return sorted(self._store._open_by_asset.get(asset, ()))

    def asset_deleted(self, asset: str) -> bool:
        return asset in self._store._deleted_assets

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Undo the saves made inside when it ends with an exception."""
        mark = len(self._undo)
        try:
            yield
        except BaseException:
            undo, self._undo = self._undo[mark:], self._undo[:mark]
            for step in reversed(undo):
                step()
            raise

    def save(self, changes: Changes) -> None:
        self._store._check(changes)
        self._store._apply(changes, self._undo)  # run in reverse: later saves first

    def save_last(self, changes: Changes) -> None:
        """The transaction's last act: applied without an undo log, as nothing in the
        transaction can fail after it (the versions are checked and the events packed
        before the first write). Once it returned, the writes stand."""
        self._store._check(changes)
        self._store._apply(changes, None)
