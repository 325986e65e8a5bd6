"""Acceptance-style audit of SPEC section 1 (the article's scenarios) and section 9 (the API).

Everything goes through the public names of SPEC section 9 exactly as spelled there, with
data nobody on the team wrote: Faker names, e-mails and sentences (Czech and English
locales) and phone numbers from ``phonenumbers``' example numbers.
"""

from __future__ import annotations

import enum
import re
import time
from collections.abc import Callable
from pathlib import Path

import attrs
import phonenumbers
import pytest
from faker import Faker
from phonenumbers import PhoneNumberFormat, PhoneNumberType

import livechat_core
from livechat_core import (
    Desk,
    LivechatError,
    MaskingPolicy,
    MemoryStore,
    filter_options,
    find_sensitive,
    mask_text,
)
from livechat_core.testing import ManualClock
from store_openers import store_opener

START = 1_800_000_000.0
REGIONS = ("US", "GB", "CZ", "SK", "DE", "FR", "PL", "ES", "IN", "AU", "BR", "JP")


@pytest.fixture
def fake() -> Faker:
    faker = Faker(["cs_CZ", "en_US", "en_GB"])
    faker.seed_instance(20261203)
    return faker


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


def mobile(region: str, style: int = PhoneNumberFormat.INTERNATIONAL) -> str:
    number = phonenumbers.example_number_for_type(region, PhoneNumberType.MOBILE)
    assert number is not None
    return phonenumbers.format_number(number, style)


def person(fake: Faker) -> str:
    """A first and last name (no titles: "Ing." would make the initials ambiguous)."""
    return f"{fake.first_name()} {fake.last_name()}"


def initials(name: str) -> str:
    return "".join(word[0] for word in name.split()).upper()


def digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


class Floor:
    """A desk with two queues and three agents named by Faker, all logged in (idle)."""

    def __init__(self, fake: Faker, clock: ManualClock, desk: Desk | None = None) -> None:
        self.clock = clock
        self.desk = desk if desk is not None else Desk(clock=clock)
        self.desk.add_queue("Podpora", ["Vyřešeno", "Eskalováno", "Zpětné volání"])
        self.desk.add_queue("Prodej", ["Prodáno", "Nezájem"], offer_timeout=45.0)
        self.names = {agent: person(fake) for agent in ("a1", "a2", "a3")}
        for agent, name in self.names.items():
            self.desk.login(agent, name, ["Podpora", "Prodej"])

    def chat(self, fake: Faker, queue: str = "Podpora", **options: object) -> tuple[str, str]:
        name = person(fake)
        conversation_id = self.desk.start_chat(queue, name, fake.email(), **options)  # type: ignore[arg-type]
        return conversation_id, name

    def accepted(self, fake: Faker, agent: str = "a1") -> tuple[str, str]:
        self.desk.set_available(agent)
        conversation_id, name = self.chat(fake)
        self.desk.accept(agent, conversation_id)
        return conversation_id, name


# --- SPEC 1: the article's scenarios -------------------------------------------------------


def test_request_popover_shows_customer_queue_thread_agent_and_date(
    fake: Faker, clock: ManualClock
) -> None:
    floor = Floor(fake, clock)
    desk = floor.desk
    conversation_id, customer = floor.chat(fake)
    question = fake.sentence()
    clock.advance(3)
    desk.send_customer_message(conversation_id, question)
    clock.advance(2)
    desk.set_available("a2")
    (offer,) = desk.offers("a2")
    assert offer.conversation_id == conversation_id
    assert offer.kind == "chat"
    assert offer.customer_name == customer
    assert offer.queue == "Podpora"
    assert offer.agent_name == floor.names["a2"]
    assert offer.at == START + 5
    assert offer.deadline == START + 5 + 30.0  # offer_timeout default
    assert offer.proactive is False
    assert [m.text for m in desk.conversation(conversation_id).messages] == [question]


def test_timer_shows_time_elapsed_since_acceptance(fake: Faker, clock: ManualClock) -> None:
    floor = Floor(fake, clock)
    floor.desk.set_available("a1")
    conversation_id, _ = floor.chat(fake)
    clock.advance(7)
    floor.desk.accept("a1", conversation_id)
    view = floor.desk.conversation(conversation_id)
    assert view.elapsed(START + 7) == 0
    assert view.elapsed(START + 100) == 93
    assert view.elapsed(START + 7 + 3600.5) == 3600.5


