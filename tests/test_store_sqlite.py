"""The SQLite store passes the store conformance suite, on a real file."""

from __future__ import annotations

import contextlib
import multiprocessing
import pathlib
import pickle
import sqlite3
from typing import Any

import attrs
import pytest

from livechat_core import ConcurrencyConflict, Desk, Message, Role
from livechat_core.adapters import _codec
from livechat_core.adapters.sqlite import SqliteStore
from livechat_core.events import MessagePosted
from livechat_core.ports import Changes, Store
from livechat_core.testing import StoreConformance
from livechat_core.testing._conformance import (
    every_event,
    make_agent,
    make_conversation,
    make_queue,
    save,
)


class TestSqliteStore(StoreConformance):
    @pytest.fixture(autouse=True)
    def _directory(self, tmp_path: pathlib.Path) -> None:
        self.path = tmp_path / "desk.db"

    def make_store(self) -> Store:
        return SqliteStore(self.path)


def _digits_in_files(directory: pathlib.Path, needles: list[bytes]) -> list[str]:
    found = []
    for path in directory.iterdir():
        data = path.read_bytes()
        found += [f"{path.name}: {needle!r}" for needle in needles if needle in data]
    return found


def test_a_card_split_over_messages_leaves_no_copy_in_the_files(tmp_path: pathlib.Path) -> None:
    """PCI at rest: the earlier fragment is redacted, and no old copy survives on disk."""
    store = SqliteStore(tmp_path / "desk.db")
    try:
        desk = Desk(store=store)
        desk.add_queue("support", ["Resolved"])
        chat = desk.start_chat("support", "Karel", "karel@example.com")
        for number in range(30):
            desk.send_customer_message(chat, f"zpráva číslo {number} " + "x" * 200)
        desk.send_customer_message(chat, "moje karta 4012 8888")
        desk.send_customer_message(chat, "8888 1881 platí do 12/27")
        texts = [message.text for message in desk.conversation(chat).messages]
        assert not any("4012" in text for text in texts), texts
        assert _digits_in_files(tmp_path, [b"4012 8888", b"4012888888881881"]) == []
    finally:
        store.close()
    assert _digits_in_files(tmp_path, [b"4012 8888", b"4012888888881881"]) == []


def test_the_store_pickles_and_reopens_by_path(tmp_path: pathlib.Path) -> None:
    with SqliteStore(tmp_path / "desk.db", synchronous="NORMAL") as store:
        Desk(store=store).add_queue("support", ["Resolved"])
        copy = pickle.loads(pickle.dumps(store))
        try:
            assert copy.synchronous == "NORMAL"
            assert [q.name for q in Desk(store=copy).queues()] == ["support"]
        finally:
            copy.close()


def _child_adds_a_queue(store: SqliteStore, name: str) -> None:
    try:
        Desk(store=store).add_queue(name, ["Resolved"])
    finally:
        store.close()


@pytest.mark.parametrize("method", ["spawn", "fork"])
def test_a_child_process_uses_the_same_file(tmp_path: pathlib.Path, method: str) -> None:
    with SqliteStore(tmp_path / "desk.db") as store:
        Desk(store=store).add_queue("support", ["Resolved"])
        context = multiprocessing.get_context(method)
        child = context.Process(  # type: ignore[attr-defined]
            target=_child_adds_a_queue, args=(store, "billing")
        )
        child.start()
        child.join(60)
        assert child.exitcode == 0
        assert [q.name for q in Desk(store=store).queues()] == ["billing", "support"]


def test_an_event_stored_twice_conflicts(tmp_path: pathlib.Path) -> None:
    event = every_event()[0]
    with SqliteStore(tmp_path / "desk.db") as store:
        save(store, Changes(events=(event,)))
        with pytest.raises(ConcurrencyConflict), store.transaction() as txn:
            txn.save(Changes(events=(event,)))
        assert store.events("c1") == [event]


def test_synchronous_must_be_a_sqlite_level(tmp_path: pathlib.Path) -> None:
    with pytest.raises(ValueError, match="synchronous"):
        SqliteStore(tmp_path / "desk.db", synchronous="SOMETIMES")  # type: ignore[arg-type]


def test_a_redaction_leaves_no_old_copy_in_the_files(tmp_path: pathlib.Path) -> None:
    """The store alone: a redacted message's old text is gone from the file and the WAL."""
    conversation = make_conversation("c1")
    message = Message(
        id="c1/1", role=Role.CUSTOMER, author="Karel", text="karta 4012 8888", at=1.0, initials="K"
    )
    posted = MessagePosted(aggregate_id="c1", sequence=2, at=1.0, message=message)
    noise = [
        MessagePosted(
            aggregate_id="c1",
            sequence=3 + n,
            at=2.0,
            message=attrs.evolve(message, id=f"c1/{n + 2}", text="x" * 300),
        )
        for n in range(40)
    ]
    with SqliteStore(tmp_path / "desk.db") as store:
        save(store, Changes(conversations=((conversation, 0),), events=(posted, *noise)))
        store.mark_published([posted.id])
        assert _digits_in_files(tmp_path, [b"4012 8888"]) != []
        save(store, Changes(redactions=(("c1", "c1/1", "karta **** ****"),)))
        assert _digits_in_files(tmp_path, [b"4012 8888"]) == []
        stored = store.events("c1")[0]
        assert isinstance(stored, MessagePosted)
        assert stored.message.text == "karta **** ****"


