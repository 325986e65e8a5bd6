"""The memory store's common-shape save (``_MemoryTransaction.save_last``: one
conversation, at most one agent, no outbox) against its general path (``_save_any``,
which a store overriding ``_check`` or keeping an outbox goes through): the same commands
leave the two stores in the same state, index for index, after every step; a stale
version is refused and a packer that fails leaves nothing behind on either path."""

from __future__ import annotations

from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livechat_core import ConcurrencyConflict, Conversation, Desk
from livechat_core._commands import StartChat
from livechat_core._events import ChatEnded, ChatOffered
from livechat_core._machines import AgentState
from livechat_core._model import Agent
from livechat_core.adapters import memory
from livechat_core.adapters.memory import MemoryStore
from livechat_core.ports import Changes, routing_key
from livechat_core.testing.clock import ManualClock
from livechat_core.testing.strategies import Scenario, scenarios
from test_mem_save import _check, _records

T0 = 1_767_258_000.0


class _General(MemoryStore):
    """A store whose saves all take the general path (a subclass with its own
    ``_check`` does)."""

    def _check(self, changes: Changes) -> None:
        super()._check(changes)


def _fast_store() -> MemoryStore:
    store = MemoryStore(outbox=False)
    assert store._transaction_type is memory._MemoryTransaction
    return store


def _general_store() -> MemoryStore:
    store = _General(outbox=False)
    assert store._transaction_type is memory._GeneralTransaction
    return store


def _state(store: MemoryStore) -> dict[str, Any]:
    """Everything a save writes, in the order it is kept in."""
    log = store._log
    return {
        "records": list(_records(store).items()),
        "packed": list(store._packed_conversations.items()),
        "recent": list(store._recent.items()),
        "newest": store._newest,
        "agents": list(store._agents.items()),
        "members": {name: sorted(ids) for name, ids in store._members.items()},
        "queues": list(store._queues.items()),
        "routable": {key: keys._blocks for key, keys in store._routable.items()},
        "queued": {key: keys._blocks for key, keys in store._queued.items()},
        "open": {asset: list(ids) for asset, ids in store._open_by_asset.items()},
        "deadlines": list(store._deadlines.items()),
        "due": store._due._blocks,
        "closed": list(store._closed),
        "log": (log.chunks, log.tail, log.start),
        "positions": {key: bytes(data) for key, data in store._log_positions.items()},
        "outbox": list(store._outbox.items()),
        "deleted": sorted(store._deleted_assets),
    }


@settings(max_examples=60, deadline=None)
@given(scenarios(max_steps=40), st.sampled_from([256, 3, 1, 0]), st.sampled_from([1024, 3]))
def test_the_common_shape_saves_what_the_general_path_saves(
    scenario: Scenario, recent: int, chunk: int
) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(memory, "_RECENT", recent)  # records packed and read back often
        patch.setattr(memory, "_CHUNK", chunk)  # saves that fill a chunk of the log
        fast, general = _fast_store(), _general_store()
        clock = ManualClock(scenario.start)
        desks = [Desk(store=fast, clock=clock), Desk(store=general, clock=clock)]
        for number, step in enumerate(scenario.steps):
            clock.set(step.at)
            for desk in desks:
                desk.handle(step.command)
            _check(fast)
            assert _state(fast) == _state(general)
            ids = fast.conversation_ids()
            if ids:  # a read unpacks one that left the recent few: saved from packed next
                for store in (fast, general):
                    with store.transaction(write=False) as txn:
                        txn.conversation(ids[number % len(ids)])
                assert _state(fast) == _state(general)


def _one_chat(store: MemoryStore) -> tuple[Desk, str]:
    desk = Desk(store=store, clock=ManualClock(T0))
    desk.add_queue("support", ["Resolved"])
    desk.login("jana", "Jana", ["support"])
    desk.set_available("jana")
    desk.handle(
        StartChat(conversation_id="c1", queue="support", customer_name="Karel", customer_contact="")
    )
    return desk, "c1"


