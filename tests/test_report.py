"""SPEC section 12: a scripted shift with known times, every figure checked exactly.

The expected numbers below are worked out by hand from SPEC's definitions (the comments
show the arithmetic), not from the code under test.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from livechat_core import (
    AgentFigures,
    Desk,
    Figures,
    InvalidArgument,
    SqliteStore,
    compute_report,
    event_from_record,
    event_to_record,
)
from livechat_core.testing import ManualClock

T0 = 1_767_258_000.0  # 2026-01-01 09:00:00 UTC, a whole 15-minute boundary


def scripted_shift(desk: Desk, clock: ManualClock) -> dict[str, str]:
    """Five chats, three agents, ten minutes. Times are seconds after T0.

    A support   start 100, jana accepts 110 (wait 10), ends 200, wrap-up 230
    B support   start 120, offered to petr, times out at 150 (petr RONA), petr available
                160 and is offered B again, accepts 170 (wait 50); eva joins a conference
                at 270, the owner ends it at 300, eva wraps up at 310; petr ends 320,
                wraps up 340
    C billing   start 175, nobody available, the customer leaves at 185 (abandoned, 10 s)
    D billing   start 240, jana accepts 255 (wait 15); jana goes idle at 380 while still
                holding it, ends 400, wraps up 415
    E support   start 430, offered to petr, the customer leaves at 455 (abandoned, 25 s)
    Everyone logs in at 0 (idle) and out at 600; jana and petr are available from 60,
    eva from 250.
    """

    def at(seconds: float) -> None:
        clock.set(T0 + seconds)

    at(0)
    desk.add_queue("support", ["Resolved", "Escalated"], offer_timeout=30.0)
    desk.add_queue("billing", ["Paid", "Refunded"], offer_timeout=30.0)
    desk.login("jana", "Jana Nováková", ["support", "billing"])
    desk.login("petr", "Petr Svoboda", ["support"])
    desk.login("eva", "Eva Dvořáková", ["billing"])
    at(60)
    desk.set_available("jana")
    desk.set_available("petr")
    at(100)
    a = desk.start_chat("support", "Karel Novák", "karel@example.com")
    at(110)
    desk.accept("jana", a)
    at(120)
    b = desk.start_chat("support", "Marie Černá", "marie@example.com")
    assert [offer.conversation_id for offer in desk.offers("petr")] == [b]
    at(150)
    desk.tick()
    assert desk.agent("petr").state == "rona"
    at(160)
    desk.set_available("petr")
    at(170)
    desk.accept("petr", b)
    at(175)
    c = desk.start_chat("billing", "Jan Dvořák", "jan@example.com")
    at(185)
    desk.customer_end(c)
    at(200)
    desk.end("jana", a)
    at(230)
    desk.submit_wrap_up("jana", a, "Resolved")
    at(240)
    d = desk.start_chat("billing", "Eva Malá", "eva.mala@example.com")
    assert [offer.conversation_id for offer in desk.offers("jana")] == [d]
    at(250)
    desk.set_available("eva")
    at(255)
    desk.accept("jana", d)
    at(260)
    desk.request_conference("petr", b, "eva")
    at(270)
    desk.accept("eva", b)
    at(300)
    desk.end_conference("petr", b)
    at(310)
    desk.submit_wrap_up("eva", b, "Resolved")
    at(320)
    desk.end("petr", b)
    at(340)
    desk.submit_wrap_up("petr", b, "Resolved")
    at(380)
    desk.set_idle("jana", "lunch")
    at(400)
    desk.end("jana", d)
    at(415)
    desk.submit_wrap_up("jana", d, "Paid")
    at(430)
    e = desk.start_chat("support", "Petr Malý", "petr.maly@example.com")
    assert [offer.conversation_id for offer in desk.offers("petr")] == [e]
    at(455)
    desk.customer_end(e)
    at(600)
    for agent in ("jana", "petr", "eva"):
        desk.logout(agent)
    return {"a": a, "b": b, "c": c, "d": d, "e": e}


@pytest.fixture
def shift() -> tuple[Desk, ManualClock]:
    clock = ManualClock(T0)
    desk = Desk(clock=clock)
    scripted_shift(desk, clock)
    return desk, clock


# Overall: offered A B C D E = 5; handled A B D = 3; abandoned C E = 2.
# Waits to the first accept: A 10, B 50, D 15 → ASA 75 / 3 = 25.
# Answered within 20 s: A, D = 2; abandoned within 20 s: C (10 s) = 1 (E left after 25 s).
# Service level 2 / (5 - 1) = 0.5; abandon rate 2 / 5 = 0.4.
# Owner legs with a wrap-up: A 110→230 = 120, B 170→340 = 170, D 255→415 = 160 → AHT 150.
OVERALL = Figures(
    offered=5,
    handled=3,
    abandoned=2,
    answered_in_threshold=2,
    abandoned_in_threshold=1,
    asa=25.0,
    service_level=0.5,
    abandon_rate=0.4,
    wrapped_legs=3,
    aht=150.0,
)
BY_QUEUE = {
    # billing: C (abandoned after 10 s), D (wait 15, leg 160): SL 1 / (2 - 1)
    "billing": Figures(
        offered=2,
        handled=1,
        abandoned=1,
        answered_in_threshold=1,
        abandoned_in_threshold=1,
        asa=15.0,
        service_level=1.0,
        abandon_rate=0.5,
        wrapped_legs=1,
        aht=160.0,
    ),
    # support: A (wait 10, leg 120), B (wait 50, leg 170), E (abandoned after 25 s)
    "support": Figures(
        offered=3,
        handled=2,
        abandoned=1,
        answered_in_threshold=1,
        abandoned_in_threshold=0,
        asa=30.0,
        service_level=1 / 3,
        abandon_rate=1 / 3,
        wrapped_legs=2,
        aht=145.0,
    ),
}
BY_AGENT = {
    # eva: guest leg on B 270→310 = 40 busy; logged in 600; idle 0→250 = 250, none busy
    "eva": AgentFigures(
        agent_id="eva",
        name="Eva Dvořáková",
        legs=1,
        rona=0,
        busy=40.0,
        logged_in=600.0,
        idle=250.0,
        idle_not_busy=250.0,
        occupancy=40 / (600 - 250),
    ),
    # jana: A 110→230 and D 255→415 = 120 + 160 = 280 busy; idle 0→60 and 380→600 = 280,
    # of which 380→415 (35) while holding D → 245 idle not busy
    "jana": AgentFigures(
        agent_id="jana",
        name="Jana Nováková",
        legs=2,
        rona=0,
        busy=280.0,
        logged_in=600.0,
        idle=280.0,
        idle_not_busy=245.0,
        occupancy=280 / (600 - 245),
    ),
    # petr: B 170→340 = 170 busy; one RONA (B at 150); idle 0→60 = 60
    "petr": AgentFigures(
        agent_id="petr",
        name="Petr Svoboda",
        legs=1,
        rona=1,
        busy=170.0,
        logged_in=600.0,
        idle=60.0,
        idle_not_busy=60.0,
        occupancy=170 / (600 - 60),
    ),
}


def test_every_figure_of_a_scripted_shift(shift: tuple[Desk, ManualClock]) -> None:
    desk, _ = shift
    report = desk.report()
    assert report.figures == OVERALL
    assert dict(report.by_queue) == BY_QUEUE
    assert dict(report.by_agent) == BY_AGENT
    assert (report.since, report.until, report.start, report.end) == (None, None, T0, T0 + 600)
    # one 15-minute interval, 09:00-09:15, holding every chat
    assert [(i.start, i.end, i.figures) for i in report.intervals] == [(T0, T0 + 900, OVERALL)]


def test_a_window_reports_the_chats_started_in_it(shift: tuple[Desk, ManualClock]) -> None:
    desk, _ = shift
    report = desk.report(since=T0 + 150, until=T0 + 300)
    # chats started in [150, 300): C (abandoned after 10 s) and D (wait 15, leg 160)
    assert report.figures == BY_QUEUE["billing"]
    # support had no chat started in the window: it is there, with zeros
    assert dict(report.by_queue) == {"billing": BY_QUEUE["billing"], "support": Figures()}
    # agent time is clock time in [150, 300] on any chat; legs and RONA of C and D only
    assert dict(report.by_agent) == {
        # B 270→300 = 30 busy; idle 150→250 = 100, none busy → 30 / (150 - 100)
        "eva": AgentFigures(
            agent_id="eva",
            name="Eva Dvořáková",
            busy=30.0,
            logged_in=150.0,
            idle=100.0,
            idle_not_busy=100.0,
            occupancy=0.6,
        ),
        # A 150→230 and D 255→300 = 80 + 45 = 125 busy; D is her one leg in the window
        "jana": AgentFigures(
            agent_id="jana",
            name="Jana Nováková",
            legs=1,
            busy=125.0,
            logged_in=150.0,
            occupancy=125 / 150,
        ),
        # B 170→300 = 130 busy; B's RONA was in a chat started before the window
        "petr": AgentFigures(
            agent_id="petr",
            name="Petr Svoboda",
            busy=130.0,
            logged_in=150.0,
            occupancy=130 / 150,
        ),
    }
    # intervals cover the window: only 09:00-09:15
    assert [(i.start, i.end) for i in report.intervals] == [(T0, T0 + 900)]


def test_service_level_threshold_moves_the_counts(shift: tuple[Desk, ManualClock]) -> None:
    desk, _ = shift
    # within 10 s: answered A (10, the threshold itself counts); abandoned C (10)
    strict = desk.report(service_level_threshold=10)
    assert (strict.answered_in_threshold, strict.abandoned_in_threshold) == (1, 1)
    assert strict.service_level == 1 / 4
    # within 60 s: answered A, B, D; abandoned C, E → 3 / (5 - 2)
    generous = desk.report(service_level_threshold=60)
    assert generous.service_level == 1.0


def test_legs_still_held_count_until_now() -> None:
    clock = ManualClock(T0)
    desk = Desk(clock=clock)
    desk.add_queue("support", ["Resolved"])
    desk.login("jana", "Jana", ["support"])
    desk.set_available("jana")
    chat = desk.start_chat("support", "Karel", "k@example.com")
    clock.advance(4)
    desk.accept("jana", chat)
    clock.advance(96)
    report = desk.report()
    # accepted after 4 s, not wrapped up yet: no AHT sample; busy 4→100, logged in 0→100
    assert (report.handled, report.asa, report.aht, report.wrapped_legs) == (1, 4.0, None, 0)
    assert report.by_agent["jana"].busy == 96.0
    assert report.by_agent["jana"].occupancy == 96 / 100


def test_an_empty_desk_reports_none_not_zero_division() -> None:
    report = Desk(clock=ManualClock(T0)).report()
    assert report.figures == Figures()
    assert (report.asa, report.service_level, report.abandon_rate, report.aht) == (None,) * 4
    assert dict(report.by_queue) == {}
    assert dict(report.by_agent) == {}
    assert report.intervals == ()


def test_the_pure_function_agrees_with_the_desk_and_survives_json(
    shift: tuple[Desk, ManualClock],
) -> None:
    desk, clock = shift
    stored = list(desk.stored_events())
    # exported as JSON Lines and read back, in any order
    exported = [event_from_record(json.loads(json.dumps(event_to_record(e)))) for e in stored]
    exported.reverse()
    assert compute_report(exported, now=clock()) == desk.report()


def test_report_reads_a_sqlite_store(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    store = SqliteStore(str(tmp_path / "desk.db"))
    desk = Desk(store=store, clock=clock)
    scripted_shift(desk, clock)
    report = desk.report()
    store.close()
    assert report.figures == OVERALL
    assert dict(report.by_agent) == BY_AGENT


@pytest.mark.postgres
def test_report_and_wallboard_read_a_postgres_store(postgres_dsn: str) -> None:
    from livechat_core import PostgresStore

    clock = ManualClock(T0)
    store = PostgresStore(postgres_dsn)
    try:
        desk = Desk(store=store, clock=clock)
        scripted_shift(desk, clock)
        report = desk.report()
        waiting = desk.start_chat("support", "Late", "late@example.com")
        clock.advance(12)
        board = desk.stats()
    finally:
        store.close()
    assert report.figures == OVERALL
    assert dict(report.by_queue) == BY_QUEUE
    assert dict(report.by_agent) == BY_AGENT
    assert waiting
    assert (board.queues["support"].waiting, board.queues["support"].longest_wait) == (1, 12.0)
    assert dict(board.agents) == {"logged_out": 3, "idle": 0, "available": 0, "rona": 0}


@pytest.mark.parametrize(
    "arguments",
    [
        {"since": float("nan")},
        {"since": "yesterday"},
        {"until": True},
        {"since": T0 + 10, "until": T0},
        {"service_level_threshold": -1},
        {"service_level_threshold": float("inf")},
        {"interval": 0},
    ],
)
def test_bad_windows_are_refused(arguments: dict[str, object]) -> None:
    desk = Desk(clock=ManualClock(T0))
    with pytest.raises(InvalidArgument):
        desk.report(**arguments)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- the wallboard


def test_wallboard_counts_waiting_chats_and_agent_states() -> None:
    clock = ManualClock(T0)
    desk = Desk(clock=clock)
    desk.add_queue("support", ["Resolved"])
    desk.add_queue("billing", ["Paid"])
    desk.add_queue("sales", ["Sold"])
    desk.login("jana", "Jana", ["support"])
    desk.login("petr", "Petr", ["support", "billing"])
    desk.login("eva", "Eva", ["billing"])
    desk.logout("eva")
    desk.set_available("jana")
    first = desk.start_chat("support", "A", "a@example.com")  # offered to jana at once
    clock.advance(10)
    desk.start_chat("support", "B", "b@example.com")  # waits: jana holds an offer
    clock.advance(5)
    desk.start_chat("support", "C", "c@example.com")
    desk.start_chat("billing", "D", "d@example.com")
    clock.advance(30)  # jana's offer of A times out: RONA, A back in the queue
    desk.tick()
    board = desk.stats()
    assert board.at == T0 + 45
    # support: A (since 0), B (since 10), C (since 15) queued; the oldest waited 45 s
    assert (board.queues["support"].waiting, board.queues["support"].longest_wait) == (3, 45.0)
    assert (board.queues["billing"].waiting, board.queues["billing"].longest_wait) == (1, 30.0)
    assert (board.queues["sales"].waiting, board.queues["sales"].longest_wait) == (0, 0.0)
    assert dict(board.agents) == {"logged_out": 1, "idle": 1, "available": 0, "rona": 1}
    # an explicit now; and once taken, the chat no longer waits
    assert desk.stats(now=T0 + 100).queues["support"].longest_wait == 100.0
    desk.set_available("jana")
    desk.accept("jana", first)
    assert desk.stats().queues["support"].waiting == 2


def test_a_transferred_chat_waits_from_the_transfer() -> None:
    clock = ManualClock(T0)
    desk = Desk(clock=clock)
    desk.add_queue("support", ["Resolved"])
    desk.add_queue("billing", ["Paid"])
    desk.login("jana", "Jana", ["support"])
    desk.set_available("jana")
    chat = desk.start_chat("support", "A", "a@example.com")
    desk.accept("jana", chat)
    clock.advance(100)
    desk.transfer_to_queue("jana", chat, "billing")
    clock.advance(7)
    assert desk.stats().queues["billing"].longest_wait == 7.0


def test_wallboard_refuses_a_bad_now() -> None:
    with pytest.raises(InvalidArgument):
        Desk().stats(now=float("nan"))


def test_a_quiet_queue_is_reported_with_zeros() -> None:
    """Every configured queue has its figures, as the wallboard lists every queue: one
    where no chat started in the window reads offered 0 and no averages."""
    desk = Desk(clock=ManualClock(T0))
    desk.add_queue("support", ["Resolved"])
    desk.add_queue("quiet", ["Resolved"])
    desk.start_chat("support", "Jana Nováková", "jana@example.com")
    report = desk.report()
    assert sorted(report.by_queue) == ["quiet", "support"]
    assert report.by_queue["quiet"] == Figures()
    assert report.by_queue["support"].offered == 1
    assert set(desk.stats().queues) == set(report.by_queue)
