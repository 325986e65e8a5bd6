"""The PostgreSQL store: one database shared by desks in many processes on many hosts.

Needs the ``postgres`` extra (psycopg 3); import it on demand::

    from livechat_core.adapters.postgres import PostgresStore
    desk = Desk(store=PostgresStore("host=db dbname=desk user=desk"))

The tables live in their own schema (``livechat`` unless told otherwise): queues, agents
and conversations as ``jsonb`` documents beside the indexed columns the desk's reads
need, every event as its neutral record, and an outbox of unpublished events.

Routing must stay correct when several processes route at once. Version checks on every
``UPDATE`` catch two commands that change the same record, but not *write skew*: a chat
queued in one transaction while, in another, an agent becomes available; each reads the
other's records as they were, writes only its own, and the chat is forgotten in its
queue. Two ways to prevent it are offered (``concurrency=``):

``"lock"`` (the default)
    Every write transaction first takes one transaction-scoped advisory lock, so writers
    run one after the other and each reads the latest committed state, like SQLite's
    ``BEGIN IMMEDIATE``. Never aborts; throughput is bounded by one writer at a time.

``"serializable"``
    ``SERIALIZABLE`` isolation: PostgreSQL detects the dangerous read/write patterns and
    aborts one transaction, which the store reports as
    :class:`~livechat_core.ConcurrencyConflict` so the desk retries it. Writers run in
    parallel, but conflicting ones (same queue, same agent) retry.

``docs/stores.md`` and ``docs/performance.md`` compare them.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import re
import select
import threading
import time
import zlib
from collections.abc import Callable, Collection, Generator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Final, Literal

import attrs
import psycopg
from psycopg import errors as pg_errors
from psycopg import pq, sql

from .._errors import (
    ConcurrencyConflict,
    InvalidArgument,
    SchemaError,
    StoreError,
    StoreTimeout,
)
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

APPLICATION: Final = "livechat-core"

MIGRATIONS: Final[tuple[str, ...]] = (
    # 1: the initial schema. Ids and names use the "C" collation so that ORDER BY agrees
    # with Python's code-point order (and the other stores) whatever the database locale.
    """
    CREATE TABLE schema_info (
        singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
        application text NOT NULL,
        version integer NOT NULL
    );
    CREATE TABLE queues (
        name text COLLATE "C" PRIMARY KEY,
        version integer NOT NULL,
        record jsonb NOT NULL
    );
    CREATE TABLE agents (
        id text COLLATE "C" PRIMARY KEY,
        version integer NOT NULL,
        queues text[] COLLATE "C" NOT NULL,
        record jsonb NOT NULL
    );
    CREATE TABLE agent_queues (
        queue text COLLATE "C" NOT NULL,
        agent_id text COLLATE "C" NOT NULL,
        PRIMARY KEY (queue, agent_id)
    );
    CREATE TABLE conversations (
        position bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
        id text COLLATE "C" PRIMARY KEY,
        version integer NOT NULL,
        state text NOT NULL,
        queue text COLLATE "C" NOT NULL,
        asset text COLLATE "C" NOT NULL,
        started_at double precision NOT NULL,
        next_deadline double precision,
        record jsonb NOT NULL
    );
    CREATE INDEX conversations_queued ON conversations (queue, started_at, id)
        WHERE state = 'queued';
    CREATE INDEX conversations_due ON conversations (next_deadline, id)
        WHERE next_deadline IS NOT NULL;
    CREATE INDEX conversations_open ON conversations (asset, id) WHERE state <> 'closed';
    CREATE TABLE deleted_assets (
        asset text COLLATE "C" PRIMARY KEY
    );
    CREATE TABLE events (
        position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        aggregate text COLLATE "C" NOT NULL,
        aggregate_id text COLLATE "C" NOT NULL,
        sequence integer NOT NULL,
        type text NOT NULL,
        at double precision NOT NULL,
        data jsonb NOT NULL,
        UNIQUE (aggregate, aggregate_id, sequence)
    );
    CREATE TABLE outbox (
        event_position bigint PRIMARY KEY REFERENCES events (position)
    );
    INSERT INTO schema_info (application, version) VALUES ('livechat-core', 1);
    """,
    # 2: a stale write fails on the server, so the writes of a save can travel with the
    # COMMIT (one round trip): the error aborts the transaction before it commits. And
    # conversations lose the unique index on position, which every write of a
    # conversation paid for and only conversation_ids (a rare listing) read.
    """
    ALTER TABLE conversations DROP CONSTRAINT IF EXISTS conversations_position_key;
    CREATE FUNCTION expect_written(written bigint, expected bigint, message text, key text)
    RETURNS bigint LANGUAGE plpgsql AS $$
    BEGIN
        IF written IS DISTINCT FROM expected THEN
            RAISE EXCEPTION USING ERRCODE = 'LC409', MESSAGE = message, DETAIL = coalesce(key, '');
        END IF;
        RETURN written;
    END
    $$;
    """,
    # 3: archiving reads closed conversations oldest closed first.
    """
    ALTER TABLE conversations ADD COLUMN closed_at double precision;
    UPDATE conversations SET closed_at = (record ->> 'closed_at')::double precision
        WHERE state = 'closed';
    CREATE INDEX conversations_closed ON conversations (closed_at, id) WHERE state = 'closed';
    """,
    # 4: routing reads the routable members of a queue in routing order through an index:
    # each membership row carries the agent's waiting_since while the agent is routable
    # (available with free capacity), NULL otherwise.
    """
    ALTER TABLE agent_queues ADD COLUMN waiting_since double precision;
    UPDATE agent_queues AS m SET waiting_since = coalesce(
            (a.record ->> 'last_offer_at')::double precision,
            (a.record ->> 'available_since')::double precision,
            0.0
        )
        FROM agents AS a
        WHERE a.id = m.agent_id AND a.record ->> 'state' = 'available'
            AND jsonb_array_length(a.record -> 'holding') < (a.record ->> 'capacity')::integer;
    CREATE INDEX agent_queues_routable ON agent_queues (queue, waiting_since, agent_id)
        WHERE waiting_since IS NOT NULL;
    """,
    # 5: the desk settings that change what is stored (PCI at rest, locale), recorded by
    # the first desk so that a desk with other settings is refused (Store.claim_settings).
    """
    CREATE TABLE desk_settings (
        singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
        record jsonb NOT NULL
    );
    """,
    # 6: the event log and its consumers. Positions from the identity sequence are handed
    # out before commit, so transactions may commit out of position order and a reader
    # that resumed after a position could miss an event committed later below it. The
    # log therefore numbers events after they committed: log_position is set by one
    # sequencer at a time (under an advisory lock), in position order, above every
    # number given before; a reader sees a prefix of the log. A statement-level
    # trigger notifies listeners (relays) of new events on channel 'livechat:<schema>'.
    """
    ALTER TABLE events ADD COLUMN log_position bigint;
    UPDATE events SET log_position = position;
    CREATE UNIQUE INDEX events_log ON events (log_position);
    CREATE INDEX events_unlogged ON events (position) WHERE log_position IS NULL;
    CREATE TABLE consumers (
        name text COLLATE "C" PRIMARY KEY,
        position bigint NOT NULL
    );
    CREATE FUNCTION notify_events() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_notify('livechat:' || TG_TABLE_SCHEMA, '');
        RETURN NULL;
    END
    $$;
    CREATE TRIGGER events_notify AFTER INSERT ON events
        FOR EACH STATEMENT EXECUTE FUNCTION notify_events();
    """,
)
"""Forward migrations: entry ``i`` takes a schema from version ``i`` to ``i + 1``."""

SCHEMA_VERSION: Final = len(MIGRATIONS)
TABLES: Final = frozenset(
    {
        "schema_info",
        "queues",
        "agents",
        "agent_queues",
        "conversations",
        "deleted_assets",
        "events",
        "outbox",
        "desk_settings",
        "consumers",
    }
)

EVENTS_QUERY: Final = (
    "SELECT aggregate_id, sequence, at, type, data FROM events "
    "WHERE aggregate = %s AND aggregate_id = %s ORDER BY sequence"
)
"""The stored events of one aggregate (aggregate, id), oldest first."""

TRANSCRIPT_QUERY: Final = (
    "SELECT aggregate_id, sequence, at, type, data FROM events "
    "WHERE aggregate = 'conversation' AND aggregate_id = %s AND type = %s "
    "ORDER BY sequence"
)
"""The ``MessagePosted`` rows of one conversation (id, type name), oldest first."""

CONVERSATION_IDS_QUERY: Final = "SELECT id FROM conversations ORDER BY position"

_SEQUENCE_BATCH: Final = 10_000
"""How many committed events one sequencer pass numbers at most."""

Concurrency = Literal["lock", "serializable"]

_CONFLICTS: Final = (
    pg_errors.SerializationFailure,
    pg_errors.DeadlockDetected,
    pg_errors.UniqueViolation,
    pg_errors.LockNotAvailable,
)

STALE_WRITE: Final = "LC409"
"""The SQLSTATE ``expect_written`` raises when a versioned write found another version."""

_INHERITED: list[psycopg.Connection[Any]] = []


def _translate(error: psycopg.Error, doing: str) -> StoreError:
    if error.sqlstate == STALE_WRITE:
        return ConcurrencyConflict(
            error.diag.message_primary or "a stale write",
            aggregate_id=error.diag.message_detail or None,
        )
    if isinstance(error, pg_errors.QueryCanceled):
        return StoreTimeout(f"PostgreSQL gave up on a statement ({doing}): {error}")
    if isinstance(error, _CONFLICTS):
        return ConcurrencyConflict(f"another writer won the race ({doing}): {error}")
    if isinstance(error, pg_errors.UndefinedTable | pg_errors.UndefinedColumn):
        return SchemaError(f"the livechat schema is damaged ({doing}): {error}")
    return StoreError(f"PostgreSQL failed ({doing}): {error}")


@contextmanager
def _translating(doing: str) -> Iterator[None]:
    try:
        yield
    except psycopg.Error as error:
        raise _translate(error, doing) from error


class PostgresStore(Store):
    """Desk state in a PostgreSQL database, shareable by many processes and hosts.

    Args:
        dsn: a libpq connection string or URI.
        schema: the schema holding the tables, created with them on first use.
        concurrency: ``"lock"`` (writers take turns on one advisory lock) or
            ``"serializable"`` (``SERIALIZABLE`` transactions; a serialization failure
            becomes :class:`~livechat_core.ConcurrencyConflict` and the desk retries).
        connect_timeout: seconds to wait for the server when (re)connecting.
        timeout: seconds the server may spend on one statement (its
            ``statement_timeout``, lock waits included); the client waits at most
            twice that for one round trip. Either ends in
            :class:`~livechat_core.StoreTimeout`.

    Raises:
        SchemaError: the schema holds tables that are not a livechat-core store, misses
            a table or is newer than this library; nothing was written.
        StoreError: the server cannot be reached (the cause is chained).
        InvalidArgument: a timeout that is not a positive number of seconds.

    One connection per store object, opened at construction and reopened lazily after
    it broke or after a fork; :meth:`close` releases it. The store is thread-safe (one
    transaction at a time) and can be pickled (the copy reconnects by DSN).
    """

    def __init__(
        self,
        dsn: str,
        *,
        schema: str = "livechat",
        concurrency: Concurrency = "lock",
        connect_timeout: float = 10.0,
        prepare: bool = True,
        timeout: float = 30.0,
    ) -> None:
        if concurrency not in ("lock", "serializable"):
            raise InvalidArgument(
                f"concurrency must be 'lock' or 'serializable', not {concurrency!r}"
            )
        self.dsn = dsn
        self.schema = schema
        self.concurrency: Concurrency = concurrency
        self.connect_timeout = _seconds("connect_timeout", connect_timeout)
        self.timeout = _seconds("timeout", timeout)
        self.prepare = prepare
        self._init_runtime()
        self._connect()

    def _init_runtime(self) -> None:
        self._lock = threading.RLock()
        self._connection: psycopg.Connection[Any] | None = None
        self._pid = os.getpid()
        self._closed = False
        self._prepared: dict[str, bytes] = {}  # statement → name prepared on the connection
        self._known = _Known()
        self._active: _PostgresTransaction | None = None  # the transaction holding _lock
        # One advisory-lock key per schema, so separate stores in one database are independent
        # (taken for migrations); writers lock one key per queue and per asset of the schema.
        self._lock_key = zlib.crc32(f"livechat-core:{self.schema}".encode()) - 2**31
        self._queue_space = zlib.crc32(f"livechat-core:{self.schema}:queue".encode()) - 2**31
        self._asset_space = zlib.crc32(f"livechat-core:{self.schema}:asset".encode()) - 2**31
        self._log_key = zlib.crc32(f"livechat-core:{self.schema}:log".encode()) - 2**31

    def __getstate__(self) -> dict[str, Any]:
        return {
            "dsn": self.dsn,
            "schema": self.schema,
            "concurrency": self.concurrency,
            "connect_timeout": self.connect_timeout,
            "prepare": self.prepare,
            "timeout": self.timeout,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.dsn = state["dsn"]
        self.schema = state["schema"]
        self.concurrency = state["concurrency"]
        self.connect_timeout = state["connect_timeout"]
        self.prepare = state.get("prepare", True)
        self.timeout = state.get("timeout", 30.0)
        self._init_runtime()

    def __repr__(self) -> str:
        return f"PostgresStore(schema={self.schema!r}, concurrency={self.concurrency!r})"

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- the connection -------------------------------------------------------------------

    def _connect(self) -> psycopg.Connection[Any]:
        if self._closed:
            raise StoreError("the PostgreSQL store is closed")
        connection = self._connection
        if connection is not None:
            if self._pid != os.getpid():
                _INHERITED.append(connection)  # forked: the socket belongs to the parent
                connection = None
            elif connection.broken or connection.closed:
                connection.close()
                connection = None
            else:
                return connection
            self._connection = None
            self._pid = os.getpid()
        with _translating("connecting"):
            # psycopg runs only the statements outside transactions (schema checks, the
            # outbox, listings), bound client-side and never prepared: after an aborted
            # pipeline its cache of prepared statements can disagree with the server.
            # Transactions go through the connection's libpq pipeline (_pipeline), and
            # the store records a statement as prepared only once the server said so.
            connection = psycopg.connect(
                self.dsn,
                autocommit=True,
                connect_timeout=max(1, round(self.connect_timeout)),
                prepare_threshold=None,
                cursor_factory=psycopg.ClientCursor,
                # A peer that vanished without closing the TCP connection is noticed
                # (ignored on Unix sockets, where the kernel tells at once).
                keepalives=1,
                keepalives_idle=max(1, round(self.timeout / 2)),
                keepalives_interval=max(1, round(self.timeout / 6)),
                keepalives_count=3,
                tcp_user_timeout=round(self.timeout * 2000),
            )
        try:
            self._prepare(connection)
        except BaseException:
            connection.close()
            raise
        self._prepared = {}  # a new session: nothing prepared yet
        self._connection = connection
        return connection

    def _prepare(self, connection: psycopg.Connection[Any]) -> None:
        """Check the schema; create or migrate it under the advisory lock if needed."""
        schema = sql.Identifier(self.schema)
        with _translating("checking the schema"):
            version = self._inspect(connection)
            if version < SCHEMA_VERSION:
                with connection.transaction():
                    connection.execute("SELECT pg_advisory_xact_lock(%s)", (self._lock_key,))
                    version = self._inspect(connection)  # another process may have won
                    if version == 0:
                        connection.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(schema))
                    connection.execute(sql.SQL("SET LOCAL search_path TO {}").format(schema))
                    for script in MIGRATIONS[version:]:
                        connection.execute(script.encode())
                    connection.execute("UPDATE schema_info SET version = %s", (SCHEMA_VERSION,))
            for statement in self.session_settings():
                connection.execute(statement)

    def session_settings(self) -> list[sql.SQL | sql.Composed]:
        """The settings every connection of the store runs with (the sync store's and
        :mod:`~livechat_core.adapters.postgres_async`'s)."""
        settings: list[sql.SQL | sql.Composed] = [
            sql.SQL("SET search_path TO {}").format(sql.Identifier(self.schema)),
            # Values are sent as UTF-8 text (see _parameter) and read back as such.
            sql.SQL("SET client_encoding TO 'UTF8'"),
            # No statement runs (or waits for a lock) longer than the store's timeout.
            sql.SQL("SET statement_timeout = {}").format(
                sql.Literal(f"{max(1, round(self.timeout * 1000))}ms")
            ),
        ]
        if self.prepare:
            # The desk's statements read and write rows by key: one generic plan each
            # serves every call, instead of planning each of the first calls anew.
            settings.append(sql.SQL("SET plan_cache_mode = force_generic_plan"))
        # Every statement of the desk reads or writes rows by key or through a partial
        # index. A plan made while a table was small (a new store) would scan it
        # whole, and a cached plan keeps doing so as the table grows: the benchmark
        # measured 4 workers spending a third of the server's time in such scans.
        # Under SERIALIZABLE a sequential scan also takes a predicate lock on the
        # whole table, so every writer would conflict with every reader.
        settings.append(sql.SQL("SET enable_seqscan = off"))
        return settings

    def begin_statement(self, write: bool) -> str:
        """The ``BEGIN`` of a transaction (see the module docstring)."""
        if not write:
            return "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
        if self.concurrency == "serializable":
            return "BEGIN ISOLATION LEVEL SERIALIZABLE"
        return "BEGIN ISOLATION LEVEL READ COMMITTED"

    def _inspect(self, connection: psycopg.Connection[Any]) -> int:
        """The schema's version, 0 if it is absent or empty; ``SchemaError`` unless ours."""
        tables = {
            row[0]
            for row in connection.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = %s", (self.schema,)
            )
        }
        if not tables:
            return 0
        if "schema_info" not in tables:
            raise SchemaError(
                f"schema {self.schema!r} is not a livechat-core store (tables {sorted(tables)})"
            )
        rows = connection.execute(
            sql.SQL("SELECT application, version FROM {}.schema_info").format(
                sql.Identifier(self.schema)
            )
        ).fetchall()
        if len(rows) != 1 or rows[0][0] != APPLICATION:
            raise SchemaError(f"schema {self.schema!r} is not a livechat-core store")
        version = int(rows[0][1])
        if version > SCHEMA_VERSION:
            raise SchemaError(
                f"schema {self.schema!r} has version {version}, newer than this library's "
                f"{SCHEMA_VERSION}: upgrade livechat-core"
            )
        if version == SCHEMA_VERSION and not tables >= TABLES:
            raise SchemaError(f"schema {self.schema!r} lacks the tables {sorted(TABLES - tables)}")
        return version

    def close(self) -> None:
        """Close the connection; the store is unusable afterwards."""
        with self._lock:
            connection, self._connection = self._connection, None
            self._closed = True
            if connection is None:
                return
            if self._pid != os.getpid():
                _INHERITED.append(connection)
                return
            connection.close()

    # --- transactions ---------------------------------------------------------------------

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[StoreTransaction]:
        """A transaction; see the module docstring for how writers are kept apart.

        ``BEGIN`` travels with the transaction's first statements, and the writes of
        :meth:`~livechat_core.ports.StoreTransaction.save_last` with ``COMMIT``: a command
        costs two round trips, three when it routes.
        """
        with self._lock:
            connection = self._connect()
            txn = _PostgresTransaction(
                connection,
                self.begin_statement(write),
                locking=write and self.concurrency == "lock",
                spaces=(self._queue_space, self._asset_space),
                prepared=self._prepared if self.prepare else None,
                known=self._known,
                timeout=2 * self.timeout,
            )
            outer, self._active = self._active, txn
            try:
                yield txn
            except BaseException:
                txn.abandon()
                raise
            finally:
                self._active = outer
            txn.commit()

    # --- outside a transaction ------------------------------------------------------------

    def _query(self, doing: str, query: str, parameters: Sequence[Any] = ()) -> list[Any]:
        with self._lock:
            if self._active is not None:  # this thread's transaction: its deferred writes
                self._active.flush()
            connection = self._connect()
            with _translating(doing):
                return connection.execute(query.encode(), parameters).fetchall()

    def events(self, aggregate_id: str, aggregate: str = "conversation") -> list[Event]:
        """The stored events of one aggregate, oldest first."""
        rows = self._query("reading events", EVENTS_QUERY, (aggregate, aggregate_id))
        return [_codec.event_from_columns(*row) for row in rows]

    def transcript(self, conversation_id: str) -> list[Message]:
        """Every message of a conversation, oldest first: its ``MessagePosted`` rows."""
        rows = self._query(
            "reading a transcript", TRANSCRIPT_QUERY, (conversation_id, MessagePosted.__name__)
        )
        return list(transcript_of(_codec.event_from_columns(*row) for row in rows))

    def pending(self, limit: int = 1000) -> list[Event]:
        """Outbox events not yet marked published, by event position.

        Positions come from a sequence, so two transactions may commit out of position
        order; an event of one aggregate always follows the earlier ones of that
        aggregate, and none is skipped: it stays pending until marked published.
        """
        rows = self._query(
            "reading the outbox",
            "SELECT e.aggregate_id, e.sequence, e.at, e.type, e.data "
            "FROM outbox AS o JOIN events AS e ON e.position = o.event_position "
            "ORDER BY o.event_position LIMIT %s",
            (limit,),
        )
        return [_codec.event_from_columns(*row) for row in rows]

    def mark_published(self, event_ids: Sequence[str]) -> None:
        """Remove events from the outbox (unknown ids are ignored)."""
        keys = [key for key in map(_codec.parse_event_id, event_ids) if key is not None]
        if not keys:
            return
        aggregates, aggregate_ids, sequences = (list(column) for column in zip(*keys, strict=True))
        # Losing this deletion in a crash only publishes the events again, which the
        # outbox allows (at least once), so it does not wait for its WAL flush.
        with self._lock:
            connection = self._connect()
            with _translating("marking events published"), connection.transaction():
                connection.execute(b"SET LOCAL synchronous_commit = off")
                connection.execute(
                    b"DELETE FROM outbox WHERE event_position IN (SELECT e.position "
                    b"FROM events AS e JOIN unnest(%s::text[], %s::text[], %s::integer[]) "
                    b"AS k (aggregate, aggregate_id, sequence) "
                    b"USING (aggregate, aggregate_id, sequence))",
                    (aggregates, aggregate_ids, sequences),
                )

    def claim_settings(self, proposed: Mapping[str, str]) -> dict[str, str]:
        """The desk settings recorded in the schema; ``proposed`` is recorded first when
        none are (one statement: of two desks opening a new store, one wins)."""
        rows = self._query(
            "recording the desk settings",
            "WITH added AS (INSERT INTO desk_settings (record) VALUES (%s::jsonb) "
            "ON CONFLICT DO NOTHING RETURNING record) "
            "SELECT record::text FROM added UNION ALL SELECT record::text FROM desk_settings",
            (json.dumps(dict(proposed), sort_keys=True),),
        )
        recorded: dict[str, str] = json.loads(rows[0][0])
        return recorded

    @property
    def channel(self) -> str:
        """The ``LISTEN`` channel on which the store's writers announce new events."""
        return f"livechat:{self.schema}"

    def sequence(self) -> int:
        """Number the committed events the log has not numbered yet; returns how many.

        One sequencer at a time (a transaction-scoped advisory lock; a second caller
        waits for the first pass, then numbers what is left), so a :meth:`log` that
        follows returns every event committed before the call. :meth:`log` calls it.
        """
        with self._lock:
            connection = self._connect()
            with _translating("numbering the event log"), connection.transaction():
                connection.execute(b"SELECT pg_advisory_xact_lock(%s)", (self._log_key,))
                cursor = connection.execute(
                    b"WITH todo AS (SELECT position FROM events WHERE log_position IS NULL "
                    b"ORDER BY position LIMIT %s FOR UPDATE), "
                    b"numbered AS (SELECT position, row_number() OVER (ORDER BY position) AS n "
                    b"FROM todo), "
                    b"top AS (SELECT coalesce(max(log_position), 0) AS m FROM events) "
                    b"UPDATE events AS e SET log_position = top.m + numbered.n "
                    b"FROM numbered, top WHERE e.position = numbered.position",
                    (_SEQUENCE_BATCH,),
                )
                return max(cursor.rowcount, 0)

    def log(self, after: int = 0, limit: int = 1000) -> list[tuple[int, Event]]:
        """Events with a log position above ``after``, in log order (see migration 6:
        positions are given after commit, so none appears below one already read)."""
        after = check_position(after, "after")
        limit = check_limit(limit)
        while self.sequence() == _SEQUENCE_BATCH:
            pass
        rows = self._query(
            "reading the event log",
            "SELECT log_position, aggregate_id, sequence, at, type, data FROM events "
            "WHERE log_position > %s ORDER BY log_position LIMIT %s",
            (after, limit),
        )
        return [(row[0], _codec.event_from_columns(*row[1:])) for row in rows]

    def consumer_position(self, name: str) -> int:
        """The position consumer ``name`` saved last (0 when it never saved one)."""
        name = check_consumer(name)
        rows = self._query(
            "reading a consumer position", "SELECT position FROM consumers WHERE name = %s", (name,)
        )
        return int(rows[0][0]) if rows else 0

    def save_consumer_position(self, name: str, position: int) -> None:
        """Record consumer ``name``'s position (one committed statement)."""
        name = check_consumer(name)
        position = check_position(position, "position")
        self._query(
            "saving a consumer position",
            "INSERT INTO consumers (name, position) VALUES (%s, %s) "
            "ON CONFLICT (name) DO UPDATE SET position = excluded.position RETURNING position",
            (name, position),
        )

    def conversation_ids(self) -> list[str]:
        """Every conversation id, in the order they were first saved."""
        rows = self._query("reading conversation ids", CONVERSATION_IDS_QUERY)
        return [row[0] for row in rows]

    def archive(self, before: float, limit: int = 1000) -> list[ArchivedConversation]:
        """Move conversations closed before ``before`` (oldest closed first, at most
        ``limit``) and their events out of the schema, in one transaction; returns them.

        One statement deletes them, their outbox entries and events, and returns what it
        deleted (``FOR UPDATE SKIP LOCKED``: two archivers at once take different rows).
        """
        with self._lock:
            connection = self._connect()
            with _translating("archiving"), connection.transaction():
                rows = connection.execute(
                    b"WITH picked AS (SELECT id FROM conversations WHERE state = 'closed' "
                    b"AND closed_at < %s ORDER BY closed_at, id LIMIT %s FOR UPDATE SKIP LOCKED), "
                    b"gone_outbox AS (DELETE FROM outbox WHERE event_position IN (SELECT "
                    b"e.position FROM events AS e JOIN picked AS p ON e.aggregate = 'conversation' "
                    b"AND e.aggregate_id = p.id)), "
                    b"gone_events AS (DELETE FROM events AS e USING picked AS p WHERE "
                    b"e.aggregate = 'conversation' AND e.aggregate_id = p.id "
                    b"RETURNING e.aggregate_id, e.sequence, e.at, e.type, e.data), "
                    b"gone AS (DELETE FROM conversations AS c USING picked AS p "
                    b"WHERE c.id = p.id RETURNING c.id, c.closed_at, c.record) "
                    b"SELECT 0, id, closed_at, 0, '', record FROM gone UNION ALL "
                    b"SELECT 1, aggregate_id, at, sequence, type, data FROM gone_events",
                    (before, limit),
                ).fetchall()
        conversations: dict[str, tuple[float, Conversation]] = {}
        events: dict[str, list[tuple[Any, ...]]] = {}
        for kind, key, at, sequence, type_, data in rows:
            if kind == 0:
                conversations[key] = (at, _codec.conversation_from_json(data))
            else:
                events.setdefault(key, []).append((key, sequence, at, type_, data))
        archived = []
        for key, (_, conversation) in sorted(
            conversations.items(), key=lambda item: (item[1][0], item[0])
        ):
            found = sorted(events.get(key, ()), key=lambda row: row[1])
            history = tuple(_codec.event_from_columns(*row) for row in found)
            archived.append(
                ArchivedConversation(
                    conversation=with_transcript(conversation, history), events=history
                )
            )
        return archived


