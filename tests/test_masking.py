"""Masking by example (SPEC section 6): the source's exact masks, every kind and format, the
evasions, the known false positives, policies and the conversation level."""

from __future__ import annotations

import pytest

from livechat_core._errors import InvalidArgument, LivechatError
from livechat_core._masking import (
    Finding,
    MaskingPolicy,
    find_sensitive,
    looks_like_phone,
    mask_across,
    mask_text,
    redact_cards,
)


def kinds_in(text: str) -> list[str]:
    return [finding.kind for finding in find_sensitive(text)]


# --------------------------------------------------------------------------- the source


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("+447966197542", "*********7542"),
        ("+ 1 (123) 456 7890", "**********7890"),
        ("melissa@gmail.com", "m******@gmail.com"),
    ],
)
def test_the_source_masks_exactly(text: str, expected: str) -> None:
    assert expected == mask_text(text)


def test_a_finding_is_the_item_as_written() -> None:
    text = "Volejte +420 603 123 456, díky"
    assert [Finding(kind="phone", start=8, end=24)] == find_sensitive(text)
    assert text[8:24] == "+420 603 123 456"


# --------------------------------------------------------------------------- cards


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4111111111111111", "************1111"),  # Visa
        ("4111 1111 1111 1111", "************1111"),
        ("4111-1111-1111-1111", "***************1111"),  # separators become stars too
        ("4222222222222", "*********2222"),  # Visa, 13 digits
        ("5555 5555 5555 4444", "************4444"),  # Mastercard
        ("2223 0031 2200 3222", "************3222"),  # Mastercard 2-series
        ("3782 822463 10005", "***********0005"),  # Amex 4-6-5
        ("3056 930902 5904", "**********5904"),  # Diners 14
        ("6011 1111 1111 1117", "************1117"),  # Discover
        ("3530 1113 3330 0000", "************0000"),  # JCB
        ("6250 9410 0652 8599", "************8599"),  # UnionPay
        ("6212345678901265", "************1265"),  # UnionPay
        ("6759 6498 2643 8453", "************8453"),  # Maestro
        ("6304 0000 0000 0000 000", "***************0000"),  # Maestro, 19 digits
        ("6200 0000 0000 0000 000", "***************0000"),  # UnionPay, 19 digits
        ("2200 1234 5678 9019", "************9019"),  # Mir
    ],
)
def test_cards_of_every_network_are_masked(text: str, expected: str) -> None:
    assert expected == mask_text(text)
    assert kinds_in(text) == ["card"]


def test_keep_card_bin_shows_the_first_six_and_the_last_four() -> None:
    policy = MaskingPolicy(keep_card_bin=True)
    assert mask_text("4111 1111 1111 1111", policy) == "411111******1111"
    assert mask_text(mask_text("4111 1111 1111 1111", policy), policy) == "411111******1111"


def test_the_stronger_proof_wins() -> None:
    assert kinds_in("123-45-6789") == ["ssn"]  # nine digits could also be a Czech phone
    assert kinds_in("call 4111 1111 1111 1111") == ["card"]  # Luhn beats the phone keyword
    assert kinds_in("DE89370400440532013000") == ["iban"]


def test_redact_cards_masks_only_cards() -> None:
    text = "card 4111 1111 1111 1111, mail jana@seznam.cz, tel 603 123 456"
    assert redact_cards(text) == "card ************1111, mail jana@seznam.cz, tel 603 123 456"


# --------------------------------------------------------------------------- IBANs


@pytest.mark.parametrize(
    "text",
    [
        "CZ65 0800 0000 1920 0014 5399",
        "CZ6508000000192000145399",
        "cz65 0800 0000 1920 0014 5399",
        "DE89 3704 0044 0532 0130 00",
        "GB29 NWBK 6016 1331 9268 19",
        "NL91ABNA0417164300",
        "FR14 2004 1010 0505 0001 3M02 606",
        "SK31 1200 0000 1987 4263 7541",
        "NO93 8601 1117 947",
        "LC55 HEMM 0001 0001 0012 0012 0002 3015",
        "CZ65-0800-0000-1920-0014-5399",
        "CZ65\u00a00800\u00a00000\u00a01920\u00a00014\u00a05399",
        "CZ 65 0800 0000 1920 0014 5399",
    ],
)
def test_ibans_compact_grouped_any_case_are_masked(text: str) -> None:
    masked = mask_text(text)
    assert kinds_in(text) == ["iban"]
    assert masked.startswith("****")
    assert masked[-4:].isdigit()
    assert len(masked) == len("".join(text.split()).replace("\u00a0", ""))