def test_proactive_chat_carries_a_marker(fake: Faker, clock: ManualClock) -> None:
    floor = Floor(fake, clock)
    floor.desk.set_available("a1")
    invited, _ = floor.chat(fake, proactive=True)
    assert floor.desk.conversation(invited).proactive is True
    assert [o.proactive for o in floor.desk.offers("a1")] == [True]
    floor.desk.accept("a1", invited)
    walked_in, _ = floor.chat(fake)
    assert floor.desk.conversation(walked_in).proactive is False


def test_only_an_available_agent_receives_requests(fake: Faker, clock: ManualClock) -> None:
    floor = Floor(fake, clock)
    conversation_id, _ = floor.chat(fake)
    assert floor.desk.agent("a1").state == "idle"
    assert floor.desk.offers("a1") == []
    assert floor.desk.conversation(conversation_id).state == "queued"
    floor.desk.set_available("a1")
    assert [o.conversation_id for o in floor.desk.offers("a1")] == [conversation_id]


def test_rona_must_be_left_manually(fake: Faker, clock: ManualClock) -> None:
    floor = Floor(fake, clock)
    desk = floor.desk
    desk.set_available("a1")
    first, _ = floor.chat(fake)
    clock.advance(31)
    desk.tick()
    assert desk.agent("a1").state == "rona"
    assert desk.conversation(first).state == "queued"
    # time alone never brings the agent back, nor does new work arriving
    clock.advance(3600)
    floor.chat(fake)
    desk.tick()
    assert desk.agent("a1").state == "rona"
    assert desk.offers("a1") == []
    desk.set_available("a1")
    assert desk.agent("a1").state == "available"
    assert [o.conversation_id for o in desk.offers("a1")] == [first]


def test_accept_opens_the_pane_customer_messages_show_initials(
    fake: Faker, clock: ManualClock
) -> None:
    floor = Floor(fake, clock)
    desk = floor.desk
    conversation_id, customer = floor.accepted(fake)
    hello, reply = fake.sentence(), fake.sentence()
    desk.send_customer_message(conversation_id, hello)
    clock.advance(1)
    desk.send_agent_message("a1", conversation_id, reply)
    customer_message, agent_message = desk.conversation(conversation_id).messages
    assert (customer_message.role, customer_message.text) == ("customer", hello)
    assert customer_message.initials == initials(customer)
    assert customer_message.author == customer
    assert (agent_message.role, agent_message.text) == ("agent", reply)
    assert agent_message.author in {"a1", floor.names["a1"]}
    assert agent_message.at == START + 1
    assert customer_message.id != agent_message.id


def test_deleted_asset_interrupts_the_chat_agent_must_end_it(
    fake: Faker, clock: ManualClock
) -> None:
    floor = Floor(fake, clock)
    desk = floor.desk
    desk.set_available("a1")
    conversation_id = desk.start_chat("Podpora", person(fake), fake.email(), asset="web-cz")
    desk.accept("a1", conversation_id)
    other = desk.start_chat("Podpora", person(fake), fake.email())  # default asset "livechat"
    desk.delete_asset("web-cz")
    view = desk.conversation(conversation_id)
    assert view.state == "disconnected"
    assert desk.conversation(other).state == "queued"
    with pytest.raises(LivechatError) as refused:
        desk.send_agent_message("a1", conversation_id, fake.sentence())
    assert refused.value.code
    with pytest.raises(LivechatError):
        desk.send_customer_message(conversation_id, fake.sentence())
    with pytest.raises(LivechatError):
        desk.start_chat("Podpora", person(fake), fake.email(), asset="web-cz")
    desk.end("a1", conversation_id)
    desk.submit_wrap_up("a1", conversation_id, "Vyřešeno")
    closed = desk.conversation(conversation_id)
    assert (closed.state, closed.outcome) == ("closed", "interrupted")


def test_composer_takes_1000_characters_line_breaks_and_no_angle_brackets(
    fake: Faker, clock: ManualClock
) -> None:
    floor = Floor(fake, clock)
    desk = floor.desk
    conversation_id, _ = floor.accepted(fake)
    text = fake.text(max_nb_chars=2000).replace("<", "").replace(">", "")
    exactly = (text * 3)[:1000]
    if exactly[-1].isspace():
        exactly = exactly[:-1] + "x"
    desk.send_agent_message("a1", conversation_id, exactly)
    with pytest.raises(LivechatError):
        desk.send_agent_message("a1", conversation_id, exactly + "y")
    with pytest.raises(LivechatError):
        desk.send_agent_message("a1", conversation_id, f"Dobrý den, {fake.first_name()} <3")
    with pytest.raises(LivechatError):
        desk.send_agent_message("a1", conversation_id, "a > b")
    broken = "\n".join(fake.sentences(3)) + "\n\n" + fake.sentence()
    desk.send_agent_message("a1", conversation_id, broken)
    texts = [m.text for m in desk.conversation(conversation_id).messages]
    assert texts == [exactly, broken]


