"""Helpers of the batch and deferred-write tests: a desk with one available agent, a
chat's whole lifecycle, and a counter of PostgreSQL round trips."""

from __future__ import annotations

from typing import Any

import pytest

from livechat_core import Desk
from livechat_core.ports import Store
from livechat_core.testing import ManualClock
from livechat_core.testing._conformance import T0


def one_agent_desk(store: Store) -> Desk:
    """A desk on ``store`` with the queue ``support`` and the agent ``ann`` available in it."""
    desk = Desk(store=store, clock=ManualClock(T0))
    desk.add_queue("support", ["Resolved"])
    desk.login("ann", "Ann", ["support"])
    desk.set_available("ann")
    return desk


def lifecycle(desk: Desk, number: int) -> str:
    """One chat from start to wrap-up on a :func:`one_agent_desk` (six commands)."""
    chat = desk.start_chat("support", "Karel", "karel@example.com")
    desk.send_customer_message(chat, f"Dobrý den {number}")
    desk.accept("ann", chat)
    desk.send_agent_message("ann", chat, "Hned to bude.")
    desk.end("ann", chat)
    desk.submit_wrap_up("ann", chat, "Resolved")
    return chat


def count_round_trips(monkeypatch: pytest.MonkeyPatch, trips: list[int]) -> None:
    """Add each PostgreSQL round trip (a pipeline, or a statement psycopg sends on its
    own: a bare ``COMMIT``, a ``ROLLBACK TO SAVEPOINT``) to ``trips[-1]``."""
    import psycopg

    from livechat_core.adapters import postgres

    pipeline, execute = postgres._pipeline, psycopg.Connection.execute

    def counting_pipeline(*args: Any) -> Any:
        trips[-1] += 1
        return pipeline(*args)

    def counting_execute(*args: Any, **kwargs: Any) -> Any:
        trips[-1] += 1
        return execute(*args, **kwargs)

    monkeypatch.setattr(postgres, "_pipeline", counting_pipeline)
    monkeypatch.setattr(psycopg.Connection, "execute", counting_execute)