def _seconds(name: str, value: float) -> float:
    """``value`` as a positive, finite number of seconds, else ``InvalidArgument``."""
    if type(value) not in (int, float) or not math.isfinite(value) or value <= 0:
        raise InvalidArgument(f"{name} must be a positive number of seconds, not {value!r}")
    return float(value)


ROLLBACK_COMMAND: Final = b"ROLLBACK TO SAVEPOINT livechat_command"
ROLLBACK_SAVE: Final = b"ROLLBACK TO SAVEPOINT livechat_save"

_Key = tuple[int, int]
_SAVEPOINT_NONE, _SAVEPOINT_WANTED, _SAVEPOINT_SENT, _SAVEPOINT_RELEASE = range(4)
_SAVEPOINT_RELEASE_WANTED = 4
"""Where a transaction's ``savepoint()`` stands: none, owed to the server with the next
statements, sent, ended and owed a release, or owed both (the scope before ended and a new
one began before either was sent). Without the last state a new scope overwrote the owed
release: every command's savepoint stayed open inside the one before, and a block of 100
commands ended 200 subtransactions deep."""
_ROUTING_ROWS: Final = 4
_ROUTABLE_ROWS: Final = 8
"""Routable members read ahead per queue, in routing order (routing asks for a few more
than it needs, in case some are changed by the command)."""
"""Queued conversations read ahead per queue when routing first reads a queue."""