def test_masking_the_article_examples() -> None:
    assert mask_text("+ 1 (123) 456 7890") == "**********7890"
    assert mask_text("+447966197542") == "*********7542"
    assert mask_text("melissa@gmail.com") == "m******@gmail.com"


@pytest.mark.parametrize("region", REGIONS)
def test_masking_mobile_numbers_of_many_countries(region: str) -> None:
    # SPEC 6: all characters but the last four digits become "*", whitespace dropped
    for style in (PhoneNumberFormat.INTERNATIONAL, PhoneNumberFormat.E164):
        number = mobile(region, style)
        expected = "*" * (len(re.sub(r"\s", "", number)) - 4) + digits(number)[-4:]
        assert mask_text(number) == expected
        assert [f.kind for f in find_sensitive(number)] == ["phone"]
        assert mask_text(number, MaskingPolicy(enabled=False)) == number


def test_masking_faker_emails_keeps_first_character_and_domain(fake: Faker) -> None:
    for _ in range(20):
        email = fake.email()
        local, domain = email.split("@")
        assert mask_text(email) == local[0] + "*" * (len(local) - 1) + "@" + domain
        (finding,) = find_sensitive(f"Napište mi na {email} prosím")
        assert (finding.kind, finding.end - finding.start) == ("email", len(email))


@pytest.mark.parametrize("region", REGIONS)
def test_every_surface_is_masked(fake: Faker, clock: ManualClock, region: str) -> None:
    desk = Desk(clock=clock)
    desk.add_queue("Podpora", ["Vyřešeno"])
    desk.login("a1", person(fake), ["Podpora"])
    phone = mobile(region)
    email = fake.email()
    name = person(fake)
    conversation_id = desk.start_chat("Podpora", name, phone)
    desk.send_customer_message(conversation_id, f"{fake.sentence()} {email} {phone}")
    surfaces = desk.surfaces(conversation_id)
    texts = attrs.asdict(surfaces)
    assert set(texts) >= {
        "task_title",
        "message_preview",
        "desktop_notification",
        "notification_popover",
        "interaction_title",
        "message_signature",
        "composer_placeholder",
        "history_title",
        "contact_origin",
    }
    for surface, text in texts.items():
        assert isinstance(text, str), surface
        assert phone not in text, surface
        assert digits(phone) not in digits(text), surface
        assert email not in text, surface
    # the incoming number appears masked where the article lists it
    masked_phone = mask_text(phone)
    for surface in ("task_title", "interaction_title", "history_title", "contact_origin"):
        assert masked_phone in texts[surface], surface
    assert mask_text(email) in texts["message_preview"]
    # policy None is the desk's; an explicit policy wins; masking off shows everything
    assert attrs.asdict(desk.surfaces(conversation_id, None)) == texts
    clear = attrs.asdict(desk.surfaces(conversation_id, MaskingPolicy(enabled=False)))
    assert phone in clear["contact_origin"]
    assert email in clear["message_preview"]


def test_desk_masking_policy_is_the_default_for_surfaces(fake: Faker, clock: ManualClock) -> None:
    desk = Desk(clock=clock, masking=MaskingPolicy(enabled=False))
    desk.add_queue("Podpora", ["Vyřešeno"])
    phone = mobile("CZ")
    conversation_id = desk.start_chat("Podpora", person(fake), phone)
    assert phone in attrs.asdict(desk.surfaces(conversation_id))["contact_origin"]
    masked = attrs.asdict(desk.surfaces(conversation_id, MaskingPolicy()))
    assert all(phone not in text for text in masked.values())


@pytest.mark.parametrize("region", ["US", "GB", "CZ", "DE"])
def test_conditional_masking_of_a_name_that_is_a_mobile_number(
    fake: Faker, clock: ManualClock, region: str
) -> None:
    desk = Desk(clock=clock)
    desk.add_queue("Podpora", ["Vyřešeno"])
    phone = mobile(region)
    conversation_id = desk.start_chat("Podpora", phone, fake.email())
    desk.send_customer_message(conversation_id, fake.sentence())
    for surface, text in attrs.asdict(desk.surfaces(conversation_id)).items():
        assert digits(phone) not in digits(text), surface
    desk.login("a1", person(fake), ["Podpora"])
    desk.set_available("a1")
    # a plain name is not masked
    plain = person(fake)
    other = desk.start_chat("Podpora", plain, fake.email())
    assert plain in attrs.asdict(desk.surfaces(other))["task_title"]


