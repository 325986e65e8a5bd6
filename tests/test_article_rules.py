"""One test per rule of SPEC section 1 (the source article), named after it, plus the
finer rules of section 2 that the article implies."""

from __future__ import annotations

import attrs
import pytest

from desk_fixtures import clock, desk
from livechat_core import (
    MAX_MESSAGE_LENGTH,
    AgentBusy,
    AssetDeleted,
    ConversationStateError,
    Desk,
    EmptyMessage,
    LivechatError,
    MessageTooLong,
    MissingTemplateParameter,
    NoPendingOffer,
    NotOwner,
    ReservedCharacter,
    TargetUnavailable,
    UnknownAgent,
    UnknownConversation,
    UnknownQueue,
    UnknownWrapUpReason,
    fill_template,
    filter_options,
    replay,
)
from livechat_core import events as ev
from livechat_core.testing import ManualClock

__all__ = ["clock", "desk"]  # fixtures


def _accepted_chat(desk: Desk, agent: str = "jana", name: str = "Karel Novák") -> str:
    desk.set_available(agent)
    conversation_id = desk.start_chat("support", name, "karel@example.com")
    desk.accept(agent, conversation_id)
    return conversation_id


def _snapshot(desk: Desk, conversation_id: str) -> object:
    agents = {a.id: a for a in desk.agents()}
    return desk.conversation(conversation_id), agents


# --- Replying to a Livechat conversation ----------------------------------------------


def test_customer_starts_chat_from_widget_and_sends_messages_agent_handles_it(
    desk: Desk,
) -> None:
    conversation_id = desk.start_chat("support", "Karel Novák", "karel@example.com")
    desk.send_customer_message(conversation_id, "Dobrý den, potřebuji pomoc.")
    desk.set_available("jana")
    desk.accept("jana", conversation_id)
    desk.send_agent_message("jana", conversation_id, "Dobrý den, jak vám mohu pomoci?")
    view = desk.conversation(conversation_id)
    assert view.state == "active"
    assert view.owner == "jana"
    assert [(m.role, m.text) for m in view.messages] == [
        ("customer", "Dobrý den, potřebuji pomoc."),
        ("agent", "Dobrý den, jak vám mohu pomoci?"),
    ]


def test_request_popover_shows_customer_queue_thread_agent_and_date(
    desk: Desk, clock: ManualClock
) -> None:
    conversation_id = desk.start_chat("support", "Karel Novák", "karel@example.com")
    desk.send_customer_message(conversation_id, "Hello?")
    clock.advance(3)
    desk.set_available("jana")
    (offer,) = desk.offers("jana")
    assert offer.conversation_id == conversation_id
    assert offer.kind == "chat"
    assert offer.customer_name == "Karel Novák"
    assert offer.queue == "support"
    assert offer.agent_name == "Jana Nováková"
    assert offer.at == clock.now
    assert offer.deadline == clock.now + 30.0
    assert [m.text for m in offer.messages] == ["Hello?"]
    assert offer.proactive is False


def test_timer_shows_time_elapsed_since_acceptance(desk: Desk, clock: ManualClock) -> None:
    desk.set_available("jana")
    conversation_id = desk.start_chat("support", "Karel Novák", "karel@example.com")
    assert desk.conversation(conversation_id).elapsed(clock.now + 100) == 0.0
    clock.advance(10)
    desk.accept("jana", conversation_id)
    accepted = clock.now
    assert desk.conversation(conversation_id).elapsed(accepted + 65.5) == 65.5
    assert desk.conversation(conversation_id).accepted_at == accepted


def test_tasks_from_proactive_chat_carry_a_marker(desk: Desk) -> None:
    desk.set_available("jana")
    conversation_id = desk.start_chat("support", "Visitor", "", proactive=True)
    assert desk.conversation(conversation_id).proactive is True
    assert desk.offers("jana")[0].proactive is True


