"""The durable stores agree with the in-memory reference, command by command.

A Hypothesis state machine drives one desk on a :class:`MemoryStore` and one desk on each
real store (a SQLite file, and a PostgreSQL schema when ``LIVECHAT_TEST_POSTGRES`` is
set) with the same commands, valid and invalid, and one shared fake clock; and the same
through the async face: an :class:`AsyncDesk` on another SQLite file (and PostgreSQL
schema), driven through :class:`BlockingDesk`. After every step the desks must have
returned the same events or refused with the same error code, and show the same
conversations, agents, queues, stored events, outbox and event log (positions included).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable
from typing import Any, ClassVar, cast

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from livechat_core import AsyncDesk, Desk, LivechatError, MemoryStore
from livechat_core.adapters.sqlite import SqliteStore
from livechat_core.ports import Store
from livechat_core.testing import BlockingDesk

POSTGRES_ENV = "LIVECHAT_TEST_POSTGRES"

AGENTS = ("jana", "petr", "eva")
QUEUES = ("support", "billing")
ASSETS = ("livechat", "shop")
TEXTS = ("Dobrý den", "4111 1111", "1111 1111", "a < b", "   ")


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


class StoresAgree(RuleBasedStateMachine):
    """Same commands on every store; same answers and the same state afterwards."""

    label: ClassVar[str] = "differential"  # of the temporary directory and schema
    async_faces: ClassVar[bool] = True  # also drive an AsyncDesk on stores of its own

    def __init__(self) -> None:
        super().__init__()
        self.clock = Clock()
        self.directory = tempfile.mkdtemp(prefix=f"livechat-{self.label}-")
        self.schema = f"{self.label}_{uuid.uuid4().hex[:10]}"
        stores: list[Store] = [
            MemoryStore(),
            SqliteStore(os.path.join(self.directory, "desk.db"), synchronous="OFF"),
        ]
        dsn = os.environ.get(POSTGRES_ENV)
        if dsn:
            from livechat_core.adapters.postgres import PostgresStore

            stores.append(PostgresStore(dsn, schema=self.schema))
        self.desks: list[Desk] = [
            Desk(store=store, clock=self.clock, new_id=self._ids()) for store in stores
        ]
        self.chats: list[str] = []
        self.faces: list[BlockingDesk] = []
        if not self.async_faces:
            return
        # The async face, on stores of its own.
        self.faces += [
            BlockingDesk(AsyncDesk(store=MemoryStore(), clock=self.clock, new_id=self._ids())),
            BlockingDesk(
                AsyncDesk(
                    store=SqliteStore(os.path.join(self.directory, "async.db"), synchronous="OFF"),
                    clock=self.clock,
                    new_id=self._ids(),
                )
            ),
        ]
        if dsn:
            from livechat_core.adapters.postgres import PostgresStore

            async_store = PostgresStore(dsn, schema=self.schema + "_async")
            self.faces.append(
                BlockingDesk(AsyncDesk(store=async_store, clock=self.clock, new_id=self._ids()))
            )
        self.desks.extend(cast(Desk, face) for face in self.faces)

    @staticmethod
    def _ids() -> Callable[[], str]:
        numbers = iter(range(1, 1_000_000))
        return lambda: f"chat{next(numbers)}"

    def teardown(self) -> None:
        for face in self.faces:
            face.close()
        for desk in self.desks:
            desk.store.close()
        shutil.rmtree(self.directory, ignore_errors=True)
        dsn = os.environ.get(POSTGRES_ENV)
        if dsn:
            import psycopg
            from psycopg import sql

            with psycopg.connect(dsn, autocommit=True) as connection:
                for schema in (self.schema, self.schema + "_async"):
                    connection.execute(
                        sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
                    )

    def _all(self, command: Callable[[Desk], Any]) -> None:
        """Run ``command`` on every desk; all must answer alike."""
        outcomes = []
        for desk in self.desks:
            try:
                outcomes.append(("ok", command(desk)))
            except LivechatError as error:
                outcomes.append(("refused", error.code))
        assert all(outcome == outcomes[0] for outcome in outcomes), outcomes

    def _chat(self, data: st.DataObject) -> str:
        if not self.chats:
            return "no-such-chat"
        return data.draw(st.sampled_from(self.chats))

    # --- the commands -----------------------------------------------------------------------

    @rule(queue=st.sampled_from(QUEUES), timeout=st.sampled_from([10.0, 30.0]))
    def add_queue(self, queue: str, timeout: float) -> None:
        reasons = ["Resolved", "Escalated"]
        self._all(
            lambda d: d.add_queue(queue, reasons, offer_timeout=timeout, wrap_up_timeout=60.0)
        )

    @rule(
        agent=st.sampled_from(AGENTS),
        queues=st.lists(st.sampled_from(QUEUES), min_size=1, max_size=2, unique=True),
        capacity=st.integers(1, 2),
    )
    def login(self, agent: str, queues: list[str], capacity: int) -> None:
        self._all(lambda d: d.login(agent, agent.title(), queues, capacity=capacity))

    @rule(agent=st.sampled_from(AGENTS))
    def set_available(self, agent: str) -> None:
        self._all(lambda d: d.set_available(agent))

    @rule(agent=st.sampled_from(AGENTS))
    def set_idle(self, agent: str) -> None:
        self._all(lambda d: d.set_idle(agent, "break"))

    @rule(agent=st.sampled_from(AGENTS))
    def logout(self, agent: str) -> None:
        self._all(lambda d: d.logout(agent))

    @rule(queue=st.sampled_from(QUEUES), asset=st.sampled_from(ASSETS))
    def start_chat(self, queue: str, asset: str) -> None:
        ids = []

        def start(desk: Desk) -> str:
            ids.append(desk.start_chat(queue, "Karel Novák", "karel@example.com", asset=asset))
            return ids[-1]

        self._all(start)
        if ids:
            self.chats.append(ids[0])

    @rule(data=st.data(), text=st.sampled_from(TEXTS))
    def customer_message(self, data: st.DataObject, text: str) -> None:
        chat = self._chat(data)
        self._all(lambda d: d.send_customer_message(chat, text))

    @rule(data=st.data(), agent=st.sampled_from(AGENTS), text=st.sampled_from(TEXTS))
    def agent_message(self, data: st.DataObject, agent: str, text: str) -> None:
        chat = self._chat(data)
        self._all(lambda d: d.send_agent_message(agent, chat, text))

    @rule(data=st.data(), agent=st.sampled_from(AGENTS), accept=st.booleans())
    def answer_offer(self, data: st.DataObject, agent: str, accept: bool) -> None:
        chat = self._chat(data)
        if accept:
            self._all(lambda d: d.accept(agent, chat))
        else:
            self._all(lambda d: d.decline(agent, chat))

    @rule(data=st.data(), agent=st.sampled_from(AGENTS), other=st.sampled_from(AGENTS))
    def transfer_or_conference(self, data: st.DataObject, agent: str, other: str) -> None:
        chat = self._chat(data)
        how = data.draw(st.sampled_from(["agent", "queue", "conference", "end_conference"]))
        if how == "agent":
            self._all(lambda d: d.transfer_to_agent(agent, chat, other))
        elif how == "queue":
            self._all(lambda d: d.transfer_to_queue(agent, chat, QUEUES[len(chat) % 2]))
        elif how == "conference":
            self._all(lambda d: d.request_conference(agent, chat, other))
        else:
            self._all(lambda d: d.end_conference(agent, chat))

    @rule(data=st.data(), agent=st.sampled_from(AGENTS))
    def end_and_wrap_up(self, data: st.DataObject, agent: str) -> None:
        chat = self._chat(data)
        self._all(lambda d: d.end(agent, chat))
        self._all(lambda d: d.submit_wrap_up(agent, chat, "Resolved", notes="hotovo"))

    @rule(data=st.data())
    def customer_end(self, data: st.DataObject) -> None:
        chat = self._chat(data)
        self._all(lambda d: d.customer_end(chat))

    @rule(asset=st.sampled_from(ASSETS))
    def delete_asset(self, asset: str) -> None:
        self._all(lambda d: d.delete_asset(asset))

    @rule(seconds=st.sampled_from([1.0, 11.0, 31.0, 61.0]))
    def time_passes(self, seconds: float) -> None:
        self.clock.now += seconds
        self._all(lambda d: d.tick())

    # --- the same state everywhere ----------------------------------------------------------

    @invariant()
    def same_state(self) -> None:
        views = [self._view(desk) for desk in self.desks]
        for view in views[1:]:
            assert view == views[0]

    def _view(self, desk: Desk) -> Any:
        store = desk.store
        return {
            "conversations": [desk.conversation(chat) for chat in self.chats],
            "events": [desk.events(chat) for chat in self.chats],
            "agents": desk.agents(),
            "agent_events": [store.events(agent, "agent") for agent in AGENTS],
            "queues": desk.queues(),
            "offers": [desk.offers(agent.id) for agent in desk.agents()],
            "conversation_ids": store.conversation_ids(),
            "pending": store.pending(),
            "log": desk.events_after(0, 100_000),
        }


StoresAgree.TestCase.settings = settings(
    max_examples=int(os.environ.get("LIVECHAT_DIFFERENTIAL_EXAMPLES", "25")),
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestStoresAgree = StoresAgree.TestCase