@attrs.frozen
class _Plan:
    """One round trip of a transaction: its steps and how to read their results."""

    steps: list[_Step]
    begin: int  # steps before the statements prepared in this round trip
    new: dict[str, bytes]  # statement → the name it is prepared under in this round trip
    wanted: int  # the caller's statements, whose rows it gets
    commit: bool  # whether COMMIT ends the round trip


class _PostgresTransaction(StoreTransaction):
    """Reads and saves of one transaction, in as few round trips as it can.

    * ``BEGIN`` goes with the first statements; ``prefetch`` reads the records a command
      names (and the agents and queues of the conversations among them) in one query,
      and the routing rows of the queues its hint names in another of the same round
      trip, after locking them.
    * Records read once are kept decoded for the rest of the transaction. In ``lock``
      mode (READ COMMITTED) a re-read could see a newer version; the cached one is the
      version this transaction decided with, and ``save`` checks it on the server.
    * Routing reads (``queued`` and ``agents(queue)``) first lock the queues they read
      (``lock`` mode), then read a few queued conversations, the members and the queue
      records of every queue asked for, in one round trip.
    * A versioned write whose row count is not the expected one calls
      ``expect_written``, which raises: a stale write is an error on the server.
      ``save`` sends its writes in one round trip inside a savepoint, rolled back on
      such an error; ``save_last`` holds them back and :meth:`commit` sends them with
      ``COMMIT``, which the error then never reaches.
    * Round trips go straight through libpq (``pgconn``): one pipeline of prepared
      statements bound to their values, whose results are decoded here by column type,
      without a cursor's bookkeeping.
    """

    def __init__(
        self,
        connection: psycopg.Connection[Any],
        begin: str,
        *,
        locking: bool,
        spaces: tuple[int, int],
        prepared: dict[str, bytes] | None,
        known: _Known,
        timeout: float,
    ) -> None:
        self.connection = connection
        self._timeout = timeout
        self._encoding = connection.info.encoding
        self.begun = False
        self._prepared = prepared
        self._begin = begin
        self._locking = locking
        self._queue_space, self._asset_space = spaces
        self._held: dict[_Key, bool] = {}  # advisory lock → exclusive
        self._queues: dict[str, Queue | None] = {}
        self._agents: dict[str, Agent | None] = {}
        self._conversations: dict[str, Conversation | None] = {}
        self._deleted: dict[str, bool] = {}
        self._queued: dict[str, tuple[list[Conversation], bool]] = {}  # rows, complete
        self._members: dict[str, list[Agent]] = {}
        self._routable: dict[str, tuple[list[Agent], bool]] = {}  # routing order, complete
        self._last: list[tuple[str, Sequence[Any]]] | None = None  # held for the commit
        self._known = known
        self._learned: list[tuple[int, str, Any]] = []  # for _known, once committed
        self._savepoint = _SAVEPOINT_NONE
        # Deferred writes (lock mode; see _deferrable): statements of saves that cannot
        # fail, sent at the head of the next round trip: those of ended scopes (before
        # the next scope's SAVEPOINT) and those of the open scope (after it).
        self._deferred: list[tuple[str, Any]] = []
        self._deferred_scope: list[tuple[str, Any]] = []
        self._written: set[tuple[str, str]] = set()  # rows this transaction wrote
        self._written_scope: list[tuple[str, str]] = []  # ... of them, in the open scope

    # --- round trips ----------------------------------------------------------------------

    def _run(
        self,
        statements: Sequence[tuple[str, Sequence[Any]]],
        doing: str,
        *,
        commit: bool = False,
    ) -> list[Any]:
        """Execute ``statements`` (``%s`` placeholders) in one round trip, ``BEGIN`` before
        them if the transaction has not begun and ``COMMIT`` after them if asked; their
        rows (``None``: no rows). The first error stops the rest and is raised.

        One libpq pipeline: each statement is bound to its values (no SQL text is built
        per call) and, with prepared statements on, runs a statement this connection
        prepared the first time it was sent (parsing and planning cost more than
        running the desk's small queries).
        """
        plan = self._plan(statements, commit)
        results, error = _pipeline(self.connection, plan.steps, self._timeout)
        return self._finish(plan, results, error, doing)

    def _plan(self, statements: Sequence[tuple[str, Sequence[Any]]], commit: bool) -> _Plan:
        """The pipeline of :meth:`_run` (shared with the async transaction, which sends
        it through psycopg's async connection): ``BEGIN`` and the savepoint owed, the
        statements this connection has not prepared yet, the deferred writes (see
        :meth:`_deferrable`), the statements, ``COMMIT``."""
        begin: list[_Step] = []
        if not self.begun:
            begin.append((None, self._begin.encode(), None))
            self.begun = True
        # A savepoint of savepoint() travels with its first statements (and its release
        # with the next ones), so a batched command costs no round trip more.
        state = self._savepoint
        if state in (_SAVEPOINT_RELEASE, _SAVEPOINT_RELEASE_WANTED):
            begin.append((None, b"RELEASE SAVEPOINT livechat_command", None))
            state = _SAVEPOINT_NONE if state == _SAVEPOINT_RELEASE else _SAVEPOINT_WANTED
        savepoint: list[_Step] = []
        if state == _SAVEPOINT_WANTED and not commit:
            savepoint.append((None, b"SAVEPOINT livechat_command", None))
            state = _SAVEPOINT_SENT
        self._savepoint = state
        prepared = self._prepared
        new: dict[str, bytes] = {}

        def bind(statements: Sequence[tuple[str, Sequence[Any]]]) -> list[_Step]:
            steps: list[_Step] = []
            for statement, values in statements:
                parameters = [_parameter(value) for value in values]
                if prepared is None:
                    steps.append((None, _numbered(statement), parameters))
                    continue
                name = prepared.get(statement) or new.get(statement)
                if name is None:
                    name = new[statement] = f"livechat_{len(prepared) + len(new) + 1}".encode()
                steps.append((name, b"", parameters))
            return steps

        # Deferred writes first: those of ended scopes before this scope's savepoint (a
        # rollback to it keeps them), the open scope's after it.
        head: list[_Step] = []
        if self._deferred:
            head = bind(self._deferred)
            self._deferred = []
        if self._deferred_scope:
            savepoint += bind(self._deferred_scope)
            self._deferred_scope = []
        steps = bind(statements)
        if commit:
            steps.append((None, b"COMMIT", None))
        # Prepared before use (a prepared statement outlives a rollback of the transaction),
        # but after BEGIN, which must come first to set the isolation level.
        preparing: list[_Step] = [(name, _numbered(text), None) for text, name in new.items()]
        return _Plan(
            [*begin, *preparing, *head, *savepoint, *steps],
            len(begin),
            new,
            len(statements),
            commit,
        )

    def _finish(
        self, plan: _Plan, results: list[Any], error: psycopg.Error | None, doing: str
    ) -> list[Any]:
        """The rows of a plan's statements once it ran; its error raised as a store error."""
        prepared = self._prepared
        if prepared is not None:
            done = results[plan.begin : plan.begin + len(plan.new)]
            for (text, name), result in zip(plan.new.items(), done, strict=False):
                if result is None:  # the server prepared it
                    prepared[text] = name
        if error is not None:
            raise _translate(error, doing) from error
        first = len(results) - plan.wanted - plan.commit
        return results[first : first + plan.wanted]

    def _lock_statements(self, wanted: dict[_Key, bool]) -> list[tuple[str, Sequence[Any]]]:
        """Statements taking the advisory locks ``wanted`` (key → exclusive) not yet held.

        Deadlock-free: a lock is waited for only when every other lock held sorts below
        it; any other is only tried, and a busy one means another writer won the race.
        """
        if not self._locking:
            return []
        tries: list[str] = []
        waits: list[str] = []
        parameters_try: list[int] = []
        parameters_wait: list[int] = []
        for key in sorted(wanted):
            exclusive = wanted[key]
            if key in self._held and (self._held[key] or not exclusive):
                continue
            below = all(other < key for other in self._held if other != key)
            function = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
            if below:
                waits.append(f"{function}(%s, %s)")
                parameters_wait += key
            else:
                tries.append(f"pg_try_{function[3:]}(%s, %s)")
                parameters_try += key
            self._held[key] = exclusive
        statements: list[tuple[str, Sequence[Any]]] = []
        if tries:
            statements.append(("SELECT " + " AND ".join(tries) + " AS locked", parameters_try))
        if waits:
            statements.append(("SELECT " + ", ".join(waits), parameters_wait))
        return statements

    def _check_tries(self, statements: Sequence[tuple[str, Sequence[Any]]], rows: Any) -> None:
        if statements and statements[0][0].endswith(" AS locked") and not rows[0][0][0]:
            raise ConcurrencyConflict("another writer holds a queue or asset this command needs")

    def _queue_key(self, name: str) -> _Key:
        return (self._queue_space, zlib.crc32(name.encode()) - 2**31)

    def _asset_key(self, asset: str) -> _Key:
        return (self._asset_space, zlib.crc32(asset.encode()) - 2**31)

    # --- reads ----------------------------------------------------------------------------

    def prefetch(
        self,
        *,
        conversation_ids: Collection[str] = (),
        agent_ids: Collection[str] = (),
        queues: Collection[str] = (),
        assets: Collection[str] = (),
        routing: Collection[str] = (),
        routing_agents: Collection[str] = (),
    ) -> None:
        conversations = sorted(set(conversation_ids) - self._conversations.keys())
        agents = sorted(set(agent_ids) - self._agents.keys())
        names = sorted(set(queues) - self._queues.keys())
        deleted = sorted(set(assets) - self._deleted.keys())
        routing = set(routing)
        for agent_id in routing_agents:
            # The agent's queues as last seen: a guess (a wrong one costs a read later),
            # right unless the agent logged in again since.
            agent = self._agents.get(agent_id) or self._known.latest(_AGENT, agent_id)
            routing.update(agent.queues if agent is not None else ())
        routed = sorted(routing - self._queued.keys())
        if not (conversations or agents or names or deleted or routed):
            return
        # Whether an asset was deleted is read under a shared lock of it (see asset_deleted);
        # the queues routing will read, under their exclusive locks (see _read_queues).
        wanted = {self._asset_key(asset): False for asset in deleted}
        wanted.update({self._queue_key(name): True for name in routed})
        locks = self._lock_statements(wanted)
        routing_query = [self._routing_query(routed, _ROUTING_ROWS)] if routed else []
        # The agents and queues of the conversations' legs come along. Where this store
        # knows a conversation already, it names them from that record (a guess: one
        # changed since costs a read later); otherwise the server finds them in the legs.
        known = [self._known.latest(_CONVERSATION, key) for key in conversations]
        if all(conversation is not None for conversation in known):
            query = _PREFETCH_NAMED
            agents = sorted(
                {*agents, *(leg.agent_id for c in known for leg in c.legs)} - self._agents.keys()
            )
            names = sorted(
                {*names, *(c.queue for c in known), *(leg.queue for c in known for leg in c.legs)}
                - self._queues.keys()
            )
        else:
            query = _PREFETCH_FROM_LEGS
        results = self._run(
            [*locks, (query, (conversations, agents, names, deleted)), *routing_query],
            "prefetching",
        )
        self._check_tries(locks, results)
        if routed:
            # After the records: the routing rows reuse the agents decoded there.
            rows = results.pop()
        for conversation_id in conversations:
            self._conversations[conversation_id] = None
        for agent_id in agents:
            self._agents[agent_id] = None
        for name in names:
            self._queues[name] = None
        for asset in deleted:
            self._deleted[asset] = False
        for kind, key, version, raw in results[-1]:
            if kind == _CONVERSATION:
                self._conversations[key] = self._decode(kind, key, version, raw)
            elif kind == _AGENT:
                self._agents.setdefault(key, None)
                self._agents[key] = self._agents[key] or self._decode(kind, key, version, raw)
            elif kind == _QUEUE:
                self._queues.setdefault(key, None)
                self._queues[key] = self._queues[key] or self._decode(kind, key, version, raw)
            else:
                self._deleted[key] = True
        if routed:
            self._take_queues(routed, _ROUTING_ROWS, rows)

    def _rows(self, query: str, parameters: Sequence[Any] = ()) -> list[Any]:
        rows: list[Any] = self._run([(query, parameters)], "reading")[-1]
        return rows

    def _decode(self, kind: int, key: str, version: int, raw: bytes) -> Any:
        """The record of a row: decoded, or the one decoded earlier at that version."""
        known = self._known.get(kind, key, version)
        if known is not None:
            return known
        record = _FROM_JSON[kind](raw)
        self._learned.append((kind, key, record))
        return record

    def _decoded(self, kind: int, rows: list[Any]) -> list[Any]:
        """The records of ``(key, version, record)`` rows."""
        return [self._decode(kind, key, version, raw) for key, version, raw in rows]

    def queue(self, name: str) -> Queue | None:
        if name not in self._queues:
            rows = self._rows("SELECT name, version, record FROM queues WHERE name = %s", (name,))
            self._queues[name] = self._decoded(_QUEUE, rows)[0] if rows else None
        return self._queues[name]

    def queues(self) -> list[Queue]:
        rows = self._rows("SELECT name, version, record FROM queues ORDER BY name")
        queues: list[Queue] = self._decoded(_QUEUE, rows)
        return queues

    def agent(self, agent_id: str) -> Agent | None:
        if agent_id not in self._agents:
            rows = self._rows("SELECT id, version, record FROM agents WHERE id = %s", (agent_id,))
            self._agents[agent_id] = self._decoded(_AGENT, rows)[0] if rows else None
        return self._agents[agent_id]

    def agents(self, queue: str | None = None) -> list[Agent]:
        if queue is None:
            rows = self._rows("SELECT id, version, record FROM agents ORDER BY id")
            agents: list[Agent] = self._decoded(_AGENT, rows)
            return agents
        if queue not in self._members:
            # Every member: not what routing reads (see routable), so not prefetched.
            locks = self._lock_statements({self._queue_key(queue): True})
            query = (
                "SELECT a.id, a.version, a.record FROM agent_queues AS m "
                "JOIN agents AS a ON a.id = m.agent_id WHERE m.queue = %s ORDER BY a.id"
            )
            results = self._run([*locks, (query, (queue,))], "reading")
            self._check_tries(locks, results)
            members = []
            for key, version, raw in results[-1]:
                # The version this transaction read first is the one it decides with.
                member = self._agents.get(key) or self._decode(_AGENT, key, version, raw)
                self._agents[key] = member
                members.append(member)
            self._members[queue] = members
        return list(self._members[queue])

    def routable(self, queue: str | None, limit: int) -> list[Agent]:
        if limit <= 0:
            return []
        if queue is None:
            rows = self._rows(
                "SELECT a.id, a.version, a.record FROM (SELECT agent_id, min(waiting_since) AS w "
                "FROM agent_queues WHERE waiting_since IS NOT NULL GROUP BY agent_id) AS m "
                "JOIN agents AS a ON a.id = m.agent_id ORDER BY m.w, m.agent_id LIMIT %s",
                (limit,),
            )
            agents: list[Agent] = self._decoded(_AGENT, rows)
            return agents
        found = self._routable.get(queue)
        if found is None or (not found[1] and len(found[0]) < limit):
            self._read_queues([queue], max(limit, _ROUTING_ROWS))
            found = self._routable[queue]
        return found[0][:limit]

    def conversation(self, conversation_id: str) -> Conversation | None:
        if conversation_id not in self._conversations:
            rows = self._rows(
                "SELECT id, version, record FROM conversations WHERE id = %s", (conversation_id,)
            )
            found = self._decoded(_CONVERSATION, rows)[0] if rows else None
            self._conversations[conversation_id] = found
        return self._conversations[conversation_id]

    def queued(self, queues: Collection[str], limit: int) -> list[Conversation]:
        names = sorted(set(queues))
        if not names or limit <= 0:
            return []
        missing = [
            name
            for name in names
            if name not in self._queued
            or (not self._queued[name][1] and len(self._queued[name][0]) < limit)
        ]
        if missing:
            self._read_queues(missing, max(limit, _ROUTING_ROWS))
        found = [conversation for name in names for conversation in self._queued[name][0]]
        found.sort(key=lambda conversation: (conversation.started_at, conversation.id))
        return found[:limit]

    def _read_queues(self, names: list[str], limit: int) -> None:
        """Lock the queues (``lock`` mode), then read what routing in them needs."""
        locks = self._lock_statements({self._queue_key(name): True for name in names})
        results = self._run([*locks, self._routing_query(names, limit)], "reading")
        self._check_tries(locks, results)
        self._take_queues(names, limit, results[-1])

    def _routing_query(self, names: list[str], limit: int) -> tuple[str, Sequence[Any]]:
        """The query reading up to ``limit`` queued conversations of each queue, as many
        of its routable members in routing order (through the partial index), and the
        queue records not read yet."""
        query = (
            "SELECT 0, q.name, c.id, c.version, c.record FROM unnest(%s::text[]) AS q (name), "
            "LATERAL (SELECT id, version, record FROM conversations WHERE state = 'queued' "
            "AND queue = q.name ORDER BY started_at, id LIMIT %s) AS c "
            "UNION ALL SELECT 1, q.name, a.id, a.version, a.record "
            "FROM unnest(%s::text[]) AS q (name), "
            "LATERAL (SELECT agent_id FROM agent_queues WHERE queue = q.name "
            "AND waiting_since IS NOT NULL ORDER BY waiting_since, agent_id LIMIT %s) AS m "
            "JOIN agents AS a ON a.id = m.agent_id "
            "UNION ALL SELECT 2, name, name, version, record FROM queues WHERE name = ANY(%s)"
        )
        unknown = [name for name in names if name not in self._queues]
        return query, (names, limit, names, max(limit, _ROUTABLE_ROWS), unknown)

    def _take_queues(self, names: list[str], limit: int, rows: list[Any]) -> None:
        """Keep what :meth:`_routing_query` read."""
        queued: dict[str, list[Conversation]] = {name: [] for name in names}
        members: dict[str, list[Agent]] = {name: [] for name in names}
        for name in names:
            self._queues.setdefault(name, None)
        for kind, name, key, version, raw in rows:
            if kind == _CONVERSATION:
                queued[name].append(self._decode(kind, key, version, raw))
            elif kind == _AGENT:
                # The version this transaction read first is the one it decides with.
                member = self._agents.get(key) or self._decode(kind, key, version, raw)
                self._agents[key] = member
                members[name].append(member)
            elif self._queues[key] is None:  # a queue read earlier keeps that version
                self._queues[key] = self._decode(kind, key, version, raw)
        for name in names:
            waiting = sorted(queued[name], key=lambda c: (c.started_at, c.id))
            self._queued[name] = (waiting, len(waiting) < limit)
            # A member read earlier keeps that version, which may no longer be routable.
            routable = [agent for agent in members[name] if agent.routable]
            complete = len(members[name]) < max(limit, _ROUTABLE_ROWS)
            self._routable[name] = (sorted(routable, key=routing_key), complete)

    def due(self, now: float, limit: int) -> list[str]:
        rows = self._rows(
            "SELECT id FROM conversations WHERE next_deadline IS NOT NULL "
            "AND next_deadline <= %s ORDER BY next_deadline, id LIMIT %s",
            (now, limit),
        )
        return [row[0] for row in rows]

    def due_after(
        self, now: float, after: tuple[float, str] | None, limit: int
    ) -> list[tuple[float, str]]:
        # The records come along: the tick reads each due conversation next, and a
        # round trip per conversation would cost more than the whole batch's query.
        if after is None:
            rows = self._rows(
                "SELECT next_deadline, id, version, record FROM conversations "
                "WHERE next_deadline IS NOT NULL AND next_deadline <= %s "
                "ORDER BY next_deadline, id LIMIT %s",
                (now, limit),
            )
        else:
            rows = self._rows(
                "SELECT next_deadline, id, version, record FROM conversations "
                "WHERE next_deadline IS NOT NULL AND next_deadline <= %s "
                "AND (next_deadline, id) > (%s::double precision, "
                '%s::text COLLATE "C") ORDER BY next_deadline, id LIMIT %s',
                (now, *after, limit),
            )
        seen = self._conversations
        for _, key, version, raw in rows:
            if key not in seen:
                seen[key] = self._decode(_CONVERSATION, key, version, raw)
        return [(float(row[0]), row[1]) for row in rows]

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A ``SAVEPOINT`` sent with the scope's first statement (none if it sends none);
        an exception inside rolls back to it, keeping the transaction and releasing the
        advisory locks taken inside."""
        held = dict(self._held)
        learned = len(self._learned)
        self._savepoint_wanted()
        try:
            yield
        except BaseException:
            if self._savepoint == _SAVEPOINT_SENT and not self.connection.broken:
                with _translating("rolling back to a savepoint"):
                    self.connection.execute(ROLLBACK_COMMAND)
                self._rolled_back(held, learned)
            elif self._deferred_scope:
                # Saved without a round trip (deferred), so nothing to roll back on the
                # server: forget what the scope read and saved.
                self._rolled_back(held, learned)
            self._savepoint_failed()
            raise
        self._savepoint_kept()

    def _savepoint_wanted(self) -> None:
        """A scope begins: its savepoint is owed (after the release still owed, if any)."""
        if self._savepoint == _SAVEPOINT_RELEASE:
            self._savepoint = _SAVEPOINT_RELEASE_WANTED
        else:
            self._savepoint = _SAVEPOINT_WANTED

    def _rolled_back(self, held: dict[_Key, bool], learned: int) -> None:
        """After ``ROLLBACK TO SAVEPOINT``: the locks and reads of before the savepoint."""
        self._held = held
        # What the scope wrote is gone: read everything again.
        del self._learned[learned:]
        for cache in (
            self._queues,
            self._agents,
            self._conversations,
            self._deleted,
            self._queued,
            self._members,
            self._routable,
        ):
            cache.clear()

    def _savepoint_kept(self) -> None:
        """A savepoint's scope ended without an error: release it with the next statements."""
        state = self._savepoint
        if state in (_SAVEPOINT_SENT, _SAVEPOINT_RELEASE_WANTED):
            self._savepoint = _SAVEPOINT_RELEASE  # this scope's, or the one before's
        else:
            self._savepoint = _SAVEPOINT_NONE
        # What the scope saved stays: its deferred writes go before the next scope's.
        if self._deferred_scope:
            self._deferred += self._deferred_scope
            self._deferred_scope = []
        self._written_scope.clear()

    def _savepoint_failed(self) -> None:
        """A savepoint's scope ended with an exception (rolled back to, if it was sent):
        forget its deferred writes and the rows it wrote; the savepoint, still there (or
        the one before's), is released with the next statements."""
        self._deferred_scope = []
        for key in self._written_scope:
            self._written.discard(key)
        self._written_scope.clear()
        state = self._savepoint
        if state in (_SAVEPOINT_SENT, _SAVEPOINT_RELEASE_WANTED):
            self._savepoint = _SAVEPOINT_RELEASE
        else:
            self._savepoint = _SAVEPOINT_NONE

    def open_on_asset(self, asset: str) -> list[str]:
        # Deleting an asset: exclusive, so no chat starts on it unseen (StartChat holds
        # the shared lock while it checks the asset and saves the chat).
        locks = self._lock_statements({self._asset_key(asset): True})
        query = "SELECT id FROM conversations WHERE asset = %s AND state <> 'closed' ORDER BY id"
        results = self._run([*locks, (query, (asset,))], "reading")
        self._check_tries(locks, results)
        return [row[0] for row in results[-1]]

    def asset_deleted(self, asset: str) -> bool:
        if asset not in self._deleted:
            locks = self._lock_statements({self._asset_key(asset): False})
            query = "SELECT 1 FROM deleted_assets WHERE asset = %s"
            results = self._run([*locks, (query, (asset,))], "reading")
            self._check_tries(locks, results)
            self._deleted[asset] = bool(results[-1])
        return self._deleted[asset]

    # --- the save -------------------------------------------------------------------------

    def save(self, changes: Changes) -> None:
        if self._deferrable(changes):
            self._defer(changes)
            return
        try:
            self._run(self._save_statements(changes), "saving")
        except StoreError:
            # A stale write failed its statement: undo the save, keep the transaction.
            if not self.connection.broken:
                with _translating("rolling back a save"):
                    self.connection.execute(ROLLBACK_SAVE)
            raise
        self._remember(changes)
        self._wrote(changes)

    def _deferrable(self, changes: Changes) -> bool:
        """Whether ``changes`` can wait for the next round trip: in ``lock`` mode, when
        it writes only agents and conversations whose rows this transaction wrote already
        at the versions it holds, and events of those.

        Such a save cannot fail. The first write of a row took its row lock (a new row
        is seen by nobody else), held until the commit: another writer's versioned
        ``UPDATE`` of it waits and then finds a newer version, and its events (inserted
        after its record writes) never get in. So nothing else can change these rows or
        their events before this transaction ends, and the version checks of the
        deferred writes pass; a ``desk.batch()`` block writes a chat's later commands
        with the round trip of a later read or of the commit.
        """
        if not self._locking or changes.queues or changes.deleted_assets or changes.redactions:
            return False
        written = self._written
        for agent, base in changes.agents:
            read = self._agents.get(agent.id)
            if ("agent", agent.id) not in written or read is None or read.version != base:
                return False
        for conversation, base in changes.conversations:
            seen = self._conversations.get(conversation.id)
            if ("conversation", conversation.id) not in written or seen is None:
                return False
            if seen.version != base:
                return False
        return all((event.aggregate, event.aggregate_id) in written for event in changes.events)

    def _defer(self, changes: Changes) -> None:
        """Hold a :meth:`_deferrable` save's writes for the next round trip."""
        statements = self._writes(changes)
        if self._savepoint == _SAVEPOINT_NONE or self._savepoint == _SAVEPOINT_RELEASE:
            self._deferred += statements
        else:
            self._deferred_scope += statements
        # What routing read is no longer what the database holds after this save.
        self._queued.clear()
        self._members.clear()
        self._routable.clear()
        self._remember(changes)

    def _wrote(self, changes: Changes) -> None:
        """The rows a save wrote (and holds locked until the commit)."""
        scoped = self._savepoint not in (_SAVEPOINT_NONE, _SAVEPOINT_RELEASE)
        for key in (
            *(("agent", agent.id) for agent, _ in changes.agents),
            *(("conversation", c.id) for c, _ in changes.conversations),
        ):
            if key not in self._written:
                self._written.add(key)
                if scoped:
                    self._written_scope.append(key)

    def flush(self) -> None:
        """Send the deferred writes now (before a read around the transaction)."""
        if self._deferred or self._deferred_scope:
            self._run([], "saving")

    def _save_statements(self, changes: Changes) -> list[tuple[str, Any]]:
        """The statements of :meth:`save`, inside a savepoint that a failed write rolls
        back to (:data:`ROLLBACK_SAVE`)."""
        statements = self._writes(changes)
        # What routing read is no longer what the database holds after this save.
        self._queued.clear()
        self._members.clear()
        self._routable.clear()
        # Released with the writes once they went through: a savepoint left open nests the
        # rest of the transaction inside it (see _SAVEPOINT_RELEASE_WANTED).
        release = ("RELEASE SAVEPOINT livechat_save", ())
        return [("SAVEPOINT livechat_save", ()), *statements, release]

    def save_last(self, changes: Changes) -> None:
        self._last = self._writes(changes)
        self._remember(changes)

    def commit(self) -> None:
        """Send the writes held by ``save_last`` with ``COMMIT``, or just commit."""
        last, self._last = self._last, None
        try:
            if last or self._deferred or self._deferred_scope:
                self._run(last or [], "saving", commit=True)
            elif self.begun:
                with _translating("committing"):
                    self.connection.execute(b"COMMIT")
        except BaseException:
            self.abandon()
            raise
        # Committed: what this transaction read and wrote is what those versions hold.
        self._known.learn(self._learned)

    def abandon(self) -> None:
        """Roll the transaction back (errors ignored: the one that got us here says more)."""
        self._last = None
        self._deferred, self._deferred_scope = [], []
        if self.begun and not self.connection.broken:
            with contextlib.suppress(psycopg.Error):
                self.connection.execute(b"ROLLBACK")

    def _remember(self, changes: Changes) -> None:
        learned = self._learned
        for queue, _ in changes.queues:
            self._queues[queue.name] = queue
            learned.append((_QUEUE, queue.name, queue))
        for agent, _ in changes.agents:
            self._agents[agent.id] = agent
            learned.append((_AGENT, agent.id, agent))
        for conversation, _ in changes.conversations:
            self._conversations[conversation.id] = conversation
            learned.append((_CONVERSATION, conversation.id, conversation))
        for asset in changes.deleted_assets:
            self._deleted[asset] = True

    @staticmethod
    def _checked(write: str) -> str:
        """``write`` (a statement ``RETURNING 1``), failing unless it wrote as expected."""
        return f"WITH w AS ({write}) {_EXPECT} FROM w"

    def _writes(self, changes: Changes) -> list[tuple[str, Any]]:
        """The save's statements; each versioned write fails on the server when stale.
        Rows are written in one order (kind, then key), so two saves never wait for each
        other's rows in a cycle."""
        statements: list[tuple[str, Any]] = []

        def add(statement: str, values: dict[str, Any], kind: str = "") -> None:
            if kind:
                values["message"] = (
                    f"{kind} {values['key']} changed since it was read "
                    f"(expected version {values['base']})"
                )
                values["detail"] = values["key"]
                values["expected"] = 1
            statements.append(_named(statement, values))

        for queue, base in sorted(changes.queues, key=lambda item: item[0].name):
            values = {
                "key": queue.name,
                "base": base,
                "version": queue.version,
                "record": _codec.record_to_json(queue),
            }
            if base == 0:
                add(
                    self._checked(
                        "INSERT INTO queues (name, version, record) VALUES (%(key)s, "
                        "%(version)s, %(record)s::jsonb) ON CONFLICT (name) DO NOTHING RETURNING 1",
                    ),
                    values,
                    "queue",
                )
            else:
                add(
                    self._checked(
                        "UPDATE queues SET version = %(version)s, record = %(record)s::jsonb "
                        "WHERE name = %(key)s AND version = %(base)s RETURNING 1",
                    ),
                    values,
                    "queue",
                )
        for agent, base in sorted(changes.agents, key=lambda item: item[0].id):
            values = {
                "key": agent.id,
                "base": base,
                "version": agent.version,
                "queues": sorted(set(agent.queues)),
                "record": _codec.record_to_json(agent),
                "waiting": agent.waiting_since if agent.routable else None,
            }
            # The routing index (agent_queues.waiting_since) is set where it changed;
            # rows that hold the value already are not rewritten.
            index_update = (
                "UPDATE agent_queues SET waiting_since = %(waiting)s WHERE agent_id = %(key)s "
                "AND queue = ANY(%(queues)s::text[]) AND waiting_since IS DISTINCT FROM "
                "%(waiting)s::double precision",
                {"key": agent.id, "queues": values["queues"], "waiting": values["waiting"]},
            )
            if base == 0:
                add(
                    "WITH added AS (INSERT INTO agents (id, version, queues, record) "
                    "VALUES (%(key)s, %(version)s, %(queues)s, %(record)s::jsonb) "
                    "ON CONFLICT (id) DO NOTHING RETURNING id), "
                    "members AS (INSERT INTO agent_queues (queue, agent_id, waiting_since) "
                    "SELECT q, %(key)s, %(waiting)s FROM unnest(%(queues)s::text[]) AS q "
                    "WHERE EXISTS (SELECT 1 FROM added)) "
                    f"{_EXPECT} FROM added",
                    values,
                    "agent",
                )
            elif (read := self._agents.get(agent.id)) is not None and (
                read.version == base and sorted(set(read.queues)) == values["queues"]
            ):
                # The version read is the one the update requires, and at that version the
                # queues were these: the membership rows stay as they are.
                add(
                    self._checked(
                        "UPDATE agents SET version = %(version)s, record = %(record)s::jsonb "
                        "WHERE id = %(key)s AND version = %(base)s RETURNING 1"
                    ),
                    values,
                    "agent",
                )
                if (read.waiting_since if read.routable else None) != values["waiting"]:
                    add(*index_update)
            else:
                # Membership rows change only when the agent's queues did (a login),
                # so routine saves do not touch what routing reads.
                add(
                    "WITH old AS (SELECT queues FROM agents WHERE id = %(key)s), "
                    "changed AS (UPDATE agents SET version = %(version)s, "
                    "queues = %(queues)s, record = %(record)s::jsonb "
                    "WHERE id = %(key)s AND version = %(base)s RETURNING id), "
                    "moved AS (SELECT 1 FROM changed, old "
                    "WHERE old.queues IS DISTINCT FROM %(queues)s::text[]), "
                    "gone AS (DELETE FROM agent_queues WHERE agent_id = %(key)s "
                    "AND EXISTS (SELECT 1 FROM moved) AND queue <> ALL(%(queues)s)), "
                    "members AS (INSERT INTO agent_queues (queue, agent_id, waiting_since) "
                    "SELECT q, %(key)s, %(waiting)s FROM unnest(%(queues)s::text[]) AS q "
                    "WHERE EXISTS (SELECT 1 FROM moved) ON CONFLICT DO NOTHING) "
                    f"{_EXPECT} FROM changed",
                    values,
                    "agent",
                )
                add(*index_update)
        for conversation, base in sorted(changes.conversations, key=lambda item: item[0].id):
            values = {
                "key": conversation.id,
                "version": conversation.version,
                "state": str(conversation.state),
                "queue": conversation.queue,
                "asset": conversation.asset,
                "started_at": conversation.started_at,
                "deadline": conversation.next_deadline,
                "closed_at": (
                    conversation.closed_at
                    if conversation.state is ConversationState.CLOSED
                    else None
                ),
                "record": _codec.record_to_json(conversation),
                "base": base,
            }
            if base == 0:
                write = (
                    "INSERT INTO conversations (id, version, state, queue, asset, "
                    "started_at, next_deadline, closed_at, record) VALUES (%(key)s, "
                    "%(version)s, %(state)s, %(queue)s, %(asset)s, %(started_at)s, "
                    "%(deadline)s, %(closed_at)s, %(record)s::jsonb) "
                    "ON CONFLICT (id) DO NOTHING RETURNING 1"
                )
            else:
                write = (
                    "UPDATE conversations SET version = %(version)s, state = %(state)s, "
                    "queue = %(queue)s, asset = %(asset)s, started_at = %(started_at)s, "
                    "next_deadline = %(deadline)s, closed_at = %(closed_at)s, "
                    "record = %(record)s::jsonb "
                    "WHERE id = %(key)s AND version = %(base)s RETURNING 1"
                )
            add(self._checked(write), values, "conversation")
        for asset in changes.deleted_assets:
            add(
                "INSERT INTO deleted_assets (asset) VALUES (%(asset)s) ON CONFLICT DO NOTHING",
                {"asset": asset},
            )
        events = changes.events
        for start in range(0, len(events), _EVENTS_PER_INSERT):
            batch = events[start : start + _EVENTS_PER_INSERT]
            columns = [column for event in batch for column in _codec.event_columns(event)]
            statements.append((_events_insert(len(batch)), columns))
        for conversation_id, message_id, text in changes.redactions:
            # Rewrite the stored MessagePosted event (the outbox refers to the same row).
            add(
                "UPDATE events SET data = jsonb_set(data, '{message,text}', "
                "to_jsonb(%(text)s::text)) WHERE aggregate = 'conversation' "
                "AND aggregate_id = %(id)s AND type = %(type)s "
                "AND data -> 'message' ->> 'id' = %(message)s",
                {
                    "text": text,
                    "id": conversation_id,
                    "type": MessagePosted.__name__,
                    "message": message_id,
                },
            )
        return statements