def test_agent_must_be_available_to_receive_requests(desk: Desk) -> None:
    conversation_id = desk.start_chat("support", "Karel Novák", "karel@example.com")
    assert desk.conversation(conversation_id).state == "queued"
    assert desk.offers("jana") == []
    with pytest.raises(NoPendingOffer):
        desk.accept("jana", conversation_id)
    desk.set_available("jana")
    assert desk.conversation(conversation_id).state == "offered"
    assert [o.conversation_id for o in desk.offers("jana")] == [conversation_id]


def test_agent_in_rona_must_change_manually_to_available(desk: Desk, clock: ManualClock) -> None:
    desk.set_available("jana")
    first = desk.start_chat("support", "Karel Novák", "karel@example.com")
    fired = desk.tick(clock.now + 30.0)
    expected: list[type[ev.Event]] = [ev.OfferTimedOut, ev.AgentRona]
    assert [type(e) for e in fired] == expected
    assert desk.agent("jana").state == "rona"
    assert desk.conversation(first).state == "queued"
    # time passing does not bring the agent back, nor does a new chat reach them
    desk.tick(clock.advance(3600))
    second = desk.start_chat("support", "Eva", "eva@example.com")
    assert desk.agent("jana").state == "rona"
    assert desk.offers("jana") == []
    desk.set_available("jana")
    assert desk.agent("jana").state == "available"
    assert [o.conversation_id for o in desk.offers("jana")] == [first]
    assert desk.conversation(second).state == "queued"


def test_accept_opens_interaction_customer_messages_show_initials(desk: Desk) -> None:
    conversation_id = _accepted_chat(desk, name="Jana Nováková Malá")
    desk.send_customer_message(conversation_id, "Hi")
    desk.send_agent_message("jana", conversation_id, "Hello")
    customer, agent = desk.conversation(conversation_id).messages
    assert (customer.role, customer.initials, customer.author) == (
        "customer",
        "JM",
        "Jana Nováková Malá",
    )
    assert (agent.role, agent.initials, agent.author) == ("agent", "JN", "jana")
    assert customer.id != agent.id


def test_deleted_asset_interrupts_conversation_and_agent_must_end_it(desk: Desk) -> None:
    conversation_id = _accepted_chat(desk)
    desk.delete_asset("livechat")
    view = desk.conversation(conversation_id)
    assert view.state == "disconnected"
    assert view.disconnect_reason == "asset_deleted"
    assert view.messages[-1].role == "system"
    with pytest.raises(AssetDeleted) as caught:
        desk.send_agent_message("jana", conversation_id, "Are you there?")
    assert caught.value.code == "asset_deleted"
    with pytest.raises(ConversationStateError):
        desk.send_customer_message(conversation_id, "hello?")
    with pytest.raises(AssetDeleted):
        desk.start_chat("support", "New", "new@example.com")
    desk.end("jana", conversation_id)
    desk.submit_wrap_up("jana", conversation_id, "No answer")
    closed = desk.conversation(conversation_id)
    assert (closed.state, closed.outcome) == ("closed", "interrupted")


def test_deleted_asset_closes_unheld_chats_and_spares_other_assets(desk: Desk) -> None:
    queued = desk.start_chat("support", "A", "a@example.com", asset="web-cz")
    other = desk.start_chat("support", "B", "b@example.com", asset="web-sk")
    desk.delete_asset("web-cz")
    assert (desk.conversation(queued).state, desk.conversation(queued).outcome) == (
        "closed",
        "interrupted",
    )
    assert desk.conversation(other).state == "queued"
    assert desk.delete_asset("web-cz") == []


# --- The composer ---------------------------------------------------------------------