def test_an_iban_with_a_wrong_check_is_not_an_iban() -> None:
    assert kinds_in("CZ66 0800 0000 1920 0014 5399") == []


def test_an_iban_keeps_its_last_four_digits() -> None:
    assert mask_text("CZ65 0800 0000 1920 0014 5399") == "********************5399"


# --------------------------------------------------------------------------- SSNs


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("123-45-6789", "*******6789"),
        ("SSN: 123 45 6789", "SSN: *****6789"),  # whitespace is dropped
        ("my SSN is 123456789", "my SSN is *****6789"),
        ("social security number 123.45.6789", "social security number *******6789"),
        ("soc. sec. 078-05-1121", "soc. sec. *******1121"),
    ],
)
def test_ssns_are_masked(text: str, expected: str) -> None:
    assert expected == mask_text(text)
    assert kinds_in(text) == ["ssn"]


@pytest.mark.parametrize("text", ["000-12-3456", "666-12-3456", "912-34-5678", "123-00-4567"])
def test_ssns_break_the_area_group_serial_rules(text: str) -> None:
    assert "ssn" not in kinds_in(text)


def test_a_bare_nine_digit_run_is_an_ssn_only_after_a_keyword() -> None:
    assert kinds_in("SSN 123456789") == ["ssn"]
    assert "ssn" not in kinds_in("123456789")


# --------------------------------------------------------------------------- e-mails


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("jana.novakova+eshop@mail.seznam.cz", "j******************@mail.seznam.cz"),
        ("Jiří.Dvořák@firma.cz", "J**********@firma.cz"),
        ("josé@correo.españa", "j***@correo.españa"),
        ("user＠example.com", "u***＠example.com"),
        ("a.b-c_d%e@sub.domain.example.co.uk", "a********@sub.domain.example.co.uk"),
        ("info@xn--80ak6aa92e.com", "i***@xn--80ak6aa92e.com"),
        ("napište na petr@firma.cz.", "napište na p***@firma.cz."),
    ],
)
def test_emails_are_masked(text: str, expected: str) -> None:
    assert expected == mask_text(text)


# --------------------------------------------------------------------------- phones


@pytest.mark.parametrize(
    "text",
    [
        # US
        "(212) 555-0147", "212-555-0147", "212.555.0147", "+1 212 555 0147", "1-800-555-0199",
        "+1 (212) 555-0147",
        # GB
        "07966 197542", "+44 7966 197542", "020 7946 0958", "+44 (0)20 7946 0958",
        "0161 496 0000", "0044 7966 197542",
        # CZ, SK
        "603 123 456", "+420 603 123 456", "+420603123456", "00420 603 123 456", "603123456",
        "420 603 123 456", "0903 123 456", "+421 903 123 456", "02/1234 5678",
        # DE
        "0151 23456789", "030 12345678", "+49 30 12345678", "+49 (0)151 23456789",
        "030/1234567", "(030) 1234 5678",
        # FR
        "06 12 34 56 78", "06.12.34.56.78", "+33 6 12 34 56 78", "0612345678",
        # PL, ES
        "512 345 678", "+48 512 345 678", "12 345 67 89", "612 345 678", "+34 912 34 56 78",
        # IT, IN
        "312 345 6789", "+39 312 345 6789", "06 1234 5678", "+39 06 1234 5678",
        "98765 43210", "+91 98765 43210", "+91-9876543210", "09876543210",
    ],
)  # fmt: skip
def test_phones_of_every_supported_country_are_masked(text: str) -> None:
    assert kinds_in(text) == ["phone"]
    masked = mask_text(text)
    assert set(masked[:-4]) == {"*"}
    assert masked[-4:] == "".join(c for c in text if c.isdigit())[-4:]


def test_looks_like_phone_recognises_a_name_that_is_a_number() -> None:
    assert looks_like_phone(" +420 603 123 456 ")
    assert looks_like_phone("603123456")
    assert not looks_like_phone("Jana Nováková")
    assert not looks_like_phone("Jana 603 123 456")


# --------------------------------------------------------------------------- evasion


