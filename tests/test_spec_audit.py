"""An acceptance-style audit of SPEC sections 2-5, 7 and 9, one test per rule.

Every test drives the desk only through the public names of SPEC section 9 (plus
``replay``, the library's public replay helper) and asserts states as plain strings,
owners, outcomes, legs, messages, offers and the events a command returns. A refused
command must raise a :class:`LivechatError` with a ``code`` and change nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from livechat_core import Desk, LivechatError, SqliteStore, fill_template, filter_options, replay
from livechat_core.testing import ManualClock

START = 1_000.0


AGENTS = {"a": "Alice Adams", "b": "Bob Brown", "c": "Cyril Černý"}


def make_desk(clock: ManualClock, desk: Desk | None = None, **support: Any) -> Desk:
    """Queues ``support`` and ``sales``; agents a, b, c logged in (idle) serving both."""
    desk = desk or Desk(clock=clock)
    desk.add_queue("support", ["Resolved", "Escalated"], **support)
    desk.add_queue("sales", ["Sold", "Lost"])
    for agent_id, name in AGENTS.items():
        desk.login(agent_id, name, ["support", "sales"])
    return desk


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def desk(clock: ManualClock) -> Desk:
    return make_desk(clock)


def active_chat(desk: Desk, agent_id: str = "a", queue: str = "support") -> str:
    """A chat accepted by ``agent_id`` (the only available agent at the time)."""
    desk.set_available(agent_id)
    conversation_id = desk.start_chat(queue, "Jana Nováková", "jana@example.com")
    desk.accept(agent_id, conversation_id)
    assert desk.conversation(conversation_id).state == "active"
    return conversation_id


def conferencing(desk: Desk) -> str:
    """a owns a chat, b joined as guest."""
    conversation_id = active_chat(desk)
    desk.set_available("b")
    desk.request_conference("a", conversation_id, "b")
    desk.accept("b", conversation_id)
    assert desk.conversation(conversation_id).state == "conferencing"
    return conversation_id


def snapshot(desk: Desk, *conversation_ids: str) -> tuple[Any, ...]:
    """Everything a refused command must leave unchanged."""
    return (
        tuple(desk.conversation(c) for c in conversation_ids),
        tuple(desk.agent(a) for a in AGENTS),
        tuple(tuple(desk.offers(a)) for a in AGENTS),
    )


def refused(desk: Desk, action: Callable[[], object], *conversation_ids: str) -> LivechatError:
    """Run a command that must be refused; assert it changed nothing; return the error."""
    before = snapshot(desk, *conversation_ids)
    with pytest.raises(LivechatError) as caught:
        action()
    assert isinstance(caught.value.code, str)
    assert caught.value.code
    assert snapshot(desk, *conversation_ids) == before
    return caught.value


def leg_summary(desk: Desk, conversation_id: str) -> list[tuple[str, str, str]]:
    return [
        (leg.agent_id, str(leg.role), str(leg.state))
        for leg in desk.conversation(conversation_id).legs
    ]


def event_aggregates(events: list[Any]) -> set[str]:
    return {event.aggregate_id for event in events}


# --- SPEC 2: agent ----------------------------------------------------------------------


def test_login_puts_the_agent_in_idle(desk: Desk) -> None:
    view = desk.agent("a")
    assert (view.id, view.name, view.state, view.capacity) == ("a", "Alice Adams", "idle", 1)
    assert isinstance(view.state, str)


def test_login_twice_is_refused(desk: Desk) -> None:
    refused(desk, lambda: desk.login("a", "Alice Adams", ["support"]))


def test_set_available_from_idle_and_from_rona(desk: Desk, clock: ManualClock) -> None:
    desk.set_available("a")
    assert desk.agent("a").state == "available"
    desk.start_chat("support", "Jana Nováková", "jana@example.com")
    desk.tick(clock.advance(30))
    assert desk.agent("a").state == "rona"
    desk.set_available("a")
    assert desk.agent("a").state == "available"


def test_set_available_when_logged_out_is_refused(desk: Desk) -> None:
    desk.logout("a")
    assert desk.agent("a").state == "logged_out"
    refused(desk, lambda: desk.set_available("a"))
    refused(desk, lambda: desk.set_idle("a", "break"))


def test_set_idle_from_available_and_from_rona(desk: Desk, clock: ManualClock) -> None:
    desk.set_available("a")
    desk.set_idle("a", "break")
    assert desk.agent("a").state == "idle"
    desk.set_available("a")
    desk.start_chat("support", "Jana Nováková", "jana@example.com")
    desk.tick(clock.advance(30))
    assert desk.agent("a").state == "rona"
    desk.set_idle("a", "lunch")
    assert desk.agent("a").state == "idle"


def test_offer_timeout_sends_agent_to_rona_and_only_manual_change_leaves_it(
    desk: Desk, clock: ManualClock
) -> None:
    desk.set_available("a")
    first = desk.start_chat("support", "Jana Nováková", "jana@example.com")
    fired = desk.tick(clock.advance(30))
    assert {first, "a"} <= event_aggregates(fired)
    assert desk.agent("a").state == "rona"
    assert desk.conversation(first).state == "queued"
    # time passing and new chats do not bring the agent back
    assert desk.tick(clock.advance(3_600)) == []
    desk.start_chat("support", "Karel Novák", "karel@example.com")
    assert desk.agent("a").state == "rona"
    assert desk.offers("a") == []
    desk.set_available("a")
    assert desk.agent("a").state == "available"
    assert [o.conversation_id for o in desk.offers("a")] == [first]


@pytest.mark.parametrize("holding", ["offered", "active", "wrapping_up"])
def test_logout_is_refused_while_holding_a_leg(desk: Desk, holding: str) -> None:
    desk.set_available("a")
    conversation_id = desk.start_chat("support", "Jana Nováková", "jana@example.com")
    if holding != "offered":
        desk.accept("a", conversation_id)
    if holding == "wrapping_up":
        desk.end("a", conversation_id)
    assert leg_summary(desk, conversation_id) == [("a", "owner", holding)]
    refused(desk, lambda: desk.logout("a"), conversation_id)
    assert desk.agent("a").state == "available"


def test_logout_allowed_once_the_wrap_up_is_submitted(desk: Desk) -> None:
    conversation_id = active_chat(desk)
    desk.end("a", conversation_id)
    desk.submit_wrap_up("a", conversation_id, "Resolved")
    desk.logout("a")
    assert desk.agent("a").state == "logged_out"


def test_set_idle_rescinds_pending_offers_without_rona(desk: Desk, clock: ManualClock) -> None:
    desk.set_available("a")
    conversation_id = desk.start_chat("support", "Jana Nováková", "jana@example.com")
    assert desk.conversation(conversation_id).state == "offered"
    desk.set_idle("a", "break")
    assert desk.agent("a").state == "idle"
    assert desk.offers("a") == []
    assert leg_summary(desk, conversation_id) == [("a", "owner", "rescinded")]
    assert desk.conversation(conversation_id).state == "queued"
    assert desk.tick(clock.advance(300)) == []
    assert desk.agent("a").state == "idle"


def test_set_idle_rescinds_a_pending_transfer_offer_back_to_the_queue(desk: Desk) -> None:
    conversation_id = active_chat(desk)
    desk.set_available("b")
    desk.transfer_to_agent("a", conversation_id, "b")
    desk.set_idle("a", "break")  # a takes nothing back
    desk.set_idle("b", "break")
    conversation = desk.conversation(conversation_id)
    assert conversation.state == "queued"
    assert conversation.queue == "support"
    assert leg_summary(desk, conversation_id) == [
        ("a", "owner", "wrapping_up"),
        ("b", "owner", "rescinded"),
    ]
    assert desk.agent("b").state == "idle"


def test_set_idle_rescinds_a_pending_conference_invitation(desk: Desk) -> None:
    conversation_id = active_chat(desk)
    desk.set_available("b")
    desk.request_conference("a", conversation_id, "b")
    desk.set_idle("b", "break")
    assert desk.conversation(conversation_id).state == "active"
    assert desk.conversation(conversation_id).owner == "a"
    assert leg_summary(desk, conversation_id) == [
        ("a", "owner", "active"),
        ("b", "guest", "rescinded"),
    ]
    assert desk.agent("b").state == "idle"


def test_repeating_set_available_is_a_no_op_without_events(desk: Desk) -> None:
    desk.set_available("a")
    before = desk.agent("a")
    assert desk.set_available("a") == []
    assert desk.agent("a") == before


def test_repeating_set_idle_is_a_no_op_without_events(desk: Desk) -> None:
    desk.set_available("a")
    desk.set_idle("a", "break")
    before = desk.agent("a")
    assert desk.set_idle("a", "break") == []
    assert desk.agent("a") == before


def test_capacity_counts_offered_and_active_legs(clock: ManualClock) -> None:
    desk = Desk(clock=clock)
    desk.add_queue("support", ["Resolved"])
    desk.login("a", "Alice Adams", ["support"], capacity=2)
    desk.set_available("a")
    first = desk.start_chat("support", "Jana Nováková", "jana@example.com")
    desk.accept("a", first)  # one active
    clock.advance(1)
    second = desk.start_chat("support", "Karel Novák", "karel@example.com")  # one offered
    clock.advance(1)
    third = desk.start_chat("support", "Eva Malá", "eva@example.com")
    assert desk.agent("a").capacity == 2
    assert desk.conversation(second).state == "offered"
    assert desk.conversation(third).state == "queued"
    clock.advance(1)
    desk.end("a", first)  # a wrapping leg does not count
    assert desk.conversation(third).state == "offered"
    assert [o.conversation_id for o in desk.offers("a")] == [second, third]


def test_rona_and_idle_agents_keep_handling_their_chats(desk: Desk, clock: ManualClock) -> None:
    desk.login("d", "Dana Dlouhá", ["support"], capacity=2)
    desk.set_available("d")
    kept = desk.start_chat("support", "Jana Nováková", "jana@example.com")
    desk.accept("d", kept)
    missed = desk.start_chat("support", "Karel Novák", "karel@example.com")
    assert desk.conversation(missed).state == "offered"
    desk.tick(clock.advance(30))
    assert desk.agent("d").state == "rona"
    desk.send_agent_message("d", kept, "Still here")
    assert desk.offers("d") == []
    desk.set_idle("d", "break")
    desk.send_agent_message("d", kept, "Still here, idle")
    desk.end("d", kept)
    desk.submit_wrap_up("d", kept, "Resolved")
    assert desk.conversation(kept).state == "closed"
    assert desk.conversation(missed).state == "queued"


# --- SPEC 2: conversation, offers -------------------------------------------------------


def test_queued_chat_is_offered_with_the_popover_fields(desk: Desk, clock: ManualClock) -> None:
    conversation_id = desk.start_chat("support", "Jana Nováková", "jana@example.com")
    assert desk.conversation(conversation_id).state == "queued"
    clock.advance(5)
    desk.set_available("b")
    conversation = desk.conversation(conversation_id)
    assert conversation.state == "offered"
    assert conversation.owner is None
    (offer,) = desk.offers("b")
    assert offer.conversation_id == conversation_id
    assert offer.kind == "chat"
    assert offer.deadline == clock.now + 30.0
    assert offer.customer_name == "Jana Nováková"
    assert offer.queue == "support"
    assert offer.agent_name == "Bob Brown"
    assert offer.at == clock.now
    assert offer.proactive is False


def test_proactive_chat_carries_the_marker(desk: Desk) -> None:
    desk.set_available("a")
    conversation_id = desk.start_chat("support", "Visitor", "", proactive=True)
    assert desk.conversation(conversation_id).proactive is True
    assert desk.offers("a")[0].proactive is True


def test_accept_makes_the_chat_active_with_the_owner(desk: Desk, clock: ManualClock) -> None:
    desk.set_available("a")
    conversation_id = desk.start_chat("support", "Jana Nováková", "jana@example.com")
    clock.advance(4)
    desk.accept("a", conversation_id)
    conversation = desk.conversation(conversation_id)
    assert conversation.state == "active"
    assert conversation.owner == "a"
    assert leg_summary(desk, conversation_id) == [("a", "owner", "active")]
    assert conversation.elapsed(clock.now + 12.5) == 12.5
    assert desk.offers("a") == []


def test_accept_without_an_offer_is_refused(desk: Desk) -> None:
    conversation_id = desk.start_chat("support", "Jana Nováková", "jana@example.com")
    refused(desk, lambda: desk.accept("a", conversation_id), conversation_id)
    desk.set_available("a")
    refused(desk, lambda: desk.accept("b", conversation_id), conversation_id)
    refused(desk, lambda: desk.decline("b", conversation_id), conversation_id)


def test_decline_requeues_and_the_next_agent_gets_the_offer(desk: Desk) -> None:
    desk.set_available("a")
    conversation_id = desk.start_chat("support", "Jana Nováková", "jana@example.com")
    desk.set_available("b")
    desk.decline("a", conversation_id)
    assert desk.agent("a").state == "available"  # a decline does not change the agent
    assert [o.conversation_id for o in desk.offers("b")] == [conversation_id]
    assert desk.offers("a") == []
    assert leg_summary(desk, conversation_id) == [
        ("a", "owner", "declined"),
        ("b", "owner", "offered"),
    ]


def test_decline_with_nobody_else_eligible_goes_back_to_queued_or_the_decliner(
    desk: Desk,
) -> None:
    desk.set_available("a")
    conversation_id = desk.start_chat("support", "Jana Nováková", "jana@example.com")
    desk.decline("a", conversation_id)
    # the decliner is skipped only while another eligible agent exists
    assert desk.conversation(conversation_id).state == "offered"
    assert [o.conversation_id for o in desk.offers("a")] == [conversation_id]


def test_decliner_is_skipped_while_another_eligible_agent_exists(desk: Desk) -> None:
    desk.set_available("a")
    conversation_id = desk.start_chat("support", "Jana Nováková", "jana@example.com")
    desk.decline("a", conversation_id)
    desk.decline("a", conversation_id)  # offered to a again: nobody else
    assert desk.conversation(conversation_id).state == "offered"
    desk.set_available("b")
    # b became available after the offer: a still holds it; a declines, b gets it
    desk.decline("a", conversation_id)
    assert [o.conversation_id for o in desk.offers("b")] == [conversation_id]
    desk.decline("b", conversation_id)
    # both declined: somebody gets it again, never lost
    assert desk.conversation(conversation_id).state == "offered"


def test_offer_timeout_requeues_and_next_agent_gets_it(desk: Desk, clock: ManualClock) -> None:
    desk.set_available("a")
    conversation_id = desk.start_chat("support", "Jana Nováková", "jana@example.com")
    desk.set_available("b")
    fired = desk.tick(clock.advance(30))
    assert {conversation_id, "a"} <= event_aggregates(fired)
    assert desk.agent("a").state == "rona"
    assert leg_summary(desk, conversation_id) == [
        ("a", "owner", "timed_out"),
        ("b", "owner", "offered"),
    ]


def test_offer_timeout_with_nobody_available_leaves_the_chat_queued(
    desk: Desk, clock: ManualClock
) -> None:
    desk.set_available("a")
    conversation_id = desk.start_chat("support", "Jana Nováková", "jana@example.com")
    desk.tick(clock.advance(30))
    assert desk.conversation(conversation_id).state == "queued"


# --- SPEC 2: transfer to an agent -------------------------------------------------------


def test_transfer_to_agent_wraps_the_owner_and_offers_the_target(
    desk: Desk, clock: ManualClock
) -> None:
    conversation_id = active_chat(desk)
    desk.set_available("b")
    clock.advance(7)
    desk.transfer_to_agent("a", conversation_id, "b")
    conversation = desk.conversation(conversation_id)
    assert conversation.state == "transfer_requested"
    assert conversation.owner == "a"  # until the target accepts
    assert leg_summary(desk, conversation_id) == [
        ("a", "owner", "wrapping_up"),
        ("b", "owner", "offered"),
    ]
    (offer,) = desk.offers("b")
    assert (offer.kind, offer.queue, offer.at, offer.deadline) == (
        "transfer",
        "support",
        clock.now,
        clock.now + 30.0,
    )
    desk.accept("b", conversation_id)
    conversation = desk.conversation(conversation_id)
    assert conversation.state == "active"
    assert conversation.owner == "b"
    assert leg_summary(desk, conversation_id) == [
        ("a", "owner", "wrapping_up"),
        ("b", "owner", "active"),
    ]
    desk.submit_wrap_up("a", conversation_id, "Escalated")
    assert desk.conversation(conversation_id).state == "active"


@pytest.mark.parametrize("target", ["self", "idle", "rona", "full", "unknown", "logged_out"])
def test_transfer_target_must_be_another_available_agent_with_capacity(
    desk: Desk, clock: ManualClock, target: str
) -> None:
    conversation_id = active_chat(desk)
    target_id = {"self": "a", "unknown": "zz"}.get(target, "b")
    if target == "rona":
        desk.set_available("b")
        desk.start_chat("support", "Karel Novák", "karel@example.com")
        desk.tick(clock.advance(30))
        assert desk.agent("b").state == "rona"
    elif target == "full":
        active_chat(desk, "b")
    elif target == "logged_out":
        desk.logout("b")
    refused(desk, lambda: desk.transfer_to_agent("a", conversation_id, target_id), conversation_id)
    refused(desk, lambda: desk.request_conference("a", conversation_id, target_id), conversation_id)


@pytest.mark.parametrize("how", ["timeout", "withdrawn"])
def test_transfer_not_accepted_goes_back_to_queued_in_its_queue(
    desk: Desk, clock: ManualClock, how: str
) -> None:
    conversation_id = active_chat(desk, queue="sales")
    desk.set_available("b")
    desk.transfer_to_agent("a", conversation_id, "b")
    desk.set_idle("a", "break")  # nobody else may take it
    if how == "timeout":
        fired = desk.tick(clock.advance(30))
        assert {conversation_id, "b"} <= event_aggregates(fired)
        assert desk.agent("b").state == "rona"
        expected_leg = "timed_out"
    else:
        desk.set_idle("b", "break")  # withdraws the pending transfer: back to the queue
        expected_leg = "rescinded"
    conversation = desk.conversation(conversation_id)
    assert conversation.state == "queued"
    assert conversation.queue == "sales"
    assert leg_summary(desk, conversation_id) == [
        ("a", "owner", "wrapping_up"),
        ("b", "owner", expected_leg),
    ]
    desk.set_available("c")
    desk.accept("c", conversation_id)
    assert desk.conversation(conversation_id).owner == "c"


def test_transfer_declined_goes_back_to_its_queue_and_skips_the_decliner(
    desk: Desk, clock: ManualClock
) -> None:
    conversation_id = active_chat(desk, queue="sales")
    desk.set_available("b")
    clock.advance(1)
    desk.transfer_to_agent("a", conversation_id, "b")
    clock.advance(1)
    desk.set_available("c")  # waited less than b, who was offered the transfer earlier
    clock.advance(1)
    desk.decline("b", conversation_id)
    conversation = desk.conversation(conversation_id)
    assert conversation.state == "offered"
    assert conversation.queue == "sales"
    assert desk.agent("b").state == "available"  # a decline does not change the agent
    assert leg_summary(desk, conversation_id) == [
        ("a", "owner", "wrapping_up"),
        ("b", "owner", "declined"),
        ("c", "owner", "offered"),
    ]
    assert desk.offers("b") == []
    assert desk.offers("a") == []


def test_transfer_declined_with_nobody_else_is_offered_again(desk: Desk) -> None:
    conversation_id = active_chat(desk)
    desk.set_available("b")
    desk.transfer_to_agent("a", conversation_id, "b")
    desk.set_idle("a", "break")
    desk.decline("b", conversation_id)
    # back in its queue; the decliner is skipped only while another eligible agent exists
    assert [o.conversation_id for o in desk.offers("b")] == [conversation_id]
    assert desk.offers("b")[0].kind == "chat"


def test_transfer_declined_goes_to_the_transferring_agent_before_the_decliner(
    clock: ManualClock,
) -> None:
    # Only a (who transferred; wrap-up leaves room) and b (who declined) are eligible, and
    # b has waited longer since their last offer: the decliner is still skipped while
    # anybody else is eligible, so a gets the chat back.
    desk = Desk(clock=clock)
    desk.add_queue("support", ["Resolved"])
    desk.login("a", "Alice Adams", ["support"], capacity=2)
    desk.login("b", "Bob Brown", ["support"])
    desk.set_available("a")
    first = desk.start_chat("support", "Jana Nováková", "jana@example.com")
    desk.accept("a", first)
    desk.set_available("b")
    clock.advance(1)
    desk.transfer_to_agent("a", first, "b")  # b's last offer
    clock.advance(1)
    second = desk.start_chat("support", "Karel Novák", "karel@example.com")
    assert [offer.conversation_id for offer in desk.offers("a")] == [second]  # a's last offer
    clock.advance(1)
    desk.decline("b", first)
    assert desk.offers("b") == []
    assert [offer.conversation_id for offer in desk.offers("a")] == [second, first]
    assert desk.conversation(first).state == "offered"


def test_transfer_needs_an_accepted_chat(desk: Desk) -> None:
    desk.set_available("a")
    desk.set_available("b")
    conversation_id = desk.start_chat("support", "Jana Nováková", "jana@example.com")
    offered_to = "a" if desk.offers("a") else "b"
    other = "b" if offered_to == "a" else "a"
    refused(
        desk, lambda: desk.transfer_to_agent(offered_to, conversation_id, other), conversation_id
    )
    refused(
        desk, lambda: desk.transfer_to_queue(offered_to, conversation_id, "sales"), conversation_id
    )
    refused(
        desk, lambda: desk.request_conference(offered_to, conversation_id, other), conversation_id
    )


def test_only_the_owner_may_transfer(desk: Desk) -> None:
    conversation_id = active_chat(desk)
    desk.set_available("c")
    refused(desk, lambda: desk.transfer_to_agent("b", conversation_id, "c"), conversation_id)
    refused(desk, lambda: desk.transfer_to_queue("b", conversation_id, "sales"), conversation_id)


# --- SPEC 2: transfer to a queue --------------------------------------------------------


def test_transfer_to_queue_requeues_there_and_wraps_the_owner(desk: Desk) -> None:
    conversation_id = active_chat(desk, queue="support")
    desk.set_idle("a", "break")
    desk.transfer_to_queue("a", conversation_id, "sales")
    conversation = desk.conversation(conversation_id)
    assert conversation.queue == "sales"
    assert conversation.state == "queued"
    assert conversation.owner is None
    assert leg_summary(desk, conversation_id) == [("a", "owner", "wrapping_up")]


def test_transfer_to_unknown_queue_is_refused(desk: Desk) -> None:
    conversation_id = active_chat(desk)
    refused(desk, lambda: desk.transfer_to_queue("a", conversation_id, "nope"), conversation_id)


def test_transfer_to_queue_goes_to_a_member_of_the_target_queue(clock: ManualClock) -> None:
    desk = Desk(clock=clock)
    desk.add_queue("support", ["Resolved"])
    desk.add_queue("sales", ["Sold"])
    desk.login("a", "Alice Adams", ["support"])
    desk.login("s", "Sam Seller", ["sales"])
    desk.login("t", "Tom Tester", ["support"])
    desk.set_available("s")
    desk.set_available("t")
    conversation_id = active_chat(desk)
    desk.transfer_to_queue("a", conversation_id, "sales")
    assert [o.conversation_id for o in desk.offers("s")] == [conversation_id]
    assert desk.offers("t") == []


def test_each_leg_wraps_up_with_the_reasons_of_its_own_queue(desk: Desk) -> None:
    conversation_id = active_chat(desk, queue="support")
    desk.set_idle("a", "break")
    desk.transfer_to_queue("a", conversation_id, "sales")
    desk.set_available("b")
    desk.accept("b", conversation_id)
    # a's leg was offered in support, b's in sales
    refused(desk, lambda: desk.submit_wrap_up("a", conversation_id, "Sold"), conversation_id)
    desk.submit_wrap_up("a", conversation_id, "Resolved")
    desk.end("b", conversation_id)
    refused(desk, lambda: desk.submit_wrap_up("b", conversation_id, "Resolved"), conversation_id)
    desk.submit_wrap_up("b", conversation_id, "Sold", notes="bought")
    conversation = desk.conversation(conversation_id)
    assert conversation.state == "closed"
    assert [(leg.agent_id, leg.wrap_up_reason) for leg in conversation.legs] == [
        ("a", "Resolved"),
        ("b", "Sold"),
    ]


# --- SPEC 2: conference -----------------------------------------------------------------


def test_conference_accepted_posts_the_joined_message_with_the_guest_name(
    desk: Desk, clock: ManualClock
) -> None:
    conversation_id = active_chat(desk)
    desk.set_available("c")
    desk.request_conference("a", conversation_id, "c")
    conversation = desk.conversation(conversation_id)
    assert conversation.state == "conference_requested"
    (offer,) = desk.offers("c")
    assert offer.kind == "conference"
    clock.advance(3)
    desk.accept("c", conversation_id)
    conversation = desk.conversation(conversation_id)
    assert conversation.state == "conferencing"
    assert conversation.owner == "a"
    assert leg_summary(desk, conversation_id) == [
        ("a", "owner", "active"),
        ("c", "guest", "active"),
    ]
    last = conversation.messages[-1]
    assert (last.role, last.author, last.text, last.at) == (
        "system",
        "system",
        "Cyril Černý joined the conversation",
        clock.now,
    )


def test_conference_declined_goes_back_to_active_guest_unchanged(desk: Desk) -> None:
    conversation_id = active_chat(desk)
    desk.set_available("b")
    desk.request_conference("a", conversation_id, "b")
    desk.decline("b", conversation_id)
    assert desk.conversation(conversation_id).state == "active"
    assert desk.conversation(conversation_id).owner == "a"
    assert desk.agent("b").state == "available"
    assert leg_summary(desk, conversation_id) == [
        ("a", "owner", "active"),
        ("b", "guest", "declined"),
    ]


def test_conference_timeout_goes_back_to_active_and_guest_to_rona(
    desk: Desk, clock: ManualClock
) -> None:
    conversation_id = active_chat(desk)
    desk.set_available("b")
    desk.request_conference("a", conversation_id, "b")
    assert desk.tick(clock.advance(29.5)) == []
    fired = desk.tick(clock.advance(0.5))
    assert {conversation_id, "b"} <= event_aggregates(fired)
    assert desk.conversation(conversation_id).state == "active"
    assert desk.agent("b").state == "rona"
    assert desk.agent("a").state == "available"
    assert leg_summary(desk, conversation_id)[-1] == ("b", "guest", "timed_out")


def test_owner_withdraws_the_invitation(desk: Desk, clock: ManualClock) -> None:
    conversation_id = active_chat(desk)
    desk.set_available("b")
    desk.request_conference("a", conversation_id, "b")
    desk.end_conference("a", conversation_id)
    assert desk.conversation(conversation_id).state == "active"
    assert desk.agent("b").state == "available"
    assert desk.offers("b") == []
    assert leg_summary(desk, conversation_id)[-1] == ("b", "guest", "rescinded")
    assert desk.tick(clock.advance(60)) == []


def test_owner_ends_the_conference_guest_wraps_up(desk: Desk) -> None:
    conversation_id = conferencing(desk)
    desk.end_conference("a", conversation_id)
    assert desk.conversation(conversation_id).state == "active"
    assert leg_summary(desk, conversation_id) == [
        ("a", "owner", "active"),
        ("b", "guest", "wrapping_up"),
    ]
    desk.submit_wrap_up("b", conversation_id, "Resolved")
    assert leg_summary(desk, conversation_id)[-1] == ("b", "guest", "done")
    assert desk.conversation(conversation_id).state == "active"


def test_guest_leaves_the_conference(desk: Desk) -> None:
    conversation_id = conferencing(desk)
    desk.end_conference("b", conversation_id)
    conversation = desk.conversation(conversation_id)
    assert conversation.state == "active"
    assert conversation.owner == "a"
    assert leg_summary(desk, conversation_id) == [
        ("a", "owner", "active"),
        ("b", "guest", "wrapping_up"),
    ]


def test_guest_may_leave_a_disconnected_conversation(desk: Desk) -> None:
    conversation_id = conferencing(desk)
    desk.customer_end(conversation_id)
    assert desk.conversation(conversation_id).state == "disconnected"
    desk.end_conference("b", conversation_id)
    assert desk.conversation(conversation_id).state == "disconnected"
    assert leg_summary(desk, conversation_id) == [
        ("a", "owner", "active"),
        ("b", "guest", "wrapping_up"),
    ]
    desk.submit_wrap_up("b", conversation_id, "Resolved")
    desk.end("a", conversation_id)
    desk.submit_wrap_up("a", conversation_id, "Resolved")
    conversation = desk.conversation(conversation_id)
    assert (conversation.state, conversation.outcome) == ("closed", "customer_ended")


def test_end_conference_without_a_conference_is_refused(desk: Desk) -> None:
    conversation_id = active_chat(desk)
    refused(desk, lambda: desk.end_conference("a", conversation_id), conversation_id)
    refused(desk, lambda: desk.end_conference("b", conversation_id), conversation_id)


def test_second_conference_while_one_is_pending_is_refused(desk: Desk) -> None:
    conversation_id = active_chat(desk)
    desk.set_available("b")
    desk.set_available("c")
    desk.request_conference("a", conversation_id, "b")
    refused(desk, lambda: desk.request_conference("a", conversation_id, "c"), conversation_id)


# --- SPEC 2: the customer ends ----------------------------------------------------------


def test_customer_end_while_queued_never_accepted_is_abandoned(desk: Desk) -> None:
    conversation_id = desk.start_chat("support", "Jana Nováková", "jana@example.com")
    desk.customer_end(conversation_id)
    conversation = desk.conversation(conversation_id)
    assert (conversation.state, conversation.outcome) == ("closed", "abandoned")


def test_customer_end_while_offered_rescinds_and_is_abandoned(desk: Desk) -> None:
    desk.set_available("a")
    conversation_id = desk.start_chat("support", "Jana Nováková", "jana@example.com")
    desk.customer_end(conversation_id)
    conversation = desk.conversation(conversation_id)
    assert (conversation.state, conversation.outcome) == ("closed", "abandoned")
    assert leg_summary(desk, conversation_id) == [("a", "owner", "rescinded")]
    assert desk.offers("a") == []
    assert desk.agent("a").state == "available"
    desk.logout("a")  # holds nothing any more


@pytest.mark.parametrize("waiting", ["queued", "offered"])
def test_customer_end_after_transfer_to_queue_waits_for_the_wrap_up(
    desk: Desk, waiting: str
) -> None:
    conversation_id = active_chat(desk)
    desk.set_idle("a", "break")
    if waiting == "offered":
        desk.set_available("b")
    desk.transfer_to_queue("a", conversation_id, "sales")
    assert desk.conversation(conversation_id).state == waiting
    desk.customer_end(conversation_id)
    conversation = desk.conversation(conversation_id)
    assert conversation.state == "wrap_up"
    assert conversation.outcome is None
    assert leg_summary(desk, conversation_id)[0] == ("a", "owner", "wrapping_up")
    if waiting == "offered":
        assert leg_summary(desk, conversation_id)[1] == ("b", "owner", "rescinded")
        assert desk.offers("b") == []
    desk.submit_wrap_up("a", conversation_id, "Resolved")
    conversation = desk.conversation(conversation_id)
    assert (conversation.state, conversation.outcome) == ("closed", "customer_ended")


def test_customer_end_after_transfer_to_queue_wrap_up_done_closes_at_once(
    desk: Desk,
) -> None:
    conversation_id = active_chat(desk)
    desk.set_idle("a", "break")
    desk.transfer_to_queue("a", conversation_id, "sales")
    desk.submit_wrap_up("a", conversation_id, "Resolved")
    desk.customer_end(conversation_id)
    conversation = desk.conversation(conversation_id)
    assert (conversation.state, conversation.outcome) == ("closed", "customer_ended")


def test_customer_end_while_active_disconnects_with_a_system_message(
    desk: Desk, clock: ManualClock
) -> None:
    conversation_id = active_chat(desk)
    clock.advance(2)
    desk.customer_end(conversation_id)
    conversation = desk.conversation(conversation_id)
    assert conversation.state == "disconnected"
    assert conversation.owner == "a"
    last = conversation.messages[-1]
    assert (last.role, last.text, last.at) == (
        "system",
        "Customer ended the conversation",
        clock.now,
    )
    desk.end("a", conversation_id)
    assert desk.conversation(conversation_id).state == "wrap_up"
    desk.submit_wrap_up("a", conversation_id, "Resolved", notes="left")
    conversation = desk.conversation(conversation_id)
    assert (conversation.state, conversation.outcome) == ("closed", "customer_ended")


def test_customer_end_while_conference_requested_rescinds_the_invitation(desk: Desk) -> None:
    conversation_id = active_chat(desk)
    desk.set_available("b")
    desk.request_conference("a", conversation_id, "b")
    desk.customer_end(conversation_id)
    assert desk.conversation(conversation_id).state == "disconnected"
    assert leg_summary(desk, conversation_id) == [
        ("a", "owner", "active"),
        ("b", "guest", "rescinded"),
    ]
    assert desk.offers("b") == []
    assert desk.agent("b").state == "available"


def test_customer_end_while_conferencing_disconnects_both_stay(desk: Desk) -> None:
    conversation_id = conferencing(desk)
    desk.customer_end(conversation_id)
    assert desk.conversation(conversation_id).state == "disconnected"
    desk.end("a", conversation_id)
    assert desk.conversation(conversation_id).state == "wrap_up"
    assert leg_summary(desk, conversation_id) == [
        ("a", "owner", "wrapping_up"),
        ("b", "guest", "wrapping_up"),
    ]
    desk.submit_wrap_up("a", conversation_id, "Resolved")
    assert desk.conversation(conversation_id).state == "wrap_up"
    desk.submit_wrap_up("b", conversation_id, "Escalated")
    conversation = desk.conversation(conversation_id)
    assert (conversation.state, conversation.outcome) == ("closed", "customer_ended")


def test_customer_end_while_transfer_requested(desk: Desk) -> None:
    conversation_id = active_chat(desk)
    desk.set_available("b")
    desk.transfer_to_agent("a", conversation_id, "b")
    desk.customer_end(conversation_id)
    conversation = desk.conversation(conversation_id)
    assert conversation.state == "wrap_up"
    assert leg_summary(desk, conversation_id) == [
        ("a", "owner", "wrapping_up"),
        ("b", "owner", "rescinded"),
    ]
    assert desk.offers("b") == []
    assert desk.agent("b").state == "available"
    desk.logout("b")  # holds nothing any more
    desk.submit_wrap_up("a", conversation_id, "Resolved")
    conversation = desk.conversation(conversation_id)
    assert (conversation.state, conversation.outcome) == ("closed", "customer_ended")


def test_customer_end_while_transfer_requested_after_owner_wrapped_up(desk: Desk) -> None:
    conversation_id = active_chat(desk)
    desk.set_available("b")
    desk.transfer_to_agent("a", conversation_id, "b")
    desk.submit_wrap_up("a", conversation_id, "Resolved")
    desk.customer_end(conversation_id)
    conversation = desk.conversation(conversation_id)
    assert (conversation.state, conversation.outcome) == ("closed", "customer_ended")


@pytest.mark.parametrize("state", ["disconnected", "wrap_up", "closed"])
def test_customer_end_after_leaving_is_refused(desk: Desk, state: str) -> None:
    conversation_id = active_chat(desk)
    if state == "disconnected":
        desk.customer_end(conversation_id)
    else:
        desk.end("a", conversation_id)
    if state == "closed":
        desk.submit_wrap_up("a", conversation_id, "Resolved")
    assert desk.conversation(conversation_id).state == state
    refused(desk, lambda: desk.customer_end(conversation_id), conversation_id)


# --- SPEC 2: the asset is deleted -------------------------------------------------------


def test_delete_asset_closes_a_queued_chat_interrupted(desk: Desk) -> None:
    conversation_id = desk.start_chat("support", "Jana Nováková", "jana@example.com")
    other = desk.start_chat("support", "Karel Novák", "k@example.com", asset="web2")
    desk.delete_asset("livechat")
    conversation = desk.conversation(conversation_id)
    assert (conversation.state, conversation.outcome) == ("closed", "interrupted")
    assert desk.conversation(other).state == "queued"


def test_delete_asset_rescinds_an_offer_and_closes_interrupted(desk: Desk) -> None:
    desk.set_available("a")
    conversation_id = desk.start_chat("support", "Jana Nováková", "jana@example.com")
    desk.delete_asset("livechat")
    conversation = desk.conversation(conversation_id)
    assert (conversation.state, conversation.outcome) == ("closed", "interrupted")
    assert leg_summary(desk, conversation_id) == [("a", "owner", "rescinded")]
    assert desk.offers("a") == []
    assert desk.agent("a").state == "available"


def test_delete_asset_while_transfer_requested(desk: Desk) -> None:
    conversation_id = active_chat(desk)
    desk.set_available("b")
    desk.transfer_to_agent("a", conversation_id, "b")
    desk.delete_asset("livechat")
    assert desk.conversation(conversation_id).state == "wrap_up"
    assert leg_summary(desk, conversation_id)[1] == ("b", "owner", "rescinded")
    assert desk.offers("b") == []
    desk.submit_wrap_up("a", conversation_id, "Resolved")
    conversation = desk.conversation(conversation_id)
    assert (conversation.state, conversation.outcome) == ("closed", "interrupted")


def test_delete_asset_while_queued_after_transfer_waits_for_wrap_up(desk: Desk) -> None:
    conversation_id = active_chat(desk)
    desk.set_idle("a", "break")
    desk.transfer_to_queue("a", conversation_id, "sales")
    desk.delete_asset("livechat")
    assert desk.conversation(conversation_id).state == "wrap_up"
    desk.submit_wrap_up("a", conversation_id, "Resolved")
    conversation = desk.conversation(conversation_id)
    assert (conversation.state, conversation.outcome) == ("closed", "interrupted")


def test_delete_asset_disconnects_an_active_chat_and_no_message_after(desk: Desk) -> None:
    conversation_id = active_chat(desk)
    desk.delete_asset("livechat")
    conversation = desk.conversation(conversation_id)
    assert conversation.state == "disconnected"
    assert conversation.messages[-1].role == "system"
    refused(desk, lambda: desk.send_agent_message("a", conversation_id, "hi"), conversation_id)
    refused(desk, lambda: desk.send_customer_message(conversation_id, "hi"), conversation_id)
    desk.end("a", conversation_id)
    desk.submit_wrap_up("a", conversation_id, "Resolved")
    conversation = desk.conversation(conversation_id)
    assert (conversation.state, conversation.outcome) == ("closed", "interrupted")


def test_delete_asset_while_conference_requested(desk: Desk) -> None:
    conversation_id = active_chat(desk)
    desk.set_available("b")
    desk.request_conference("a", conversation_id, "b")
    desk.delete_asset("livechat")
    assert desk.conversation(conversation_id).state == "disconnected"
    assert leg_summary(desk, conversation_id)[1] == ("b", "guest", "rescinded")
    assert desk.offers("b") == []


def test_delete_asset_while_conferencing(desk: Desk) -> None:
    conversation_id = conferencing(desk)
    desk.delete_asset("livechat")
    assert desk.conversation(conversation_id).state == "disconnected"
    refused(desk, lambda: desk.send_agent_message("b", conversation_id, "hi"), conversation_id)
    desk.end_conference("b", conversation_id)
    desk.end("a", conversation_id)
    desk.submit_wrap_up("a", conversation_id, "Resolved")
    desk.submit_wrap_up("b", conversation_id, "Resolved")
    conversation = desk.conversation(conversation_id)
    assert (conversation.state, conversation.outcome) == ("closed", "interrupted")


def test_delete_asset_leaves_disconnected_and_wrap_up_untouched(desk: Desk) -> None:
    desk.login("d", "Dana Dlouhá", ["support"], capacity=2)
    desk.set_available("d")
    disconnected = desk.start_chat("support", "Jana Nováková", "jana@example.com")
    desk.accept("d", disconnected)
    wrapping = desk.start_chat("support", "Karel Novák", "karel@example.com")
    desk.accept("d", wrapping)
    desk.customer_end(disconnected)
    desk.end("d", wrapping)
    before = (desk.conversation(disconnected), desk.conversation(wrapping))
    desk.delete_asset("livechat")
    assert (desk.conversation(disconnected), desk.conversation(wrapping)) == before
    desk.end("d", disconnected)
    desk.submit_wrap_up("d", disconnected, "Resolved")
    desk.submit_wrap_up("d", wrapping, "Resolved")
    assert desk.conversation(disconnected).outcome == "customer_ended"
    assert desk.conversation(wrapping).outcome == "completed"


def test_start_chat_on_a_deleted_asset_is_refused(desk: Desk) -> None:
    desk.delete_asset("web")
    before = snapshot(desk)
    with pytest.raises(LivechatError) as caught:
        desk.start_chat("support", "Jana Nováková", "jana@example.com", asset="web")
    assert caught.value.code
    assert snapshot(desk) == before
    desk.start_chat("support", "Jana Nováková", "jana@example.com", asset="other")


# --- SPEC 2: end, wrap-up, outcomes -----------------------------------------------------


@pytest.mark.parametrize(
    "state", ["active", "conference_requested", "conferencing", "disconnected"]
)
def test_owner_ends_into_wrap_up_from(desk: Desk, state: str) -> None:
    conversation_id = active_chat(desk)
    if state in ("conference_requested", "conferencing"):
        desk.set_available("b")
        desk.request_conference("a", conversation_id, "b")
    if state == "conferencing":
        desk.accept("b", conversation_id)
    if state == "disconnected":
        desk.customer_end(conversation_id)
    assert desk.conversation(conversation_id).state == state
    desk.end("a", conversation_id)
    assert desk.conversation(conversation_id).state == "wrap_up"
    expected = {
        "active": [("a", "owner", "wrapping_up")],
        "disconnected": [("a", "owner", "wrapping_up")],
        "conference_requested": [("a", "owner", "wrapping_up"), ("b", "guest", "rescinded")],
        "conferencing": [("a", "owner", "wrapping_up"), ("b", "guest", "wrapping_up")],
    }[state]
    assert leg_summary(desk, conversation_id) == expected
    assert desk.offers("b") == []


def test_only_the_owner_may_end(desk: Desk) -> None:
    conversation_id = conferencing(desk)
    refused(desk, lambda: desk.end("b", conversation_id), conversation_id)
    refused(desk, lambda: desk.end("c", conversation_id), conversation_id)


def test_end_is_refused_before_accepting(desk: Desk) -> None:
    desk.set_available("a")
    conversation_id = desk.start_chat("support", "Jana Nováková", "jana@example.com")
    refused(desk, lambda: desk.end("a", conversation_id), conversation_id)


def test_wrap_up_records_who_reason_notes_and_when(desk: Desk, clock: ManualClock) -> None:
    conversation_id = active_chat(desk)
    desk.end("a", conversation_id)
    clock.advance(9)
    desk.submit_wrap_up("a", conversation_id, "Escalated", notes="call back tomorrow")
    conversation = desk.conversation(conversation_id)
    (leg,) = conversation.legs
    assert (leg.agent_id, leg.state, leg.wrap_up_reason, leg.wrap_up_notes, leg.wrapped_up_at) == (
        "a",
        "done",
        "Escalated",
        "call back tomorrow",
        clock.now,
    )
    assert (conversation.state, conversation.outcome) == ("closed", "completed")


def test_unknown_wrap_up_reason_is_refused(desk: Desk) -> None:
    conversation_id = active_chat(desk)
    desk.end("a", conversation_id)
    refused(desk, lambda: desk.submit_wrap_up("a", conversation_id, "Sold"), conversation_id)
    refused(desk, lambda: desk.submit_wrap_up("b", conversation_id, "Resolved"), conversation_id)


def test_wrap_up_twice_is_refused(desk: Desk) -> None:
    conversation_id = active_chat(desk)
    desk.end("a", conversation_id)
    desk.submit_wrap_up("a", conversation_id, "Resolved")
    refused(desk, lambda: desk.submit_wrap_up("a", conversation_id, "Resolved"), conversation_id)


def test_wrap_up_closes_only_when_the_last_leg_submits(desk: Desk) -> None:
    conversation_id = conferencing(desk)
    desk.end("a", conversation_id)
    desk.submit_wrap_up("b", conversation_id, "Escalated")
    assert desk.conversation(conversation_id).state == "wrap_up"
    desk.submit_wrap_up("a", conversation_id, "Resolved")
    assert desk.conversation(conversation_id).state == "closed"


def test_wrap_up_timeout_submits_the_default_reason(clock: ManualClock) -> None:
    desk = make_desk(clock, wrap_up_timeout=60.0, default_wrap_up_reason="Escalated")
    conversation_id = active_chat(desk)
    desk.end("a", conversation_id)
    assert desk.tick(clock.advance(59)) == []
    fired = desk.tick(clock.advance(1))
    assert conversation_id in event_aggregates(fired)
    conversation = desk.conversation(conversation_id)
    assert (conversation.state, conversation.outcome) == ("closed", "completed")
    assert conversation.legs[0].wrap_up_reason == "Escalated"
    assert conversation.legs[0].wrapped_up_at == clock.now


def test_wrap_up_timeout_without_default_submits_the_first_reason(clock: ManualClock) -> None:
    desk = make_desk(clock, wrap_up_timeout=60.0)
    conversation_id = active_chat(desk)
    desk.end("a", conversation_id)
    desk.tick(clock.advance(60))
    assert desk.conversation(conversation_id).legs[0].wrap_up_reason == "Resolved"


def test_wrap_up_timeout_uses_the_queue_of_the_leg(clock: ManualClock) -> None:
    desk = Desk(clock=clock)
    desk.add_queue("support", ["Resolved", "Escalated"], wrap_up_timeout=10.0)
    desk.add_queue("sales", ["Sold", "Lost"], default_wrap_up_reason="Lost")
    desk.login("a", "Alice Adams", ["support", "sales"])
    conversation_id = active_chat(desk, queue="support")
    desk.transfer_to_queue("a", conversation_id, "sales")
    desk.tick(clock.advance(10))
    assert desk.conversation(conversation_id).legs[0].wrap_up_reason == "Resolved"


def test_closed_is_terminal(desk: Desk) -> None:
    conversation_id = active_chat(desk)
    desk.end("a", conversation_id)
    desk.submit_wrap_up("a", conversation_id, "Resolved")
    desk.set_available("b")
    for action in (
        lambda: desk.customer_end(conversation_id),
        lambda: desk.end("a", conversation_id),
        lambda: desk.send_customer_message(conversation_id, "hello?"),
        lambda: desk.send_agent_message("a", conversation_id, "hello?"),
        lambda: desk.transfer_to_queue("a", conversation_id, "sales"),
        lambda: desk.transfer_to_agent("a", conversation_id, "b"),
        lambda: desk.request_conference("a", conversation_id, "b"),
        lambda: desk.accept("a", conversation_id),
    ):
        refused(desk, action, conversation_id)
    desk.delete_asset("livechat")
    assert desk.conversation(conversation_id).outcome == "completed"


def test_first_cause_wins_customer_ended_then_asset_deleted(desk: Desk) -> None:
    conversation_id = active_chat(desk)
    desk.customer_end(conversation_id)
    desk.delete_asset("livechat")
    desk.end("a", conversation_id)
    desk.submit_wrap_up("a", conversation_id, "Resolved")
    assert desk.conversation(conversation_id).outcome == "customer_ended"


def test_first_cause_wins_asset_deleted_then_agent_ends(desk: Desk) -> None:
    conversation_id = active_chat(desk)
    desk.delete_asset("livechat")
    refused(desk, lambda: desk.customer_end(conversation_id), conversation_id)
    desk.end("a", conversation_id)
    desk.submit_wrap_up("a", conversation_id, "Resolved")
    assert desk.conversation(conversation_id).outcome == "interrupted"


def test_customer_ended_after_reaching_the_queue_again_is_not_abandoned(desk: Desk) -> None:
    conversation_id = active_chat(desk)
    desk.set_idle("a", "break")
    desk.transfer_to_queue("a", conversation_id, "sales")
    desk.submit_wrap_up("a", conversation_id, "Resolved")
    desk.customer_end(conversation_id)
    assert desk.conversation(conversation_id).outcome == "customer_ended"


# --- SPEC 3: commands, events, errors ---------------------------------------------------


def test_events_carry_aggregate_id_sequence_by_one_and_timestamp(
    desk: Desk, clock: ManualClock
) -> None:
    desk.set_available("a")
    conversation_id = desk.start_chat("support", "Jana Nováková", "jana@example.com")
    clock.advance(1)
    events = desk.accept("a", conversation_id)
    clock.advance(1)
    events += desk.send_customer_message(conversation_id, "Hi")
    clock.advance(1)
    events += desk.end("a", conversation_id)
    clock.advance(1)
    events += desk.submit_wrap_up("a", conversation_id, "Resolved")
    assert events
    mine = [e for e in events if e.aggregate_id == conversation_id]
    sequences = [e.sequence for e in mine]
    assert sequences == list(range(sequences[0], sequences[0] + len(sequences)))
    assert [e.at for e in mine] == [START + 1, START + 2, START + 3, START + 4]
    agent_events = [e for e in desk.set_idle("a", "break") if e.aggregate_id == "a"]
    assert len(agent_events) == 1
    assert agent_events[0].at == clock.now
    later = desk.set_available("a")
    assert [e.sequence for e in later if e.aggregate_id == "a"] == [agent_events[0].sequence + 1]


def test_every_accepted_command_yields_events(desk: Desk) -> None:
    conversation_id = active_chat(desk)
    assert desk.send_agent_message("a", conversation_id, "Hello")
    assert desk.send_customer_message(conversation_id, "Hi")
    assert desk.end("a", conversation_id)
    assert desk.submit_wrap_up("a", conversation_id, "Resolved")
    assert desk.set_idle("a", "break")
    assert desk.logout("a")


def test_refusal_carries_code_aggregate_state_and_command(desk: Desk) -> None:
    conversation_id = desk.start_chat("support", "Jana Nováková", "jana@example.com")
    error = refused(desk, lambda: desk.end("a", conversation_id), conversation_id)
    assert error.aggregate_id == conversation_id
    assert error.state == "queued"
    assert error.command is not None
    error = refused(desk, lambda: desk.login("a", "Alice Adams", ["support"]))
    assert (error.aggregate_id, error.state) == ("a", "idle")
    assert error.command is not None


@pytest.mark.parametrize(
    "action",
    [
        lambda d: d.accept("nobody", "nothing"),
        lambda d: d.conversation("nothing"),
        lambda d: d.agent("nobody"),
        lambda d: d.offers("nobody"),
        lambda d: d.customer_end("nothing"),
        lambda d: d.start_chat("no-queue", "Jana", "j@example.com"),
        lambda d: d.login("x", "X", ["no-queue"]),
        lambda d: d.set_available("nobody"),
        lambda d: d.send_customer_message("nothing", "hi"),
        lambda d: d.submit_wrap_up("a", "nothing", "Resolved"),
        lambda d: d.add_queue("q", []),
        lambda d: d.login("x", "X", ["support"], capacity=0),
    ],
)
def test_unknown_names_and_bad_values_raise_library_errors(
    desk: Desk, action: Callable[[Desk], object]
) -> None:
    before = snapshot(desk)
    with pytest.raises(LivechatError) as caught:
        action(desk)
    assert caught.value.code
    assert not isinstance(caught.value, KeyError | AttributeError)
    assert snapshot(desk) == before


def test_replay_reproduces_the_conversation(desk: Desk, clock: ManualClock) -> None:
    conversation_id = conferencing(desk)
    desk.send_customer_message(conversation_id, "My card is 4111 1111 1111 1111")
    desk.send_agent_message("b", conversation_id, "Thanks")
    desk.end_conference("a", conversation_id)
    clock.advance(5)
    desk.customer_end(conversation_id)
    desk.end("a", conversation_id)
    desk.submit_wrap_up("a", conversation_id, "Resolved", notes="done")
    assert replay(desk.events(conversation_id)) == desk.conversation(conversation_id)


# --- SPEC 4: time -----------------------------------------------------------------------


def test_tick_without_argument_uses_the_injected_clock(desk: Desk, clock: ManualClock) -> None:
    desk.set_available("a")
    conversation_id = desk.start_chat("support", "Jana Nováková", "jana@example.com")
    clock.advance(29.5)
    assert desk.tick() == []
    assert desk.conversation(conversation_id).state == "offered"
    clock.advance(0.5)
    fired = desk.tick()
    assert {conversation_id, "a"} <= event_aggregates(fired)
    assert all(event.at == clock.now for event in fired)
    assert desk.agent("a").state == "rona"


def test_offer_timeout_is_per_queue(clock: ManualClock) -> None:
    desk = make_desk(clock, offer_timeout=5.0)
    desk.set_available("a")
    conversation_id = desk.start_chat("support", "Jana Nováková", "jana@example.com")
    assert desk.offers("a")[0].deadline == START + 5.0
    desk.tick(START + 5.0)
    assert desk.conversation(conversation_id).state == "queued"


def test_tick_fires_every_expired_deadline_deterministically(
    desk: Desk, clock: ManualClock
) -> None:
    desk.set_available("a")
    desk.set_available("b")
    first = desk.start_chat("support", "Jana Nováková", "jana@example.com")
    clock.advance(1)
    second = desk.start_chat("support", "Karel Novák", "karel@example.com")
    fired = desk.tick(clock.advance(100))
    assert {first, second, "a", "b"} <= event_aggregates(fired)
    assert desk.tick(clock.advance(100)) == []


def test_elapsed_is_a_pure_function_of_acceptance_and_now(desk: Desk, clock: ManualClock) -> None:
    desk.set_available("a")
    conversation_id = desk.start_chat("support", "Jana Nováková", "jana@example.com")
    assert desk.conversation(conversation_id).elapsed(START + 100) == 0.0
    clock.advance(10)
    desk.accept("a", conversation_id)
    view = desk.conversation(conversation_id)
    clock.advance(1_000)
    assert view.elapsed(START + 10) == 0.0
    assert view.elapsed(START + 75.5) == 65.5
    assert view.elapsed(START + 75.5) == 65.5


# --- SPEC 5: messages and the composer --------------------------------------------------


def test_messages_carry_role_author_text_time_and_initials(desk: Desk, clock: ManualClock) -> None:
    conversation_id = desk.start_chat("support", "Jana Nováková", "jana@example.com")
    desk.send_customer_message(conversation_id, "Dobrý den")
    desk.set_available("a")
    desk.accept("a", conversation_id)
    clock.advance(2)
    desk.send_agent_message("a", conversation_id, "Hello Jana")
    customer, agent = desk.conversation(conversation_id).messages
    assert (customer.role, customer.author, customer.text, customer.initials, customer.at) == (
        "customer",
        "Jana Nováková",
        "Dobrý den",
        "JN",
        START,
    )
    assert (agent.role, agent.author, agent.text, agent.initials, agent.at) == (
        "agent",
        "a",
        "Hello Jana",
        "AA",
        START + 2,
    )
    assert customer.id != agent.id


def test_composer_counts_1000_code_points_after_nfc(desk: Desk) -> None:
    conversation_id = active_chat(desk)
    decomposed = "e\u0301" * 1000  # 2000 code points, 1000 after NFC
    desk.send_agent_message("a", conversation_id, decomposed)
    assert desk.conversation(conversation_id).messages[-1].text == "\u00e9" * 1000
    refused(
        desk, lambda: desk.send_agent_message("a", conversation_id, "x" * 1001), conversation_id
    )


def test_composer_counts_crlf_as_one_line_break(desk: Desk) -> None:
    conversation_id = active_chat(desk)
    text = "ab\r\n" * 333 + "c"  # 1000 after \r\n -> \n
    desk.send_agent_message("a", conversation_id, text)
    assert desk.conversation(conversation_id).messages[-1].text == "ab\n" * 333 + "c"


def test_composer_refuses_angle_brackets_naming_the_position(desk: Desk) -> None:
    conversation_id = active_chat(desk)
    error = refused(
        desk, lambda: desk.send_agent_message("a", conversation_id, "Hi <b>"), conversation_id
    )
    assert "position 3" in str(error)
    assert error.aggregate_id == conversation_id
    assert error.command is not None
    assert error.state == "active"
    error = refused(
        desk, lambda: desk.send_agent_message("a", conversation_id, "1\r\n> 0"), conversation_id
    )
    assert "position 2" in str(error)  # counted in the normalised text


@pytest.mark.parametrize("text", ["", "   ", "\n\r\n\t"])
def test_composer_refuses_empty_or_whitespace(desk: Desk, text: str) -> None:
    conversation_id = active_chat(desk)
    refused(desk, lambda: desk.send_agent_message("a", conversation_id, text), conversation_id)


def test_a_refused_customer_message_carries_the_conversation_state(desk: Desk) -> None:
    conversation_id = desk.start_chat("support", "Jana Nováková", "jana@example.com")
    error = refused(
        desk, lambda: desk.send_customer_message(conversation_id, " \n "), conversation_id
    )
    assert error.aggregate_id == conversation_id
    assert error.state == desk.conversation(conversation_id).state


def test_composer_keeps_line_breaks(desk: Desk) -> None:
    conversation_id = active_chat(desk)
    desk.send_agent_message("a", conversation_id, "Line one\n\nLine three")
    assert desk.conversation(conversation_id).messages[-1].text == "Line one\n\nLine three"


@pytest.mark.parametrize("state", ["active", "conference_requested", "conferencing"])
def test_owner_may_write_in(desk: Desk, state: str) -> None:
    conversation_id = active_chat(desk)
    if state != "active":
        desk.set_available("b")
        desk.request_conference("a", conversation_id, "b")
    if state == "conferencing":
        desk.accept("b", conversation_id)
    desk.send_agent_message("a", conversation_id, "Hello")
    assert desk.conversation(conversation_id).messages[-1].text == "Hello"


def test_guest_may_write_in_conferencing_only(desk: Desk) -> None:
    conversation_id = active_chat(desk)
    desk.set_available("b")
    desk.request_conference("a", conversation_id, "b")
    refused(desk, lambda: desk.send_agent_message("b", conversation_id, "hi"), conversation_id)
    desk.accept("b", conversation_id)
    desk.send_agent_message("b", conversation_id, "Hi, Bob here")
    message = desk.conversation(conversation_id).messages[-1]
    assert (message.role, message.author, message.initials) == ("agent", "b", "BB")
    desk.customer_end(conversation_id)
    refused(desk, lambda: desk.send_agent_message("b", conversation_id, "hi"), conversation_id)


def test_agent_messages_refused_outside_the_owner_states(desk: Desk) -> None:
    conversation_id = active_chat(desk)
    desk.set_available("b")
    desk.transfer_to_agent("a", conversation_id, "b")
    refused(desk, lambda: desk.send_agent_message("a", conversation_id, "x"), conversation_id)
    refused(desk, lambda: desk.send_agent_message("b", conversation_id, "x"), conversation_id)
    desk.accept("b", conversation_id)
    desk.customer_end(conversation_id)
    refused(desk, lambda: desk.send_agent_message("b", conversation_id, "x"), conversation_id)
    desk.end("b", conversation_id)
    refused(desk, lambda: desk.send_agent_message("b", conversation_id, "x"), conversation_id)


def test_customer_messages_accepted_while_present(desk: Desk) -> None:
    conversation_id = desk.start_chat("support", "Jana Nováková", "jana@example.com")
    texts = ["queued"]
    desk.send_customer_message(conversation_id, "queued")
    desk.set_available("a")
    assert desk.conversation(conversation_id).state == "offered"
    desk.send_customer_message(conversation_id, "offered")
    desk.accept("a", conversation_id)
    desk.send_customer_message(conversation_id, "active")
    desk.set_available("b")
    desk.request_conference("a", conversation_id, "b")
    desk.send_customer_message(conversation_id, "conference_requested")
    desk.accept("b", conversation_id)
    desk.send_customer_message(conversation_id, "conferencing")
    desk.end_conference("a", conversation_id)
    desk.set_available("c")
    desk.transfer_to_agent("a", conversation_id, "c")
    assert desk.conversation(conversation_id).state == "transfer_requested"
    desk.send_customer_message(conversation_id, "transfer_requested")
    texts += ["offered", "active", "conference_requested", "conferencing", "transfer_requested"]
    customer = [m.text for m in desk.conversation(conversation_id).messages if m.role == "customer"]
    assert customer == texts


@pytest.mark.parametrize("state", ["disconnected", "wrap_up", "closed"])
def test_customer_messages_refused_once_gone(desk: Desk, state: str) -> None:
    conversation_id = active_chat(desk)
    if state == "disconnected":
        desk.customer_end(conversation_id)
    else:
        desk.end("a", conversation_id)
    if state == "closed":
        desk.submit_wrap_up("a", conversation_id, "Resolved")
    refused(desk, lambda: desk.send_customer_message(conversation_id, "hi"), conversation_id)


# --- SPEC 7: routing --------------------------------------------------------------------


def test_oldest_chat_first_across_the_queues_an_agent_serves(
    desk: Desk, clock: ManualClock
) -> None:
    sales = desk.start_chat("sales", "Old Customer", "o@example.com")
    clock.advance(1)
    desk.start_chat("support", "New Customer", "n@example.com")
    desk.set_available("a")
    assert [o.conversation_id for o in desk.offers("a")] == [sales]


def test_longest_waiting_agent_since_becoming_available_first(
    desk: Desk, clock: ManualClock
) -> None:
    desk.set_available("c")
    clock.advance(1)
    desk.set_available("a")
    clock.advance(1)
    desk.set_available("b")
    conversation_id = desk.start_chat("support", "Jana Nováková", "jana@example.com")
    assert [o.conversation_id for o in desk.offers("c")] == [conversation_id]


def test_ties_go_by_agent_id(desk: Desk, clock: ManualClock) -> None:
    for agent_id in ("c", "b", "a"):
        desk.set_available(agent_id)  # same instant
    conversation_id = desk.start_chat("support", "Jana Nováková", "jana@example.com")
    assert [o.conversation_id for o in desk.offers("a")] == [conversation_id]


def test_longest_waiting_since_last_offer(clock: ManualClock) -> None:
    desk = Desk(clock=clock)
    desk.add_queue("support", ["Resolved"])
    desk.login("a", "Alice Adams", ["support"], capacity=3)
    desk.login("b", "Bob Brown", ["support"], capacity=3)
    desk.set_available("a")
    clock.advance(1)
    desk.set_available("b")
    clock.advance(1)
    first = desk.start_chat("support", "One", "1@example.com")  # to a (waited longest)
    clock.advance(1)
    second = desk.start_chat("support", "Two", "2@example.com")  # to b
    clock.advance(1)
    third = desk.start_chat("support", "Three", "3@example.com")  # a's last offer is older
    assert [o.conversation_id for o in desk.offers("a")] == [first, third]
    assert [o.conversation_id for o in desk.offers("b")] == [second]


def test_only_members_of_the_queue_get_offers(clock: ManualClock) -> None:
    desk = Desk(clock=clock)
    desk.add_queue("support", ["Resolved"])
    desk.add_queue("sales", ["Sold"])
    desk.login("a", "Alice Adams", ["sales"])
    desk.set_available("a")
    conversation_id = desk.start_chat("support", "Jana Nováková", "jana@example.com")
    assert desk.offers("a") == []
    assert desk.conversation(conversation_id).state == "queued"


def test_freed_capacity_triggers_routing(desk: Desk) -> None:
    conversation_id = active_chat(desk)
    waiting = desk.start_chat("support", "Karel Novák", "karel@example.com")
    assert desk.conversation(waiting).state == "queued"
    desk.end("a", conversation_id)
    assert [o.conversation_id for o in desk.offers("a")] == [waiting]


def test_dialog_lists_available_agents_with_capacity_other_than_the_asker(desk: Desk) -> None:
    active_chat(desk, "c")
    desk.set_available("a")
    desk.set_available("b")
    assert [agent.id for agent in desk.available_agents(exclude="a")] == ["b"]
    assert {agent.id for agent in desk.available_agents()} == {"a", "b"}
    assert {queue.name for queue in desk.queues()} == {"support", "sales"}


def test_search_filter_is_case_and_diacritic_insensitive(desk: Desk) -> None:
    assert filter_options(["Jana Nováková", "Petr Svoboda"], "novak") == ["Jana Nováková"]
    assert filter_options(["Jana Nováková"], "NOVÁK") == ["Jana Nováková"]
    assert [a.id for a in filter_options([desk.agent("c")], "cerny")] == ["c"]


# --- SPEC 9: persistence ----------------------------------------------------------------


def test_desk_reopened_on_the_same_sqlite_file_continues(
    tmp_path: Path, clock: ManualClock
) -> None:
    path = str(tmp_path / "desk.db")
    first = make_desk(clock, Desk(store=SqliteStore(path), clock=clock))
    kept = active_chat(first)
    first.set_available("b")
    pending = first.start_chat("sales", "Karel Novák", "karel@example.com")
    assert [o.conversation_id for o in first.offers("b")] == [pending]

    second = Desk(store=SqliteStore(path), clock=clock)
    assert {q.name for q in second.queues()} == {"support", "sales"}
    assert second.agent("a").state == "available"
    assert second.conversation(kept).owner == "a"
    fired = second.tick(clock.advance(30))
    assert {pending, "b"} <= event_aggregates(fired)
    assert second.agent("b").state == "rona"
    second.send_agent_message("a", kept, "Still here")
    second.end("a", kept)
    second.submit_wrap_up("a", kept, "Resolved")
    assert second.conversation(kept).outcome == "completed"


def test_states_are_plain_lower_case_strings(desk: Desk) -> None:
    conversation_id = active_chat(desk)
    conversation = desk.conversation(conversation_id)
    assert conversation.state == "active"
    assert str(conversation.state) == "active"
    assert f"{conversation.state}" == "active"
    assert str(conversation.legs[0].state) == "active"
    assert str(conversation.legs[0].role) == "owner"
    assert str(desk.agent("a").state) == "available"


# --- further corners --------------------------------------------------------------------


def test_agent_event_sequences_increase_by_one_from_login(desk: Desk, clock: ManualClock) -> None:
    events = list(desk.set_available("a"))
    conversation_id = desk.start_chat("support", "Jana Nováková", "jana@example.com")
    events += desk.tick(clock.advance(30))  # RONA
    events += desk.set_available("a")
    events += desk.accept("a", conversation_id)
    events += desk.set_idle("a", "break")
    events += desk.end("a", conversation_id)
    events += desk.submit_wrap_up("a", conversation_id, "Resolved")
    events += desk.logout("a")
    sequences = [e.sequence for e in events if e.aggregate_id == "a"]
    # login was event 1
    assert sequences == list(range(2, 2 + len(sequences)))
    assert len(sequences) == 5  # available, rona, available, idle, logged out
    history = [e.sequence for e in desk.events(conversation_id)]
    assert history == list(range(1, len(history) + 1))


def test_replay_reproduces_a_history_with_timeouts_declines_and_transfers(
    clock: ManualClock,
) -> None:
    desk = make_desk(clock, wrap_up_timeout=20.0)
    desk.set_available("a")
    conversation_id = desk.start_chat("support", "Jana Nováková", "jana@example.com")
    desk.tick(clock.advance(30))  # a to RONA
    desk.set_available("b")
    desk.decline("b", conversation_id)
    desk.set_available("a")
    desk.accept("b", conversation_id)
    desk.set_available("c")
    desk.transfer_to_agent("b", conversation_id, "c")
    desk.tick(clock.advance(30))  # c to RONA, b's wrap-up submitted automatically
    desk.set_available("c")
    offered_to = next(a for a in AGENTS if desk.offers(a))
    desk.accept(offered_to, conversation_id)
    desk.transfer_to_queue(offered_to, conversation_id, "sales")
    desk.customer_end(conversation_id)
    desk.tick(clock.advance(20))
    conversation = desk.conversation(conversation_id)
    assert (conversation.state, conversation.outcome) == ("closed", "customer_ended")
    assert replay(desk.events(conversation_id)) == conversation


def test_guest_counts_against_capacity(desk: Desk) -> None:
    conversation_id = conferencing(desk)
    waiting = desk.start_chat("support", "Karel Novák", "karel@example.com")
    assert desk.offers("b") == []
    assert desk.conversation(waiting).state == "queued"
    desk.end_conference("b", conversation_id)
    assert [o.conversation_id for o in desk.offers("b")] == [waiting]


def test_target_with_capacity_left_may_be_chosen(clock: ManualClock) -> None:
    desk = make_desk(clock)
    desk.login("d", "Dana Dlouhá", ["support"], capacity=2)
    active_chat(desk, "d")
    conversation_id = active_chat(desk, "a")
    desk.transfer_to_agent("a", conversation_id, "d")
    assert [o.kind for o in desk.offers("d")] == ["transfer"]
    desk.accept("d", conversation_id)
    assert desk.conversation(conversation_id).owner == "d"


def test_transfer_refused_while_conferencing(desk: Desk) -> None:
    conversation_id = conferencing(desk)
    desk.set_available("c")
    refused(desk, lambda: desk.transfer_to_agent("a", conversation_id, "c"), conversation_id)
    refused(desk, lambda: desk.transfer_to_queue("a", conversation_id, "sales"), conversation_id)


def test_timer_restarts_for_the_new_owner_after_a_transfer(desk: Desk, clock: ManualClock) -> None:
    conversation_id = active_chat(desk)
    desk.set_available("b")
    clock.advance(100)
    desk.transfer_to_agent("a", conversation_id, "b")
    clock.advance(5)
    desk.accept("b", conversation_id)
    assert desk.conversation(conversation_id).elapsed(clock.now + 7) == 7


def test_system_messages_in_czech(clock: ManualClock) -> None:
    desk = make_desk(clock, Desk(clock=clock, locale="cs"))
    conversation_id = active_chat(desk)
    desk.customer_end(conversation_id)
    assert desk.conversation(conversation_id).messages[-1].text == "Zákazník ukončil konverzaci"


def test_two_desks_share_one_sqlite_file(tmp_path: Path, clock: ManualClock) -> None:
    path = str(tmp_path / "shared.db")
    one = make_desk(clock, Desk(store=SqliteStore(path), clock=clock))
    two = Desk(store=SqliteStore(path), clock=clock)
    one.set_available("a")
    conversation_id = two.start_chat("support", "Jana Nováková", "jana@example.com")
    assert [o.conversation_id for o in one.offers("a")] == [conversation_id]
    two.accept("a", conversation_id)
    one.send_agent_message("a", conversation_id, "Hello")
    two.send_customer_message(conversation_id, "Hi")
    assert [m.text for m in one.conversation(conversation_id).messages] == ["Hello", "Hi"]
    with pytest.raises(LivechatError):
        one.accept("a", conversation_id)  # already accepted through the other desk


def test_reopened_desk_fires_an_old_wrap_up_deadline(tmp_path: Path, clock: ManualClock) -> None:
    path = str(tmp_path / "desk.db")
    first = make_desk(clock, Desk(store=SqliteStore(path), clock=clock), wrap_up_timeout=45.0)
    conversation_id = active_chat(first)
    first.end("a", conversation_id)
    second = Desk(store=SqliteStore(path), clock=clock)
    assert second.tick(clock.advance(44)) == []
    clock.advance(1)
    assert conversation_id in event_aggregates(second.tick())
    conversation = second.conversation(conversation_id)
    assert (conversation.state, conversation.outcome) == ("closed", "completed")
    assert conversation.legs[0].wrap_up_reason == "Resolved"


def test_declining_frees_capacity_for_the_next_chat(desk: Desk, clock: ManualClock) -> None:
    desk.set_available("a")
    first = desk.start_chat("support", "Jana Nováková", "jana@example.com")
    clock.advance(1)
    second = desk.start_chat("support", "Karel Novák", "karel@example.com")
    desk.set_available("b")
    assert desk.conversation(second).state == "offered"
    desk.decline("a", first)
    # a's capacity is free again and b is busy: first goes back to a (nobody else)
    assert [o.conversation_id for o in desk.offers("a")] == [first]
    assert [o.conversation_id for o in desk.offers("b")] == [second]


def test_a_disconnected_chat_still_counts_against_capacity(desk: Desk) -> None:
    conversation_id = active_chat(desk)
    desk.customer_end(conversation_id)
    waiting = desk.start_chat("support", "Karel Novák", "karel@example.com")
    assert desk.offers("a") == []
    desk.end("a", conversation_id)
    assert [o.conversation_id for o in desk.offers("a")] == [waiting]


def test_template_placeholders_are_filled_and_a_missing_one_is_an_error(desk: Desk) -> None:
    conversation_id = active_chat(desk)
    text = fill_template(
        "Hello <name>,\nyour order <order> has shipped.", {"name": "Jana", "order": "A-17"}
    )
    desk.send_agent_message("a", conversation_id, text + "\nAnything else?")
    assert desk.conversation(conversation_id).messages[-1].text == (
        "Hello Jana,\nyour order A-17 has shipped.\nAnything else?"
    )
    with pytest.raises(LivechatError) as caught:
        fill_template("Hello <name>, order <order>", {"name": "Jana"})
    assert caught.value.code
    assert "order" in str(caught.value)


def test_default_clock_is_posix_time() -> None:
    desk = Desk()
    desk.add_queue("support", ["Resolved"])
    before = time.time()
    conversation_id = desk.start_chat("support", "Jana Nováková", "jana@example.com")
    desk.send_customer_message(conversation_id, "Hi")
    after = time.time()
    assert before <= desk.conversation(conversation_id).messages[0].at <= after


def test_an_agent_with_two_legs_wrapping_up_settles_the_older_first(desk: Desk) -> None:
    # a transfers to sales; nobody else is available, so the chat comes back to a.
    conversation_id = active_chat(desk)
    desk.transfer_to_queue("a", conversation_id, "sales")
    desk.accept("a", conversation_id)
    desk.end("a", conversation_id)
    assert [(leg.queue, leg.state) for leg in desk.conversation(conversation_id).legs] == [
        ("support", "wrapping_up"),
        ("sales", "wrapping_up"),
    ]
    refused(desk, lambda: desk.submit_wrap_up("a", conversation_id, "Sold"), conversation_id)
    desk.submit_wrap_up("a", conversation_id, "Resolved")
    assert desk.conversation(conversation_id).state == "wrap_up"
    desk.submit_wrap_up("a", conversation_id, "Sold")
    view = desk.conversation(conversation_id)
    assert view.state == "closed"
    assert [leg.wrap_up_reason for leg in view.legs] == ["Resolved", "Sold"]