def test_composer_accepts_at_most_1000_characters(desk: Desk) -> None:
    conversation_id = _accepted_chat(desk)
    desk.send_agent_message("jana", conversation_id, "ř" * MAX_MESSAGE_LENGTH)
    before = _snapshot(desk, conversation_id)
    with pytest.raises(MessageTooLong) as caught:
        desk.send_agent_message("jana", conversation_id, "ř" * (MAX_MESSAGE_LENGTH + 1))
    assert caught.value.code == "message_too_long"
    assert _snapshot(desk, conversation_id) == before
    # counted after NFC: 1000 decomposed "ř" (r + caron) are 1000 code points once composed
    desk.send_agent_message("jana", conversation_id, "r\u030c" * MAX_MESSAGE_LENGTH)
    # and \r\n counts as one line break
    desk.send_agent_message("jana", conversation_id, "a\r\n" * 333 + "b")


def test_angle_brackets_are_reserved_for_template_parameters(desk: Desk) -> None:
    conversation_id = _accepted_chat(desk)
    before = _snapshot(desk, conversation_id)
    with pytest.raises(ReservedCharacter) as caught:
        desk.send_agent_message("jana", conversation_id, "a < b")
    assert (caught.value.position, caught.value.character) == (2, "<")
    with pytest.raises(ReservedCharacter) as caught:
        desk.send_agent_message("jana", conversation_id, "ok >")
    assert caught.value.position == 3
    assert _snapshot(desk, conversation_id) == before


def test_empty_or_whitespace_message_is_refused(desk: Desk) -> None:
    conversation_id = _accepted_chat(desk)
    for text in ("", "   ", "\n\t "):
        with pytest.raises(EmptyMessage):
            desk.send_agent_message("jana", conversation_id, text)
        with pytest.raises(EmptyMessage):
            desk.send_customer_message(conversation_id, text)


def test_agents_may_add_line_breaks_beyond_the_template(desk: Desk) -> None:
    conversation_id = _accepted_chat(desk)
    text = fill_template("Dear <name>,\nthank you.", {"name": "Karel"}) + "\n\nJana"
    desk.send_agent_message("jana", conversation_id, text)
    assert desk.conversation(conversation_id).messages[-1].text == "Dear Karel,\nthank you.\n\nJana"
    with pytest.raises(MissingTemplateParameter):
        fill_template("Dear <name>, your order <order>", {"name": "Karel"})


# --- Transfer ---------------------------------------------------------------------------


def test_transfer_only_after_accepting(desk: Desk) -> None:
    desk.set_available("jana")
    desk.set_available("petr")
    conversation_id = desk.start_chat("support", "Karel Novák", "karel@example.com")
    offered_to = desk.conversation(conversation_id).legs[0].agent_id
    other = "petr" if offered_to == "jana" else "jana"
    with pytest.raises(NotOwner):
        desk.transfer_to_agent(offered_to, conversation_id, other)
    with pytest.raises(NotOwner):
        desk.transfer_to_queue(offered_to, conversation_id, "billing")
    assert desk.conversation(conversation_id).state == "offered"


def test_transfer_to_agent_opens_wrap_up_and_target_accepts(desk: Desk) -> None:
    conversation_id = _accepted_chat(desk)
    desk.set_available("petr")
    assert [a.id for a in desk.available_agents(exclude="jana")] == ["petr"]
    desk.transfer_to_agent("jana", conversation_id, "petr")
    view = desk.conversation(conversation_id)
    assert view.state == "transfer_requested"
    assert view.owner == "jana"
    assert [(leg.agent_id, leg.state) for leg in view.legs] == [
        ("jana", "wrapping_up"),
        ("petr", "offered"),
    ]
    assert desk.offers("petr")[0].kind == "transfer"
    desk.submit_wrap_up("jana", conversation_id, "Escalated", "needs billing know-how")
    desk.accept("petr", conversation_id)
    view = desk.conversation(conversation_id)
    assert (view.state, view.owner) == ("active", "petr")
    desk.send_agent_message("petr", conversation_id, "Petr here.")


