"""The ports through which the desk meets the world: store, transport and clock.

The core does no I/O. :class:`~livechat_core.Desk` opens a :class:`Store` transaction,
reads what one command needs through :class:`StoreTransaction`, decides, and saves the
result with :meth:`StoreTransaction.save`: new records, the events, and the same events
into an outbox, all in that one transaction. After the commit it relays the outbox to
the :class:`Transport`.

Contract for every store (``livechat_core.testing.StoreConformance`` checks it):

* **Atomic**: a transaction's writes are all visible after a normal exit of the
  ``with`` block, and none of them after an exception.
* **Optimistic concurrency**: ``save`` receives each record with the version it was
  read at (0 for a new record). If the stored version differs, ``save`` raises
  :class:`~livechat_core.ConcurrencyConflict` and writes nothing; it never overwrites.
* **Ordered reads**: ``queued`` returns conversations in the ``queued`` state oldest
  first by ``(started_at, id)``; ``due`` returns ids by ``(next_deadline, id)``.
* **Outbox**: every saved event is pending until ``mark_published``; ``pending``
  returns them in commit order (so in sequence order per aggregate).
* **Positions**: every saved event gets a position, an integer above 0, in one total
  order per store (:meth:`Store.log`); per aggregate it follows the sequence. A
  consumer keeps the last position it handled with :meth:`Store.save_consumer_position`.
* **Neutral records**: events are stored as :func:`livechat_core.event_to_record`
  mappings, and driver exceptions are translated into :class:`~livechat_core.StoreError`.
* **Savepoints**: inside one transaction, :meth:`StoreTransaction.savepoint` undoes the
  writes made within it when it ends with an exception, and keeps the transaction
  (``Desk.batch()`` runs each command of a block in one).
* **Bounded growth**: :meth:`Store.archive` moves closed conversations and their events
  out of the live store and returns them.
"""

from __future__ import annotations

import abc
import threading
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Protocol, TypeVar, runtime_checkable

import attrs

from ._events import Event
from ._masking import MaskingPolicy
from ._model import Agent, Conversation, Message, Queue

_A = TypeVar("_A")
_T = TypeVar("_T")


def transcript_of(events: Iterable[Event]) -> tuple[Message, ...]:
    """The messages a conversation's events posted, oldest first, redactions applied."""
    from ._events import MessagePosted, MessagesRedacted

    messages: dict[str, Message] = {}
    for event in events:
        if isinstance(event, MessagePosted):
            messages[event.message.id] = event.message
        elif isinstance(event, MessagesRedacted):
            for message_id, text in event.redactions:
                if message_id in messages:
                    messages[message_id] = attrs.evolve(messages[message_id], text=text)
    return tuple(messages.values())


def with_transcript(conversation: Conversation, events: Iterable[Event]) -> Conversation:
    """``conversation`` with the whole transcript its ``events`` posted."""
    return attrs.evolve(conversation, messages=transcript_of(events))


def routing_key(agent: Agent) -> tuple[float, str]:
    """An agent's place in routing order: longest waiting first, ties by id."""
    return (agent.waiting_since, agent.id)


@attrs.frozen(kw_only=True)
class Changes:
    """Everything one command changed, with the versions its records were read at.

    Each record pairs with its expected stored version (0: it must not exist yet).
    ``redactions`` are ``(conversation_id, message_id, new_text)``: the store rewrites
    the stored message text and leaves no old copy of it.
    """

    queues: tuple[tuple[Queue, int], ...] = ()
    agents: tuple[tuple[Agent, int], ...] = ()
    conversations: tuple[tuple[Conversation, int], ...] = ()
    deleted_assets: tuple[str, ...] = ()
    events: tuple[Event, ...] = ()
    redactions: tuple[tuple[str, str, str], ...] = ()

    def __bool__(self) -> bool:
        return bool(
            self.queues
            or self.agents
            or self.conversations
            or self.deleted_assets
            or self.events
            or self.redactions
        )


