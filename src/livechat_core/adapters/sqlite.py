"""The SQLite store: the embedded default wherever state must outlive the process.

One file holds the desk: queues, agents and conversations as JSON documents beside the
indexed columns the desk's reads need, every event as its neutral record, and an outbox
of the events not yet published. Several processes may share the file:

* the database runs in WAL mode, so readers never block the writer;
* every write transaction starts with ``BEGIN IMMEDIATE``: writers queue up for the
  file's write lock (waiting up to ``busy_timeout`` seconds) and each one reads and
  writes with nobody in between, so a write transaction is serializable and no routing
  decision rests on a stale read;
* every ``UPDATE`` still checks the version the record was read at, which is the port's
  optimistic-concurrency contract.

PCI at rest: the connection runs with ``PRAGMA secure_delete=ON`` (freed cells and pages
are overwritten with zeros) and after a transaction that redacted messages the WAL is
checkpointed and truncated, so no old copy of a redacted message survives in the files.

The schema is versioned: ``PRAGMA application_id`` marks the file as a livechat-core
store and ``PRAGMA user_version`` holds the schema version. :data:`MIGRATIONS` is the
forward path; a new file gets all of them, an older one the ones it lacks. A file that
is not a livechat-core store, is corrupt, misses a table or is newer than this library
raises :class:`~livechat_core.SchemaError` before anything is written to it.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sqlite3
import tempfile
import threading
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from types import TracebackType
from typing import Any, Final, Literal, TypeVar

from .._errors import ConcurrencyConflict, SchemaError, StoreError, StoreTimeout
from .._events import Event, MessagePosted
from .._machines import ConversationState
from .._model import Agent, Conversation, Message, Queue
from .._positions import check_consumer, check_limit, check_position
from ..ports import (
    ArchivedConversation,
    Changes,
    Store,
    StoreTransaction,
    routing_key,
    transcript_of,
    with_transcript,
)
from . import _codec

APPLICATION_ID: Final = 0x4C434331
"""``PRAGMA application_id`` of a livechat-core store (the bytes ``LCC1``)."""

MIGRATIONS: Final[tuple[str, ...]] = (
    # 1: the initial schema.
    """
    CREATE TABLE queues (
        name TEXT PRIMARY KEY,
        version INTEGER NOT NULL,
        record TEXT NOT NULL
    );
    CREATE TABLE agents (
        id TEXT PRIMARY KEY,
        version INTEGER NOT NULL,
        queues TEXT NOT NULL,
        record TEXT NOT NULL
    );
    CREATE TABLE agent_queues (
        queue TEXT NOT NULL,
        agent_id TEXT NOT NULL,
        PRIMARY KEY (queue, agent_id)
    ) WITHOUT ROWID;
    CREATE TABLE conversations (
        position INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        version INTEGER NOT NULL,
        state TEXT NOT NULL,
        queue TEXT NOT NULL,
        asset TEXT NOT NULL,
        started_at REAL NOT NULL,
        next_deadline REAL,
        record TEXT NOT NULL
    );
    CREATE INDEX conversations_queued ON conversations (started_at, id) WHERE state = 'queued';
    CREATE INDEX conversations_due ON conversations (next_deadline, id)
        WHERE next_deadline IS NOT NULL;
    CREATE INDEX conversations_open ON conversations (asset, id) WHERE state <> 'closed';
    CREATE TABLE deleted_assets (
        asset TEXT PRIMARY KEY
    ) WITHOUT ROWID;
    CREATE TABLE events (
        position INTEGER PRIMARY KEY,
        aggregate TEXT NOT NULL,
        aggregate_id TEXT NOT NULL,
        sequence INTEGER NOT NULL,
        type TEXT NOT NULL,
        at REAL NOT NULL,
        data TEXT NOT NULL,
        UNIQUE (aggregate, aggregate_id, sequence)
    );
    CREATE TABLE outbox (
        event_position INTEGER PRIMARY KEY REFERENCES events (position)
    );
    CREATE TRIGGER events_to_outbox AFTER INSERT ON events BEGIN
        INSERT INTO outbox (event_position) VALUES (NEW.position);
    END;
    """,
    # 2: archiving reads closed conversations oldest closed first.
    """
    ALTER TABLE conversations ADD COLUMN closed_at REAL;
    UPDATE conversations SET closed_at = json_extract(record, '$.closed_at')
        WHERE state = 'closed';
    CREATE INDEX conversations_closed ON conversations (closed_at, id) WHERE state = 'closed';
    """,
    # 3: routing reads the routable members of a queue in routing order through an index:
    # each membership row carries the agent's waiting_since while the agent is routable
    # (available with free capacity), NULL otherwise.
    """
    ALTER TABLE agent_queues ADD COLUMN waiting_since REAL;
    UPDATE agent_queues SET waiting_since = (
        SELECT coalesce(
            json_extract(a.record, '$.last_offer_at'),
            json_extract(a.record, '$.available_since'),
            0.0
        )
        FROM agents AS a
        WHERE a.id = agent_queues.agent_id
            AND json_extract(a.record, '$.state') = 'available'
            AND json_array_length(a.record, '$.holding') < json_extract(a.record, '$.capacity')
    );
    CREATE INDEX agent_queues_routable ON agent_queues (queue, waiting_since, agent_id)
        WHERE waiting_since IS NOT NULL;
    """,
    # 4: the desk settings that change what is stored (PCI at rest, locale), recorded by
    # the first desk so that a desk with other settings is refused (Store.claim_settings).
    """
    CREATE TABLE desk_settings (
        singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
        record TEXT NOT NULL
    );
    """,
    # 5: the event log. Consumers keep their position in it (``consumers``), and
    # positions must never be handed out twice: archiving deletes old events, and a
    # rowid table gives the next row max(rowid) + 1, so deleting the newest events would
    # hand their positions out again, below what a consumer already read. AUTOINCREMENT
    # never reuses one; the table is rebuilt with it, positions kept.
    """
    CREATE TABLE consumers (
        name TEXT PRIMARY KEY,
        position INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE events_log (
        position INTEGER PRIMARY KEY AUTOINCREMENT,
        aggregate TEXT NOT NULL,
        aggregate_id TEXT NOT NULL,
        sequence INTEGER NOT NULL,
        type TEXT NOT NULL,
        at REAL NOT NULL,
        data TEXT NOT NULL,
        UNIQUE (aggregate, aggregate_id, sequence)
    );
    INSERT INTO events_log (position, aggregate, aggregate_id, sequence, type, at, data)
        SELECT position, aggregate, aggregate_id, sequence, type, at, data FROM events;
    DROP TRIGGER events_to_outbox;
    DROP TABLE events;
    ALTER TABLE events_log RENAME TO events;
    CREATE TRIGGER events_to_outbox AFTER INSERT ON events BEGIN
        INSERT INTO outbox (event_position) VALUES (NEW.position);
    END;
    """,
    # 6: fewer pages per commit. AUTOINCREMENT rewrote its counter (the sqlite_sequence
    # page) in every commit that stored an event; the events table goes back to plain
    # rowids, and the highest position handed out is kept by the archive instead: when
    # archiving takes the newest events out, one placeholder row (aggregate '') keeps
    # their highest position, so the next event still gets a higher one. The counter of
    # a file whose newest events were archived becomes that row here. The index of open
    # conversations is read through closed_at, which changes once in a conversation's
    # life, where state changes with every step (SQLite rewrites an index entry whenever
    # an UPDATE sets a column its WHERE reads); closed_at is set on every closed row.
    """
    CREATE TABLE events_log (
        position INTEGER PRIMARY KEY,
        aggregate TEXT NOT NULL,
        aggregate_id TEXT NOT NULL,
        sequence INTEGER NOT NULL,
        type TEXT NOT NULL,
        at REAL NOT NULL,
        data TEXT NOT NULL,
        UNIQUE (aggregate, aggregate_id, sequence)
    );
    INSERT INTO events_log (position, aggregate, aggregate_id, sequence, type, at, data)
        SELECT position, aggregate, aggregate_id, sequence, type, at, data FROM events;
    INSERT INTO events_log (position, aggregate, aggregate_id, sequence, type, at, data)
        SELECT seq, '', '', seq, '', 0.0, 'null' FROM sqlite_sequence
        WHERE name = 'events' AND seq > coalesce((SELECT max(position) FROM events), 0);
    DROP TRIGGER events_to_outbox;
    DROP TABLE events;
    ALTER TABLE events_log RENAME TO events;
    CREATE TRIGGER events_to_outbox AFTER INSERT ON events BEGIN
        INSERT INTO outbox (event_position) VALUES (NEW.position);
    END;
    UPDATE conversations SET closed_at = 0.0 WHERE state = 'closed' AND closed_at IS NULL;
    DROP INDEX conversations_open;
    CREATE INDEX conversations_open ON conversations (asset, id) WHERE closed_at IS NULL;
    """,
    # 7: the routing index as a table of its own, holding only the routable memberships:
    # an agent becoming routable or not inserts or deletes one row of one b-tree, where
    # a column of agent_queues under a partial index rewrote two (the membership's page
    # and the index's) in every commit that changed an agent's routing key.
    """
    CREATE TABLE agent_routing (
        queue TEXT NOT NULL,
        waiting_since REAL NOT NULL,
        agent_id TEXT NOT NULL,
        PRIMARY KEY (queue, waiting_since, agent_id)
    ) WITHOUT ROWID;
    INSERT INTO agent_routing (queue, waiting_since, agent_id)
        SELECT queue, waiting_since, agent_id FROM agent_queues WHERE waiting_since IS NOT NULL;
    CREATE TABLE agent_members (
        queue TEXT NOT NULL,
        agent_id TEXT NOT NULL,
        PRIMARY KEY (queue, agent_id)
    ) WITHOUT ROWID;
    INSERT INTO agent_members (queue, agent_id) SELECT queue, agent_id FROM agent_queues;
    DROP TABLE agent_queues;
    ALTER TABLE agent_members RENAME TO agent_queues;
    """,
)
"""Forward migrations: entry ``i`` takes a file from schema version ``i`` to ``i + 1``."""

SCHEMA_VERSION: Final = len(MIGRATIONS)
"""The schema version this library writes."""

TABLES: Final = frozenset(
    {
        "queues",
        "agents",
        "agent_queues",
        "agent_routing",
        "conversations",
        "deleted_assets",
        "events",
        "outbox",
        "desk_settings",
        "consumers",
    }
)

Synchronous = Literal["OFF", "NORMAL", "FULL", "EXTRA"]

# Error codes (primary, the low byte) that mean "this file is not a healthy store".
_SQLITE_CORRUPT: Final = 11
_SQLITE_NOTADB: Final = 26
_SQLITE_BUSY: Final = 5

# Primary codes of "cannot open or write this location": SQLITE_PERM, SQLITE_READONLY,
# SQLITE_IOERR, SQLITE_CANTOPEN.
_ACCESS_ERRORS: Final = frozenset({3, 8, 10, 14})


def _location_problem(path: str) -> str | None:
    """Why SQLite cannot open ``path`` for writing, in words, if the location is the
    cause: a missing directory, a directory where no file can be created (SQLite's WAL
    mode creates ``-wal`` and ``-shm`` files beside the database), a read-only file."""
    if path == ":memory:" or path.startswith("file:"):
        return None
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        return f"the directory {directory} does not exist"
    try:
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as error:
        name = os.path.basename(path)
        return (
            f"no file can be created in {directory} ({error.strerror or error}); SQLite "
            f"keeps {name}-wal and {name}-shm beside the database (WAL mode), so the "
            "directory must be writable, not only the file"
        )
    if os.path.exists(path) and not os.access(path, os.W_OK):
        return f"the file {path} is read-only"
    return None


# Connections inherited through fork() must not be closed by the child (closing would
# drop SQLite's POSIX locks of the parent's descriptors); they are parked here instead.
_INHERITED: list[sqlite3.Connection] = []


def _translate(error: sqlite3.Error, doing: str) -> StoreError:
    """The library error for a driver error (the caller chains it as the cause)."""
    code = getattr(error, "sqlite_errorcode", None)
    primary = None if code is None else code & 0xFF
    if primary in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
        return SchemaError(f"the database file is corrupt or not a database ({doing}): {error}")
    if primary == _SQLITE_BUSY and code != _SQLITE_BUSY:
        # SQLITE_BUSY_SNAPSHOT and friends: another writer got in first; retrying helps.
        return ConcurrencyConflict(f"another writer changed the database ({doing}): {error}")
    if code == _SQLITE_BUSY:
        return StoreTimeout(
            f"another connection held the database's lock past the busy timeout ({doing}): {error}"
        )
    return StoreError(f"SQLite failed ({doing}): {error}")


@contextmanager
def _translating(doing: str) -> Iterator[None]:
    try:
        yield
    except sqlite3.Error as error:
        raise _translate(error, doing) from error


def _inspect(connection: sqlite3.Connection) -> tuple[int, int, set[str]]:
    """The file's application id, schema version and table names (reads only)."""
    application_id = connection.execute("PRAGMA application_id").fetchone()[0]
    version = connection.execute("PRAGMA user_version").fetchone()[0]
    tables = {
        row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    }
    return int(application_id), int(version), tables


def _check(path: str, application_id: int, version: int, tables: set[str]) -> bool:
    """Whether the file is empty (a new store); raise ``SchemaError`` unless it is ours."""
    if application_id == 0 and not tables:
        return True
    if application_id != APPLICATION_ID:
        raise SchemaError(
            f"{path} is not a livechat-core store (application_id {application_id:#x}, "
            f"tables {sorted(tables)})"
        )
    if version > SCHEMA_VERSION:
        raise SchemaError(
            f"{path} has schema version {version}, newer than this library's "
            f"{SCHEMA_VERSION}: upgrade livechat-core"
        )
    if version == SCHEMA_VERSION and not tables >= TABLES:
        raise SchemaError(f"{path} lacks the tables {sorted(TABLES - tables)}")
    return False


class SqliteStore(Store):
    """Desk state in one SQLite file, shareable by several processes.

    Args:
        path: the database file, created with the schema on first use (``":memory:"``
            for a private in-memory database).
        synchronous: SQLite's ``PRAGMA synchronous``. ``"FULL"`` (the default) makes
            every returned command survive a power cut; ``"NORMAL"`` is faster and in
            WAL mode still survives a crash of the process, not of the machine.
        busy_timeout: seconds a writer waits for another process's write lock before
            :class:`~livechat_core.StoreError` is raised.

    Raises:
        SchemaError: the file is corrupt, foreign, misses a table or is newer than
            this library; nothing was written to it.

    The store is thread-safe (one connection, one transaction at a time) and can be
    pickled: the copy reopens the file by path, e.g. in a worker process. A process
    forked with an open store opens its own connection on first use.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: Synchronous = "FULL",
        busy_timeout: float = 30.0,
    ) -> None:
        if synchronous not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"synchronous must be OFF, NORMAL, FULL or EXTRA, not {synchronous!r}")
        self.path = os.fspath(path)
        self.synchronous: Synchronous = synchronous
        self.busy_timeout = float(busy_timeout)
        self._lock = threading.RLock()
        self._connection: sqlite3.Connection | None = None
        self._pid = os.getpid()
        self._closed = False
        self._checkpoint_owed = False
        self._committed = _Committed()
        self._active: _SqliteTransaction | None = None  # the transaction holding _lock
        self._connect()

    # --- pickling: reopen by path ---------------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "synchronous": self.synchronous,
            "busy_timeout": self.busy_timeout,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.path = state["path"]
        self.synchronous = state["synchronous"]
        self.busy_timeout = state["busy_timeout"]
        self._lock = threading.RLock()
        self._connection = None
        self._pid = os.getpid()
        self._closed = False
        self._checkpoint_owed = False
        self._committed = _Committed()
        self._active = None

    def __repr__(self) -> str:
        return f"SqliteStore({self.path!r}, synchronous={self.synchronous!r})"

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- the connection -------------------------------------------------------------------

    def _validate_read_only(self) -> None:
        """Check an existing file through a read-only connection: nothing can be written."""
        uri = "file:" + _quote_path(os.path.abspath(self.path)) + "?mode=ro"
        with _translating(f"opening {self.path}"):
            connection = sqlite3.connect(uri, uri=True, timeout=self.busy_timeout)
        try:
            with _translating(f"reading the schema of {self.path}"):
                _check(self.path, *_inspect(connection))
        finally:
            connection.close()

    def _connect(self) -> sqlite3.Connection:
        if self._closed:
            raise StoreError(f"the store on {self.path} is closed")
        if self._connection is not None:
            if self._pid == os.getpid():
                return self._connection
            _INHERITED.append(self._connection)  # forked: never close the parent's
            self._connection = None
            self._pid = os.getpid()
        try:
            connection = self._open()
        except StoreError as error:
            cause = error.__cause__
            code = getattr(cause, "sqlite_errorcode", None)
            problem = None
            if code is not None and code & 0xFF in _ACCESS_ERRORS:
                problem = _location_problem(self.path)
            if problem is None:
                raise
            raise StoreError(f"cannot open {self.path}: {problem}", cause="location") from cause
        self._connection = connection
        self._committed.doubt()  # data_version counts per connection
        return connection

    def _open(self) -> sqlite3.Connection:
        in_memory = self.path == ":memory:" or self.path.startswith("file:")
        if not in_memory and os.path.exists(self.path) and os.path.getsize(self.path) > 0:
            self._validate_read_only()
        with _translating(f"opening {self.path}"):
            connection = sqlite3.connect(
                self.path,
                timeout=self.busy_timeout,
                isolation_level=None,
                check_same_thread=False,
                uri=self.path.startswith("file:"),
            )
        try:
            self._prepare(connection)
        except BaseException:
            connection.close()
            raise
        return connection

    def _prepare(self, connection: sqlite3.Connection) -> None:
        """Check (again, now under the write lock if needed), create or migrate the schema."""
        with _translating(f"preparing {self.path}"):
            new = _check(self.path, *_inspect(connection))
            mode = connection.execute("PRAGMA journal_mode").fetchone()[0]
            if mode != "wal" and self.path != ":memory:":
                connection.execute("PRAGMA journal_mode=WAL")
            connection.execute(f"PRAGMA synchronous={self.synchronous}")
            connection.execute("PRAGMA secure_delete=ON")
            connection.execute("PRAGMA foreign_keys=OFF")
            _, version, _ = _inspect(connection)
            if new or version < SCHEMA_VERSION:
                self._migrate(connection)

    def _migrate(self, connection: sqlite3.Connection) -> None:
        connection.execute("BEGIN IMMEDIATE")
        try:
            application_id, version, tables = _inspect(connection)
            _check(self.path, application_id, version, tables)  # another process may have won
            for script in MIGRATIONS[version:]:
                for statement in _statements(script):
                    connection.execute(statement)
            connection.execute(f"PRAGMA application_id={APPLICATION_ID}")
            connection.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise

    def close(self) -> None:
        """Checkpoint the WAL if a redaction still waits for it, and close the file."""
        with self._lock:
            connection, self._connection = self._connection, None
            self._closed = True
            self._committed.clear()
            if connection is None:
                return
            if self._pid != os.getpid():
                _INHERITED.append(connection)
                return
            try:
                if self._checkpoint_owed:
                    self._checkpoint(connection)
            finally:
                connection.close()

    # --- transactions ---------------------------------------------------------------------

    def transaction(self, *, write: bool = True) -> AbstractContextManager[StoreTransaction]:
        """A transaction; a write one takes the file's write lock first (``BEGIN IMMEDIATE``)."""
        return _Transaction(self, write)

    def _begin(self, write: bool) -> _SqliteTransaction:
        """Start a transaction, holding the store's lock until :meth:`_end` releases it.

        Another thread of this process holding the store (a long ``batch()`` block) is
        waited for as long as another process's write lock: ``busy_timeout``.
        """
        if not self._lock.acquire(timeout=self.busy_timeout):
            raise StoreTimeout(
                f"another thread held the store on {self.path} past the busy timeout "
                f"({self.busy_timeout:g} s)"
            )
        try:
            connection = self._connection
            if connection is None or self._pid != os.getpid():
                connection = self._connect()
            try:
                connection.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                # Unchanged since the last transaction: nobody else committed since
                # (this connection's own commits do not count).
                data_version = connection.execute("PRAGMA data_version").fetchone()[0]
            except sqlite3.Error as error:
                with contextlib.suppress(sqlite3.Error):
                    if connection.in_transaction:
                        connection.execute("ROLLBACK")
                raise _translate(error, "beginning a transaction") from error
        except BaseException:
            self._lock.release()
            raise
        committed = self._committed
        txn = _SqliteTransaction(connection, committed, committed.begin(data_version))
        self._active = txn
        return txn

    def _end(self, txn: _SqliteTransaction, failed: bool) -> None:
        """Commit ``txn`` (roll it back if ``failed``) and release the store's lock."""
        connection = txn.connection
        try:
            if failed:
                # The original error says more; SQLite may have rolled back already.
                try:
                    connection.execute("ROLLBACK")
                except sqlite3.Error:
                    self._committed.doubt()
                return
            if txn.aborted:
                self._committed.doubt()
                raise StoreError("the transaction was rolled back after a failed save")
            txn.flush()  # the records saved and not written yet (it rolls back on failure)
            try:
                connection.execute("COMMIT")
            except sqlite3.Error as error:
                self._committed.doubt()
                with contextlib.suppress(sqlite3.Error):
                    connection.execute("ROLLBACK")
                raise _translate(error, "committing") from error
            txn.committed_now()
            if txn.redacted:
                self._checkpoint_owed = True
            if self._checkpoint_owed:
                self._checkpoint(connection)
        finally:
            self._active = None
            self._lock.release()

    def _checkpoint(self, connection: sqlite3.Connection) -> None:
        """Copy the WAL into the file and truncate it, so no old page image survives.

        A reader in another process can hold the checkpoint back; then it is owed and
        tried again after the next write and on ``close``.
        """
        if self.path == ":memory:":
            self._checkpoint_owed = False
            return
        with _translating("checkpointing after a redaction"):
            busy, _, _ = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        self._checkpoint_owed = bool(busy)

    # --- outside a transaction ------------------------------------------------------------

    def events(self, aggregate_id: str, aggregate: str = "conversation") -> list[Event]:
        """The stored events of one aggregate, oldest first."""
        with self._lock, _translating("reading events"):
            rows = (
                self._connect()
                .execute(
                    "SELECT aggregate_id, sequence, at, type, data FROM events "
                    "WHERE aggregate = ? AND aggregate <> '' AND aggregate_id = ? "
                    "ORDER BY sequence",
                    (aggregate, aggregate_id),
                )
                .fetchall()
            )
        return [_codec.event_from_columns(*row) for row in rows]

    def transcript(self, conversation_id: str) -> list[Message]:
        """Every message of a conversation, oldest first: its ``MessagePosted`` rows."""
        with self._lock, _translating("reading a transcript"):
            rows = (
                self._connect()
                .execute(
                    "SELECT aggregate_id, sequence, at, type, data FROM events "
                    "WHERE aggregate = 'conversation' AND aggregate_id = ? AND type = ? "
                    "ORDER BY sequence",
                    (conversation_id, MessagePosted.__name__),
                )
                .fetchall()
            )
        return list(transcript_of(_codec.event_from_columns(*row) for row in rows))

    def pending(self, limit: int = 1000) -> list[Event]:
        """Outbox events not yet marked published, in commit order."""
        with self._lock, _translating("reading the outbox"):
            rows = (
                self._connect()
                .execute(
                    "SELECT e.aggregate_id, e.sequence, e.at, e.type, e.data "
                    "FROM outbox AS o JOIN events AS e ON e.position = o.event_position "
                    "ORDER BY o.event_position LIMIT ?",
                    (limit,),
                )
                .fetchall()
            )
        return [_codec.event_from_columns(*row) for row in rows]

    def mark_published(self, event_ids: Sequence[str]) -> None:
        """Remove events from the outbox (unknown ids are ignored)."""
        keys = [key for key in map(_codec.parse_event_id, event_ids) if key is not None]
        if not keys:
            return
        with self._lock:
            connection = self._connect()
            # Losing this deletion to a power cut only publishes the events again, which
            # the outbox allows (at least once), so it commits without its own fsync: the
            # next durable commit writes it to disk with its own WAL frames.
            if self.synchronous in ("FULL", "EXTRA"):
                with _translating("marking events published"):
                    connection.execute("PRAGMA synchronous=NORMAL")
            try:
                with self.transaction() as txn:
                    assert isinstance(txn, _SqliteTransaction)
                    with _translating("marking events published"):
                        txn.connection.executemany(
                            "DELETE FROM outbox WHERE event_position = (SELECT position "
                            "FROM events WHERE aggregate = ? AND aggregate_id = ? "
                            "AND sequence = ?)",
                            keys,
                        )
            finally:
                with _translating("marking events published"):
                    connection.execute(f"PRAGMA synchronous={self.synchronous}")

    def claim_settings(self, proposed: Mapping[str, str]) -> dict[str, str]:
        """The desk settings recorded in the file; ``proposed`` is recorded first when
        none are (one row, inserted only if absent: the first desk wins)."""
        with self._lock, _translating("recording the desk settings"):
            connection = self._connect()
            row = connection.execute("SELECT record FROM desk_settings").fetchone()
            if row is None:
                connection.execute(
                    "INSERT OR IGNORE INTO desk_settings (singleton, record) VALUES (1, ?)",
                    (json.dumps(dict(proposed), sort_keys=True),),
                )
                row = connection.execute("SELECT record FROM desk_settings").fetchone()
        recorded: dict[str, str] = json.loads(row[0])
        return recorded

    def log(self, after: int = 0, limit: int = 1000) -> list[tuple[int, Event]]:
        """Events with a position above ``after``, in position order.

        Writers hold the file's write lock from ``BEGIN IMMEDIATE`` to their commit, so
        positions (``events.position``) are handed out in commit order: a reader never
        sees a position before a lower one commits.
        """
        after = check_position(after, "after")
        limit = check_limit(limit)
        with self._lock, _translating("reading the event log"):
            rows = (
                self._connect()
                .execute(
                    "SELECT position, aggregate_id, sequence, at, type, data FROM events "
                    "WHERE position > ? AND aggregate <> '' ORDER BY position LIMIT ?",
                    (after, limit),
                )
                .fetchall()
            )
        return [(row[0], _codec.event_from_columns(*row[1:])) for row in rows]

    def consumer_position(self, name: str) -> int:
        """The position consumer ``name`` saved last (0 when it never saved one)."""
        name = check_consumer(name)
        with self._lock, _translating("reading a consumer position"):
            row = (
                self._connect()
                .execute("SELECT position FROM consumers WHERE name = ?", (name,))
                .fetchone()
            )
        return 0 if row is None else int(row[0])

    def save_consumer_position(self, name: str, position: int) -> None:
        """Record consumer ``name``'s position (committed with the store's ``synchronous``)."""
        name = check_consumer(name)
        position = check_position(position, "position")
        with self.transaction() as txn:
            assert isinstance(txn, _SqliteTransaction)
            with _translating("saving a consumer position"):
                txn.connection.execute(
                    "INSERT INTO consumers (name, position) VALUES (?, ?) "
                    "ON CONFLICT (name) DO UPDATE SET position = excluded.position",
                    (name, position),
                )

    def conversation_ids(self) -> list[str]:
        """Every conversation id, in the order they were first saved."""
        with self._lock, _translating("reading conversation ids"):
            rows = self._connect().execute("SELECT id FROM conversations ORDER BY position")
            ids = [row[0] for row in rows]
            if self._active is not None:  # this thread's open transaction: what it saved
                ids += self._active.written_conversation_ids()
            return ids

    def archive(self, before: float, limit: int = 1000) -> list[ArchivedConversation]:
        """Move conversations closed before ``before`` (oldest closed first, at most
        ``limit``) and their events out of the file, in one transaction; returns them."""
        archived: list[ArchivedConversation] = []
        with self.transaction() as txn:
            assert isinstance(txn, _SqliteTransaction)
            rows = txn._rows(
                "SELECT id, version, record FROM conversations WHERE state = 'closed' "
                "AND closed_at < ? ORDER BY closed_at, id LIMIT ?",
                (before, limit),
            )
            if not rows:
                return archived
            (top,) = txn._rows("SELECT max(position) FROM events")[0]
            execute = txn.connection.execute
            for conversation_id, _, record in rows:
                conversation = _codec.conversation_from_json(record)
                events = txn._rows(
                    "SELECT position, aggregate_id, sequence, at, type, data FROM events "
                    "WHERE aggregate = 'conversation' AND aggregate_id = ? ORDER BY sequence",
                    (conversation_id,),
                )
                with _translating("archiving"):
                    execute(
                        "DELETE FROM outbox WHERE event_position IN (SELECT position FROM "
                        "events WHERE aggregate = 'conversation' AND aggregate_id = ?)",
                        (conversation_id,),
                    )
                    execute(
                        "DELETE FROM events WHERE aggregate = 'conversation' AND aggregate_id = ?",
                        (conversation_id,),
                    )
                    execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))
                txn._conversations[conversation_id] = None
                self._committed.conversations.pop(conversation_id, None)
                history = tuple(_codec.event_from_columns(*row[1:]) for row in events)
                archived.append(
                    ArchivedConversation(
                        conversation=with_transcript(conversation, history), events=history
                    )
                )
            if top is not None:
                with _translating("archiving"):
                    _keep_position(txn.connection, int(top))
        return archived