def test_transfer_not_accepted_is_cancelled_and_chat_goes_back_to_its_queue(
    desk: Desk, clock: ManualClock
) -> None:
    conversation_id = _accepted_chat(desk)
    desk.set_available("petr")
    desk.transfer_to_agent("jana", conversation_id, "petr")
    desk.set_idle("jana", "wrap-up")  # else routing offers the chat to her again at once
    desk.tick(clock.now + 30)
    view = desk.conversation(conversation_id)
    assert view.state == "queued"
    assert view.owner is None
    assert view.queue == "support"
    assert desk.agent("petr").state == "rona"
    assert view.legs[-1].state == "timed_out"


def test_transfer_declined_is_cancelled_and_rerouted(desk: Desk) -> None:
    conversation_id = _accepted_chat(desk)
    desk.set_available("petr")
    desk.transfer_to_agent("jana", conversation_id, "petr")
    desk.decline("petr", conversation_id)
    assert desk.agent("petr").state == "available"
    # the queue reroutes: petr declined, so jana is skipped? no: jana wraps up and is
    # available with free capacity; she is the only other eligible agent
    view = desk.conversation(conversation_id)
    assert view.state == "offered"
    assert view.legs[-1].agent_id == "jana"


def test_transfer_target_must_be_available_with_free_capacity(desk: Desk) -> None:
    conversation_id = _accepted_chat(desk)
    before = _snapshot(desk, conversation_id)
    for target in ("petr", "jana", "nobody"):  # idle, oneself, unknown
        with pytest.raises(TargetUnavailable):
            desk.transfer_to_agent("jana", conversation_id, target)
    assert _snapshot(desk, conversation_id) == before


def test_transfer_to_queue_opens_wrap_up_and_requeues_there(desk: Desk) -> None:
    conversation_id = _accepted_chat(desk, agent="petr")
    with pytest.raises(UnknownQueue):
        desk.transfer_to_queue("petr", conversation_id, "nowhere")
    assert [q.name for q in desk.queues()] == ["billing", "support"]
    desk.transfer_to_queue("petr", conversation_id, "billing")
    view = desk.conversation(conversation_id)
    assert (view.state, view.queue, view.owner) == ("queued", "billing", None)
    assert view.legs[0].state == "wrapping_up"
    desk.set_available("eva")
    assert desk.conversation(conversation_id).legs[-1].agent_id == "eva"
    with pytest.raises(UnknownWrapUpReason):
        desk.submit_wrap_up("petr", conversation_id, "Paid")  # billing's, not support's
    desk.submit_wrap_up("petr", conversation_id, "Escalated")


def test_transferring_agent_is_skipped_while_another_can_take_it(desk: Desk) -> None:
    conversation_id = _accepted_chat(desk)
    desk.set_available("eva")
    desk.transfer_to_queue("jana", conversation_id, "billing")
    assert desk.conversation(conversation_id).legs[-1].agent_id == "eva"


def test_dialog_lists_filter_case_and_diacritic_insensitively(desk: Desk) -> None:
    for agent in ("jana", "petr", "eva"):
        desk.set_available(agent)
    agents = desk.available_agents(exclude="petr")
    assert [a.name for a in filter_options(agents, "novak")] == ["Jana Nováková"]
    assert [a.name for a in filter_options(agents, "DVOŘ")] == ["Eva Dvořáková"]
    assert filter_options(desk.queues(), "SUP")[0].name == "support"
    assert filter_options(["Vyřešeno", "Eskalováno"], "vyreseno") == ["Vyřešeno"]
    assert filter_options(["a", "b"], "") == ["a", "b"]


# --- Conference -------------------------------------------------------------------------


def test_conference_only_after_accepting(desk: Desk) -> None:
    desk.set_available("jana")
    desk.set_available("petr")
    conversation_id = desk.start_chat("support", "Karel", "k@example.com")
    offered_to = desk.conversation(conversation_id).legs[0].agent_id
    with pytest.raises(NotOwner):
        desk.request_conference(offered_to, conversation_id, "eva")


