"""Masking measured on data no one here wrote (issue 11 item 6).

Items come from public generators (Faker in many locales, the ``phonenumbers`` example
number of every region and type, ``schwifty``'s random IBANs of every country), each inside an
English or a Czech sentence; recall must be at least 99.5% per kind. A curated corpus of
real-looking text that is not personal data (versions, tables, netmasks, doctests, changelog
lines, postal codes) must come back unchanged.
"""

from __future__ import annotations

import warnings
from collections import Counter

import pytest

from livechat_core import find_sensitive, mask_text
from livechat_core._pii_samples import LabelledMessage, public_messages

pytest.importorskip("faker")
pytest.importorskip("phonenumbers")
pytest.importorskip("schwifty")


def _covered(message: LabelledMessage) -> bool:
    """Every character of the planted item lies inside a finding of its kind."""
    findings = [
        f
        for f in find_sensitive(message.text)
        if f.kind == message.kind and f.start < message.end and message.start < f.end
    ]
    if not findings:
        return False
    return min(f.start for f in findings) <= message.start and max(f.end for f in findings) >= len(
        message.text[: message.end].rstrip()
    )


@pytest.fixture(scope="module")
def corpus() -> list[LabelledMessage]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Faker's notes on deprecated locales
        return public_messages(seed=11, per_generator=2)


def test_recall_is_at_least_99_5_percent_per_kind(corpus: list[LabelledMessage]) -> None:
    planted: Counter[str] = Counter()
    found: Counter[str] = Counter()
    missed: dict[str, list[str]] = {}
    for message in corpus:
        assert message.kind is not None
        planted[message.kind] += 1
        if _covered(message):
            found[message.kind] += 1
        else:
            missed.setdefault(message.kind, []).append(message.text[message.start : message.end])
    assert set(planted) == {"card", "email", "iban", "phone", "ssn"}
    recall = {kind: found[kind] / planted[kind] for kind in planted}
    assert all(value >= 0.995 for value in recall.values()), (recall, missed)


def test_every_phonenumbers_region_is_masked_in_international_form() -> None:
    import phonenumbers

    formats = phonenumbers.PhoneNumberFormat
    missed = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
        example = example or phonenumbers.example_number(region)
        if example is None:
            continue
        for form in (formats.INTERNATIONAL, formats.E164):
            text = phonenumbers.format_number(example, form)
            if "*" not in mask_text(f"call me on {text} please"):
                missed.append(text)
    assert missed == []


@pytest.mark.parametrize(
    "text",
    [
        "+500 31234",
        "+683 7012",
        "+247 62889",
        "+(370) 61974001",
        "(351) 965 604 375",
        "976 90 167",
        "06571/93804649",
        "8 (991) 779-5778",
        "38288307541",
        "+421 308 059 2042",
        "Účet: (772) 920-3458",
        "MT84MALT011000012345MTLCAST001S",
        "CH66 0885 3ZCK G25J YDYX I",
        "41111111 11111111",
        "411111 1111111111",
        "213100000000001",
        "501800000009",
    ],
)
def test_the_reported_leaks_are_masked(text: str) -> None:
    masked = mask_text(text)
    assert "*" in masked, masked
    digits = [c for c in masked if c.isdigit()]
    assert len(digits) <= 4, masked