def test_transfer_dialog_lists_and_search_filter(fake: Faker, clock: ManualClock) -> None:
    floor = Floor(fake, clock)
    desk = floor.desk
    floor.accepted(fake)
    desk.set_available("a2")
    desk.set_available("a3")
    listed = desk.available_agents(exclude="a1")
    assert sorted(agent.id for agent in listed) == ["a2", "a3"]
    assert all(agent.state == "available" for agent in listed)
    # "reload": the list is read again, so an agent going idle disappears
    desk.set_idle("a3", "Oběd")
    assert [agent.id for agent in desk.available_agents(exclude="a1")] == ["a2"]
    assert {queue.name for queue in desk.queues()} == {"Podpora", "Prodej"}
    assert [q.name for q in filter_options(desk.queues(), "PROD")] == ["Prodej"]
    a2_surname = floor.names["a2"].split()[-1]
    found = filter_options(desk.available_agents(exclude="a1"), a2_surname.lower())
    assert [agent.id for agent in found] == ["a2"]
    assert filter_options(["Podpora", "Prodej"], "") == ["Podpora", "Prodej"]
    assert filter_options(["Podpora", "Prodej"], None) == ["Podpora", "Prodej"]


def test_search_filter_ignores_case_and_diacritics(fake: Faker) -> None:
    names = [person(fake) for _ in range(30)] + ["Jana Nováková", "Šárka Řeháková"]
    assert filter_options(names, "novak") == ["Jana Nováková"]
    assert filter_options(names, "SARKA reh") == ["Šárka Řeháková"]
    assert filter_options(["Vyřešeno", "Eskalováno", "Zpětné volání"], "vyres") == ["Vyřešeno"]
    assert filter_options(["Vyřešeno", "Eskalováno", "Zpětné volání"], "zpetne") == [
        "Zpětné volání"
    ]


def test_transfer_to_agent_opens_wrap_up_and_unanswered_request_is_cancelled(
    fake: Faker, clock: ManualClock
) -> None:
    floor = Floor(fake, clock)
    desk = floor.desk
    conversation_id, _ = floor.accepted(fake)
    desk.set_available("a2")
    desk.transfer_to_agent("a1", conversation_id, "a2")
    view = desk.conversation(conversation_id)
    assert view.state == "transfer_requested"
    assert view.owner == "a1"
    roles = {(leg.agent_id, leg.state) for leg in view.legs}
    assert ("a1", "wrapping_up") in roles
    assert ("a2", "offered") in roles
    (offer,) = desk.offers("a2")
    assert (offer.kind, offer.agent_name) == ("transfer", floor.names["a2"])
    clock.advance(31)
    desk.tick()
    view = desk.conversation(conversation_id)
    assert view.state in {"queued", "offered"}
    assert view.queue == "Podpora"
    assert desk.agent("a2").state == "rona"
    desk.submit_wrap_up("a1", conversation_id, "Eskalováno")


def test_transfer_to_agent_accepted_gives_the_chat_a_new_owner(
    fake: Faker, clock: ManualClock
) -> None:
    floor = Floor(fake, clock)
    desk = floor.desk
    conversation_id, _ = floor.accepted(fake)
    desk.set_available("a2")
    desk.transfer_to_agent("a1", conversation_id, "a2")
    desk.submit_wrap_up("a1", conversation_id, "Eskalováno")
    clock.advance(4)
    desk.accept("a2", conversation_id)
    view = desk.conversation(conversation_id)
    assert (view.state, view.owner) == ("active", "a2")
    assert view.elapsed(START + 10) == 6


def test_transfer_to_queue(fake: Faker, clock: ManualClock) -> None:
    floor = Floor(fake, clock)
    desk = floor.desk
    conversation_id, _ = floor.accepted(fake)
    desk.set_idle("a1", "Přestávka")  # so the chat is not routed back to a1 (alone) at once
    desk.transfer_to_queue("a1", conversation_id, "Prodej")
    view = desk.conversation(conversation_id)
    assert (view.state, view.queue, view.owner) == ("queued", "Prodej", None)
    assert [leg.state for leg in view.legs if leg.agent_id == "a1"] == ["wrapping_up"]
    with pytest.raises(LivechatError):
        desk.submit_wrap_up("a1", conversation_id, "Prodáno")  # not the leg's queue's reason
    desk.submit_wrap_up("a1", conversation_id, "Eskalováno")
    desk.set_available("a2")
    (offer,) = desk.offers("a2")
    assert (offer.queue, offer.deadline - offer.at) == ("Prodej", 45.0)