@pytest.mark.parametrize("make", [_fast_store, _general_store], ids=["fast", "general"])
@pytest.mark.parametrize("stale", ["conversation", "agent", "new conversation"])
def test_a_stale_version_is_refused_and_nothing_is_written(make: Any, stale: str) -> None:
    store = make()
    _, chat = _one_chat(store)
    with store.transaction(write=False) as txn:
        record = txn.conversation(chat)
        agent = txn.agent("jana")
    assert record is not None
    assert agent is not None
    before = _state(store)
    conversation_base = record.version - 1 if stale == "conversation" else record.version
    agent_base = agent.version + 1 if stale == "agent" else agent.version
    changed = attrs.evolve(record, version=record.version + 1, customer_name="Eva")
    if stale == "new conversation":
        changed = attrs.evolve(record, id="new", version=1)
        conversation_base = 1  # it must not exist: 0
    changes = Changes(
        conversations=((changed, conversation_base),),
        agents=((attrs.evolve(agent, version=agent.version + 1), agent_base),),
        events=(
            ChatEnded(aggregate_id=chat, sequence=9, at=T0, agent_id="jana", wrap_up_deadline=None),
        ),
    )
    with pytest.raises(ConcurrencyConflict), store.transaction() as txn:
        txn.save_last(changes)
    assert _state(store) == before


@pytest.mark.parametrize("make", [_fast_store, _general_store], ids=["fast", "general"])
def test_a_packer_that_fails_takes_back_what_it_logged(make: Any) -> None:
    store = make()
    desk, chat = _one_chat(store)
    desk.accept("jana", chat)
    desk.end("jana", chat)  # jana may be offered the next one
    before = _state(store)

    def broken(event: Any) -> Any:
        raise RuntimeError("cannot pack")

    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(memory._PACKERS, ChatOffered, broken)
        with pytest.raises(RuntimeError):
            desk.start_chat("support", "Eva", "e@example.com")  # ChatStarted, ChatOffered
    assert _state(store) == before
    _check(store)


@pytest.mark.parametrize("queues", [("support", "billing"), ("billing",), ()])
@pytest.mark.parametrize("new", [False, True], ids=["known", "new"])
def test_an_agent_saved_with_other_queues_or_new(queues: tuple[str, ...], new: bool) -> None:
    """The common shape with an agent whose memberships change (``_put_agent``'s general
    case): what the general path saves."""
    states = []
    for store in (_fast_store(), _general_store()):
        _, chat = _one_chat(store)
        with store.transaction() as txn:
            record = txn.conversation(chat)
            agent = txn.agent("jana")
            assert record is not None
            assert agent is not None
            changed = attrs.evolve(record, version=record.version + 1, customer_name="Eva")
            if new:
                agent, base = attrs.evolve(agent, id="eva", holding=(), version=1), 0
            else:
                base = agent.version
                agent = attrs.evolve(agent, holding=(), version=base + 1)
            txn.save_last(
                Changes(
                    conversations=((changed, record.version),),
                    agents=((attrs.evolve(agent, queues=queues), base),),
                )
            )
        _check(store)
        states.append(_state(store))
    assert states[0] == states[1]
    assert sorted(states[0]["members"]) == sorted({"support", *queues})


_STATES = st.sampled_from(list(AgentState))
_TIMES = st.none() | st.sampled_from([0.0, -0.0, T0, T0 + 1])


@given(
    state=_STATES,
    capacity=st.integers(0, 3),
    holding=st.integers(0, 4),
    available_since=_TIMES,
    last_offer_at=_TIMES,
)
def test_the_routing_key_is_the_properties(
    state: AgentState,
    capacity: int,
    holding: int,
    available_since: float | None,
    last_offer_at: float | None,
) -> None:
    agent = Agent(
        id="jana",
        name="Jana",
        queues=("support",),
        capacity=capacity,
        state=state,
        holding=tuple(f"c{n}" for n in range(holding)),
        available_since=available_since,
        last_offer_at=last_offer_at,
    )
    expected = routing_key(agent) if agent.routable else None
    found = memory._routing_key(agent)
    assert found == expected
    if found is not None and expected is not None:  # the same value, sign and all
        assert [repr(value) for value in found] == [repr(value) for value in expected]


def test_a_record_is_never_false() -> None:
    """``txn.conversation`` reads ``recent.get(id) or <unpacked>``: a record kept must be
    true, so its class defines no truth of its own."""
    assert not hasattr(Conversation, "__bool__")
    assert not hasattr(Conversation, "__len__")


def test_a_conflict_on_the_general_path_chains_no_error_of_the_shape_test() -> None:
    """Changes of another shape (no conversation here) fail to unpack as the common one:
    what the general path then raises is not chained to that ``ValueError``."""
    store = _fast_store()
    _one_chat(store)
    with store.transaction(write=False) as txn:
        agent = txn.agent("jana")
    assert agent is not None
    stale = Changes(agents=((attrs.evolve(agent, version=agent.version + 1), 0),))
    with pytest.raises(ConcurrencyConflict) as raised, store.transaction() as txn:
        txn.save_last(stale)
    assert raised.value.__context__ is None
