"""Masking audited against data no one on this team wrote (SPEC section 6, section 9's names).

The items come from public generators: Faker in every locale it ships (cards of every type,
IBANs, BBANs, SSNs, phone numbers, MSISDNs, e-mail addresses, inside sentences of the same
locale and after labels), and ``phonenumbers``' example number of every region and number
type in every format. They are written with every separator SPEC section 6 lists and with
the decimal digits of every script ``unicodedata`` knows, and split over consecutive
customer messages sent through a real ``Desk``. Where the source's rule decides the output
(all characters but the last four digits replaced by ``*``, whitespace dropped; the e-mail
rule) the output is checked exactly. Masking must also stay total (any ``str``) and linear
(counted in executed lines, not timed).

The examples at the end are the failures this audit found, each as its smallest reproducer.
"""

from __future__ import annotations

import random
import string
import sys
import unicodedata
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from types import FrameType
from typing import Any

import attrs
import faker
import faker.config
import phonenumbers
import pytest
import regex
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from livechat_core import (
    Desk,
    LivechatError,
    MaskingPolicy,
    find_sensitive,
    mask_across,
    mask_text,
)
from livechat_core.events import Event, MessagePosted, MessagesRedacted

LOCALES: tuple[str, ...] = tuple(sorted(faker.config.AVAILABLE_LOCALES))
CARD_TYPES = (
    "amex", "diners", "discover", "jcb", "jcb15", "jcb16", "maestro", "mastercard", "visa",
    "visa13", "visa16", "visa19",
)  # fmt: skip
"""Faker's default card types; some locales have their own (fa_IR's 29 Iranian banks, ru_RU's
Mir, uk_UA's Prostir): :func:`card_types`."""
EMAILS = ("email", "free_email", "company_email", "ascii_email")
ZEROS: tuple[int, ...] = tuple(
    sorted(
        {
            code - int(unicodedata.decimal(chr(code)))
            for code in range(sys.maxunicode + 1)
            if unicodedata.decimal(chr(code), None) is not None
        }
    )
)
"""The zero of every script's decimal digits (ASCII, Arabic-Indic, Devanagari, full-width,
mathematical, ...): 60 and more."""
SEPARATORS = (
    " ", "\u00a0", "-", ".", "/", "\n", "\r\n", "\t", "\u2009", "\u202f", "\u3000", "\u2013",
    "\u2014", "\u2212", "\uff0d", "\u2010", "\u2011", "\u2043", "\u00b7", "\u30fb", "\uff65",
    "\uff0e", "\u30fc", "_", " - ", " / ", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff",
    "\u00ad", "\u200e", "\u200f", "\u202a", "\u202c", "\u2066", "\u2069", "\u2028", "\u2029",
)  # fmt: skip
"""SPEC section 6's separators (space, NBSP, dash, dot, slash, line break) in their Unicode
variants, and zero-width and bidirectional format characters."""


@pytest.fixture(scope="module")
def fakers() -> dict[str, faker.Faker]:
    made = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Faker's notes on deprecated locales
        for locale in LOCALES:
            fake = faker.Faker(locale)
            fake.seed_instance(20261203)
            made[locale] = fake
    return made


def card_types(fake: faker.Faker) -> list[str]:
    """The card types a locale's Faker makes."""
    for provider in fake.get_providers():
        types = getattr(provider, "credit_card_types", None)
        if types:
            return sorted(types)
    return list(CARD_TYPES)  # pragma: no cover - every locale has the provider


@contextmanager
def quiet() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


# --------------------------------------------------------------------------- the rule


def ascii_digits(text: str) -> str:
    return "".join(
        str(unicodedata.decimal(c)) for c in text if unicodedata.decimal(c, None) is not None
    )


def number_rule(item: str) -> str:
    """SPEC section 6, written independently of the implementation: whitespace (and format
    characters, which are invisible) dropped, every character but the last four digits a
    ``*``; the stars first, the kept digits in ASCII."""
    visible = regex.sub(r"[\s\p{Cf}]", "", item)
    kept = ascii_digits(visible)[-4:]
    return "*" * (len(visible) - len(kept)) + kept


