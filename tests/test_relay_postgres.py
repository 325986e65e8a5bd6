"""The event log, relays and workers on PostgreSQL (scripts/with-postgres.sh sets
LIVECHAT_TEST_POSTGRES): commits out of position order, LISTEN/NOTIFY, leases."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator, Sequence

import pytest

from livechat_core import Desk, Event
from livechat_core._relay import Relay, Worker
from livechat_core.events import AgentAvailable, OfferTimedOut
from livechat_core.ports import Changes
from livechat_core.testing import ManualClock
from service_fixtures import (
    Endpoint,
    busy_day,
    cli,
    kill_a_relay_mid_batch_and_restart,
    started,
    stop,
    wait_for,
)

psycopg = pytest.importorskip("psycopg")
from livechat_core.adapters.postgres import PostgresStore  # noqa: E402

pytestmark = pytest.mark.postgres
DSN = os.environ.get("LIVECHAT_TEST_POSTGRES", "")


OPENED: list[PostgresStore] = []


def open_store(schema: str) -> PostgresStore:
    """A store on ``schema``, closed when the test ends."""
    OPENED.append(PostgresStore(DSN, schema=schema))
    return OPENED[-1]


@pytest.fixture
def schema() -> Iterator[str]:
    if not DSN:
        pytest.skip("LIVECHAT_TEST_POSTGRES is not set (scripts/with-postgres.sh sets it)")
    name = f"relay_{uuid.uuid4().hex[:10]}"
    yield name
    while OPENED:
        OPENED.pop().close()
    with psycopg.connect(DSN, autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


class Sink:
    def __init__(self) -> None:
        self.events: list[Event] = []
        self.lock = threading.Lock()

    def publish(self, events: Sequence[Event]) -> None:
        with self.lock:
            self.events.extend(events)


def test_an_event_committed_after_a_later_position_is_not_skipped(schema: str) -> None:
    early, late = open_store(schema), open_store(schema)
    first = AgentAvailable(aggregate_id="jana", sequence=1, at=1.0)
    second = AgentAvailable(aggregate_id="petr", sequence=1, at=2.0)
    with early.transaction() as txn:
        txn.save(Changes(events=(first,)))  # takes the lower position, commits last
        with late.transaction() as other:
            other.save(Changes(events=(second,)))
        assert [event for _, event in late.log()] == [second]
        [(seen, _)] = late.log()
    assert late.log(after=seen) == [(seen + 1, first)]
    assert [event for _, event in early.log()] == [second, first]
    early.close()
    late.close()


def test_a_relay_is_woken_by_notify(schema: str) -> None:
    store = open_store(schema)
    sink = Sink()
    relay = Relay(open_store(schema), sink, poll_interval=120.0)
    stop = threading.Event()
    thread = threading.Thread(target=relay.run, args=(stop,))
    thread.start()
    try:
        wait_for(lambda: relay.holding, 30, "the lease")
        time.sleep(0.5)  # the relay is waiting now, for two minutes at most
        desk = Desk(store=store)
        desk.add_queue("support", ["Resolved"])
        wait_for(lambda: len(sink.events) == 1, 20, "a NOTIFY to wake the relay")
    finally:
        stop.set()
        thread.join(30)
    assert [event.id for event in sink.events] == ["queue:support:1"]
    store.close()


def test_one_relay_of_a_name_publishes_and_another_takes_over(schema: str) -> None:
    store = open_store(schema)
    busy_day(Desk(store=store), 3)
    first_sink, second_sink = Sink(), Sink()
    first = Relay(open_store(schema), first_sink, batch_size=4)
    second = Relay(open_store(schema), second_sink, batch_size=4)
    assert first.publish_pending() > 0
    busy_day(Desk(store=store), 1)
    assert second.publish_pending() == 0, "the first holds the advisory lock"
    first.close()  # its session ends: the lock is free
    assert second.publish_pending() > 0
    second.close()
    logged = [event for _, event in store.log(limit=100_000)]
    assert first_sink.events + second_sink.events == logged
    store.close()


def test_relays_in_threads_publish_each_event_once_in_order(schema: str) -> None:
    store = open_store(schema)
    desk = Desk(store=store)
    busy_day(desk, 10)
    sink = Sink()
    stop = threading.Event()
    relays = [Relay(open_store(schema), sink, batch_size=5, poll_interval=0.05) for _ in range(3)]
    threads = [threading.Thread(target=relay.run, args=(stop,)) for relay in relays]
    for thread in threads:
        thread.start()
    try:
        busy_day(desk, 10)
        expected = [event for _, event in store.log(limit=100_000)]
        wait_for(lambda: len(sink.events) >= len(expected), 60, "every event")
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    assert sink.events == expected
    store.close()


def test_workers_fire_each_deadline_once(schema: str) -> None:
    clock = ManualClock()
    setup = Desk(store=open_store(schema), clock=clock)
    setup.add_queue("support", ["Resolved"], offer_timeout=5.0)
    for n in range(10):
        setup.login(f"agent{n}", f"Agent {n}", ["support"])
        setup.set_available(f"agent{n}")
    chats = [setup.start_chat("support", f"C{n}", "c@example.com") for n in range(10)]
    before = setup.events_after(0, 100_000)[-1][0]
    clock.advance(6)
    workers = [Worker(Desk(store=open_store(schema), clock=clock), interval=0.01) for _ in range(3)]
    barrier = threading.Barrier(3)

    def tick_many(worker: Worker) -> None:
        barrier.wait()
        for _ in range(5):
            worker.tick()

    threads = [threading.Thread(target=tick_many, args=(worker,)) for worker in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    timed_out = [
        event.aggregate_id
        for chat in chats
        for event in setup.events(chat)
        if isinstance(event, OfferTimedOut)
    ]
    assert sorted(timed_out) == sorted(chats)
    fired = setup.events_after(before, 100_000)
    assert sum(worker.fired for worker in workers) == len(fired), "each event fired once"
    assert all(setup.agent(f"agent{n}").state == "rona" for n in range(10))


# --- faults, with real processes -----------------------------------------------------------

SECRET = "s3cret-for-tests"


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    server = Endpoint()
    yield server
    server.close()


def test_a_relay_killed_mid_batch_and_restarted_delivers_everything(
    schema: str, endpoint: Endpoint
) -> None:
    """``livechat-core relay`` on PostgreSQL SIGKILLed mid-batch, then restarted: every
    event delivered, in order per conversation, repeats only under the same id."""
    store = open_store(schema)
    busy_day(Desk(store=store), 40)
    stored = [event for _, event in store.log(0, 100_000)]
    arguments = ("relay", "--store", DSN, "--schema", schema, "--transport", endpoint.url)
    # The killed relay's lease is its session's advisory lock: the server frees it with
    # the dead connection, so the second relay takes over without waiting for a timeout.
    received = kill_a_relay_mid_batch_and_restart(
        (*arguments, "--batch", "50"), endpoint, stored, SECRET
    )
    assert set(received) == {event.id for event in stored}


def test_worker_processes_fire_each_deadline_once(schema: str) -> None:
    """Three ``livechat-core worker`` processes on one PostgreSQL schema: each offer
    times out once (one OfferTimedOut per chat, never two)."""
    desk = Desk(store=open_store(schema))
    desk.add_queue("support", ["Resolved"], offer_timeout=1.0)
    for n in range(12):
        desk.login(f"agent{n}", f"Agent {n}", ["support"])
        desk.set_available(f"agent{n}")
    workers = [
        cli("worker", "--store", DSN, "--schema", schema, "--interval", "0.05") for _ in range(3)
    ]
    for worker in workers:
        started(worker)
    chats = [desk.start_chat("support", f"C{n}", "c@example.com") for n in range(12)]

    def timed_out() -> list[Event]:
        return [
            event
            for chat in chats
            for event in desk.events(chat)
            if isinstance(event, OfferTimedOut)
        ]

    wait_for(lambda: len(timed_out()) >= 12, 60, "the offers to time out")
    time.sleep(0.5)  # the workers keep ticking: a second firing would show now
    results = [stop(worker) for worker in workers]
    assert [status for status, _, _ in results] == [0, 0, 0], [err for _, _, err in results]
    assert sorted(event.aggregate_id for event in timed_out()) == sorted(chats)
    assert all(desk.agent(f"agent{n}").state == "rona" for n in range(12))
    assert sum(err.count("worker fired") for _, _, err in results) >= 1