@pytest.mark.parametrize(
    "text",
    [
        "4111\u00a01111\u00a01111\u00a01111",  # NBSP
        "4111\u20091111\u20091111\u20091111",  # thin space
        "4111.1111/1111-1111",  # mixed
        "4111\n1111\n1111\n1111",  # line breaks
        "4\u200b111 1111 1\u200d111 11\u2060 11",  # zero-width and other format characters
        "4111 1111 1111 11\u00ad11",  # soft hyphen (Cf)
        "４１１１ １１１１ １１１１ １１１１",  # full-width digits
        "٤١١١ ١١١١ ١١١١ ١١١١",  # Arabic-Indic digits
        "41 11 11 11 11 11 11 11",  # odd grouping
        "4-1-1-1-1-1-1-1-1-1-1-1-1-1-1-1",
    ],
)
def test_evasions_do_not_hide_a_card(text: str) -> None:
    assert mask_text(text)[-16:] == "************1111"
    assert kinds_in(text) == ["card"]


def test_unicode_digits_in_the_last_four_are_shown_in_ascii() -> None:
    assert mask_text("+４４７９６６１９７５４２") == "*********7542"


def test_a_phone_with_format_characters_inside_is_masked() -> None:
    assert mask_text("+44\u200b7966\u200c197542") == "*********7542"


# --------------------------------------------------------------------------- false positives


@pytest.mark.parametrize(
    "text",
    [
        "2024-03-15", "15.03.2024", "03/15/2024", "15. 3. 2024", "14:30", "14:30:15",
        "od 01.02.2024 10:00 do 03.02.2024 12:00",
        "$1,234.56", "1 234,50 Kč", "12 345 678 Kč", "Cena 123 456 789 Kč", "€ 1.234.567,89",
        "order 12345678", "invoice INV-2024-000123",
        "tracking 1Z999AA10123456784", "UPS 1Z 999 AA1 0123 4567 84",
        "DHL tracking 1234567890",
        "192.168.1.1", "10.100.200.250", "1.2.3.4", "v10.0.19045", "verze 20.6.76.8240",
        "1234 5678 9012 3456", "voucher 1234567890123456",
        "IMEI 356938035643809", "ZIP 12345-6789", "účet 123456789/0800",
        "timestamp 1700000000", "room 1204, floor 3", "ISBN 978-80-7363-123-4",
    ],
)  # fmt: skip
def test_known_false_positives_stay_untouched(text: str) -> None:
    assert text == mask_text(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("order 603123457", "order *****3457"),
        ("objednávka č. 2024001234", "objednávka č. ******1234"),
        ("faktura 2024000123", "faktura ******0123"),
        ("ticket 603123456", "ticket *****3456"),
        ("Účet: (772) 920-3458", "Účet: *********3458"),
        ("account +421 308 059 2042", "account **********2042"),
    ],
)
def test_a_label_never_cancels_masking(text: str, expected: str) -> None:
    """When in doubt, mask (SPEC section 6): a number with a phone's layout is masked
    whatever label stands before it, and a ``+`` number of the wrong length too."""
    assert mask_text(text) == expected


# --------------------------------------------------------------------------- policy


def test_a_disabled_policy_passes_text_through() -> None:
    policy = MaskingPolicy(enabled=False)
    assert mask_text("melissa@gmail.com", policy) == "melissa@gmail.com"
    assert find_sensitive("melissa@gmail.com", policy) == []


def test_a_policy_finds_only_its_kinds() -> None:
    text = "melissa@gmail.com +447966197542"
    assert [f.kind for f in find_sensitive(text, MaskingPolicy(kinds={"email"}))] == ["email"]
    assert mask_text(text, MaskingPolicy(kinds=["phone"])) == "melissa@gmail.com *********7542"


def test_policy_kinds_become_a_frozenset() -> None:
    assert frozenset({"card", "iban"}) == MaskingPolicy(kinds=["card", "iban", "card"]).kinds
    assert frozenset({"card", "iban", "ssn", "email", "phone"}) == MaskingPolicy().kinds


@pytest.mark.parametrize(
    "arguments",
    [{"kinds": {"passport"}}, {"kinds": "card"}, {"kinds": 3}, {"enabled": "yes"}],
)
def test_an_invalid_policy_cannot_exist(arguments: dict[str, object]) -> None:
    with pytest.raises(InvalidArgument) as raised:
        MaskingPolicy(**arguments)  # type: ignore[arg-type]
    assert isinstance(raised.value, LivechatError)
    assert raised.value.code == "invalid_argument"