def email_rule(item: str) -> str:
    local, _, domain = item.rpartition("@")
    return local[0] + "*" * (len(local) - 1) + "@" + domain


def leaks(item: str, masked: str) -> bool:
    """Whether more than four of the item's digits, in order, survive masking."""
    digits = ascii_digits(item)
    return item in masked or (len(digits) > 4 and digits in ascii_digits(masked))


def in_script(text: str, zero: int) -> str:
    return "".join(chr(zero + int(c)) if "0" <= c <= "9" else c for c in text)


def sentence(fake: faker.Faker) -> str:
    """A sentence of the locale, without digits (so only the planted item has any)."""
    with quiet():
        text = fake.sentence(nb_words=5)
    return "".join(c for c in text if unicodedata.decimal(c, None) is None)


# --------------------------------------------------------------------------- the source's examples


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("+ 1 (123) 456 7890", "**********7890"),
        ("+447966197542", "*********7542"),
        ("melissa@gmail.com", "m******@gmail.com"),
    ],
)
def test_the_source_examples_mask_exactly(text: str, expected: str) -> None:
    assert mask_text(text) == expected
    assert mask_text(text, MaskingPolicy()) == expected
    assert mask_text(text, MaskingPolicy(enabled=False)) == text


# --------------------------------------------------------------------------- Faker, every locale


def test_cards_of_every_type_in_every_locale_mask_exactly(
    fakers: dict[str, faker.Faker],
) -> None:
    for locale, fake in fakers.items():
        for card_type in card_types(fake):
            with quiet():
                number = fake.credit_card_number(card_type=card_type)
            assert mask_text(number) == number_rule(number), (locale, card_type)
            for label in ("card", "karta", "order", "account"):
                text = f"{sentence(fake)} {label} {number} {sentence(fake)}"
                assert mask_text(text) == text.replace(number, number_rule(number)), text


def test_the_number_of_a_full_card_record_is_masked(fakers: dict[str, faker.Faker]) -> None:
    for locale, fake in fakers.items():
        for card_type in card_types(fake):
            with quiet():
                record = fake.credit_card_full(card_type=card_type)
            number = next(
                word
                for line in record.splitlines()
                for word in line.split()
                if len(ascii_digits(word)) >= 12
            )
            masked = mask_text(record)
            assert number not in masked, (locale, record)
            assert number_rule(number) in masked, (locale, record, masked)


def test_ibans_of_every_locale_mask_exactly(fakers: dict[str, faker.Faker]) -> None:
    for locale, fake in fakers.items():
        for _ in range(3):
            with quiet():
                iban = fake.iban()
            assert mask_text(iban) == number_rule(iban), (locale, iban)
            grouped = " ".join(iban[k : k + 4] for k in range(0, len(iban), 4))
            for label in ("IBAN", "účet", "account"):
                text = f"{sentence(fake)} {label} {grouped}, {sentence(fake)}"
                assert mask_text(text) == text.replace(grouped, number_rule(grouped)), text
            assert [f.kind for f in find_sensitive(f"my {iban} thanks")] == ["iban"]


def test_a_labelled_bban_is_masked_as_an_account_number(fakers: dict[str, faker.Faker]) -> None:
    """A BBAN (the domestic account number an IBAN carries) is the iban kind after an account
    label; unlabelled, where its shape says so (bank-code letters, a Czech bank code)."""
    for locale, fake in fakers.items():
        for _ in range(3):
            with quiet():
                bban = fake.bban()
            if sum(c.isdigit() for c in bban) < 8:
                continue  # Faker's uk_UA and ru_RU BBANs are mostly letters: not a number
            for label in ("account", "účet", "IBAN:", "konto nr"):
                text = f"{label} {bban}"
                masked = mask_text(text)
                assert not leaks(bban, masked), (locale, text, masked)
                # (a label may change the kind, never cancel masking: a Luhn-valid run of
                # digits inside it may be read as a card, 10-15 digits as a phone)
                kinds = [f.kind for f in find_sensitive(text)]
                assert kinds in (["iban"], ["card"], ["phone"]), (text, kinds)


