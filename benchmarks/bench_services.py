"""AsyncDesk throughput beside the sync desk, and the latency from a commit to Redis.

Run on demand (it is not a test)::

    scripts/with-redis.sh scripts/with-postgres.sh .venv/bin/python benchmarks/bench_services.py
    LIVECHAT_PG_OPTIONS= scripts/with-redis.sh scripts/with-postgres.sh \\
        .venv/bin/python benchmarks/bench_services.py        # PostgreSQL with fsync on

1. **Throughput.** The same work — chat lifecycles of six commands (``start_chat``,
   ``send_customer_message``, ``accept``, ``send_agent_message``, ``end``,
   ``submit_wrap_up``), each worker with its own queue and agent — done by

   * one :class:`AsyncDesk` with 100 concurrent coroutines (one event loop, one
     process; the commands that queued up are committed together: on SQLite by the
     desk's thread, on PostgreSQL through psycopg's async connections on the loop, 4 by
     default, and also through one, ``connections=1``), and
   * the sync :class:`Desk` in 4 processes (one command, one commit),

   on SQLite (``synchronous=FULL``, the default) and on PostgreSQL when
   ``LIVECHAT_TEST_POSTGRES`` is set, in the same run, alternating over ``--rounds``
   rounds; medians of commands per second and their ratio (async ÷ sync).

2. **Commit to Redis.** A sync desk (and, on PostgreSQL, also an :class:`AsyncDesk`)
   commits commands at a steady pace while a
   :class:`Relay` (in a thread) publishes to Redis Streams and a consumer blocks on
   ``XREAD``; latency = the entry's arrival minus the moment the command returned
   (committed). p50 and p99 per store: SQLite (the relay polls every ``--poll``
   seconds) and PostgreSQL (woken by ``NOTIFY``). Needs ``LIVECHAT_TEST_REDIS``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from livechat_core import AsyncDesk, Desk, Relay
from livechat_core.adapters.sqlite import SqliteStore
from livechat_core.ports import Store

COMMANDS_PER_LIFECYCLE = 6


# --- throughput --------------------------------------------------------------------------


def _setup(desk: Desk, workers: int) -> None:
    for n in range(workers):
        desk.add_queue(f"q{n}", ["Resolved"])
        desk.login(f"a{n}", f"Agent {n}", [f"q{n}"], capacity=1)
        desk.set_available(f"a{n}")


def _sync_lifecycles(desk: Desk, n: int, count: int) -> None:
    agent, queue = f"a{n}", f"q{n}"
    for number in range(count):
        chat = desk.start_chat(queue, "Karel Novák", "karel@example.com")
        desk.send_customer_message(chat, f"Dobrý den, dotaz číslo {number}")
        desk.accept(agent, chat)
        desk.send_agent_message(agent, chat, "Dobrý den, jak mohu pomoci?")
        desk.end(agent, chat)
        desk.submit_wrap_up(agent, chat, "Resolved")


async def _async_lifecycles(desk: AsyncDesk, n: int, count: int) -> None:
    agent, queue = f"a{n}", f"q{n}"
    for number in range(count):
        chat = await desk.start_chat(queue, "Karel Novák", "karel@example.com")
        await desk.send_customer_message(chat, f"Dobrý den, dotaz číslo {number}")
        await desk.accept(agent, chat)
        await desk.send_agent_message(agent, chat, "Dobrý den, jak mohu pomoci?")
        await desk.end(agent, chat)
        await desk.submit_wrap_up(agent, chat, "Resolved")


def _process_worker(factory: Callable[[], Store], n: int, count: int, start: Any) -> None:
    store = factory()
    desk = Desk(store=store)
    start.wait()
    _sync_lifecycles(desk, n, count)
    store.close()


def sync_rate(factory: Callable[[], Store], processes: int, per_process: int) -> float:
    """Commands per second of the sync desk in ``processes`` processes."""
    store = factory()
    _setup(Desk(store=store), processes)
    store.close()
    context = multiprocessing.get_context("fork")
    start = context.Event()
    children = [
        context.Process(target=_process_worker, args=(factory, n, per_process, start))
        for n in range(processes)
    ]
    for child in children:
        child.start()
    time.sleep(0.3)  # every child has opened its store
    began = time.perf_counter()
    start.set()
    for child in children:
        child.join()
        assert child.exitcode == 0, f"a worker failed ({child.exitcode})"
    return processes * per_process * COMMANDS_PER_LIFECYCLE / (time.perf_counter() - began)


def async_rate(
    factory: Callable[[], Store], coroutines: int, per_coroutine: int, **options: Any
) -> float:
    """Commands per second of one AsyncDesk with ``coroutines`` concurrent coroutines."""
    store = factory()
    _setup(Desk(store=store), coroutines)

    async def run() -> float:
        async with AsyncDesk(store=store, **options) as desk:
            began = time.perf_counter()
            await asyncio.gather(
                *(_async_lifecycles(desk, n, per_coroutine) for n in range(coroutines))
            )
            return time.perf_counter() - began

    seconds = asyncio.run(run())
    store.close()
    return coroutines * per_coroutine * COMMANDS_PER_LIFECYCLE / seconds


@contextlib.contextmanager
def sqlite_factory() -> Iterator[Callable[[], Callable[[], Store]]]:
    directory = tempfile.mkdtemp(prefix="bench-services-")

    def fresh() -> Callable[[], Store]:
        path = os.path.join(directory, f"{uuid.uuid4().hex}.db")
        return lambda: SqliteStore(path)

    yield fresh


@contextlib.contextmanager
def postgres_factory(dsn: str) -> Iterator[Callable[[], Callable[[], Store]]]:
    import psycopg

    from livechat_core.adapters.postgres import PostgresStore

    schemas: list[str] = []

    def fresh() -> Callable[[], Store]:
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        schemas.append(schema)
        return lambda: PostgresStore(dsn, schema=schema)

    try:
        yield fresh
    finally:
        with psycopg.connect(dsn, autocommit=True) as connection:
            for schema in schemas:
                connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def throughput(args: argparse.Namespace) -> None:
    stores: list[tuple[str, Any]] = [("SQLite (synchronous=FULL)", sqlite_factory())]
    dsn = os.environ.get("LIVECHAT_TEST_POSTGRES")
    if dsn:
        stores.append(("PostgreSQL", postgres_factory(dsn)))
    total = args.lifecycles
    print(f"Throughput: {total} lifecycles ({total * COMMANDS_PER_LIFECYCLE} commands) per run")
    for label, manager in stores:
        with manager as fresh:
            async_rates, sync_rates, single_rates = [], [], []
            postgres = label == "PostgreSQL"
            for _ in range(args.rounds):
                sync_rates.append(sync_rate(fresh(), 4, total // 4))
                async_rates.append(async_rate(fresh(), 100, max(1, total // 100)))
                if postgres:  # the same desk on one async connection
                    single_rates.append(
                        async_rate(fresh(), 100, max(1, total // 100), connections=1)
                    )
            a, s = statistics.median(async_rates), statistics.median(sync_rates)
            print(
                f"  {label:28} AsyncDesk x100 coroutines {a:8.0f} cmd/s | "
                f"sync Desk x4 processes {s:8.0f} cmd/s | ratio {a / s:5.2f} "
                f"(medians of {args.rounds} rounds; async {sorted(round(x) for x in async_rates)}, "
                f"sync {sorted(round(x) for x in sync_rates)})"
            )
            if postgres:
                one = statistics.median(single_rates)
                print(
                    f"  {'':28} AsyncDesk, 1 connection  {one:8.0f} cmd/s | ratio {one / s:5.2f} "
                    f"({sorted(round(x) for x in single_rates)})"
                )


def connections(args: argparse.Namespace) -> None:
    """The PostgreSQL AsyncDesk alone with 1, 2 and 4 async connections, interleaved."""
    dsn = os.environ.get("LIVECHAT_TEST_POSTGRES")
    if not dsn:
        print("Connections: skipped (LIVECHAT_TEST_POSTGRES is not set)")
        return
    counts = (1, 2, 4)
    rates: dict[int, list[float]] = {count: [] for count in counts}
    with postgres_factory(dsn) as fresh:
        for _ in range(args.rounds):
            for count in counts:
                per = max(1, args.lifecycles // 100)
                rates[count].append(async_rate(fresh(), 100, per, connections=count))
    print(f"PostgreSQL AsyncDesk x100 coroutines by connections ({args.rounds} rounds):")
    for count in counts:
        print(
            f"  connections={count}  {statistics.median(rates[count]):6.0f} cmd/s "
            f"(median; {sorted(round(x) for x in rates[count])})"
        )


# --- commit to Redis ---------------------------------------------------------------------


def latency(args: argparse.Namespace) -> None:
    url = os.environ.get("LIVECHAT_TEST_REDIS")
    if not url:
        print("Commit to Redis: skipped (LIVECHAT_TEST_REDIS is not set)")
        return
    targets: list[tuple[str, Any, bool]] = [("SQLite (relay polls)", sqlite_factory(), False)]
    dsn = os.environ.get("LIVECHAT_TEST_POSTGRES")
    if dsn:
        targets.append(("PostgreSQL (NOTIFY)", postgres_factory(dsn), False))
        targets.append(("PostgreSQL, AsyncDesk", postgres_factory(dsn), True))
    print(
        f"Commit to Redis: {args.commands} commands at {args.pace:.0f}/s, relay poll "
        f"{args.poll} s (SQLite); milliseconds from the command's return to XREAD"
    )
    for label, manager, use_async in targets:
        with manager as fresh:
            samples, missing = commit_to_redis(fresh(), url, args, use_async)
            p50 = statistics.median(samples)
            p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
            lost = f", {missing} missing" if missing else ""
            print(
                f"  {label:24} p50 {p50:7.1f} ms   p99 {p99:7.1f} ms   "
                f"({len(samples)} events{lost})"
            )


def commit_to_redis(
    factory: Callable[[], Store], url: str, args: argparse.Namespace, use_async: bool = False
) -> tuple[list[float], int]:
    """Milliseconds from each command's return to its event's arrival through Redis,
    sorted; and how many events never arrived. ``use_async``: the commands go through an
    :class:`AsyncDesk` (on PostgreSQL: its async connection) instead of a sync desk."""
    from redis import Redis

    from livechat_core.adapters.redis import RedisStreamTransport, decode_entry

    store = factory()
    desk = Desk(store=store)
    _setup(desk, 1)
    stream = f"bench:{uuid.uuid4().hex}"
    client: Any = Redis.from_url(url)
    relay_store = factory()
    relay = Relay(
        relay_store, RedisStreamTransport(url, stream=stream), name=stream, poll_interval=args.poll
    )
    relay.publish_pending()
    committed: dict[str, float] = {}
    arrived: dict[str, float] = {}
    stop = threading.Event()

    def consume() -> None:
        last = "$"
        while not stop.is_set():
            for _, entries in client.xread({stream: last}, block=200) or []:
                now = time.monotonic()
                for entry_id, fields in entries:
                    last = entry_id
                    arrived.setdefault(decode_entry(fields).id, now)

    consumer = threading.Thread(target=consume)
    consumer.start()
    relaying = threading.Thread(target=relay.run, args=(stop,))
    relaying.start()
    time.sleep(0.5)
    pause = 1.0 / args.pace
    if use_async:

        async def drive() -> None:
            async with AsyncDesk(store=store) as face:
                chat = await face.start_chat("q0", "Karel", "k@example.com")
                for number in range(args.commands):
                    events = await face.send_customer_message(chat, f"zpráva {number}")
                    done = time.monotonic()
                    for event in events:
                        committed[event.id] = done
                    await asyncio.sleep(pause)

        asyncio.run(drive())
    else:
        chat = desk.start_chat("q0", "Karel", "k@example.com")
        for number in range(args.commands):
            events = desk.send_customer_message(chat, f"zpráva {number}")
            done = time.monotonic()
            for event in events:
                committed[event.id] = done
            time.sleep(pause)
    deadline = time.monotonic() + 30
    while set(committed) - set(arrived) and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    consumer.join()
    relaying.join()
    samples = sorted((arrived[k] - committed[k]) * 1000 for k in committed if k in arrived)
    client.close()
    store.close()
    relay_store.close()
    return samples, len(committed) - len(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--lifecycles", type=int, default=400, help="per run (default 400)")
    parser.add_argument("--commands", type=int, default=300, help="latency: commands sent")
    parser.add_argument("--pace", type=float, default=100.0, help="latency: commands per second")
    parser.add_argument("--poll", type=float, default=0.05, help="latency: relay poll (SQLite)")
    parser.add_argument(
        "--only",
        choices=["throughput", "latency", "connections"],
        default=None,
        help="one part; 'connections' (not run by default): the PostgreSQL AsyncDesk "
        "with 1, 2 and 4 connections",
    )
    args = parser.parse_args()
    if args.only in (None, "throughput"):
        throughput(args)
    if args.only in (None, "latency"):
        latency(args)
    if args.only == "connections":
        connections(args)


if __name__ == "__main__":
    main()
