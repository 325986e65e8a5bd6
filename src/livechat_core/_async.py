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
import queue
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any, Final, TypeVar

import attrs

from . import _commands as cmd
from ._desk import Desk, Offer
from ._events import Event
from ._masking import MaskingPolicy
from ._model import Agent, Conversation, Queue
from ._report import Report, Wallboard
from ._surfaces import Surfaces
from .ports import Clock, Store, Transport

T = TypeVar("T")

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
        **options: the :class:`Desk` keyword options (``locale``, ``routing``,
            ``pci_at_rest``, ``new_id``, ``retries``), checked by :class:`Desk`.

    Several coroutines may use one desk at once, and an :class:`AsyncDesk` may share its
    store with sync desks in this and other processes. The event loop never waits on
    I/O: calls on a durable store (or with a transport) run on the desk's own thread, in
    the order they were made. ``await desk.aclose()`` (or ``async with``) stops that
    thread after the calls already made; it does not close the store, which the caller
    owns.
    """

    def __init__(
        self,
        store: Store | None = None,
        transport: Transport | None = None,
        clock: Clock | None = None,
        masking: MaskingPolicy | None = None,
        **options: Any,
    ) -> None:
        self.sync = Desk(store, transport, clock, masking, **options)
        """The :class:`Desk` whose methods this desk runs (for code that is not async)."""
        from .adapters.memory import MemoryStore

        self._thread: _DeskThread | None = None
        if not (isinstance(self.sync.store, MemoryStore) and transport is None):
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
        """Finish the calls already made and stop the desk's thread (the store stays open)."""
        if self._thread is not None:
            thread = self._thread.close()
            if thread is not None:
                await asyncio.to_thread(thread.join)

    async def _call(self, function: Callable[[], T], *, command: bool = False) -> T:
        if self._thread is None:
            return function()
        return await self._thread.submit(function, command=command)

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
            return await self._call(functools.partial(method, *args, **kwargs))

        call.__name__ = name
        call.__doc__ = method.__doc__
        return call

    # --- the one entry point and the outbox ----------------------------------------------

    async def handle(self, command: cmd.Command) -> list[Event]:
        """:meth:`Desk.handle` as a coroutine."""
        return await self._call(functools.partial(self.sync.handle, command), command=True)

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
        return await self._call(functools.partial(method, *args), command=True)

    # --- views ----------------------------------------------------------------------------

    async def conversation(self, conversation_id: str) -> Conversation:
        """:meth:`Desk.conversation` as a coroutine."""
        return await self._call(functools.partial(self.sync.conversation, conversation_id))

    async def agent(self, agent_id: str) -> Agent:
        """:meth:`Desk.agent` as a coroutine."""
        return await self._call(functools.partial(self.sync.agent, agent_id))

    async def offers(self, agent_id: str) -> list[Offer]:
        """:meth:`Desk.offers` as a coroutine."""
        return await self._call(functools.partial(self.sync.offers, agent_id))

    async def available_agents(self, exclude: str | None = None) -> list[Agent]:
        """:meth:`Desk.available_agents` as a coroutine."""
        return await self._call(functools.partial(self.sync.available_agents, exclude))

    async def agents(self) -> list[Agent]:
        """:meth:`Desk.agents` as a coroutine."""
        return await self._call(self.sync.agents)

    async def queues(self) -> list[Queue]:
        """:meth:`Desk.queues` as a coroutine."""
        return await self._call(self.sync.queues)

    async def events(self, conversation_id: str) -> list[Event]:
        """:meth:`Desk.events` as a coroutine."""
        return await self._call(functools.partial(self.sync.events, conversation_id))

    async def events_after(self, position: int = 0, limit: int = 1000) -> list[tuple[int, Event]]:
        """:meth:`Desk.events_after` as a coroutine."""
        return await self._call(functools.partial(self.sync.events_after, position, limit))

    async def stored_events(self) -> list[Event]:
        """:meth:`Desk.stored_events` as a coroutine: the events read in the desk's thread,
        as a list (the sync desk's iterator would read the store lazily, in the loop)."""
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
            functools.partial(
                self.sync.report,
                since,
                until,
                service_level_threshold,
                interval=interval,
            )
        )

    async def stats(self, now: float | None = None) -> Wallboard:
        """:meth:`Desk.stats` as a coroutine."""
        return await self._call(functools.partial(self.sync.stats, now))

    async def surfaces(self, conversation_id: str, policy: MaskingPolicy | None = None) -> Surfaces:
        """:meth:`Desk.surfaces` as a coroutine."""
        return await self._call(functools.partial(self.sync.surfaces, conversation_id, policy))
