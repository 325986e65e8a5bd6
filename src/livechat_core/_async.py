"""The asyncio face of the desk: :class:`AsyncDesk`, every :class:`Desk` method as a coroutine.

An :class:`AsyncDesk` holds a :class:`Desk` and runs its methods, so validation, command
building, retries and errors are the sync desk's own; only *where* they run differs:

* a :class:`MemoryStore` without a transport does no I/O: the call runs at once, in the
  event loop's thread;
* every other store (SQLite, PostgreSQL, a user's) and every desk with a transport runs
  on one dedicated thread per desk, so the event loop never waits for a file, a socket
  or a lock. Calls run one after another in the order they were made; commands that
  queued up while the thread was busy are committed together when the desk supports
  ``batch()`` (group commit, SPEC section 10), each still atomic on its own.

A call whose coroutine was cancelled before the thread took it up is not run; one that
was already running completes (its effect stays, its result is dropped), like
``loop.run_in_executor``.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import logging
import queue
import random
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Final, TypeVar

import attrs

from . import _commands as cmd
from ._desk import TICK_BATCH, Desk, Offer, _DueWindow
from ._errors import ConcurrencyConflict, InvalidArgument, LivechatError, RetriesExhausted
from ._events import Event
from ._inputs import check_count
from ._masking import MaskingPolicy
from ._model import Agent, Conversation, Message, Queue
from ._report import Report, Wallboard
from ._surfaces import Surfaces
from .ports import ArchivedConversation, Clock, Store, StoreTransaction, Transport

T = TypeVar("T")

_log: Final = logging.getLogger("livechat_core")

_NOT_COROUTINES: Final = frozenset({"batch"})
"""Desk attributes that the async face does not turn into coroutines."""

_IN_BATCH: Final[contextvars.ContextVar[bool]] = contextvars.ContextVar(
    "livechat_core_async_batch", default=False
)
"""Whether the running code is inside an ``async with desk.batch()`` block (tasks created
inside the block inherit it, so ``asyncio.gather`` inside a block joins the block)."""


@attrs.define(slots=True)
class _Call:
    function: Callable[[], Any]
    command: bool
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop
    in_batch: bool = False
    control: bool = False


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():  # the awaiting coroutine was cancelled meanwhile
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)


class _DeskThread:
    """One thread that runs a desk's calls in arrival order."""

    def __init__(self, desk: Desk, name: str) -> None:
        self._desk = desk
        self._name = name
        self._calls: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._closed = False
        # An open ``async with desk.batch()`` block (touched only on the desk's thread):
        # its context manager, and the calls from outside the block that wait for its end.
        self._batch: AbstractContextManager[None] | None = None
        self._deferred: list[_Call] = []

    def submit(
        self, function: Callable[[], T], *, command: bool, control: bool = False
    ) -> asyncio.Future[T]:
        if self._closed:
            raise RuntimeError("the AsyncDesk is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name=self._name, daemon=True)
                self._thread.start()
        self._calls.put(_Call(function, command, future, loop, _IN_BATCH.get(), control))
        return future

    def open_batch(self) -> None:
        """Open the desk's ``batch()`` on this thread (a control call of the block)."""
        block = self._desk.batch()
        block.__enter__()
        self._batch = block

    def close_batch(self, error: BaseException | None) -> None:
        """End the open block: commit it, or roll it back when the block raised ``error``."""
        block, self._batch = self._batch, None
        if block is None:
            return
        if error is None:
            block.__exit__(None, None, None)
        else:
            block.__exit__(type(error), error, error.__traceback__)

    def close(self) -> threading.Thread | None:
        self._closed = True
        self._calls.put(None)
        return self._thread

    def _serve(self) -> None:
        while True:
            first = self._calls.get()
            if first is None:
                return
            calls = [first]
            stop = False
            while True:
                try:
                    more = self._calls.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                calls.append(more)
            self._run(calls)
            if stop:
                if self._batch is not None:  # closed inside a block: it never committed
                    self.close_batch(RuntimeError("the AsyncDesk was closed inside a batch"))
                    deferred, self._deferred = self._deferred, []
                    self._run(deferred)
                return

    def _run(self, calls: list[_Call]) -> None:
        """Run ``calls`` in order; consecutive commands share one commit if the desk can.

        While an ``async with desk.batch()`` block is open, only the block's own calls run
        (in its transaction); calls from outside it wait for its end, so a command is
        never acknowledged before the commit that makes it durable, nor rolled back with
        a block it was not part of.
        """
        batch = getattr(self._desk, "batch", None)
        index = 0
        while index < len(calls):
            if self._batch is not None:
                call = calls[index]
                index += 1
                if not (call.in_batch or call.control):
                    self._deferred.append(call)
                    continue
                self._run_one(call)
                if self._batch is None and self._deferred:  # the block just ended
                    deferred, self._deferred = self._deferred, []
                    calls = deferred + calls[index:]
                    index = 0
                continue
            end = index + 1
            if batch is not None and calls[index].command:
                while end < len(calls) and calls[end].command:
                    end += 1
            group = [
                call for call in calls[index:end] if call.control or not call.future.cancelled()
            ]
            index = end
            if len(group) > 1 and batch is not None:
                self._run_group(group, batch)
            else:
                for call in group:
                    self._run_one(call)

    @staticmethod
    def _outcome(call: _Call) -> tuple[Any, BaseException | None]:
        try:
            return call.function(), None
        except Exception as error:  # handed to the awaiting coroutine
            return None, error

    def _run_one(self, call: _Call) -> None:
        result, error = self._outcome(call)
        self._deliver(call, result, error)

    def _run_group(self, group: list[_Call], batch: Callable[[], Any]) -> None:
        outcomes: list[tuple[Any, BaseException | None]] = []
        try:
            with batch():
                outcomes = [self._outcome(call) for call in group]
        except Exception as error:  # the group's commit failed: nothing of it is durable
            outcomes = [(None, error)] * len(group)
        for call, (result, failure) in zip(group, outcomes, strict=True):
            self._deliver(call, result, failure)

    @staticmethod
    def _deliver(call: _Call, result: Any, error: BaseException | None) -> None:
        with contextlib.suppress(RuntimeError):  # the loop was closed meanwhile
            call.loop.call_soon_threadsafe(_settle, call.future, result, error)


class AsyncDesk:
    """A :class:`Desk` for asyncio services: every method is a coroutine with the same
    name, arguments, results and errors.

    Args:
        store: as for :class:`Desk` (``None``: a new :class:`MemoryStore`).
        transport: as for :class:`Desk`.
        clock: as for :class:`Desk`.
        masking: as for :class:`Desk`.
        connections: on a PostgreSQL store, how many psycopg async connections the
            desk opens at most (commands waiting at once are shared among them).
        **options: the :class:`Desk` keyword options (``locale``, ``routing``,
            ``pci_at_rest``, ``new_id``, ``retries``, ``metrics``, ...), checked by
            :class:`Desk`.

    Several coroutines may use one desk at once, and an :class:`AsyncDesk` may share its
    store with sync desks in this and other processes. The event loop never waits on
    I/O: on PostgreSQL the desk uses psycopg's async connection on the loop; calls on
    another durable store (or with a transport) run on the desk's own thread, in the
    order they were made. ``await desk.aclose()`` (or ``async with``) stops that thread
    or closes those connections after the calls already made; it does not close the
    store, which the caller owns.
    """

    def __init__(
        self,
        store: Store | None = None,
        transport: Transport | None = None,
        clock: Clock | None = None,
        masking: MaskingPolicy | None = None,
        *,
        connections: int = 4,
        **options: Any,
    ) -> None:
        self.sync = Desk(store, transport, clock, masking, **options)
        connections = check_count(connections, "connections", low=1, high=100)
        """The :class:`Desk` whose methods this desk runs (for code that is not async)."""
        from .adapters.memory import MemoryStore

        self._thread: _DeskThread | None = None
        self._postgres: _PostgresRunner | None = None
        # imported by whoever made the store: a PostgreSQL store means psycopg is there
        postgres = sys.modules.get("livechat_core.adapters.postgres")
        if postgres is not None and isinstance(self.sync.store, postgres.PostgresStore):
            self._postgres = _PostgresRunner(self.sync, self.sync.store, connections)
        elif not (isinstance(self.sync.store, MemoryStore) and transport is None):
            self._thread = _DeskThread(self.sync, f"livechat-desk-{id(self):x}")

    @property
    def store(self) -> Store:
        """The desk's store."""
        return self.sync.store

    @property
    def transport(self) -> Transport | None:
        """The desk's transport, if any."""
        return self.sync.transport

    @property
    def clock(self) -> Clock:
        """The desk's clock."""
        return self.sync.clock

    @property
    def masking(self) -> MaskingPolicy:
        """The desk's masking policy for displays."""
        return self.sync.masking

    async def __aenter__(self) -> AsyncDesk:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Finish the calls already made and stop the desk's thread, or close its async
        PostgreSQL connection (the store stays open)."""
        if self._postgres is not None:
            await self._postgres.close()
        if self._thread is not None:
            thread = self._thread.close()
            if thread is not None:
                await asyncio.to_thread(thread.join)

    async def _call(self, method: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """The sync desk's ``method`` with these arguments, where this desk runs calls."""
        name = method.__name__
        if self._postgres is not None:
            if name in _COMMAND_METHODS:
                kind = "command"
            elif name in _VIEW_METHODS:
                kind = "view"
            else:
                kind = "thread"
            result: T = await self._postgres.submit(kind, name, args, kwargs)
            return result
        function = functools.partial(method, *args, **kwargs)
        if self._thread is None:
            return function()
        return await self._thread.submit(function, command=name in _COMMAND_METHODS)

    @contextlib.asynccontextmanager
    async def batch(self) -> AsyncIterator[None]:
        """Group commit (SPEC section 10) for coroutines: ``async with desk.batch(): ...``.

        As :meth:`Desk.batch`: each command inside the block is atomic on its own (a
        refused one raises and changes nothing, the others go on), the block is made
        durable by one commit at its end and its events are relayed after it; an
        exception leaving the block rolls back every command of it. Tasks created inside
        the block belong to it. Calls made by other coroutines while the block is open
        wait until it ends (so do not await them inside the block). A nested block joins
        the outer one.
        """
        if _IN_BATCH.get():
            yield
            return
        token = _IN_BATCH.set(True)
        try:
            if self._postgres is not None:
                runner = self._postgres
                await runner.submit("control", "batch", control=runner.open_block)
                try:
                    yield
                except BaseException as error:
                    await runner.submit(
                        "control", "batch", control=functools.partial(runner.close_block, error)
                    )
                    raise
                await runner.submit(
                    "control", "batch", control=functools.partial(runner.close_block, None)
                )
                return
            if self._thread is None:
                with self.sync.batch():
                    yield
                return
            thread = self._thread
            await thread.submit(thread.open_batch, command=False, control=True)
            try:
                yield
            except BaseException as error:
                await thread.submit(
                    functools.partial(thread.close_batch, error), command=False, control=True
                )
                raise
            await thread.submit(
                functools.partial(thread.close_batch, None), command=False, control=True
            )
        finally:
            _IN_BATCH.reset(token)

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        """Any other public :class:`Desk` method, as a coroutine."""
        if (
            name.startswith("_")
            or name in _NOT_COROUTINES
            or not callable(getattr(Desk, name, None))
        ):
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        method = getattr(self.sync, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            return await self._call(getattr(self.sync, name), *args, **kwargs)

        call.__name__ = name
        call.__doc__ = method.__doc__
        return call

    # --- the one entry point and the outbox ----------------------------------------------

    async def handle(self, command: cmd.Command) -> list[Event]:
        """:meth:`Desk.handle` as a coroutine."""
        return await self._call(self.sync.handle, command)

    async def relay(self) -> int:
        """:meth:`Desk.relay` as a coroutine."""
        return await self._call(self.sync.relay)

    # --- commands (SPEC section 9) --------------------------------------------------------

    async def add_queue(
        self,
        name: str,
        wrap_up_reasons: Sequence[str],
        offer_timeout: float = 30.0,
        wrap_up_timeout: float | None = None,
        default_wrap_up_reason: str | None = None,
    ) -> list[Event]:
        """:meth:`Desk.add_queue` as a coroutine."""
        return await self._command(
            self.sync.add_queue,
            name,
            wrap_up_reasons,
            offer_timeout,
            wrap_up_timeout,
            default_wrap_up_reason,
        )

    async def login(
        self, agent_id: str, name: str, queues: Sequence[str], capacity: int = 1
    ) -> list[Event]:
        """:meth:`Desk.login` as a coroutine."""
        return await self._command(self.sync.login, agent_id, name, queues, capacity)

    async def logout(self, agent_id: str) -> list[Event]:
        """:meth:`Desk.logout` as a coroutine."""
        return await self._command(self.sync.logout, agent_id)

    async def set_available(self, agent_id: str) -> list[Event]:
        """:meth:`Desk.set_available` as a coroutine."""
        return await self._command(self.sync.set_available, agent_id)

    async def set_idle(self, agent_id: str, reason: str) -> list[Event]:
        """:meth:`Desk.set_idle` as a coroutine."""
        return await self._command(self.sync.set_idle, agent_id, reason)

    async def start_chat(
        self,
        queue: str,
        customer_name: str,
        customer_contact: str,
        proactive: bool = False,
        asset: str = "livechat",
    ) -> str:
        """:meth:`Desk.start_chat` as a coroutine: returns the new conversation's id."""
        return await self._command(
            self.sync.start_chat, queue, customer_name, customer_contact, proactive, asset
        )

    async def accept(self, agent_id: str, conversation_id: str) -> list[Event]:
        """:meth:`Desk.accept` as a coroutine."""
        return await self._command(self.sync.accept, agent_id, conversation_id)

    async def decline(self, agent_id: str, conversation_id: str) -> list[Event]:
        """:meth:`Desk.decline` as a coroutine."""
        return await self._command(self.sync.decline, agent_id, conversation_id)

    async def send_agent_message(
        self, agent_id: str, conversation_id: str, text: str
    ) -> list[Event]:
        """:meth:`Desk.send_agent_message` as a coroutine."""
        return await self._command(self.sync.send_agent_message, agent_id, conversation_id, text)

    async def send_customer_message(self, conversation_id: str, text: str) -> list[Event]:
        """:meth:`Desk.send_customer_message` as a coroutine."""
        return await self._command(self.sync.send_customer_message, conversation_id, text)

    async def transfer_to_agent(
        self, agent_id: str, conversation_id: str, target_agent_id: str
    ) -> list[Event]:
        """:meth:`Desk.transfer_to_agent` as a coroutine."""
        return await self._command(
            self.sync.transfer_to_agent, agent_id, conversation_id, target_agent_id
        )

    async def transfer_to_queue(
        self, agent_id: str, conversation_id: str, queue: str
    ) -> list[Event]:
        """:meth:`Desk.transfer_to_queue` as a coroutine."""
        return await self._command(self.sync.transfer_to_queue, agent_id, conversation_id, queue)

    async def request_conference(
        self, agent_id: str, conversation_id: str, guest_agent_id: str
    ) -> list[Event]:
        """:meth:`Desk.request_conference` as a coroutine."""
        return await self._command(
            self.sync.request_conference, agent_id, conversation_id, guest_agent_id
        )

    async def end_conference(self, agent_id: str, conversation_id: str) -> list[Event]:
        """:meth:`Desk.end_conference` as a coroutine."""
        return await self._command(self.sync.end_conference, agent_id, conversation_id)

    async def customer_end(self, conversation_id: str) -> list[Event]:
        """:meth:`Desk.customer_end` as a coroutine."""
        return await self._command(self.sync.customer_end, conversation_id)

    async def delete_asset(self, asset: str) -> list[Event]:
        """:meth:`Desk.delete_asset` as a coroutine."""
        return await self._command(self.sync.delete_asset, asset)

    async def end(self, agent_id: str, conversation_id: str) -> list[Event]:
        """:meth:`Desk.end` as a coroutine."""
        return await self._command(self.sync.end, agent_id, conversation_id)

    async def submit_wrap_up(
        self, agent_id: str, conversation_id: str, reason: str, notes: str = ""
    ) -> list[Event]:
        """:meth:`Desk.submit_wrap_up` as a coroutine."""
        return await self._command(
            self.sync.submit_wrap_up, agent_id, conversation_id, reason, notes
        )

    async def tick(self, now: float | None = None) -> list[Event]:
        """:meth:`Desk.tick` as a coroutine (the clock is read when the tick runs)."""
        return await self._command(self.sync.tick, now)

    async def _command(self, method: Callable[..., T], *args: Any) -> T:
        return await self._call(method, *args)

    # --- views ----------------------------------------------------------------------------

    async def conversation(self, conversation_id: str) -> Conversation:
        """:meth:`Desk.conversation` as a coroutine."""
        return await self._call(self.sync.conversation, conversation_id)

    async def agent(self, agent_id: str) -> Agent:
        """:meth:`Desk.agent` as a coroutine."""
        return await self._call(self.sync.agent, agent_id)

    async def offers(self, agent_id: str) -> list[Offer]:
        """:meth:`Desk.offers` as a coroutine."""
        return await self._call(self.sync.offers, agent_id)

    async def available_agents(self, exclude: str | None = None) -> list[Agent]:
        """:meth:`Desk.available_agents` as a coroutine."""
        return await self._call(self.sync.available_agents, exclude)

    async def agents(self) -> list[Agent]:
        """:meth:`Desk.agents` as a coroutine."""
        return await self._call(self.sync.agents)

    async def queues(self) -> list[Queue]:
        """:meth:`Desk.queues` as a coroutine."""
        return await self._call(self.sync.queues)

    async def events(self, conversation_id: str) -> list[Event]:
        """:meth:`Desk.events` as a coroutine."""
        return await self._call(self.sync.events, conversation_id)

    async def events_after(self, position: int = 0, limit: int = 1000) -> list[tuple[int, Event]]:
        """:meth:`Desk.events_after` as a coroutine."""
        return await self._call(self.sync.events_after, position, limit)

    async def stored_events(self) -> list[Event]:
        """:meth:`Desk.stored_events` as a coroutine: the events read in the desk's thread,
        as a list (the sync desk's iterator would read the store lazily, in the loop)."""
        if self._postgres is not None:
            found: list[Event] = await self._call(self.sync.stored_events)  # type: ignore[arg-type]
            return found
        return await self._call(lambda: list(self.sync.stored_events()))

    async def report(
        self,
        since: float | None = None,
        until: float | None = None,
        service_level_threshold: float = 20.0,
        *,
        interval: float = 900.0,
    ) -> Report:
        """:meth:`Desk.report` as a coroutine."""
        return await self._call(
            self.sync.report, since, until, service_level_threshold, interval=interval
        )

    async def archive(self, before: float, limit: int = 1000) -> list[ArchivedConversation]:
        """:meth:`Desk.archive` as a coroutine (on the desk's thread: it moves rows in bulk)."""
        return await self._call(self.sync.archive, before, limit)

    async def stats(self, now: float | None = None) -> Wallboard:
        """:meth:`Desk.stats` as a coroutine."""
        return await self._call(self.sync.stats, now)

    async def surfaces(self, conversation_id: str, policy: MaskingPolicy | None = None) -> Surfaces:
        """:meth:`Desk.surfaces` as a coroutine."""
        return await self._call(self.sync.surfaces, conversation_id, policy)


# --- PostgreSQL: psycopg's async connection, on the event loop ---------------------------

_COMMAND_METHODS: Final = frozenset(
    {
        "handle",
        "add_queue",
        "login",
        "logout",
        "set_available",
        "set_idle",
        "start_chat",
        "accept",
        "decline",
        "send_agent_message",
        "send_customer_message",
        "transfer_to_agent",
        "transfer_to_queue",
        "request_conference",
        "end_conference",
        "customer_end",
        "delete_asset",
        "end",
        "submit_wrap_up",
        "tick",
    }
)
"""Desk methods that build a command and hand it to ``handle``."""

_VIEW_METHODS: Final = frozenset(
    {
        "conversation",
        "agent",
        "offers",
        "available_agents",
        "agents",
        "queues",
        "events",
        "stats",
        "surfaces",
    }
)
"""Desk methods that read through store transactions (and a transcript or an aggregate's
events): run over the async connection. Every other method (``report``,
``stored_events``, ``events_after``, ``relay``, ``archive``: whole-store reads and the
outbox, which a sync transport is handed) runs on a worker thread of the loop's
executor with the sync store."""

_GROUP_LIMIT: Final = 500
"""The most commands one group commit holds."""


class _Submit(BaseException):
    """Raised by the replayed desk's ``handle``: the command the method built."""

    def __init__(self, command: cmd.Command) -> None:
        super().__init__(type(command).__name__)
        self.command = command


class _GroupLost(BaseException):
    """A command of a group lost a race for its records: the group is rolled back and
    its commands run one at a time."""


class _NoTransaction(BaseException):
    """Raised by the replay store when a replayed method reads before it has a
    transaction: the runner begins one and runs the method again."""


class _ReplayedDesk(Desk):
    """A copy of the :class:`AsyncDesk`'s desk whose methods stop at ``handle`` with
    the command they built, and whose store reads the async runner's transaction."""

    def handle(self, command: cmd.Command) -> list[Event]:
        if not isinstance(command, cmd.Command):
            raise InvalidArgument(f"not a livechat command: {command!r}")
        raise _Submit(command)


class _ReplayStore(Store):
    """What the replayed desk's views see: the runner's current transaction."""

    def __init__(self, runner: _PostgresRunner) -> None:
        self._runner = runner

    @contextlib.contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[StoreTransaction]:
        yield self._txn()

    def events(self, aggregate_id: str, aggregate: str = "conversation") -> list[Event]:
        found: list[Event] = self._txn().store_read("events", aggregate_id, aggregate)
        return found

    def transcript(self, conversation_id: str) -> list[Message]:
        found: list[Message] = self._txn().store_read("transcript", conversation_id)
        return found

    def conversation_ids(self) -> list[str]:
        found: list[str] = self._txn().store_read("conversation_ids")
        return found

    def _txn(self) -> Any:
        txn = self._runner.reading
        if txn is None:  # the first read: the runner begins a transaction and runs again
            raise _NoTransaction
        return txn

    def pending(self, limit: int = 1000) -> list[Event]:  # pragma: no cover - not replayed
        raise AssertionError("the outbox is read on the desk's thread")

    def mark_published(self, event_ids: Sequence[str]) -> None:  # pragma: no cover
        raise AssertionError("the outbox is written on the desk's thread")

    def log(self, after: int = 0, limit: int = 1000) -> list[tuple[int, Event]]:  # pragma: no cover
        raise AssertionError("the log is read on the desk's thread")

    def consumer_position(self, name: str) -> int:  # pragma: no cover - not replayed
        raise AssertionError("consumer positions are read on the desk's thread")

    def save_consumer_position(self, name: str, position: int) -> None:  # pragma: no cover
        raise AssertionError("consumer positions are written on the desk's thread")


@attrs.define(slots=True)
class _Job:
    kind: str  # "command", "view", "thread" or "control"
    name: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    future: asyncio.Future[Any]
    in_batch: bool
    control: Callable[[], Awaitable[Any]] | None = None


class _PostgresRunner:
    """Runs an :class:`AsyncDesk`'s calls on a PostgreSQL store through psycopg async
    connections (at most ``connections``), from one dispatching task per event loop.

    The dispatcher takes the calls in the order they were made. Commands that queued up
    meanwhile are split among the free connections, each share one transaction and one
    commit (each command in a savepoint: atomic on its own); a single command costs the
    sync store's round trips (``BEGIN`` with its prefetch, the writes with ``COMMIT``).
    Views run on a free connection too; the calls of one coroutine, which awaits each,
    run in its order. An ``async with desk.batch()`` block holds one connection until it
    ends, and calls from outside it wait. Decisions are the sync desk's
    (:meth:`Desk._decide`, the pure ``decide``) replayed over async reads
    (:mod:`livechat_core.adapters.postgres_async`).
    """

    def __init__(self, desk: Desk, store: Any, connections: int) -> None:
        from .adapters.postgres_async import AsyncPostgresSession

        self.sync = desk
        self.sessions = [AsyncPostgresSession(store) for _ in range(connections)]
        core = _ReplayedDesk.__new__(_ReplayedDesk)
        core.__dict__.update(vars(desk))
        core.store = _ReplayStore(self)
        core._local = threading.local()  # its own batch() state, never the sync desk's
        if isinstance(vars(core).get("_own"), dict):
            # the records *this* desk saved (its time floor skips them): none yet; the
            # sync desk's are no guide to this desk's time
            core._own = {}
            core._own_agents = {}
        self.core = core
        self.reading: Any = None  # the transaction a replayed view reads, while it runs
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[_Job | None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._free: list[Any] = []
        self._freed: asyncio.Event | None = None
        self._relaying: asyncio.Lock | None = None
        self._running: set[asyncio.Task[None]] = set()
        self._block: Any = None  # the open ``async with desk.batch()`` transaction
        self._block_session: Any = None
        self._deferred: list[_Job] = []
        self._closed = False

    # --- the queue -----------------------------------------------------------------------

    def submit(
        self,
        kind: str,
        name: str,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
        control: Callable[[], Awaitable[Any]] | None = None,
    ) -> asyncio.Future[Any]:
        if self._closed:
            raise RuntimeError("the AsyncDesk is closed")
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._queue is None:
            # First use, or a new event loop (the old one's tasks died with it; the
            # sessions reconnect in this one).
            self._loop = loop
            self._queue = asyncio.Queue()
            self._free = list(self.sessions)
            self._freed = asyncio.Event()
            self._relaying = asyncio.Lock()
            self._running = set()
            self._block = self._block_session = None
            self._deferred = []
            self._task = loop.create_task(self._serve(self._queue))
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.put_nowait(
            _Job(kind, name, args, kwargs or {}, future, _IN_BATCH.get(), control)
        )
        return future

    async def close(self) -> None:
        self._closed = True
        running = self._loop is asyncio.get_running_loop()
        if self._queue is not None and self._task is not None and running:
            self._queue.put_nowait(None)
            await self._task
        for session in self.sessions:
            await session.close()

    async def _serve(self, calls: asyncio.Queue[_Job | None]) -> None:
        while True:
            first = await calls.get()
            jobs: list[_Job] = []
            stop = first is None
            if first is not None:
                jobs.append(first)
            while not stop:
                try:
                    more = calls.get_nowait()
                except asyncio.QueueEmpty:
                    break
                if more is None:
                    stop = True
                else:
                    jobs.append(more)
            await self._run(jobs)
            if stop:
                if self._block is not None:  # closed inside a block: it never committed
                    with contextlib.suppress(Exception):
                        await self._close_block(
                            RuntimeError("the AsyncDesk was closed inside a batch")
                        )
                    deferred, self._deferred = self._deferred, []
                    await self._run(deferred)
                while self._running:
                    await asyncio.gather(*self._running, return_exceptions=True)
                return

    # --- connections ---------------------------------------------------------------------

    async def _take(self, most: int) -> list[Any]:
        """At least one free session and at most ``most`` (waiting for one to be freed)."""
        assert self._freed is not None
        while not self._free:
            self._freed.clear()
            await self._freed.wait()
        taken, self._free = self._free[:most], self._free[most:]
        return taken

    def _give(self, session: Any) -> None:
        assert self._freed is not None
        self._free.append(session)
        self._freed.set()

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        assert self._loop is not None
        task: asyncio.Task[None] = self._loop.create_task(work)
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    # --- dispatching ---------------------------------------------------------------------

    async def _run(self, jobs: list[_Job]) -> None:
        """Dispatch ``jobs`` in order; consecutive commands share commits. While a block is
        open only its own calls run, on its transaction, one after another; the others
        wait for its end (as on the thread)."""
        index = 0
        while index < len(jobs):
            if self._block is not None:
                job = jobs[index]
                index += 1
                if not (job.in_batch or job.kind == "control"):
                    self._deferred.append(job)
                    continue
                await self._run_in_block(job)
                if self._block is None and self._deferred:  # the block just ended
                    deferred, self._deferred = self._deferred, []
                    jobs = deferred + jobs[index:]
                    index = 0
                continue
            group: list[tuple[_Job, cmd.Command]] = []
            while index < len(jobs) and jobs[index].kind == "command" and len(group) < _GROUP_LIMIT:
                job = jobs[index]
                index += 1
                if job.future.cancelled():
                    continue
                command = await self._build(job)
                if command is not None:
                    group.append((job, command))
            if group:
                sessions = await self._take(len(group))
                share, extra = divmod(len(group), len(sessions))
                start = 0
                for number, session in enumerate(sessions):
                    end = start + share + (number < extra)
                    self._spawn(self._run_group(group[start:end], session))
                    start = end
                continue
            if index >= len(jobs):
                break
            job = jobs[index]
            index += 1
            if job.kind == "control":
                await self._run_in_block(job)
            elif job.future.cancelled():
                continue
            elif job.kind == "view":
                (session,) = await self._take(1)
                self._spawn(self._run_view(job, session))
            else:
                self._spawn(self._run_on_thread(job))

    async def _run_in_block(self, job: _Job) -> None:
        """A control call, or a call inside the open block (on its transaction)."""
        try:
            if job.kind == "control":
                assert job.control is not None
                result = await job.control()
            elif job.kind == "command":
                command = await self._build(job)
                if command is None:
                    return
                events = await self._handle(command, self._block, None)
                result = self._result(command, events)
            elif job.kind == "view":
                method = getattr(self.core, job.name)
                result = await self._view(lambda: method(*job.args, **job.kwargs), None)
            else:
                result = await asyncio.to_thread(self._on_thread, job)
        except Exception as error:
            _settle(job.future, None, error)
        else:
            _settle(job.future, result, None)

    async def _run_view(self, job: _Job, session: Any) -> None:
        method = getattr(self.core, job.name)
        try:
            result = await self._view(lambda: method(*job.args, **job.kwargs), session)
        except Exception as error:
            _settle(job.future, None, error)
        else:
            _settle(job.future, result, None)
        finally:
            self._give(session)

    async def _run_on_thread(self, job: _Job) -> None:
        try:
            if job.name == "relay":  # one relay at a time, the desk's own included
                assert self._relaying is not None
                async with self._relaying:
                    result = await asyncio.to_thread(self._on_thread, job)
            else:
                result = await asyncio.to_thread(self._on_thread, job)
        except Exception as error:
            _settle(job.future, None, error)
        else:
            _settle(job.future, result, None)

    def _on_thread(self, job: _Job) -> Any:
        result = getattr(self.sync, job.name)(*job.args, **job.kwargs)
        return list(result) if job.name == "stored_events" else result

    @staticmethod
    def _result(command: cmd.Command, events: list[Event]) -> Any:
        """What the desk method returns: a new chat's id, else the command's events."""
        return command.conversation_id if isinstance(command, cmd.StartChat) else events

    async def _build(self, job: _Job) -> cmd.Command | None:
        """The command ``job``'s desk method builds (validating its arguments as the
        desk does); ``None`` after settling the job with the method's refusal. Building
        reads nothing but on a refusal that names the conversation's state."""
        method = getattr(self.core, job.name)
        try:
            await self._view(lambda: method(*job.args, **job.kwargs), None)
        except _Submit as submitted:
            return submitted.command
        except Exception as error:
            _settle(job.future, None, error)
            return None
        raise AssertionError(f"{job.name} returned without a command")  # pragma: no cover

    def _reading(self, txn: Any, function: Callable[[], T], block: bool) -> Callable[[], T]:
        """``function`` reading ``txn`` (set and cleared around each run, which does not
        await: concurrent views on other connections never see each other's)."""

        def run() -> T:
            self.reading = txn
            if block:
                self.core._local.batch = txn
            try:
                return function()
            finally:
                self.reading = None
                self.core._local.batch = None

        return run

    async def _view(self, function: Callable[[], T], session: Any) -> T:
        """``function`` (the replayed desk's view) over the open block's transaction, or
        over a read-only transaction of its own on ``session`` (``None``: the first one
        free, taken only if the function reads)."""
        block = self._block
        if block is not None:
            result: T = await block.replay(self._reading(block, function, True))
            return result
        lazy = _LazyRead(self, session)
        try:
            result = await lazy.replay(function)
        except BaseException:
            await lazy.abandon()
            raise
        await lazy.commit()
        return result

    # --- commands ------------------------------------------------------------------------

    async def _run_group(self, group: list[tuple[_Job, cmd.Command]], session: Any) -> None:
        try:
            await self._commit_group(group, session)
        finally:
            self._give(session)

    async def _commit_group(self, group: list[tuple[_Job, cmd.Command]], session: Any) -> None:
        if len(group) == 1:
            job, command = group[0]
            events, failure = await _outcome(self._handle(command, None, session))
            await self._relay()
            _settle(job.future, self._result(command, events or []), failure)
            return
        outcomes: list[tuple[Any, BaseException | None]] = []
        try:
            txn = await session.begin()
        except Exception as failure:  # no connection: nothing ran
            for job, _ in group:
                _settle(job.future, None, failure)
            return
        measured: list[tuple[str, str, float, int]] = []  # reported once committed
        try:
            for _, command in group:
                outcomes.append(await _outcome(self._handle(command, txn, None, measured)))
            await txn.acommit()
        except (ConcurrencyConflict, _GroupLost):
            # A command of the group lost a race for its records, or the group lost at
            # its commit (SERIALIZABLE). Retrying inside the group would hold its locks
            # (and, SERIALIZABLE, its snapshot) while it waits: the group is rolled
            # back and each command runs on its own, with the desk's retries.
            await txn.aabandon()
            measured = []
            outcomes = [
                await _outcome(self._handle(command, None, session)) for _, command in group
            ]
        except Exception as failure:  # nothing of the group is durable
            await txn.aabandon()
            measured = []
            outcomes = [(None, failure)] * len(group)
        if self.core._metrics is not None:
            for figures in measured:
                self.core._metrics(*figures)
        await self._relay()
        for (job, command), (events, error) in zip(group, outcomes, strict=True):
            _settle(job.future, self._result(command, events or []), error)

    async def _handle(
        self,
        command: cmd.Command,
        block: Any,
        session: Any,
        measured: list[tuple[str, str, float, int]] | None = None,
    ) -> list[Event]:
        """:meth:`Desk.handle` on an async connection: in ``block`` (a savepoint of the
        group's or the batch's transaction) or in a transaction of its own on ``session``.
        In a group (``measured``: where its metrics wait for the commit) a lost race
        raises :class:`_GroupLost`."""
        core = self.core
        started = time.perf_counter()
        name = type(command).__name__
        lost = [0]
        try:
            if isinstance(command, cmd.Tick):
                events: list[Event] = []
                window: _DueWindow | None = _DueWindow(command.now, None, TICK_BATCH)
                while window is not None:
                    fired, window = await self._attempts(
                        command, window, lost, block, session, measured is not None
                    )
                    events.extend(fired)
                    assert window is not None
                    window = window.next()
            else:
                events, _ = await self._attempts(
                    command, None, lost, block, session, measured is not None
                )
        except LivechatError as error:
            _log.info("%s refused: %s", name, error.code)
            figures = (name, error.code, time.perf_counter() - started, lost[0])
            if measured is not None:
                measured.append(figures)
            elif core._metrics is not None:
                core._metrics(*figures)
            raise
        figures = (name, "ok", time.perf_counter() - started, lost[0])
        if measured is not None:
            measured.append(figures)
        elif core._metrics is not None:
            core._metrics(*figures)
        return events

    async def _attempts(
        self,
        command: cmd.Command,
        window: _DueWindow | None,
        lost: list[int],
        block: Any,
        session: Any,
        grouped: bool,
    ) -> tuple[list[Event], _DueWindow | None]:
        """:meth:`Desk._run`: decide and save, retrying lost races with jitter (in a
        group, a lost race gives the group up instead: :class:`_GroupLost`)."""
        core = self.core
        hint: dict[str, list[str]] | None = None
        for attempt in range(core._retries + 1):
            attempt_window = None if window is None else window.copy()
            try:
                if block is not None:
                    async with block.asavepoint():
                        changes, hint = await block.replay(
                            functools.partial(core._decide, block, command, hint, attempt_window)
                        )
                        if changes:
                            await block.asave(changes)
                else:
                    txn = await session.begin()
                    try:
                        changes, hint = await txn.replay(
                            functools.partial(core._decide, txn, command, hint, attempt_window)
                        )
                        if changes:
                            txn.save_last(changes)
                    except BaseException:
                        await txn.aabandon()
                        raise
                    await txn.acommit()
            except ConcurrencyConflict:
                if grouped:
                    raise _GroupLost from None
                lost[0] += 1
                _log.debug(
                    "%s lost a race for its records (attempt %d); retrying",
                    type(command).__name__,
                    attempt + 1,
                )
                await asyncio.sleep(random.uniform(0, min(0.05, 0.0005 * 2 ** min(attempt, 7))))
                continue
            if attempt:
                _log.info("%s committed after %d lost races", type(command).__name__, attempt)
            return list(changes.events), attempt_window
        _log.warning(
            "%s lost the race for its records %d times; giving up",
            type(command).__name__,
            core._retries + 1,
        )
        raise RetriesExhausted(
            f"{type(command).__name__} lost the race for its records {core._retries + 1} times",
            command=command,
        )

    async def _relay(self) -> None:
        """After a commit, the outbox to the desk's transport (a sync transport: on a
        thread, one relay at a time), as the sync desk does; a failure is logged and the
        events wait."""
        if self.sync.transport is not None:
            assert self._relaying is not None
            async with self._relaying:
                await asyncio.to_thread(self.sync._relay_committed)

    # --- async with desk.batch() -----------------------------------------------------------

    async def open_block(self) -> None:
        (session,) = await self._take(1)
        try:
            self._block = await session.begin()
        except BaseException:
            self._give(session)
            raise
        self._block_session = session

    async def _close_block(self, error: BaseException | None) -> None:
        block, self._block = self._block, None
        session, self._block_session = self._block_session, None
        if block is None:
            return
        try:
            if error is None:
                await block.acommit()
                await self._relay()
            else:
                await block.aabandon()
        finally:
            self._give(session)

    async def close_block(self, error: BaseException | None) -> None:
        await self._close_block(error)


class _LazyRead:
    """A read-only transaction on ``session`` (or the first free one), begun only when
    the replayed function first reads; gives a taken session back when done."""

    def __init__(self, runner: _PostgresRunner, session: Any) -> None:
        self._runner = runner
        self._session = session
        self._taken = False
        self._txn: Any = None

    async def replay(self, function: Callable[[], T]) -> T:
        runner = self._runner
        try:  # most builds of a command read nothing: no transaction then
            return runner._reading(None, function, False)()
        except _NoTransaction:
            pass
        if self._session is None:
            (self._session,) = await runner._take(1)
            self._taken = True
        self._txn = await self._session.begin(write=False)
        result: T = await self._txn.replay(runner._reading(self._txn, function, False))
        return result

    async def commit(self) -> None:
        try:
            if self._txn is not None:
                await self._txn.acommit()
        finally:
            self._release()

    async def abandon(self) -> None:
        try:
            if self._txn is not None:
                await self._txn.aabandon()
        finally:
            self._release()

    def _release(self) -> None:
        if self._taken:
            self._taken = False
            self._runner._give(self._session)


async def _outcome(awaitable: Awaitable[T]) -> tuple[T | None, BaseException | None]:
    try:
        return await awaitable, None
    except Exception as error:
        return None, error