_CONVERSATION, _AGENT, _QUEUE = 0, 1, 2
"""Kinds of record, as the transaction's queries number them."""

_FROM_JSON: Final[dict[int, Callable[[bytes], Any]]] = {
    _CONVERSATION: _codec.conversation_from_json,
    _AGENT: _codec.agent_from_json,
    _QUEUE: _codec.queue_from_json,
}


class _Known:
    """Records decoded (or written) by committed transactions of one store, by kind and
    key, so that a row read again at the record's version is not decoded again. A
    version names one content: a write needs the version before it, and only committed
    versions are kept. Bounded: emptied when full.
    """

    LIMIT: Final = 20_000

    def __init__(self) -> None:
        self._records: dict[tuple[int, str], Any] = {}
        self._lock = threading.Lock()

    def get(self, kind: int, key: str, version: int) -> Any:
        """The record stored at ``version``, if it is the one known."""
        found = self._records.get((kind, key))
        return found if found is not None and found.version == version else None

    def latest(self, kind: int, key: str) -> Any:
        """The newest version known, or ``None``: a guess, since others may have written."""
        return self._records.get((kind, key))

    def learn(self, entries: Sequence[tuple[int, str, Any]]) -> None:
        with self._lock:
            records = self._records
            if len(records) + len(entries) > self.LIMIT:
                records.clear()
            for kind, key, record in entries:
                records[kind, key] = record