NEGATIVES = [
    # versions and packages
    "binutils (2.11.92.0.12.3-1) unstable; urgency=low",
    "chromium (114.0.5735.133-1~deb12u1) bookworm-security; urgency=high",
    "coreutils (6.10~20070907-1) experimental; urgency=low",
    "  * New upstream release 3.12.1 (Closes: #1034567)",
    "Python 3.11.2 (main, Mar 13 2023, 12:18:29) [GCC 12.2.0] on linux",
    "Version 20.6.76.8240 was released on 2024-03-15.",
    # numeric tables
    "66.80  95.52  89.14      7    0.300",
    "  1024   2048   4096   8192  16384  32768",
    "| 2019 | 1 234 567 | 12.5 % |",
    # netmasks and addresses
    "192.0.2.0/255.255.255.0",
    "IPv4Network('192.0.2.128/25')",
    "fe80::1ff:fe23:4567:890a",
    "10.100.200.250 - - [10/Oct/2000:13:55:36 -0700]",
    # doctests
    ">>> Decimal('123456789').rotate(2)",
    ">>> ExtendedContext.fma(Decimal('888565290'), Decimal('1557.96930'), Decimal('-86087.7578'))",
    ">>> geohash(37.421542, -122.085589, b'2005-05-26-10458.68')",
    ">>> 2**64\n18446744073709551616",
    # changelog lines
    "  * Reserve uids 64010-64016 and gid 64010 for quagga",
    "  * Update from binutils 2003 0515.",
    " -- Debian Maintainers  Mon, 13 Mar 2023 12:18:29 +0100",
    "Copyright (c) 2001-2015, brian d foy, All Rights Reserved.",
    "IEEE standard 854-1987 and RFC 2047/2243",
    "curl --local-port 1000-3000 https://example.com",
    # postal codes, dates, amounts, times
    "Praha 110 00, Vodičkova 12",
    "SW1A 1AA London, 75008 Paris, 10115 Berlin",
    "ZIP 12345-6789",
    "15. 3. 2024 14:30, 03/15/2024",
    "Cena 1 234 567 Kč, $1,234.56, € 1.234.567,89",
    "systemd: Started user@1000.service",
]


@pytest.mark.parametrize("text", NEGATIVES)
def test_text_that_is_not_personal_data_comes_back_unchanged(text: str) -> None:
    assert mask_text(text) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # separators of any kind: pipes, commas, emoji, HTML entities
        ("4111 | 1111 | 1111 | 1111", "***************1111"),
        ("4111,1111,1111,1111", "***************1111"),
        ("4111🙂1111🙂1111🙂1111", "***************1111"),
        ("4111&nbsp;1111&nbsp;1111&nbsp;1111", "************1111"),
        ("&#52;111 1111 1111 1111", "************1111"),
        # Unicode digits of every kind: superscript, mathematical bold
        ("⁴¹¹¹ ¹¹¹¹ ¹¹¹¹ ¹¹¹¹", "************1111"),
        ("𝟒𝟏𝟏𝟏 𝟏𝟏𝟏𝟏 𝟏𝟏𝟏𝟏 𝟏𝟏𝟏𝟏", "************1111"),
        # letters standing for digits inside a digit run
        ("4O12 8888 8888 1881", "************1881"),
        ("4l11 1111 1111 1111", "************1111"),
        # a card as two groups of eight, across a line break too, and 6 + 10
        ("41111111 11111111", "************1111"),
        ("41111111\n11111111", "************1111"),
        ("411111 1111111111", "************1111"),
        # digits spelled out, English and Czech
        ("four one one one one one one one one one one one one one one one", None),
        ("šest nula tři jedna dva tři čtyři pět šest", "*******************3456"),
        # obfuscated e-mail addresses
        ("jan at example dot com", "j** at example dot com"),
        ("jan(at)example(dot)cz", "j**(at)example(dot)cz"),
        ("jan [at] example [dot] cz", "j** [at] example [dot] cz"),
        ("jan @ example.cz", "j** @ example.cz"),
        ("ja\u200bn@example.cz", "j**@example.cz"),
    ],
)
def test_evasions_are_masked(text: str, expected: str | None) -> None:
    masked = mask_text(text)
    if expected is not None:
        assert masked == expected
    assert masked != text
    assert len([c for c in masked if c.isdigit()]) <= 4


@pytest.mark.parametrize(
    "text",
    [
        "look at example.com",
        "one two three four",
        "I have one, two or three ideas",
        "1,234,567 and 5, 10, 15, 20, 25",
        "((50, -20), (30, 20), (-50, 20), (-30, -20))",
        "I love lol 1O1 in IOl",
    ],
)
def test_evasion_rules_leave_ordinary_text_alone(text: str) -> None:
    assert mask_text(text) == text