_EVENTS_PER_STATEMENT: Final = 500

_KEPT_RECORDS: Final = 2048
"""How many committed records of each kind a store keeps decoded (the most recently used)."""

_INDEXED: Final = ("state", "queue", "asset", "started_at", "next_deadline", "closed_at")
"""The ``conversations`` columns beside the record, in :func:`_indexed`'s order."""

_Columns = tuple[Any, ...]
_Checked = tuple[
    list[tuple[Agent, list[str], list[str] | None, object]],
    list[tuple[Conversation, _Columns | None]],
]
_R = TypeVar("_R", Queue, Agent, Conversation)


_UNKNOWN: Final = object()
"""A stored routing-index value this transaction did not read."""

_MISSING: Final = object()
"""No entry (in an undo log: the key was absent before the scope set it)."""


def _undo(log: dict[tuple[int, str], tuple[dict[str, Any], str, object]]) -> None:
    """Put back what a failed savepoint scope changed in the transaction's maps."""
    for mapping, key, old in log.values():
        if old is _MISSING:
            mapping.pop(key, None)
        else:
            mapping[key] = old


def _by_id(agent: Agent) -> str:
    return agent.id


def _by_start(conversation: Conversation) -> tuple[float, str]:
    return (conversation.started_at, conversation.id)