_DECODERS: Final[dict[int, Any]] = {
    16: lambda value: value == b"t",  # bool
    20: int,  # int8
    21: int,  # int2
    23: int,  # int4
    701: float,  # float8
    114: lambda value: value,  # json: decoded by the caller unless it knows the record
    3802: lambda value: value,  # jsonb: the same
    2278: lambda value: None,  # void: what pg_advisory_xact_lock returns
}
"""Text-format values of the column types the transaction's queries return (type OID →
decoder); any other type arrives as ``str``."""


_Step = tuple[bytes | None, bytes, list[bytes | None] | None]
"""One statement of a pipeline: (prepared name, SQL, values): a name and SQL prepare it,
a name and values run it, SQL and values (or ``None``) run it unprepared."""


def exchange(
    pgconn: pq.abc.PGconn, steps: Sequence[_Step], results: list[Any], encoding: str
) -> Generator[bool, bool, psycopg.Error | None]:
    """One pipelined round trip, without waiting (the sans-I/O half both stores share):
    send ``steps`` in one libpq pipeline and read every result into ``results`` (rows for
    a statement that returns them, ``None`` for one that does not, ``_ABORTED`` for one
    the server skipped after an error); returns the first server error.

    Where it must wait it yields, and the caller waits on the socket: ``True`` while
    statements are still going out (wait until the socket is readable or writable, and
    send back whether it is readable), ``False`` once everything is sent (wait until it
    is readable). Sending and reading interleave: while the statements are still going
    out, results already coming back are read into libpq's buffer; otherwise a large
    parameter still being sent while a large result comes back leaves both sides waiting
    for the other to read (the server blocks writing its result, the client writing its
    statements). The connection is non-blocking: ``flush()`` sends what the socket takes
    and says whether more is left.
    """
    error: psycopg.Error | None = None
    send_pipeline(pgconn, steps)
    while pgconn.flush():
        if (yield True):
            pgconn.consume_input()
    while True:
        while pgconn.is_busy():
            yield False
            pgconn.consume_input()
        result = pgconn.get_result()
        if result is None:  # between the results of two statements
            continue
        synced, error = take_result(result, results, error, encoding)
        if synced:
            break
    pgconn.exit_pipeline_mode()
    return error