def test_a_record_changed_by_another_store_is_read_anew(tmp_path: pathlib.Path) -> None:
    """Records kept decoded across transactions are used only at the stored version."""
    with SqliteStore(tmp_path / "desk.db") as mine, SqliteStore(tmp_path / "desk.db") as other:
        save(mine, Changes(agents=((make_agent(capacity=1), 0),)))
        with mine.transaction() as txn:
            assert txn.agent("jana") == make_agent(capacity=1)  # kept from here on
        save(other, Changes(agents=((make_agent(capacity=3, version=2), 1),)))
        with mine.transaction() as txn:
            assert txn.agent("jana") == make_agent(capacity=3, version=2)


def test_a_rolled_back_save_is_not_kept(tmp_path: pathlib.Path) -> None:
    """A version written by a rolled-back transaction never existed: another writer may
    commit a different record under it, and that is the one read afterwards."""
    with SqliteStore(tmp_path / "desk.db") as mine, SqliteStore(tmp_path / "desk.db") as other:
        save(mine, Changes(conversations=((make_conversation("c1"), 0),)))
        rolled_back = make_conversation("c1", version=2, customer_name="Rolled Back")

        def fail_after_the_save() -> None:
            with mine.transaction() as txn:
                txn.save(Changes(conversations=((rolled_back, 1),)))
                raise RuntimeError("the command failed after its save")

        with pytest.raises(RuntimeError):
            fail_after_the_save()
        committed = make_conversation("c1", version=2, customer_name="Committed")
        save(other, Changes(conversations=((committed, 1),)))
        with mine.transaction(write=False) as txn:
            assert txn.conversation("c1") == committed


def test_a_stale_save_on_a_kept_record_conflicts_and_writes_nothing(
    tmp_path: pathlib.Path,
) -> None:
    with SqliteStore(tmp_path / "desk.db") as mine, SqliteStore(tmp_path / "desk.db") as other:
        save(mine, Changes(queues=((make_queue(), 0),)))
        with mine.transaction() as txn:
            assert txn.queue("support") == make_queue()
        save(other, Changes(queues=((make_queue(version=2, offer_timeout=5.0), 1),)))
        event = every_event()[0]
        with pytest.raises(ConcurrencyConflict), mine.transaction() as txn:
            txn.save(Changes(queues=((make_queue(version=2), 1),), events=(event,)))
        with mine.transaction(write=False) as txn:
            assert txn.queue("support") == make_queue(version=2, offer_timeout=5.0)
        assert mine.events(event.aggregate_id, event.aggregate) == []


def test_the_indexed_columns_follow_every_record(tmp_path: pathlib.Path) -> None:
    """Updates set only the columns that changed; every row still agrees with its record."""
    path = tmp_path / "desk.db"
    with SqliteStore(path) as store:
        desk = Desk(store=store)
        desk.add_queue("support", ["Resolved"], offer_timeout=60.0)
        desk.add_queue("billing", ["Resolved"], offer_timeout=60.0)
        desk.login("jana", "Jana", ["support", "billing"])
        desk.set_available("jana")
        for number in range(3):
            chat = desk.start_chat("support", "Karel", "karel@example.com", asset=f"web{number}")
            desk.send_customer_message(chat, "Dobrý den")
            desk.accept("jana", chat)
            if number == 1:
                desk.transfer_to_queue("jana", chat, "billing")
                desk.accept("jana", chat)
            desk.end("jana", chat)
            if number < 2:
                desk.submit_wrap_up("jana", chat, "Resolved")
        desk.start_chat("support", "Eva", "eva@example.com")  # stays queued: jana is full
    with contextlib.closing(sqlite3.connect(path)) as connection:
        rows = connection.execute(
            "SELECT state, queue, asset, started_at, next_deadline, record FROM conversations"
        ).fetchall()
    assert len(rows) == 4
    for *columns, record in rows:
        conversation = _codec.conversation_from_json(record)
        expected = [
            str(conversation.state),
            conversation.queue,
            conversation.asset,
            conversation.started_at,
            conversation.next_deadline,
        ]
        assert expected == columns


def _child_reads_the_capacity(store: SqliteStore, go: Any, answer: Any) -> None:
    try:
        go.wait(60)
        with store.transaction() as txn:
            agent = txn.agent("jana")
        answer.send(None if agent is None else agent.capacity)
    finally:
        store.close()


def test_a_forked_child_trusts_no_record_kept_by_its_parent(tmp_path: pathlib.Path) -> None:
    """The child's own connection counts ``data_version`` anew: what the parent kept is
    checked against the file, which the parent changed after the fork."""
    context = multiprocessing.get_context("fork")
    with SqliteStore(tmp_path / "desk.db") as store:
        save(store, Changes(agents=((make_agent(capacity=1), 0),)))
        with store.transaction() as txn:
            assert txn.agent("jana") == make_agent(capacity=1)
        go = context.Event()
        answer, child_end = context.Pipe(duplex=False)
        child = context.Process(target=_child_reads_the_capacity, args=(store, go, child_end))
        child.start()
        save(store, Changes(agents=((make_agent(capacity=3, version=2), 1),)))
        go.set()
        assert answer.poll(60)
        capacity = answer.recv()
        child.join(60)
        assert child.exitcode == 0
        assert capacity == 3
