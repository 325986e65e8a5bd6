"""Commands and chat lifecycles per second on each store, beside the database's own limit.

Run on demand (it is not a test)::

    .venv/bin/python benchmarks/bench_stores.py                      # memory and SQLite
    LIVECHAT_PG_OPTIONS= scripts/with-postgres.sh \\
        .venv/bin/python benchmarks/bench_stores.py                  # + PostgreSQL, fsync on

A lifecycle is six commands: ``start_chat`` (routed to the agent at once),
``send_customer_message``, ``accept``, ``send_agent_message``, ``end``,
``submit_wrap_up``; each command is one store transaction (the desk has no transport,
so events stay in the outbox).

Beside each store, the database's own limit on the same machine and settings, measured
right before the store in each of ``--rounds`` rounds (medians reported), so that both
sides see the same drift of a noisy machine:

* SQLite: a bare ``BEGIN IMMEDIATE; INSERT; COMMIT`` loop on a WAL file with the same
  ``synchronous`` setting. Target: the store (``synchronous=FULL``, its default)
  sustains >= 1/3 of it.
* PostgreSQL: ``pgbench -N`` (simple update) with 4 clients on the same server, against
  the store driven by 4 worker processes. Target: >= 1/2 of pgbench's rate.

Group commit (``desk.batch()``, SPEC section 10): the same commands in blocks of 10 and
of 100, one commit per block, on SQLite ``synchronous=FULL`` and PostgreSQL (4 worker
processes), beside the same bare loop / pgbench measured in the same round. Target with
blocks of 100: more commands per second than the bare loop commits transactions (ratio
above 1.0).
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import itertools
import multiprocessing
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator

from livechat_core import Desk, LivechatError, MemoryStore, RetriesExhausted
from livechat_core.adapters.sqlite import SqliteStore, Synchronous
from livechat_core.ports import Store

COMMANDS_PER_LIFECYCLE = 6


def lifecycles(desk: Desk, agent: str, queue: str, count: int) -> None:
    """``count`` chat lifecycles handled by ``agent`` in ``queue``."""
    for number in range(count):
        chat = desk.start_chat(queue, "Karel Novák", "karel@example.com")
        desk.send_customer_message(chat, f"Dobrý den, dotaz číslo {number}")
        desk.accept(agent, chat)
        desk.send_agent_message(agent, chat, "Dobrý den, hned to vyřešíme.")
        desk.end(agent, chat)
        desk.submit_wrap_up(agent, chat, "Resolved")


def lifecycle_steps(desk: Desk, agent: str, queue: str) -> Iterator[None]:
    """The commands of endless lifecycles, one per ``next()``: blocks of a batch may end
    in the middle of a lifecycle."""
    for number in itertools.count():
        chat = desk.start_chat(queue, "Karel Novák", "karel@example.com")
        yield
        desk.send_customer_message(chat, f"Dobrý den, dotaz číslo {number}")
        yield
        desk.accept(agent, chat)
        yield
        desk.send_agent_message(agent, chat, "Dobrý den, hned to vyřešíme.")
        yield
        desk.end(agent, chat)
        yield
        desk.submit_wrap_up(agent, chat, "Resolved")
        yield


def batched(desk: Desk, steps: Iterator[None], size: int, commands: int) -> None:
    """``commands`` commands of ``steps`` in ``desk.batch()`` blocks of ``size``."""
    for _ in range(commands // size):
        with desk.batch():
            for _ in range(size):
                next(steps)


def prepare(store: Store, workers: int) -> None:
    desk = Desk(store=store)
    for worker in range(workers):
        desk.add_queue(f"queue{worker}", ["Resolved"], offer_timeout=3600.0)
        desk.login(f"agent{worker}", f"Agent {worker}", [f"queue{worker}"])
        desk.set_available(f"agent{worker}")


def run_single(store: Store, seconds: float, batch: int = 0) -> float:
    """Commands per second of one desk in this process (in blocks of ``batch``)."""
    prepare(store, 1)
    desk = Desk(store=store)
    lifecycles(desk, "agent0", "queue0", 3)  # warm up
    if batch:
        steps = lifecycle_steps(desk, "agent0", "queue0")
        commands, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            batched(desk, steps, batch, max(batch, 60))
            commands += max(batch, 60) // batch * batch
        return commands / (time.perf_counter() - start)
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        lifecycles(desk, "agent0", "queue0", 10)
        done += 10
    return done * COMMANDS_PER_LIFECYCLE / (time.perf_counter() - start)


def _worker(
    store: Store, worker: int, seconds: float, start_at: float, batch: int = 0
) -> tuple[float, int]:
    """Commands per second of this worker, and how many lifecycles it gave up. Each worker
    starts at ``start_at`` (or, on a machine so busy that its warm-up ran late, right
    after it) and measures its own ``seconds``."""
    desk = Desk(store=store)
    lifecycles(desk, f"agent{worker}", f"queue{worker}", 2)  # warm up, connect
    while time.time() < start_at:
        time.sleep(0.001)
    begin = time.time()
    if batch:
        steps = lifecycle_steps(desk, f"agent{worker}", f"queue{worker}")
        commands = 0
        while time.time() < begin + seconds:
            batched(desk, steps, batch, batch)
            commands += batch
        elapsed = time.time() - begin
        store.close()
        return commands / elapsed, 0
    done = failed = 0
    while time.time() < begin + seconds:
        try:
            lifecycles(desk, f"agent{worker}", f"queue{worker}", 1)
        except RetriesExhausted:
            # A command kept losing (serializable mode): count it, finish what the agent
            # holds, go on with a fresh chat.
            failed += 1
            _recover(desk, f"agent{worker}")
            continue
        done += 1
    elapsed = time.time() - begin
    store.close()
    return done * COMMANDS_PER_LIFECYCLE / elapsed, failed


def _recover(desk: Desk, agent_id: str) -> None:
    """Accept, end and wrap up whatever the agent still holds (errors ignored)."""
    for _ in range(3):
        agent = desk.agent(agent_id)
        for chat in (*agent.holding, *agent.wrapping):
            for step in (desk.accept, desk.end):
                with contextlib.suppress(LivechatError):
                    step(agent_id, chat)
            with contextlib.suppress(LivechatError):
                desk.submit_wrap_up(agent_id, chat, "Resolved")


def run_parallel(store: Store, workers: int, seconds: float, batch: int = 0) -> tuple[float, int]:
    """Commands per second of ``workers`` processes, each with its own desk, agent and
    queue (in blocks of ``batch``); and how many lifecycles were abandoned after a
    command exhausted its retries."""
    prepare(store, workers)
    context = multiprocessing.get_context("spawn")
    start_at = time.time() + 3.0
    with context.Pool(workers) as pool:
        counts = pool.starmap(
            _worker, [(store, w, seconds, start_at, batch) for w in range(workers)]
        )
    return sum(rate for rate, _ in counts), sum(failed for _, failed in counts)


def bare_sqlite(path: str, synchronous: str, seconds: float) -> float:
    """Transactions per second of a bare insert-and-commit loop (same file settings)."""
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as connection:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute(f"PRAGMA synchronous={synchronous}")
        connection.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, payload TEXT)")
        payload = "x" * 200
        done, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            for _ in range(50):
                connection.execute("BEGIN IMMEDIATE")
                connection.execute("INSERT INTO t (payload) VALUES (?)", (payload,))
                connection.execute("COMMIT")
            done += 50
        return done / (time.perf_counter() - start)


def _pg_tool(name: str) -> str:
    candidates = [os.path.join(os.environ.get("PGBIN", ""), name)]
    candidates += sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    found = shutil.which(name)
    candidates += [found] if found else []
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise SystemExit(f"{name} not found (set PGBIN)")


@contextlib.contextmanager
def scratch_database(server: str) -> Iterator[str]:
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import make_conninfo

    name = f"livechat_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_conninfo(server, dbname=name)
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def pgbench(dsn: str, clients: int, seconds: float) -> float:
    """pgbench's simple-update (``-N``) rate with ``clients`` clients."""
    tool = _pg_tool("pgbench")
    subprocess.run([tool, "-q", "-i", "-s", "4", dsn], check=True, capture_output=True)
    result = subprocess.run(
        [tool, "-N", "-c", str(clients), "-j", str(clients), "-T", str(round(seconds)), dsn],
        check=True,
        capture_output=True,
        text=True,
    )
    match = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", result.stdout)
    if match is None:
        raise SystemExit(f"cannot read pgbench's output:\n{result.stdout}")
    return float(match.group(1))