def _pipeline(
    connection: psycopg.Connection[Any], steps: Sequence[_Step], timeout: float
) -> tuple[list[Any], psycopg.Error | None]:
    """:func:`exchange` on a sync connection, waiting in ``poll`` (which lets other
    threads run), never inside libpq: the results and the first error.

    No wait lasts longer than ``timeout`` seconds in all; past it the connection is
    closed and :class:`~livechat_core.StoreTimeout` raised. Anything but a server error
    (the connection lost, an interrupt, the timeout) leaves the pipeline unread, so the
    connection is closed; the store reconnects on its next transaction.
    """
    pgconn = connection.pgconn
    results: list[Any] = []
    deadline = time.monotonic() + timeout
    pollers: dict[bool, select.poll] = {}
    steps_left = exchange(pgconn, steps, results, connection.info.encoding)
    answer: Any = None
    try:
        while True:
            try:
                sending = steps_left.send(answer)
            except StopIteration as done:
                return results, done.value
            poller = pollers.get(sending)
            if poller is None:
                poller = pollers[sending] = select.poll()
                poller.register(
                    pgconn.socket, select.POLLIN | select.POLLOUT if sending else select.POLLIN
                )
            answer = bool(_wait(poller, deadline) & select.POLLIN)
    except psycopg.Error as failure:
        connection.close()
        return results, failure
    except BaseException:
        connection.close()
        raise