def test_transfer_needs_an_accepted_chat(fake: Faker, clock: ManualClock) -> None:
    floor = Floor(fake, clock)
    desk = floor.desk
    desk.set_available("a1")
    conversation_id, _ = floor.chat(fake)
    desk.set_available("a2")
    with pytest.raises(LivechatError):
        desk.transfer_to_agent("a1", conversation_id, "a2")
    with pytest.raises(LivechatError):
        desk.transfer_to_queue("a1", conversation_id, "Prodej")
    with pytest.raises(LivechatError):
        desk.request_conference("a1", conversation_id, "a2")


def test_conference_requested_then_conference_with_a_joined_message(
    fake: Faker, clock: ManualClock
) -> None:
    floor = Floor(fake, clock)
    desk = floor.desk
    conversation_id, _ = floor.accepted(fake)
    desk.set_available("a2")
    desk.request_conference("a1", conversation_id, "a2")
    assert desk.conversation(conversation_id).state == "conference_requested"
    assert [o.kind for o in desk.offers("a2")] == ["conference"]
    desk.accept("a2", conversation_id)
    view = desk.conversation(conversation_id)
    assert view.state == "conferencing"
    joined = view.messages[-1]
    assert joined.role == "system"
    assert floor.names["a2"] in joined.text
    assert "joined" in joined.text
    desk.send_agent_message("a2", conversation_id, fake.sentence())
    desk.end_conference("a1", conversation_id)
    view = desk.conversation(conversation_id)
    assert view.state == "active"
    guest = [leg for leg in view.legs if leg.agent_id == "a2"]
    assert [(leg.role, leg.state) for leg in guest] == [("guest", "wrapping_up")]
    desk.submit_wrap_up("a2", conversation_id, "Vyřešeno", notes=fake.sentence())


def test_agent_ends_with_a_wrap_up_reason_chosen_by_search(fake: Faker, clock: ManualClock) -> None:
    floor = Floor(fake, clock)
    desk = floor.desk
    conversation_id, _ = floor.accepted(fake)
    clock.advance(60)
    desk.end("a1", conversation_id)
    assert desk.conversation(conversation_id).state == "wrap_up"
    (queue,) = [q for q in desk.queues() if q.name == "Podpora"]
    (reason,) = filter_options(queue.wrap_up_reasons, "zpet")
    notes = fake.paragraph()
    clock.advance(5)
    desk.submit_wrap_up("a1", conversation_id, reason, notes=notes)
    view = desk.conversation(conversation_id)
    assert (view.state, view.outcome) == ("closed", "completed")
    (leg,) = view.legs
    assert (leg.agent_id, leg.state, leg.wrap_up_reason, leg.wrap_up_notes) == (
        "a1",
        "done",
        reason,
        notes,
    )
    assert leg.wrapped_up_at == START + 65


def test_customer_ends_from_the_widget(fake: Faker, clock: ManualClock) -> None:
    floor = Floor(fake, clock)
    desk = floor.desk
    conversation_id, _ = floor.accepted(fake)
    desk.customer_end(conversation_id)
    view = desk.conversation(conversation_id)
    assert view.state == "disconnected"
    assert view.messages[-1].role == "system"
    assert view.messages[-1].text == "Customer ended the conversation"
    desk.end("a1", conversation_id)
    desk.submit_wrap_up("a1", conversation_id, "Vyřešeno", notes=fake.sentence())
    view = desk.conversation(conversation_id)
    assert (view.state, view.outcome) == ("closed", "customer_ended")


def test_customer_leaving_before_any_agent_is_abandoned(fake: Faker, clock: ManualClock) -> None:
    floor = Floor(fake, clock)
    conversation_id, _ = floor.chat(fake)
    floor.desk.customer_end(conversation_id)
    view = floor.desk.conversation(conversation_id)
    assert (view.state, view.outcome) == ("closed", "abandoned")


# --- SPEC 9: the public API as written -----------------------------------------------------

SECTION_9_NAMES = (
    "mask_text",
    "find_sensitive",
    "MaskingPolicy",
    "LivechatError",
    "Desk",
    "filter_options",
    "MemoryStore",
    "SqliteStore",
    "PostgresStore",
    "AsyncDesk",
)


@pytest.mark.parametrize("name", SECTION_9_NAMES)
def test_contract_names_are_importable(name: str) -> None:
    assert getattr(livechat_core, name) is not None
    assert name in livechat_core.__all__