def test_conference_requested_then_conference_and_a_message_says_the_agent_joined(
    desk: Desk,
) -> None:
    conversation_id = _accepted_chat(desk)
    desk.set_available("petr")
    desk.request_conference("jana", conversation_id, "petr")
    assert desk.conversation(conversation_id).state == "conference_requested"
    assert desk.offers("petr")[0].kind == "conference"
    desk.accept("petr", conversation_id)
    view = desk.conversation(conversation_id)
    assert view.state == "conferencing"
    assert view.owner == "jana"
    assert (view.messages[-1].role, view.messages[-1].text) == (
        "system",
        "Petr Svoboda joined the conversation",
    )
    desk.send_agent_message("petr", conversation_id, "Petr here")
    desk.send_agent_message("jana", conversation_id, "Thanks")


def test_end_conference_opens_the_guests_wrap_up(desk: Desk) -> None:
    conversation_id = _accepted_chat(desk)
    desk.set_available("petr")
    desk.request_conference("jana", conversation_id, "petr")
    desk.accept("petr", conversation_id)
    desk.end_conference("jana", conversation_id)
    view = desk.conversation(conversation_id)
    assert view.state == "active"
    assert [(leg.agent_id, leg.state) for leg in view.legs] == [
        ("jana", "active"),
        ("petr", "wrapping_up"),
    ]
    desk.submit_wrap_up("petr", conversation_id, "Resolved")
    assert desk.agent("petr").wrapping == ()


def test_conference_not_accepted_in_time_returns_to_active_and_guest_to_rona(
    desk: Desk, clock: ManualClock
) -> None:
    conversation_id = _accepted_chat(desk)
    desk.set_available("petr")
    desk.request_conference("jana", conversation_id, "petr")
    desk.tick(clock.now + 31)
    assert desk.conversation(conversation_id).state == "active"
    assert desk.agent("petr").state == "rona"
    assert desk.agent("jana").state == "available"  # the owner is not punished


def test_guest_may_leave_and_owner_may_withdraw_invitation(desk: Desk) -> None:
    conversation_id = _accepted_chat(desk)
    desk.set_available("petr")
    desk.request_conference("jana", conversation_id, "petr")
    desk.end_conference("jana", conversation_id)  # withdrawn
    assert desk.conversation(conversation_id).state == "active"
    assert desk.offers("petr") == []
    desk.request_conference("jana", conversation_id, "petr")
    desk.accept("petr", conversation_id)
    desk.end_conference("petr", conversation_id)  # the guest leaves
    assert desk.conversation(conversation_id).state == "active"
    assert desk.conversation(conversation_id).messages[-1].text == (
        "Petr Svoboda left the conversation"
    )


# --- End --------------------------------------------------------------------------------


def test_end_with_wrap_up_reason_from_filtered_list(desk: Desk) -> None:
    conversation_id = _accepted_chat(desk)
    desk.end("jana", conversation_id)
    assert desk.conversation(conversation_id).state == "wrap_up"
    reasons = desk.queues()[1].wrap_up_reasons
    (reason,) = filter_options(reasons, "resol")
    with pytest.raises(UnknownWrapUpReason):
        desk.submit_wrap_up("jana", conversation_id, "Whatever")
    desk.submit_wrap_up("jana", conversation_id, reason, "customer happy")
    view = desk.conversation(conversation_id)
    assert (view.state, view.outcome) == ("closed", "completed")
    leg = view.legs[0]
    assert (leg.wrap_up_reason, leg.wrap_up_notes, leg.agent_id) == (
        "Resolved",
        "customer happy",
        "jana",
    )
    assert leg.wrapped_up_at is not None


