"""Commands and chat lifecycles per second on each store, beside the database's own limit.

Run on demand (it is not a test)::

    .venv/bin/python benchmarks/bench_stores.py                      # memory and SQLite
    LIVECHAT_PG_OPTIONS= scripts/with-postgres.sh \\
        .venv/bin/python benchmarks/bench_stores.py                  # + PostgreSQL, fsync on

The store's own CPU per command, without the disk's flush (``--cpu OFF``, timed), and
its instructions, which other processes on the machine do not change: the difference of
two runs under valgrind, ``N`` commands and none, divided by ``N``::

    for n in 0 600; do
        valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null \\
            .venv/bin/python benchmarks/bench_stores.py --cpu OFF --batches '' --commands $n
    done

A lifecycle is six commands: ``start_chat`` (routed to the agent at once),
``send_customer_message``, ``accept``, ``send_agent_message``, ``end``,
``submit_wrap_up``; each command is one store transaction (the desk has no transport,
so events stay in the outbox).

Beside each store, the database's own limit on the same machine and settings. On a
shared machine the disk's flush time drifts by several times within seconds, so the two
are measured *interleaved*: each of ``--rounds`` rounds alternates short slices
(``--slice`` seconds) of the baseline and of the store until each has run ``--seconds``,
and the round's ratio is the store's rate over the baseline's in the same slices; medians
of the rounds are reported:

* SQLite: a bare ``BEGIN IMMEDIATE; INSERT; COMMIT`` loop on a WAL file with the same
  ``synchronous`` setting. Target: the store (``synchronous=FULL``, its default)
  sustains >= 1/3 of it.
* PostgreSQL: ``pgbench -N`` (simple update) with 4 clients on the same server, against
  the store driven by 4 worker processes. Target: >= 1/2 of pgbench's rate.

Group commit (``desk.batch()``, SPEC section 10): the same commands in blocks of 10 and
of 100, one commit per block, on SQLite ``synchronous=FULL`` and PostgreSQL (4 worker
processes), beside the same bare loop / pgbench interleaved with them. Target with blocks
of 100: more commands per second than the bare loop commits transactions (ratio above
1.0). Nothing of the baseline changes between the rows: the same loop, file settings and
pgbench options.
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
from typing import Any

from livechat_core import Desk, LivechatError, MemoryStore, RetriesExhausted
from livechat_core.adapters.sqlite import SqliteStore, Synchronous
from livechat_core.ports import Store

COMMANDS_PER_LIFECYCLE = 6
Pair = tuple[float, float]  # the baseline's rate, the store's


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
    runner = StoreRunner(store, batch)
    commands, elapsed = runner.run(seconds)
    return commands / elapsed


class StoreRunner:
    """One desk in this process running lifecycles (in ``desk.batch()`` blocks of
    ``batch``), in slices: it resumes where the last slice stopped."""

    def __init__(self, store: Store, batch: int = 0) -> None:
        prepare(store, 1)
        self.desk = Desk(store=store)
        self.batch = batch
        lifecycles(self.desk, "agent0", "queue0", 3)  # warm up
        self.steps = lifecycle_steps(self.desk, "agent0", "queue0")

    def run(self, seconds: float) -> tuple[int, float]:
        """Commands done in about ``seconds``, and the seconds they took."""
        commands, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            if self.batch:
                batched(self.desk, self.steps, self.batch, self.batch)
                commands += self.batch
            else:
                for _ in range(COMMANDS_PER_LIFECYCLE):
                    next(self.steps)  # each command its own transaction
                commands += COMMANDS_PER_LIFECYCLE
        return commands, time.perf_counter() - start


class BareSqlite:
    """A bare ``BEGIN IMMEDIATE; INSERT; COMMIT`` loop on a WAL file with the store's
    ``synchronous`` setting, in slices."""

    def __init__(self, path: str, synchronous: str) -> None:
        self.connection = sqlite3.connect(path, isolation_level=None)
        self.connection.execute("PRAGMA journal_mode=WAL")
        self.connection.execute(f"PRAGMA synchronous={synchronous}")
        self.connection.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, payload TEXT)")
        self.payload = "x" * 200

    def run(self, seconds: float) -> tuple[int, float]:
        """Transactions committed in about ``seconds``, and the seconds they took."""
        execute = self.connection.execute
        done, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            for _ in range(10):
                execute("BEGIN IMMEDIATE")
                execute("INSERT INTO t (payload) VALUES (?)", (self.payload,))
                execute("COMMIT")
            done += 10
        return done, time.perf_counter() - start

    def close(self) -> None:
        self.connection.close()


def interleaved(
    seconds: float, slice_seconds: float, baseline: BareSqlite, store: StoreRunner
) -> tuple[float, float]:
    """Alternate slices of the baseline and the store until each ran ``seconds``; the
    baseline's rate and the store's, over the same stretch of time."""
    totals = [0, 0.0, 0, 0.0]  # baseline count, seconds; store count, seconds
    while totals[1] < seconds or totals[3] < seconds:
        count, elapsed = baseline.run(slice_seconds)
        totals[0] += count
        totals[1] += elapsed
        count, elapsed = store.run(slice_seconds)
        totals[2] += count
        totals[3] += elapsed
    return totals[0] / totals[1], totals[2] / totals[3]


def _worker(
    store: Store,
    worker: int,
    slices: int,
    slice_seconds: float,
    barrier: Any,
    results: Any,
    batch: int = 0,
) -> None:
    """One worker process: warms up, then runs ``slices`` slices of ``slice_seconds``,
    each between two waits on ``barrier`` (the main process runs pgbench between them);
    puts (commands per second, lifecycles given up) into ``results``."""
    desk = Desk(store=store)
    agent, queue = f"agent{worker}", f"queue{worker}"
    lifecycles(desk, agent, queue, 2)  # warm up, connect
    steps = lifecycle_steps(desk, agent, queue)
    done = failed = 0
    elapsed = 0.0
    for _ in range(slices):
        barrier.wait()
        begin = time.perf_counter()
        while time.perf_counter() < begin + slice_seconds:
            if batch:
                batched(desk, steps, batch, batch)
                done += batch
                continue
            try:
                lifecycles(desk, agent, queue, 1)
            except RetriesExhausted:
                # A command kept losing (serializable mode): count it, finish what the
                # agent holds, go on with a fresh chat.
                failed += 1
                _recover(desk, agent)
                continue
            done += COMMANDS_PER_LIFECYCLE
        elapsed += time.perf_counter() - begin
        barrier.wait()
    store.close()
    results.put((done / elapsed, failed))


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


def run_parallel(
    store: Store,
    workers: int,
    seconds: float,
    slice_seconds: float,
    between: Callable[[], float],
    batch: int = 0,
) -> tuple[float, float, int]:
    """``workers`` processes, each with its own desk, agent and queue (in blocks of
    ``batch``), running in slices with ``between()`` (pgbench) run in the pauses: the
    mean of what ``between`` returned, the workers' commands per second, and how many
    lifecycles were abandoned after a command exhausted its retries."""
    prepare(store, workers)
    context = multiprocessing.get_context("spawn")
    slices = max(1, round(seconds / slice_seconds))
    barrier = context.Barrier(workers + 1)
    results = context.Queue()
    processes = [
        context.Process(
            target=_worker,
            args=(store, w, slices, slice_seconds, barrier, results, batch),
        )
        for w in range(workers)
    ]
    for process in processes:
        process.start()
    baselines = []
    try:
        for _ in range(slices):
            barrier.wait()  # the workers run their slice
            barrier.wait()  # ... and pause
            baselines.append(between())
        counts = [results.get(timeout=600) for _ in processes]
    finally:
        for process in processes:
            process.join(timeout=60)
    rate = sum(rate for rate, _ in counts)
    return statistics.mean(baselines), rate, sum(failed for _, failed in counts)


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


def pgbench_init(dsn: str) -> None:
    """pgbench's tables (scale 4) in ``dsn``'s database."""
    tool = _pg_tool("pgbench")
    subprocess.run([tool, "-q", "-i", "-s", "4", dsn], check=True, capture_output=True)


def pgbench(dsn: str, clients: int, seconds: float) -> float:
    """pgbench's simple-update (``-N``) rate with ``clients`` clients, for ``seconds``
    (whole seconds, at least one), on tables made by :func:`pgbench_init`."""
    tool = _pg_tool("pgbench")
    duration = str(max(1, round(seconds)))
    result = subprocess.run(
        [tool, "-N", "-c", str(clients), "-j", str(clients), "-T", duration, dsn],
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
    rounds: int, measure: Callable[[], tuple[float, float]]
) -> tuple[float, float, float, list[float]]:
    """``rounds`` runs of ``measure`` (the baseline's rate and the store's, interleaved);
    the medians of each and of the per-round ratios, and those ratios."""
    pairs = [measure() for _ in range(rounds)]
    ratios = [rate / base for base, rate in pairs]
    return (
        statistics.median(base for base, _ in pairs),
        statistics.median(rate for _, rate in pairs),
        statistics.median(ratios),
        ratios,
    )


def _ratio_text(ratio: float, ratios: list[float], target: str) -> str:
    rounds = ", ".join(f"{value:.2f}" for value in ratios)
    return f"{ratio:.2f} (rounds {rounds}; target {target})"


def cpu_per_command(
    synchronous: str, batches: list[int], rounds: int = 3, commands: int | None = None
) -> None:
    """Print the process CPU (user and system) per command of the SQLite store, medians
    of ``rounds`` runs of 1.5 s, unbatched and in blocks of each size: what the store
    costs without the disk's flush, to compare versions (``PYTHONPATH`` on a copy of
    ``src`` at another commit).

    With ``commands``, run exactly that many commands after a fixed warm-up instead and
    print nothing: the same work every time, for counting instructions (valgrind's
    cachegrind on N commands minus a run with 0 is the cost of N commands).
    ``synchronous="memory"`` runs the same commands on the memory store instead: the
    desk and the core without any store I/O, to tell the SQLite layer's share."""
    directory = tempfile.mkdtemp(prefix="livechat-bench-")
    try:
        for size in [0, *batches]:
            path = os.path.join(directory, f"cpu-{size}.db")
            with contextlib.ExitStack() as stack:
                store: Store
                if synchronous == "memory":
                    store = MemoryStore()
                else:
                    store = stack.enter_context(
                        SqliteStore(path, synchronous=synchronous)  # type: ignore[arg-type]
                    )
                runner = StoreRunner(store, size)
                if commands is not None:
                    for _ in range(120):  # warm-up: 20 lifecycles, the same every run
                        next(runner.steps)
                    if size:
                        batched(runner.desk, runner.steps, size, commands)
                    else:
                        for _ in range(commands):
                            next(runner.steps)
                    continue
                runner.run(0.3)
                figures = []
                for _ in range(rounds):
                    start = time.process_time()
                    done, _ = runner.run(1.5)
                    figures.append((time.process_time() - start) / done * 1e6)
            each = ", ".join(f"{figure:.0f}" for figure in figures)
            name = (
                "MemoryStore"
                if synchronous == "memory"
                else f"SqliteStore synchronous={synchronous}"
            )
            print(
                f"{name}, batch {size or 'none'}: "
                f"{statistics.median(figures):.0f} µs CPU per command ({each})"
            )
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (medians reported)")
    parser.add_argument(
        "--slice",
        type=float,
        default=1.0,
        help="seconds of each interleaved slice (pgbench: whole seconds)",
    )
    parser.add_argument("--postgres", default=os.environ.get("LIVECHAT_TEST_POSTGRES"))
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument(
        "--batches", default="10,100", help="desk.batch() sizes, comma-separated ('' for none)"
    )
    parser.add_argument("--serializable", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument(
        "--stores", default="memory,sqlite,postgres", help="which stores, comma-separated"
    )
    parser.add_argument(
        "--cpu",
        metavar="SYNCHRONOUS",
        help="only the SQLite store's process CPU per command (no baseline, no disk "
        "wait), with this synchronous setting, unbatched and in each --batches size "
        "('memory': the same commands on the memory store)",
    )
    parser.add_argument(
        "--commands",
        type=int,
        metavar="N",
        help="with --cpu: run exactly N commands after a fixed warm-up, untimed, and print "
        "nothing (count instructions with valgrind on N and on 0 commands)",
    )
    arguments = parser.parse_args()
    stores = arguments.stores.split(",")
    if arguments.cpu:
        sizes = [int(size) for size in arguments.batches.split(",") if size]
        cpu_per_command(arguments.cpu, sizes, commands=arguments.commands)
        return
    batches = [int(size) for size in arguments.batches.split(",") if size]
    seconds, rounds, slice_seconds = arguments.seconds, arguments.rounds, arguments.slice

    print(
        f"Medians of {rounds} rounds; in each, the database's own limit and the store run "
        f"in alternating slices of {slice_seconds:g} s, {seconds:g} s each in all.\n"
    )
    print("| store | commands/s | lifecycles/s | database's own limit (tx/s) | ratio |")
    print("|---|---:|---:|---:|---:|")
    if "memory" in stores:
        _row("MemoryStore", run_single(MemoryStore(), seconds))
    directory = tempfile.mkdtemp(prefix="livechat-bench-")
    counter = itertools.count()
    try:
        levels: tuple[Synchronous, ...] = ("FULL", "NORMAL") if "sqlite" in stores else ()
        for synchronous in levels:
            sizes = [0, *batches] if synchronous == "FULL" else [0]
            for size in sizes:

                def measure(synchronous: Synchronous = synchronous, size: int = size) -> Pair:
                    number = next(counter)
                    bare = BareSqlite(os.path.join(directory, f"bare-{number}.db"), synchronous)
                    path = os.path.join(directory, f"desk-{number}.db")
                    try:
                        with SqliteStore(path, synchronous=synchronous) as store:
                            runner = StoreRunner(store, size)
                            return interleaved(seconds, slice_seconds, bare, runner)
                    finally:
                        bare.close()

                base, rate, ratio, ratios = _rounds(rounds, measure)
                if size:
                    name = f"SqliteStore synchronous={synchronous}, desk.batch() of {size}"
                    target = "> 1.0" if size >= 100 else "none"
                elif synchronous == "FULL":
                    name = f"SqliteStore synchronous={synchronous} (the default)"
                    target = ">= 0.33"
                else:
                    name = f"SqliteStore synchronous={synchronous}"
                    target = "none: no fsync to share"
                _row(
                    name,
                    rate,
                    f"{base:,.0f} (bare INSERT+COMMIT)",
                    _ratio_text(ratio, ratios, target),
                )
    finally:
        shutil.rmtree(directory, ignore_errors=True)

    if "postgres" not in stores:
        return
    if not arguments.postgres:
        print("\n(PostgreSQL skipped: no --postgres / LIVECHAT_TEST_POSTGRES)")
        return
    from livechat_core.adapters.postgres import Concurrency, PostgresStore

    workers = arguments.workers
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
        for size in [0, *batches] if mode == "lock" else [0]:
            failures: list[int] = []

            def parallel(
                mode: Concurrency = mode, size: int = size, failures: list[int] = failures
            ) -> Pair:
                with (
                    scratch_database(arguments.postgres) as bench_dsn,
                    scratch_database(arguments.postgres) as dsn,
                ):
                    pgbench_init(bench_dsn)
                    shared = PostgresStore(dsn, concurrency=mode)
                    try:
                        base, rate, failed = run_parallel(
                            shared,
                            workers,
                            seconds,
                            slice_seconds,
                            lambda: pgbench(bench_dsn, workers, slice_seconds),
                            batch=size,
                        )
                    finally:
                        shared.close()
                failures.append(failed)
                return base, rate

            base, rate, ratio, ratios = _rounds(rounds, parallel)
            gave_up = sum(failures)
            name = f"PostgresStore {mode}, {workers} processes"
            if size:
                name += f", desk.batch() of {size}"
            if gave_up:
                name += f" ({gave_up} lifecycles gave up: retries exhausted)"
            if size:
                target = "> 1.0" if size >= 100 else "none"
            else:
                target = ">= 0.5" if mode == "lock" else "none"
            _row(
                name,
                rate,
                f"{base:,.0f} (pgbench -N, {workers} clients)",
                _ratio_text(ratio, ratios, target),
            )


if __name__ == "__main__":
    main()
