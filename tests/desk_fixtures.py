"""Shared fixtures: a controllable clock and a desk on the in-memory store."""

from __future__ import annotations

import pytest

from livechat_core import Desk
from livechat_core.testing import ManualClock


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1_700_000_000.0)


@pytest.fixture
def desk(clock: ManualClock) -> Desk:
    """A desk with one queue and three logged-in (idle) agents."""
    desk = Desk(clock=clock)
    desk.add_queue("support", ["Resolved", "Escalated", "No answer"], offer_timeout=30.0)
    desk.add_queue("billing", ["Paid", "Refunded"])
    desk.login("jana", "Jana Nováková", ["support", "billing"])
    desk.login("petr", "Petr Svoboda", ["support"])
    desk.login("eva", "Eva Dvořáková", ["support", "billing"])
    return desk
