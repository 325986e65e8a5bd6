"""Every masked surface of the desktop (SPEC section 6), and PCI at rest through the Desk."""

from __future__ import annotations

from collections.abc import Sequence

import attrs
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from livechat_core import Desk, MaskingPolicy, Surfaces, find_sensitive, replay
from livechat_core._pii_samples import Item
from livechat_core._pii_strategies import pii_items
from livechat_core.events import Event, MessagePosted, MessagesRedacted

SURFACES = [field.name for field in attrs.fields(Surfaces)]


def _desk() -> Desk:
    desk = Desk()
    desk.add_queue("support", ["Resolved"])
    return desk


def test_the_source_examples_on_every_surface() -> None:
    desk = _desk()
    chat = desk.start_chat("support", "+447966197542", "melissa@gmail.com")
    desk.send_customer_message(chat, "call me on + 1 (123) 456 7890")
    shown = attrs.asdict(desk.surfaces(chat))
    assert set(shown) == set(SURFACES)
    assert shown["task_title"] == "*********7542 (m******@gmail.com)"
    assert shown["message_preview"] == "call me on **********7890"
    assert shown["contact_origin"] == "m******@gmail.com"
    for name, text in shown.items():
        assert isinstance(text, str), name
        assert "7966197542" not in text
        assert "melissa@" not in text
        assert "456 7890" not in text
        assert find_sensitive(text) == [], name


def test_a_name_that_is_a_phone_number_is_masked_and_a_real_name_is_not() -> None:
    desk = _desk()
    phone_named = desk.start_chat("support", "+420 777 123 456", "")
    named = desk.start_chat("support", "Jana Nováková", "+420 777 123 456")
    assert desk.surfaces(phone_named).interaction_title == "*********3456"
    assert desk.surfaces(named).interaction_title == "Jana Nováková (*********3456)"


def test_masking_off_shows_everything_as_typed() -> None:
    desk = Desk(masking=MaskingPolicy(enabled=False))
    desk.add_queue("support", ["Resolved"])
    chat = desk.start_chat("support", "+447966197542", "melissa@gmail.com")
    assert desk.surfaces(chat).interaction_title == "+447966197542 (melissa@gmail.com)"
    # and a policy given per call wins over the desk's
    assert desk.surfaces(chat, MaskingPolicy()).contact_origin == "m******@gmail.com"


def test_only_the_chosen_kinds_are_masked() -> None:
    desk = _desk()
    chat = desk.start_chat("support", "Karel", "karel@example.com")
    desk.send_customer_message(chat, "+420 777 123 456")
    only_email = desk.surfaces(chat, MaskingPolicy(kinds={"email"}))
    assert only_email.contact_origin == "k****@example.com"
    assert only_email.message_preview == "+420 777 123 456"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name_item=pii_items("phone"),
    contact_item=st.one_of(pii_items("email"), pii_items("phone")),
    message_item=pii_items(),
)
def test_with_masking_on_no_surface_holds_an_unmasked_item(
    name_item: Item, contact_item: Item, message_item: Item
) -> None:
    for item in (name_item, contact_item, message_item):
        # detection itself is tested in test_masking*; here: what is found is masked
        # everywhere (a bare round figure such as 600 000 000 is read as an amount)
        assume(find_sensitive(item.text))
    desk = _desk()
    chat = desk.start_chat("support", name_item.text, contact_item.text)
    desk.send_customer_message(chat, f"my details: {message_item.text} thanks")
    for name, text in attrs.asdict(desk.surfaces(chat)).items():
        assert find_sensitive(text) == [], (name, text)
        for item in (name_item, contact_item, message_item):
            assert item.text.strip() not in text, (name, item)


def test_a_card_never_reaches_the_store_or_the_transport_unmasked() -> None:
    published: list[Event] = []

    class Transport:
        def publish(self, events: Sequence[Event]) -> None:
            published.extend(events)

    desk = Desk(transport=Transport())
    desk.add_queue("support", ["Resolved"])
    chat = desk.start_chat("support", "Karel", "k@example.com")
    desk.send_customer_message(chat, "card 5555 5555 5555 4444 exp 12/29")
    stored = desk.events(chat)[-1]
    # the message's text, not the event's repr: a random id or the clock's time may hold "5555"
    for event in (stored, published[-1]):
        assert isinstance(event, MessagePosted)
        assert "5555" not in event.message.text
    assert desk.conversation(chat).messages[-1].text == "card ************4444 exp 12/29"


def test_a_card_split_over_messages_is_redacted_everywhere() -> None:
    desk = _desk()
    chat = desk.start_chat("support", "Karel", "k@example.com")
    for part in ("4111", "1111", "1111"):
        assert desk.send_customer_message(chat, part)[-1].type == "MessagePosted"
    events = desk.send_customer_message(chat, "1111")
    redacted = [e for e in events if isinstance(e, MessagesRedacted)]
    assert len(redacted) == 1
    assert [text for _, text in redacted[0].redactions] == ["****", "****", "****"]
    assert [m.text for m in desk.conversation(chat).messages] == ["****", "****", "****", "1111"]
    # the stored history holds no fragment either, and still replays to the same view
    posted = [e.message.text for e in desk.events(chat) if isinstance(e, MessagePosted)]
    assert posted == ["****", "****", "****", "1111"]
    assert replay(desk.events(chat)) == desk.conversation(chat)


def test_pci_at_rest_can_be_turned_off_for_a_compliant_vault() -> None:
    desk = Desk(pci_at_rest=False, masking=MaskingPolicy())
    desk.add_queue("support", ["Resolved"])
    chat = desk.start_chat("support", "Karel", "k@example.com")
    desk.send_customer_message(chat, "4111 1111 1111 1111")
    assert desk.conversation(chat).messages[-1].text == "4111 1111 1111 1111"
    assert desk.surfaces(chat).message_preview == "************1111"


def test_no_free_text_brings_a_card_into_the_store() -> None:
    desk = _desk()
    desk.login("jana", "Jana", ["support"])
    desk.set_available("jana")
    card = "4111 1111 1111 1111"
    chat = desk.start_chat("support", card, f"card {card}")
    desk.accept("jana", chat)
    desk.send_agent_message("jana", chat, f"I see {card} on file")
    desk.end("jana", chat)
    desk.submit_wrap_up("jana", chat, "Resolved", notes=f"refunded {card}")
    assert "4111 1111" not in repr(desk.events(chat)) + repr(desk.conversation(chat))
    view = desk.conversation(chat)
    assert view.customer_name == "************1111"
    assert view.customer_contact == "card ************1111"
    assert view.messages[0].text == "I see ************1111 on file"
    assert view.legs[0].wrap_up_notes == "refunded ************1111"
