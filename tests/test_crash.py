"""A process killed with SIGKILL in the middle of a stream of commands loses nothing.

A child process runs chat lifecycles against the store and, after each command returns,
appends an acknowledgement line to a file (``os.write``: once written, the kernel has
it, whatever happens to the process). The parent kills it with SIGKILL at a random
moment, three times, each time starting a new child that continues the stream. Then:

* every acknowledged command is intact (its chat exists, its message is in the
  transcript exactly once, its wrap-up closed the chat);
* nothing is half applied: each conversation equals the replay of its stored events,
  and each agent holds exactly the chats in which they have an offered or active leg;
* a new desk's ``relay()`` hands every committed event that the children did not
  deliver to a transport, so delivered ∪ relayed = every stored event.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import pathlib
import random
import signal
import time
from collections.abc import Callable, Sequence

import pytest

from livechat_core import Desk, Event, LegState, replay
from livechat_core.adapters.sqlite import SqliteStore
from livechat_core.ports import Store

KILLS = 3


class FileTransport:
    """Appends the id of every published event to a file, one per line."""

    def __init__(self, path: pathlib.Path) -> None:
        self.path = path

    def publish(self, events: Sequence[Event]) -> None:
        descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            os.write(descriptor, "".join(f"{event.id}\n" for event in events).encode())
        finally:
            os.close(descriptor)


def _settle(desk: Desk) -> None:
    """Finish whatever the agent still holds from a killed run."""
    for offer in desk.offers("jana"):
        desk.accept("jana", offer.conversation_id)
    agent = desk.agent("jana")
    for chat in agent.holding:
        desk.end("jana", chat)
    for chat in desk.agent("jana").wrapping:
        desk.submit_wrap_up("jana", chat, "Resolved")


def child(store: Store, run: int, acks: pathlib.Path, delivered: pathlib.Path) -> None:
    """Chat lifecycles until killed; one acknowledgement line per returned command."""
    numbers = itertools.count()
    desk = Desk(
        store=store,
        transport=FileTransport(delivered),
        new_id=lambda: f"run{run}-chat{next(numbers)}",
    )
    descriptor = os.open(acks, os.O_WRONLY | os.O_APPEND | os.O_CREAT)

    def ack(*fields: str) -> None:
        os.write(descriptor, ("\t".join(fields) + "\n").encode())

    _settle(desk)
    for number in range(100_000):
        chat = desk.start_chat("support", f"Customer {number}", "customer@example.com")
        ack("start", chat)
        text = f"run {run} chat {number} customer"
        desk.send_customer_message(chat, text)
        ack("message", chat, text)
        desk.accept("jana", chat)
        ack("accept", chat)
        text = f"run {run} chat {number} agent"
        desk.send_agent_message("jana", chat, text)
        ack("message", chat, text)
        desk.end("jana", chat)
        ack("end", chat)
        desk.submit_wrap_up("jana", chat, "Resolved", notes=f"notes {number}")
        ack("wrap_up", chat)


def crash_and_check(make_store: Callable[[], Store], tmp_path: pathlib.Path) -> None:
    acks, delivered = tmp_path / "acks", tmp_path / "delivered"
    store = make_store()
    try:
        desk = Desk(store=store, transport=FileTransport(delivered))
        desk.add_queue("support", ["Resolved"])
        desk.login("jana", "Jana Nováková", ["support"])
        desk.set_available("jana")
        context = multiprocessing.get_context("spawn")
        rng = random.Random(4)
        for run in range(KILLS):
            process = context.Process(target=child, args=(store, run, acks, delivered))
            process.start()
            seen = _lines(acks)
            deadline = time.monotonic() + 60
            while len(_lines(acks)) < len(seen) + 25 + rng.randrange(40):
                assert process.is_alive(), "the child stopped before it was killed"
                assert time.monotonic() < deadline, "the child makes no progress"
                time.sleep(0.005)
            time.sleep(rng.uniform(0, 0.01))
            assert process.pid is not None
            os.kill(process.pid, signal.SIGKILL)
            process.join(30)
            assert process.exitcode == -signal.SIGKILL
        _check_acknowledged(desk, _lines(acks))
        _check_nothing_half_applied(desk)
        relayed: list[str] = []
        Desk(store=store, transport=_Collect(relayed)).relay()
        everything = _all_event_ids(desk)
        assert set(_lines(delivered)) | set(relayed) == everything
        assert store.pending() == []
    finally:
        store.close()


class _Collect:
    def __init__(self, sink: list[str]) -> None:
        self.sink = sink

    def publish(self, events: Sequence[Event]) -> None:
        self.sink.extend(event.id for event in events)


def _lines(path: pathlib.Path) -> list[str]:
    if not path.exists():
        return []
    return [line for line in path.read_text().split("\n") if line]


def _check_acknowledged(desk: Desk, acks: list[str]) -> None:
    assert len(acks) > KILLS * 25
    for line in acks:
        kind, chat, *rest = line.split("\t")
        conversation = desk.conversation(chat)
        if kind == "message":
            assert [m.text for m in conversation.messages].count(rest[0]) == 1, line
        elif kind == "accept":
            assert conversation.first_accepted_at is not None, line
        elif kind == "wrap_up":
            assert conversation.state == "closed", line


def _check_nothing_half_applied(desk: Desk) -> None:
    holding: list[str] = []
    wrapping: list[str] = []
    for chat in desk.store.conversation_ids():
        conversation = desk.conversation(chat)
        assert replay(desk.events(chat)) == conversation, chat
        for leg in conversation.legs:
            if leg.state in (LegState.OFFERED, LegState.ACTIVE):
                holding.append(chat)
            elif leg.state is LegState.WRAPPING_UP:
                wrapping.append(chat)
    agent = desk.agent("jana")
    assert sorted(agent.holding) == sorted(holding)
    assert sorted(agent.wrapping) == sorted(wrapping)
    assert [e.sequence for e in desk.store.events("jana", "agent")] == list(
        range(1, agent.sequence + 1)
    )


def _all_event_ids(desk: Desk) -> set[str]:
    ids = {event.id for chat in desk.store.conversation_ids() for event in desk.events(chat)}
    ids |= {event.id for event in desk.store.events("jana", "agent")}
    ids |= {event.id for event in desk.store.events("support", "queue")}
    return ids


def test_a_killed_process_leaves_the_sqlite_file_whole(tmp_path: pathlib.Path) -> None:
    crash_and_check(lambda: SqliteStore(tmp_path / "desk.db"), tmp_path)


@pytest.mark.postgres
def test_a_killed_process_leaves_the_postgres_database_whole(
    tmp_path: pathlib.Path, postgres_dsn: str
) -> None:
    from livechat_core.adapters.postgres import PostgresStore

    crash_and_check(lambda: PostgresStore(postgres_dsn), tmp_path)