def test_policy_is_frozen_and_keyword_only() -> None:
    policy = MaskingPolicy()
    with pytest.raises(AttributeError):
        policy.enabled = False  # type: ignore[misc]
    with pytest.raises(TypeError):
        MaskingPolicy(True)  # type: ignore[call-arg]


# --------------------------------------------------------------------------- totality


@pytest.mark.parametrize(
    "text", ["", "\ud800", "\udfff4111 1111 1111 1111\ud800", "@", "＠＠", "+", "(", "*" * 10]
)
def test_odd_text_never_raises(text: str) -> None:
    assert mask_text(mask_text(text)) == mask_text(text)


def test_a_100_kb_message_is_masked_quickly() -> None:
    chunk = "Dobrý den, 4111 1111 1111 1111 a jana@seznam.cz, 2024-03-15 1 2 3 4 5 6 7 8 9 0 "
    text = chunk * (100_000 // len(chunk))
    masked = mask_text(text)
    assert "4111 1111" not in masked
    assert "jana@" not in masked
    for pathological in ("1 " * 50_000, "1" * 100_000, "a" * 99_999 + "@", "+1" * 50_000):
        assert mask_text(mask_text(pathological)) == mask_text(pathological)


def test_masked_text_has_nothing_left_to_find() -> None:
    text = "4111 1111 1111 1111 +420 603 123 456 melissa@gmail.com CZ6508000000192000145399"
    masked = mask_text(text)
    assert find_sensitive(masked) == []
    assert masked == "************1111 *********3456 m******@gmail.com ********************5399"


# --------------------------------------------------------------------------- across messages


def test_a_card_sent_as_four_messages_is_masked_in_every_part() -> None:
    texts = ["4111", "1111", "1111", "1111"]
    assert mask_across(texts) == ["****", "****", "****", "1111"]


def test_an_iban_in_two_halves_is_masked_in_both() -> None:
    texts = ["IBAN: CZ65 0800 0000", "1920 0014 5399"]
    assert mask_across(texts) == ["IBAN: ************", "********5399"]


def test_a_phone_split_in_two_is_masked_in_both() -> None:
    assert mask_across(["volejte +44 7966", "197 542"]) == ["volejte *******", "**7542"]


def test_items_within_single_messages_are_masked_too() -> None:
    texts = ["mail jana@seznam.cz", "tel 603 123 456"]
    assert mask_across(texts) == ["mail j***@seznam.cz", "tel *****3456"]


def test_unrelated_numbers_in_unrelated_sentences_do_not_merge() -> None:
    texts = ["Objednávka 4111 dorazila v 11", "1111 korun jsem zaplatil"]
    assert texts == mask_across(texts)


def test_mask_across_a_card_with_the_bin_kept() -> None:
    texts = ["4111 11", "11 1111 1111"]
    assert mask_across(texts, MaskingPolicy(keep_card_bin=True)) == ["411111", "******1111"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a comma ends a label: the serial word belongs to another clause
        ("tracking, my card 4111111111111111", "tracking, my card ************1111"),
        ("Hi SN, my card: 4111 1111 1111 1111", "Hi SN, my card: ************1111"),
        ("IMEI, karta 4111 1111 1111 1111", "IMEI, karta ************1111"),
        ("SN, prosím: 4000000000006 díky, ", "SN, prosím: *********0006 díky, "),
        # an identifier with a fixed format labels only numbers of its lengths
        ("IMEI 4111111111111111", "IMEI ************1111"),
        ("ISBN 4111111111111111", "ISBN ************1111"),
        ("EAN 5555 5555 5555 4444", "EAN ************4444"),
        # ... and keeps ruling out a card at them
        ("IMEI 356938035643809", "IMEI 356938035643809"),
        ("EAN 4006381333931", "EAN 4006381333931"),
    ],
)  # fmt: skip
def test_a_serial_label_rules_out_a_card_only_where_it_labels_one(text: str, expected: str) -> None:
    assert mask_text(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Faker's de_DE, nl_NL and en_IN phone numbers dialled abroad with a code nobody has
        ("(00838) 650186", "(********0186"),
        ("0087-413844", "*******3844"),
        ("00280726708", "*******6708"),
        ("000 7031574", "******1574"),
        ("+280726708", "******6708"),
        # too short to be dialled anywhere, or not a number at all
        ("00 12", "00 12"),
        ("+0.5", "+0.5"),
    ],
)  # fmt: skip
def test_a_number_dialled_abroad_is_a_phone_whatever_its_country_code(
    text: str, expected: str
) -> None:
    assert mask_text(text) == expected
