"""PostgreSQL through psycopg's async connection, for :class:`~livechat_core.AsyncDesk`.

An :class:`AsyncDesk` given a :class:`~livechat_core.adapters.postgres.PostgresStore`
opens an :class:`AsyncPostgresSession` on the same database and schema (the sync store
created or migrated it) and runs its commands and views through it, on the event loop:
nothing waits in a thread.

The transactions are the sync store's (:class:`~.postgres._PostgresTransaction`): the
same SQL, the same advisory locks, the same records kept decoded, the same statements
prepared once per connection, and each round trip one libpq pipeline whose results are
read while its statements are still being sent. Only the waiting differs: the socket is
watched by the event loop, and every wait of a round trip is bounded by the store's
``timeout`` (:class:`~livechat_core.StoreTimeout`, the connection closed), as in the
sync store.

The desk's decision is the pure :func:`~livechat_core._core.decide`, which reads the
records it needs one at a time through a sync :class:`~livechat_core.ports.StoreTransaction`.
An async transaction runs it against what it has read so far: a read it has not made yet
stops the decision (:class:`NeedsRead`), the transaction makes that read through the
async connection, and the decision runs again from the start, now finding it (a
decision reads nothing twice: the first read of a command is the prefetch of every
record the command names, so most commands stop once).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any, Final

import psycopg

from .._errors import StoreError, StoreTimeout
from .._events import Event, MessagePosted
from .._model import Message
from ..ports import Changes, transcript_of
from . import _codec
from .postgres import (
    _SAVEPOINT_SENT,
    CONVERSATION_IDS_QUERY,
    EVENTS_QUERY,
    ROLLBACK_COMMAND,
    ROLLBACK_SAVE,
    TRANSCRIPT_QUERY,
    PostgresStore,
    _Key,
    _PostgresTransaction,
    _Step,
    _translate,
    exchange,
)

__all__ = ["AsyncPostgresSession", "AsyncPostgresTransaction", "NeedsRead"]


class NeedsRead(BaseException):
    """Raised inside a replayed decision for a read the transaction has not made yet.

    A :class:`BaseException`, so that no ``except Exception`` of the code being replayed
    takes it for a failure. :meth:`AsyncPostgresTransaction.replay` catches it.
    """

    def __init__(self, key: str, run: Any) -> None:
        super().__init__(key)
        self.key = key
        self.run = run  # a coroutine function making the read


_REPLAYS: Final = 1_000
"""A function replayed this often without finding its reads is a bug, not a workload."""

_STORE_READS: Final = frozenset({"events", "transcript", "conversation_ids"})
"""The store-level reads a view may make inside a replayed read transaction."""


class AsyncPostgresTransaction(_PostgresTransaction):
    """A :class:`~.postgres._PostgresTransaction` whose round trips go through psycopg's
    async connection; see the module docstring for how the decision is run.

    The sync ``StoreTransaction`` reads answer from the reads made so far while
    :meth:`replay` runs a function, and raise :class:`NeedsRead` for any other read;
    the writes are the coroutines :meth:`asave`, :meth:`acommit` (after
    :meth:`save_last`), :meth:`aabandon` and :meth:`asavepoint`.
    """

    def __init__(
        self, connection: psycopg.AsyncConnection[Any], begin: str, **options: Any
    ) -> None:
        super().__init__(connection, begin, **options)  # type: ignore[arg-type]
        self.aconnection = connection
        self._replies: dict[str, list[Any]] = {}

    # --- replaying a sync function over async reads --------------------------------------

    def _run(
        self,
        statements: Sequence[tuple[str, Sequence[Any]]],
        doing: str,
        *,
        commit: bool = False,
    ) -> list[Any]:
        """The rows of a read made earlier in this replay, else :class:`NeedsRead`."""
        key = repr((statements, commit))
        found = self._replies.get(key)
        if found is None:

            async def read() -> list[Any]:
                return await self.arun(statements, doing, commit=commit)

            raise NeedsRead(key, read)
        return list(found)  # the caller may take rows off the list

    def store_read(self, name: str, *arguments: Any) -> Any:
        """A store-level read (``events``, ``transcript``, ``conversation_ids``) inside
        this transaction, for the views replayed over it."""
        if name not in _STORE_READS:
            raise AssertionError(f"no async store read {name!r}")
        key = repr((name, arguments))
        found = self._replies.get(key)
        if found is not None:
            return found[0]

        async def read() -> list[Any]:
            return [await getattr(self, "_read_" + name)(*arguments)]

        raise NeedsRead(key, read)

    async def _read_events(self, aggregate_id: str, aggregate: str) -> list[Event]:
        rows = await self.arun([(EVENTS_QUERY, (aggregate, aggregate_id))], "reading events")
        return [_codec.event_from_columns(*row) for row in rows[-1]]

    async def _read_transcript(self, conversation_id: str) -> list[Message]:
        rows = await self.arun(
            [(TRANSCRIPT_QUERY, (conversation_id, MessagePosted.__name__))],
            "reading a transcript",
        )
        return list(transcript_of(_codec.event_from_columns(*row) for row in rows[-1]))

    async def _read_conversation_ids(self) -> list[str]:
        rows = await self.arun([(CONVERSATION_IDS_QUERY, ())], "reading conversation ids")
        return [row[0] for row in rows[-1]]

    def _state(self) -> tuple[Any, ...]:
        return (
            dict(self._held),
            dict(self._queues),
            dict(self._agents),
            dict(self._conversations),
            dict(self._deleted),
            dict(self._queued),
            dict(self._members),
            dict(self._routable),
            len(self._learned),
        )

    def _restore(self, state: tuple[Any, ...]) -> None:
        caches = [dict(part) for part in state[:-1]]
        (
            self._held,
            self._queues,
            self._agents,
            self._conversations,
            self._deleted,
            self._queued,
            self._members,
            self._routable,
        ) = caches
        del self._learned[state[-1] :]

    async def replay(self, function: Any) -> Any:
        """``function()`` (sync, reading through this transaction) run until it finds
        every read it makes: each time it stops for a read not made yet, the read is
        made through the async connection and ``function`` runs again from the start,
        with what this transaction had read before it began. ``function`` must do the
        same reads given the same rows (the desk's decision does)."""
        state = self._state()
        try:
            for _ in range(_REPLAYS):
                try:
                    return function()
                except NeedsRead as needed:
                    self._restore(state)
                    self._replies[needed.key] = await needed.run()
            raise StoreError(f"a decision asked for more than {_REPLAYS} different reads")
        finally:
            self._replies.clear()

    # --- round trips through the async connection --------------------------------------

    async def arun(
        self,
        statements: Sequence[tuple[str, Sequence[Any]]],
        doing: str,
        *,
        commit: bool = False,
    ) -> list[Any]:
        """:meth:`_run` through the async connection: one pipeline, one round trip."""
        plan = self._plan(statements, commit)
        results, error = await _apipeline(self.aconnection, plan.steps, self._timeout)
        return self._finish(plan, results, error, doing)

    async def _aexecute(self, statement: bytes, doing: str) -> None:
        _, error = await _apipeline(self.aconnection, [(None, statement, None)], self._timeout)
        if error is not None:
            raise _translate(error, doing) from error

    async def asave(self, changes: Changes) -> None:
        """:meth:`save` (writes checked on the server, inside a savepoint), awaited."""
        if self._deferrable(changes):
            self._defer(changes)
            return
        try:
            await self.arun(self._save_statements(changes), "saving")
        except StoreError:
            if not self.aconnection.broken:
                await self._aexecute(ROLLBACK_SAVE, "rolling back a save")
            raise
        self._remember(changes)
        self._wrote(changes)

    @contextlib.asynccontextmanager
    async def asavepoint(self) -> AsyncIterator[None]:
        """:meth:`savepoint` with its rollback awaited."""
        held: dict[_Key, bool] = dict(self._held)
        learned = len(self._learned)
        self._savepoint_wanted()
        try:
            yield
        except BaseException:
            if self._savepoint == _SAVEPOINT_SENT and not self.aconnection.broken:
                await self._aexecute(ROLLBACK_COMMAND, "rolling back to a savepoint")
                self._rolled_back(held, learned)
            elif self._deferred_scope:
                # Saved without a round trip (deferred), so nothing to roll back on the
                # server: forget what the scope read and saved.
                self._rolled_back(held, learned)
            self._savepoint_failed()
            raise
        self._savepoint_kept()

    async def acommit(self) -> None:
        """:meth:`commit` awaited: the writes of ``save_last`` travel with ``COMMIT``."""
        last, self._last = self._last, None
        try:
            if last or self._deferred or self._deferred_scope:
                await self.arun(last or [], "saving", commit=True)
            elif self.begun:
                await self._aexecute(b"COMMIT", "committing")
        except BaseException:
            await self.aabandon()
            raise
        self._known.learn(self._learned)

    async def aabandon(self) -> None:
        """Roll back (errors ignored: the one that got here says more)."""
        self._last = None
        self._deferred, self._deferred_scope = [], []
        if self.begun and not self.aconnection.broken:
            with contextlib.suppress(StoreError, psycopg.Error):
                await self._aexecute(b"ROLLBACK", "rolling back")

    def commit(self) -> None:  # pragma: no cover - guarded: the sync commit would block
        raise AssertionError("an async transaction commits with acommit()")

    def abandon(self) -> None:  # pragma: no cover - guarded
        raise AssertionError("an async transaction rolls back with aabandon()")


class AsyncPostgresSession:
    """One psycopg async connection to a :class:`PostgresStore`'s database and schema,
    opened on first use in the running event loop (and again after it broke).

    The store must exist (the :class:`PostgresStore` created or migrated its schema).
    One transaction at a time: the caller (the :class:`AsyncDesk`'s worker) runs them
    one after another.
    """

    def __init__(self, store: PostgresStore) -> None:
        self.store = store
        self._connection: psycopg.AsyncConnection[Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._prepared: dict[str, bytes] = {}

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        store = self.store
        loop = asyncio.get_running_loop()
        connection = self._connection
        if connection is not None:
            if self._loop is loop and not (connection.broken or connection.closed):
                return connection
            # Broken, or made in another event loop (whose socket watchers are gone).
            connection.pgconn.finish()
            self._connection = None
        try:
            async with asyncio.timeout(store.connect_timeout):
                connection = await psycopg.AsyncConnection.connect(
                    store.dsn,
                    autocommit=True,
                    connect_timeout=max(1, round(store.connect_timeout)),
                    prepare_threshold=None,
                    keepalives=1,
                    keepalives_idle=max(1, round(store.timeout / 2)),
                    keepalives_interval=max(1, round(store.timeout / 6)),
                    keepalives_count=3,
                    tcp_user_timeout=round(store.timeout * 2000),
                )
                for statement in store.session_settings():
                    await connection.execute(statement)
        except TimeoutError:
            raise StoreTimeout("PostgreSQL did not accept a connection in time") from None
        except psycopg.Error as error:
            raise _translate(error, "connecting") from error
        self._connection = connection
        self._loop = loop
        self._prepared = {}  # a new session: nothing prepared yet
        return connection

    async def begin(self, *, write: bool = True) -> AsyncPostgresTransaction:
        """A new transaction (``BEGIN`` travels with its first statements)."""
        store = self.store
        connection = await self._connect()
        return AsyncPostgresTransaction(
            connection,
            store.begin_statement(write),
            locking=write and store.concurrency == "lock",
            spaces=(store._queue_space, store._asset_space),
            prepared=self._prepared if store.prepare else None,
            known=store._known,
            timeout=2 * store.timeout,
        )

    async def close(self) -> None:
        """Close the connection (the session opens a new one if used again)."""
        connection, self._connection = self._connection, None
        if connection is None:
            return
        if self._loop is asyncio.get_running_loop():
            with contextlib.suppress(psycopg.Error):
                await connection.close()
        else:
            connection.pgconn.finish()


async def _apipeline(
    connection: psycopg.AsyncConnection[Any], steps: Sequence[_Step], timeout: float
) -> tuple[list[Any], psycopg.Error | None]:
    """The sync store's ``_pipeline`` on the event loop: ``steps`` sent in one libpq
    pipeline, results read while the statements are still going out, every wait on the
    socket bounded by ``timeout`` seconds in all (then the connection is closed and
    :class:`~livechat_core.StoreTimeout` raised). A cancelled wait closes the
    connection too: the pipeline is left unread."""
    pgconn = connection.pgconn
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    results: list[Any] = []
    steps_left = exchange(pgconn, steps, results, connection.info.encoding)
    readable: Any = None
    try:
        while True:
            try:
                sending = steps_left.send(readable)
            except StopIteration as done:
                return results, done.value
            readable = await _ready(loop, pgconn.socket, deadline, write=sending)
    except psycopg.Error as failure:
        pgconn.finish()
        return results, failure
    except BaseException:
        pgconn.finish()
        raise


async def _ready(
    loop: asyncio.AbstractEventLoop, socket: int, deadline: float, *, write: bool
) -> bool:
    """Wait until the socket can be read (``True``) or, with ``write``, written
    (``False``); :class:`~livechat_core.StoreTimeout` at ``deadline``."""
    left = deadline - loop.time()
    if left <= 0:
        raise StoreTimeout("PostgreSQL did not answer in time (the connection was closed)")
    ready: asyncio.Future[bool] = loop.create_future()

    def wake(readable: bool) -> None:
        if not ready.done():
            ready.set_result(readable)

    loop.add_reader(socket, wake, True)
    if write:
        loop.add_writer(socket, wake, False)
    try:
        async with asyncio.timeout(left):
            return await ready
    except TimeoutError:
        raise StoreTimeout(
            "PostgreSQL did not answer in time (the connection was closed)"
        ) from None
    finally:
        loop.remove_reader(socket)
        if write:
            loop.remove_writer(socket)
