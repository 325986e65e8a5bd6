"""Fuzzing every public Desk method with arbitrary values (issue 15, item 7).

Hypothesis drives a desk through sequences of calls whose arguments are drawn from a
mix of plausible values (the ids in play, chat texts) and anything at all: ``None``,
huge and non-finite numbers, lone surrogates and control characters, bytes, lists,
dicts. Two properties, on memory, SQLite and (where ``LIVECHAT_TEST_POSTGRES`` is set)
PostgreSQL:

* only a :class:`LivechatError` ever escapes;
* a refused call changes nothing: the stored state, the events and the outbox are as
  they were.

The example counts keep the run to a minute or two; ``HYPOTHESIS_PROFILE=deep`` style
runs can raise them with ``--hypothesis-seed`` and settings overrides.
"""

from __future__ import annotations

import inspect
import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from livechat_core import Desk, LivechatError, MemoryStore, SqliteStore
from livechat_core.ports import Store
from livechat_core.testing import ManualClock

T0 = 1_700_000_000.0
AGENTS = ["jana", "petr"]
QUEUES = ["support", "billing"]
CHATS = ["c1", "c2", "c3"]

_METHODS = sorted(
    name
    for name, _ in inspect.getmembers(Desk, inspect.isfunction)
    if not name.startswith("_") and name not in {"batch"}
)

_ANYTHING: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([2**70, 10**400, -(2**63)]),
    st.floats(),
    st.text(max_size=12),
    st.text(st.characters(max_codepoint=0x9F), max_size=6),  # control characters
    st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1, max_size=2),
    st.sampled_from(["\ud800", "\x00", "a\x00b", "\x1b[31m", "x" * 300, "", "  "]),
    st.binary(max_size=8),
    st.lists(st.text(max_size=4), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.builds(object),
)

_PLAUSIBLE: dict[str, st.SearchStrategy[Any]] = {
    "agent_id": st.sampled_from(AGENTS),
    "target_agent_id": st.sampled_from(AGENTS),
    "guest_agent_id": st.sampled_from(AGENTS),
    "exclude": st.sampled_from(AGENTS),
    "conversation_id": st.sampled_from(CHATS),
    "queue": st.sampled_from(QUEUES),
    "name": st.sampled_from([*QUEUES, "Jana Nováková"]),
    "queues": st.lists(st.sampled_from(QUEUES), min_size=1, max_size=2, unique=True),
    "wrap_up_reasons": st.just(["Resolved", "Escalated"]),
    "reason": st.sampled_from(["Resolved", "lunch"]),
    "text": st.sampled_from(["Hello", "card 4111 1111", "1111 1111 thanks", "a\nb"]),
    "customer_name": st.sampled_from(["Karel", "+447966197542"]),
    "customer_contact": st.sampled_from(["k@example.com", ""]),
    "asset": st.sampled_from(["livechat", "shop"]),
    "notes": st.just("done"),
    "now": st.floats(T0, T0 + 200),
    "offer_timeout": st.sampled_from([30.0, 5.0]),
    "capacity": st.integers(1, 2),
    "proactive": st.booleans(),
    "before": st.floats(T0, T0 + 500),
}


@st.composite
def calls(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """One call: a method and its arguments, each plausible or arbitrary."""
    name = draw(st.sampled_from(_METHODS))
    arguments: dict[str, Any] = {}
    for parameter in list(inspect.signature(getattr(Desk, name)).parameters.values())[1:]:
        required = parameter.default is inspect.Parameter.empty
        if not required and draw(st.booleans()):
            continue
        plausible = _PLAUSIBLE.get(parameter.name)
        if plausible is not None and draw(st.integers(0, 5)):
            arguments[parameter.name] = draw(plausible)
        else:
            arguments[parameter.name] = draw(_ANYTHING)
    return name, arguments


def _state(desk: Desk) -> tuple[object, ...]:
    """Everything stored, as views and events (the outbox included)."""
    chats = desk.store.conversation_ids()
    return (
        desk.queues(),
        desk.agents(),
        [desk.conversation(chat) for chat in chats],
        [desk.events(chat) for chat in chats],
        [desk.store.events(agent, "agent") for agent in AGENTS],
        desk.store.pending(10_000),
    )


class _Sink:
    def __init__(self) -> None:
        self.events: list[object] = []

    def publish(self, events: Any) -> None:
        self.events.extend(events)


def _run(store: Store, steps: list[tuple[str, dict[str, Any]]], advances: list[float]) -> None:
    clock = ManualClock(T0)
    chat_ids = iter([*CHATS, *(f"c{n}" for n in range(4, 100))])
    desk = Desk(store=store, clock=clock, new_id=lambda: next(chat_ids), transport=_Sink())
    # A desk in full swing, so that plausible calls reach every rule: an active chat, an
    # offered one, two available agents.
    desk.add_queue("support", ["Resolved", "Escalated"], offer_timeout=30.0)
    desk.add_queue("billing", ["Resolved"], offer_timeout=30.0, wrap_up_timeout=60.0)
    desk.login("jana", "Jana", ["support", "billing"], capacity=2)
    desk.login("petr", "Petr", ["support"], capacity=2)
    desk.set_available("jana")
    desk.start_chat("support", "Karel", "k@example.com")
    desk.accept("jana", "c1")
    desk.set_available("petr")
    desk.start_chat("billing", "Eva", "")
    for (name, arguments), advance in zip(steps, advances, strict=True):
        clock.now += advance
        before = _state(desk)
        try:
            result = getattr(desk, name)(**arguments)
            if inspect.isgenerator(result):
                list(result)
        except LivechatError:
            assert _state(desk) == before, f"a refused {name}({arguments!r}) changed the store"
        except Exception as error:  # pragma: no cover - the property under test
            pytest.fail(f"{name}({arguments!r}) raised {type(error).__name__}: {error}")


_STEPS = st.lists(st.tuples(calls(), st.sampled_from([0.0, 1.0, 31.0])), min_size=1, max_size=20)


@contextmanager
def _sqlite() -> Iterator[Store]:
    with tempfile.TemporaryDirectory() as directory:
        store = SqliteStore(os.path.join(directory, "fuzz.db"), synchronous="OFF")
        try:
            yield store
        finally:
            store.close()


@contextmanager
def _memory() -> Iterator[Store]:
    yield MemoryStore()


@contextmanager
def _postgres() -> Iterator[Store]:
    from livechat_core.adapters.postgres import PostgresStore

    schema = f"fuzz_{uuid.uuid4().hex[:12]}"
    store = PostgresStore(os.environ["LIVECHAT_TEST_POSTGRES"], schema=schema)
    try:
        yield store
    finally:
        store.close()
        import psycopg
        from psycopg import sql

        with psycopg.connect(os.environ["LIVECHAT_TEST_POSTGRES"], autocommit=True) as admin:
            admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


_STORES: dict[str, tuple[Callable[[], Any], int]] = {
    "memory": (_memory, 150),
    "sqlite": (_sqlite, 60),
    "postgres": (_postgres, 15),
}


@pytest.mark.parametrize("kind", list(_STORES))
def test_only_livechat_errors_escape_and_refusals_change_nothing(kind: str) -> None:
    if kind == "postgres" and not os.environ.get("LIVECHAT_TEST_POSTGRES"):
        pytest.skip("LIVECHAT_TEST_POSTGRES is not set")
    opener, examples = _STORES[kind]

    @settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(steps=_STEPS)
    def fuzz(steps: list[tuple[tuple[str, dict[str, Any]], float]]) -> None:
        with opener() as store:
            _run(store, [call for call, _ in steps], [advance for _, advance in steps])

    fuzz()