class StoreTransaction(abc.ABC):
    """Reads and one save inside a store transaction."""

    @abc.abstractmethod
    def queue(self, name: str) -> Queue | None:
        """The queue, or ``None``."""

    @abc.abstractmethod
    def queues(self) -> list[Queue]:
        """Every queue, by name."""

    @abc.abstractmethod
    def agent(self, agent_id: str) -> Agent | None:
        """The agent, or ``None`` if they never logged in."""

    @abc.abstractmethod
    def agents(self, queue: str | None = None) -> list[Agent]:
        """Every agent (logged out too), or those serving ``queue``; by id."""

    def routable(self, queue: str | None, limit: int) -> list[Agent]:
        """At most ``limit`` agents who may get an offer now (available, with free
        capacity), members of ``queue`` (``None``: of any queue), in routing order: by
        :attr:`Agent.waiting_since`, then by id.

        Routing and the transfer and conference lists read this instead of every member:
        stores keep an index of routable agents per queue in this order, so its cost does
        not grow with the size of the queue. The default filters :meth:`agents`.
        """
        agents = [agent for agent in self.agents(queue) if agent.routable]
        agents.sort(key=routing_key)
        return agents[:limit]

    @abc.abstractmethod
    def conversation(self, conversation_id: str) -> Conversation | None:
        """The conversation, or ``None``."""

    @abc.abstractmethod
    def queued(self, queues: Collection[str], limit: int) -> list[Conversation]:
        """At most ``limit`` queued conversations of ``queues``, oldest first."""

    @abc.abstractmethod
    def due(self, now: float, limit: int) -> list[str]:
        """Ids of at most ``limit`` conversations with a deadline at or before ``now``."""

    @abc.abstractmethod
    def open_on_asset(self, asset: str) -> list[str]:
        """Ids of the conversations of ``asset`` that are not closed, by id."""

    @abc.abstractmethod
    def asset_deleted(self, asset: str) -> bool:
        """Whether an administrator deleted ``asset``."""

    @abc.abstractmethod
    def save(self, changes: Changes) -> None:
        """Write ``changes`` (records, events, outbox) or raise ``ConcurrencyConflict``."""

    def save_last(self, changes: Changes) -> None:
        """Save ``changes`` as the transaction's last act: nothing is read after it.

        A store with round trips may hold the writes back and send them with the commit,
        one round trip for both; a conflict then surfaces as ``ConcurrencyConflict``
        from the end of the ``with`` block instead of from this call, and still writes
        nothing. Only a caller that reads nothing more in the transaction may use it
        (``Desk.handle`` does). The default is :meth:`save`.
        """
        self.save(changes)

    def savepoint(self) -> AbstractContextManager[None]:
        """A nested scope: its writes are undone if it ends with an exception, while the
        transaction and the writes before it stay.

        ``Desk.batch()`` runs each command of a block in one. The default does nothing,
        which is enough for a store whose ``save`` either writes everything or nothing
        (a refused command raises before it saves); stores whose saves may fail halfway
        override it.
        """
        return nullcontext()

    def due_after(
        self, now: float, after: tuple[float, str] | None, limit: int
    ) -> list[tuple[float, str]]:
        """At most ``limit`` ``(deadline, id)`` pairs with a deadline at or before ``now``
        and after the cursor ``after`` (``None``: from the first), by ``(deadline, id)``.

        ``Desk.tick`` fires deadlines in bounded batches, each in its own transaction,
        resuming after the last pair of the batch before. The default reads ``due`` and
        each conversation; stores override it with one indexed query.
        """
        pairs: list[tuple[float, str]] = []
        for conversation_id in self.due(now, limit=2**31 - 1):
            conversation = self.conversation(conversation_id)
            deadline = None if conversation is None else conversation.next_deadline
            if deadline is not None and (after is None or (deadline, conversation_id) > after):
                pairs.append((deadline, conversation_id))
        return sorted(pairs)[:limit]

    def prefetch(  # noqa: B027 - optional hook: the default reads nothing ahead
        self,
        *,
        conversation_ids: Collection[str] = (),
        agent_ids: Collection[str] = (),
        queues: Collection[str] = (),
        assets: Collection[str] = (),
        routing: Collection[str] = (),
        routing_agents: Collection[str] = (),
    ) -> None:
        """A hint: the command about to be decided will read these records.

        ``routing`` names queues the command will probably route in (it queues a chat
        there): their queued conversations and members (``queued``, ``agents(queue)``);
        ``routing_agents`` names agents in whose queues it will probably route (it may
        give them room for another chat).
        A store may fetch all of it (and whatever it expects to follow from it) in one
        round trip and answer the later reads from that. It changes no result: every
        read afterwards must return what it would have returned without the hint, and
        ids that do not exist are simply absent. The default does nothing.
        """


