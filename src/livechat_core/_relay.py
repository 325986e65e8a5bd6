"""Relays and workers: the processes that move events out of the store and fire deadlines.

A :class:`Relay` publishes the store's event log (:meth:`Store.log`) to a transport from
the position its consumer name saved last, saving the new position after each published
batch: a relay killed at any point and started again publishes every event, at least
once, in log order (so in order per conversation); a repeat carries the same event id.

Several relays of one name may run at once, in one process or many: only the holder of
the name's **lease** publishes, the others wait to take over. The lease is

* on PostgreSQL, a session advisory lock held on a connection of its own (the server
  drops it when the holder's connection dies, a SIGKILL included);
* on SQLite, an exclusive ``flock`` on a file beside the database
  (``<database>.relay-<hash>.lock``; the kernel drops it when the holder dies);
* on a memory store (or a store this module does not know), a lock in this process.

A :class:`Worker` calls :meth:`Desk.tick` every ``interval`` seconds; ticks are commands,
so however many workers run, each deadline fires once (a second tick of the same
deadline conflicts, is retried, and finds nothing due).
"""

from __future__ import annotations

import abc
import contextlib
import fcntl
import hashlib
import logging
import os
import random
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any, Final

from ._desk import Desk
from ._positions import check_consumer
from .adapters.sqlite import SqliteStore
from .ports import Store, Transport

_log: Final = logging.getLogger("livechat_core")

_LOCAL_LEASES: dict[tuple[int, str], threading.Lock] = {}
_LOCAL_LEASES_LOCK = threading.Lock()


class _Lease(AbstractContextManager["_Lease"]):
    """Who may publish for one consumer name: ``acquire`` tries, ``release`` gives it up."""

    @abc.abstractmethod
    def acquire(self) -> bool:
        """Take the lease if nobody holds it; whether this relay now holds it."""

    @abc.abstractmethod
    def release(self) -> None:
        """Give the lease up (a no-op when not held)."""

    def wait(self, timeout: float) -> bool:
        """Sleep until new events may have arrived (at most ``timeout`` seconds); whether
        a writer announced them."""
        time.sleep(timeout)
        return False

    def __exit__(self, *exc_info: object) -> None:
        self.release()


class _LocalLease(_Lease):
    def __init__(self, store: Store, name: str) -> None:
        with _LOCAL_LEASES_LOCK:
            self._lock = _LOCAL_LEASES.setdefault((id(store), name), threading.Lock())
        self._held = False

    def acquire(self) -> bool:
        if not self._held:
            self._held = self._lock.acquire(blocking=False)
        return self._held

    def release(self) -> None:
        if self._held:
            self._held = False
            self._lock.release()


class _FileLease(_Lease):
    """An exclusive ``flock`` on a file beside the SQLite database."""

    def __init__(self, database: str, name: str) -> None:
        digest = hashlib.sha256(name.encode()).hexdigest()[:16]
        self.path = f"{database}.relay-{digest}.lock"
        self._file: int | None = None

    def acquire(self) -> bool:
        if self._file is not None:
            return True
        descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            return False
        self._file = descriptor
        return True

    def release(self) -> None:
        if self._file is not None:
            descriptor, self._file = self._file, None
            os.close(descriptor)  # closing the descriptor drops the lock


