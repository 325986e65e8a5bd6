"""The in-memory store: what ``Desk()`` uses when given no store.

It keeps the records in dictionaries with the indexes the desk's reads need (queued
conversations per queue in start order, a deadline heap, open conversations per asset),
and obeys the same contract as the durable stores: one transaction at a time (a lock),
optimistic version checks, an outbox. It lives as long as the process.
"""

from __future__ import annotations

import heapq
import itertools
import math
import operator
import struct
import threading
from bisect import bisect_right, insort
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from functools import partial
from typing import Any, Final, TypeVar

import attrs

from .._errors import ConcurrencyConflict, InvalidArgument, StoreTimeout
from .._events import EVENT_TYPES, Event, MessagePosted, unpack
from .._events import pack as _pack_event
from .._machines import AgentState, ConversationState
from .._model import Agent, Conversation, Message, Queue, field_reader
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

_AVAILABLE: Final = AgentState.AVAILABLE
_QUEUED = ConversationState.QUEUED.value
_CLOSED = ConversationState.CLOSED.value
_Stored = packed_conversation.Packed
_QUEUE, _ASSET = packed_conversation.QUEUE, packed_conversation.ASSET
_STARTED_AT, _STATE = packed_conversation.STARTED_AT, packed_conversation.STATE
_CLOSED_AT, _VERSION = packed_conversation.CLOSED_AT, packed_conversation.VERSION
_A = TypeVar("_A")
_T = TypeVar("_T")
_RECENT: Final = 256  # records kept unpacked (see ``MemoryStore._recent``)
# what the indexes of conversations are keyed on, from a record or from its packed form
_HEADS: Final = operator.attrgetter("state", "queue", "asset", "started_at", "closed_at")
_PACKED_HEADS: Final = operator.itemgetter(_STATE, _QUEUE, _ASSET, _STARTED_AT, _CLOSED_AT)
_NO_HEADS: Final = (None, None, None, None, None)
_INDEXED: Final = frozenset((_QUEUED, _CLOSED))  # the states the indexes key on


def _conflict(kind: str, key: str, version: int, base: int) -> None:
    raise ConcurrencyConflict(
        f"{kind} {key} changed since it was read (version {version}, expected {base})",
        aggregate_id=key,
    )