def send_pipeline(pgconn: pq.abc.PGconn, steps: Sequence[_Step]) -> None:
    """Queue ``steps`` and a sync point on a connection in pipeline mode (nothing is
    flushed yet: the caller flushes while it reads, see :func:`exchange`)."""
    pgconn.enter_pipeline_mode()
    for name, text, parameters in steps:
        if name is None:
            pgconn.send_query_params(text, parameters)
        elif text:
            pgconn.send_prepare(name, text)
        else:
            pgconn.send_query_prepared(name, parameters)
    pgconn.pipeline_sync()


def take_result(
    result: pq.abc.PGresult, results: list[Any], error: psycopg.Error | None, encoding: str
) -> tuple[bool, psycopg.Error | None]:
    """Add one result of a pipeline to ``results``; whether it was the sync point, and
    the pipeline's first error."""
    status = result.status
    if status == _TUPLES_OK:
        results.append(_rows(result, encoding))
    elif status == _COMMAND_OK:
        results.append(None)
    elif status == _PIPELINE_SYNC:
        return True, error
    elif status == _PIPELINE_ABORTED:
        results.append(_ABORTED)
    else:
        results.append(_ABORTED)
        error = error or pg_errors.error_from_result(result, encoding=encoding)
    return False, error


def _wait(poller: select.poll, deadline: float) -> int:
    """The events ``poller`` reports before ``deadline``; ``StoreTimeout`` after it."""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise StoreTimeout("PostgreSQL did not answer in time (the connection was closed)")
        ready = poller.poll(max(1, math.ceil(left * 1000)))
        if ready:
            events = 0
            for _, mask in ready:
                events |= mask
            if events & (select.POLLERR | select.POLLHUP | select.POLLNVAL):
                # The next libpq call reports what happened to the connection.
                events |= select.POLLIN
            return events