def _due_pairs(
    dirty: Mapping[str, tuple[Conversation, _Columns | None]],
    now: float,
    after: tuple[float, str] | None,
) -> list[tuple[float, str]]:
    """``(deadline, id)`` of the saved, unwritten conversations due at ``now`` after
    the cursor ``after``."""
    pairs = []
    for key, (conversation, _) in dirty.items():
        deadline = conversation.next_deadline
        if deadline is not None and deadline <= now and (after is None or (deadline, key) > after):
            pairs.append((deadline, key))
    return pairs


def _waiting(agent: Agent) -> float | None:
    """The agent's routing-index value: ``waiting_since`` while routable, else ``None``."""
    return agent.waiting_since if agent.routable else None


def _indexed(conversation: Conversation) -> _Columns:
    """The values of the :data:`_INDEXED` columns for ``conversation``.

    ``closed_at`` is set on every closed conversation (0.0 for a record closed without a
    time, which archiving takes first, as the memory store does) and only there, so the
    index of open conversations can be read through it.
    """
    state = conversation.state
    closed_at = None
    if state is ConversationState.CLOSED:
        closed_at = conversation.closed_at
        if closed_at is None:
            closed_at = 0.0
    return (
        str(state),
        conversation.queue,
        conversation.asset,
        conversation.started_at,
        conversation.next_deadline,
        closed_at,
    )