def _row(name: str, rate: float, limit: str = "", ratio: str = "") -> None:
    print(f"| {name} | {rate:,.0f} | {rate / COMMANDS_PER_LIFECYCLE:,.0f} | {limit} | {ratio} |")


def _rounds(
    rounds: int, baseline: Callable[[], float], store: Callable[[], float]
) -> tuple[float, float, float, list[float]]:
    """Alternate the baseline and the store ``rounds`` times, so that both see the same
    drift of a noisy machine; the medians of each and of the per-round ratios."""
    baselines: list[float] = []
    rates: list[float] = []
    for _ in range(rounds):
        baselines.append(baseline())
        rates.append(store())
    ratios = [rate / base for rate, base in zip(rates, baselines, strict=True)]
    return statistics.median(baselines), statistics.median(rates), statistics.median(ratios), ratios


def _ratio_text(ratio: float, ratios: list[float], target: str) -> str:
    rounds = ", ".join(f"{value:.2f}" for value in ratios)
    return f"{ratio:.2f} (rounds {rounds}; target {target})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="baseline/store alternations")
    parser.add_argument("--postgres", default=os.environ.get("LIVECHAT_TEST_POSTGRES"))
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument(
        "--batches", default="10,100", help="desk.batch() sizes, comma-separated ('' for none)"
    )
    parser.add_argument("--serializable", action=argparse.BooleanOptionalAction, default=True)
    arguments = parser.parse_args()
    batches = [int(size) for size in arguments.batches.split(",") if size]
    seconds, rounds = arguments.seconds, arguments.rounds

    print(
        f"Medians of {rounds} rounds; in each, the database's own limit is measured right "
        "before the store.\n"
    )
    print("| store | commands/s | lifecycles/s | database's own limit (tx/s) | ratio |")
    print("|---|---:|---:|---:|---:|")
    _row("MemoryStore", run_single(MemoryStore(), seconds))
    directory = tempfile.mkdtemp(prefix="livechat-bench-")
    counter = itertools.count()
    try:
        levels: tuple[Synchronous, ...] = ("FULL", "NORMAL")
        for synchronous in levels:

            def bare(synchronous: Synchronous = synchronous) -> float:
                path = os.path.join(directory, f"bare-{synchronous}-{next(counter)}.db")
                return bare_sqlite(path, synchronous, seconds)

            def desk(synchronous: Synchronous = synchronous) -> float:
                path = os.path.join(directory, f"desk-{synchronous}-{next(counter)}.db")
                with SqliteStore(path, synchronous=synchronous) as store:
                    return run_single(store, seconds)

            base, rate, ratio, ratios = _rounds(rounds, bare, desk)
            default = " (the default)" if synchronous == "FULL" else ""
            _row(
                f"SqliteStore synchronous={synchronous}{default}",
                rate,
                f"{base:,.0f} (bare INSERT+COMMIT)",
                _ratio_text(ratio, ratios, ">= 0.33" if default else "none: no fsync to share"),
            )
            if synchronous != "FULL":
                continue
            for size in batches:

                def desk_batched(size: int = size) -> float:
                    path = os.path.join(directory, f"batch-{size}-{next(counter)}.db")
                    with SqliteStore(path, synchronous="FULL") as store:
                        return run_single(store, seconds, batch=size)

                base, rate, ratio, ratios = _rounds(rounds, bare, desk_batched)
                _row(
                    f"SqliteStore synchronous=FULL, desk.batch() of {size}",
                    rate,
                    f"{base:,.0f} (bare INSERT+COMMIT)",
                    _ratio_text(ratio, ratios, "> 1.0" if size >= 100 else "none"),
                )
    finally:
        shutil.rmtree(directory, ignore_errors=True)

    if not arguments.postgres:
        print("\n(PostgreSQL skipped: no --postgres / LIVECHAT_TEST_POSTGRES)")
        return
    from livechat_core.adapters.postgres import Concurrency, PostgresStore

    workers = arguments.workers

    def bench() -> float:
        with scratch_database(arguments.postgres) as dsn:
            return pgbench(dsn, workers, seconds)

    modes: tuple[Concurrency, ...] = (
        ("lock", "serializable") if arguments.serializable else ("lock",)
    )
    for mode in modes:
        with scratch_database(arguments.postgres) as dsn:
            single = PostgresStore(dsn, concurrency=mode)
            try:
                _row(f"PostgresStore {mode}, 1 process", run_single(single, seconds))
            finally:
                single.close()
        failures: list[int] = []

        def parallel(mode: Concurrency = mode, failures: list[int] = failures) -> float:
            with scratch_database(arguments.postgres) as dsn:
                shared = PostgresStore(dsn, concurrency=mode)
                try:
                    rate, failed = run_parallel(shared, workers, seconds)
                finally:
                    shared.close()
            failures.append(failed)
            return rate

        base, rate, ratio, ratios = _rounds(rounds, bench, parallel)
        gave_up = sum(failures)
        _row(
            f"PostgresStore {mode}, {workers} processes"
            + (f" ({gave_up} lifecycles gave up: retries exhausted)" if gave_up else ""),
            rate,
            f"{base:,.0f} (pgbench -N, {workers} clients)",
            _ratio_text(ratio, ratios, ">= 0.5"),
        )
        if mode != "lock":
            continue
        for size in batches:

            def parallel_batched(size: int = size) -> float:
                with scratch_database(arguments.postgres) as dsn:
                    shared = PostgresStore(dsn, concurrency="lock")
                    try:
                        rate, _ = run_parallel(shared, workers, seconds, batch=size)
                    finally:
                        shared.close()
                return rate

            base, rate, ratio, ratios = _rounds(rounds, bench, parallel_batched)
            _row(
                f"PostgresStore lock, {workers} processes, desk.batch() of {size}",
                rate,
                f"{base:,.0f} (pgbench -N, {workers} clients)",
                _ratio_text(ratio, ratios, "> 1.0" if size >= 100 else "none"),
            )


if __name__ == "__main__":
    main()