def _rows(result: pq.abc.PGresult, encoding: str) -> list[tuple[Any, ...]]:
    """The rows of a result, each value decoded by its column's type."""
    columns = range(result.nfields)
    decoders = [_DECODERS.get(result.ftype(column)) for column in columns]
    rows = []
    for row in range(result.ntuples):
        values: list[Any] = []
        for column, decode in zip(columns, decoders, strict=True):
            raw = result.get_value(row, column)
            if raw is None:
                values.append(None)
            else:
                values.append(decode(raw) if decode else raw.decode(encoding))
        rows.append(tuple(values))
    return rows


_ABORTED: Final = object()
_PIPELINE_SYNC: Final = pq.ExecStatus.PIPELINE_SYNC
_PIPELINE_ABORTED: Final = pq.ExecStatus.PIPELINE_ABORTED
_TUPLES_OK: Final = pq.ExecStatus.TUPLES_OK
_COMMAND_OK: Final = pq.ExecStatus.COMMAND_OK
_BAD: Final = pq.ConnStatus.BAD


def _parameter(value: Any) -> bytes | None:
    """``value`` in PostgreSQL's text format, for the few types the store sends."""
    cls = type(value)
    if cls is str:
        text: str = value
        return text.encode()
    if value is None:
        return None
    if cls is bool:
        return b"t" if value else b"f"
    if cls is int:
        return str(value).encode()
    if cls is float:
        # repr: the shortest decimal that reads back as this float (inf, nan as words).
        return repr(value).encode() if math.isfinite(value) else str(value).encode()
    if cls is list or cls is tuple:
        return ("{" + ",".join(map(_element, value)) + "}").encode()
    raise TypeError(f"the PostgreSQL store does not send {cls.__name__} values")


def _element(value: Any) -> str:
    """An element of an array value in PostgreSQL's text format."""
    if value is None:
        return "NULL"
    if type(value) is str:
        text: str = value
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    encoded = _parameter(value)
    assert encoded is not None
    return encoded.decode()


@functools.cache
def _numbered(statement: str) -> bytes:
    """``statement`` with its ``%s`` placeholders numbered ``$1``, ``$2``, ..."""
    pieces = statement.split("%s")
    numbered = [pieces[0]]
    for number, piece in enumerate(pieces[1:], start=1):
        numbered += (f"${number}", piece)
    return "".join(numbered).encode()


_PREFETCH_FROM_LEGS: Final = (
    "WITH c AS MATERIALIZED (SELECT id, version, record FROM conversations "
    "WHERE id = ANY(%s)), "
    "l AS MATERIALIZED (SELECT leg FROM c, jsonb_array_elements(c.record -> 'legs') AS leg) "
    "SELECT 0, id, version, record FROM c "
    # "= ANY(array)" keeps these index scans (a SERIALIZABLE reader's predicate locks then
    # cover the rows read, not whole tables).
    "UNION ALL SELECT 1, id, version, record FROM agents WHERE id = ANY(%s::text[] "
    "|| ARRAY(SELECT leg ->> 'agent_id' FROM l)) "
    "UNION ALL SELECT 2, name, version, record FROM queues WHERE name = ANY(%s::text[] "
    "|| ARRAY(SELECT record ->> 'queue' FROM c) || ARRAY(SELECT leg ->> 'queue' FROM l)) "
    "UNION ALL SELECT 3, asset, NULL, NULL FROM deleted_assets WHERE asset = ANY(%s)"
)
"""The prefetch: the records named, and the agents and queues of the conversations' legs."""

_PREFETCH_NAMED: Final = (
    "SELECT 0, id, version, record FROM conversations WHERE id = ANY(%s) "
    "UNION ALL SELECT 1, id, version, record FROM agents WHERE id = ANY(%s) "
    "UNION ALL SELECT 2, name, version, record FROM queues WHERE name = ANY(%s) "
    "UNION ALL SELECT 3, asset, NULL, NULL FROM deleted_assets WHERE asset = ANY(%s)"
)
"""The prefetch when the store names every record itself (no JSON taken apart)."""

_EVENTS_PER_INSERT: Final = 16


@functools.cache
def _events_insert(count: int) -> str:
    """The statement inserting ``count`` events, in order, with their outbox rows.

    One ``VALUES`` row per event: the server reads plain values, not arrays to take
    apart. An event stored twice violates the unique key: a ``ConcurrencyConflict``.
    """
    rows = ", ".join(["(%s, %s, %s, %s, %s, %s::jsonb)"] * count)
    return (
        "WITH added AS (INSERT INTO events (aggregate, aggregate_id, sequence, type, at, data) "
        f"VALUES {rows} RETURNING position) "
        "INSERT INTO outbox (event_position) SELECT position FROM added"
    )


_EXPECT: Final = (
    "SELECT CASE WHEN count(*) = %(expected)s THEN count(*) "
    "ELSE expect_written(count(*), %(expected)s, %(message)s, %(detail)s) END"
)
"""The end of a versioned write: its row count, checked on the server (the function,
which raises, is called only when the count is wrong)."""


def _named(statement: str, values: Mapping[str, Any]) -> tuple[str, list[Any]]:
    """A statement with ``%(name)s`` placeholders as positional ``%s`` and its values."""
    positional, names = _positional(statement)
    return positional, [values[name] for name in names]


@functools.cache
def _positional(statement: str) -> tuple[str, tuple[str, ...]]:
    """``statement`` with ``%s`` for each ``%(name)s``, and the names in order."""
    names = tuple(_PLACEHOLDER.findall(statement))
    return _PLACEHOLDER.sub("%s", statement), names


_PLACEHOLDER: Final = re.compile(r"%\((\w+)\)s")