@functools.cache
def _update_conversation_sql(changed: tuple[int, ...]) -> str:
    """The ``UPDATE`` that sets the record and the :data:`_INDEXED` columns ``changed``
    (a few constant texts, so SQLite's statement cache keeps each one prepared)."""
    sets = "".join(f", {_INDEXED[index]} = ?" for index in changed)
    return f"UPDATE conversations SET version = ?, record = ?{sets} WHERE id = ?"


@functools.cache
def _insert_events_sql(count: int) -> str:
    """The ``INSERT`` of ``count`` events (one text per count: SQLite keeps it prepared)."""
    rows = ", ".join(["(?, ?, ?, ?, ?, ?)"] * count)
    return f"INSERT INTO events (aggregate, aggregate_id, sequence, type, at, data) VALUES {rows}"


class _Committed:
    """Records decoded from or written to the file by this store's committed transactions.

    A stored record's version only grows and each version is written once, so a row
    whose version equals a kept record's holds that record: reading it again needs no
    decoding. Only transactions that committed add to it (a rolled-back write never
    existed, and another process may later commit a different record with its version).

    Each record is kept with the *generation* it was last confirmed in. The generation
    changes whenever another connection may have committed (``PRAGMA data_version``
    changed), the connection was reopened, or a transaction ended in doubt; while it
    stays the same, nobody but this store wrote to the file, so a record confirmed in the
    current generation is what the file holds and is read without asking the file.
    """

    def __init__(self) -> None:
        self.queues: dict[str, tuple[Queue, int]] = {}
        self.agents: dict[str, tuple[Agent, int]] = {}
        self.conversations: dict[str, tuple[Conversation, int]] = {}
        self.generation = 0
        self.data_version: int | None = None

    def begin(self, data_version: int) -> int:
        """The generation of a transaction whose snapshot has this ``data_version``."""
        if data_version != self.data_version:
            self.data_version = data_version
            self.generation += 1
        return self.generation

    def doubt(self) -> None:
        """Trust no kept record without checking its version against the file again."""
        self.data_version = None
        self.generation += 1

    def clear(self) -> None:
        self.queues.clear()
        self.agents.clear()
        self.conversations.clear()
        self.doubt()


