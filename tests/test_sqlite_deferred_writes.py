"""The SQLite store's deferred writes: a transaction (a ``desk.batch()`` block) writes
each agent and conversation it saved once, before its commit, and answers every read in
between from those records.

Checked against the memory store (the reference) with random saves and reads in one
transaction, savepoint scopes that fail after their saves, stale saves, and commits at
random points; and what the file receives: one row write per record per block, no
``SAVEPOINT`` for a scope that writes nothing, and a block whose final writes fail
leaves nothing behind.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from batch_support import lifecycle, one_agent_desk
from livechat_core import ConcurrencyConflict, Desk, MemoryStore, StoreError, UnknownConversation
from livechat_core._machines import AgentState, ConversationState
from livechat_core.adapters.sqlite import SqliteStore
from livechat_core.ports import Changes, Store, StoreTransaction
from livechat_core.testing import ManualClock
from livechat_core.testing._conformance import T0, make_agent, make_conversation

QUEUES = ("support", "billing", "sales")
ASSETS = ("livechat", "shop")
AGENT_IDS = tuple(f"agent{number}" for number in range(6))
CHAT_IDS = tuple(f"chat{number}" for number in range(12))


def _agent(rng: random.Random, agent_id: str, version: int) -> Any:
    state = rng.choice([AgentState.AVAILABLE, AgentState.AVAILABLE, AgentState.IDLE])
    capacity = rng.choice([1, 2])
    holding = tuple(rng.sample(CHAT_IDS, rng.choice([0, 0, 1, 2])))
    return make_agent(
        agent_id,
        queues=tuple(rng.sample(QUEUES, rng.randint(1, 2))),
        version=version,
        state=state,
        capacity=capacity,
        holding=holding,
        idle_reason="break" if state is AgentState.IDLE else None,
        available_since=T0 + rng.choice([0, 1, 2]),
        last_offer_at=rng.choice([None, T0 + 1, T0 + 3, T0 + rng.random()]),
    )


def _conversation(rng: random.Random, chat_id: str, version: int) -> Any:
    state = rng.choice(
        [ConversationState.QUEUED, ConversationState.QUEUED, ConversationState.CLOSED]
    )
    deadline = rng.choice([None, T0 + 10, T0 + 20, T0 + rng.random() * 30])
    if state is ConversationState.CLOSED:
        deadline = None
    return make_conversation(
        chat_id,
        queue=rng.choice(QUEUES),
        asset=rng.choice(ASSETS),
        started_at=T0 + rng.choice([0, 1, 2, rng.random()]),
        state=state,
        version=version,
        deadline=deadline,
        closed_at=T0 + 5 if state is ConversationState.CLOSED else None,
    )


def _reads(txn: StoreTransaction) -> dict[str, Any]:
    """Every read the deferred writes must answer as the reference does."""
    reads: dict[str, Any] = {}
    for queue in (*QUEUES, None):
        for limit in (1, 2, 10):
            reads[f"routable {queue} {limit}"] = txn.routable(queue, limit)
        reads[f"agents {queue}"] = txn.agents(queue)
    for names in (QUEUES[:1], QUEUES[1:], QUEUES):
        for limit in (1, 3, 20):
            reads[f"queued {names} {limit}"] = txn.queued(names, limit)
    for now in (T0 + 5, T0 + 15, T0 + 40):
        for limit in (1, 4, 50):
            reads[f"due {now} {limit}"] = txn.due(now, limit)
            for after in (None, (T0 + 10, "chat5"), (T0 + 20, "")):
                reads[f"due_after {now} {after} {limit}"] = txn.due_after(now, after, limit)
    for asset in ASSETS:
        reads[f"open {asset}"] = txn.open_on_asset(asset)
    for agent_id in AGENT_IDS:
        reads[f"agent {agent_id}"] = txn.agent(agent_id)
    for chat_id in CHAT_IDS:
        reads[f"conversation {chat_id}"] = txn.conversation(chat_id)
    return reads


class _Failed(Exception):
    pass


def _fail_after(txn: StoreTransaction, *saves: Changes) -> None:
    """Save ``saves`` in a savepoint scope, then fail it."""
    with txn.savepoint():
        for changes in saves:
            txn.save(changes)
        raise _Failed


def _step(rng: random.Random, txn: StoreTransaction, versions: dict[str, int]) -> str:
    """One random save (in a scope that fails, as a stale save, or plain) on ``txn``,
    with ``versions`` the stored versions the step starts from; what it did."""
    kind = rng.choice(["agent", "conversation", "both"])
    changes_agents, changes_conversations = [], []
    if kind in ("agent", "both"):
        agent_id = rng.choice(AGENT_IDS)
        base = versions.get(agent_id, 0)
        changes_agents.append((_agent(rng, agent_id, base + 1), base))
    if kind in ("conversation", "both"):
        chat_id = rng.choice(CHAT_IDS)
        base = versions.get(chat_id, 0)
        changes_conversations.append((_conversation(rng, chat_id, base + 1), base))
    how = rng.choice(["plain", "plain", "scope", "failing scope", "stale"])
    if how == "stale":
        record, base = (changes_conversations or changes_agents)[0]
        stale = Changes(
            agents=tuple((a, b + 1) for a, b in changes_agents),
            conversations=tuple((c, b + 1) for c, b in changes_conversations),
        )
        with pytest.raises(ConcurrencyConflict):
            txn.save(stale)
        return how
    changes = Changes(agents=tuple(changes_agents), conversations=tuple(changes_conversations))
    if how == "plain":
        txn.save(changes)
    elif how == "scope":
        with txn.savepoint():
            txn.save(changes)
    else:
        with pytest.raises(_Failed):
            _fail_after(txn, changes)
        return how
    for record, _ in (*changes_agents, *changes_conversations):
        versions[record.id] = record.version
    return how


@pytest.mark.parametrize("seed", range(12))
def test_random_saves_and_reads_agree_with_the_reference(tmp_path: Path, seed: int) -> None:
    reference, sqlite = MemoryStore(), SqliteStore(str(tmp_path / "desk.db"), synchronous="OFF")
    stores: list[Store] = [reference, sqlite]
    versions: dict[str, int] = {}
    rng = random.Random(seed)
    try:
        for _block in range(6):
            steps = [random.Random(rng.random()) for _ in range(rng.randint(1, 25))]
            results = []
            for store in stores:
                store_versions = dict(versions)
                seen = []
                with store.transaction() as txn:
                    for step in steps:
                        state = step.getstate()
                        seen.append((_step(step, txn, store_versions), _reads(txn)))
                        step.setstate(state)
                results.append((seen, store_versions))
            assert results[0] == results[1]
            versions = results[0][1]
            with reference.transaction(write=False) as a, sqlite.transaction(write=False) as b:
                assert _reads(a) == _reads(b)
            assert reference.conversation_ids() == sqlite.conversation_ids()
    finally:
        sqlite.close()


def _statements(store: SqliteStore) -> Iterator[list[str]]:
    statements: list[str] = []
    store._connect().set_trace_callback(statements.append)
    try:
        yield statements
    finally:
        store._connect().set_trace_callback(None)


def test_a_block_writes_each_record_once(tmp_path: Path) -> None:
    store = SqliteStore(str(tmp_path / "desk.db"))
    desk = one_agent_desk(store)
    statements: list[str] = []
    store._connect().set_trace_callback(statements.append)
    with desk.batch():
        chats = [lifecycle(desk, number) for number in range(3)]
    store._connect().set_trace_callback(None)
    writes = [s.split(" (")[0].split(" SET")[0] for s in statements]
    # 3 chats of six commands: each chat's row once, the agent's once, 21 event inserts
    assert writes.count("INSERT INTO conversations") == 3
    assert writes.count("UPDATE conversations") == 0
    assert writes.count("UPDATE agents") == 1
    assert [s for s in statements if s.startswith(("BEGIN", "COMMIT"))] == [
        "BEGIN IMMEDIATE",
        "COMMIT",
    ]
    reopened = Desk(store=SqliteStore(str(tmp_path / "desk.db")), clock=ManualClock(T0))
    for chat in chats:
        assert reopened.conversation(chat).state is ConversationState.CLOSED
        assert len(reopened.events(chat)) == 7
    assert reopened.agent("ann").holding == ()


def test_a_scope_that_writes_nothing_sends_no_savepoint(tmp_path: Path) -> None:
    store = SqliteStore(str(tmp_path / "desk.db"))
    desk = Desk(store=store, clock=ManualClock(T0))
    desk.add_queue("support", ["Resolved"])
    desk.login("ann", "Ann", ["support"])
    statements: list[str] = []
    store._connect().set_trace_callback(statements.append)
    with desk.batch():
        with pytest.raises(UnknownConversation):  # refused: nothing written
            desk.accept("ann", "no-such-chat")
        desk.set_available("ann")
    store._connect().set_trace_callback(None)
    savepoints = [s for s in statements if "SAVEPOINT" in s or s.startswith("RELEASE")]
    assert savepoints == ["SAVEPOINT livechat_command", "RELEASE livechat_command"]
    assert desk.agent("ann").state is AgentState.AVAILABLE


def test_a_failed_scope_keeps_the_saves_before_it(tmp_path: Path) -> None:
    store = SqliteStore(str(tmp_path / "desk.db"))
    first = make_conversation("c1", version=1)
    with store.transaction() as txn:
        txn.save(Changes(conversations=((first, 0),)))
        with pytest.raises(_Failed):
            _fail_after(
                txn,
                Changes(conversations=((make_conversation("c1", version=2), 1),)),
                Changes(agents=((make_agent("ann", version=1), 0),)),
            )
        assert txn.conversation("c1") == first
        assert txn.agent("ann") is None
        assert txn.queued(["support"], 5) == [first]
    with store.transaction(write=False) as txn:
        assert txn.conversation("c1") == first
        assert txn.agent("ann") is None
    assert store.conversation_ids() == ["c1"]


def test_a_block_whose_final_writes_fail_leaves_nothing(tmp_path: Path) -> None:
    path = str(tmp_path / "desk.db")
    store = SqliteStore(path)
    desk = Desk(store=store, clock=ManualClock(T0))
    desk.add_queue("support", ["Resolved"])
    desk.add_queue("doomed", ["Resolved"])
    desk.login("ann", "Ann", ["support"])
    # Something the version checks cannot foresee: the file refuses a row when written.
    store._connect().execute(
        "CREATE TRIGGER refuse BEFORE INSERT ON conversations WHEN NEW.queue = 'doomed' "
        "BEGIN SELECT RAISE(ABORT, 'refused by a trigger'); END"
    )
    before, logged = store.conversation_ids(), store.log(0, 100_000)

    def block() -> None:
        with desk.batch():
            desk.start_chat("support", "Karel", "")
            desk.set_available("ann")
            desk.start_chat("doomed", "Eva", "")

    with pytest.raises(StoreError):
        block()
    assert store.conversation_ids() == before
    assert desk.agent("ann").state is AgentState.IDLE
    assert store.log(0, 100_000) == logged
    # The store goes on: the next block commits.
    with desk.batch():
        chat = desk.start_chat("support", "Karel", "")
    assert store.conversation_ids() == [*before, chat]


def test_conversation_ids_inside_a_block_list_the_unwritten_ones(tmp_path: Path) -> None:
    store = SqliteStore(str(tmp_path / "desk.db"))
    desk = Desk(store=store, clock=ManualClock(T0))
    desk.add_queue("support", ["Resolved"])
    with desk.batch():
        first = desk.start_chat("support", "Karel", "")
        second = desk.start_chat("support", "Eva", "")
        assert store.conversation_ids() == [first, second]
    assert store.conversation_ids() == [first, second]