def test_us_ssns_mask_exactly_and_other_locales_ids_never_break_masking(
    fakers: dict[str, faker.Faker],
) -> None:
    us = fakers["en_US"]
    for _ in range(200):
        ssn = us.ssn()
        assert mask_text(ssn) == number_rule(ssn), ssn
        for layout in (ssn, ssn.replace("-", " "), ssn.replace("-", "")):
            text = f"{sentence(us)} SSN {layout} {sentence(us)}"
            assert mask_text(text) == text.replace(layout, number_rule(layout)), text
            assert "ssn" in [f.kind for f in find_sensitive(text)]
    # other locales' "ssn" are national ids, not a SPEC kind: masking stays total
    for locale, fake in fakers.items():
        if hasattr(fake, "ssn"):
            with quiet():
                item = fake.ssn()
            assert isinstance(mask_text(f"id {item}"), str), locale


def test_phone_numbers_and_msisdns_of_every_locale_are_masked(
    fakers: dict[str, faker.Faker],
) -> None:
    for locale, fake in fakers.items():
        for _ in range(5):
            if hasattr(fake, "msisdn"):
                with quiet():
                    msisdn = fake.msisdn()
                assert mask_text(msisdn) == number_rule(msisdn), (locale, msisdn)
            if not hasattr(fake, "phone_number"):
                continue
            with quiet():
                phone = fake.phone_number()
            digits = ascii_digits(phone)
            if len(digits) < 7:
                continue  # short codes (999, 1265) are no one's number
            if digits.startswith("00") and digits[2] == "0":
                continue  # vi_VN makes "00 0474 3957": no country code 0, no trunk prefix 00
            for label in ("tel.", "call me on", "my number is"):
                text = f"{label} {phone}"
                masked = mask_text(text)
                assert not leaks(phone, masked), (locale, text, masked)


def test_e_mail_addresses_of_every_locale_mask_exactly(fakers: dict[str, faker.Faker]) -> None:
    for locale, fake in fakers.items():
        for method in EMAILS:
            with quiet():
                address = getattr(fake, method)()
            assert mask_text(address) == email_rule(address), (locale, address)
            text = f"{sentence(fake)} {address} {sentence(fake)}"
            assert mask_text(text) == text.replace(address, email_rule(address)), text


# --------------------------------------------------------------------------- separators and scripts

ITEMS = {
    "card": ["4111111111111111", "378282246310005", "6759649826438453", "4222222222222"],
    "ssn": ["536-22-8194"],
    "phone": ["+447966197542", "+420 603 123 456"],
    "iban": ["GB29NWBK60161331926819", "CZ6508000000192000145399"],
}


def _written(kind: str, item: str, separator: str) -> list[str]:
    if kind in ("card", "iban"):
        groups = [item[k : k + 4] for k in range(0, len(item), 4)]
        forms = [separator.join(groups)]
        if kind == "card":
            forms.append(separator.join(item))  # a separator after every digit
        return forms
    if kind == "ssn":
        return [item.replace("-", separator)]
    if " " in item:
        return [item.replace(" ", separator)]
    return [item[:4] + separator + item[4:7] + separator + item[7:]]


@pytest.mark.parametrize("separator", SEPARATORS, ids=lambda s: f"U+{ord(s[0]):04X}x{len(s)}")
def test_every_separator_in_every_script_masks_exactly(separator: str) -> None:
    labels = {"card": "card", "ssn": "SSN", "phone": "tel.", "iban": "account"}
    for kind, items in ITEMS.items():
        for item in items:
            for form in _written(kind, item, separator):
                for zero in ZEROS:
                    written = in_script(form, zero)
                    assert mask_text(written) == number_rule(written), (kind, written)
                    text = f"{labels[kind]} {written} ok"
                    assert mask_text(text) == text.replace(written, number_rule(written)), text
                found = [f.kind for f in find_sensitive(f"{labels[kind]} {form}")]
                assert found == [kind], (form, found)