def _keep(kept: dict[str, tuple[_R, int]], seen: dict[str, _R | None], generation: int) -> None:
    for key, record in seen.items():
        if record is not None:
            kept.pop(key, None)  # to the end: the least recently used go first
            kept[key] = (record, generation)
    while len(kept) > _KEPT_RECORDS:
        del kept[next(iter(kept))]


def _current(kept: tuple[_R, int] | None, generation: int) -> _R | None:
    """The kept record if the file is known to hold it, without reading the file."""
    if kept is None or kept[1] != generation:
        return None
    return kept[0]


def _at_version(kept: tuple[_R, int] | None, version: int) -> _R | None:
    """The kept record if it is the one stored at ``version``."""
    if kept is None or kept[0].version != version:
        return None
    return kept[0]


def _keep_position(connection: sqlite3.Connection, top: int) -> None:
    """After events were deleted: if ``top``, the highest position the table held, went
    with them, keep it in a placeholder row (aggregate ``''``, no outbox entry, never
    read as an event), so the next event is numbered above it (a rowid table numbers a
    row max(rowid) + 1). Placeholders below the newest row are dropped: they keep
    nothing any more."""
    (now,) = connection.execute("SELECT max(position) FROM events").fetchone()
    if now is not None and now >= top:
        connection.execute("DELETE FROM events WHERE aggregate = '' AND position < ?", (now,))
        return
    connection.execute("DELETE FROM events WHERE aggregate = ''")
    connection.execute(
        "INSERT INTO events (position, aggregate, aggregate_id, sequence, type, at, data) "
        "VALUES (?, '', '', ?, '', 0.0, 'null')",
        (top, top),
    )
    connection.execute("DELETE FROM outbox WHERE event_position = ?", (top,))


def _written(cursor: sqlite3.Cursor, kind: str, key: str) -> None:
    if cursor.rowcount != 1:  # the versions were checked under the write lock
        raise StoreError(f"the {kind} {key} was not written")


def _quote_path(path: str) -> str:
    return path.replace("%", "%25").replace("?", "%3f").replace("#", "%23")


def _statements(script: str) -> list[str]:
    """Split a migration script into statements (``CREATE TRIGGER`` bodies kept whole)."""
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    if current.strip():
        statements.append(current.strip())
    return statements


class _Transaction(AbstractContextManager[StoreTransaction]):
    """What :meth:`SqliteStore.transaction` returns (a class: cheaper than a generator)."""

    __slots__ = ("_store", "_txn", "_write")

    def __init__(self, store: SqliteStore, write: bool) -> None:
        self._store = store
        self._write = write

    def __enter__(self) -> StoreTransaction:
        self._txn = self._store._begin(self._write)
        return self._txn

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._store._end(self._txn, exc_type is not None)


