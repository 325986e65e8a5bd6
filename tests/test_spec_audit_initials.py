"""SPEC 5: messages carry display ``initials`` (customer "Jana Nováková" → "JN").

Acceptance data comes from Faker, whose ``name()`` often carries titles ("Ing. Jan Novák",
"Jan Novák Ph.D.", "Dr. John Smith Jr.", "paní Jana Nováková"): the bubble of such a
customer should still read "JN"/"JS", not "IN"/"JP"/"DJ". And a customer whose name is a
mobile number (the article's conditional masking) must not get digits of it as initials.
Both are decided in ``_model.initials``.
"""

from __future__ import annotations

import phonenumbers
import pytest
from faker import Faker
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from livechat_core import Desk


def bubble_initials(name: str) -> str:
    desk = Desk()
    desk.add_queue("Podpora", ["Vyřešeno"])
    conversation_id = desk.start_chat("Podpora", name, "zakaznik@example.com")
    desk.send_customer_message(conversation_id, "Dobrý den")
    return desk.conversation(conversation_id).messages[0].initials


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Ing. Jan Novák", "JN"),
        ("Jan Novák Ph.D.", "JN"),
        ("MUDr. Eva Malá, CSc.", "EM"),
        ("paní Jana Nováková", "JN"),
        ("Dr. John Smith Jr.", "JS"),
        ("Mrs. Jane Doe MD", "JD"),
    ],
)
def test_titles_are_not_initials(name: str, expected: str) -> None:
    assert bubble_initials(name) == expected


@pytest.mark.parametrize("locale", ["cs_CZ", "en_US"])
def test_initials_of_faker_names_with_titles(locale: str) -> None:
    fake = Faker(locale)
    fake.seed_instance(5)
    for _ in range(20):
        first, last = fake.first_name(), fake.last_name()
        name = f"{fake.prefix()} {first} {last} {fake.suffix()}"
        assert bubble_initials(name) == (first[0] + last[0]).upper(), name


@pytest.mark.parametrize("region", ["CZ", "GB", "US", "DE"])
def test_a_name_that_is_a_mobile_number_gives_no_digits(region: str) -> None:
    number = phonenumbers.example_number_for_type(region, PhoneNumberType.MOBILE)
    assert number is not None
    name = phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
    assert not any(ch.isdigit() for ch in bubble_initials(name))