class _AdvisoryLease(_Lease):
    """A session advisory lock on a connection of its own, which also LISTENs."""

    def __init__(self, store: Any, name: str) -> None:
        self._dsn: str = store.dsn
        self._channel: str = store.channel
        self._key = zlib.crc32(f"livechat-core:{store.schema}:relay:{name}".encode()) - 2**31
        self._connection: Any = None

    def acquire(self) -> bool:
        import psycopg

        if self._connection is not None and not self._connection.closed:
            return True
        try:
            connection = psycopg.connect(self._dsn, autocommit=True)
        except psycopg.Error as error:
            _log.warning("relay cannot reach PostgreSQL (%s)", type(error).__name__)
            return False
        row = connection.execute("SELECT pg_try_advisory_lock(%s)", (self._key,)).fetchone()
        if not row or not row[0]:
            connection.close()
            return False
        connection.execute(f'LISTEN "{self._channel}"')
        self._connection = connection
        return True

    def wait(self, timeout: float) -> bool:
        connection = self._connection
        if connection is None:
            time.sleep(timeout)
            return False
        try:
            return any(True for _ in connection.notifies(timeout=timeout, stop_after=1))
        except Exception as error:  # the connection broke: take the lease again
            _log.warning("relay lost its PostgreSQL connection (%s)", type(error).__name__)
            self.release()
            return False

    def release(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.close()  # the session ends: its advisory lock is released


def _lease(store: Store, name: str) -> _Lease:
    if isinstance(store, SqliteStore) and store.path != ":memory:":
        return _FileLease(os.path.abspath(store.path), name)
    if type(store).__name__ == "PostgresStore" and hasattr(store, "channel"):
        return _AdvisoryLease(store, name)
    return _LocalLease(store, name)


class Relay:
    """Publishes a store's event log to a transport, resuming from a saved position.

    Args:
        store: where the events are (the relay only reads them and saves its position).
        transport: receives the events, a batch at a time, in log order.
        name: the consumer name under which the position is saved; relays of one name
            share one position and one lease.
        batch_size: events per ``publish``.
        poll_interval: seconds between looks at the log when it had nothing new (on
            PostgreSQL a ``NOTIFY`` from a writer wakes the relay sooner).
        max_backoff: the longest pause, in seconds, after a failing ``publish``.
        prune_outbox: also mark published events as such in the store's outbox, so the
            outbox stays small when no desk relays it.
    """

    def __init__(
        self,
        store: Store,
        transport: Transport,
        *,
        name: str = "relay",
        batch_size: int = 500,
        poll_interval: float = 1.0,
        max_backoff: float = 30.0,
        prune_outbox: bool = True,
    ) -> None:
        self.store = store
        self.transport = transport
        self.name = check_consumer(name)
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size!r}")
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.max_backoff = max_backoff
        self.prune_outbox = prune_outbox
        self.published = 0
        self.holding = False
        """Whether this relay held the lease at its last look (it publishes then)."""
        self._lease = _lease(store, self.name)

    def publish_pending(self) -> int:
        """Publish everything after the saved position, if this relay holds (or can take)
        the lease; returns how many events it published. A failing ``publish`` raises
        with the failed batch unsaved, so the next call sends it again."""
        if not self._lease.acquire():
            return 0
        count = 0
        position = self.store.consumer_position(self.name)
        while batch := self.store.log(position, self.batch_size):
            started = time.perf_counter()
            self.transport.publish([event for _, event in batch])
            position = batch[-1][0]
            self.store.save_consumer_position(self.name, position)
            if self.prune_outbox:
                self.store.mark_published([event.id for _, event in batch])
            count += len(batch)
            self.published += len(batch)
            _log.info(
                "relay %s published %d events up to position %d in %.3f s",
                self.name,
                len(batch),
                position,
                time.perf_counter() - started,
            )
        return count

    def run(self, stop: threading.Event) -> None:
        """Relay until ``stop`` is set: take the lease (waiting while another relay of the
        name holds it), publish, wait for new events; back off after failures."""
        failures = 0
        try:
            while not stop.is_set():
                try:
                    self.publish_pending()
                except Exception as error:  # the transport or store failed: retry later
                    failures += 1
                    delay = min(self.max_backoff, 0.1 * 2 ** min(failures, 16))
                    delay = random.uniform(delay / 2, delay)
                    _log.warning(
                        "relay %s failed (%s); retrying in %.1f s (failure %d)",
                        self.name,
                        type(error).__name__,
                        delay,
                        failures,
                    )
                    stop.wait(delay)
                    continue
                failures = 0
                if self._lease.acquire():
                    if not self.holding:
                        _log.info("relay %s holds the lease and publishes", self.name)
                        self.holding = True
                    self._wait(stop)
                else:
                    if self.holding:
                        _log.info("relay %s lost the lease", self.name)
                        self.holding = False
                    stop.wait(self.poll_interval)
        finally:
            self.holding = False
            self._lease.release()
            _log.info("relay %s stopped after %d events", self.name, self.published)

    def _wait(self, stop: threading.Event) -> None:
        """Until a writer announces events, ``poll_interval`` passes or ``stop`` is set."""
        deadline = time.monotonic() + self.poll_interval
        while not stop.is_set() and (left := deadline - time.monotonic()) > 0:
            if self._lease.wait(min(left, 0.25)):
                return

    def close(self) -> None:
        """Give up the lease (the store and transport are the caller's)."""
        self._lease.release()


class Worker:
    """Fires deadlines: ``desk.tick()`` every ``interval`` seconds until stopped.

    Safe with several workers on one store: each deadline fires once.
    """

    def __init__(self, desk: Desk, *, interval: float = 1.0) -> None:
        if not interval > 0:
            raise ValueError(f"interval must be above 0, not {interval!r}")
        self.desk = desk
        self.interval = interval
        self.fired = 0

    def tick(self) -> int:
        """One tick; returns how many events it fired."""
        events = self.desk.tick()
        if events:
            self.fired += len(events)
            _log.info("worker fired %d events", len(events))
        return len(events)

    def run(self, stop: threading.Event) -> None:
        """Tick every ``interval`` seconds until ``stop`` is set; failures are logged and
        the next tick tries again."""
        failures = 0
        try:
            while not stop.is_set():
                try:
                    self.tick()
                    failures = 0
                except Exception as error:
                    failures += 1
                    _log.warning(
                        "worker tick failed (%s: %s); retrying",
                        getattr(error, "code", "error"),
                        type(error).__name__,
                    )
                stop.wait(min(self.interval * 2 ** min(failures, 5), 30.0))
        finally:
            _log.info("worker stopped after firing %d events", self.fired)


@contextlib.contextmanager
def stopping_on_signals(stop: threading.Event) -> Iterator[None]:
    """Set ``stop`` on SIGTERM and SIGINT while the block runs (the main thread only)."""
    import signal

    def handler(signum: int, frame: Any) -> None:
        _log.info("received signal %d, stopping", signum)
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
