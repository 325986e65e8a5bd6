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

``docs/stores.md`` and ``docs/performance-stores.md`` compare them.
"""

from __future__ import annotations

import contextlib
import os
import threading
import zlib
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Final, Literal

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql

from .._errors import ConcurrencyConflict, SchemaError, StoreError
from .._events import Event, MessagePosted
from .._model import Agent, Conversation, Queue
from ..ports import Changes, Store, StoreTransaction
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
    }
)

Concurrency = Literal["lock", "serializable"]

_CONFLICTS: Final = (
    pg_errors.SerializationFailure,
    pg_errors.DeadlockDetected,
    pg_errors.UniqueViolation,
    pg_errors.LockNotAvailable,
)

_INHERITED: list[psycopg.Connection[Any]] = []


def _translate(error: psycopg.Error, doing: str) -> StoreError:
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

    Raises:
        SchemaError: the schema holds tables that are not a livechat-core store, misses
            a table or is newer than this library; nothing was written.
        StoreError: the server cannot be reached (the cause is chained).

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
    ) -> None:
        if concurrency not in ("lock", "serializable"):
            raise ValueError(f"concurrency must be 'lock' or 'serializable', not {concurrency!r}")
        self.dsn = dsn
        self.schema = schema
        self.concurrency: Concurrency = concurrency
        self.connect_timeout = connect_timeout
        self._init_runtime()
        self._connect()

    def _init_runtime(self) -> None:
        self._lock = threading.RLock()
        self._connection: psycopg.Connection[Any] | None = None
        self._pid = os.getpid()
        self._closed = False
        # One advisory-lock key per schema, so separate stores in one database are independent.
        self._lock_key = zlib.crc32(f"livechat-core:{self.schema}".encode()) - 2**31

    def __getstate__(self) -> dict[str, Any]:
        return {
            "dsn": self.dsn,
            "schema": self.schema,
            "concurrency": self.concurrency,
            "connect_timeout": self.connect_timeout,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.dsn = state["dsn"]
        self.schema = state["schema"]
        self.concurrency = state["concurrency"]
        self.connect_timeout = state["connect_timeout"]
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
            # No server-side prepared statements: after an aborted pipeline psycopg's
            # cache of them can disagree with the server ("prepared statement does not
            # exist"), and a pooler in transaction mode (PgBouncer) does not keep them.
            connection = psycopg.connect(
                self.dsn,
                autocommit=True,
                connect_timeout=max(1, round(self.connect_timeout)),
                prepare_threshold=None,
            )
        try:
            self._prepare(connection)
        except BaseException:
            connection.close()
            raise
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
            connection.execute(sql.SQL("SET search_path TO {}").format(schema))
            if self.concurrency == "serializable":
                # A sequential scan takes a predicate lock on the whole table, so every
                # writer would conflict with every reader; index scans lock only the
                # ranges read (one queue's waiting chats, one agent's row).
                connection.execute("SET enable_seqscan = off")

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
        """A transaction; see the module docstring for how writers are kept apart."""
        with self._lock:
            connection = self._connect()
            with _translating("beginning a transaction"):
                if not write:
                    connection.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                elif self.concurrency == "serializable":
                    connection.execute("BEGIN ISOLATION LEVEL SERIALIZABLE")
                else:
                    connection.execute("BEGIN ISOLATION LEVEL READ COMMITTED")
                    connection.execute("SELECT pg_advisory_xact_lock(%s)", (self._lock_key,))
            try:
                yield _PostgresTransaction(connection)
            except BaseException:
                if not connection.broken:
                    # The original error says more; the server may have rolled back.
                    with contextlib.suppress(psycopg.Error):
                        connection.execute("ROLLBACK")
                raise
            with _translating("committing"):
                connection.execute("COMMIT")

    # --- outside a transaction ------------------------------------------------------------

    def _query(self, doing: str, query: str, parameters: Sequence[Any] = ()) -> list[Any]:
        with self._lock:
            connection = self._connect()
            with _translating(doing):
                return connection.execute(query.encode(), parameters).fetchall()

    def events(self, aggregate_id: str, aggregate: str = "conversation") -> list[Event]:
        """The stored events of one aggregate, oldest first."""
        rows = self._query(
            "reading events",
            "SELECT aggregate_id, sequence, at, type, data FROM events "
            "WHERE aggregate = %s AND aggregate_id = %s ORDER BY sequence",
            (aggregate, aggregate_id),
        )
        return [_codec.event_from_columns(*row) for row in rows]

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

    def conversation_ids(self) -> list[str]:
        """Every conversation id, in the order they were first saved."""
        rows = self._query(
            "reading conversation ids", "SELECT id FROM conversations ORDER BY position"
        )
        return [row[0] for row in rows]


class _PostgresTransaction(StoreTransaction):
    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        self.connection = connection

    def _rows(self, query: str, parameters: Sequence[Any] = ()) -> list[Any]:
        with _translating("reading"):
            return self.connection.execute(query.encode(), parameters).fetchall()

    def queue(self, name: str) -> Queue | None:
        rows = self._rows("SELECT record FROM queues WHERE name = %s", (name,))
        return _codec.queue_from_json(rows[0][0]) if rows else None

    def queues(self) -> list[Queue]:
        rows = self._rows("SELECT record FROM queues ORDER BY name")
        return [_codec.queue_from_json(row[0]) for row in rows]

    def agent(self, agent_id: str) -> Agent | None:
        rows = self._rows("SELECT record FROM agents WHERE id = %s", (agent_id,))
        return _codec.agent_from_json(rows[0][0]) if rows else None

    def agents(self, queue: str | None = None) -> list[Agent]:
        if queue is None:
            rows = self._rows("SELECT record FROM agents ORDER BY id")
        else:
            rows = self._rows(
                "SELECT a.record FROM agent_queues AS m JOIN agents AS a ON a.id = m.agent_id "
                "WHERE m.queue = %s ORDER BY a.id",
                (queue,),
            )
        return [_codec.agent_from_json(row[0]) for row in rows]

    def conversation(self, conversation_id: str) -> Conversation | None:
        rows = self._rows("SELECT record FROM conversations WHERE id = %s", (conversation_id,))
        return _codec.conversation_from_json(rows[0][0]) if rows else None

    def queued(self, queues: Collection[str], limit: int) -> list[Conversation]:
        names = sorted(set(queues))
        if not names or limit <= 0:
            return []
        rows = self._rows(
            "SELECT record FROM conversations WHERE state = 'queued' AND queue = ANY(%s) "
            "ORDER BY started_at, id LIMIT %s",
            (names, limit),
        )
        return [_codec.conversation_from_json(row[0]) for row in rows]

    def due(self, now: float, limit: int) -> list[str]:
        rows = self._rows(
            "SELECT id FROM conversations WHERE next_deadline IS NOT NULL "
            "AND next_deadline <= %s ORDER BY next_deadline, id LIMIT %s",
            (now, limit),
        )
        return [row[0] for row in rows]

    def open_on_asset(self, asset: str) -> list[str]:
        rows = self._rows(
            "SELECT id FROM conversations WHERE asset = %s AND state <> 'closed' ORDER BY id",
            (asset,),
        )
        return [row[0] for row in rows]

    def asset_deleted(self, asset: str) -> bool:
        return bool(self._rows("SELECT 1 FROM deleted_assets WHERE asset = %s", (asset,)))

    # --- the save -------------------------------------------------------------------------

    def save(self, changes: Changes) -> None:
        connection = self.connection
        with _translating("saving"):
            connection.execute(b"SAVEPOINT livechat_save")
        try:
            with _translating("saving"):
                checks = self._write(changes)
            for kind, key, base, cursor in checks:
                row = cursor.fetchone()
                if row is None:
                    raise ConcurrencyConflict(
                        f"{kind} {key} changed since it was read (expected version {base})",
                        aggregate_id=key,
                    )
        except BaseException:
            if not connection.broken:
                with _translating("rolling back a save"):
                    connection.execute(b"ROLLBACK TO SAVEPOINT livechat_save")
            raise
        with _translating("saving"):
            connection.execute(b"RELEASE SAVEPOINT livechat_save")

    def _write(self, changes: Changes) -> list[tuple[str, str, int, psycopg.Cursor[Any]]]:
        """Send every write in one pipeline; return the cursors whose row proves a write."""
        checks: list[tuple[str, str, int, psycopg.Cursor[Any]]] = []
        connection = self.connection
        with connection.pipeline():

            def run(
                query: str, parameters: Sequence[Any] | Mapping[str, Any]
            ) -> psycopg.Cursor[Any]:
                return connection.cursor().execute(query.encode(), parameters)

            for queue, base in changes.queues:
                document = _codec.record_to_json(queue)
                if base == 0:
                    cursor = run(
                        "INSERT INTO queues (name, version, record) VALUES (%s, %s, %s::jsonb) "
                        "ON CONFLICT (name) DO NOTHING RETURNING 1",
                        (queue.name, queue.version, document),
                    )
                else:
                    cursor = run(
                        "UPDATE queues SET version = %s, record = %s::jsonb "
                        "WHERE name = %s AND version = %s RETURNING 1",
                        (queue.version, document, queue.name, base),
                    )
                checks.append(("queue", queue.name, base, cursor))
            for agent, base in changes.agents:
                queues = sorted(set(agent.queues))
                document = _codec.record_to_json(agent)
                if base == 0:
                    cursor = run(
                        "WITH added AS (INSERT INTO agents (id, version, queues, record) "
                        "VALUES (%(id)s, %(version)s, %(queues)s, %(record)s::jsonb) "
                        "ON CONFLICT (id) DO NOTHING RETURNING id), "
                        "members AS (INSERT INTO agent_queues (queue, agent_id) "
                        "SELECT q, %(id)s FROM unnest(%(queues)s::text[]) AS q "
                        "WHERE EXISTS (SELECT 1 FROM added)) "
                        "SELECT 1 FROM added",
                        {
                            "id": agent.id,
                            "version": agent.version,
                            "queues": queues,
                            "record": document,
                        },
                    )
                else:
                    # Membership rows change only when the agent's queues did (a login),
                    # so routine saves do not touch what routing reads.
                    cursor = run(
                        "WITH old AS (SELECT queues FROM agents WHERE id = %(id)s), "
                        "changed AS (UPDATE agents SET version = %(version)s, "
                        "queues = %(queues)s, record = %(record)s::jsonb "
                        "WHERE id = %(id)s AND version = %(base)s RETURNING id), "
                        "moved AS (SELECT 1 FROM changed, old "
                        "WHERE old.queues IS DISTINCT FROM %(queues)s::text[]), "
                        "gone AS (DELETE FROM agent_queues WHERE agent_id = %(id)s "
                        "AND EXISTS (SELECT 1 FROM moved) AND queue <> ALL(%(queues)s)), "
                        "members AS (INSERT INTO agent_queues (queue, agent_id) "
                        "SELECT q, %(id)s FROM unnest(%(queues)s::text[]) AS q "
                        "WHERE EXISTS (SELECT 1 FROM moved) ON CONFLICT DO NOTHING) "
                        "SELECT 1 FROM changed",
                        {
                            "id": agent.id,
                            "version": agent.version,
                            "queues": queues,
                            "record": document,
                            "base": base,
                        },
                    )
                checks.append(("agent", agent.id, base, cursor))
            for conversation, base in changes.conversations:
                values = {
                    "id": conversation.id,
                    "version": conversation.version,
                    "state": str(conversation.state),
                    "queue": conversation.queue,
                    "asset": conversation.asset,
                    "started_at": conversation.started_at,
                    "deadline": conversation.next_deadline,
                    "record": _codec.record_to_json(conversation),
                    "base": base,
                }
                if base == 0:
                    cursor = run(
                        "INSERT INTO conversations (id, version, state, queue, asset, "
                        "started_at, next_deadline, record) VALUES (%(id)s, %(version)s, "
                        "%(state)s, %(queue)s, %(asset)s, %(started_at)s, %(deadline)s, "
                        "%(record)s::jsonb) ON CONFLICT (id) DO NOTHING RETURNING 1",
                        values,
                    )
                else:
                    cursor = run(
                        "UPDATE conversations SET version = %(version)s, state = %(state)s, "
                        "queue = %(queue)s, asset = %(asset)s, started_at = %(started_at)s, "
                        "next_deadline = %(deadline)s, record = %(record)s::jsonb "
                        "WHERE id = %(id)s AND version = %(base)s RETURNING 1",
                        values,
                    )
                checks.append(("conversation", conversation.id, base, cursor))
            for asset in changes.deleted_assets:
                run(
                    "INSERT INTO deleted_assets (asset) VALUES (%s) ON CONFLICT DO NOTHING",
                    (asset,),
                )
            if changes.events:
                events = changes.events
                run(
                    "WITH added AS (INSERT INTO events (aggregate, aggregate_id, sequence, type, "
                    "at, data) SELECT a, i, s, t, at, d::jsonb FROM unnest(%s::text[], "
                    "%s::text[], %s::integer[], %s::text[], %s::float8[], %s::text[]) "
                    "WITH ORDINALITY AS e (a, i, s, t, at, d, n) ORDER BY n RETURNING position) "
                    "INSERT INTO outbox (event_position) SELECT position FROM added",
                    (
                        [event.aggregate for event in events],
                        [event.aggregate_id for event in events],
                        [event.sequence for event in events],
                        [event.type for event in events],
                        [event.at for event in events],
                        [_codec.event_data_json(event) for event in events],
                    ),
                )
        for conversation_id, message_id, text in changes.redactions:
            self._redact(conversation_id, message_id, text)
        return checks

    def _redact(self, conversation_id: str, message_id: str, text: str) -> None:
        """Rewrite the stored ``MessagePosted`` event (the outbox refers to the same row)."""
        rows = self.connection.execute(
            b"SELECT position, data FROM events WHERE aggregate = 'conversation' "
            b"AND aggregate_id = %s AND type = %s AND data -> 'message' ->> 'id' = %s",
            (conversation_id, MessagePosted.__name__, message_id),
        ).fetchall()
        for position, data in rows:
            redacted = _codec.redact_message_data(data, message_id, text)
            if redacted is not None:
                self.connection.execute(
                    b"UPDATE events SET data = %s::jsonb WHERE position = %s",
                    (_codec.dumps(redacted), position),
                )