def test_masking_policy_defaults() -> None:
    policy = MaskingPolicy()
    assert policy.enabled is True
    assert frozenset(policy.kinds) == frozenset({"card", "iban", "ssn", "email", "phone"})
    assert MaskingPolicy(enabled=True, kinds=frozenset({"email"})).kinds == frozenset({"email"})
    only_email = MaskingPolicy(kinds=frozenset({"email"}))
    assert mask_text("+447966197542", only_email) == "+447966197542"
    assert mask_text("+447966197542", None) == "*********7542"


def test_desk_defaults_in_memory_masking_on_and_posix_clock(fake: Faker) -> None:
    desk = Desk()
    assert isinstance(desk.store, MemoryStore)
    desk.add_queue("Podpora", ["Vyřešeno"])
    before = time.time()
    conversation_id = desk.start_chat("Podpora", person(fake), mobile("GB"))
    after = time.time()
    view = desk.conversation(conversation_id)
    assert before <= view.started_at <= after
    assert "7400123456" not in digits(attrs.asdict(desk.surfaces(conversation_id))["task_title"])
    desk.login("a1", person(fake), ["Podpora"])
    assert desk.agent("a1").capacity == 1


def test_desk_takes_its_arguments_by_keyword_and_position(clock: ManualClock) -> None:
    store = MemoryStore()
    policy = MaskingPolicy(enabled=False)
    by_keyword = Desk(store=store, transport=None, clock=clock, masking=policy)
    by_keyword.add_queue("Podpora", ["Vyřešeno"])
    by_position = Desk(store, None, clock, policy)
    assert [q.name for q in by_position.queues()] == ["Podpora"]


def test_add_queue_keyword_arguments(fake: Faker, clock: ManualClock) -> None:
    desk = Desk(clock=clock)
    desk.add_queue(
        name="Podpora",
        wrap_up_reasons=["Vyřešeno", "Eskalováno"],
        offer_timeout=12.5,
        wrap_up_timeout=60.0,
        default_wrap_up_reason="Eskalováno",
    )
    desk.login(agent_id="a1", name=person(fake), queues=["Podpora"], capacity=2)
    desk.set_available(agent_id="a1")
    conversation_id = desk.start_chat(
        queue="Podpora",
        customer_name=person(fake),
        customer_contact=fake.email(),
        proactive=True,
        asset="web",
    )
    (offer,) = desk.offers(agent_id="a1")
    assert offer.deadline == START + 12.5
    desk.accept(agent_id="a1", conversation_id=conversation_id)
    desk.send_agent_message(agent_id="a1", conversation_id=conversation_id, text="Dobrý den")
    desk.send_customer_message(conversation_id=conversation_id, text=fake.sentence())
    desk.end(agent_id="a1", conversation_id=conversation_id)
    clock.advance(60)
    fired = desk.tick(now=clock())
    assert fired
    (leg,) = desk.conversation(conversation_id=conversation_id).legs
    assert leg.wrap_up_reason == "Eskalováno"
    assert desk.agent(agent_id="a1").capacity == 2
    desk.set_idle(agent_id="a1", reason="Oběd")
    desk.logout(agent_id="a1")
    assert desk.agent("a1").state == "logged_out"


def test_commands_return_lists_of_events_and_start_chat_returns_an_id(
    fake: Faker, clock: ManualClock
) -> None:
    floor = Floor(fake, clock)
    desk = floor.desk
    desk.set_available("a1")
    conversation_id = desk.start_chat("Podpora", person(fake), fake.email())
    assert isinstance(conversation_id, str)
    accepted = desk.accept("a1", conversation_id)
    assert isinstance(accepted, list)
    assert accepted
    assert {event.aggregate_id for event in accepted} >= {conversation_id}
    assert all(isinstance(event.sequence, int) and event.at == START for event in accepted)


def test_conversation_view_attributes(fake: Faker, clock: ManualClock) -> None:
    floor = Floor(fake, clock)
    desk = floor.desk
    desk.set_available("a1")
    name = person(fake)
    conversation_id = desk.start_chat("Prodej", name, mobile("CZ"), proactive=True)
    queued = desk.conversation(conversation_id)
    assert queued.id == conversation_id
    assert queued.state == "offered"
    assert queued.owner is None
    assert queued.queue == "Prodej"
    assert queued.outcome is None
    assert queued.proactive is True
    assert queued.customer_name == name
    assert queued.elapsed(START + 50) == 0
    assert [(leg.agent_id, leg.role, leg.state) for leg in queued.legs] == [
        ("a1", "owner", "offered")
    ]
    desk.accept("a1", conversation_id)
    view = desk.conversation(conversation_id)
    assert (view.state, view.owner) == ("active", "a1")
    assert list(view.messages) == []