# --------------------------------------------------------------------------- phonenumbers

FORMATS = phonenumbers.PhoneNumberFormat
TYPES = [
    value
    for name, value in vars(phonenumbers.PhoneNumberType).items()
    if name.isupper() and name != "UNKNOWN"
]


def _examples() -> Iterator[tuple[str, phonenumbers.PhoneNumber]]:
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for number_type in TYPES:
            number = phonenumbers.example_number_for_type(region, number_type)
            if number is not None:
                yield region, number
    for code in sorted(phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS):
        number = phonenumbers.example_number_for_non_geo_entity(code)
        if number is not None:
            yield f"+{code}", number


def test_every_region_and_type_masks_exactly_in_international_forms() -> None:
    checked = 0
    for region, number in _examples():
        for form in (FORMATS.E164, FORMATS.INTERNATIONAL):
            written = phonenumbers.format_number(number, form)
            assert mask_text(written) == number_rule(written), (region, written)
            text = f"call me on {written} please"
            assert mask_text(text) == text.replace(written, number_rule(written)), text
            checked += 1
        uri = phonenumbers.format_number(number, FORMATS.RFC3966)  # tel:+1-201-555-0123
        assert mask_text(uri) == "tel:" + number_rule(uri[4:]), uri
    assert checked > 2500


def test_every_region_and_type_in_national_form_after_a_phone_word() -> None:
    for region, number in _examples():
        written = phonenumbers.format_number(number, FORMATS.NATIONAL)
        if len(ascii_digits(written)) < 7:
            continue  # short numbers are masked only with a "+" (SPEC: not every figure)
        for label in ("tel.", "call me on"):
            masked = mask_text(f"{label} {written}")
            assert not leaks(written, masked), (region, written, masked)


def test_a_plus_and_a_country_code_make_a_phone_of_any_length() -> None:
    """SPEC section 6: a mistyped length is still someone's number."""
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        number = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
        if number is None:
            continue
        e164 = phonenumbers.format_number(number, FORMATS.E164)
        for typo in (e164[:-1], e164 + "7", e164[:-2]):
            if len(typo) - 1 - len(str(number.country_code)) < 4:
                continue  # fewer than four digits after the code: nothing to hide
            assert mask_text(typo) == number_rule(typo), (region, typo)


# --------------------------------------------------------------------------- at rest, in a Desk


class _Recorder:
    def __init__(self) -> None:
        self.published: list[Event] = []

    def publish(self, events: Sequence[Event]) -> None:
        self.published.extend(events)


def _split(number: str, rng: random.Random, style: int) -> list[str]:
    if style == 0:
        return list(number)  # one digit per message
    parts, position = [], 0
    while position < len(number):
        size = rng.randint(1, 6) if style == 1 else style
        parts.append(number[position : position + size])
        position += size
    return parts


def _send_split(
    parts: list[str], fillers: list[str | None], accept: bool
) -> tuple[Desk, str, _Recorder]:
    recorder = _Recorder()
    desk = Desk(transport=recorder, clock=lambda: 1_700_000_000.0)
    desk.add_queue("support", ["Resolved"])
    desk.login("agent", "Agent", ["support"])
    desk.set_available("agent")
    chat = desk.start_chat("support", "Karel", "karel@example.com")
    if accept:
        desk.accept("agent", chat)
    desk.send_customer_message(chat, "here is my card")
    for part, filler in zip(parts, fillers, strict=True):
        desk.send_customer_message(chat, part)
        if filler == "agent" and accept:
            desk.send_agent_message("agent", chat, "go on")
        elif filler:
            desk.send_customer_message(chat, filler)
    return desk, chat, recorder