def _routing_key(agent: Agent) -> tuple[float, str] | None:
    """The agent's key in the routing indexes, ``None`` if not routable:
    ``routing_key(agent) if agent.routable else None`` with the properties' expressions
    written out (a plain function's call is cheaper than a property's, which re-enters
    the interpreter; ``tests/test_mem_fast_save.py`` holds them equal)."""
    if agent.state is not _AVAILABLE or len(agent.holding) >= agent.capacity:
        return None
    since = agent.last_offer_at  # ``Agent.waiting_since``
    if since is None:
        since = agent.available_since
        if since is None:
            since = 0.0
    return (since, agent.id)


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
        # Every conversation, in start order, packed into a tuple of plain values
        # (``_packed``), which the collector stops tracking. The conversations saved or
        # read last (a bounded few, so the collector's work does not grow with the chats)
        # are kept as records in ``_recent``, least recently used first: a chat's next
        # command reads its record without unpacking it. One saved is kept there only,
        # as the record itself, its packed entry ``None``, and packed once it leaves
        # ``_recent`` (a chat's commands follow each other: it is packed once, not once
        # per command). Holding no record, ``_packed_conversations`` is a dictionary of
        # strings and untracked values, which a full collection stops tracking, so it
        # does not visit the 100,000 entries of 100,000 live chats; a record in
        # ``_recent`` is the current one, whatever its packed entry.
        self._packed_conversations: dict[str, packed_conversation.Packed | None] = {}
        self._recent: dict[str, Conversation] = {}
        # the conversation saved last while it is the last of ``_recent``'s keys (its
        # packed entry ``None``), else ``None``: its next save stores the record in place
        self._newest: str | None = None
        self._queued: dict[str, _SortedKeys] = {}
        # each conversation's next deadline, and the (deadline, id) keys in order: a tick
        # reads the due ones from a cursor without taking them out
        self._deadlines: dict[str, float] = {}
        self._due = _SortedKeys()
        self._closed: list[tuple[float, str]] = []  # (closed_at, id), a heap, for archive
        # each asset's open conversations, as dictionaries of id -> None: strings and
        # ``None`` only, so the collector never tracks them (a set is always tracked, and
        # a full collection would visit every id in it)
        self._open_by_asset: dict[str, dict[str, None]] = {}
        self._deleted_assets: set[str] = set()
        # The event log: every event packed into a tuple of plain values (which the
        # collector stops traversing) in commit order, position = index + 1, None once
        # archived, in chunks (``_Log``); and each aggregate's positions in a compact byte
        # string (8 bytes an event: a bytearray, which the collector does not track,
        # unlike array.array): an aggregate's history is read through them, so an event
        # is kept once.
        self._log = _Log()
        self._log_positions: dict[tuple[str, str], bytearray] = {}
        self._consumers: dict[str, int] = {}
        # The outbox: each unpublished event's log position (an int, not the event: a
        # desk without a transport keeps every event here, and event objects are
        # tracked by the garbage collector, whose full collections then grow with them).
        self._outbox: dict[str, int] = {}
        self._spare: _MemoryTransaction | None = None  # see ``transact``
        # a store without an outbox checking versions the way ``_check`` is written saves
        # a command's common shape on a path of its own (``_MemoryTransaction.save_last``)
        self._transaction_type = (
            _MemoryTransaction if self._inline_check and not outbox else _GeneralTransaction
        )
        self._kept_outbox = self._outbox if outbox else None

    # whether a save checks the versions the way ``_check`` is written here (a subclass
    # overriding ``_check``, as tests do to lose races, has its own called)
    _inline_check: bool = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._inline_check = cls._check is MemoryStore._check
        if cls.transaction is not MemoryStore.transaction and cls.transact is MemoryStore.transact:
            # a subclass overriding ``transaction`` is gone through by ``transact``
            cls.transact = Store.transact  # type: ignore[method-assign]

    def transaction(self, *, write: bool = True) -> AbstractContextManager[StoreTransaction]:
        """One transaction at a time; ``save`` applies all changes or none."""
        return self._transaction_type(self)

    def transact(self, body: Callable[[StoreTransaction, _A], _T], argument: _A) -> _T:
        """``Store.transact``: the lock held around the body, with no context-manager
        layer (a subclass overriding ``transaction`` goes through it instead)."""
        lock = self._lock
        if not lock.acquire(False) and not lock.acquire(timeout=self.lock_timeout):
            raise StoreTimeout(
                f"another thread held the memory store past its lock timeout "
                f"({self.lock_timeout:g} s)"
            )
        # the transaction object of the last transact, unless a transact nested in this
        # one (the lock is reentrant) is using it
        txn = self._spare
        self._spare = None
        if txn is None:
            txn = self._transaction_type(self)
        try:
            return body(txn, argument)
        except BaseException:
            undo = txn._undo
            for step in reversed(undo):
                step()
            raise
        finally:
            if txn._undo:
                txn._undo = []
            self._spare = txn
            lock.release()

    def events(self, aggregate_id: str, aggregate: str = "conversation") -> list[Event]:
        """The events of one aggregate, oldest first."""
        with self._lock:
            return [unpack(packed) for packed in self._history(aggregate, aggregate_id)]

    def _history(self, aggregate: str, aggregate_id: str) -> list[_Packed]:
        """The packed events of one aggregate, oldest first (from the log)."""
        log = self._log
        found = []
        for position in _positions(self._log_positions.get((aggregate, aggregate_id), b"")):
            packed = log[position - 1]
            assert packed is not None  # archiving forgets an aggregate's positions too
            found.append(packed)
        return found

    def transcript(self, conversation_id: str) -> list[Message]:
        """Every message of a conversation, oldest first (from its history)."""
        with self._lock:
            history = self._history("conversation", conversation_id)
            return [
                event.message
                for packed in history
                if packed[0] == _POSTED and isinstance(event := unpack(packed), MessagePosted)
            ]

    def log(self, after: int = 0, limit: int = 1000) -> list[tuple[int, Event]]:
        """Events with a position above ``after``, in position (commit) order."""
        after = check_position(after, "after")
        limit = check_limit(limit)
        found: list[tuple[int, Event]] = []
        with self._lock:
            for position, packed in self._log.entries(after):
                if len(found) >= limit:
                    break
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
            return list(self._packed_conversations)

    def _version(self, conversation_id: str) -> int:
        """The stored conversation's version, 0 if there is none."""
        record = self._recent.get(conversation_id)
        if record is not None:
            return record.version
        stored = self._packed_conversations.get(conversation_id)
        return 0 if stored is None else stored[_VERSION]

    # --- applying a save -----------------------------------------------------------------

    def _check(self, changes: Changes) -> None:
        """``ConcurrencyConflict`` unless every record is at the version it was read at."""
        if changes.queues:
            queues = self._queues
            for queue, base in changes.queues:
                current_queue = queues.get(queue.name)
                version = 0 if current_queue is None else current_queue.version
                if version != base:
                    _conflict("queue", queue.name, version, base)
        agents = self._agents
        for agent, base in changes.agents:
            current_agent = agents.get(agent.id)
            version = 0 if current_agent is None else current_agent.version
            if version != base:
                _conflict("agent", agent.id, version, base)
        for conversation, base in changes.conversations:
            version = self._version(conversation.id)
            if version != base:
                _conflict("conversation", conversation.id, version, base)

    def _apply(self, changes: Changes, undo: list[Callable[[], None]] | None) -> None:
        """Apply ``changes``; with ``undo``, append the steps that revert them (to run in
        reverse order). Without it nothing is logged: the events are packed first, so
        nothing after the first write can fail."""
        packed = [_pack(event) for event in changes.events]
        for queue, _ in changes.queues:
            if undo is not None:
                undo.append(partial(self._put_queue, queue.name, self._queues.get(queue.name)))
            self._queues[queue.name] = queue
        for agent, _ in changes.agents:
            if undo is not None:
                undo.append(partial(self._put_agent, agent.id, self._agents.get(agent.id)))
            self._put_agent(agent.id, agent)
        for conversation, _ in changes.conversations:
            conversation_id = conversation.id
            if undo is not None:
                previous = self._stored(conversation_id)
                deadline = self._deadlines.get(conversation_id)
                undo.append(partial(self._put_conversation, conversation_id, previous, deadline))
            self._put_conversation(conversation_id, conversation, conversation.next_deadline)
        if changes.deleted_assets:
            added = set(changes.deleted_assets) - self._deleted_assets
            self._deleted_assets |= added
            if undo is not None:
                undo.append(partial(self._deleted_assets.difference_update, added))
        log = self._log
        log_positions = self._log_positions
        outbox = self._outbox if self._keep_outbox else None
        for event, flat in zip(changes.events, packed, strict=True):
            key = (event.aggregate, event.aggregate_id)
            log.append(flat)
            positions = log_positions.get(key)
            if positions is None:
                positions = log_positions[key] = bytearray()
            positions += _POSITION.pack(len(log))
            if undo is not None:
                undo.append(partial(self._unlog, key))
            if outbox is not None:
                outbox[event.id] = len(log)
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
        """Store (or, with ``None``, forget) an agent; the queue memberships and the
        routing indexes change only where the agent's queues or routing key did."""
        previous = self._agents.get(agent_id)
        if (
            previous is not None
            and agent is not None
            and (previous.queues is agent.queues or previous.queues == agent.queues)
        ):
            # the common case: the same queues, so the same memberships; the routing
            # indexes change only if the routing key did
            old_key = _routing_key(previous)
            new_key = _routing_key(agent)
            if old_key != new_key:
                self._reroute(agent.queues, old_key, new_key)
            self._agents[agent_id] = agent
            return
        old_key = routing_key(previous) if previous is not None and previous.routable else None
        new_key = routing_key(agent) if agent is not None and agent.routable else None
        same_queues = previous is not None and agent is not None and previous.queues == agent.queues
        if old_key is not None and (old_key != new_key or not same_queues):
            assert previous is not None
            for index in (None, *dict.fromkeys(previous.queues)):
                self._routable[index].remove(old_key)
        if previous is not None and not same_queues:
            for name in previous.queues:
                self._members[name].discard(agent_id)
        if agent is None:
            self._agents.pop(agent_id, None)
            return
        if not same_queues:
            for name in agent.queues:
                self._members.setdefault(name, set()).add(agent_id)
        if new_key is not None and (old_key != new_key or not same_queues):
            routable = self._routable
            for index in (None, *dict.fromkeys(agent.queues)):
                entries = routable.get(index)
                if entries is None:
                    entries = routable[index] = _SortedKeys()
                entries.add(new_key)
        self._agents[agent_id] = agent

    def _reroute(self, queues: tuple[str, ...], old_key: _Key | None, new_key: _Key | None) -> None:
        """Move an agent of ``queues`` (the same before and after) in the routing indexes
        from ``old_key`` to ``new_key`` (``None``: not routable then)."""
        routable = self._routable
        indexes = (None, *dict.fromkeys(queues))
        if old_key is not None:
            for index in indexes:
                routable[index].remove(old_key)
        if new_key is not None:
            for index in indexes:
                entries = routable.get(index)
                if entries is None:
                    entries = routable[index] = _SortedKeys()
                entries.add(new_key)

    def _put_conversation(
        self,
        conversation_id: str,
        conversation: Conversation | _Stored | None,
        deadline: float | None,
    ) -> None:
        """Store (or, with ``None``, forget) a conversation, as saved (a record) or packed
        (an undone save restoring an older version), with its next ``deadline``, and keep
        the indexes in step; an index whose key did not change is not touched."""
        conversations = self._packed_conversations
        previous = self._stored(conversation_id)
        self._newest = None
        if conversation is None:
            heads = None
        else:
            heads = (
                _PACKED_HEADS(conversation) if type(conversation) is tuple else _HEADS(conversation)
            )
        before = None
        if previous is not None:
            before = _PACKED_HEADS(previous) if type(previous) is tuple else _HEADS(previous)
        if heads != before:
            self._reindex(conversation_id, before, heads)
        self._put_deadline(conversation_id, None if conversation is None else deadline)
        recent = self._recent
        recent.pop(conversation_id, None)
        if conversation is None:
            conversations.pop(conversation_id, None)
        elif type(conversation) is tuple:
            conversations[conversation_id] = conversation
        else:
            conversations[conversation_id] = None  # kept in ``_recent`` only
            recent[conversation_id] = conversation  # type: ignore[assignment]
            self._newest = conversation_id
            if len(recent) > _RECENT:
                self._evict()

    def _stored(self, conversation_id: str) -> Conversation | _Stored | None:
        """The conversation as stored: packed, or the record saved last and not packed
        since (``None``: there is none)."""
        stored = self._packed_conversations.get(conversation_id)
        if stored is None:
            return self._recent.get(conversation_id)
        return stored

    def _reindex(
        self,
        conversation_id: str,
        before: tuple[Any, ...] | None,
        heads: tuple[Any, ...] | None,
    ) -> None:
        """Move a conversation in the indexes from the keys ``before`` (state, queue,
        asset, start, close; ``None``: not stored) to ``heads`` (``None``: forgotten);
        only the indexes whose key changed are touched."""
        # (no state is ``None``: without ``before`` or ``heads`` none is queued or closed)
        old_state, old_queue, old_asset, old_started, _ = before or _NO_HEADS
        state, queue, asset, started_at, closed_at = heads or _NO_HEADS
        was_queued = old_state == _QUEUED
        queued = state == _QUEUED
        if was_queued and (not queued or (old_queue, old_started) != (queue, started_at)):
            self._queued[old_queue].remove((old_started, conversation_id))
            was_queued = False
        if queued and not was_queued:
            entries = self._queued.get(queue)
            if entries is None:
                entries = self._queued[queue] = _SortedKeys()
            entries.add((started_at, conversation_id))
        was_open = before is not None and old_state != _CLOSED
        is_open = heads is not None and state != _CLOSED
        if was_open and (not is_open or old_asset != asset):
            open_there = self._open_by_asset.get(old_asset)
            if open_there is not None:
                open_there.pop(conversation_id, None)
            was_open = False
        if is_open and not was_open:
            open_here = self._open_by_asset.get(asset)
            if open_here is None:
                open_here = self._open_by_asset[asset] = {}
            open_here[conversation_id] = None
        if state == _CLOSED and old_state != _CLOSED:
            heapq.heappush(self._closed, (0.0 if closed_at is None else closed_at, conversation_id))

    def _put_deadline(self, conversation_id: str, deadline: float | None) -> None:
        """Keep a conversation's next deadline (``None``: it has none) and its key in the
        deadline index."""
        deadlines = self._deadlines
        previous = deadlines.get(conversation_id)
        if previous == deadline:
            return
        if previous is not None:
            self._due.remove((previous, conversation_id))
        if deadline is None:
            del deadlines[conversation_id]
        else:
            deadlines[conversation_id] = deadline
            self._due.add((deadline, conversation_id))

    def _evict(self) -> None:
        """Pack the least recently used of the records kept unpacked, if still unpacked."""
        recent = self._recent
        conversation_id = next(iter(recent))
        record = recent.pop(conversation_id)
        if conversation_id == self._newest:
            self._newest = None
        conversations = self._packed_conversations
        if conversations.get(conversation_id, ()) is None:  # saved since it was packed
            conversations[conversation_id] = packed_conversation.pack(record)

    def _record(self, conversation_id: str) -> Conversation | None:
        """The stored conversation as a record (one unpacked is kept among the recent)."""
        recent = self._recent
        found = recent.get(conversation_id)
        if found is not None:
            return found
        stored = self._packed_conversations.get(conversation_id)
        if stored is None:
            return None
        found = recent[conversation_id] = packed_conversation.unpack(stored)
        self._newest = None  # (it is the last now, packed)
        if len(recent) > _RECENT:
            self._evict()
        return found

    def archive(self, before: float, limit: int = 1000) -> list[ArchivedConversation]:
        """Move conversations closed before ``before`` out of memory and return them."""
        archived: list[ArchivedConversation] = []
        forgotten: list[int] = []  # the log's indexes of the archived events
        with self._lock:
            heap = self._closed
            while heap and heap[0][0] < before and len(archived) < limit:
                _, conversation_id = heapq.heappop(heap)
                conversation = self._record(conversation_id)
                if conversation is None or conversation.state != _CLOSED:
                    continue
                key = ("conversation", conversation_id)
                events = tuple(unpack(packed) for packed in self._history(*key))
                # out of memory; the log skips gaps
                positions = _positions(self._log_positions.pop(key, b""))
                forgotten.extend(position - 1 for position in positions)
                conversation = with_transcript(conversation, events)
                for event in events:
                    self._outbox.pop(event.id, None)
                del self._packed_conversations[conversation_id]
                self._recent.pop(conversation_id, None)
                self._newest = None
                self._put_deadline(conversation_id, None)
                archived.append(ArchivedConversation(conversation=conversation, events=events))
            self._log.clear(forgotten)
        return archived

    def _unlog(self, key: tuple[str, str]) -> None:
        """Undo the last event logged (it belongs to ``key``)."""
        self._log.pop()
        positions = self._log_positions[key]
        del positions[-_POSITION.size :]
        if not positions:
            del self._log_positions[key]

    def _redact(self, conversation_id: str, message_id: str, text: str) -> list[Callable[[], None]]:
        """Rewrite the stored copy of a message in the log (the conversation's history and
        the outbox read it there)."""
        undo: list[Callable[[], None]] = []
        log = self._log
        key = ("conversation", conversation_id)
        for position in _positions(self._log_positions.get(key, b"")):
            slot = position - 1
            packed = log[slot]
            # only the message's own event is decoded (its message's id comes first)
            if packed is not None and packed[0] == _POSTED and packed[-1][0] == message_id:
                event = unpack(packed)
                assert isinstance(event, MessagePosted)
                redacted = attrs.evolve(event, message=attrs.evolve(event.message, text=text))
                undo.append(partial(log.__setitem__, slot, packed))
                log[slot] = _pack(redacted)
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
        return max(0, bisect_right(self._firsts, key) - 1)

    def add(self, key: _Key) -> None:
        if not self._blocks:
            self._blocks.append([key])
            self._firsts.append(key)
            return
        index = bisect_right(self._firsts, key) - 1  # ``_block``, inline
        if index < 0:
            index = 0
        block = self._blocks[index]
        insort(block, key)
        self._firsts[index] = block[0]
        if len(block) > 2 * _BLOCK:
            self._blocks[index : index + 1] = [block[:_BLOCK], block[_BLOCK:]]
            self._firsts[index : index + 1] = [block[0], block[_BLOCK]]

    def remove(self, key: _Key) -> None:
        """Take ``key`` out; ``KeyError`` (and nothing changed) if it is not there: the
        indexes are kept exact, so a missing key is a bug, never a neighbour to delete."""
        firsts = self._firsts
        index = bisect_right(firsts, key) - 1  # ``_block``, inline
        if index < 0:  # below the first key, or none: not there
            raise KeyError(key)
        block = self._blocks[index]
        # the last key not above ``key``: the block's first is not (it is the one found
        # in ``firsts``), so there is one
        position = bisect_right(block, key) - 1
        if block[position] != key:
            raise KeyError(key)
        del block[position]
        if not block:
            del self._blocks[index]
            del firsts[index]
        elif position == 0:
            firsts[index] = block[0]

    def __bool__(self) -> bool:
        return bool(self._blocks)

    def __iter__(self) -> Iterator[_Key]:
        for block in self._blocks:
            yield from block

    def after(self, key: _Key | None) -> Iterator[_Key]:
        """The keys above ``key`` (every key with ``None``), in order."""
        if key is None:
            yield from self
            return
        blocks = self._blocks
        index = self._block(key)
        if index < len(blocks):
            block = blocks[index]
            yield from itertools.islice(block, bisect_right(block, key), None)
            for block in itertools.islice(blocks, index + 1, None):
                yield from block