def test_agent_view_attributes(fake: Faker, clock: ManualClock) -> None:
    desk = Desk(clock=clock)
    desk.add_queue("Podpora", ["Vyřešeno"])
    name = person(fake)
    desk.login("a1", name, ["Podpora"], capacity=3)
    view = desk.agent("a1")
    assert (view.id, view.name, view.state, view.capacity) == ("a1", name, "idle", 3)


def test_offer_kinds_are_chat_transfer_and_conference(fake: Faker, clock: ManualClock) -> None:
    floor = Floor(fake, clock)
    desk = floor.desk
    first, _ = floor.accepted(fake, "a1")
    second, _ = floor.accepted(fake, "a2")
    desk.set_available("a3")
    desk.transfer_to_agent("a1", first, "a3")
    assert [o.kind for o in desk.offers("a3")] == ["transfer"]
    desk.accept("a3", first)
    desk.login("a4", person(fake), ["Podpora"], capacity=2)
    desk.set_available("a4")
    desk.request_conference("a2", second, "a4")
    kinds = [o.kind for o in desk.offers("a4")]
    assert kinds == ["conference"]
    assert all(isinstance(kind, str) for kind in kinds)


def test_states_are_lower_case_strings(fake: Faker, clock: ManualClock) -> None:
    floor = Floor(fake, clock)
    conversation_id, _ = floor.accepted(fake)
    view = floor.desk.conversation(conversation_id)
    values = [view.state, floor.desk.agent("a1").state, view.legs[0].state, view.legs[0].role]
    for value in values:
        assert isinstance(value, str)
        assert str(value) == value == value.lower()
        assert f"{value}" == value
        if isinstance(value, enum.Enum):
            assert value.value == value
    assert {"active": 1}[view.state] == 1


def test_refusals_are_livechat_errors_with_a_code(fake: Faker, clock: ManualClock) -> None:
    floor = Floor(fake, clock)
    desk = floor.desk
    attempts: list[Callable[[], object]] = [
        lambda: desk.accept("a1", "nonexistent"),
        lambda: desk.agent("nobody"),
        lambda: desk.conversation("nonexistent"),
        lambda: desk.start_chat("Nope", person(fake), fake.email()),
        lambda: desk.set_available("nobody"),
        lambda: desk.login("a1", person(fake), ["Podpora"]),
        lambda: desk.tick(now=float("nan")),
    ]
    for attempt in attempts:
        with pytest.raises(LivechatError) as caught:
            attempt()
        assert isinstance(caught.value.code, str)
        assert re.fullmatch(r"[a-z_]+", caught.value.code)


def test_tick_without_now_uses_the_clock(fake: Faker, clock: ManualClock) -> None:
    floor = Floor(fake, clock)
    desk = floor.desk
    desk.set_available("a1")
    conversation_id, _ = floor.chat(fake)
    clock.advance(29.9)
    assert desk.tick() == []
    clock.advance(0.2)
    fired = desk.tick()
    assert fired
    assert all(event.at == clock() for event in fired)
    assert desk.conversation(conversation_id).state == "queued"
    assert desk.agent("a1").state == "rona"


def test_tick_with_an_explicit_now_ignores_the_clock(fake: Faker, clock: ManualClock) -> None:
    floor = Floor(fake, clock)
    desk = floor.desk
    desk.set_available("a1")
    floor.chat(fake)
    fired = desk.tick(START + 31)
    assert fired
    assert desk.agent("a1").state == "rona"


