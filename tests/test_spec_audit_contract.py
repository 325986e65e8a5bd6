"""Acceptance-style audit of SPEC sections 9 (sharing a store), 10, 11 and 12.

Only the public API is called: ``Desk``/``AsyncDesk`` methods as SPEC spells them, the
store's consumer positions and ``Relay`` (documented in docs/services.md), and the figures
of ``desk.report``/``desk.stats`` checked against numbers worked out by hand.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import http.server
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest
from faker import Faker

from livechat_core import AsyncDesk, Desk, LivechatError, MemoryStore, Relay, SqliteStore
from livechat_core.events import Event
from livechat_core.testing import ManualClock
from store_openers import store_opener

T = 1_800_000_000.0


@pytest.fixture
def fake() -> Faker:
    faker = Faker(["cs_CZ", "en_US"])
    faker.seed_instance(1203)
    return faker


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T)


def person(fake: Faker) -> str:
    return f"{fake.first_name()} {fake.last_name()}"


class Recorder:
    """A transport that remembers each publish call."""

    def __init__(self) -> None:
        self.calls: list[list[Event]] = []

    def publish(self, events: Sequence[Event]) -> None:
        self.calls.append(list(events))

    @property
    def events(self) -> list[Event]:
        return [event for call in self.calls for event in call]


def support_desk(desk: Desk, fake: Faker, agents: int = 2) -> Desk:
    desk.add_queue("Podpora", ["Vyřešeno", "Eskalováno"])
    for n in range(1, agents + 1):
        desk.login(f"a{n}", person(fake), ["Podpora"])
    return desk


# --- SPEC 9: several desks on one SQLite file, in one process or many ------------------------

WORKER = textwrap.dedent(
    """
    import sys
    from livechat_core import Desk, SqliteStore
    path, worker, shared, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    store = SqliteStore(path)
    desk = Desk(store=store)
    desk.login("agent-" + worker, "Agent " + worker, ["Podpora"], capacity=1)
    for n in range(count):
        desk.send_customer_message(shared, f"{worker}:{n}")
        desk.start_chat("Podpora", f"Customer {worker} {n}", f"c{worker}x{n}@example.com")
    store.close()
    """
)


def test_desks_in_several_processes_share_one_sqlite_file(tmp_path: Path, fake: Faker) -> None:
    path = tmp_path / "shared.db"
    store = SqliteStore(path)
    desk = Desk(store=store)
    desk.add_queue("Podpora", ["Vyřešeno"])
    shared = desk.start_chat("Podpora", person(fake), fake.email())
    workers, count = 4, 15
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(path), str(w), shared, str(count)],
            stderr=subprocess.PIPE,
        )
        for w in range(workers)
    ]
    for process in processes:
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err.decode()
    view = desk.conversation(shared)
    texts = [m.text for m in view.messages]
    # nothing lost: every process's every message, each process's in its own order
    assert sorted(texts) == sorted(f"{w}:{n}" for w in range(workers) for n in range(count))
    for w in range(workers):
        assert [t for t in texts if t.startswith(f"{w}:")] == [f"{w}:{n}" for n in range(count)]
    assert len({m.id for m in view.messages}) == workers * count
    assert {a.id for a in desk.agents()} == {f"agent-{w}" for w in range(workers)}
    positions = [position for position, _ in desk.events_after(0, limit=100_000)]
    assert positions == sorted(set(positions))
    sequences = [e.sequence for e in desk.events(shared)]
    assert sequences == list(range(sequences[0], sequences[0] + len(sequences)))
    store.close()


def test_desks_in_threads_share_one_sqlite_file_without_losing_writes(
    tmp_path: Path, fake: Faker
) -> None:
    path = tmp_path / "threads.db"
    first = SqliteStore(path)
    setup = Desk(store=first)
    setup.add_queue("Podpora", ["Vyřešeno"])
    shared = setup.start_chat("Podpora", person(fake), fake.email())
    stores = [SqliteStore(path) for _ in range(3)]
    errors: list[BaseException] = []

    def run(n: int, store: SqliteStore) -> None:
        try:
            desk = Desk(store=store)
            for m in range(20):
                desk.send_customer_message(shared, f"{n}/{m}")
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(n, s)) for n, s in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(setup.conversation(shared).messages) == 60
    for store in (first, *stores):
        store.close()


# --- SPEC 10: batches --------------------------------------------------------------------


def test_batch_a_refused_command_raises_changes_nothing_and_the_others_go_on(
    fake: Faker, clock: ManualClock
) -> None:
    desk = support_desk(Desk(clock=clock), fake)
    desk.set_available("a1")
    with desk.batch():
        first = desk.start_chat("Podpora", person(fake), fake.email())
        with pytest.raises(LivechatError):
            desk.accept("a2", first)  # a2 holds no offer
        with pytest.raises(LivechatError):
            desk.send_agent_message("a1", first, "<b>hi</b>")
        desk.accept("a1", first)
        desk.send_agent_message("a1", first, "Dobrý den")
        second = desk.start_chat("Podpora", person(fake), fake.email())
    view = desk.conversation(first)
    assert (view.state, view.owner) == ("active", "a1")
    assert [m.text for m in view.messages] == ["Dobrý den"]
    assert desk.conversation(second).state == "queued"
    assert desk.agent("a2").state == "idle"


def test_batch_is_one_commit_others_see_nothing_until_its_end(
    tmp_path: Path, fake: Faker, clock: ManualClock
) -> None:
    path = tmp_path / "batch.db"
    store = SqliteStore(path)
    transport = Recorder()
    desk = support_desk(Desk(store=store, clock=clock, transport=transport), fake)
    transport.calls.clear()
    reader_store = SqliteStore(path)
    reader = Desk(store=reader_store, clock=clock)
    ids: list[str] = []
    with desk.batch():
        for _ in range(5):
            ids.append(desk.start_chat("Podpora", person(fake), fake.email()))
        # inside the block this desk sees its own commands ...
        assert desk.conversation(ids[0]).state == "queued"
        # ... nobody else does, and nothing has been relayed yet
        for conversation_id in ids:
            with pytest.raises(LivechatError):
                reader.conversation(conversation_id)
        assert transport.calls == []
    assert [reader.conversation(c).state for c in ids] == ["queued"] * 5
    started = {e.aggregate_id for e in transport.events}
    assert started >= set(ids)
    store.close()
    reader_store.close()


def test_a_block_that_does_not_end_loses_the_whole_block_and_nothing_else(
    tmp_path: Path, fake: Faker, clock: ManualClock
) -> None:
    path = tmp_path / "crash.db"
    store = SqliteStore(path)
    desk = support_desk(Desk(store=store, clock=clock), fake)
    kept = desk.start_chat("Podpora", person(fake), fake.email())
    lost: list[str] = []

    def crash() -> None:
        with desk.batch():
            lost.append(desk.start_chat("Podpora", person(fake), fake.email()))
            desk.send_customer_message(kept, fake.sentence())
            desk.set_available("a1")
            raise RuntimeError("crash before the block ends")

    with pytest.raises(RuntimeError):
        crash()
    assert list(desk.conversation(kept).messages) == []
    assert desk.agent("a1").state == "idle"
    with pytest.raises(LivechatError):
        desk.conversation(lost[0])
    store.close()
    again = SqliteStore(path)
    reopened = Desk(store=again, clock=clock)
    assert reopened.conversation(kept).state == "queued"
    with pytest.raises(LivechatError):
        reopened.conversation(lost[0])
    again.close()


def test_tick_fires_a_large_backlog_and_returns_every_event(
    any_store: Any, fake: Faker, clock: ManualClock
) -> None:
    desk = Desk(store=any_store, clock=clock)
    desk.add_queue("Podpora", ["Vyřešeno"], offer_timeout=30.0)
    desk.login("a1", person(fake), ["Podpora"], capacity=350)
    desk.set_available("a1")
    chats = [desk.start_chat("Podpora", person(fake), fake.email()) for _ in range(350)]
    assert len(desk.offers("a1")) == 350
    clock.advance(31)
    fired = desk.tick()
    assert {e.aggregate_id for e in fired} >= set(chats)
    assert all(desk.conversation(c).state == "queued" for c in chats)
    assert desk.agent("a1").state == "rona"
    assert desk.tick() == []


def test_archive_moves_closed_conversations_older_than_the_cut_off(
    any_store: Any, fake: Faker, clock: ManualClock
) -> None:
    desk = support_desk(Desk(store=any_store, clock=clock), fake)
    old = desk.start_chat("Podpora", person(fake), fake.email())
    desk.send_customer_message(old, fake.sentence())
    desk.customer_end(old)  # closed (abandoned) at T
    clock.advance(100)
    recent = desk.start_chat("Podpora", person(fake), fake.email())
    desk.customer_end(recent)  # closed at T+100
    still_open = desk.start_chat("Podpora", person(fake), fake.email())
    moved = desk.archive(T + 50)
    assert [a.conversation.id for a in moved] == [old]
    (archived,) = moved
    assert archived.conversation.outcome == "abandoned"
    assert archived.events
    assert {e.aggregate_id for e in archived.events} == {old}
    assert len(archived.conversation.messages) == 1
    with pytest.raises(LivechatError):
        desk.conversation(old)
    assert desk.conversation(recent).state == "closed"
    assert desk.conversation(still_open).state == "queued"
    assert desk.archive(T + 50) == []
    assert [a.conversation.id for a in desk.archive(T + 101)] == [recent]
    left = {e.aggregate_id for _, e in desk.events_after(0, limit=100_000)}
    assert old not in left
    assert recent not in left
    assert still_open in left
    last = desk.events_after(0, limit=100_000)[-1][0]
    desk.send_customer_message(still_open, fake.sentence())
    assert desk.events_after(last)[0][0] > last


# --- SPEC 11: AsyncDesk -------------------------------------------------------------------


async def async_lifecycle(desk: AsyncDesk) -> list[str]:
    await desk.add_queue("Podpora", ["Vyřešeno"])
    await desk.login("a1", "Jana Nováková", ["Podpora"])
    await desk.set_available("a1")
    conversation_id = await desk.start_chat("Podpora", "Petr Svoboda", "petr@example.com")
    assert isinstance(conversation_id, str)
    (offer,) = await desk.offers("a1")
    assert (offer.kind, offer.customer_name) == ("chat", "Petr Svoboda")
    events = await desk.accept("a1", conversation_id)
    assert isinstance(events, list)
    await desk.send_customer_message(conversation_id, "Dobrý den")
    await desk.send_agent_message("a1", conversation_id, "Dobrý den, jak pomohu?")
    with pytest.raises(LivechatError) as refused:
        await desk.send_agent_message("a1", conversation_id, "a < b")
    assert refused.value.code
    view = await desk.conversation(conversation_id)
    assert (view.state, view.owner) == ("active", "a1")
    await desk.end("a1", conversation_id)
    await desk.submit_wrap_up("a1", conversation_id, "Vyřešeno", notes="ok")
    assert (await desk.conversation(conversation_id)).outcome == "completed"
    assert (await desk.agent("a1")).state == "available"
    assert await desk.tick() == []
    return [type(e).__name__ for e in await desk.events(conversation_id)]


def sync_lifecycle(desk: Desk) -> list[str]:
    desk.add_queue("Podpora", ["Vyřešeno"])
    desk.login("a1", "Jana Nováková", ["Podpora"])
    desk.set_available("a1")
    conversation_id = desk.start_chat("Podpora", "Petr Svoboda", "petr@example.com")
    desk.accept("a1", conversation_id)
    desk.send_customer_message(conversation_id, "Dobrý den")
    desk.send_agent_message("a1", conversation_id, "Dobrý den, jak pomohu?")
    desk.end("a1", conversation_id)
    desk.submit_wrap_up("a1", conversation_id, "Vyřešeno", notes="ok")
    return [type(e).__name__ for e in desk.events(conversation_id)]


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_async_desk_has_the_same_names_results_and_errors(
    kind: str, tmp_path: Path, clock: ManualClock
) -> None:
    store = MemoryStore() if kind == "memory" else SqliteStore(tmp_path / "a.db")

    async def main() -> list[str]:
        desk = AsyncDesk(store=store, clock=clock)
        try:
            return await async_lifecycle(desk)
        finally:
            await desk.aclose()

    names = asyncio.run(main())
    assert names == sync_lifecycle(Desk(clock=clock))


def test_async_desk_defaults_and_keywords(clock: ManualClock) -> None:
    async def main() -> None:
        desk = AsyncDesk(store=None, transport=None, clock=clock, masking=None)
        await desk.add_queue(name="Podpora", wrap_up_reasons=["Vyřešeno"], offer_timeout=10.0)
        await desk.login(agent_id="a1", name="Jana", queues=["Podpora"])
        await desk.set_available(agent_id="a1")
        await desk.start_chat(
            queue="Podpora", customer_name="Eva", customer_contact="+420601123456"
        )
        (offer,) = await desk.offers("a1")
        assert offer.deadline == T + 10.0
        clock.advance(10)
        assert await desk.tick(now=None)
        assert (await desk.agent("a1")).state == "rona"
        await desk.aclose()

    asyncio.run(main())


def test_async_batch_is_one_block(any_store: Any, fake: Faker, clock: ManualClock) -> None:
    async def main() -> None:
        transport = Recorder()
        desk = AsyncDesk(store=any_store, clock=clock, transport=transport)
        await desk.add_queue("Podpora", ["Vyřešeno"])
        await desk.login("a1", "Alena", ["Podpora"], capacity=5)
        transport.calls.clear()
        async with desk.batch():
            first = await desk.start_chat("Podpora", person(fake), fake.email())
            with pytest.raises(LivechatError):
                await desk.accept("nobody", first)
            others = await asyncio.gather(
                *(desk.start_chat("Podpora", person(fake), fake.email()) for _ in range(3))
            )
            await desk.set_available("a1")
            assert transport.calls == []
        for chat in (first, *others):
            assert (await desk.conversation(chat)).state == "offered"
        assert {e.aggregate_id for e in transport.events} == {first, *others, "a1"}
        lost: list[str] = []

        async def crash() -> None:
            async with desk.batch():
                lost.append(await desk.start_chat("Podpora", person(fake), fake.email()))
                await desk.set_idle("a1", "Oběd")
                raise RuntimeError("crash")

        with pytest.raises(RuntimeError):
            await crash()
        with pytest.raises(LivechatError):
            await desk.conversation(lost[0])
        assert (await desk.agent("a1")).state == "available"
        await desk.aclose()

    asyncio.run(main())


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_async_desk_and_desk_share_one_store_at_the_same_time(
    request: pytest.FixtureRequest, tmp_path: Path, fake: Faker, kind: str
) -> None:
    open_store = store_opener(request, tmp_path, kind, "mixed.db")

    sync_store = open_store()
    desk = Desk(store=sync_store)
    desk.add_queue("Podpora", ["Vyřešeno"])
    shared = desk.start_chat("Podpora", person(fake), fake.email())
    async_store = open_store()

    async def main() -> None:
        async_desk = AsyncDesk(store=async_store)
        sync_done = asyncio.get_running_loop().run_in_executor(
            None, lambda: [desk.send_customer_message(shared, f"s{n}") for n in range(30)]
        )
        await asyncio.gather(
            *(async_desk.send_customer_message(shared, f"a{n}") for n in range(30))
        )
        await sync_done
        await async_desk.aclose()

    asyncio.run(main())
    texts = [m.text for m in desk.conversation(shared).messages]
    assert sorted(texts) == sorted([f"s{n}" for n in range(30)] + [f"a{n}" for n in range(30)])
    assert [t for t in texts if t[0] == "s"] == [f"s{n}" for n in range(30)]
    sync_store.close()
    async_store.close()


def test_concurrent_coroutines_on_one_async_desk(any_store: Any, fake: Faker) -> None:
    async def main() -> None:
        desk = AsyncDesk(store=any_store)
        await desk.add_queue("Podpora", ["Vyřešeno"])
        await desk.login("a1", person(fake), ["Podpora"], capacity=20)
        await desk.set_available("a1")
        chats = await asyncio.gather(
            *(desk.start_chat("Podpora", person(fake), fake.email()) for _ in range(20))
        )
        assert len(set(chats)) == 20
        await asyncio.gather(*(desk.accept("a1", c) for c in chats))
        await asyncio.gather(
            *(desk.send_customer_message(c, f"{n}") for n, c in enumerate(chats)),
            *(desk.send_agent_message("a1", c, f"re {n}") for n, c in enumerate(chats)),
        )
        for n, chat in enumerate(chats):
            view = await desk.conversation(chat)
            assert sorted(m.text for m in view.messages) == sorted([f"{n}", f"re {n}"])
        await asyncio.gather(*(desk.send_customer_message(chats[0], f"c{n}") for n in range(30)))
        texts = [m.text for m in (await desk.conversation(chats[0])).messages]
        assert sorted(texts[2:]) == sorted(f"c{n}" for n in range(30))
        # the loop keeps running while the desk works
        ticks = 0

        async def heartbeat() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        beat = asyncio.create_task(heartbeat())
        await asyncio.gather(*(desk.send_agent_message("a1", c, "bye") for c in chats))
        beat.cancel()
        assert ticks > 1
        await desk.aclose()

    asyncio.run(main())


# --- SPEC 11: positions, consumers, relays ---------------------------------------------------


def test_events_have_positions_in_one_total_order_and_consumers_resume(
    tmp_path: Path, fake: Faker, clock: ManualClock
) -> None:
    path = tmp_path / "pos.db"
    store = SqliteStore(path)
    desk = support_desk(Desk(store=store, clock=clock), fake)
    desk.set_available("a1")
    chat = desk.start_chat("Podpora", person(fake), fake.email())
    desk.accept("a1", chat)
    log = desk.events_after(0)
    positions = [p for p, _ in log]
    assert positions == sorted(positions)
    assert len(set(positions)) == len(positions)
    assert len({e.id for _, e in log}) == len(log)
    halfway = positions[len(positions) // 2]
    assert store.consumer_position("crm") == 0
    store.save_consumer_position("crm", halfway)
    store.close()

    again = SqliteStore(path)  # a restarted consumer
    assert again.consumer_position("crm") == halfway
    desk = Desk(store=again, clock=clock)
    desk.send_agent_message("a1", chat, fake.sentence())
    rest = desk.events_after(again.consumer_position("crm"))
    assert [p for p, _ in rest] == [p for p in positions if p > halfway] + [
        p for p, _ in desk.events_after(positions[-1])
    ]
    assert rest[-1][1].aggregate_id == chat
    again.close()


class Exclusive:
    """A transport that fails the test if two relays publish at the same time."""

    def __init__(self) -> None:
        self.busy = threading.Lock()
        self.events: list[Event] = []
        self.overlaps = 0

    def publish(self, events: Sequence[Event]) -> None:
        if not self.busy.acquire(blocking=False):
            self.overlaps += 1
            return
        try:
            time.sleep(0.002)
            self.events.extend(events)
        finally:
            self.busy.release()


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_several_relays_publish_each_event_in_order_never_at_the_same_time(
    request: pytest.FixtureRequest, tmp_path: Path, fake: Faker, kind: str
) -> None:
    open_store = store_opener(request, tmp_path, kind, "relays.db")

    store = open_store()
    desk = support_desk(Desk(store=store), fake)
    desk.set_available("a1")
    chats = [desk.start_chat("Podpora", person(fake), fake.email()) for _ in range(10)]
    for chat in chats:
        for n in range(5):
            desk.send_customer_message(chat, f"m{n}")
    transport = Exclusive()
    relay_stores = [open_store() for _ in range(3)]
    relays = [Relay(s, transport, name="crm", batch_size=7) for s in relay_stores]

    def drain(relay: Relay) -> None:
        for _ in range(40):
            relay.publish_pending()

    threads = [threading.Thread(target=drain, args=(r,)) for r in relays]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert transport.overlaps == 0
    stored = desk.events_after(0, limit=100_000)
    published_ids = [e.id for e in transport.events]
    assert set(published_ids) == {e.id for _, e in stored}
    per_conversation: dict[str, list[int]] = defaultdict(list)
    for event in transport.events:
        if event.aggregate_id in chats:
            per_conversation[event.aggregate_id].append(event.sequence)
    for chat in chats:
        sequences = per_conversation[chat]
        assert sequences == sorted(sequences)
    for relay in relays:
        relay.close()
    for s in (store, *relay_stores):
        s.close()


class Hook(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[bytes, dict[str, str]]]] = []
    failures: ClassVar[int] = 0

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if Hook.failures:
            Hook.failures -= 1
            self.send_response(503)
            self.end_headers()
            return
        Hook.received.append((body, dict(self.headers.items())))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def webhook_server() -> Iterator[str]:
    Hook.received = []
    Hook.failures = 2
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()
    server.server_close()


def test_webhook_transport_posts_signed_events_and_retries(
    webhook_server: str, fake: Faker, clock: ManualClock
) -> None:
    from livechat_core.adapters.webhook import WebhookTransport

    secret = b"s3cret"
    transport = WebhookTransport(webhook_server, secret, backoff=0.01, max_backoff=0.02)
    desk = Desk(clock=clock, transport=transport)
    desk.add_queue("Podpora", ["Vyřešeno"])  # the first POSTs get 503 twice, then succeed
    chat = desk.start_chat("Podpora", person(fake), fake.email())
    ids = []
    for body, headers in Hook.received:
        digest = hmac.new(secret, body, hashlib.sha256).hexdigest()
        signature = {k.lower(): v for k, v in headers.items()}["x-livechat-signature"]
        assert signature == f"sha256={digest}"
        ids.append(json.loads(body)["id"])
    assert ids == [e.id for _, e in desk.events_after(0)]
    assert any(chat in i for i in ids)


def test_redis_streams_transport(fake: Faker, clock: ManualClock) -> None:
    url = os.environ.get("LIVECHAT_TEST_REDIS")
    if not url:
        pytest.skip("LIVECHAT_TEST_REDIS is not set (scripts/with-redis.sh sets it)")
    import redis

    from livechat_core.adapters.redis import RedisStreamTransport, decode_entry

    stream = f"audit:{fake.uuid4()}"
    desk = Desk(clock=clock, transport=RedisStreamTransport(url, stream=stream))
    desk.add_queue("Podpora", ["Vyřešeno"])
    desk.start_chat("Podpora", person(fake), fake.email())
    client = redis.Redis.from_url(url)
    try:
        entries: list[tuple[bytes, dict[bytes, bytes]]] = client.xrange(stream)  # type: ignore[assignment]
        decoded = [decode_entry(fields) for _, fields in entries]
        assert [e.id for e in decoded] == [e.id for _, e in desk.events_after(0)]
    finally:
        client.delete(stream)
        client.close()


def wait_for_line(stream: Any, needle: bytes, timeout: float) -> bytes:
    """Read ``stream`` line by line until one holds ``needle``; what was read."""
    import selectors

    seen = b""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not selector.select(timeout=max(0.0, deadline - time.monotonic())):
                break
            line: bytes = stream.readline()
            if not line:
                break
            seen += line
            if needle in line:
                return seen
    raise AssertionError(f"no {needle!r} within {timeout} s: {seen.decode(errors='replace')}")


@pytest.mark.parametrize("command", ["relay", "worker"])
def test_command_line_services_stop_cleanly_on_sigterm(tmp_path: Path, command: str) -> None:
    path = tmp_path / "cli.db"
    store = SqliteStore(path)
    desk = Desk(store=store)
    desk.add_queue("Podpora", ["Vyřešeno"])
    store.close()
    arguments = ["--store", str(path), "--interval", "0.1"]
    if command == "relay":
        arguments += ["--transport", "-"]
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("livechat-core")), command, *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stderr is not None
    started = wait_for_line(process.stderr, b"starting", timeout=60)
    assert process.poll() is None, started
    time.sleep(0.5)  # running its loop
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err.decode()
    if command == "relay":
        lines = [json.loads(line) for line in out.decode().splitlines() if line.strip()]
        assert [line["id"] for line in lines] == ["queue:Podpora:1"]


# --- SPEC 12: contact-center figures on a scenario worked out by hand -------------------------


def scenario(clock: ManualClock, store: Any = None) -> Desk:
    """Four chats, two agents; every figure below is computed by hand from this story.

    C1 Podpora: starts T+0, offered to a1, accepted T+10, ended T+70, wrap-up T+80.
    C2 Podpora: starts T+20 (nobody free), customer leaves T+35 -> abandoned within 20 s.
    C3 Prodej: starts T+40, offered to a2 (available at T+40), times out T+70 (a2 RONA),
       offered to a1 when a1 frees up at T+80, accepted T+90, ended T+100, wrap-up T+110.
    C4 Podpora: starts T+200 (a1 idle since T+120, a2 in RONA), customer leaves T+230.
    Both agents log in at T+0 and out at T+300; a1 is available from T+0.
    """
    desk = Desk(store=store, clock=clock)
    desk.add_queue("Podpora", ["Vyřešeno"])
    desk.add_queue("Prodej", ["Prodáno"])
    desk.login("a1", "Alena Malá", ["Podpora", "Prodej"])
    desk.login("a2", "Bohumil Velký", ["Podpora", "Prodej"])
    desk.set_available("a1")
    c1 = desk.start_chat("Podpora", "Cyril", "cyril@example.com")
    clock.set(T + 10)
    desk.accept("a1", c1)
    clock.set(T + 20)
    c2 = desk.start_chat("Podpora", "Dana", "dana@example.com")
    clock.set(T + 35)
    desk.customer_end(c2)
    clock.set(T + 40)
    desk.set_available("a2")
    c3 = desk.start_chat("Prodej", "Emil", "emil@example.com")
    assert [o.conversation_id for o in desk.offers("a2")] == [c3]
    clock.set(T + 70)
    desk.tick()
    assert desk.agent("a2").state == "rona"
    desk.end("a1", c1)
    clock.set(T + 80)
    desk.submit_wrap_up("a1", c1, "Vyřešeno")
    assert [o.conversation_id for o in desk.offers("a1")] == [c3]
    clock.set(T + 90)
    desk.accept("a1", c3)
    clock.set(T + 100)
    desk.end("a1", c3)
    clock.set(T + 110)
    desk.submit_wrap_up("a1", c3, "Prodáno")
    clock.set(T + 120)
    desk.set_idle("a1", "Oběd")
    clock.set(T + 200)
    c4 = desk.start_chat("Podpora", "Filip", "filip@example.com")
    clock.set(T + 230)
    desk.customer_end(c4)
    clock.set(T + 300)
    desk.logout("a1")
    desk.logout("a2")
    clock.set(T + 400)
    return desk


def test_report_overall_figures(any_store: Any, clock: ManualClock) -> None:
    report = scenario(clock, any_store).report()
    assert (report.offered, report.handled, report.abandoned) == (4, 2, 2)
    assert report.asa == pytest.approx(30.0)  # (10 + 50) / 2
    assert report.service_level == pytest.approx(1 / 3)  # C1 only; 4 - 1 quick abandon
    assert report.abandon_rate == pytest.approx(0.5)
    assert report.aht == pytest.approx(45.0)  # (70 + 20) / 2


def test_report_per_queue(clock: ManualClock) -> None:
    report = scenario(clock).report()
    support, sales = report.by_queue["Podpora"], report.by_queue["Prodej"]
    assert (support.offered, support.handled, support.abandoned) == (3, 1, 2)
    assert support.asa == pytest.approx(10.0)
    assert support.service_level == pytest.approx(0.5)  # 1 / (3 - 1)
    assert support.abandon_rate == pytest.approx(2 / 3)
    assert support.aht == pytest.approx(70.0)
    assert (sales.offered, sales.handled, sales.abandoned) == (1, 1, 0)
    assert sales.asa == pytest.approx(50.0)
    assert sales.service_level == pytest.approx(0.0)
    assert sales.abandon_rate == pytest.approx(0.0)
    assert sales.aht == pytest.approx(20.0)


def test_report_per_agent(any_store: Any, clock: ManualClock) -> None:
    report = scenario(clock, any_store).report()
    a1, a2 = report.by_agent["a1"], report.by_agent["a2"]
    assert (a1.legs, a1.rona) == (2, 0)
    assert a1.busy == pytest.approx(90.0)  # 10..80 and 90..110
    # logged in 300 s, idle-and-not-busy 120..300 = 180 s -> 90 / 120
    assert a1.occupancy == pytest.approx(0.75)
    assert (a2.legs, a2.rona) == (0, 1)
    assert a2.busy == pytest.approx(0.0)
    # logged in 300 s, idle 0..40 -> 0 / 260
    assert a2.occupancy == pytest.approx(0.0)


def test_report_window_and_none_figures(clock: ManualClock) -> None:
    desk = scenario(clock)
    first = desk.report(since=T, until=T + 20)  # [since, until): C1 only
    assert (first.offered, first.handled, first.abandoned) == (1, 1, 0)
    assert first.service_level == pytest.approx(1.0)
    quick_abandon = desk.report(since=T + 20, until=T + 21)  # C2 only
    assert (quick_abandon.offered, quick_abandon.abandoned) == (1, 1)
    assert quick_abandon.asa is None
    assert quick_abandon.service_level is None  # 1 - 1 quick abandon = 0
    assert quick_abandon.aht is None
    assert quick_abandon.abandon_rate == pytest.approx(1.0)
    late = desk.report(since=T + 100)  # C4 only
    assert (late.offered, late.handled, late.abandoned) == (1, 0, 1)
    assert late.service_level == pytest.approx(0.0)  # abandoned after 30 s: 0 / 1
    strict = desk.report(service_level_threshold=5.0)
    assert strict.service_level == pytest.approx(0.0)  # nothing accepted within 5 s; 0 / 4
    lenient = desk.report(service_level_threshold=60.0)
    # C1 and C3 within 60 s; C2 and C4 abandoned within 60 s -> 2 / (4 - 2)
    assert lenient.service_level == pytest.approx(1.0)


def test_wallboard(clock: ManualClock) -> None:
    desk = Desk(clock=clock)
    desk.add_queue("Podpora", ["Vyřešeno"])
    desk.add_queue("Prodej", ["Prodáno"])
    desk.login("a1", "Alena", ["Podpora"])
    desk.login("a2", "Bohumil", ["Podpora"])
    desk.login("a3", "Cyril", ["Podpora"])
    desk.logout("a3")
    desk.set_available("a2")
    desk.start_chat("Podpora", "Dana", "dana@example.com")  # offered to a2: not waiting
    clock.advance(5)
    desk.start_chat("Podpora", "Emil", "emil@example.com")
    clock.advance(10)
    desk.start_chat("Podpora", "Filip", "filip@example.com")
    board = desk.stats()
    assert board.queues["Podpora"].waiting == 2
    assert board.queues["Podpora"].longest_wait == pytest.approx(10.0)
    assert board.queues["Prodej"].waiting == 0
    assert board.queues["Prodej"].longest_wait == 0
    assert dict(board.agents) == {"logged_out": 1, "idle": 1, "available": 1, "rona": 0}
    later = desk.stats(now=T + 45)
    assert later.queues["Podpora"].longest_wait == pytest.approx(40.0)


# --- more of SPEC 9-11: PostgreSQL, the dialogs, the outbox, flat cost, relays that fail ------


def test_desks_in_several_processes_share_one_postgres_database(
    postgres_dsn: str, fake: Faker
) -> None:
    from livechat_core import PostgresStore

    script = WORKER.replace("SqliteStore(path)", "PostgresStore(path)").replace(
        "import Desk, SqliteStore", "import Desk, PostgresStore"
    )
    store = PostgresStore(postgres_dsn)
    desk = Desk(store=store)
    desk.add_queue("Podpora", ["Vyřešeno"])
    shared = desk.start_chat("Podpora", person(fake), fake.email())
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", script, postgres_dsn, str(w), shared, "10"],
            stderr=subprocess.PIPE,
        )
        for w in range(3)
    ]
    for process in processes:
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err.decode()
    texts = [m.text for m in desk.conversation(shared).messages]
    assert sorted(texts) == sorted(f"{w}:{n}" for w in range(3) for n in range(10))
    assert len(desk.agents()) == 3
    positions = [p for p, _ in desk.events_after(0, limit=100_000)]
    assert positions == sorted(set(positions))
    store.close()


def test_async_desk_on_postgres_and_a_reopened_desk_continues(
    postgres_dsn: str, clock: ManualClock
) -> None:
    from livechat_core import PostgresStore

    store = PostgresStore(postgres_dsn)

    async def main() -> list[str]:
        desk = AsyncDesk(store=store, clock=clock)
        try:
            return await async_lifecycle(desk)
        finally:
            await desk.aclose()

    assert asyncio.run(main()) == sync_lifecycle(Desk(clock=clock))
    store.close()
    again = PostgresStore(postgres_dsn)
    desk = Desk(store=again, clock=clock)
    assert [q.name for q in desk.queues()] == ["Podpora"]
    assert desk.agent("a1").state == "available"
    again.close()


def test_async_desk_reads_figures_surfaces_and_archives(
    any_store: Any, fake: Faker, clock: ManualClock
) -> None:
    async def main() -> None:
        desk = AsyncDesk(store=any_store, clock=clock)
        await desk.add_queue("Podpora", ["Vyřešeno"])
        chat = await desk.start_chat("Podpora", person(fake), "+420 601 123 456")
        surfaces = await desk.surfaces(chat)
        assert "601 123 456" not in surfaces.task_title
        board = await desk.stats()
        assert board.queues["Podpora"].waiting == 1
        await desk.customer_end(chat)
        report = await desk.report()
        assert (report.offered, report.abandoned) == (1, 1)
        clock.advance(10)
        moved = await desk.archive(T + 5)
        assert [a.conversation.id for a in moved] == [chat]
        await desk.aclose()

    asyncio.run(main())


def test_available_agents_lists_only_agents_with_free_capacity(
    fake: Faker, clock: ManualClock
) -> None:
    desk = support_desk(Desk(clock=clock), fake, agents=3)
    for agent in ("a1", "a2", "a3"):
        desk.set_available(agent)
    chat = desk.start_chat("Podpora", person(fake), fake.email())
    (holder,) = [a for a in ("a1", "a2", "a3") if desk.offers(a)]
    assert holder not in {a.id for a in desk.available_agents()}  # full: capacity 1
    desk.accept(holder, chat)
    free = {a.id for a in desk.available_agents(exclude=holder)}
    assert free == {"a1", "a2", "a3"} - {holder}
    asker = sorted(free)[0]
    assert {a.id for a in desk.available_agents(exclude=asker)} == free - {asker}


def test_published_outbox_rows_are_pruned(tmp_path: Path, fake: Faker) -> None:
    store = SqliteStore(tmp_path / "outbox.db")
    transport = Recorder()
    desk = support_desk(Desk(store=store, transport=transport), fake)
    desk.start_chat("Podpora", person(fake), fake.email())
    assert store.pending() == []
    assert len(transport.events) == len(desk.events_after(0))
    store.close()


def test_a_relay_that_fails_resumes_and_delivers_everything_at_least_once(
    tmp_path: Path, fake: Faker
) -> None:
    path = tmp_path / "flaky.db"
    store = SqliteStore(path)
    desk = support_desk(Desk(store=store), fake)
    chats = [desk.start_chat("Podpora", person(fake), fake.email()) for _ in range(5)]
    for chat in chats:
        desk.send_customer_message(chat, fake.sentence())

    class Flaky(Recorder):
        def publish(self, events: Sequence[Event]) -> None:
            if len(self.calls) == 2:
                self.calls.append([])
                raise ConnectionError("broker down")
            super().publish(events)

    transport = Flaky()
    relay = Relay(SqliteStore(path), transport, name="crm", batch_size=3)
    with pytest.raises(ConnectionError):
        relay.publish_pending()
    relay.close()
    restarted = Relay(SqliteStore(path), transport, name="crm", batch_size=3)
    restarted.publish_pending()
    restarted.close()
    delivered = [e.id for e in transport.events]
    stored = [e.id for _, e in desk.events_after(0)]
    assert list(dict.fromkeys(delivered)) == stored  # in order, duplicates dropped by id
    store.close()


def test_cost_does_not_grow_with_transcript_backlog_or_staff() -> None:
    desk = Desk()
    desk.add_queue("Podpora", ["Vyřešeno"])
    desk.add_queue("Velká", ["Vyřešeno"])
    desk.add_queue("Zavřená", ["Vyřešeno"])  # nobody serves it: its chats stay queued
    desk.login("a1", "Jana", ["Podpora", "Velká"])
    desk.set_available("a1")
    chat = desk.start_chat("Podpora", "Petr", "petr@example.com")
    desk.accept("a1", chat)
    desk.login("a2", "Eva", ["Velká"])
    desk.set_available("a2")

    def cost(action: Any, runs: int = 200) -> float:
        best = float("inf")
        for _ in range(3):
            started = time.process_time()
            for n in range(runs):
                action(n)
            best = min(best, time.process_time() - started)
        return best / runs

    def message(n: int) -> None:
        desk.send_customer_message(chat, f"zpráva {n}")

    def routed_chat(n: int) -> None:  # offered to the longest-waiting agent, then left
        desk.customer_end(desk.start_chat("Velká", "Eva", "eva@example.com"))

    short_transcript, small = cost(message), cost(routed_chat)
    for n in range(4000):
        desk.send_customer_message(chat, f"výplň {n}")
    for n in range(1500):
        desk.login(f"x{n}", f"Agent {n}", ["Velká"])
        desk.set_available(f"x{n}")
    for _ in range(1500):
        desk.start_chat("Zavřená", "Backlog", "b@example.com")
    long_transcript, large = cost(message), cost(routed_chat)
    assert long_transcript < 4 * short_transcript
    assert large < 4 * small


def test_report_with_transfer_conference_capacity_and_wrap_up_timeout(clock: ManualClock) -> None:
    """By hand: x (a1 accepts T+5, transfers to a2 at T+25, wraps T+35; a2 accepts T+40,
    a3 joins T+47 and leaves T+50, wraps T+55; a2 ends T+60, wraps T+70); y (a1, capacity
    2, accepts T+12, ends T+80, wrap-up timeout 15 s submits at T+95). Report at T+100."""
    desk = Desk(clock=clock)
    desk.add_queue("Podpora", ["Vyřešeno"], wrap_up_timeout=15.0)
    desk.login("a1", "Alena", ["Podpora"], capacity=2)
    desk.login("a2", "Bohumil", ["Podpora"])
    desk.login("a3", "Cyril", ["Podpora"])
    desk.set_available("a1")
    x = desk.start_chat("Podpora", "Xaver", "x@example.com")
    clock.set(T + 5)
    desk.accept("a1", x)
    clock.set(T + 10)
    y = desk.start_chat("Podpora", "Yveta", "y@example.com")
    clock.set(T + 12)
    desk.accept("a1", y)
    clock.set(T + 25)
    desk.set_available("a2")
    desk.transfer_to_agent("a1", x, "a2")
    clock.set(T + 35)
    desk.submit_wrap_up("a1", x, "Vyřešeno")
    clock.set(T + 40)
    desk.accept("a2", x)
    clock.set(T + 45)
    desk.set_available("a3")
    desk.request_conference("a2", x, "a3")
    clock.set(T + 47)
    desk.accept("a3", x)
    clock.set(T + 50)
    desk.end_conference("a3", x)  # the guest leaves
    clock.set(T + 55)
    desk.submit_wrap_up("a3", x, "Vyřešeno")
    clock.set(T + 60)
    desk.end("a2", x)
    clock.set(T + 70)
    desk.submit_wrap_up("a2", x, "Vyřešeno")
    clock.set(T + 80)
    desk.end("a1", y)
    clock.set(T + 95)
    desk.tick()
    assert desk.conversation(y).state == "closed"
    clock.set(T + 100)
    report = desk.report()
    assert (report.offered, report.handled, report.abandoned) == (2, 2, 0)
    assert report.asa == pytest.approx(3.5)  # (5 + 2) / 2
    assert report.service_level == pytest.approx(1.0)
    # owner legs: a1 on x 5..35, a2 on x 40..70, a1 on y 12..95 (the guest's is not one)
    assert report.aht == pytest.approx((30 + 30 + 83) / 3)
    a1, a2, a3 = (report.by_agent[a] for a in ("a1", "a2", "a3"))
    assert (a1.legs, a2.legs, a3.legs) == (2, 1, 1)
    assert a1.busy == pytest.approx(90.0)  # 5..35 and 12..95 overlap: 5..95
    assert a1.occupancy == pytest.approx(0.9)  # never idle while logged in 100 s
    assert a2.busy == pytest.approx(30.0)
    assert a2.occupancy == pytest.approx(30 / 75)  # idle 0..25
    assert a3.busy == pytest.approx(8.0)  # 47..55
    assert a3.occupancy == pytest.approx(8 / 55)  # idle 0..45


def test_wallboard_counts_a_chat_transferred_to_a_queue_from_the_hand_off(
    clock: ManualClock,
) -> None:
    desk = Desk(clock=clock)
    desk.add_queue("Podpora", ["Vyřešeno"])
    desk.add_queue("Prodej", ["Prodáno"])
    desk.login("a1", "Alena", ["Podpora"])
    desk.set_available("a1")
    chat = desk.start_chat("Podpora", "Xaver", "x@example.com")
    clock.set(T + 100)
    desk.accept("a1", chat)
    clock.set(T + 200)
    desk.transfer_to_queue("a1", chat, "Prodej")
    board = desk.stats(now=T + 230)
    assert (board.queues["Prodej"].waiting, board.queues["Prodej"].longest_wait) == (1, 30.0)
    assert (board.queues["Podpora"].waiting, board.queues["Podpora"].longest_wait) == (0, 0)


@pytest.fixture(
    params=["memory", "sqlite", "postgres", "sqlite+async", "postgres+async", "memory+async"]
)
def two_desks(
    request: pytest.FixtureRequest, tmp_path: Path, clock: ManualClock
) -> Iterator[tuple[Any, Any]]:
    """Two desks on one store; with "+async" the second is an AsyncDesk driven blocking."""
    kind, _, face = request.param.partition("+")
    stores: list[Any] = []
    if kind == "memory":
        shared = MemoryStore()
        stores = [shared, shared]
    elif kind == "sqlite":
        stores = [SqliteStore(tmp_path / "two.db"), SqliteStore(tmp_path / "two.db")]
    else:
        from livechat_core import PostgresStore

        dsn = request.getfixturevalue("postgres_dsn")
        stores = [PostgresStore(dsn), PostgresStore(dsn)]
    first = Desk(store=stores[0], clock=clock)
    if face == "async":
        from livechat_core.testing import BlockingDesk

        second: Any = BlockingDesk(AsyncDesk(store=stores[1], clock=clock))
    else:
        second = Desk(store=stores[1], clock=clock)
    yield first, second
    if face == "async":
        second.close()
    for store in {id(s): s for s in stores}.values():
        store.close()


def test_each_command_reads_what_another_desk_wrote(two_desks: tuple[Any, Any]) -> None:
    a, b = two_desks
    a.add_queue("Podpora", ["Vyřešeno"], offer_timeout=30.0)
    a.login("a1", "Alena", ["Podpora"])
    a.login("a2", "Bohumil", ["Podpora"])
    a.set_available("a1")
    assert b.agent("a1").state == "available"
    b.add_queue("Podpora", ["Vyřešeno", "Spam"], offer_timeout=5.0)  # reconfigured by b
    chat = a.start_chat("Podpora", "Xaver", "x@example.com")
    (offer,) = a.offers("a1")
    assert offer.deadline - offer.at == 5.0
    b.set_idle("a1", "Oběd")  # withdraws a's offer
    assert a.conversation(chat).state == "queued"
    a.set_available("a2")
    assert [o.conversation_id for o in b.offers("a2")] == [chat]
    b.accept("a2", chat)
    a.send_agent_message("a2", chat, "Dobrý den")
    b.customer_end(chat)
    assert [m.text for m in a.conversation(chat).messages] == [
        "Dobrý den",
        "Customer ended the conversation",
    ]
    a.end("a2", chat)
    b.submit_wrap_up("a2", chat, "Spam")
    assert a.conversation(chat).outcome == "customer_ended"
    assert a.agent("a2").state == "available"
    later = b.start_chat("Podpora", "Yveta", "y@example.com")
    assert [o.conversation_id for o in a.offers("a2")] == [later]
    b.logout("a1")
    assert a.agent("a1").state == "logged_out"


CRASH = textwrap.dedent(
    """
    import os, sys
    from livechat_core import Desk, SqliteStore
    desk = Desk(store=SqliteStore(sys.argv[1]))
    kept = desk.start_chat("Podpora", "Before", "before@example.com")
    print(kept, flush=True)
    with desk.batch():
        desk.send_customer_message(kept, "lost")
        print(desk.start_chat("Podpora", "Inside", "inside@example.com"), flush=True)
        os._exit(9)  # the process dies before the block ends
    """
)


def test_a_process_killed_inside_a_block_loses_the_block_and_nothing_else(
    tmp_path: Path,
) -> None:
    path = tmp_path / "killed.db"
    store = SqliteStore(path)
    Desk(store=store).add_queue("Podpora", ["Vyřešeno"])
    store.close()
    done = subprocess.run(
        [sys.executable, "-c", CRASH, str(path)], capture_output=True, timeout=60, check=False
    )
    assert done.returncode == 9, done.stderr.decode()
    kept, inside = done.stdout.decode().split()
    store = SqliteStore(path)
    desk = Desk(store=store)
    assert desk.conversation(kept).state == "queued"
    assert list(desk.conversation(kept).messages) == []
    with pytest.raises(LivechatError):
        desk.conversation(inside)
    desk.send_customer_message(kept, "after the crash")  # the store goes on
    store.close()


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    if request.param == "memory":
        yield MemoryStore()
        return
    if request.param == "sqlite":
        store: Any = SqliteStore(tmp_path / "any.db")
    else:
        from livechat_core import PostgresStore

        store = PostgresStore(request.getfixturevalue("postgres_dsn"))
    yield store
    store.close()


def test_batch_refusals_undo_only_themselves_on_every_store(
    any_store: Any, clock: ManualClock
) -> None:
    transport = Recorder()
    desk = Desk(store=any_store, clock=clock, transport=transport)
    desk.add_queue("Podpora", ["Vyřešeno"])
    desk.login("a1", "Alena", ["Podpora"])
    transport.calls.clear()
    with desk.batch():
        chat = desk.start_chat("Podpora", "Xaver", "x@example.com")
        desk.send_customer_message(chat, "první")
        with pytest.raises(LivechatError):
            desk.send_customer_message(chat, "x" * 10_001)  # over the customer cap
        desk.set_available("a1")
        with pytest.raises(LivechatError):
            desk.accept("a1", "no-such-chat")
        with pytest.raises(LivechatError):
            desk.submit_wrap_up("a1", chat, "Vyřešeno")  # nothing to wrap up
        desk.accept("a1", chat)
        desk.send_customer_message(chat, "druhá")
        assert transport.calls == []
    view = desk.conversation(chat)
    assert (view.state, view.owner) == ("active", "a1")
    assert [m.text for m in view.messages] == ["první", "druhá"]
    relayed = [e.id for e in transport.events]
    assert relayed == [e.id for _, e in desk.events_after(0)][-len(relayed) :]
    assert {e.aggregate_id for e in transport.events} == {chat, "a1"}
    with pytest.raises(LivechatError):
        desk.conversation("no-such-chat")


def test_relay_on_postgres_is_woken_by_notify_not_by_polling(postgres_dsn: str) -> None:
    import selectors

    from livechat_core import PostgresStore

    process = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("livechat-core")),
            "relay",
            "--store",
            postgres_dsn,
            "--transport",
            "-",
            "--interval",
            "60",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        store = PostgresStore(postgres_dsn)
        desk = Desk(store=store)
        assert process.stderr is not None
        wait_for_line(process.stderr, b"starting", timeout=60)
        time.sleep(1.0)  # listening, its first pass done
        assert process.poll() is None
        desk.add_queue("Podpora", ["Vyřešeno"])
        added = time.monotonic()
        assert process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            assert selector.select(timeout=15), "the relay did not publish within 15 s"
        line = process.stdout.readline()
        assert json.loads(line)["id"] == "queue:Podpora:1"
        assert time.monotonic() - added < 15  # far below the 60 s poll interval
        store.close()
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err.decode()


def test_worker_fires_deadlines_when_they_fall_due(tmp_path: Path) -> None:
    path = tmp_path / "worker.db"
    store = SqliteStore(path)
    desk = Desk(store=store)
    desk.add_queue("Podpora", ["Vyřešeno"], offer_timeout=1.0)
    desk.login("a1", "Alena", ["Podpora"])
    desk.set_available("a1")
    chat = desk.start_chat("Podpora", "Xaver", "x@example.com")
    process = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("livechat-core")),
            "worker",
            "--store",
            str(path),
            "--interval",
            "0.2",
        ],
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while desk.agent("a1").state != "rona" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert desk.agent("a1").state == "rona"
        assert desk.conversation(chat).state == "queued"
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
        store.close()
    assert process.returncode == 0, err.decode()


def test_a_refused_command_in_an_implicit_group_fails_alone(any_store: Any, fake: Faker) -> None:
    async def main() -> None:
        desk = AsyncDesk(store=any_store)
        await desk.add_queue("Podpora", ["Vyřešeno"])
        calls: list[Any] = []
        for n in range(30):
            if n % 3 == 0:
                calls.append(desk.accept("nobody", f"missing-{n}"))
            else:
                calls.append(desk.start_chat("Podpora", person(fake), fake.email()))
        results = await asyncio.gather(*calls, return_exceptions=True)
        refused = [r for r in results if isinstance(r, BaseException)]
        started = [r for r in results if isinstance(r, str)]
        assert len(refused) == 10
        assert all(isinstance(r, LivechatError) and r.code for r in refused)
        assert len(started) == 20
        for chat in started:
            assert (await desk.conversation(chat)).state == "queued"
        await desk.aclose()

    asyncio.run(main())


AGENT_PROCESS = textwrap.dedent(
    """
    import os, sys, time
    from livechat_core import Desk, SqliteStore
    path, agent, stop_file = sys.argv[1], sys.argv[2], sys.argv[3]
    store = SqliteStore(path)
    desk = Desk(store=store)
    desk.login(agent, "Agent " + agent, ["Podpora"], capacity=2)
    desk.set_available(agent)
    handled = 0
    give_up = time.monotonic() + 90
    while not os.path.exists(stop_file) and time.monotonic() < give_up:
        offers = desk.offers(agent)
        if not offers:
            time.sleep(0.005)
            continue
        for offer in offers:
            desk.accept(agent, offer.conversation_id)
            desk.send_agent_message(agent, offer.conversation_id, "Dobrý den")
            desk.end(agent, offer.conversation_id)
            desk.submit_wrap_up(agent, offer.conversation_id, "Vyřešeno")
            handled += 1
    desk.set_idle(agent, "Konec")
    desk.logout(agent)
    print(handled)
    store.close()
    """
)


def test_agents_in_several_processes_share_the_work_of_one_queue(
    tmp_path: Path, fake: Faker
) -> None:
    path = tmp_path / "work.db"
    stop_file = tmp_path / "stop"
    store = SqliteStore(path)
    desk = Desk(store=store)
    desk.add_queue("Podpora", ["Vyřešeno"], offer_timeout=120.0)
    agents = [f"p{n}" for n in range(4)]
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", AGENT_PROCESS, str(path), agent, str(stop_file)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for agent in agents
    ]
    try:
        chats = []
        for _ in range(40):
            chats.append(desk.start_chat("Podpora", person(fake), fake.email()))
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if all(desk.conversation(c).state == "closed" for c in chats):
                break
            time.sleep(0.05)
    finally:
        stop_file.touch()
        outputs = [process.communicate(timeout=60) for process in processes]
    for process, (_, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err.decode()
    assert sum(int(out) for out, _ in outputs) == 40
    for chat in chats:
        view = desk.conversation(chat)
        assert (view.state, view.outcome) == ("closed", "completed")
        (leg,) = view.legs  # offered to exactly one agent, never twice
        assert (leg.state, leg.wrap_up_reason) == ("done", "Vyřešeno")
        assert [(m.role, m.text) for m in view.messages] == [("agent", "Dobrý den")]
    assert all(desk.agent(agent).state == "logged_out" for agent in agents)
    store.close()