class _SqliteTransaction(StoreTransaction):
    """Reads and saves of one transaction, with the records read so far kept decoded.

    A write transaction holds the file's write lock from ``BEGIN IMMEDIATE`` on, and a
    read transaction sees one snapshot, so a record read once cannot change underneath
    the transaction: later reads of it are answered from memory (the desk reads an agent
    or a conversation several times per command) and ``save`` knows the stored version,
    queue list and indexed columns of such a record without asking the file again. A
    save puts what it wrote into these maps; a failed save empties them.

    Across transactions, ``committed`` (the store's) keeps records decoded in earlier,
    committed transactions: a row whose version equals a kept record's is that record
    (versions only grow, and each is written once), so it is not decoded again.
    """

    def __init__(
        self, connection: sqlite3.Connection, committed: _Committed, generation: int
    ) -> None:
        self.connection = connection
        self.committed = committed
        self.generation = generation
        self.redacted = False
        self.aborted = False
        self._queues: dict[str, Queue | None] = {}
        self._agents: dict[str, Agent | None] = {}
        self._conversations: dict[str, Conversation | None] = {}
        # Saved records whose rows are not written yet (see "Deferred writes" above):
        # the newest record with what the file holds of it (the indexed columns, the queue
        # list and routing-index value; None: not in the file yet). Every one of them is
        # also in the maps above, which answer the reads.
        self._dirty_conversations: dict[str, tuple[Conversation, _Columns | None]] = {}
        self._dirty_agents: dict[str, tuple[Agent, list[str] | None, object]] = {}
        # Open savepoint scopes, innermost last: [SAVEPOINT issued?, undo log].
        self._scopes: list[list[Any]] = []

    def committed_now(self) -> None:
        """The transaction committed: keep what it read and wrote for later ones."""
        committed, generation = self.committed, self.generation
        if self._queues:
            _keep(committed.queues, self._queues, generation)
        if self._agents:
            _keep(committed.agents, self._agents, generation)
        if self._conversations:
            _keep(committed.conversations, self._conversations, generation)

    def _rows(self, sql: str, parameters: Sequence[Any] = ()) -> list[Any]:
        try:
            return self.connection.execute(sql, parameters).fetchall()
        except sqlite3.Error as error:
            raise _translate(error, "reading") from error

    def _decoded(
        self,
        seen: dict[str, _R | None],
        kept: dict[str, tuple[_R, int]],
        decode: Callable[[str], _R],
        key: str,
        version: int,
        text: str,
    ) -> _R:
        """The record of a row: the one kept at that version, else ``text`` decoded."""
        found = _at_version(kept.get(key), version)
        if found is None:
            found = decode(text)
        seen[key] = found
        return found

    def _lookup(
        self,
        seen: dict[str, _R | None],
        kept: dict[str, tuple[_R, int]],
        decode: Callable[[str], _R],
        select: str,
        key: str,
    ) -> _R | None:
        """A record by key not read in this transaction yet: kept and known to be
        current (no ``SELECT``), or read from the file with ``select``."""
        found = _current(kept.get(key), self.generation)
        if found is not None:
            seen[key] = found
            return found
        rows = self._rows(select, (key,))
        if not rows:
            seen[key] = None
            return None
        return self._decoded(seen, kept, decode, key, *rows[0])

    def queue(self, name: str) -> Queue | None:
        try:  # read in this transaction already (the common case: no call)
            return self._queues[name]
        except KeyError:
            return self._lookup(
                self._queues,
                self.committed.queues,
                _codec.queue_from_json,
                "SELECT version, record FROM queues WHERE name = ?",
                name,
            )

    def queues(self) -> list[Queue]:
        rows = self._rows("SELECT name, version, record FROM queues ORDER BY name")
        kept = self.committed.queues
        return [self._decoded(self._queues, kept, _codec.queue_from_json, *row) for row in rows]

    def agent(self, agent_id: str) -> Agent | None:
        try:  # read in this transaction already (the common case: no call)
            return self._agents[agent_id]
        except KeyError:
            return self._lookup(
                self._agents,
                self.committed.agents,
                _codec.agent_from_json,
                "SELECT version, record FROM agents WHERE id = ?",
                agent_id,
            )

    def agents(self, queue: str | None = None) -> list[Agent]:
        if queue is None:
            rows = self._rows("SELECT id, version, record FROM agents ORDER BY id")
        else:
            rows = self._rows(
                "SELECT a.id, a.version, a.record FROM agent_queues AS m "
                "JOIN agents AS a ON a.id = m.agent_id WHERE m.queue = ? ORDER BY a.id",
                (queue,),
            )
        dirty = self._dirty_agents
        if not dirty:
            kept = self.committed.agents
            return [self._decoded(self._agents, kept, _codec.agent_from_json, *row) for row in rows]
        found = self._clean_rows(self._agents, self.committed.agents, _codec.agent_from_json, rows)
        found += [a for a, _, _ in dirty.values() if queue is None or queue in a.queues]
        found.sort(key=_by_id)
        return found

    def routable(self, queue: str | None, limit: int) -> list[Agent]:
        if limit <= 0:
            return []
        dirty = self._dirty_agents
        # Rows of agents saved but not written yet may be out of date in the file: read
        # as many more rows as there are such agents and put their records in instead.
        extra = limit + len(dirty)
        if queue is None:
            rows = self._rows(
                # agent_routing holds only routable memberships: read it, not every member
                "SELECT a.id, a.version, a.record FROM (SELECT agent_id, min(waiting_since) AS w "
                "FROM agent_routing GROUP BY agent_id) AS m "
                "JOIN agents AS a ON a.id = m.agent_id ORDER BY m.w, m.agent_id LIMIT ?",
                (extra,),
            )
        else:
            rows = self._rows(
                "SELECT a.id, a.version, a.record FROM agent_routing AS m "
                "JOIN agents AS a ON a.id = m.agent_id WHERE m.queue = ? "
                "ORDER BY m.waiting_since, m.agent_id LIMIT ?",
                (queue, extra),
            )
        if not dirty:
            kept = self.committed.agents
            return [self._decoded(self._agents, kept, _codec.agent_from_json, *row) for row in rows]
        found = self._clean_rows(self._agents, self.committed.agents, _codec.agent_from_json, rows)
        found += [
            a for a, _, _ in dirty.values() if a.routable and (queue is None or queue in a.queues)
        ]
        found.sort(key=routing_key)
        return found[:limit]

    def conversation(self, conversation_id: str) -> Conversation | None:
        try:  # read in this transaction already (the common case: no call)
            return self._conversations[conversation_id]
        except KeyError:
            return self._lookup(
                self._conversations,
                self.committed.conversations,
                _codec.conversation_from_json,
                "SELECT version, record FROM conversations WHERE id = ?",
                conversation_id,
            )

    def queued(self, queues: Collection[str], limit: int) -> list[Conversation]:
        names = sorted(set(queues))
        if not names or limit <= 0:
            return []
        dirty = self._dirty_conversations
        extra = limit + len(dirty)  # see routable
        if len(names) == 1:
            rows = self._rows(
                "SELECT id, version, record FROM conversations WHERE state = 'queued' "
                "AND queue = ? ORDER BY started_at, id LIMIT ?",
                (names[0], extra),
            )
        else:
            rows = self._rows(
                "SELECT id, version, record FROM conversations WHERE state = 'queued' "
                "AND queue IN (SELECT value FROM json_each(?)) ORDER BY started_at, id LIMIT ?",
                (json.dumps(names), extra),
            )
        kept = self.committed.conversations
        decode = _codec.conversation_from_json
        if not dirty:
            return [self._decoded(self._conversations, kept, decode, *row) for row in rows]
        found = self._clean_rows(self._conversations, kept, decode, rows)
        found += [
            c for c, _ in dirty.values() if c.state is ConversationState.QUEUED and c.queue in names
        ]
        found.sort(key=_by_start)
        return found[:limit]

    def due(self, now: float, limit: int) -> list[str]:
        dirty = self._dirty_conversations
        rows = self._rows(
            "SELECT next_deadline, id FROM conversations WHERE next_deadline IS NOT NULL "
            "AND next_deadline <= ? ORDER BY next_deadline, id LIMIT ?",
            (now, limit + len(dirty)),
        )
        if not dirty:
            return [row[1] for row in rows]
        pairs = [(float(deadline), key) for deadline, key in rows if key not in dirty]
        pairs += _due_pairs(dirty, now, None)
        pairs.sort()
        return [key for _, key in pairs[:limit]]

    def due_after(
        self, now: float, after: tuple[float, str] | None, limit: int
    ) -> list[tuple[float, str]]:
        # The records come along (the tick reads each due conversation next): one scan
        # of the deadline index in the table's order instead of a lookup by id each.
        dirty = self._dirty_conversations
        extra = limit + len(dirty)  # see routable
        if after is None:
            rows = self._rows(
                "SELECT next_deadline, id, version, record FROM conversations "
                "INDEXED BY conversations_due WHERE next_deadline IS NOT NULL "
                "AND next_deadline <= ? ORDER BY next_deadline, id LIMIT ?",
                (now, extra),
            )
        else:
            rows = self._rows(
                "SELECT next_deadline, id, version, record FROM conversations "
                "INDEXED BY conversations_due WHERE next_deadline IS NOT NULL "
                "AND next_deadline <= ? AND (next_deadline, id) > (?, ?) "
                "ORDER BY next_deadline, id LIMIT ?",
                (now, *after, extra),
            )
        seen, kept = self._conversations, self.committed.conversations
        decode = _codec.conversation_from_json
        for _, key, version, text in rows:
            if key not in seen:
                self._decoded(seen, kept, decode, key, version, text)
        if not dirty:
            return [(float(row[0]), row[1]) for row in rows]
        pairs = [(float(row[0]), row[1]) for row in rows if row[1] not in dirty]
        pairs += _due_pairs(dirty, now, after)
        pairs.sort()
        return pairs[:limit]

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A scope whose saves an exception undoes, keeping the transaction.

        ``SAVEPOINT`` is sent only once the scope writes to the file (a command whose
        records wait for the end of the transaction and that stores no event writes
        nothing); what the scope saved into the records not yet written is undone from
        its undo log.
        """
        if self.aborted:
            raise StoreError("the transaction was rolled back after a failed save")
        scope: list[Any] = [False, {}]
        scopes = self._scopes
        scopes.append(scope)
        try:
            yield
        except BaseException:
            scopes.pop()
            if not self.aborted:
                if scope[0]:
                    with _translating("rolling back to a savepoint"):
                        self.connection.execute("ROLLBACK TO livechat_command")
                        self.connection.execute("RELEASE livechat_command")
                    # The queues are written at once: read them again.
                    self._queues.clear()
                _undo(scope[1])
            raise
        scopes.pop()
        if scope[0]:
            with _translating("releasing a savepoint"):
                self.connection.execute("RELEASE livechat_command")
        if scopes and scope[1]:
            outer: dict[tuple[int, str], tuple[dict[str, Any], str, object]] = scopes[-1][1]
            for token, entry in scope[1].items():
                outer.setdefault(token, entry)

    def _writing(self) -> None:
        """About to write to the file: open the savepoints of the scopes that have none."""
        for scope in self._scopes:
            if not scope[0]:
                with _translating("opening a savepoint"):
                    self.connection.execute("SAVEPOINT livechat_command")
                scope[0] = True

    def _set(self, mapping: dict[str, Any], key: str, value: object) -> None:
        """``mapping[key] = value``, undone if the innermost open scope fails."""
        if self._scopes:
            undo = self._scopes[-1][1]
            token = (id(mapping), key)
            if token not in undo:
                undo[token] = (mapping, key, mapping.get(key, _MISSING))
        if value is _MISSING:
            mapping.pop(key, None)
        else:
            mapping[key] = value

    def open_on_asset(self, asset: str) -> list[str]:
        rows = self._rows(
            "SELECT id FROM conversations WHERE asset = ? AND closed_at IS NULL ORDER BY id",
            (asset,),
        )
        dirty = self._dirty_conversations
        if not dirty:
            return [row[0] for row in rows]
        ids = [row[0] for row in rows if row[0] not in dirty]
        ids += [
            key
            for key, (c, _) in dirty.items()
            if c.asset == asset and c.state is not ConversationState.CLOSED
        ]
        return sorted(ids)

    def _clean_rows(
        self,
        seen: dict[str, _R | None],
        kept: dict[str, tuple[_R, int]],
        decode: Callable[[str], _R],
        rows: list[Any],
    ) -> list[_R]:
        """The records of ``(key, version, text)`` rows, leaving out those saved in this
        transaction and not written yet (their rows are out of date)."""
        dirty: Collection[str] = (
            self._dirty_agents if seen is self._agents else self._dirty_conversations
        )
        return [
            self._decoded(seen, kept, decode, key, version, text)
            for key, version, text in rows
            if key not in dirty
        ]

    def written_conversation_ids(self) -> list[str]:
        """Conversations saved new in this transaction whose rows are not written yet,
        in the order they were saved."""
        return [key for key, (_, stored) in self._dirty_conversations.items() if stored is None]

    def asset_deleted(self, asset: str) -> bool:
        return bool(self._rows("SELECT 1 FROM deleted_assets WHERE asset = ?", (asset,)))

    # --- the save -------------------------------------------------------------------------

    def save(self, changes: Changes) -> None:
        """Check every version first, then write: a conflict is found before anything is
        written, so no savepoint is needed (the write lock keeps the versions still).

        The events are inserted at once, in one statement; the agents and conversations
        are kept as the transaction's newest records and written when it commits (see
        "Deferred writes" in the class docstring).
        """
        if self.aborted:
            raise StoreError("the transaction was rolled back after a failed save")
        connection = self.connection
        events = changes.events
        # Events go in one statement (atomic: a duplicate fails it whole); a save with
        # more events than one statement takes falls back to a savepoint.
        savepoint = len(events) > _EVENTS_PER_STATEMENT
        try:
            checked = self._check(changes)
            if events or changes.queues or changes.deleted_assets or changes.redactions:
                self._writing()
            if savepoint:
                connection.execute("SAVEPOINT livechat_save")
            try:
                self._insert_events(events)
            except sqlite3.IntegrityError as error:
                if savepoint:
                    connection.execute("ROLLBACK TO livechat_save")
                    connection.execute("RELEASE livechat_save")
                raise ConcurrencyConflict(f"an event was already stored: {error}") from error
        except sqlite3.Error as error:
            raise _translate(error, "saving") from error
        try:
            self._write(changes, checked)
            if savepoint:
                connection.execute("RELEASE livechat_save")
        except BaseException as error:
            # Unreachable for conflicts (checked above): a driver error after the first
            # write. Undo the whole transaction rather than leave half a save.
            self._abort()
            if isinstance(error, sqlite3.Error):
                raise _translate(error, "saving") from error
            raise
        if changes.redactions:
            self.redacted = True
            # Messages were rewritten in the file only: forget every conversation this
            # transaction read and every kept one (no unredacted copy stays in memory).
            # The records saved and not written yet are the newest, redacted already.
            seen, dirty = self._conversations, self._dirty_conversations
            for key in [key for key in seen if key not in dirty]:
                self._set(seen, key, _MISSING)
            self.committed.conversations.clear()

    def _abort(self) -> None:
        """Roll the whole transaction back after a failed write."""
        self.aborted = True
        self.committed.doubt()
        self._queues.clear()
        self._agents.clear()
        self._conversations.clear()
        self._dirty_agents.clear()
        self._dirty_conversations.clear()
        with contextlib.suppress(sqlite3.Error):
            self.connection.execute("ROLLBACK")

    def flush(self) -> None:
        """Write the agents and conversations saved and not written yet (before the
        commit). A failure rolls the whole transaction back."""
        agents, conversations = self._dirty_agents, self._dirty_conversations
        if not agents and not conversations:
            return
        try:
            for agent, stored_queues, stored_key in agents.values():
                self._write_agent(agent, sorted(set(agent.queues)), stored_queues, stored_key)
            for conversation, stored_columns in conversations.values():
                self._write_conversation(conversation, stored_columns)
        except BaseException as error:
            self._abort()
            if isinstance(error, sqlite3.Error):
                raise _translate(error, "saving") from error
            raise
        agents.clear()
        conversations.clear()

    @staticmethod
    def _conflict(kind: str, key: str, current: int, base: int) -> ConcurrencyConflict:
        return ConcurrencyConflict(
            f"{kind} {key} changed since it was read (version {current}, expected {base})",
            aggregate_id=key,
        )

    def _check(self, changes: Changes) -> _Checked:
        """Raise ``ConcurrencyConflict`` unless every base is the stored version.

        Returns each agent with its new and stored queue lists (``None``: a new agent)
        and each conversation with its stored indexed columns (``None``: a new one).
        """
        execute = self.connection.execute
        for queue, base in changes.queues:
            if queue.name in self._queues:
                known = self._queues[queue.name]
                current = 0 if known is None else known.version
            else:
                row = execute("SELECT version FROM queues WHERE name = ?", (queue.name,)).fetchone()
                current = 0 if row is None else int(row[0])
            if current != base:
                raise self._conflict("queue", queue.name, current, base)
        agents: list[tuple[Agent, list[str], list[str] | None, object]] = []
        for agent, base in changes.agents:
            stored: list[str] | None
            stored_key: object = _UNKNOWN
            if agent.id in self._agents:
                # Read in this transaction, so this is what the file holds (see the class),
                # or saved in it: then what the file holds came with it.
                found = self._agents[agent.id]
                current = 0 if found is None else found.version
                pending = self._dirty_agents.get(agent.id)
                if pending is not None:
                    _, stored, stored_key = pending
                else:
                    stored = None if found is None else sorted(set(found.queues))
                    stored_key = None if found is None else _waiting(found)
            else:
                found_row = execute(
                    "SELECT version, queues FROM agents WHERE id = ?", (agent.id,)
                ).fetchone()
                current = 0 if found_row is None else int(found_row[0])
                stored = None if found_row is None else _codec.loads(found_row[1])
            if current != base:
                raise self._conflict("agent", agent.id, current, base)
            agents.append((agent, sorted(set(agent.queues)), stored, stored_key))
        conversations: list[tuple[Conversation, _Columns | None]] = []
        for conversation, base in changes.conversations:
            stored_columns: _Columns | None
            if conversation.id in self._conversations:
                seen = self._conversations[conversation.id]
                current = 0 if seen is None else seen.version
                waiting = self._dirty_conversations.get(conversation.id)
                if waiting is not None:
                    stored_columns = waiting[1]
                else:
                    stored_columns = None if seen is None else _indexed(seen)
            else:
                row_ = execute(
                    "SELECT version, state, queue, asset, started_at, next_deadline, closed_at "
                    "FROM conversations WHERE id = ?",
                    (conversation.id,),
                ).fetchone()
                current = 0 if row_ is None else int(row_[0])
                stored_columns = None if row_ is None else tuple(row_[1:])
            if current != base:
                raise self._conflict("conversation", conversation.id, current, base)
            conversations.append((conversation, stored_columns))
        return agents, conversations

    def _insert_events(self, events: Sequence[Event]) -> None:
        for start in range(0, len(events), _EVENTS_PER_STATEMENT):
            chunk = events[start : start + _EVENTS_PER_STATEMENT]
            values = [column for event in chunk for column in _codec.event_columns(event)]
            self.connection.execute(_insert_events_sql(len(chunk)), values)

    def _write(self, changes: Changes, checked: _Checked) -> None:
        execute = self.connection.execute
        for queue, base in changes.queues:
            document = _codec.record_to_json(queue)
            if base == 0:
                cursor = execute(
                    "INSERT INTO queues (name, version, record) VALUES (?, ?, ?)",
                    (queue.name, queue.version, document),
                )
            else:
                cursor = execute(
                    "UPDATE queues SET version = ?, record = ? WHERE name = ? AND version = ?",
                    (queue.version, document, queue.name, base),
                )
            _written(cursor, "queue", queue.name)
            self._set(self._queues, queue.name, queue)
        agents, conversations = checked
        dirty_agents, seen_agents = self._dirty_agents, self._agents
        for agent, _, stored_queues, stored_key in agents:
            self._set(dirty_agents, agent.id, (agent, stored_queues, stored_key))
            self._set(seen_agents, agent.id, agent)
        dirty, seen = self._dirty_conversations, self._conversations
        for conversation, stored_columns in conversations:
            self._set(dirty, conversation.id, (conversation, stored_columns))
            self._set(seen, conversation.id, conversation)
        for asset in changes.deleted_assets:
            execute("INSERT OR IGNORE INTO deleted_assets (asset) VALUES (?)", (asset,))
        for conversation_id, message_id, text in changes.redactions:
            self._redact(conversation_id, message_id, text)

    def _write_agent(
        self,
        agent: Agent,
        queues: list[str],
        stored_queues: list[str] | None,
        stored_key: object,
    ) -> None:
        """Write an agent; ``queues`` and ``stored_queues`` are its new and stored queue
        lists, sorted (``None``: a new agent); ``stored_key`` the routing index's value of
        the stored agent (:data:`_UNKNOWN` when it was not read)."""
        execute, executemany = self.connection.execute, self.connection.executemany
        if stored_key is _UNKNOWN and stored_queues is not None:
            # Saved without being read in this transaction (the desk always reads
            # first): the stored record says where its routing rows are.
            (record,) = execute("SELECT record FROM agents WHERE id = ?", (agent.id,)).fetchone()
            stored_key = _waiting(_codec.agent_from_json(record))
        document = _codec.record_to_json(agent)
        if stored_queues is None:
            cursor = self.connection.execute(
                "INSERT INTO agents (id, version, queues, record) VALUES (?, ?, ?, ?)",
                (agent.id, agent.version, _codec.dumps(queues), document),
            )
        elif stored_queues == queues:
            cursor = self.connection.execute(
                "UPDATE agents SET version = ?, record = ? WHERE id = ?",
                (agent.version, document, agent.id),
            )
        else:
            cursor = self.connection.execute(
                "UPDATE agents SET version = ?, queues = ?, record = ? WHERE id = ?",
                (agent.version, _codec.dumps(queues), document, agent.id),
            )
        _written(cursor, "agent", agent.id)
        self._agents[agent.id] = agent
        key = _waiting(agent)
        if stored_queues != queues:
            if stored_queues:
                executemany(
                    "DELETE FROM agent_queues WHERE queue = ? AND agent_id = ?",
                    [(name, agent.id) for name in stored_queues],
                )
            executemany(
                "INSERT INTO agent_queues (queue, agent_id) VALUES (?, ?)",
                [(name, agent.id) for name in queues],
            )
        elif key == stored_key:
            return  # the routing rows stay as they are
        # The routing index, by primary key: out of every stored queue at the stored key,
        # into every queue at the new one (nothing while the agent is not routable).
        if stored_key is not None and stored_queues:
            executemany(
                "DELETE FROM agent_routing WHERE queue = ? AND waiting_since = ? AND agent_id = ?",
                [(name, stored_key, agent.id) for name in stored_queues],
            )
        if key is not None:
            executemany(
                "INSERT INTO agent_routing (queue, waiting_since, agent_id) VALUES (?, ?, ?)",
                [(name, key, agent.id) for name in queues],
            )

    def _write_conversation(
        self, conversation: Conversation, stored_columns: _Columns | None
    ) -> None:
        columns = _indexed(conversation)
        document = _codec.record_to_json(conversation)
        if stored_columns is None:
            cursor = self.connection.execute(
                "INSERT INTO conversations (version, record, state, queue, asset, started_at, "
                "next_deadline, closed_at, id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (conversation.version, document, *columns, conversation.id),
            )
        else:
            # Only the columns that changed: SQLite rewrites the entry of every index
            # whose columns an UPDATE sets, even to the same value, and each rewritten
            # index page is one more page in the WAL and in the commit's fsync.
            changed = tuple(
                index for index, value in enumerate(columns) if value != stored_columns[index]
            )
            cursor = self.connection.execute(
                _update_conversation_sql(changed),
                (conversation.version, document, *[columns[i] for i in changed], conversation.id),
            )
        _written(cursor, "conversation", conversation.id)
        self._conversations[conversation.id] = conversation

    def _redact(self, conversation_id: str, message_id: str, text: str) -> None:
        """Rewrite the stored ``MessagePosted`` event (the outbox refers to the same row)."""
        # Newest first: a redacted message is one of the last few (masking at rest looks
        # back over a handful of messages), so the scan stops after a few rows.
        rows = self.connection.execute(
            "SELECT position, data FROM events WHERE aggregate = 'conversation' "
            "AND aggregate_id = ? AND type = ? ORDER BY sequence DESC",
            (conversation_id, MessagePosted.__name__),
        )
        for position, data in rows:
            redacted = _codec.redact_message_data(_codec.loads(data), message_id, text)
            if redacted is not None:
                rows.close()
                self.connection.execute(
                    "UPDATE events SET data = ? WHERE position = ?",
                    (_codec.dumps(redacted), position),
                )
                return