def test_tick_returns_events_fired_by_expired_deadlines_only(
    fake: Faker, clock: ManualClock
) -> None:
    floor = Floor(fake, clock)
    desk = floor.desk
    desk.set_available("a1")
    desk.set_available("a2")
    floor.chat(fake)
    clock.advance(10)
    floor.chat(fake)
    clock.advance(21)
    fired = desk.tick()
    # only a1's offer (deadline START+30) expired; a2's (START+40) not yet
    assert desk.agent("a1").state == "rona"
    assert desk.agent("a2").state == "available"
    assert {event.aggregate_id for event in fired} >= {"a1"}
    assert "a2" not in {event.aggregate_id for event in fired}


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_reopened_desk_continues(
    request: pytest.FixtureRequest, fake: Faker, clock: ManualClock, tmp_path: Path, kind: str
) -> None:
    open_store = store_opener(request, tmp_path, kind, "desk.db")

    store = open_store()
    floor = Floor(fake, clock, Desk(store=store, clock=clock))
    floor.desk.add_queue("Rychlá", ["Hotovo"], wrap_up_timeout=20.0)
    floor.desk.login("a4", person(fake), ["Rychlá"])
    floor.desk.set_available("a4")
    fast = floor.desk.start_chat("Rychlá", person(fake), fake.email())
    floor.desk.accept("a4", fast)
    floor.desk.end("a4", fast)
    floor.desk.set_available("a1")
    conversation_id, name = floor.chat(fake)
    text = fake.sentence()
    floor.desk.send_customer_message(conversation_id, text)
    store.close()

    clock.advance(31)
    again = open_store()
    desk = Desk(store=again, clock=clock)
    assert {q.name for q in desk.queues()} == {"Podpora", "Prodej", "Rychlá"}
    assert desk.agent("a1").name == floor.names["a1"]
    view = desk.conversation(conversation_id)
    assert (view.state, view.customer_name) == ("offered", name)
    assert [m.text for m in view.messages] == [text]
    desk.tick()  # the deadlines set by the first desk fire here
    assert desk.agent("a1").state == "rona"
    assert desk.conversation(conversation_id).state == "queued"
    (leg,) = desk.conversation(fast).legs
    assert (leg.state, leg.wrap_up_reason) == ("done", "Hotovo")
    assert desk.conversation(fast).outcome == "completed"
    again.close()


def test_pci_and_pii_from_faker_never_reach_a_surface(fake: Faker, clock: ManualClock) -> None:
    desk = Desk(clock=clock)
    desk.add_queue("Podpora", ["Vyřešeno"])
    us = Faker("en_US")
    us.seed_instance(11)
    for _ in range(25):
        items = [
            fake.credit_card_number(),
            fake.iban(),
            us.ssn(),
            fake.email(),
            mobile(fake.random_element(REGIONS)),
        ]
        conversation_id = desk.start_chat("Podpora", person(fake), items[-1])
        for item in items:
            desk.send_customer_message(conversation_id, f"{fake.sentence()} {item}")
        texts = attrs.asdict(desk.surfaces(conversation_id))
        for item in items:
            for surface, text in texts.items():
                assert item not in text, (surface, item)
                assert digits(item) not in digits(text) or len(digits(item)) < 5, (surface, item)


def test_find_sensitive_spans_and_kinds_of_faker_data(fake: Faker) -> None:
    us = Faker("en_US")
    us.seed_instance(3)
    for _ in range(40):
        for kind, item in (
            ("card", fake.credit_card_number()),
            ("iban", fake.iban()),
            ("ssn", us.ssn()),
            ("email", fake.email()),
            ("phone", mobile(fake.random_element(REGIONS), PhoneNumberFormat.E164)),
        ):
            text = f"{fake.sentence()} {item} {fake.sentence()}"
            found = [(f.kind, text[f.start : f.end]) for f in find_sensitive(text)]
            assert (kind, item) in found
            assert item not in mask_text(text)
            assert [(f.kind, text[f.start : f.end]) for f in find_sensitive(text)] == found
    with pytest.raises(LivechatError):
        MaskingPolicy(kinds=frozenset({"passport"}))


def test_declined_request_goes_to_the_next_available_agent(fake: Faker, clock: ManualClock) -> None:
    floor = Floor(fake, clock)
    desk = floor.desk
    desk.set_available("a1")
    clock.advance(1)
    desk.set_available("a2")
    conversation_id, customer = floor.chat(fake)
    (offer,) = desk.offers("a1")  # a1 has waited longest
    assert offer.customer_name == customer
    desk.decline(agent_id="a1", conversation_id=conversation_id)
    assert desk.agent("a1").state == "available"  # a decline is not RONA
    assert desk.offers("a1") == []
    (offer,) = desk.offers("a2")
    assert (offer.conversation_id, offer.agent_name) == (conversation_id, floor.names["a2"])
    desk.accept("a2", conversation_id)
    assert desk.conversation(conversation_id).owner == "a2"


def test_reserved_characters_bind_agents_only(fake: Faker, clock: ManualClock) -> None:
    floor = Floor(fake, clock)
    desk = floor.desk
    conversation_id, _ = floor.accepted(fake)
    desk.send_customer_message(conversation_id, "Děkuji <3 a 2 > 1")
    with pytest.raises(LivechatError) as refused:
        desk.send_agent_message("a1", conversation_id, "Rádo se stalo <3")
    assert refused.value.code
    assert [m.text for m in desk.conversation(conversation_id).messages] == ["Děkuji <3 a 2 > 1"]