def test_customer_ends_chat_agent_sees_message_then_ends_with_wrap_up_and_notes(
    desk: Desk,
) -> None:
    conversation_id = _accepted_chat(desk)
    desk.customer_end(conversation_id)
    view = desk.conversation(conversation_id)
    assert (view.state, view.disconnect_reason) == ("disconnected", "customer_ended")
    assert view.messages[-1].text == "Customer ended the conversation"
    with pytest.raises(ConversationStateError):
        desk.send_customer_message(conversation_id, "one more thing")
    with pytest.raises(ConversationStateError):
        desk.send_agent_message("jana", conversation_id, "are you there?")
    desk.end("jana", conversation_id)
    desk.submit_wrap_up("jana", conversation_id, "Resolved", "left happy")
    assert desk.conversation(conversation_id).outcome == "customer_ended"


def test_customer_who_leaves_before_any_agent_accepted_is_abandoned(desk: Desk) -> None:
    queued = desk.start_chat("support", "A", "a@example.com")
    desk.customer_end(queued)
    assert (desk.conversation(queued).state, desk.conversation(queued).outcome) == (
        "closed",
        "abandoned",
    )
    desk.set_available("jana")
    offered = desk.start_chat("support", "B", "b@example.com")
    desk.customer_end(offered)
    assert desk.conversation(offered).outcome == "abandoned"
    assert desk.offers("jana") == []
    assert desk.agent("jana").holding == ()


def test_customer_leaving_while_transfer_pending_waits_for_the_wrap_up(desk: Desk) -> None:
    conversation_id = _accepted_chat(desk)
    desk.set_available("petr")
    desk.transfer_to_agent("jana", conversation_id, "petr")
    desk.customer_end(conversation_id)
    assert desk.conversation(conversation_id).state == "wrap_up"
    assert desk.offers("petr") == []
    desk.submit_wrap_up("jana", conversation_id, "Resolved")
    view = desk.conversation(conversation_id)
    assert (view.state, view.outcome) == ("closed", "customer_ended")


# --- Agents, capacity, wrap-up timeouts ----------------------------------------------------


def test_logout_refused_while_agent_holds_a_leg(desk: Desk) -> None:
    conversation_id = _accepted_chat(desk)
    with pytest.raises(AgentBusy) as caught:
        desk.logout("jana")
    assert caught.value.code == "agent_busy"
    assert caught.value.aggregate_id == "jana"
    desk.end("jana", conversation_id)
    with pytest.raises(AgentBusy):
        desk.logout("jana")  # still wrapping up
    desk.submit_wrap_up("jana", conversation_id, "Resolved")
    desk.logout("jana")
    assert desk.agent("jana").state == "logged_out"


def test_capacity_counts_offered_and_active_legs(desk: Desk, clock: ManualClock) -> None:
    desk.logout("jana")
    desk.login("jana", "Jana Nováková", ["support"], capacity=2)
    desk.set_available("jana")
    ids = [desk.start_chat("support", f"C{i}", f"c{i}@example.com") for i in range(3)]
    assert [desk.conversation(i).state for i in ids] == ["offered", "offered", "queued"]
    desk.accept("jana", ids[0])
    assert desk.conversation(ids[2]).state == "queued"
    desk.end("jana", ids[0])  # wrapping up does not count against capacity
    assert desk.conversation(ids[2]).state == "offered"


def test_set_idle_withdraws_pending_offers_without_rona(desk: Desk) -> None:
    desk.set_available("jana")
    conversation_id = desk.start_chat("support", "A", "a@example.com")
    events = desk.set_idle("jana", "lunch")
    assert ev.OfferRescinded in [type(e) for e in events]
    assert desk.agent("jana").state == "idle"
    assert desk.agent("jana").idle_reason == "lunch"
    assert desk.conversation(conversation_id).state == "queued"
    assert desk.conversation(conversation_id).legs[0].state == "rescinded"


