"""µs per command against the size of the desk, on every store (SPEC section 10).

Run on demand (it is not a test)::

    .venv/bin/python benchmarks/bench_scaling.py                     # memory and SQLite
    scripts/with-postgres.sh .venv/bin/python benchmarks/bench_scaling.py   # + PostgreSQL
    LIVECHAT_PG_OPTIONS="-c fsync=off -c shared_preload_libraries=pg_stat_statements" \\
        scripts/with-postgres.sh .venv/bin/python benchmarks/bench_scaling.py \\
        --stores postgres --statements 8          # + where the server's time goes
    .venv/bin/python benchmarks/bench_scaling.py --quick             # the smaller sizes only

Each curve times the same small piece of work on desks of growing size, one fresh store
per size, built with ``desk.batch()`` blocks (setup is not timed):

* **agents**: N available agents in one queue; the work is ``start_chat`` (routed to the
  longest-waiting agent) and ``customer_end`` (the agent is free again and routing runs).
  A second row times ``available_agents()`` with N agents logged in, 10 of them available.
* **backlog**: N chats queued with nobody available; ``start_chat`` and ``customer_end``.
* **transcript**: one active chat with N messages; ``send_customer_message``.
* **deadlines**: N offers due at once; ``tick`` fires them all (µs per deadline). A desk
  ticks once, so each size builds ``--tick-rounds`` desks (3) and takes the median: with
  one tick per size, one sample decided the ratio.
* **live chats**: N accepted chats held by other agents; one whole lifecycle (six
  commands) in a queue of its own.

Times are CPU time of this process for the memory store and SQLite (which runs inside
it), so that a benchmark waiting for one of a shared machine's cores is not charged for
the wait, and wall-clock time for PostgreSQL (whose work is in the server's processes).
Beside each curve, the µs per unit the garbage collector took (``gc.callbacks``).

Target: every curve grows at most 1.5× from its smallest to its largest size. SQLite runs
with ``synchronous=NORMAL`` (WAL: a commit does not wait for the disk), so that a flush of
a few milliseconds does not hide how the work itself grows; PostgreSQL with the server's
settings (``scripts/with-postgres.sh`` turns ``fsync`` off unless ``LIVECHAT_PG_OPTIONS``
says otherwise). Medians of ``--rounds`` rounds.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import itertools
import os
import pickle
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from livechat_core import Desk, MemoryStore
from livechat_core.adapters.sqlite import SqliteStore
from livechat_core.ports import Store

T0 = 1_700_000_000.0
CHUNK = 500  # commands per setup batch

StoreFactory = Callable[[], contextlib.AbstractContextManager[Store]]


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        self.now += 0.001
        return self.now


def _ids(prefix: str) -> Callable[[], str]:
    counter = itertools.count()
    return lambda: f"{prefix}{next(counter):07d}"


def _chunks(count: int) -> Iterator[range]:
    for start in range(0, count, CHUNK):
        yield range(start, min(count, start + CHUNK))


class Collector:
    """Time the garbage collector spends, from ``gc.callbacks`` (in the timer's unit)."""

    def __init__(self) -> None:
        self.spent = 0.0
        self._started = 0.0
        self.timer: Callable[[], float] = time.process_time
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = self.timer()
        else:
            self.spent += self.timer() - self._started


COLLECTOR = Collector()
GC_SHARE: list[float] = []  # per measurement: µs per unit spent in the collector


STATEMENTS: list[Any] = []  # --statements: [count, the store measured] (PostgreSQL)


def _statements(reset: bool) -> None:
    """With ``--statements``: reset PostgreSQL's ``pg_stat_statements`` before the timed
    work, and print the statements that took the most server time after it."""
    if not STATEMENTS or STATEMENTS[1] is None:
        return
    import psycopg

    with psycopg.connect(STATEMENTS[1].dsn, autocommit=True) as connection:
        connection.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        if reset:
            connection.execute("SELECT pg_stat_statements_reset()")
            return
        rows = connection.execute(
            "SELECT calls, total_exec_time, mean_exec_time, "
            "left(regexp_replace(query, '\\s+', ' ', 'g'), 100) FROM pg_stat_statements "
            "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND query NOT LIKE '%%pg_stat_statements%%' ORDER BY total_exec_time DESC LIMIT %s",
            (STATEMENTS[0],),
        ).fetchall()
    for calls, total, mean, query in rows:
        print(f"    {calls:7,d} calls {total:9.1f} ms {mean * 1000:8.1f} µs each  {query}")


def _timed(work: Callable[[], int], rounds: int) -> float:
    """Median over ``rounds`` of µs per unit; ``work`` returns how many units it did.
    Timed with ``COLLECTOR.timer``; the collector's share goes to ``GC_SHARE``."""
    _statements(reset=True)
    try:
        return _measured(work, rounds)
    finally:
        _statements(reset=False)


def _measured(work: Callable[[], int], rounds: int) -> float:
    timer = COLLECTOR.timer
    figures, collected = [], []
    for _ in range(rounds):
        before = COLLECTOR.spent
        start = timer()
        units = work()
        figures.append((timer() - start) / units * 1e6)
        collected.append((COLLECTOR.spent - before) / units * 1e6)
    GC_SHARE.append(statistics.median(collected))
    return statistics.median(figures)


# --- the curves ------------------------------------------------------------------------


def agents_in_a_queue(store: Store, size: int, rounds: int, reps: int) -> float:
    clock = Clock()
    desk = Desk(store=store, clock=clock, new_id=_ids("chat"))
    desk.add_queue("support", ["Resolved"], offer_timeout=10**9)
    for chunk in _chunks(size):
        with desk.batch():
            for n in chunk:
                desk.login(f"agent{n:06d}", f"Agent {n}", ["support"])
                desk.set_available(f"agent{n:06d}")

    def work() -> int:
        for _ in range(reps):
            chat = desk.start_chat("support", "Karel Novák", "")
            desk.customer_end(chat)
        return 2 * reps

    work()  # warm up
    return _timed(work, rounds)


def available_agents_listing(store: Store, size: int, rounds: int, reps: int) -> float:
    desk = Desk(store=store, clock=Clock(), new_id=_ids("chat"))
    desk.add_queue("support", ["Resolved"])
    for chunk in _chunks(size):
        with desk.batch():
            for n in chunk:
                desk.login(f"agent{n:06d}", f"Agent {n}", ["support"])
                if n % max(1, size // 10) == 0:
                    desk.set_available(f"agent{n:06d}")

    def work() -> int:
        for _ in range(reps):
            desk.available_agents()
        return reps

    work()
    return _timed(work, rounds)


def backlog(store: Store, size: int, rounds: int, reps: int) -> float:
    desk = Desk(store=store, clock=Clock(), new_id=_ids("chat"))
    desk.add_queue("support", ["Resolved"])
    desk.login("agent", "Agent", ["support"])  # idle: nobody takes a chat
    for chunk in _chunks(size):
        with desk.batch():
            for _ in chunk:
                desk.start_chat("support", "Karel Novák", "")

    def work() -> int:
        for _ in range(reps):
            chat = desk.start_chat("support", "Eva Malá", "")
            desk.customer_end(chat)
        return 2 * reps

    work()
    return _timed(work, rounds)


def transcript(store: Store, size: int, rounds: int, reps: int) -> float:
    desk = Desk(store=store, clock=Clock(), new_id=_ids("chat"))
    desk.add_queue("support", ["Resolved"])
    desk.login("agent", "Agent", ["support"])
    desk.set_available("agent")
    chat = desk.start_chat("support", "Karel Novák", "")
    desk.accept("agent", chat)
    for chunk in _chunks(size):
        with desk.batch():
            for n in chunk:
                desk.send_customer_message(chat, f"message number {n}: where is my order?")

    def work() -> int:
        for _ in range(reps):
            desk.send_customer_message(chat, "and one more question about it")
        return reps

    work()
    return _timed(work, rounds)


def deadlines_due(store: Store, size: int, rounds: int, reps: int) -> float:
    """One round only: a tick fires every due deadline once (µs per deadline).

    The work per deadline is the same at every size: each agent (capacity 100) is
    offered a run of consecutive chats, so a tick batch of 500 deadlines rings on no
    more than six agents whatever the size (chats spread over every agent in turn made a
    batch write one agent per deadline on a large desk and a few on a small one). The
    tick runs on the store reopened (SQLite, PostgreSQL: a fresh store object on the
    same file or database), so no size finds the records it fires in the store's cache
    of decoded records (2,048 on SQLite, 20,000 on PostgreSQL) while another does not.
    """
    clock = Clock()
    new_id = _ids("chat")
    desk = Desk(store=store, clock=clock, new_id=new_id)
    desk.add_queue("support", ["Resolved"], offer_timeout=30.0)
    capacity = 100
    for agent in range(-(-size // capacity)):
        with desk.batch():
            desk.login(f"agent{agent:06d}", f"Agent {agent}", ["support"], capacity=capacity)
            desk.set_available(f"agent{agent:06d}")  # the only one with room
            for _ in range(min(capacity, size - agent * capacity)):
                desk.start_chat("support", "Karel Novák", "")
    if not isinstance(store, MemoryStore):
        store = pickle.loads(pickle.dumps(store))  # the same file or database, reopened
        desk = Desk(store=store, clock=clock, new_id=new_id)
        desk.queues()  # connected, settings read: not charged to the tick
    timer = COLLECTOR.timer
    before = COLLECTOR.spent
    _statements(reset=True)
    start = timer()
    fired = desk.tick(clock.now + 3600)
    elapsed = timer() - start
    _statements(reset=False)
    GC_SHARE.append((COLLECTOR.spent - before) / size * 1e6)
    if not isinstance(store, MemoryStore):
        store.close()
    assert sum(1 for event in fired if event.type == "OfferTimedOut") == size, len(fired)
    return elapsed / size * 1e6


def live_chats(store: Store, size: int, rounds: int, reps: int) -> float:
    desk = Desk(store=store, clock=Clock(), new_id=_ids("chat"))
    desk.add_queue("support", ["Resolved"], offer_timeout=10**9)
    desk.add_queue("probe", ["Resolved"], offer_timeout=10**9)
    capacity = 100
    agents = max(1, -(-size // capacity))
    for chunk in _chunks(agents):
        with desk.batch():
            for n in chunk:
                desk.login(f"agent{n:06d}", f"Agent {n}", ["support"], capacity=capacity)
                desk.set_available(f"agent{n:06d}")
    for chunk in _chunks(size):
        with desk.batch():
            for _ in chunk:
                chat = desk.start_chat("support", "Karel Novák", "")
                owner = desk.conversation(chat).legs[0].agent_id
                desk.accept(owner, chat)
    desk.login("prober", "Prober", ["probe"])
    desk.set_available("prober")

    def work() -> int:
        for number in range(reps):
            chat = desk.start_chat("probe", "Eva Malá", "")
            desk.send_customer_message(chat, f"Dobrý den, dotaz {number}")
            desk.accept("prober", chat)
            desk.send_agent_message("prober", chat, "Dobrý den, hned to vyřešíme.")
            desk.end("prober", chat)
            desk.submit_wrap_up("prober", chat, "Resolved")
        return 6 * reps

    work()
    return _timed(work, rounds)


ONE_TICK = {"deadlines due"}  # curves whose desk serves one measurement only

CURVES: dict[str, tuple[Callable[[Store, int, int, int], float], tuple[int, ...], str]] = {
    "agents in a queue": (agents_in_a_queue, (10, 1_000, 10_000), "start_chat + customer_end"),
    "agents logged in (10 available)": (
        available_agents_listing,
        (10, 1_000, 10_000),
        "available_agents()",
    ),
    "backlog": (backlog, (100, 10_000, 100_000), "start_chat + customer_end"),
    "transcript": (transcript, (100, 1_000, 10_000), "send_customer_message"),
    "deadlines due": (deadlines_due, (1_000, 10_000, 100_000), "tick, per deadline"),
    "live chats": (live_chats, (1_000, 10_000, 100_000), "a lifecycle, per command"),
}


# --- stores ------------------------------------------------------------------------------


@contextlib.contextmanager
def memory_store() -> Iterator[Store]:
    yield MemoryStore()


def sqlite_factory(directory: str) -> StoreFactory:
    counter = itertools.count()

    @contextlib.contextmanager
    def make() -> Iterator[Store]:
        path = os.path.join(directory, f"desk-{next(counter)}.db")
        store = SqliteStore(path, synchronous="NORMAL")
        try:
            yield store
        finally:
            store.close()
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path + suffix)

    return make


def postgres_factory(server: str) -> StoreFactory:
    @contextlib.contextmanager
    def make() -> Iterator[Store]:
        import psycopg
        from psycopg import sql
        from psycopg.conninfo import make_conninfo

        from livechat_core.adapters.postgres import PostgresStore

        name = f"livechat_scaling_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        store = PostgresStore(make_conninfo(server, dbname=name))
        try:
            yield store
        finally:
            store.close()
            with psycopg.connect(server, autocommit=True) as admin:
                admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))

    return make


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--reps", type=int, default=100, help="units of work per round")
    parser.add_argument("--quick", action="store_true", help="leave out the largest sizes")
    parser.add_argument("--max-size", type=int, default=None, help="leave out larger sizes")
    parser.add_argument("--stores", default="memory,sqlite,postgres")
    parser.add_argument("--curves", default=",".join(CURVES))
    parser.add_argument(
        "--tick-rounds",
        type=int,
        default=3,
        help="desks built per size for the deadlines curve (each ticks once); the median",
    )
    parser.add_argument("--postgres", default=os.environ.get("LIVECHAT_TEST_POSTGRES"))
    parser.add_argument(
        "--statements",
        type=int,
        default=0,
        help="PostgreSQL: print the N statements that took the most server time in each "
        "measurement (needs the server started with shared_preload_libraries="
        "pg_stat_statements, e.g. LIVECHAT_PG_OPTIONS)",
    )
    arguments = parser.parse_args()
    directory = tempfile.mkdtemp(prefix="livechat-scaling-")
    factories: dict[str, StoreFactory] = {}
    wanted = arguments.stores.split(",")
    if "memory" in wanted:
        factories["MemoryStore"] = memory_store
    if "sqlite" in wanted:
        factories["SqliteStore (NORMAL)"] = sqlite_factory(directory)
    if "postgres" in wanted and arguments.postgres:
        factories["PostgresStore"] = postgres_factory(arguments.postgres)
    print(
        "| store | curve | work | µs per unit by size | largest ÷ smallest "
        "| of which the garbage collector, by size |"
    )
    print("|---|---|---|---|---:|---|")
    try:
        for store_name, factory in factories.items():
            # In-process stores: CPU time of this process (a benchmark waiting for one of
            # the machine's shared cores is not charged for the wait). PostgreSQL works in
            # its server's processes: wall-clock time.
            COLLECTOR.timer = time.perf_counter if "Postgres" in store_name else time.process_time
            for curve in arguments.curves.split(","):
                function, sizes, work = CURVES[curve]
                if arguments.quick:
                    sizes = sizes[:-1] if len(sizes) > 2 else sizes[:1]
                if arguments.max_size is not None:
                    sizes = tuple(size for size in sizes if size <= arguments.max_size)
                figures = []
                for size in sizes:
                    runs = []
                    for _ in range(arguments.tick_rounds if curve in ONE_TICK else 1):
                        with factory() as store:
                            if arguments.statements and "Postgres" in store_name:
                                STATEMENTS[:] = [arguments.statements, store]
                                print(f"  {curve}, {size:,} ({store_name}):", flush=True)
                            gc.collect()  # what the last size left is not charged to this one
                            runs.append(function(store, size, arguments.rounds, arguments.reps))
                    shares = GC_SHARE[-len(runs) :]
                    figures.append((size, statistics.median(runs), statistics.median(shares)))
                cells = ", ".join(f"{size:,}: {figure:,.0f}" for size, figure, _ in figures)
                collected = ", ".join(f"{size:,}: {share:,.1f}" for size, _, share in figures)
                ratio = figures[-1][1] / figures[0][1] if len(figures) > 1 else float("nan")
                print(
                    f"| {store_name} | {curve} | {work} | {cells} | {ratio:.2f} | {collected} |",
                    flush=True,
                )
    finally:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