_Packed = tuple[Any, ...]
_Entry = _Packed | None
_CHUNK: Final = 1024


class _Log:
    """The event log: each event packed (``_pack``) in commit order, at index position - 1,
    ``None`` once archived.

    Kept in chunks of ``_CHUNK`` entries: each full chunk is frozen into a tuple, which
    the collector stops tracking (its entries are tuples of plain values, untracked
    too), so a full collection visits a list of chunks and the last, filling one (a
    list), not every event (a chunk is untracked by the first collection that finds its
    events untracked already: the next one at the latest). Changing a frozen chunk's
    entry (archiving, redacting) builds that chunk again.
    """

    __slots__ = ("chunks", "start", "tail")

    def __init__(self) -> None:
        self.chunks: list[tuple[_Entry, ...]] = []  # the full chunks, in order
        self.tail: list[_Entry] = []  # the entries after them (the same list throughout)
        self.start = 0  # how many entries the full chunks hold

    def __len__(self) -> int:
        return self.start + len(self.tail)

    def __iter__(self) -> Iterator[_Entry]:
        for chunk in self.chunks:
            yield from chunk
        yield from self.tail

    def __getitem__(self, index: int) -> _Entry:
        if index < 0:
            raise IndexError(index)
        if index >= self.start:
            return self.tail[index - self.start]
        return self.chunks[index // _CHUNK][index % _CHUNK]

    def __setitem__(self, index: int, entry: _Entry) -> None:
        if index < 0:
            raise IndexError(index)
        if index >= self.start:
            self.tail[index - self.start] = entry
        else:
            chunk = list(self.chunks[index // _CHUNK])
            chunk[index % _CHUNK] = entry
            self.chunks[index // _CHUNK] = tuple(chunk)

    def clear(self, indexes: Iterable[int]) -> None:
        """Set the entries at ``indexes`` to ``None``, building each chunk once."""
        start, tail, chunks = self.start, self.tail, self.chunks
        changed: dict[int, list[_Entry]] = {}
        for index in indexes:
            if index >= start:
                tail[index - start] = None
            else:
                number = index // _CHUNK
                chunk = changed.get(number)
                if chunk is None:
                    chunk = changed[number] = list(chunks[number])
                chunk[index % _CHUNK] = None
        for number, chunk in changed.items():
            chunks[number] = tuple(chunk)

    def append(self, entry: _Entry) -> None:
        self.tail.append(entry)
        if len(self.tail) >= _CHUNK:
            self.seal()

    def seal(self) -> None:
        """Freeze the tail's full chunks (a save appends to the tail, then calls this
        once the tail holds a chunk or more)."""
        tail = self.tail
        while len(tail) >= _CHUNK:
            self.chunks.append(tuple(tail[:_CHUNK]))
            del tail[:_CHUNK]
            self.start += _CHUNK

    def pop(self) -> _Entry:
        """Take the last entry out (an undone save)."""
        tail = self.tail
        if not tail:
            tail.extend(self.chunks.pop())
            self.start -= _CHUNK
        return tail.pop()

    def entries(self, start: int) -> Iterator[tuple[int, _Entry]]:
        """Each entry from index ``start`` on with its position (index + 1), in order."""
        position = start
        chunks = self.chunks
        number, offset = divmod(start, _CHUNK)
        while number < len(chunks):
            for entry in itertools.islice(chunks[number], offset, None):
                position += 1
                yield position, entry
            number += 1
            offset = 0
        for entry in itertools.islice(self.tail, max(0, start - self.start), None):
            position += 1
            yield position, entry


_POSITION: Final = struct.Struct("<Q")
"""One logged position in an aggregate's position string (8 bytes, little-endian)."""


def _positions(data: bytes | bytearray) -> tuple[int, ...]:
    """The log positions packed in ``data`` by :meth:`MemoryStore._apply`, in order."""
    return struct.unpack(f"<{len(data) // _POSITION.size}Q", data)


_POSTED: Final = MessagePosted.__name__


class _Packers(dict[type[Event], Callable[[Event], _Packed]]):
    """Each event class's packer, made the first time it is asked for."""

    def __missing__(self, cls: type[Event]) -> Callable[[Event], _Packed]:
        packer = self[cls] = _packer(cls)
        return packer


_PACKERS: Final = _Packers()
_PACK_POSITION: Final = _POSITION.pack


def _pack(event: Event) -> _Packed:
    """``_events.pack(event)``, through a packer made once per event class."""
    return _PACKERS[type(event)](event)


def _packer(cls: type[Event]) -> Callable[[Event], _Packed]:
    name = cls.__name__
    names = field_reader(cls)[0]
    message_names = field_reader(Message)[0]
    if (
        cls is MessagePosted
        and names == ("aggregate_id", "sequence", "at", "message")
        and message_names == ("id", "role", "author", "text", "at", "initials")
    ):

        def posted(event: Event) -> _Packed:
            # the message packed inside, its role as its value (``_events.pack``)
            message = event.message  # type: ignore[attr-defined]
            return (
                name,
                event.aggregate_id,
                event.sequence,
                event.at,
                (
                    message.id,
                    message.role._value_,
                    message.author,
                    message.text,
                    message.at,
                    message.initials,
                ),
            )

        return posted
    if issubclass(cls, MessagePosted):
        return _pack_event  # the general form
    # ``(name, *values)``, generated: attribute reads in Python code are specialised by
    # the interpreter, cheaper than a C getter's generic ones
    namespace: dict[str, Any] = {"name": name}
    values = "".join(f"event.{field}, " for field in names)
    exec(f"def packer(event):\n    return (name, {values})\n", namespace)
    packer: Callable[[Event], _Packed] = namespace["packer"]
    return packer


class _MemoryTransaction(StoreTransaction, AbstractContextManager["_MemoryTransaction"]):
    """Holds the store's lock from ``__enter__`` to ``__exit__``."""

    __slots__ = ("_agents", "_inline_check", "_recent", "_store", "_undo")

    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self._undo: list[Callable[[], None]] = []
        # the store's dictionaries the hottest reads go to (never replaced)
        self._agents = store._agents
        self._recent = store._recent
        self._inline_check = store._inline_check  # (a slot: read faster than the class's)

    def __enter__(self) -> _MemoryTransaction:
        store = self._store
        lock = store._lock
        if not lock.acquire(False) and not lock.acquire(timeout=store.lock_timeout):
            raise StoreTimeout(
                f"another thread held the memory store past its lock timeout "
                f"({store.lock_timeout:g} s)"
            )
        return self

    def __exit__(self, exc_type: object, *exc_info: object) -> None:
        undo = self._undo
        try:
            if undo:
                self._undo = []
                if exc_type is not None:
                    for step in reversed(undo):
                        step()
        finally:
            self._store._lock.release()

    def queue(self, name: str) -> Queue | None:
        return self._store._queues.get(name)

    def queues(self) -> list[Queue]:
        return sorted(self._store._queues.values(), key=lambda q: q.name)

    def agent(self, agent_id: str) -> Agent | None:
        return self._agents.get(agent_id)

    def agents(self, queue: str | None = None) -> list[Agent]:
        store = self._store
        if queue is None:
            return [store._agents[key] for key in sorted(store._agents)]
        return [store._agents[key] for key in sorted(store._members.get(queue, ()))]

    def routable(self, queue: str | None, limit: int) -> list[Agent]:
        store = self._store
        entries = store._routable.get(queue)
        found: list[Agent] = []
        if entries is None or limit <= 0:
            return found
        agents = store._agents
        for block in entries._blocks:  # the index's keys in order, read in place
            for _, agent_id in block:
                found.append(agents[agent_id])
                if len(found) >= limit:
                    return found
        return found

    def conversation(self, conversation_id: str) -> Conversation | None:
        # packed (or none): unpacked and kept among the recent few (a record is never
        # false: no ``__bool__`` or ``__len__``)
        return self._recent.get(conversation_id) or self._store._record(conversation_id)

    def queued(self, queues: Collection[str], limit: int) -> list[Conversation]:
        indexes = self._store._queued
        waiting = []
        for q in queues:
            entries = indexes.get(q)
            if entries is not None and entries._blocks:  # (not empty)
                waiting.append(entries)
        if not waiting:
            return []  # (routing asks this after every end and wrap-up: usually so)
        # one queue's index is already in order: merging it alone would give it as it is
        merged = iter(waiting[0]) if len(waiting) == 1 else heapq.merge(*waiting)
        unpacked = self._store._record
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
        found: list[tuple[float, str]] = []
        if limit <= 0:
            return found
        for key in self._store._due.after(after):
            if key[0] > now:
                break
            found.append(key)
            if len(found) >= limit:
                break
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
        before the first write). Once it returned, the writes stand.

        A command's save is the hottest path of the store: the common shape (one
        conversation, at most one agent, no queue, deleted asset or redaction) is saved
        here, each field read once; any other goes through :meth:`_save_any`, the general
        path, which this one equals on the changes it takes. (A store keeping an outbox or
        checking versions with a ``_check`` of its own has ``_GeneralTransaction``
        objects, whose ``save_last`` is the general path.)"""
        conversation: Conversation | None
        try:
            # one conversation and at most one agent: unpacking any other number raises
            # (the general path's changes, rarely)
            ((conversation, base),) = changes.conversations
            agent_changes = changes.agents
            if agent_changes:
                ((agent, agent_base),) = agent_changes
            else:
                agent = None
        except ValueError:
            conversation = None  # (saved below: an error it raises chains no ValueError)
        if conversation is None or changes.queues or changes.deleted_assets or changes.redactions:
            self._save_any(changes)
            return
        store = self._store
        recent = self._recent
        conversation_id = conversation.id
        # the versions (``_check``, inline; it is called to raise the conflict)
        previous = recent.get(conversation_id)
        if previous is None:
            stored = store._packed_conversations.get(conversation_id)
            if (0 if stored is None else stored[_VERSION]) != base:
                store._check(changes)
        elif previous.version != base:
            store._check(changes)
        if agent is not None:
            agents = self._agents
            agent_id = agent.id
            previous_agent = agents.get(agent_id)
            if (0 if previous_agent is None else previous_agent.version) != agent_base:
                store._check(changes)
        # the events, packed and logged first (nothing else is written before)
        self._log_events(changes.events)
        if agent is not None:
            # ``_put_agent``, its common case (the same queues) inline, with the agent
            # read for the check
            if previous_agent is not None and (
                previous_agent.queues is agent.queues or previous_agent.queues == agent.queues
            ):
                old_key = _routing_key(previous_agent)
                new_key = _routing_key(agent)
                if old_key != new_key:
                    store._reroute(agent.queues, old_key, new_key)
                agents[agent_id] = agent
            else:
                store._put_agent(agent_id, agent)
        if previous is not None:
            # the record saved or read last (a chat's commands follow each other): the
            # indexes move only where a key they read changed. Between two states no
            # index keys on (offered, active, wrapping up) only the asset's index could;
            # a queued one moves in its queue's index if its queue or start changed.
            # (The fields are compared one by one, the state by identity first: members.)
            state = conversation.state
            old_state = previous.state
            if state is not old_state and state != old_state:
                if (
                    old_state in _INDEXED
                    or state == _QUEUED
                    or conversation.asset != previous.asset
                ):
                    store._reindex(conversation_id, _HEADS(previous), _HEADS(conversation))
                elif state == _CLOSED:
                    # closed from an open state only its asset's index keys on, in the
                    # same asset: ``_reindex``'s two steps for it, inline (out of the
                    # asset's open conversations, into the heap ``archive`` reads)
                    open_there = store._open_by_asset.get(previous.asset)
                    if open_there is not None:
                        open_there.pop(conversation_id, None)
                    closed_at = conversation.closed_at
                    heapq.heappush(
                        store._closed,
                        (0.0 if closed_at is None else closed_at, conversation_id),
                    )
            elif conversation.asset != previous.asset or (
                state == _QUEUED
                and (
                    conversation.queue != previous.queue
                    or conversation.started_at != previous.started_at
                )
            ):
                store._reindex(conversation_id, _HEADS(previous), _HEADS(conversation))
            # the next deadline is the legs': the same legs, the same deadline (and one
            # leg's is its own, ``Conversation.next_deadline`` without the property's call)
            legs = conversation.legs
            if legs is not previous.legs:
                deadline = legs[0].deadline if len(legs) == 1 else conversation.next_deadline
                if deadline is not None or conversation_id in store._deadlines:
                    store._put_deadline(conversation_id, deadline)
        elif stored is None:
            # new: in no index yet. ``_reindex`` from no keys, inline for an open
            # conversation that is not queued (in its asset's open ones only), and
            # ``_put_deadline`` from none (a conversation that is not stored has no
            # deadline: archiving and undoing a new one drop it)
            if conversation.state in _INDEXED:
                store._reindex(conversation_id, None, _HEADS(conversation))
            else:
                asset = conversation.asset
                open_here = store._open_by_asset.get(asset)
                if open_here is None:
                    open_here = store._open_by_asset[asset] = {}
                open_here[conversation_id] = None
            legs = conversation.legs
            if legs:
                deadline = legs[0].deadline if len(legs) == 1 else conversation.next_deadline
                if deadline is not None:
                    store._deadlines[conversation_id] = deadline
                    store._due.add((deadline, conversation_id))
        else:
            # packed: ``_reindex`` touches only the keys that changed
            store._reindex(conversation_id, _PACKED_HEADS(stored), _HEADS(conversation))
            legs = conversation.legs
            deadline = legs[0].deadline if len(legs) == 1 else conversation.next_deadline
            if deadline is not None or conversation_id in store._deadlines:
                store._put_deadline(conversation_id, deadline)
        # kept in ``recent`` only, the most recently used last: stored in place if saved
        # last and still the last (``_newest``), else moved there
        if store._newest == conversation_id:
            recent[conversation_id] = conversation
        else:
            store._packed_conversations[conversation_id] = None
            recent.pop(conversation_id, None)
            recent[conversation_id] = conversation
            store._newest = conversation_id
            if len(recent) > _RECENT:
                store._evict()

    def _log_events(self, events: Sequence[Event]) -> int:
        """Pack ``events`` and append them to the log and to their aggregates' positions;
        the log's length before them. What may fail (packing) comes first for each event,
        and a packer that fails takes back what this call logged before raising."""
        store = self._store
        log = store._log
        tail = log.tail  # (``_Log``: appended to in place, sealed after)
        log_positions = store._log_positions
        logged = position = log.start + len(tail)
        try:
            for event in events:
                key = (event.aggregate, event.aggregate_id)
                tail.append(_PACKERS[type(event)](event))
                position += 1
                positions = log_positions.get(key)
                if positions is None:
                    log_positions[key] = bytearray(_PACK_POSITION(position))
                else:
                    positions += _PACK_POSITION(position)
        except BaseException:
            # the events logged before the one that failed: taken back
            for event in reversed(events[: position - logged]):
                store._unlog((event.aggregate, event.aggregate_id))
            raise
        if len(tail) >= _CHUNK:
            log.seal()
        return logged

    def _save_any(self, changes: Changes) -> None:
        """``save_last`` of any changes (the general path).

        It is what :meth:`MemoryStore._check` and :meth:`MemoryStore._apply` (without
        undo) do, in one function. The events are packed and logged first (a packer that
        fails takes back what it logged), then the records are stored. A conversation is
        stored as :meth:`MemoryStore._put_conversation` stores it, its indexes touched
        only where their keys changed. (A subclass overriding ``_check`` has its own
        called instead of the check written out here.)"""
        store = self._store
        conversations = store._packed_conversations
        recent = store._recent
        if self._inline_check:
            if changes.queues:
                store._check(changes)
            agents = store._agents
            for agent, base in changes.agents:
                current_agent = agents.get(agent.id)
                if (0 if current_agent is None else current_agent.version) != base:
                    store._check(changes)  # raises the conflict
            for conversation, base in changes.conversations:
                current = recent.get(conversation.id)
                if current is not None:
                    version = current.version
                else:
                    stored = conversations.get(conversation.id)
                    version = 0 if stored is None else stored[_VERSION]
                if version != base:
                    store._check(changes)  # raises the conflict
        else:
            store._check(changes)
        # the events, packed and logged first (nothing else is written before), then
        # their outbox entries (their ids read before anything is written)
        events = changes.events
        if events:
            outbox = store._kept_outbox
            ids = [] if outbox is None else [event.id for event in events]
            logged = self._log_events(events)
            if outbox is not None:
                outbox.update(zip(ids, range(logged + 1, logged + 1 + len(ids)), strict=True))
        if changes.queues:
            for queue, _ in changes.queues:
                store._queues[queue.name] = queue
        for agent, _ in changes.agents:
            store._put_agent(agent.id, agent)
        if changes.conversations:
            for conversation, _ in changes.conversations:
                conversation_id = conversation.id
                previous = recent.get(conversation_id)
                if previous is not None:
                    # the record saved or read last (a chat's commands follow each
                    # other): the indexes move only where a key they read changed.
                    # Between two states no index keys on (offered, active, wrapping
                    # up) only the asset's index could; a queued one moves in its
                    # queue's index if its queue or start changed. (The fields are
                    # compared one by one, the state by identity first: members.)
                    state = conversation.state
                    old_state = previous.state
                    if state is not old_state and state != old_state:
                        moved = (
                            state in _INDEXED
                            or old_state in _INDEXED
                            or conversation.asset != previous.asset
                        )
                    else:
                        moved = conversation.asset != previous.asset or (
                            state == _QUEUED
                            and (
                                conversation.queue != previous.queue
                                or conversation.started_at != previous.started_at
                            )
                        )
                    if moved:
                        store._reindex(conversation_id, _HEADS(previous), _HEADS(conversation))
                    # the next deadline is the legs': the same legs, the same deadline
                    if conversation.legs is not previous.legs:
                        deadline = conversation.next_deadline
                        if deadline is not None or conversation_id in store._deadlines:
                            store._put_deadline(conversation_id, deadline)
                else:
                    # new, or packed: ``_reindex`` touches only the keys that changed
                    stored = conversations.get(conversation_id)
                    store._reindex(
                        conversation_id,
                        None if stored is None else _PACKED_HEADS(stored),
                        _HEADS(conversation),
                    )
                    deadline = conversation.next_deadline
                    if deadline is not None or conversation_id in store._deadlines:
                        store._put_deadline(conversation_id, deadline)
                # kept in ``recent`` only, the most recently used last: stored in place
                # if saved last and still the last (``_newest``), else moved there
                if store._newest == conversation_id:
                    recent[conversation_id] = conversation
                else:
                    conversations[conversation_id] = None
                    recent.pop(conversation_id, None)
                    recent[conversation_id] = conversation
                    store._newest = conversation_id
                    if len(recent) > _RECENT:
                        store._evict()
        if changes.deleted_assets:
            store._deleted_assets.update(changes.deleted_assets)
        if changes.redactions:
            for conversation_id, message_id, text in changes.redactions:
                store._redact(conversation_id, message_id, text)


class _GeneralTransaction(_MemoryTransaction):
    """The transaction of a store that keeps an outbox or overrides ``_check``: its
    ``save_last`` is the general path (the common shape's path writes no outbox and
    checks versions the way ``MemoryStore._check`` is written)."""

    __slots__ = ()

    save_last = _MemoryTransaction._save_any


# every event class's packer, made before the first save needs it
_PACKERS.update({cls: _packer(cls) for cls in EVENT_TYPES.values()})