_SETTINGS_LOCK = threading.Lock()


class Store(abc.ABC):
    """Where the desk keeps its state. See the module docstring for the contract."""

    @abc.abstractmethod
    def transaction(self, *, write: bool = True) -> AbstractContextManager[StoreTransaction]:
        """A transaction: committed on normal exit, rolled back on an exception."""

    def transact(self, body: Callable[[StoreTransaction, _A], _T], argument: _A) -> _T:
        """``body(txn, argument)`` in a write transaction of its own: what it returns,
        committed; nothing it wrote if it raises (which propagates).

        The desk runs each command through it. The default is ``with
        self.transaction() as txn: return body(txn, argument)``; a store may take a
        shorter way to the same effect (the memory store takes its lock, no more).
        """
        with self.transaction() as txn:
            return body(txn, argument)

    @abc.abstractmethod
    def events(self, aggregate_id: str, aggregate: str = "conversation") -> list[Event]:
        """The stored events of one aggregate, oldest first."""

    @abc.abstractmethod
    def pending(self, limit: int = 1000) -> list[Event]:
        """Outbox events not yet marked published, in commit order."""

    @abc.abstractmethod
    def mark_published(self, event_ids: Sequence[str]) -> None:
        """Remove events from the outbox after the transport took them."""

    def transcript(self, conversation_id: str) -> list[Message]:
        """Every message of a conversation, oldest first, as stored (redactions applied).

        The conversation record keeps only its newest few messages; the transcript is one
        stored row per message. The default reads the conversation's events.
        """
        return list(transcript_of(self.events(conversation_id, "conversation")))

    @abc.abstractmethod
    def log(self, after: int = 0, limit: int = 1000) -> list[tuple[int, Event]]:
        """At most ``limit`` stored events with a position above ``after``, as
        ``(position, event)`` in ascending position.

        Positions are integers above 0, one total order per store, never reused. Once a
        position is returned, no event with a lower or equal position appears later: a
        consumer that resumes after the last position it handled misses nothing. Per
        aggregate the order is the sequence order. Redactions rewrite the logged copy.
        """

    @abc.abstractmethod
    def consumer_position(self, name: str) -> int:
        """The position consumer ``name`` saved last (0 when it never saved one)."""

    @abc.abstractmethod
    def save_consumer_position(self, name: str, position: int) -> None:
        """Record, durably, that consumer ``name`` has handled every event up to ``position``."""

    def close(self) -> None:  # noqa: B027 - optional hook: most stores hold nothing to release
        """Release connections and files. The store is unusable afterwards."""

    @abc.abstractmethod
    def conversation_ids(self) -> list[str]:
        """Every conversation id, oldest first (for reports and exports)."""

    def claim_settings(self, proposed: Mapping[str, str]) -> dict[str, str]:
        """The desk settings recorded in the store, recording ``proposed`` first when
        none are (the first desk to open the store sets them).

        Settings that change what is stored (whether card numbers are masked before
        they are written, the language of system messages) must agree between the desks
        sharing a store; the desk compares its own with what this returns. Recording is
        atomic: of two desks opening a new store at once, one's settings win. The
        default keeps them on the store object (a store that is not shared needs no
        more); stores shared between processes persist them.
        """
        with _SETTINGS_LOCK:
            recorded: dict[str, str] = self.__dict__.setdefault("_claimed_settings", dict(proposed))
            return dict(recorded)

    def archive(self, before: float, limit: int = 1000) -> list[ArchivedConversation]:
        """Move at most ``limit`` conversations closed before ``before`` out of the store.

        Oldest closed first. Each comes back with its whole transcript and every event;
        afterwards the store no longer holds them (their outbox entries included: the
        archive hands them to the caller), and the rest of the desk is untouched. A store
        that cannot archive raises :class:`~livechat_core.StoreError`.
        """
        from ._errors import StoreError

        raise StoreError(f"{type(self).__name__} does not archive conversations")