def test_repeating_current_state_is_a_no_op(desk: Desk) -> None:
    desk.set_available("jana")
    assert desk.set_available("jana") == []
    desk.set_idle("jana", "break")
    assert desk.set_idle("jana", "break") == []
    assert [type(e) for e in desk.set_idle("jana", "meeting")] == [ev.AgentIdle]


def test_decliner_is_skipped_while_another_eligible_agent_exists(desk: Desk) -> None:
    desk.set_available("jana")
    conversation_id = desk.start_chat("support", "A", "a@example.com")
    desk.set_available("petr")
    desk.decline("jana", conversation_id)
    assert desk.agent("jana").state == "available"
    assert desk.conversation(conversation_id).legs[-1].agent_id == "petr"
    desk.decline("petr", conversation_id)
    # both declined; jana waited longest since her last offer
    assert desk.conversation(conversation_id).legs[-1].agent_id == "jana"


def test_longest_waiting_agent_gets_the_oldest_chat_first(desk: Desk, clock: ManualClock) -> None:
    desk.set_available("petr")
    clock.advance(1)
    desk.set_available("jana")
    clock.advance(1)
    old = desk.start_chat("support", "Old", "o@example.com")
    assert desk.conversation(old).legs[0].agent_id == "petr"
    new = desk.start_chat("support", "New", "n@example.com")
    assert desk.conversation(new).legs[0].agent_id == "jana"


def test_wrap_up_timeout_submits_the_default_reason(desk: Desk, clock: ManualClock) -> None:
    desk.add_queue(
        "support",
        ["Resolved", "Escalated", "No answer"],
        wrap_up_timeout=60,
        default_wrap_up_reason="No answer",
    )
    conversation_id = _accepted_chat(desk)
    desk.end("jana", conversation_id)
    assert desk.tick(clock.now + 59) == []
    events = desk.tick(clock.now + 60)
    assert isinstance(events[0], ev.WrapUpSubmitted)
    leg = desk.conversation(conversation_id).legs[0]
    assert (leg.wrap_up_reason, leg.wrapped_up_automatically) == ("No answer", True)
    assert desk.conversation(conversation_id).state == "closed"


def test_wrap_up_timeout_without_default_uses_the_first_reason(
    desk: Desk, clock: ManualClock
) -> None:
    desk.add_queue("support", ["Resolved", "Escalated"], wrap_up_timeout=5)
    conversation_id = _accepted_chat(desk)
    desk.end("jana", conversation_id)
    desk.tick(clock.now + 5)
    assert desk.conversation(conversation_id).legs[0].wrap_up_reason == "Resolved"


# --- Errors -------------------------------------------------------------------------------


def test_refusals_are_typed_carry_code_aggregate_state_and_command(desk: Desk) -> None:
    conversation_id = _accepted_chat(desk)
    with pytest.raises(UnknownConversation) as unknown:
        desk.accept("jana", "nope")
    assert unknown.value.code == "unknown_conversation"
    with pytest.raises(UnknownAgent):
        desk.set_available("ghost")
    desk.customer_end(conversation_id)
    with pytest.raises(ConversationStateError) as wrong:
        desk.customer_end(conversation_id)
    error = wrong.value
    assert isinstance(error, LivechatError)
    assert (error.code, error.aggregate_id, error.state) == (
        "conversation_state",
        conversation_id,
        "disconnected",
    )
    assert error.command is not None


def test_replaying_events_rebuilds_the_conversation_exactly(desk: Desk) -> None:
    conversation_id = _accepted_chat(desk)
    desk.send_customer_message(conversation_id, "Hi")
    desk.set_available("petr")
    desk.request_conference("jana", conversation_id, "petr")
    desk.accept("petr", conversation_id)
    desk.end("jana", conversation_id)
    desk.submit_wrap_up("petr", conversation_id, "Resolved")
    rebuilt = replay(desk.events(conversation_id))
    assert rebuilt == desk.conversation(conversation_id)
    assert attrs.asdict(rebuilt) == attrs.asdict(desk.conversation(conversation_id))