def _assert_at_rest(desk: Desk, chat: str, recorder: _Recorder, number: str) -> None:
    stored = [m.text for m in desk.conversation(chat).messages if m.role == "customer"]
    logged = [
        e.message.text
        for e in desk.events(chat)
        if isinstance(e, MessagePosted) and e.message.role == "customer"
    ]
    # the fillers have no digits: only the card's last four may be left, in the view and in
    # the stored history alike
    kept = ascii_digits("".join(stored))
    assert len(kept) <= 4, stored
    assert number.endswith(kept), (number, stored)
    assert ascii_digits("".join(logged)) == kept, logged
    # a consumer of the published events, applying each redaction to the message it names,
    # ends with the same: what went out before the card was complete is taken back
    published: dict[str, str] = {}
    for event in recorder.published:
        if isinstance(event, MessagePosted) and event.message.role == "customer":
            published[event.message.id] = event.message.text
        elif isinstance(event, MessagesRedacted):
            published.update(event.redactions)
    assert ascii_digits("".join(published.values())) == kept, published


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    card_type=st.sampled_from(CARD_TYPES),
    seed=st.integers(0, 2**32 - 1),
    style=st.sampled_from([0, 0, 1, 1, 2, 3, 4, 5]),
    separator=st.sampled_from(["", "", " ", "-", ".", "/", "\u00a0", "\u200b", "\n", "\u30fb"]),
    zero=st.sampled_from(ZEROS),
    filler_rate=st.sampled_from([0.0, 0.2, 0.5]),
    accept=st.booleans(),
)
def test_a_card_split_over_customer_messages_never_rests_unmasked(
    card_type: str,
    seed: int,
    style: int,
    separator: str,
    zero: int,
    filler_rate: float,
    accept: bool,
) -> None:
    rng = random.Random(seed)
    fake = faker.Faker("en_US")
    fake.seed_instance(seed)
    number = fake.credit_card_number(card_type=card_type)
    parts = [in_script(p, zero) for p in _split(number, rng, style)]
    if separator:
        parts = [p + separator for p in parts[:-1]] + parts[-1:]
    fillers = [
        rng.choice(["wait", "sorry", "one sec", "agent"]) if rng.random() < filler_rate else None
        for _ in parts[:-1]
    ] + [None]
    desk, chat, recorder = _send_split(parts, fillers, accept)
    _assert_at_rest(desk, chat, recorder, number)


# --------------------------------------------------------------------------- linear cost


def _lines_executed(function: Callable[[], object]) -> int:
    """How many Python lines ``function`` executes (a count, not a time)."""
    count = 0

    def trace(frame: FrameType, event: str, arg: Any) -> Any:
        nonlocal count
        if event == "line":
            count += 1
        return trace

    sys.settrace(trace)
    try:
        function()
    finally:
        sys.settrace(None)
    return count