@attrs.frozen(kw_only=True)
class ArchivedConversation:
    """A closed conversation moved out of the live store by ``Desk.archive``.

    ``conversation`` carries the whole transcript; ``events`` every event of it, oldest
    first. :meth:`to_record` gives plain JSON-ready data (one line of a JSON Lines
    archive), :meth:`from_record` reads it back, and :meth:`changes` is what loads it into
    another store (``txn.save(archived.changes())``). ``masking`` is the policy its record
    is masked by: ``Desk.archive`` sets the desk's own (``desk.masking``); it takes no part
    in equality.
    """

    conversation: Conversation
    events: tuple[Event, ...]
    masking: MaskingPolicy = attrs.field(factory=MaskingPolicy, eq=False, repr=False)

    def to_record(self, *, clear: bool = False) -> dict[str, object]:
        """``{"conversation": <record>, "events": [<event record>, ...]}``, JSON-ready.

        A record leaves the desk, so its customer text is masked by :attr:`masking` like on
        an agent's screen (the customer messages together, so an item split over several is
        masked in every part; names and authors that are phone numbers as phones; ids kept).
        ``clear=True`` gives the text as stored, for a record that must load back unchanged
        (:meth:`from_record`, :meth:`changes`); card numbers are masked at rest either way.
        """
        from ._events import to_record
        from ._exports import mask_conversation_record, mask_event_record
        from .adapters import _codec

        conversation = _codec.loads(_codec.record_to_json(self.conversation))
        events = [to_record(event) for event in self.events]
        if clear or not self.masking.enabled:
            return {"conversation": conversation, "events": events}
        masked, texts = mask_conversation_record(conversation, self.masking)
        return {
            "conversation": masked,
            "events": [mask_event_record(event, self.masking, texts) for event in events],
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> ArchivedConversation:
        """The archived conversation of a :meth:`to_record` mapping."""
        from ._events import from_record
        from .adapters import _codec

        return cls(
            conversation=_codec.conversation_from_json(record["conversation"]),
            events=tuple(from_record(dict(event)) for event in record["events"]),
        )

    def changes(self) -> Changes:
        """The save that stores this conversation and its events in an empty place."""
        return Changes(conversations=((self.conversation, 0),), events=self.events)


@runtime_checkable
class Transport(Protocol):
    """Receives published events, at least once, in order per aggregate.

    A consumer drops duplicates by :attr:`Event.id`. Raising from ``publish`` leaves the
    events in the outbox; the next relay sends them again.
    """

    def publish(self, events: Sequence[Event]) -> None:
        """Deliver ``events``."""


class Clock(Protocol):
    """A zero-argument callable returning POSIX seconds (``time.time`` is one)."""

    def __call__(self) -> float:
        """Now, in POSIX seconds."""


class CommandMetrics(Protocol):
    """The desk's metrics hook (``Desk(metrics=...)``), called after every command.

    ``command`` is the command's class name (``"Accept"``), ``outcome`` ``"ok"`` or the
    refusal's error code, ``seconds`` the time the desk spent on it (retries included)
    and ``retries`` how many times it lost a race for its records. It runs on the
    thread that handled the command and must not raise; keep it cheap (count, observe
    a histogram).
    """

    def __call__(self, command: str, outcome: str, seconds: float, retries: int) -> None:
        """Record one handled command."""
