"""Relays and workers on memory and SQLite stores; the webhook transport against a real
local HTTP server; the command line's ``relay`` and ``worker`` as real processes."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import pathlib
import threading
from collections.abc import Iterator, Sequence

import pytest

from livechat_core import Desk, Event, MemoryStore, SqliteStore, event_to_record
from livechat_core._relay import Relay, Worker
from livechat_core.adapters.webhook import (
    DeliveryStopped,
    WebhookTransport,
    jsonl_dead_letter,
    verify_signature,
)
from livechat_core.events import OfferTimedOut
from service_fixtures import (
    Endpoint,
    busy_day,
    cli,
    finish,
    kill_a_relay_mid_batch_and_restart,
    started,
    stop,
    wait_for,
)

SECRET = "s3cret-for-tests"


class ListTransport:
    def __init__(self, fail_on: set[int] | None = None) -> None:
        self.events: list[Event] = []
        self.calls = 0
        self.fail_on = fail_on or set()

    def publish(self, events: Sequence[Event]) -> None:
        self.calls += 1
        if self.calls in self.fail_on:
            raise ConnectionError("the broker is down")
        self.events.extend(events)


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    server = Endpoint()
    yield server
    server.close()


@pytest.fixture
def db(tmp_path: pathlib.Path) -> pathlib.Path:
    return tmp_path / "desk.db"


def all_events(store: SqliteStore | MemoryStore) -> list[Event]:
    return [event for _, event in store.log(limit=1_000_000)]


# --- the relay ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_a_relay_publishes_the_log_in_order_and_resumes(kind: str, db: pathlib.Path) -> None:
    store = MemoryStore() if kind == "memory" else SqliteStore(db, synchronous="OFF")
    desk = Desk(store=store)
    busy_day(desk, 10)
    transport = ListTransport()
    relay = Relay(store, transport, batch_size=7)
    assert relay.publish_pending() == len(all_events(store))
    assert transport.events == all_events(store)
    assert store.consumer_position("relay") == store.log(limit=1_000_000)[-1][0]
    assert store.pending() == [], "the relay keeps the outbox pruned"
    assert relay.publish_pending() == 0
    busy_day(desk, 2)
    assert relay.publish_pending() > 0
    assert transport.events == all_events(store)
    store.close()


def test_a_failed_publish_is_sent_again_and_nothing_is_lost(db: pathlib.Path) -> None:
    store = SqliteStore(db, synchronous="OFF")
    busy_day(Desk(store=store), 10)
    transport = ListTransport(fail_on={3})
    relay = Relay(store, transport, batch_size=10)
    with pytest.raises(ConnectionError):
        relay.publish_pending()
    assert len(transport.events) == 20
    assert store.consumer_position("relay") == 20
    relay.publish_pending()
    assert transport.events == all_events(store)
    store.close()


def test_two_relays_of_one_name_never_publish_at_once(db: pathlib.Path) -> None:
    Desk(store=SqliteStore(db)).add_queue("support", ["Resolved"])
    first_store, second_store = SqliteStore(db), SqliteStore(db)
    second_transport = ListTransport()
    first = Relay(first_store, ListTransport())
    second = Relay(second_store, second_transport)
    other_name = Relay(SqliteStore(db), ListTransport(), name="audit")
    assert first.publish_pending() == 1
    assert second.publish_pending() == 0, "the first holds the lease"
    assert other_name.publish_pending() == 1, "another name has its own lease and position"
    first.close()
    busy_day(Desk(store=first_store), 1)
    assert second.publish_pending() > 0, "the lease passed on, from the saved position"
    assert second_transport.events == all_events(first_store)[1:]


def test_many_relays_in_threads_publish_each_event_once_in_order(db: pathlib.Path) -> None:
    busy_day(Desk(store=SqliteStore(db, synchronous="OFF")), 30)
    sink = ListTransport()
    lock = threading.Lock()

    class Shared:
        def publish(self, events: Sequence[Event]) -> None:
            with lock:
                sink.events.extend(events)

    stop_event = threading.Event()
    relays = [
        Relay(SqliteStore(db, synchronous="OFF"), Shared(), batch_size=5, poll_interval=0.05)
        for _ in range(4)
    ]
    threads = [threading.Thread(target=relay.run, args=(stop_event,)) for relay in relays]
    for thread in threads:
        thread.start()
    expected = all_events(SqliteStore(db))
    wait_for(lambda: len(sink.events) >= len(expected), 60, "every event")
    stop_event.set()
    for thread in threads:
        thread.join(30)
    assert sink.events == expected, "each event once, in log order"


def test_relay_progress_is_logged_without_customer_text(
    db: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = SqliteStore(db, synchronous="OFF")
    busy_day(Desk(store=store), 3)
    with caplog.at_level(logging.INFO, logger="livechat_core"):
        Relay(store, ListTransport(), batch_size=10).publish_pending()
    messages = [record.getMessage() for record in caplog.records]
    assert any("published 10 events up to position 10" in message for message in messages)
    assert not any("secret text" in message or "Customer" in message for message in messages)
    store.close()


# --- the webhook transport -------------------------------------------------------------------


def test_each_event_is_posted_signed_as_its_record(endpoint: Endpoint) -> None:
    desk = Desk()
    busy_day(desk, 2)
    events = all_events(desk.store)  # type: ignore[arg-type]
    WebhookTransport(endpoint.url, SECRET).publish(events)
    assert [item.record for item in endpoint.received] == [
        json.loads(json.dumps(event_to_record(e))) for e in events
    ]
    for item, event in zip(endpoint.received, events, strict=True):
        assert item.event_id == event.id
        expected = "sha256=" + hmac.new(SECRET.encode(), item.body, hashlib.sha256).hexdigest()
        assert item.signature == expected
        assert verify_signature(SECRET.encode(), item.body, item.signature)
        assert not verify_signature(b"other", item.body, item.signature)
        assert not verify_signature(SECRET.encode(), item.body + b" ", item.signature)


def test_a_failing_then_recovering_endpoint_gets_everything(endpoint: Endpoint) -> None:
    endpoint.answer = lambda n: 503 if n <= 5 or n % 7 == 0 else 200
    desk = Desk()
    busy_day(desk, 3)
    events = all_events(desk.store)  # type: ignore[arg-type]
    transport = WebhookTransport(endpoint.url, SECRET, backoff=0.01, max_attempts=10)
    transport.publish(events)
    assert endpoint.ids() == [e.id for e in events]
    assert transport.dead_lettered == 0
    assert endpoint.requests > len(events)


def test_after_n_failures_an_event_goes_to_the_dead_letter(
    endpoint: Endpoint, tmp_path: pathlib.Path
) -> None:
    endpoint.answer = lambda n: 503 if n <= 3 else 200
    letters = tmp_path / "dead.jsonl"
    desk = Desk()
    desk.add_queue("support", ["Resolved"])
    desk.login("jana", "Jana", ["support"])
    events = all_events(desk.store)  # type: ignore[arg-type]
    transport = WebhookTransport(
        endpoint.url,
        SECRET,
        backoff=0.01,
        max_attempts=3,
        dead_letter=jsonl_dead_letter(str(letters)),
    )
    transport.publish(events)
    assert endpoint.requests == 4
    assert endpoint.ids() == [events[1].id], "the next event goes on"
    [line] = letters.read_text(encoding="utf-8").splitlines()
    assert json.loads(line) == {"record": event_to_record(events[0]), "reason": "HTTP 503"}
    assert transport.dead_lettered == 1


def test_a_refusing_endpoint_dead_letters_at_once(endpoint: Endpoint) -> None:
    endpoint.answer = lambda n: 400
    letters: list[tuple[str, str]] = []
    desk = Desk()
    desk.add_queue("support", ["Resolved"])
    transport = WebhookTransport(
        endpoint.url,
        SECRET,
        backoff=0.01,
        dead_letter=lambda record, reason: letters.append((record["id"], reason)),
    )
    transport.publish(all_events(desk.store))  # type: ignore[arg-type]
    assert letters == [("queue:support:1", "HTTP 400")]
    assert endpoint.requests == 1


def test_closing_the_webhook_stops_its_retries(endpoint: Endpoint) -> None:
    endpoint.answer = lambda n: 503
    desk = Desk()
    desk.add_queue("support", ["Resolved"])
    transport = WebhookTransport(endpoint.url, SECRET, backoff=30.0, max_attempts=5)
    threading.Timer(0.3, transport.close).start()
    with pytest.raises(DeliveryStopped):
        transport.publish(all_events(desk.store))  # type: ignore[arg-type]
    assert transport.dead_lettered == 0


@pytest.mark.parametrize(
    ("url", "secret"), [("ftp://example.com/x", "k"), ("http://127.0.0.1:9/x", "")]
)
def test_bad_webhook_settings_are_refused(url: str, secret: str) -> None:
    with pytest.raises(ValueError, match="webhook"):
        WebhookTransport(url, secret)


def test_the_secret_is_not_in_the_repr(endpoint: Endpoint) -> None:
    assert SECRET not in repr(WebhookTransport(endpoint.url, SECRET))


# --- the command line ------------------------------------------------------------------------


def test_the_relay_command_delivers_to_a_webhook_and_stops_on_sigterm(
    db: pathlib.Path, endpoint: Endpoint
) -> None:
    desk = Desk(store=SqliteStore(db, synchronous="OFF"))
    busy_day(desk, 5)
    relay = cli(
        "relay",
        "--store",
        str(db),
        "--transport",
        endpoint.url,
        "--interval",
        "0.1",
        env={"LIVECHAT_WEBHOOK_SECRET": SECRET},
    )
    expected = [e.id for e in all_events(SqliteStore(db))]
    wait_for(lambda: endpoint.ids() == expected, 60, "the relay's deliveries")
    busy_day(desk, 1)
    expected = [e.id for e in all_events(SqliteStore(db))]
    wait_for(lambda: endpoint.ids() == expected, 60, "the relay to poll again")
    status, _, err = stop(relay)
    assert status == 0, err
    assert "published" in err
    assert "stopped after" in err
    assert "secret text" not in err
    assert SECRET not in err


def test_the_relay_command_refuses_bad_arguments(db: pathlib.Path) -> None:
    Desk(store=SqliteStore(db)).add_queue("support", ["Resolved"])
    status, _, err = finish(cli("relay", "--store", str(db), "--transport", "ftp://x"))
    assert status == 2
    assert "--transport must be" in err
    status, _, err = finish(cli("relay", "--store", str(db), "--transport", "http://127.0.0.1:9/"))
    assert status == 2
    assert "LIVECHAT_WEBHOOK_SECRET" in err
    status, _, err = finish(
        cli("relay", "--store", str(db.with_name("nope.db")), "--transport", "-")
    )
    assert status == 1
    assert "no store file" in err


def test_a_relay_killed_mid_batch_and_restarted_delivers_everything(
    db: pathlib.Path, endpoint: Endpoint
) -> None:
    store = SqliteStore(db, synchronous="OFF")
    busy_day(Desk(store=store), 40)
    stored = all_events(store)
    arguments = ("relay", "--store", str(db), "--transport", endpoint.url, "--batch", "50")
    kill_a_relay_mid_batch_and_restart(arguments, endpoint, stored, SECRET)


def test_workers_fire_each_deadline_once(db: pathlib.Path) -> None:
    desk = Desk(store=SqliteStore(db))
    desk.add_queue("support", ["Resolved"], offer_timeout=1.0)
    for n in range(12):
        desk.login(f"agent{n}", f"Agent {n}", ["support"])
        desk.set_available(f"agent{n}")
    workers = [cli("worker", "--store", str(db), "--interval", "0.05") for _ in range(3)]
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
    results = [stop(worker) for worker in workers]
    assert [status for status, _, _ in results] == [0, 0, 0], [err for _, _, err in results]
    assert sorted(event.aggregate_id for event in timed_out()) == sorted(chats)
    assert all(desk.agent(f"agent{n}").state == "rona" for n in range(12))
    assert sum(err.count("worker fired") for _, _, err in results) >= 1


def test_a_worker_object_ticks_until_stopped() -> None:
    clock = [1_700_000_000.0]
    desk = Desk(clock=lambda: clock[0])
    desk.add_queue("support", ["Resolved"], offer_timeout=5.0)
    desk.login("jana", "Jana", ["support"])
    desk.set_available("jana")
    chat = desk.start_chat("support", "Karel", "k@example.com")
    worker = Worker(desk, interval=0.01)
    assert worker.tick() == 0
    clock[0] += 6
    stop_event = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop_event,))
    thread.start()
    wait_for(lambda: worker.fired > 0, 30, "the tick")
    stop_event.set()
    thread.join(10)
    assert desk.conversation(chat).state == "queued"
    with pytest.raises(ValueError, match="interval"):
        Worker(desk, interval=0)