def _adversarial(size: int) -> dict[str, str]:
    rng = random.Random(size)
    mixed = "٣７aя中 -@.+4\u200bー\u0301\u202e"
    return {
        "digits": "4" * size,
        "spaced digits": " ".join("4" for _ in range(size // 2)),
        "alternating separators": "".join(
            rng.choice(string.digits) + rng.choice(" -./\u00a0\u200b\n") for _ in range(size // 2)
        ),
        "at flood": "@" * size,
        "a@ flood": "a@" * (size // 2),
        "dotted domain": "x@" + "a." * (size // 2 - 1),
        "plus flood": "+" * size,
        "+1 flood": "+1" * (size // 2),
        "mixed scripts": "".join(rng.choice(mixed) for _ in range(size)),
        "IBAN starts": "GB29 " * (size // 5),
        "account labels": "účet " * (size // 5),
        "bank codes": "ABCD1" * (size // 5),
        "parentheses": "(1" * (size // 2),
        "slashes": "1/" * (size // 2),
        "stars and tails": "***1234 " * (size // 8),
        "phone words": "tel. 12 " * (size // 8),
        "spelled digits": "one " * (size // 4),
    }


@pytest.mark.parametrize("name", sorted(_adversarial(100)))
def test_masking_cost_grows_linearly_with_the_text(name: str) -> None:
    """Doubling an adversarial text at most about doubles the work (Python lines executed,
    counted, never timed); the patterns themselves are bounded (no nested unbounded
    repetition), which this cannot count."""
    small = _adversarial(1000)[name]
    large = _adversarial(2000)[name]
    for policy in (None, MaskingPolicy(kinds=frozenset({"card"}))):
        base = _lines_executed(lambda: mask_text(small, policy))  # noqa: B023
        doubled = _lines_executed(lambda: mask_text(large, policy))  # noqa: B023
        assert doubled <= 2.5 * base + 200, (name, base, doubled)


# --------------------------------------------------------------------------- totality

any_text = st.text(alphabet=st.characters(exclude_categories=()), max_size=300)
"""Any code points: lone surrogates, NUL, combining marks, bidirectional controls."""
hostile = st.lists(
    st.sampled_from(
        [
            *"0123456789+@.-/ ()*",
            "\x00",
            "\ud800",
            "\udfff",
            "\u0301",
            "\u200f",
            "\u202e",
            "\u2066",
            "\u30fc",
            "٣",
            "７",
            "\ufeff",
            "\n",
            "&#52;",
            "účet ",
            "tel. ",
            "GB29 ",
        ]
    ),
    max_size=80,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(st.one_of(any_text, hostile))
def test_masking_never_raises_on_any_str(text: str) -> None:
    masked = mask_text(text)
    assert isinstance(masked, str)
    assert mask_text(masked) == masked  # idempotent
    for finding in find_sensitive(text):
        assert 0 <= finding.start < finding.end <= len(text)
    assert len(mask_across([text, text[::-1], text])) == 3


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(any_text, hostile).filter(str.strip), min_size=1, max_size=5))
def test_the_desk_takes_any_customer_text(texts: list[str]) -> None:
    desk = Desk(clock=lambda: 1_700_000_000.0)
    desk.add_queue("support", ["Resolved"])
    chat = desk.start_chat("support", "Karel", "karel@example.com")
    sent = 0
    for text in texts:
        try:
            desk.send_customer_message(chat, text)
        except LivechatError as error:  # the desk's input rules (no control characters...)
            refused = error.code
        else:
            refused = ""
            sent += 1
        assert refused in ("", "invalid_argument"), refused
    assert len(desk.conversation(chat).messages) == sent
    for surface in attrs.asdict(desk.surfaces(chat)).values():
        assert isinstance(surface, str)


def test_a_long_line_of_every_kind_is_masked_whole() -> None:
    line = " ".join(["4111 1111 1111 1111", "+447966197542", "melissa@gmail.com"] * 190)
    assert len(line) <= 10_000
    masked = mask_text(line)
    assert "4111 1111" not in masked
    assert "7966197" not in masked
    assert "melissa@" not in masked


# --------------------------------------------------------------------------- found by this audit


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a 12-digit Maestro followed by its expiry date (Faker's credit_card_full)
        ("501812306659 12/28", "********6659 12/28"),
        # an MSISDN: a country code and a subscriber number without "+" (Faker's msisdn)
        ("1266181764351", "*********4351"),
        ("11987654321", "*******4321"),
        # IBANs outside the registry's structures (Faker's th, en_PH, en_IN, es_AR)
        ("TH087101901153", "**********1153"),
        ("GB88YODA1901153000597", "*****************0597"),
        # any alphabetic top-level domain but a file's or a unit's (Faker's en_NZ, uk_UA)
        ("ddavis@baker.kiwi", "d*****@baker.kiwi"),
        ("mariana14@dzhus.ukr", "m********@dzhus.ukr"),
        ("systemd: Started user@1000.service", "systemd: Started user@1000.service"),
        # separators of any kind: katakana dots and the prolonged sound mark, hyphen
        # bullet, minus sign, em dash; zero-width characters inside an SSN
        ("+447ー966ー197542", "***********7542"),
        ("4111・1111・1111・1111", "***************1111"),
        ("+447⁃966⁃197542", "***********7542"),
        ("603−123−456", "*******3456"),
        ("536—22—8194", "*******8194"),
        ("536\u200b22\u200b8194", "*****8194"),
        ("536/22/8194", "*******8194"),
        # bank accounts without their IBAN (Faker's bban)
        ("IRCU47543378081052", "**************1052"),
        ("účet 2400123457/2010", "účet ***********2010"),
        ("account 814754337808105276", "account **************5276"),
        ("účet 123456789/0800", "účet 123456789/0800"),  # a placeholder
        # national numbers (phonenumbers' NATIONAL format, Faker's phone_number)
        ("call me on 62889 please", "call me on *2889 please"),
        ("22 345678", "****5678"),
        ("9 435 1234", "****1234"),
        ("11-7777-4121", "********4121"),
        ("(03).6018.1590", "**********1590"),
        ("tel. 326.01815", "tel. *****1815"),
        ("timestamp 1796261143", "timestamp 1796261143"),
        # a "+" number followed by an emoji and a decimal was read whole as a signed decimal
        ("+44 7000 000007 🙂, .0", "*********0007 🙂, .0"),
    ],
)
def test_the_failures_this_audit_found_are_masked(text: str, expected: str) -> None:
    assert mask_text(text) == expected


def test_an_ssn_with_any_one_separator_is_an_ssn() -> None:
    for separator in ("—", "−", "/", ".", "_", "\u200b", "\n", "・"):
        text = f"536{separator}22{separator}8194"
        assert [f.kind for f in find_sensitive(text)] == ["ssn"], text


@pytest.mark.parametrize(
    "parts",
    [
        ["6 ", "011 ", "04738 ", "12471 ", "42"],  # uneven parts, a space after each
        ["4.", "30836.", "914.", "7.", "0.", "49"],  # dotted, uneven
        ["436098-", "418-", "551-", "7613"],
        [
            "6ー",
            "0ー",
            "1ー",
            "1ー",
            "8ー",
            "7ー",
            "7ー",
            "5ー",
            "7ー",
            "4ー",
            "4ー",
            "7ー",
            "6ー",
            "2ー",
            "1ー",
            "9",
        ],
    ],
)
def test_a_card_split_unevenly_over_messages_is_masked_in_every_part(parts: list[str]) -> None:
    number = ascii_digits("".join(parts))
    masked = mask_across(parts)
    assert ascii_digits("".join(masked)) == number[-4:], masked
    desk, chat, recorder = _send_split(parts, [None] * len(parts), accept=False)
    _assert_at_rest(desk, chat, recorder, number)


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        # an IBAN whose country code and check digits came first
        (["DE46", "011524493909266858"], ["****", "**************6858"]),
        # an MSISDN in two parts, an SSN whose first digit came first
        (["175337", "7274743"], ["******", "***4743"]),
        (["6", "03-29-2018"], ["*", "******2018"]),
    ],
)
def test_an_item_split_over_messages_is_masked_for_display(
    parts: list[str], expected: list[str]
) -> None:
    assert mask_across(parts) == expected
    desk = Desk(pci_at_rest=False, masking=MaskingPolicy())
    desk.add_queue("support", ["Resolved"])
    chat = desk.start_chat("support", "Karel", "karel@example.com")
    for part in parts:
        desk.send_customer_message(chat, part)
    for name, text in attrs.asdict(desk.surfaces(chat)).items():
        assert parts[-1] not in str(text), (name, text)


def test_digits_that_continue_a_masked_card_re_mask_the_digits_it_kept() -> None:
    # 35224154990951 (the first 14 digits) passes issuer and Luhn: it was masked as a card
    # before "4" and "2" came, which then left 0951 and 42 in the store
    number = "3522415499095142"
    desk, chat, recorder = _send_split(list(number), [None] * len(number), accept=False)
    stored = [m.text for m in desk.conversation(chat).messages][1:]
    assert ascii_digits("".join(stored)) == "5142", stored
    _assert_at_rest(desk, chat, recorder, number)
