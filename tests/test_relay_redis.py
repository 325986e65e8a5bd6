"""The Redis Streams transport against a real redis-server (scripts/with-redis.sh starts one
and sets LIVECHAT_TEST_REDIS; the fault test starts servers of its own)."""

from __future__ import annotations

import json
import os
import pathlib
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from redis import Redis

from livechat_core import Desk, Event, SqliteStore, event_from_record, event_to_record
from livechat_core._relay import Relay
from livechat_core.adapters.redis import RedisStreamTransport, decode_entry
from service_fixtures import (
    REDIS_ENV,
    RedisServer,
    busy_day,
    cli,
    delivered_in_order,
    stop,
    stored_ids,
    wait_for,
)

needs_redis = pytest.mark.skipif(
    not os.environ.get(REDIS_ENV), reason=f"{REDIS_ENV} is not set (scripts/with-redis.sh sets it)"
)


@pytest.fixture
def client() -> Iterator[Any]:
    url = os.environ.get(REDIS_ENV)
    if not url:
        pytest.skip(f"{REDIS_ENV} is not set (scripts/with-redis.sh sets it)")
    connection: Any = Redis.from_url(url)
    yield connection
    connection.close()


@pytest.fixture
def stream() -> str:
    return f"test:{uuid.uuid4().hex}"


def all_events(store: SqliteStore) -> list[Event]:
    return [event for _, event in store.log(limit=1_000_000)]


def stream_ids(client: Any, stream: str) -> list[str]:
    return [decode_entry(fields).id for _, fields in client.xrange(stream)]


@needs_redis
def test_each_event_is_one_entry_with_its_id_and_record(client: Any, stream: str) -> None:
    desk = Desk()
    busy_day(desk, 3)
    events = [event for _, event in desk.events_after(0, 10_000)]
    transport = RedisStreamTransport(os.environ[REDIS_ENV], stream=stream)
    transport.publish(events)
    entries = client.xrange(stream)
    assert len(entries) == len(events)
    for (_, fields), event in zip(entries, events, strict=True):
        assert fields[b"id"].decode() == event.id
        assert fields[b"type"].decode() == event.type
        assert int(fields[b"sequence"]) == event.sequence
        assert json.loads(fields[b"record"]) == json.loads(json.dumps(event_to_record(event)))
        assert decode_entry(fields) == event
        assert event_from_record(json.loads(fields[b"record"])) == event
    transport.close()


@needs_redis
def test_consumer_groups_share_the_stream(client: Any, stream: str) -> None:
    desk = Desk()
    busy_day(desk, 5)
    events = [event for _, event in desk.events_after(0, 10_000)]
    RedisStreamTransport(client, stream=stream).publish(events)
    client.xgroup_create(stream, "screens", id="0")
    seen: dict[str, list[str]] = {"a": [], "b": []}
    for _ in range(len(events)):
        for consumer in ("a", "b"):
            answer = client.xreadgroup("screens", consumer, {stream: ">"}, count=1)
            for _, entries in answer:
                for entry_id, fields in entries:
                    seen[consumer].append(decode_entry(fields).id)
                    client.xack(stream, "screens", entry_id)
    assert sorted(seen["a"] + seen["b"]) == sorted(e.id for e in events)
    assert seen["a"]
    assert seen["b"]
    assert client.xpending(stream, "screens")["pending"] == 0


def test_a_foreign_entry_is_refused() -> None:
    with pytest.raises(ValueError, match="record"):
        decode_entry({b"foo": b"bar"})


@needs_redis
def test_the_relay_command_feeds_a_stream(client: Any, stream: str, tmp_path: pathlib.Path) -> None:
    db = tmp_path / "desk.db"
    store = SqliteStore(db, synchronous="OFF")
    busy_day(Desk(store=store), 5)
    relay = cli(
        "relay",
        "--store",
        str(db),
        "--transport",
        os.environ[REDIS_ENV],
        "--stream",
        stream,
        "--interval",
        "0.1",
    )
    expected = [e.id for e in all_events(store)]
    wait_for(lambda: stream_ids(client, stream) == expected, 60, "the stream")
    status, _, err = stop(relay)
    assert status == 0, err
    assert "secret text" not in err


@pytest.mark.skipif(RedisServer.binary() is None, reason="no redis-server installed")
def test_redis_stopped_and_restarted_mid_stream_loses_nothing(tmp_path: pathlib.Path) -> None:
    server = RedisServer(tmp_path)
    server.start()
    db = tmp_path / "desk.db"
    store = SqliteStore(db, synchronous="OFF")
    desk = Desk(store=store)
    busy_day(desk, 5)
    relay = cli(
        "relay",
        "--store",
        str(db),
        "--transport",
        server.url,
        "--interval",
        "0.05",
        "--batch",
        "20",
    )
    done = threading.Event()

    def customers() -> None:  # events keep coming while Redis goes away and comes back
        while not done.is_set():
            busy_day(desk, 1)
            time.sleep(0.01)

    writer = threading.Thread(target=customers)
    writer.start()
    try:
        watcher: Any = Redis.from_url(server.url)
        wait_for(lambda: watcher.xlen("livechat:events") > 30, 60, "the first entries")
        watcher.close()
        server.stop()
        time.sleep(1.0)  # the relay fails and backs off meanwhile
        server.start()
    finally:
        done.set()
        writer.join()
    client: Any = Redis.from_url(server.url)
    expected = all_events(store)
    try:
        wait_for(
            lambda: set(stream_ids(client, "livechat:events")) >= {e.id for e in expected},
            120,
            "every event in the stream",
        )
        status, _, err = stop(relay)
        assert status == 0, err
        assert "relay relay failed (" in err, "the relay saw Redis go away"
        delivered_in_order(stream_ids(client, "livechat:events"), stored_ids(expected))
    finally:
        client.close()
        server.stop()
        store.close()


@needs_redis
def test_commit_to_stream_through_a_relay_object(client: Any, stream: str) -> None:
    desk = Desk()
    transport = RedisStreamTransport(client, stream=stream)
    relay = Relay(desk.store, transport, poll_interval=0.02)
    stop_event = threading.Event()
    thread = threading.Thread(target=relay.run, args=(stop_event,))
    thread.start()
    try:
        busy_day(desk, 2)
        expected = [e.id for _, e in desk.events_after(0, 10_000)]
        wait_for(lambda: stream_ids(client, stream) == expected, 30, "the relay")
    finally:
        stop_event.set()
        thread.join(10)
