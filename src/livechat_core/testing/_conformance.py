"""The store conformance suite: every store adapter passes it by supplying one factory.

Subclass :class:`StoreConformance` in a pytest module and implement
:meth:`~StoreConformance.make_store`::

    from livechat_core.testing import StoreConformance

    class TestMyStore(StoreConformance):
        def make_store(self) -> Store:
            return MyStore(...)  # empty, private to this test

Each test gets a fresh store from the factory and closes it afterwards. The suite checks
the whole contract of :mod:`livechat_core.ports`: atomic transactions, optimistic
concurrency (stale writes conflict and write nothing), the ordered reads the desk routes
with, the outbox, redactions, the round trip of every record and event, and a complete
desk scenario whose views and events must equal those of the in-memory reference store.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any, cast

import attrs
import pytest

from .._async import AsyncDesk
from .._desk import Desk
from .._errors import ConcurrencyConflict, InvalidArgument, LivechatError
from .._events import (
    EVENT_TYPES,
    AgentAvailable,
    AgentIdle,
    AgentLoggedIn,
    AgentLoggedOut,
    AgentRona,
    AssetDeletedEvent,
    ChatEnded,
    ChatInterrupted,
    ChatOffered,
    ChatStarted,
    ConferenceRequested,
    CustomerEnded,
    Event,
    GuestReleased,
    MessagePosted,
    MessagesRedacted,
    OfferAccepted,
    OfferDeclined,
    OfferRescinded,
    OfferTimedOut,
    QueueConfigured,
    TransferredToQueue,
    TransferRequested,
    WrapUpSubmitted,
)
from .._machines import AgentState, ConversationState, LegState
from .._model import (
    Agent,
    Conversation,
    DisconnectReason,
    Leg,
    LegRole,
    Message,
    OfferKind,
    Outcome,
    Queue,
    Role,
)
from ..adapters.memory import MemoryStore
from ..ports import ArchivedConversation, Changes, Store
from ._blocking import BlockingDesk
from .clock import ManualClock

T0 = 1_700_000_000.0


# --- record builders ----------------------------------------------------------------------


def make_queue(name: str = "support", version: int = 1, **fields: Any) -> Queue:
    """A queue record at ``version``."""
    return Queue(name=name, wrap_up_reasons=("Resolved", "Escalated"), version=version, **fields)


def make_agent(
    agent_id: str = "jana", queues: tuple[str, ...] = ("support",), version: int = 1, **fields: Any
) -> Agent:
    """An agent record at ``version``."""
    return Agent(id=agent_id, name=f"Agent {agent_id}", queues=queues, version=version, **fields)


def make_conversation(
    conversation_id: str = "c1",
    *,
    queue: str = "support",
    started_at: float = T0,
    state: ConversationState = ConversationState.QUEUED,
    version: int = 1,
    asset: str = "livechat",
    deadline: float | None = None,
    **fields: Any,
) -> Conversation:
    """A conversation record; ``deadline`` gives it an offered leg due then."""
    legs: tuple[Leg, ...] = ()
    if deadline is not None:
        legs = (
            Leg(
                agent_id="jana",
                agent_name="Jana Nováková",
                role=LegRole.OWNER,
                kind=OfferKind.CHAT,
                queue=queue,
                state=LegState.OFFERED,
                offered_at=started_at,
                deadline=deadline,
            ),
        )
    values: dict[str, Any] = {
        "customer_name": "Karel Novák",
        "customer_contact": "karel@example.com",
        "proactive": False,
        "legs": legs,
        **fields,
    }
    return Conversation(
        id=conversation_id,
        queue=queue,
        asset=asset,
        started_at=started_at,
        state=state,
        version=version,
        **values,
    )


def rich_conversation() -> Conversation:
    """A conversation that uses every field, to check the round trip of records."""
    message = Message(
        id="c9/1",
        role=Role.CUSTOMER,
        author="Jana Nováková",
        text="Dobrý den,\nčíslo karty ****1111 «ok» 😀",
        at=T0 + 0.125,
        initials="JN",
    )
    legs = (
        Leg(
            agent_id="petr",
            agent_name="Petr Svoboda",
            role=LegRole.OWNER,
            kind=OfferKind.TRANSFER,
            queue="support",
            state=LegState.DONE,
            offered_at=T0 + 1,
            deadline=None,
            accepted_at=T0 + 2,
            ended_at=T0 + 3,
            wrap_up_reason="Resolved",
            wrap_up_notes="called back",
            wrapped_up_at=T0 + 4,
            wrapped_up_automatically=True,
        ),
        Leg(
            agent_id="eva",
            agent_name="Eva Dvořáková",
            role=LegRole.GUEST,
            kind=OfferKind.CONFERENCE,
            queue="billing",
            state=LegState.WRAPPING_UP,
            offered_at=T0 + 5,
            deadline=T0 + 65.5,
            accepted_at=T0 + 6,
        ),
    )
    return Conversation(
        id="c9",
        queue="billing",
        asset="web:shop",
        customer_name="Jana Nováková",
        customer_contact="+420 601 123 456",
        proactive=True,
        started_at=T0,
        state=ConversationState.WRAP_UP,
        owner="petr",
        accepted_at=T0 + 2,
        first_accepted_at=T0 + 2,
        legs=legs,
        messages=(message,),
        declined_by=frozenset({"zdenek", "adam"}),
        handed_off_by="jana",
        cause=Outcome.CUSTOMER_ENDED,
        disconnect_reason=DisconnectReason.CUSTOMER_ENDED,
        outcome=None,
        ended_at=T0 + 7,
        closed_at=None,
        last_event_at=T0 + 7.25,
        version=17,
    )


def every_event() -> list[Event]:
    """One event of every type, with every field set (checked against ``EVENT_TYPES``)."""
    message = Message(
        id="c1/1", role=Role.AGENT, author="jana", text="Dobrý den", at=T0 + 1, initials="JN"
    )
    c = "c1"
    conversation_events: list[Event] = [
        ChatStarted(
            aggregate_id=c,
            sequence=1,
            at=T0,
            queue="support",
            customer_name="Karel",
            customer_contact="k@example.com",
            proactive=True,
            asset="livechat",
        ),
        MessagePosted(aggregate_id=c, sequence=2, at=T0 + 1, message=message),
        MessagesRedacted(aggregate_id=c, sequence=3, at=T0 + 2, redactions=(("c1/1", "****"),)),
        ChatOffered(
            aggregate_id=c,
            sequence=4,
            at=T0 + 3,
            agent_id="jana",
            agent_name="Jana",
            deadline=T0 + 33,
        ),
        TransferRequested(
            aggregate_id=c,
            sequence=5,
            at=T0 + 4,
            agent_id="jana",
            target_agent_id="petr",
            target_agent_name="Petr",
            deadline=T0 + 34,
            wrap_up_deadline=None,
        ),
        ConferenceRequested(
            aggregate_id=c,
            sequence=6,
            at=T0 + 5,
            agent_id="jana",
            guest_agent_id="eva",
            guest_agent_name="Eva",
            deadline=T0 + 35,
        ),
        OfferAccepted(aggregate_id=c, sequence=7, at=T0 + 6, agent_id="eva"),
        OfferDeclined(aggregate_id=c, sequence=8, at=T0 + 7, agent_id="eva"),
        OfferTimedOut(aggregate_id=c, sequence=9, at=T0 + 8, agent_id="eva"),
        OfferRescinded(aggregate_id=c, sequence=10, at=T0 + 9, agent_id="eva"),
        TransferredToQueue(
            aggregate_id=c,
            sequence=11,
            at=T0 + 10,
            agent_id="jana",
            queue="billing",
            wrap_up_deadline=T0 + 70,
        ),
        GuestReleased(
            aggregate_id=c,
            sequence=12,
            at=T0 + 11,
            agent_id="eva",
            by="jana",
            wrap_up_deadline=None,
        ),
        CustomerEnded(aggregate_id=c, sequence=13, at=T0 + 12),
        ChatInterrupted(aggregate_id=c, sequence=14, at=T0 + 13, asset="livechat"),
        ChatEnded(
            aggregate_id=c, sequence=15, at=T0 + 14, agent_id="jana", wrap_up_deadline=T0 + 74
        ),
        WrapUpSubmitted(
            aggregate_id=c,
            sequence=16,
            at=T0 + 15,
            agent_id="jana",
            reason="Resolved",
            notes="ok\nthanks",
            automatic=False,
        ),
    ]
    other_events: list[Event] = [
        AgentLoggedIn(
            aggregate_id="jana",
            sequence=1,
            at=T0,
            name="Jana",
            queues=("support", "billing"),
            capacity=2,
        ),
        AgentAvailable(aggregate_id="jana", sequence=2, at=T0 + 1),
        AgentIdle(aggregate_id="jana", sequence=3, at=T0 + 2, reason="lunch"),
        AgentRona(aggregate_id="jana", sequence=4, at=T0 + 3, conversation_id=c),
        AgentLoggedOut(aggregate_id="jana", sequence=5, at=T0 + 4),
        QueueConfigured(
            aggregate_id="support",
            sequence=1,
            at=T0,
            wrap_up_reasons=("Resolved", "Escalated"),
            offer_timeout=30.0,
            wrap_up_timeout=None,
            default_wrap_up_reason="Resolved",
        ),
        AssetDeletedEvent(aggregate_id="livechat", sequence=1, at=T0 + 5),
    ]
    return conversation_events + other_events


def save(store: Store, changes: Changes) -> None:
    """Save ``changes`` in a transaction of their own."""
    with store.transaction() as txn:
        txn.save(changes)


def desk_scenario(desk: Desk, clock: ManualClock) -> list[str]:
    """A working day on a desk: routing, accept, messages, transfer, conference, timeouts,
    a deleted asset, wrap-ups. Returns the conversation ids it started."""
    desk.add_queue("support", ["Resolved", "Escalated"], offer_timeout=30.0, wrap_up_timeout=60.0)
    desk.add_queue("billing", ["Paid", "Refunded"], offer_timeout=20.0)
    desk.login("jana", "Jana Nováková", ["support", "billing"], capacity=2)
    desk.login("petr", "Petr Svoboda", ["support"])
    desk.login("eva", "Eva Dvořáková", ["billing", "support"])
    first = desk.start_chat("support", "Karel Novák", "karel@example.com")
    clock.now += 1
    second = desk.start_chat("billing", "+420601123456", "+420601123456", proactive=True)
    clock.now += 1
    third = desk.start_chat("support", "Věra", "vera@example.com", asset="shop")
    desk.send_customer_message(first, "Dobrý den, karta 4111 1111")
    desk.send_customer_message(first, "1111 1111, děkuji")
    desk.set_available("jana")
    desk.set_available("petr")
    clock.now += 2
    desk.accept("jana", first)
    desk.send_agent_message("jana", first, "Dobrý den,\nco pro vás mohu udělat?")
    desk.decline("jana", second)
    clock.now += 31
    desk.tick()
    desk.set_available("petr")
    desk.set_available("eva")
    offered_to_eva = [offer.conversation_id for offer in desk.offers("eva")]
    for conversation_id in offered_to_eva:
        desk.accept("eva", conversation_id)
    if desk.agent("petr").routable:
        desk.request_conference("jana", first, "petr")
    for offer in desk.offers("petr"):
        desk.accept("petr", offer.conversation_id)
    clock.now += 5
    desk.delete_asset("shop")
    if desk.conversation(first).state == ConversationState.CONFERENCING:
        desk.end_conference("jana", first)
    desk.customer_end(first)
    desk.end("jana", first)
    desk.submit_wrap_up("jana", first, "Resolved", notes="karta zablokována")
    clock.now += 120
    desk.tick()
    for conversation_id in (second, third):
        conversation = desk.conversation(conversation_id)
        if conversation.owner is not None and conversation.state == ConversationState.ACTIVE:
            desk.transfer_to_queue(conversation.owner, conversation_id, "support")
    clock.now += 1
    desk.set_idle("jana", "lunch")
    desk.tick()
    return [first, second, third]


def _snapshot(desk: Desk, ids: list[str]) -> dict[str, Any]:
    return {
        "conversations": [desk.conversation(i) for i in ids],
        "events": [desk.events(i) for i in ids],
        "agents": desk.agents(),
        "agent_events": [desk.store.events(a.id, "agent") for a in desk.agents()],
        "queues": desk.queues(),
        "queue_events": [desk.store.events(q.name, "queue") for q in desk.queues()],
        "conversation_ids": desk.store.conversation_ids(),
    }


def _counter() -> Callable[[], str]:
    count = iter(range(1, 1_000_000))
    return lambda: f"chat-{next(count):04d}"


ODD_IDS: tuple[str, ...] = (
    "𝄞" * 256,  # the longest id, four bytes a code point in UTF-8
    'a "quoted", {braced} \\ back\\slashed, NULL',
    "\u200bzero\u200dwidth\u00a0nbsp \u202eright-to-left",
    "Žluťoučký kůň 🙂 李小龍",
)
"""Ids and names the input policy accepts that stores have tripped on."""

ODD_TEXT: str = 'tab\there\nline two\nline three 🙂 \u200b {"x": [1, 2]} \\ end'

LONG_NAME: str = "x" * 8_192
"""Longer than an id or name may be (PostgreSQL's index rows hold about 2,700 bytes)."""

REFUSED_VALUES: tuple[object, ...] = (
    "\ud800",
    "lone \udfff surrogate",
    "nul \x00 inside",
    "bell \x07",
    "\x7f delete",
    LONG_NAME,
    None,
    42,
    ["support"],
    {"id": "support"},
    b"bytes",
)
"""Values refused wherever an id, a name or a text is expected (:data:`LONG_NAME` only
where an id or a name is)."""

REFUSED_IDS: tuple[str, ...] = (
    "lone-high-surrogate",
    "lone-low-surrogate",
    "nul",
    "bell",
    "delete",
    "8-kilobyte",
    "none",
    "int",
    "list",
    "dict",
    "bytes",
)


# --- the suite ----------------------------------------------------------------------------


class StoreConformance:
    """The port contract, as pytest tests. Subclass and implement :meth:`make_store`."""

    def make_store(self) -> Store:
        """A new, empty store for one test (the suite closes it)."""
        raise NotImplementedError("implement make_store() in the StoreConformance subclass")

    @pytest.fixture
    def store(self) -> Iterator[Store]:
        """The store under test, closed after the test."""
        store = self.make_store()
        try:
            yield store
        finally:
            store.close()

    # --- basics -----------------------------------------------------------------------------

    def test_a_new_store_is_empty(self, store: Store) -> None:
        with store.transaction(write=False) as txn:
            assert txn.queue("support") is None
            assert txn.queues() == []
            assert txn.agent("jana") is None
            assert txn.agents() == []
            assert txn.agents("support") == []
            assert txn.conversation("c1") is None
            assert txn.queued(["support"], 10) == []
            assert txn.due(T0 + 1e9, 10) == []
            assert txn.open_on_asset("livechat") == []
            assert txn.asset_deleted("livechat") is False
        assert store.pending() == []
        assert store.events("c1") == []
        assert store.conversation_ids() == []

    def test_records_round_trip_unchanged(self, store: Store) -> None:
        queue = make_queue(wrap_up_timeout=45.5, default_wrap_up_reason="Escalated")
        agent = make_agent(
            queues=("support", "billing"),
            capacity=3,
            state=AgentState.RONA,
            idle_reason="coffee",
            holding=("c9", "c7"),
            wrapping=("c5",),
            available_since=T0 + 0.25,
            last_offer_at=T0 + 1.5,
            sequence=12,
        )
        conversation = rich_conversation()
        save(store, Changes(queues=((queue, 0),), agents=((agent, 0),)))
        save(store, Changes(conversations=((conversation, 0),)))
        with store.transaction(write=False) as txn:
            assert txn.queue("support") == queue
            assert txn.agent("jana") == agent
            assert txn.conversation("c9") == conversation

    def test_writes_are_visible_after_the_transaction(self, store: Store) -> None:
        save(store, Changes(queues=((make_queue(), 0),)))
        with store.transaction() as txn:
            assert txn.queues() == [make_queue()]

    # --- atomicity --------------------------------------------------------------------------

    def test_an_exception_inside_the_transaction_writes_nothing(self, store: Store) -> None:
        changes = Changes(
            queues=((make_queue(), 0),),
            agents=((make_agent(), 0),),
            conversations=((make_conversation(), 0),),
            deleted_assets=("shop",),
            events=tuple(every_event()),
        )

        def save_then_fail() -> None:
            with store.transaction() as txn:
                txn.save(changes)
                raise RuntimeError("boom")

        with pytest.raises(RuntimeError, match="boom"):
            save_then_fail()
        self._assert_empty(store)

    def test_a_conflicting_save_writes_nothing_even_when_caught(self, store: Store) -> None:
        save(store, Changes(queues=((make_queue(), 0),)))
        fine = Changes(agents=((make_agent(), 0),))
        stale = Changes(
            conversations=((make_conversation(), 0),),
            queues=((make_queue(version=2), 5),),
            events=(every_event()[0],),
        )
        with store.transaction() as txn:
            txn.save(fine)
            with pytest.raises(ConcurrencyConflict):
                txn.save(stale)
        with store.transaction(write=False) as txn:
            assert txn.agent("jana") == make_agent()
            assert txn.conversation("c1") is None
            assert txn.queue("support") == make_queue()
        assert store.events("c1") == []
        assert store.pending() == []

    def _assert_empty(self, store: Store) -> None:
        with store.transaction(write=False) as txn:
            assert txn.queues() == []
            assert txn.agents() == []
            assert txn.conversation("c1") is None
            assert txn.asset_deleted("shop") is False
        assert store.pending() == []
        assert store.events("c1") == []
        assert store.conversation_ids() == []

    # --- optimistic concurrency -------------------------------------------------------------

    @pytest.mark.parametrize("kind", ["queue", "agent", "conversation"])
    def test_a_stale_save_conflicts_and_writes_nothing(self, store: Store, kind: str) -> None:
        v1, v2, v3 = (self._record(kind, version) for version in (1, 2, 3))
        save(store, self._changes(kind, v1, 0))
        save(store, self._changes(kind, v2, 1))
        other = make_agent("other") if kind != "agent" else make_agent("other", version=1)
        for stale_base in (1, 3):
            stale = self._changes(kind, v3, stale_base)
            stale = attrs.evolve(stale, agents=(*stale.agents, (other, 0)))
            with pytest.raises(ConcurrencyConflict), store.transaction() as txn:
                txn.save(stale)
        with store.transaction(write=False) as txn:
            assert self._read(txn, kind) == v2
            assert txn.agent("other") is None

    @pytest.mark.parametrize("kind", ["queue", "agent", "conversation"])
    def test_a_new_record_that_already_exists_conflicts(self, store: Store, kind: str) -> None:
        save(store, self._changes(kind, self._record(kind, 1), 0))
        with pytest.raises(ConcurrencyConflict), store.transaction() as txn:
            txn.save(self._changes(kind, self._record(kind, 1), 0))
        with store.transaction(write=False) as txn:
            assert self._read(txn, kind) == self._record(kind, 1)

    def test_a_conflict_is_a_store_error_with_a_code(self, store: Store) -> None:
        save(store, Changes(queues=((make_queue(), 0),)))
        with pytest.raises(ConcurrencyConflict) as caught, store.transaction() as txn:
            txn.save(Changes(queues=((make_queue(version=2), 7),)))
        assert caught.value.code == "concurrency_conflict"

    def test_a_last_save_is_committed_with_its_events(self, store: Store) -> None:
        events = tuple(every_event()[:2])
        with store.transaction() as txn:
            txn.save_last(
                Changes(
                    queues=((make_queue(), 0),),
                    conversations=((make_conversation(), 0),),
                    events=events,
                )
            )
        with store.transaction(write=False) as txn:
            assert txn.queue("support") == make_queue()
            assert txn.conversation("c1") == make_conversation()
        assert store.events("c1") == list(events)
        assert store.pending() == list(events)

    @pytest.mark.parametrize("kind", ["queue", "agent", "conversation"])
    def test_a_stale_last_save_conflicts_by_the_end_and_writes_nothing(
        self, store: Store, kind: str
    ) -> None:
        save(store, self._changes(kind, self._record(kind, 1), 0))
        stale = self._changes(kind, self._record(kind, 3), 2)
        stale = attrs.evolve(
            stale, agents=(*stale.agents, (make_agent("other"), 0)), events=(every_event()[0],)
        )
        # The conflict may surface from save_last or only when the transaction ends.
        with pytest.raises(ConcurrencyConflict), store.transaction() as txn:
            txn.save_last(stale)
        with store.transaction(write=False) as txn:
            assert self._read(txn, kind) == self._record(kind, 1)
            assert txn.agent("other") is None
        assert store.events("c1") == []
        assert store.pending() == []

    @staticmethod
    def _record(kind: str, version: int) -> Queue | Agent | Conversation:
        if kind == "queue":
            return make_queue(version=version, offer_timeout=10.0 * version)
        if kind == "agent":
            return make_agent(version=version, capacity=version)
        return make_conversation(version=version, customer_contact=f"v{version}@example.com")

    @staticmethod
    def _changes(kind: str, record: Any, base: int) -> Changes:
        if kind == "queue":
            return Changes(queues=((record, base),))
        if kind == "agent":
            return Changes(agents=((record, base),))
        return Changes(conversations=((record, base),))

    @staticmethod
    def _read(txn: Any, kind: str) -> Queue | Agent | Conversation | None:
        if kind == "queue":
            return txn.queue("support")  # type: ignore[no-any-return]
        if kind == "agent":
            return txn.agent("jana")  # type: ignore[no-any-return]
        return txn.conversation("c1")  # type: ignore[no-any-return]

    # --- ordered reads ----------------------------------------------------------------------

    def test_queued_is_oldest_first_across_queues_with_a_limit(self, store: Store) -> None:
        conversations = [
            make_conversation("c-b", queue="billing", started_at=T0 + 2),
            make_conversation("c-a2", queue="support", started_at=T0 + 1),
            make_conversation("c-a1", queue="support", started_at=T0 + 1),
            make_conversation("c-s", queue="sales", started_at=T0),
            make_conversation("c-a0", queue="support", started_at=T0 + 3),
            make_conversation(
                "c-offered", queue="support", started_at=T0 - 5, state=ConversationState.OFFERED
            ),
        ]
        save(store, Changes(conversations=tuple((c, 0) for c in conversations)))
        with store.transaction(write=False) as txn:
            ids = [c.id for c in txn.queued(["support", "billing"], 10)]
            assert ids == ["c-a1", "c-a2", "c-b", "c-a0"]
            assert [c.id for c in txn.queued({"support", "billing"}, 2)] == ["c-a1", "c-a2"]
            assert [c.id for c in txn.queued(["sales"], 10)] == ["c-s"]
            assert txn.queued([], 10) == []
            assert txn.queued(["nobody"], 10) == []
            assert txn.queued(["support"], 10)[0] == conversations[2]

    def test_queued_follows_state_and_queue_changes(self, store: Store) -> None:
        first = make_conversation("c1", started_at=T0)
        second = make_conversation("c2", started_at=T0 + 1)
        save(store, Changes(conversations=((first, 0), (second, 0))))
        offered = attrs.evolve(first, state=ConversationState.OFFERED, version=2)
        moved = attrs.evolve(second, queue="billing", version=2)
        save(store, Changes(conversations=((offered, 1), (moved, 1))))
        with store.transaction(write=False) as txn:
            assert txn.queued(["support"], 10) == []
            assert txn.queued(["billing", "support"], 10) == [moved]
        back = attrs.evolve(offered, state=ConversationState.QUEUED, version=3)
        save(store, Changes(conversations=((back, 2),)))
        with store.transaction(write=False) as txn:
            assert [c.id for c in txn.queued(["billing", "support"], 10)] == ["c1", "c2"]

    # --- prefetch: a hint that changes no result -----------------------------------------

    def _prefetch_fixture(self, store: Store) -> None:
        member = make_agent("jana", queues=("support", "billing"))
        offered = make_conversation("c2", started_at=T0 + 1, deadline=T0 + 30)
        offered = attrs.evolve(offered, state=ConversationState.OFFERED)
        save(
            store,
            Changes(
                queues=((make_queue(), 0), (make_queue("billing"), 0)),
                agents=((member, 0), (make_agent("petr"), 0)),
                conversations=((make_conversation("c1"), 0), (offered, 0)),
                deleted_assets=("shop",),
            ),
        )

    @staticmethod
    def _everything(txn: Any) -> list[Any]:
        return [
            txn.conversation("c1"),
            txn.conversation("c2"),
            txn.conversation("missing"),
            txn.agent("jana"),
            txn.agent("petr"),
            txn.agent("missing"),
            txn.queue("support"),
            txn.queue("billing"),
            txn.queue("missing"),
            txn.asset_deleted("shop"),
            txn.asset_deleted("livechat"),
            txn.queued(["support"], 10),
            txn.queued(["billing", "support"], 1),
            txn.agents("support"),
            txn.agents("billing"),
            txn.agents(),
            txn.queues(),
        ]

    @pytest.mark.parametrize("write", [True, False])
    def test_prefetch_changes_no_read(self, store: Store, write: bool) -> None:
        self._prefetch_fixture(store)
        with store.transaction(write=write) as txn:
            expected = self._everything(txn)
        with store.transaction(write=write) as txn:
            txn.prefetch(
                conversation_ids=["c2", "missing", "c1"],
                agent_ids=["missing", "petr"],
                queues=["support", "missing"],
                assets=["shop", "livechat"],
                routing=["billing", "missing"],
                routing_agents=["jana", "missing"],
            )
            txn.prefetch()  # nothing asked: nothing happens
            txn.prefetch(conversation_ids=["c1"], agent_ids=["jana"])  # again: the same
            assert self._everything(txn) == expected
            assert self._everything(txn) == expected  # and reading twice changes nothing

    def test_reads_after_a_save_see_it_even_after_prefetch(self, store: Store) -> None:
        self._prefetch_fixture(store)
        with store.transaction() as txn:
            txn.prefetch(
                conversation_ids=["c1", "c3"],
                agent_ids=["jana"],
                assets=["web"],
                routing=["support"],
            )
            assert [c.id for c in txn.queued(["support"], 1)] == ["c1"]
            assert [a.id for a in txn.agents("billing")] == ["jana"]
            offered = attrs.evolve(
                make_conversation("c1"), state=ConversationState.OFFERED, version=2
            )
            moved = make_agent("jana", queues=("support",), version=2)
            new = make_conversation("c3", started_at=T0 + 5)
            txn.save(
                Changes(
                    conversations=((offered, 1), (new, 0)),
                    agents=((moved, 1),),
                    deleted_assets=("web",),
                )
            )
            assert txn.conversation("c1") == offered
            assert txn.conversation("c3") == new
            assert txn.agent("jana") == moved
            assert txn.asset_deleted("web") is True
            assert txn.queued(["support"], 1) == [new]
            assert txn.agents("billing") == []
        with store.transaction(write=False) as txn:
            assert txn.conversation("c1") == offered
            assert txn.agent("jana") == moved

    def test_a_stale_save_after_prefetch_conflicts_and_the_reads_stay(self, store: Store) -> None:
        self._prefetch_fixture(store)
        with store.transaction() as txn:
            txn.prefetch(conversation_ids=["c1"], agent_ids=["jana"], queues=["support"])
            before = self._everything(txn)
            stale = make_agent("jana", queues=("support",), version=5)
            with pytest.raises(ConcurrencyConflict):
                txn.save(
                    Changes(
                        conversations=((make_conversation("c9"), 0),),
                        agents=((stale, 4),),
                        events=(every_event()[0],),
                    )
                )
            assert self._everything(txn) == before
            assert txn.conversation("c9") is None
        assert store.events("c1") == []
        assert store.pending() == []

    def test_due_is_ordered_by_deadline_then_id(self, store: Store) -> None:
        conversations = [
            make_conversation("c3", deadline=T0 + 30),
            make_conversation("c1", deadline=T0 + 30),
            make_conversation("c2", deadline=T0 + 10),
            make_conversation("c4", deadline=T0 + 60),
            make_conversation("c5"),
        ]
        save(store, Changes(conversations=tuple((c, 0) for c in conversations)))
        with store.transaction(write=False) as txn:
            assert txn.due(T0, 10) == []
            assert txn.due(T0 + 30, 10) == ["c2", "c1", "c3"]
            assert txn.due(T0 + 30, 2) == ["c2", "c1"]
            assert txn.due(T0 + 1000, 10) == ["c2", "c1", "c3", "c4"]
            assert txn.due(T0 + 30, 10) == ["c2", "c1", "c3"]  # reading changes nothing

    def test_due_follows_moved_and_cleared_deadlines(self, store: Store) -> None:
        first = make_conversation("c1", deadline=T0 + 10)
        second = make_conversation("c2", deadline=T0 + 20)
        save(store, Changes(conversations=((first, 0), (second, 0))))
        later = make_conversation("c1", deadline=T0 + 100, version=2)
        cleared = make_conversation("c2", version=2)
        save(store, Changes(conversations=((later, 1), (cleared, 1))))
        with store.transaction(write=False) as txn:
            assert txn.due(T0 + 50, 10) == []
            assert txn.due(T0 + 100, 10) == ["c1"]
        earlier = make_conversation("c1", deadline=T0 + 5, version=3)
        save(store, Changes(conversations=((earlier, 2),)))
        with store.transaction(write=False) as txn:
            assert txn.due(T0 + 5, 10) == ["c1"]

    def test_due_after_resumes_after_a_cursor(self, store: Store) -> None:
        conversations = [
            make_conversation("c3", deadline=T0 + 30),
            make_conversation("c1", deadline=T0 + 30),
            make_conversation("c2", deadline=T0 + 10),
            make_conversation("c4", deadline=T0 + 60),
            make_conversation("c5"),
        ]
        save(store, Changes(conversations=tuple((c, 0) for c in conversations)))
        with store.transaction(write=False) as txn:
            assert txn.due_after(T0 + 30, None, 2) == [(T0 + 10, "c2"), (T0 + 30, "c1")]
            assert txn.due_after(T0 + 30, (T0 + 30, "c1"), 2) == [(T0 + 30, "c3")]
            assert txn.due_after(T0 + 30, (T0 + 30, "c3"), 2) == []
            assert txn.due_after(T0 + 60, (T0 + 20, "zz"), 5) == [
                (T0 + 30, "c1"),
                (T0 + 30, "c3"),
                (T0 + 60, "c4"),
            ]

    def test_a_savepoint_undoes_its_writes_and_keeps_the_transaction(self, store: Store) -> None:
        with store.transaction() as txn:
            txn.save(Changes(queues=((make_queue("first"), 0),)))

            def fail_after_a_save() -> None:
                with txn.savepoint():
                    txn.save(Changes(queues=((make_queue("second"), 0),)))
                    assert txn.queue("second") is not None
                    raise RuntimeError("the command failed after its save")

            with pytest.raises(RuntimeError):
                fail_after_a_save()
            assert txn.queue("second") is None
            with txn.savepoint():
                txn.save(Changes(queues=((make_queue("third"), 0),)))
        with store.transaction(write=False) as txn:
            assert [queue.name for queue in txn.queues()] == ["first", "third"]

    def test_open_on_asset_lists_the_conversations_not_closed(self, store: Store) -> None:
        conversations = [
            make_conversation("c2", asset="shop"),
            make_conversation("c1", asset="shop", state=ConversationState.ACTIVE),
            make_conversation("c3", asset="shop", state=ConversationState.CLOSED),
            make_conversation("c4", asset="livechat"),
            make_conversation("c0", asset="shop", state=ConversationState.WRAP_UP),
        ]
        save(store, Changes(conversations=tuple((c, 0) for c in conversations)))
        with store.transaction(write=False) as txn:
            assert txn.open_on_asset("shop") == ["c0", "c1", "c2"]
            assert txn.open_on_asset("livechat") == ["c4"]
            assert txn.open_on_asset("gone") == []
        closed = make_conversation("c1", asset="shop", state=ConversationState.CLOSED, version=2)
        save(store, Changes(conversations=((closed, 1),)))
        with store.transaction(write=False) as txn:
            assert txn.open_on_asset("shop") == ["c0", "c2"]

    def test_asset_deleted_is_remembered(self, store: Store) -> None:
        save(store, Changes(deleted_assets=("shop",)))
        save(store, Changes(deleted_assets=("shop", "web")))
        with store.transaction(write=False) as txn:
            assert txn.asset_deleted("shop") is True
            assert txn.asset_deleted("web") is True
            assert txn.asset_deleted("livechat") is False

    def test_agents_by_queue_follow_membership_changes(self, store: Store) -> None:
        petr = make_agent("petr", ("support",))
        jana = make_agent("jana", ("support", "billing"))
        eva = make_agent("eva", ("billing",), state=AgentState.LOGGED_OUT)
        save(store, Changes(agents=((petr, 0), (jana, 0), (eva, 0))))
        with store.transaction(write=False) as txn:
            assert txn.agents() == [eva, jana, petr]
            assert txn.agents("support") == [jana, petr]
            assert txn.agents("billing") == [eva, jana]
            assert txn.agents("sales") == []
        moved = attrs.evolve(jana, queues=("sales",), version=2)
        save(store, Changes(agents=((moved, 1),)))
        with store.transaction(write=False) as txn:
            assert txn.agents("support") == [petr]
            assert txn.agents("billing") == [eva]
            assert txn.agents("sales") == [moved]
        busy = attrs.evolve(moved, holding=("c1",), version=3)
        save(store, Changes(agents=((busy, 2),)))
        with store.transaction(write=False) as txn:
            assert txn.agents("sales") == [busy]

    def test_routable_lists_members_who_may_get_an_offer_in_routing_order(
        self, store: Store
    ) -> None:
        available = AgentState.AVAILABLE

        def agent(agent_id: str, queues: tuple[str, ...], **fields: Any) -> Agent:
            return make_agent(agent_id, queues, state=available, **fields)

        eva = agent("eva", ("support", "billing"), available_since=T0 + 5)
        jana = agent("jana", ("support",), available_since=T0 + 1, last_offer_at=T0 + 9)
        petr = agent("petr", ("support",), available_since=T0 + 5)
        zora = agent("zora", ("billing",), available_since=T0 + 2, capacity=2, holding=("c1",))
        busy = agent("karel", ("support",), available_since=T0, holding=("c2",))
        idle = make_agent("ivan", ("support", "billing"), state=AgentState.IDLE)
        rona = make_agent("rita", ("billing",), state=AgentState.RONA, available_since=T0)
        everyone = (eva, jana, petr, zora, busy, idle, rona)
        save(store, Changes(agents=tuple((a, 0) for a in everyone)))
        with store.transaction(write=False) as txn:
            assert txn.routable("support", 10) == [eva, petr, jana]
            assert txn.routable("support", 2) == [eva, petr]
            assert txn.routable("billing", 10) == [zora, eva]
            assert txn.routable("sales", 10) == []
            assert txn.routable(None, 10) == [zora, eva, petr, jana]
            assert txn.routable(None, 1) == [zora]
        # an offer takes eva's room and sends her to the back; karel is free again;
        # petr moves to billing
        offered = attrs.evolve(eva, holding=("c3",), last_offer_at=T0 + 20, version=2)
        freed = attrs.evolve(busy, holding=(), version=2)
        moved = attrs.evolve(petr, queues=("billing",), version=2)
        with store.transaction() as txn:
            txn.save(Changes(agents=((offered, 1), (freed, 1), (moved, 1))))
            assert txn.routable("support", 10) == [freed, jana]
        with store.transaction(write=False) as txn:
            assert txn.routable("support", 10) == [freed, jana]
            assert txn.routable("billing", 10) == [zora, moved]
            assert txn.routable(None, 10) == [freed, zora, moved, jana]
        back = attrs.evolve(offered, holding=(), version=3)
        away = attrs.evolve(zora, state=AgentState.IDLE, version=2)
        save(store, Changes(agents=((back, 2), (away, 1))))
        with store.transaction(write=False) as txn:
            assert txn.routable("support", 10) == [freed, jana, back]
            assert txn.routable("billing", 10) == [moved, back]

    def test_queues_are_listed_by_name(self, store: Store) -> None:
        save(store, Changes(queues=((make_queue("support"), 0), (make_queue("billing"), 0))))
        with store.transaction(write=False) as txn:
            assert [q.name for q in txn.queues()] == ["billing", "support"]

    # --- events and the outbox --------------------------------------------------------------

    def test_every_event_type_round_trips(self, store: Store) -> None:
        events = every_event()
        assert {event.type for event in events} == set(EVENT_TYPES)
        save(store, Changes(events=tuple(events)))
        assert store.events("c1") == [e for e in events if e.aggregate == "conversation"]
        assert store.events("jana", "agent") == [e for e in events if e.aggregate == "agent"]
        assert store.events("support", "queue") == [e for e in events if e.aggregate == "queue"]
        assert store.events("livechat", "asset") == [e for e in events if e.aggregate == "asset"]
        assert store.events("jana") == []
        assert store.pending() == events

    def test_events_of_an_aggregate_are_in_sequence_order(self, store: Store) -> None:
        events = [e for e in every_event() if e.aggregate == "conversation"]
        for event in events[:5]:
            save(store, Changes(events=(event,)))
        save(store, Changes(events=tuple(events[5:])))
        assert store.events("c1") == events

    def test_the_outbox_is_in_commit_order_until_published(self, store: Store) -> None:
        events = every_event()
        batches = [events[0:3], events[16:18], events[3:16], events[18:]]
        for batch in batches:
            save(store, Changes(events=tuple(batch)))
        committed = [event for batch in batches for event in batch]
        assert store.pending() == committed
        assert store.pending(limit=4) == committed[:4]
        store.mark_published([e.id for e in committed[:4]] + ["conversation:nobody:1", "junk"])
        assert store.pending() == committed[4:]
        store.mark_published([committed[10].id])
        assert store.pending() == committed[4:10] + committed[11:]
        store.mark_published([e.id for e in committed])
        assert store.pending() == []
        assert store.events("c1") == [e for e in events if e.aggregate == "conversation"]

    def test_an_event_id_with_colons_is_published_by_id(self, store: Store) -> None:
        event = AgentAvailable(aggregate_id="tenant:7:jana", sequence=3, at=T0)
        save(store, Changes(events=(event,)))
        assert store.pending() == [event]
        store.mark_published([event.id])
        assert store.pending() == []
        assert store.events("tenant:7:jana", "agent") == [event]

    def test_redactions_rewrite_the_stored_message_and_its_outbox_copy(self, store: Store) -> None:
        def posted(sequence: int, text: str) -> MessagePosted:
            message = Message(
                id=f"c1/{sequence}",
                role=Role.CUSTOMER,
                author="Karel",
                text=text,
                at=T0 + sequence,
                initials="K",
            )
            return MessagePosted(
                aggregate_id="c1", sequence=sequence, at=T0 + sequence, message=message
            )

        first, second = posted(1, "karta 4111 1111"), posted(2, "a 1111 1111")
        save(store, Changes(events=(first, second)))
        store.mark_published([first.id])
        redacted = MessagesRedacted(
            aggregate_id="c1",
            sequence=3,
            at=T0 + 3,
            redactions=(("c1/1", "karta ****"), ("c1/2", "a ****1111")),
        )
        save(
            store,
            Changes(
                events=(redacted,),
                redactions=(("c1", "c1/1", "karta ****"), ("c1", "c1/2", "a ****1111")),
            ),
        )

        def text(event: Event) -> str:
            assert isinstance(event, MessagePosted)
            return event.message.text

        stored = store.events("c1")
        assert [text(e) for e in stored[:2]] == ["karta ****", "a ****1111"]
        assert stored[2] == redacted
        assert [text(e) for e in store.pending()[:1]] == ["a ****1111"]
        assert all("4111" not in repr(e) for e in stored + store.pending())

    def test_conversation_ids_are_in_the_order_first_saved(self, store: Store) -> None:
        save(store, Changes(conversations=((make_conversation("b", started_at=T0 + 9), 0),)))
        save(
            store, Changes(conversations=((make_conversation("a"), 0), (make_conversation("c"), 0)))
        )
        save(
            store,
            Changes(conversations=((make_conversation("b", version=2, started_at=T0 + 9), 1),)),
        )
        assert store.conversation_ids() == ["b", "a", "c"]

    # --- the event log and consumer positions ------------------------------------------------

    def test_the_log_numbers_every_event_in_commit_order(self, store: Store) -> None:
        assert store.log() == []
        events = every_event()
        batches = [events[0:3], events[16:18], events[3:16], events[18:]]
        for batch in batches:
            save(store, Changes(events=tuple(batch)))
        committed = [event for batch in batches for event in batch]
        logged = store.log()
        assert [event for _, event in logged] == committed
        positions = [position for position, _ in logged]
        assert positions == sorted(set(positions))
        assert positions[0] >= 1
        assert store.log(limit=4) == logged[:4]
        assert store.log(after=positions[3]) == logged[4:]
        assert store.log(after=positions[3], limit=2) == logged[4:6]
        assert store.log(after=positions[-1]) == []
        store.mark_published([event.id for event in committed])
        assert store.log() == logged, "publishing does not take events out of the log"

    def test_a_rolled_back_save_leaves_nothing_in_the_log(self, store: Store) -> None:
        first = AgentAvailable(aggregate_id="jana", sequence=1, at=T0)
        save(store, Changes(events=(first,)))
        [(position, _)] = store.log()

        def save_then_fail() -> None:
            with store.transaction() as txn:
                txn.save(Changes(events=(AgentLoggedOut(aggregate_id="jana", sequence=2, at=T0),)))
                raise RuntimeError("after the save")

        with pytest.raises(RuntimeError):
            save_then_fail()
        assert store.log(after=position) == []
        second = AgentIdle(aggregate_id="jana", sequence=2, at=T0 + 1, reason="lunch")
        save(store, Changes(events=(second,)))
        [(next_position, logged)] = store.log(after=position)
        assert logged == second
        assert next_position > position

    def test_redactions_rewrite_the_logged_copy(self, store: Store) -> None:
        message = Message(
            id="c1/1", role=Role.CUSTOMER, author="K", text="4111 1111", at=T0, initials="K"
        )
        posted = MessagePosted(aggregate_id="c1", sequence=1, at=T0, message=message)
        save(store, Changes(events=(posted,)))
        redacted = MessagesRedacted(
            aggregate_id="c1", sequence=2, at=T0 + 1, redactions=(("c1/1", "****"),)
        )
        save(store, Changes(events=(redacted,), redactions=(("c1", "c1/1", "****"),)))
        logged = [event for _, event in store.log()]
        posted = attrs.evolve(posted, message=attrs.evolve(message, text="****"))
        assert logged == [posted, redacted]

    def test_the_largest_position_reads_nothing(self, store: Store) -> None:
        # positions are signed 64-bit integers in SQL: the largest one is a valid, empty read
        assert store.log(after=2**63 - 1, limit=2**63 - 1) == []
        store.save_consumer_position("relay", 2**63 - 1)
        assert store.consumer_position("relay") == 2**63 - 1

    def test_consumers_keep_their_own_positions(self, store: Store) -> None:
        assert store.consumer_position("relay") == 0
        store.save_consumer_position("relay", 7)
        store.save_consumer_position("webhook:crm", 3)
        assert store.consumer_position("relay") == 7
        assert store.consumer_position("webhook:crm") == 3
        store.save_consumer_position("relay", 9)
        assert store.consumer_position("relay") == 9
        store.save_consumer_position("relay", 0)
        assert store.consumer_position("relay") == 0

    @pytest.mark.parametrize(
        ("call", "argument"),
        [
            ("log_after", -1),
            ("log_after", 1.5),
            ("log_after", True),
            ("log_after", 2**63),
            ("log_limit", 0),
            ("log_limit", 2**63),
            ("log_limit", "10"),
            ("consumer", ""),
            ("consumer", "x" * 257),
            ("consumer", "line\nbreak"),
            ("consumer", "\ud800"),
            ("consumer", 7),
            ("position", -3),
            ("position", None),
            ("position", 2**64),
        ],
    )
    def test_bad_log_and_consumer_arguments_are_refused(
        self, store: Store, call: str, argument: Any
    ) -> None:
        store.save_consumer_position("relay", 2)
        calls: dict[str, Callable[[], object]] = {
            "log_after": lambda: store.log(after=argument),
            "log_limit": lambda: store.log(limit=argument),
            "consumer": lambda: store.save_consumer_position(argument, 1),
            "position": lambda: store.save_consumer_position("relay", argument),
        }
        with pytest.raises(InvalidArgument):
            calls[call]()
        assert store.consumer_position("relay") == 2

    def test_a_desk_reads_the_log_after_a_position(self, store: Store) -> None:
        clock = ManualClock(T0)
        desk = Desk(store=store, clock=clock, new_id=_counter())
        desk_scenario(desk, clock)
        logged = store.log(limit=100_000)
        assert desk.events_after() == logged[:1000]
        assert desk.events_after(logged[5][0], limit=3) == logged[6:9]
        aggregates = {(event.aggregate, event.aggregate_id) for _, event in logged}
        for aggregate, aggregate_id in aggregates:
            history = [
                event
                for _, event in logged
                if (event.aggregate, event.aggregate_id) == (aggregate, aggregate_id)
            ]
            assert history == store.events(aggregate_id, aggregate)

    # --- the whole desk ---------------------------------------------------------------------

    def test_a_desk_on_the_store_behaves_like_the_reference(self, store: Store) -> None:
        results = []
        for candidate in (MemoryStore(), store):
            clock = ManualClock(T0)
            published: list[Event] = []
            transport = _ListTransport(published)
            desk = Desk(store=candidate, transport=transport, clock=clock, new_id=_counter())
            ids = desk_scenario(desk, clock)
            results.append((_snapshot(desk, ids), published))
        (expected, expected_published), (actual, actual_published) = results
        assert expected == actual
        assert expected_published == actual_published
        assert actual_published, "the scenario publishes events"

    def test_a_second_desk_continues_where_the_first_stopped(self, store: Store) -> None:
        clock = ManualClock(T0)
        first = Desk(store=store, clock=clock, new_id=_counter())
        first.add_queue("support", ["Resolved"])
        first.login("jana", "Jana", ["support"])
        chat = first.start_chat("support", "Karel", "k@example.com")
        first.set_available("jana")
        second = Desk(store=store, clock=clock, new_id=_counter())
        assert second.conversation(chat).state == ConversationState.OFFERED
        clock.now += 31
        second.tick()
        assert second.agent("jana").state == AgentState.RONA
        assert second.conversation(chat).state == ConversationState.QUEUED

    # --- batches, tick batches, archive ----------------------------------------------------

    def test_a_desk_in_one_batch_behaves_like_the_reference(self, store: Store) -> None:
        results = []
        for candidate, batched in ((MemoryStore(), False), (store, True)):
            clock = ManualClock(T0)
            published: list[Event] = []
            desk = Desk(
                store=candidate,
                transport=_ListTransport(published),
                clock=clock,
                new_id=_counter(),
            )
            if batched:
                with desk.batch():
                    ids = desk_scenario(desk, clock)
                    assert published == [], "events are relayed after the block's commit"
            else:
                ids = desk_scenario(desk, clock)
            results.append((_snapshot(desk, ids), published))
        (expected, expected_published), (actual, actual_published) = results
        assert expected == actual
        # the same events in the same order; relayed after the commit, a message whose
        # card was completed later in the block is published already redacted
        assert [e.id for e in expected_published] == [e.id for e in actual_published]

    def test_a_refused_command_in_a_batch_changes_nothing_and_the_others_go_on(
        self, store: Store
    ) -> None:
        clock = ManualClock(T0)
        desk = Desk(store=store, clock=clock, new_id=_counter())
        with desk.batch():
            desk.add_queue("support", ["Resolved"])
            desk.login("jana", "Jana", ["support"])
            with pytest.raises(LivechatError):
                desk.start_chat("nowhere", "Karel", "k@example.com")
            with pytest.raises(LivechatError):
                desk.accept("jana", "chat-0404")
            chat = desk.start_chat("support", "Karel", "k@example.com")
            desk.set_available("jana")
            assert desk.conversation(chat).state == ConversationState.OFFERED
        assert desk.conversation(chat).state == ConversationState.OFFERED
        assert desk.store.conversation_ids() == [chat]
        assert [event.type for event in desk.events(chat)] == ["ChatStarted", "ChatOffered"]

    def test_an_exception_leaving_a_batch_loses_the_whole_block(self, store: Store) -> None:
        desk = Desk(store=store, clock=ManualClock(T0), new_id=_counter())
        desk.add_queue("support", ["Resolved"])

        def die_inside_a_batch() -> None:
            with desk.batch():
                desk.login("jana", "Jana", ["support"])
                desk.start_chat("support", "Karel", "k@example.com")
                raise RuntimeError("the process died before the block ended")

        with pytest.raises(RuntimeError):
            die_inside_a_batch()
        assert desk.agents() == []
        assert desk.store.conversation_ids() == []
        assert [queue.name for queue in desk.queues()] == ["support"]
        desk.login("jana", "Jana", ["support"])  # the store is usable afterwards
        assert [agent.id for agent in desk.agents()] == ["jana"]

    def test_a_tick_fires_a_backlog_in_batches_and_returns_every_event(
        self, store: Store, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from .. import _desk

        monkeypatch.setattr(_desk, "TICK_BATCH", 3)
        clock = ManualClock(T0)
        desk = Desk(store=store, clock=clock, new_id=_counter())
        desk.add_queue("support", ["Resolved"], offer_timeout=30.0)
        desk.login("jana", "Jana", ["support"], capacity=8)
        desk.set_available("jana")
        chats = [desk.start_chat("support", f"Customer {n}", "") for n in range(8)]
        clock.now += 1
        transactions = 0
        begin = store.transaction

        def counting(*, write: bool = True) -> Any:
            nonlocal transactions
            transactions += write
            return begin(write=write)

        monkeypatch.setattr(store, "transaction", counting)
        fired = desk.tick(T0 + 30)
        assert transactions == 3  # 3 + 3 + 2 conversations
        timed_out = [e.aggregate_id for e in fired if isinstance(e, OfferTimedOut)]
        assert timed_out == chats
        assert {e.type for e in fired if e.aggregate_id == "jana"} == {"AgentRona"}
        assert desk.agent("jana").state == AgentState.RONA
        assert [desk.conversation(chat).state for chat in chats] == ["queued"] * 8
        assert desk.tick(T0 + 30) == []

    def test_messages_are_rows_and_the_record_keeps_only_the_newest(self, store: Store) -> None:
        clock = ManualClock(T0)
        desk = Desk(store=store, clock=clock, new_id=_counter())
        desk.add_queue("support", ["Resolved"])
        desk.login("jana", "Jana", ["support"])
        desk.set_available("jana")
        chat = desk.start_chat("support", "Karel", "")
        desk.accept("jana", chat)
        for n in range(40):
            desk.send_customer_message(chat, f"question {n}?")
            desk.send_agent_message("jana", chat, f"answer {n}")
        desk.send_customer_message(chat, "4111 1111")
        desk.send_customer_message(chat, "1111 1111")
        with store.transaction(write=False) as txn:
            record = txn.conversation(chat)
        assert record is not None
        assert record.message_count == 82
        assert len(record.messages) <= 2
        transcript = store.transcript(chat)
        assert [m.id for m in transcript] == [f"{chat}/{n}" for n in range(1, 83)]
        assert [m.text for m in transcript[-2:]] == ["********", "****1111"]
        assert desk.conversation(chat).messages == tuple(transcript)

    def test_archive_moves_closed_conversations_and_their_events_out(self, store: Store) -> None:
        clock = ManualClock(T0)
        desk = Desk(store=store, clock=clock, new_id=_counter())
        ids = desk_scenario(desk, clock)
        clock.now += 1000
        for conversation_id in ids:  # finish every chat, so some close later than others
            conversation = desk.conversation(conversation_id)
            if conversation.state == ConversationState.QUEUED:
                desk.customer_end(conversation_id)
        later = desk.start_chat("support", "Late", "")
        closed = {
            conversation_id: (desk.conversation(conversation_id), desk.events(conversation_id))
            for conversation_id in ids
            if desk.conversation(conversation_id).state == ConversationState.CLOSED
        }
        assert closed, "the scenario closes conversations"
        cut = max(conversation.closed_at or 0.0 for conversation, _ in closed.values())
        assert desk.archive(min(c.closed_at or 0.0 for c, _ in closed.values())) == []
        archived = desk.archive(cut + 1, limit=1)
        archived += desk.archive(cut + 1)
        assert desk.archive(cut + 1) == []
        order = sorted(closed, key=lambda i: (closed[i][0].closed_at or 0.0, i))
        assert [item.conversation.id for item in archived] == order
        for item in archived:
            conversation, events = closed[item.conversation.id]
            assert item.conversation == conversation
            assert list(item.events) == events
            assert ArchivedConversation.from_record(item.to_record(clear=True)) == item
            with pytest.raises(LivechatError):
                desk.conversation(item.conversation.id)
            assert desk.events(item.conversation.id) == []
        gone = set(closed)
        assert desk.store.conversation_ids() == [i for i in (*ids, later) if i not in gone]
        assert not {event.aggregate_id for event in desk.store.pending(100_000)} & gone
        assert desk.conversation(later).state == ConversationState.QUEUED
        # what was archived loads into another store unchanged
        other = MemoryStore()
        with other.transaction() as txn:
            for item in archived:
                txn.save(item.changes())
        for item in archived:
            with other.transaction(write=False) as reader:
                assert reader.conversation(item.conversation.id) == item.conversation
            assert other.events(item.conversation.id) == list(item.events)

    # --- the input policy (livechat_core._inputs) ---------------------------------------------

    def test_odd_but_valid_values_round_trip_as_on_the_reference(self, store: Store) -> None:
        """Values at the edge of the input policy are stored and read back unchanged,
        exactly as the in-memory reference does: the longest ids in four-byte UTF-8,
        quotes, backslashes and the characters of array literals, zero-width and
        right-to-left marks, a message with tabs and line breaks."""
        results = []
        for candidate in (MemoryStore(), store):
            desk = Desk(store=candidate, clock=ManualClock(T0), new_id=lambda: ODD_IDS[2])
            for name in ODD_IDS:
                desk.add_queue(name, [ODD_IDS[1], "Resolved"])
            desk.login(ODD_IDS[0], ODD_IDS[3], list(ODD_IDS))
            desk.set_available(ODD_IDS[0])
            chat = desk.start_chat(ODD_IDS[1], ODD_IDS[3], "", asset=ODD_IDS[2])
            desk.send_customer_message(chat, ODD_TEXT)
            desk.accept(ODD_IDS[0], chat)
            desk.end(ODD_IDS[0], chat)
            desk.submit_wrap_up(ODD_IDS[0], chat, ODD_IDS[1], notes=ODD_TEXT)
            results.append(_snapshot(desk, [chat]))
        expected, actual = results
        assert expected == actual
        assert actual["conversations"][0].messages[0].text == ODD_TEXT
        assert [q.name for q in actual["queues"]] == sorted(ODD_IDS)

    @pytest.mark.parametrize("value", REFUSED_VALUES, ids=REFUSED_IDS)
    def test_every_refused_value_is_an_invalid_argument_that_changes_nothing(
        self, store: Store, value: object
    ) -> None:
        """The same refusal on every store, wherever the value is passed: as an id, a
        name, a message, a note, a reason; nothing is written, nothing is published."""
        clock = ManualClock(T0)
        desk = Desk(store=store, clock=clock, transport=_ListTransport([]))
        desk.add_queue("support", ["Resolved"])
        desk.login("jana", "Jana", ["support"])
        desk.set_available("jana")
        chat = desk.start_chat("support", "Karel", "k@example.com")
        desk.accept("jana", chat)
        before = _snapshot(desk, [chat])
        calls: list[Callable[[], object]] = [
            lambda: desk.add_queue(value, ["Resolved"]),  # type: ignore[arg-type]
            lambda: desk.add_queue("sales", [value]),  # type: ignore[list-item]
            lambda: desk.login(value, "Petr", ["support"]),  # type: ignore[arg-type]
            lambda: desk.login("petr", value, ["support"]),  # type: ignore[arg-type]
            lambda: desk.login("petr", "Petr", [value]),  # type: ignore[list-item]
            lambda: desk.set_idle("jana", value),  # type: ignore[arg-type]
            lambda: desk.start_chat(value, "Karel", "k@example.com"),  # type: ignore[arg-type]
            lambda: desk.start_chat("support", value, "k@example.com"),  # type: ignore[arg-type]
            lambda: desk.start_chat("support", "Karel", "k@example.com", asset=value),  # type: ignore[arg-type]
            lambda: desk.send_customer_message(value, "hello"),  # type: ignore[arg-type]
            lambda: desk.transfer_to_queue("jana", chat, value),  # type: ignore[arg-type]
            lambda: desk.transfer_to_agent("jana", chat, value),  # type: ignore[arg-type]
            lambda: desk.request_conference("jana", chat, value),  # type: ignore[arg-type]
            lambda: desk.delete_asset(value),  # type: ignore[arg-type]
            lambda: desk.submit_wrap_up("jana", chat, value),  # type: ignore[arg-type]
            lambda: desk.accept(value, chat),  # type: ignore[arg-type]
            lambda: desk.customer_end(value),  # type: ignore[arg-type]
            lambda: desk.conversation(value),  # type: ignore[arg-type]
            lambda: desk.agent(value),  # type: ignore[arg-type]
            lambda: desk.offers(value),  # type: ignore[arg-type]
            lambda: desk.events(value),  # type: ignore[arg-type]
        ]
        if value != LONG_NAME:  # too long for a name, a fine length for a text
            calls += [
                lambda: desk.send_customer_message(chat, value),  # type: ignore[arg-type]
                lambda: desk.send_agent_message("jana", chat, value),  # type: ignore[arg-type]
                lambda: desk.submit_wrap_up(
                    "jana",
                    chat,
                    "Resolved",
                    notes=value,  # type: ignore[arg-type]
                ),
            ]
        for call in calls:
            with pytest.raises(InvalidArgument) as caught:
                call()
            assert caught.value.code == "invalid_argument"
            assert isinstance(caught.value, TypeError | ValueError)
        assert _snapshot(desk, [chat]) == before
        assert store.pending() == []

    # --- the same through the async face ---------------------------------------------------

    def test_an_async_desk_on_the_store_behaves_like_the_reference(self, store: Store) -> None:
        results = []
        for candidate, face in ((MemoryStore(), False), (store, True)):
            clock = ManualClock(T0)
            published: list[Event] = []
            transport = _ListTransport(published)
            if face:
                desk = BlockingDesk(
                    AsyncDesk(store=candidate, transport=transport, clock=clock, new_id=_counter())
                )
                try:
                    ids = desk_scenario(cast(Desk, desk), clock)
                    snapshot = _snapshot(cast(Desk, desk), ids)
                finally:
                    desk.close()
            else:
                sync = Desk(store=candidate, transport=transport, clock=clock, new_id=_counter())
                ids = desk_scenario(sync, clock)
                snapshot = _snapshot(sync, ids)
            results.append((snapshot, published, candidate.log(limit=100_000)))
        assert results[0] == results[1]

    def test_concurrent_coroutines_on_an_async_desk_lose_nothing(self, store: Store) -> None:
        clock = ManualClock(T0)
        customers = 40

        async def day() -> tuple[list[str], list[Any]]:
            async with AsyncDesk(store=store, clock=clock) as desk:
                await desk.add_queue("support", ["Resolved"])
                await asyncio.gather(
                    *(desk.login(f"agent{n}", f"Agent {n}", ["support"], 3) for n in range(4))
                )
                await asyncio.gather(*(desk.set_available(f"agent{n}") for n in range(4)))

                async def customer(n: int) -> str:
                    chat = await desk.start_chat("support", f"Customer {n}", f"c{n}@example.com")
                    await desk.send_customer_message(chat, f"hello {n}")
                    return chat

                chats = await asyncio.gather(*(customer(n) for n in range(customers)))
                conversations = await asyncio.gather(*(desk.conversation(c) for c in chats))
                return list(chats), list(conversations)

        chats, conversations = asyncio.run(day())
        assert len(set(chats)) == customers
        assert [c.id for c in conversations] == chats
        offered = [c for c in conversations if c.state == ConversationState.OFFERED]
        assert len(offered) == 12, "four agents, three chats each"
        assert all(len(c.messages) == 1 for c in conversations)
        logged = [event for _, event in store.log(limit=100_000)]
        assert len({event.id for event in logged}) == len(logged)
        for chat in chats:
            assert [e for e in logged if e.aggregate_id == chat] == store.events(chat)


class _ListTransport:
    def __init__(self, sink: list[Event]) -> None:
        self.sink = sink

    def publish(self, events: Any) -> None:
        self.sink.extend(events)
