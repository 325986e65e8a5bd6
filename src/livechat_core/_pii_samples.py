"""Valid sensitive items in the formats customers type them, and chat text around them.

Used by the masking tests, by :mod:`livechat_core._pii_strategies` (Hypothesis strategies
for users' own tests) and by ``benchmarks/bench_masking.py``. Everything is drawn from a
``random.Random`` passed in, so a seed reproduces a corpus exactly. No I/O.

Each generator returns an :class:`Item`: the text as typed and its kind. Formats cover
what SPEC section 6 promises to catch: every card network, every IBAN country, SSNs,
e-mail addresses, phone numbers of US, GB, CZ, SK, DE, FR, PL, ES, IT and IN, in
compact, grouped and evasive forms (odd separators, zero-width characters, full-width
and Arabic-Indic digits).
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable
from typing import Any

import attrs

from ._masking import IBAN_LENGTHS, IBAN_STRUCTURES

__all__ = [
    "Item",
    "LabelledMessage",
    "chat_corpus",
    "make_card",
    "make_email",
    "make_iban",
    "make_item",
    "make_negative",
    "make_phone",
    "make_ssn",
    "wrap_in_chat",
]


@attrs.frozen(kw_only=True)
class Item:
    """A sensitive item as a customer would type it."""

    kind: str
    text: str


@attrs.frozen(kw_only=True)
class LabelledMessage:
    """A chat message and the one item planted in it (``kind`` ``None`` for none)."""

    text: str
    kind: str | None = None
    start: int = 0
    end: int = 0


# --------------------------------------------------------------------------- evasions

_ZERO_WIDTH = ("\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad")
_SPACES = (" ", " ", " ", "\u00a0", "\u2009", "\u202f", "\u2007")
_SEPARATORS = (" ", "-", ".", "/", "\u00a0", "\u2009", "\n", " - ", "\u2013", "_")
_FULL_WIDTH_OFFSET = 0xFF10 - 0x30
_DIGIT_SCRIPTS = (0xFF10, 0x0660, 0x06F0, 0x0966, 0x09E6, 0x0E50, 0x1D7CE)


def _digits(rng: random.Random, count: int) -> str:
    return "".join(rng.choice(string.digits) for _ in range(count))


def _group(digits: str, sizes: list[int], separator: str) -> str:
    parts, position = [], 0
    for size in sizes:
        if position >= len(digits):
            break
        parts.append(digits[position : position + size])
        position += size
    if position < len(digits):
        parts.append(digits[position:])
    return separator.join(parts)


def _even_groups(digits: str, size: int, separator: str) -> str:
    return separator.join(digits[k : k + size] for k in range(0, len(digits), size))


def _translate_digits(text: str, base: int) -> str:
    return "".join(chr(base + ord(c) - 48) if "0" <= c <= "9" else c for c in text)


def _evade(rng: random.Random, text: str) -> str:
    """One evasion of the source's list: zero-width characters, Unicode digits, odd spaces."""
    choice = rng.randrange(4)
    if choice == 0:
        out = []
        for char in text:
            out.append(char)
            if char.isdigit() and rng.random() < 0.4:
                out.append(rng.choice(_ZERO_WIDTH))
        return "".join(out).rstrip("".join(_ZERO_WIDTH))
    if choice == 1:
        return _translate_digits(text, rng.choice(_DIGIT_SCRIPTS))
    if choice == 2:
        return "".join(rng.choice(_SPACES[3:]) if c == " " else c for c in text)
    return text.replace(" ", "\n") if " " in text else text


# --------------------------------------------------------------------------- cards

_CARD_NETWORKS: tuple[tuple[str, tuple[str, ...], tuple[int, ...]], ...] = (
    ("visa", ("4",), (13, 16, 19)),
    ("mastercard", ("51", "52", "53", "54", "55"), (16,)),
    ("mastercard-2", ("2221", "2300", "2500", "2630", "2720"), (16,)),
    ("amex", ("34", "37"), (15,)),
    ("discover", ("6011", "644", "649", "65"), (16, 19)),
    ("jcb", ("3528", "3550", "3589"), (16, 19)),
    ("diners", ("300", "305", "36", "38"), (14, 16)),
    ("unionpay", ("62", "81"), (16, 17, 18, 19)),
    ("maestro", ("5018", "5020", "5038", "6304", "6759", "6761"), (13, 16, 19)),
    ("mir", ("2200", "2204"), (16,)),
    ("rupay", ("60", "508", "82"), (16,)),
    ("troy", ("9792",), (16,)),
    ("uatp", ("1",), (15,)),
)


def _luhn_complete(partial: str) -> str:
    total = 0
    for position, char in enumerate(reversed(partial)):
        value = int(char)
        if position % 2 == 0:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return partial + str((10 - total % 10) % 10)


def card_number(rng: random.Random) -> str:
    """A Luhn-valid card number of a random network, digits only."""
    _, prefixes, lengths = rng.choice(_CARD_NETWORKS)
    prefix, length = rng.choice(prefixes), rng.choice(lengths)
    return _luhn_complete(prefix + _digits(rng, length - len(prefix) - 1))


def make_card(rng: random.Random) -> Item:
    digits = card_number(rng)
    style = rng.randrange(10)
    if style == 0:
        text = digits
    elif style in (1, 2):
        text = _even_groups(digits, 4, " ")
    elif style == 3:
        text = _even_groups(digits, 4, rng.choice(("-", ".", "/", "\u00a0", "\u2009")))
    elif style == 4 and len(digits) == 15:
        text = _group(digits, [4, 6, 5], rng.choice((" ", "-")))
    elif style == 5:
        # mixed separators between the groups
        groups = [digits[k : k + 4] for k in range(0, len(digits), 4)]
        text = groups[0] + "".join(rng.choice(_SEPARATORS) + g for g in groups[1:])
    elif style == 6:
        text = _even_groups(digits, rng.choice((2, 3, 5)), rng.choice((" ", "-", ".")))
    else:
        text = _evade(rng, _even_groups(digits, 4, " "))
    return Item(kind="card", text=text)


# --------------------------------------------------------------------------- IBANs

_BBAN_ALPHABETS = {
    "n": string.digits,
    "a": string.ascii_uppercase,
    "c": string.digits + string.ascii_uppercase,
}


def iban_number(rng: random.Random, country: str | None = None) -> str:
    """A mod-97-valid IBAN of ``country`` (random when ``None``), compact and upper case,
    with the structure of that country's registry entry (letters where it has letters;
    where it allows either, a letter one time in four)."""
    country = country or rng.choice(sorted(IBAN_STRUCTURES))
    bban = ""
    for part in IBAN_STRUCTURES[country].split(","):
        kind = part[-1]
        for _ in range(int(part[:-1])):
            if kind == "c":
                bban += rng.choice(_BBAN_ALPHABETS["a" if rng.random() < 0.25 else "n"])
            else:
                bban += rng.choice(_BBAN_ALPHABETS[kind])
    rearranged = bban + country + "00"
    number = int("".join(str(int(c, 36)) for c in rearranged))
    check = 98 - number % 97
    return f"{country}{check:02d}{bban}"


def make_iban(rng: random.Random) -> Item:
    number = iban_number(rng)
    style = rng.randrange(7)
    if style == 0:
        text = number
    elif style in (1, 2):
        text = _even_groups(number, 4, " ")
    elif style == 3:
        text = _even_groups(number, 4, " ").lower()
    elif style == 4:
        text = _even_groups(number, 4, rng.choice(("-", "\u00a0", ".", "\u2009")))
    elif style == 5:
        text = number[:2] + " " + number[2:4] + " " + _even_groups(number[4:], 4, " ")
    else:
        text = _evade(rng, _even_groups(number, 4, " "))
    return Item(kind="iban", text=text)


# --------------------------------------------------------------------------- SSNs

_SSN_KEYWORDS = (
    "SSN",
    "SSN:",
    "SSN#",
    "social security number",
    "Social Security no.",
    "soc. sec.",
)


def ssn_number(rng: random.Random) -> str:
    area = rng.choice([a for a in range(1, 900) if a != 666])
    return f"{area:03d}{rng.randint(1, 99):02d}{rng.randint(1, 9999):04d}"


def make_ssn(rng: random.Random) -> Item:
    """A US SSN; the bare and oddly separated forms come with the keyword they need."""
    digits = ssn_number(rng)
    style = rng.randrange(6)
    if style in (0, 1):
        return Item(kind="ssn", text=_group(digits, [3, 2, 4], "-"))
    if style == 2:
        return Item(kind="ssn", text=_group(digits, [3, 2, 4], " "))
    keyword = rng.choice(_SSN_KEYWORDS)
    if style == 3:
        number = digits
    elif style == 4:
        number = _group(digits, [3, 2, 4], rng.choice((".", "/", "\u2009", " - ")))
    else:
        number = _evade(rng, _group(digits, [3, 2, 4], "-"))
    return Item(kind="ssn", text=f"{keyword} {number}")


# --------------------------------------------------------------------------- e-mails

_FIRST = ("jana", "petr", "melissa", "john.smith", "o.brien", "anna-maria", "jiří", "zoë", "user")
_DOMAINS = (
    "gmail.com", "seznam.cz", "mail.example.co.uk", "firma.cz", "outlook.de", "post.sk",
    "uni-praha.cz", "münchen.de", "correo.españa", "xn--80ak6aa92e.com", "example.org",
)  # fmt: skip


def make_email(rng: random.Random) -> Item:
    local = rng.choice(_FIRST)
    if rng.random() < 0.3:
        local += str(rng.randint(1, 9999))
    if rng.random() < 0.25:
        local += "+" + rng.choice(("shop", "tag", "2024", "newsletter"))
    domain = rng.choice(_DOMAINS)
    if rng.random() < 0.2:
        domain = rng.choice(("eu", "mail", "support", "cz")) + "." + domain
    at = "＠" if rng.random() < 0.1 else "@"
    if rng.random() < 0.2:
        local = local.capitalize()
    return Item(kind="email", text=f"{local}{at}{domain}")


# --------------------------------------------------------------------------- phones


def _nanp(rng: random.Random) -> str:
    return str(rng.randint(2, 9)) + _digits(rng, 2) + str(rng.randint(2, 9)) + _digits(rng, 6)


def _phone_us(rng: random.Random) -> str:
    n = _nanp(rng)
    a, b, c = n[:3], n[3:6], n[6:]
    return rng.choice((
        f"({a}) {b}-{c}", f"{a}-{b}-{c}", f"{a}.{b}.{c}", f"{a} {b} {c}", f"+1 {a} {b} {c}",
        f"+1-{a}-{b}-{c}", f"+1 ({a}) {b}-{c}", f"1-{a}-{b}-{c}", f"1 ({a}) {b}-{c}", f"+1{n}",
        f"{a}{b}{c}",
    ))  # fmt: skip


def _phone_gb(rng: random.Random) -> str:
    mobile = "7" + _digits(rng, 9)
    london = "20" + _digits(rng, 8)
    city = "1" + rng.choice(("61", "21", "31", "13")) + _digits(rng, 7)
    return rng.choice((
        f"0{mobile[:4]} {mobile[4:]}", f"+44 {mobile[:4]} {mobile[4:]}", f"+44{mobile}",
        f"+44 (0){london[:2]} {london[2:6]} {london[6:]}",
        f"0{london[:2]} {london[2:6]} {london[6:]}",
        f"0{city[:3]} {city[3:6]} {city[6:]}", f"0044 {mobile[:4]} {mobile[4:]}",
        f"+44 (0) {mobile[:4]} {mobile[4:]}", f"0{mobile}",
    ))  # fmt: skip


def _phone_cz_sk(rng: random.Random) -> str:
    cz = rng.choice("67") + _digits(rng, 8)
    sk = "9" + rng.choice("01456") + _digits(rng, 7)
    return rng.choice((
        _even_groups(cz, 3, " "), f"+420 {_even_groups(cz, 3, ' ')}", f"+420{cz}", cz,
        f"00420 {_even_groups(cz, 3, ' ')}", f"420 {_even_groups(cz, 3, ' ')}",
        f"+420 {cz[:3]}-{cz[3:6]}-{cz[6:]}", f"0{sk[:3]} {sk[3:6]} {sk[6:]}",
        f"+421 {_even_groups(sk, 3, ' ')}", f"+421{sk}", f"02/{_digits(rng, 4)} {_digits(rng, 4)}",
        f"00421 {sk[:3]} {sk[3:6]} {sk[6:]}",
    ))  # fmt: skip


def _phone_de(rng: random.Random) -> str:
    mobile = "15" + rng.choice("1279") + _digits(rng, 8)
    berlin = "30" + _digits(rng, 8)
    return rng.choice((
        f"0{mobile[:3]} {mobile[3:]}", f"+49 {mobile[:3]} {mobile[3:]}", f"+49 (0){mobile}",
        f"0{berlin[:2]} {berlin[2:]}", f"+49 {berlin[:2]} {berlin[2:]}",
        f"0{berlin[:2]}/{berlin[2:]}",
        f"0{mobile[:3]}-{mobile[3:]}", f"(0{berlin[:2]}) {berlin[2:6]} {berlin[6:]}",
        f"+49 (0) {berlin[:2]} {berlin[2:]}",
    ))  # fmt: skip


def _phone_fr(rng: random.Random) -> str:
    n = rng.choice("1234567") + _digits(rng, 8)
    pairs = [n[1:3], n[3:5], n[5:7], n[7:9]]
    return rng.choice((
        f"0{n[0]} " + " ".join(pairs), f"0{n[0]}." + ".".join(pairs), f"0{n}",
        f"+33 {n[0]} " + " ".join(pairs), f"+33{n}", f"+33 (0){n[0]} " + " ".join(pairs),
        f"0{n[0]}-" + "-".join(pairs),
    ))  # fmt: skip


def _phone_pl_es(rng: random.Random) -> str:
    pl = rng.choice("5678") + _digits(rng, 8)
    pl_land = "12" + _digits(rng, 7)
    es = rng.choice("6789") + _digits(rng, 8)
    return rng.choice((
        _even_groups(pl, 3, " "), f"+48 {_even_groups(pl, 3, ' ')}", f"+48{pl}",
        f"{pl_land[:2]} {pl_land[2:5]} {pl_land[5:7]} {pl_land[7:]}",
        f"+48 {pl_land[:2]} {pl_land[2:5]} {pl_land[5:7]} {pl_land[7:]}",
        _even_groups(es, 3, " "), f"+34 {_even_groups(es, 3, ' ')}",
        f"{es[:3]} {es[3:5]} {es[5:7]} {es[7:]}", f"+34 {es[:3]} {es[3:5]} {es[5:7]} {es[7:]}",
        f"0034 {es}", es,
    ))  # fmt: skip


def _phone_it_in(rng: random.Random) -> str:
    it_mobile = "3" + _digits(rng, 9)
    it_land = "0" + rng.choice("2689") + _digits(rng, 7)
    india = rng.choice("6789") + _digits(rng, 9)
    return rng.choice((
        f"{it_mobile[:3]} {it_mobile[3:6]} {it_mobile[6:]}", f"+39 {it_mobile[:3]} {it_mobile[3:]}",
        f"+39{it_mobile}", f"{it_land[:2]} {it_land[2:]}", f"+39 {it_land[:2]} {it_land[2:]}",
        f"{india[:5]} {india[5:]}", f"+91 {india[:5]} {india[5:]}", f"+91-{india}", f"0{india}",
        f"+91 {india}", india,
    ))  # fmt: skip


_PHONE_COUNTRIES: tuple[Callable[[random.Random], str], ...] = (
    _phone_us,
    _phone_gb,
    _phone_cz_sk,
    _phone_de,
    _phone_fr,
    _phone_pl_es,
    _phone_it_in,
)


def make_phone(rng: random.Random) -> Item:
    text = rng.choice(_PHONE_COUNTRIES)(rng)
    # A number ending in two groups of 000 reads as an amount in thousands (600 000 000)
    # and is masked only beside a phone word; subscribers are not given such numbers.
    if "".join(c for c in text if c.isdigit()).endswith("000000"):
        last = max(i for i, c in enumerate(text) if c.isdigit())
        text = text[:last] + "7" + text[last + 1 :]
    if rng.random() < 0.15:
        text = _evade(rng, text)
    return Item(kind="phone", text=text)


_MAKERS: dict[str, Callable[[random.Random], Item]] = {
    "card": make_card,
    "iban": make_iban,
    "ssn": make_ssn,
    "email": make_email,
    "phone": make_phone,
}


def make_item(rng: random.Random, kind: str | None = None) -> Item:
    """A valid item of ``kind`` (random when ``None``) in a random format."""
    return _MAKERS[kind or rng.choice(sorted(_MAKERS))](rng)


# --------------------------------------------------------------------------- chat text

_BEFORE = (
    "", "Dobrý den, ", "Hi, ", "my details: ", "Moje číslo je ", "here it is: ",
    "Zde: ", "pls use ", "OK 👍 ", "Ahoj, posílám ", "Prosím o kontrolu: ", "Děkuji, ",
    "hallo, meine Angaben: ", "voici: ", "Buongiorno, ", "Hola, ", "Dzień dobry, ",
    "objednávku jsem zaplatil(a) 3 dny zpět, ", "tady to je 🙂 ", "1) ",
)  # fmt: skip
_AFTER = (
    "", ".", " děkuji", " thanks!", " 🙏", ", ok?", " (osobní)", " – díky", ". Díky moc 😊",
    " and that's it", "\nS pozdravem Jana", " ok", "!", " 👍", " prosím",
)  # fmt: skip


def wrap_in_chat(rng: random.Random, item: Item) -> LabelledMessage:
    """``item`` inside a chat sentence, with its position in it."""
    before, after = rng.choice(_BEFORE), rng.choice(_AFTER)
    text = before + item.text + after
    return LabelledMessage(
        text=text, kind=item.kind, start=len(before), end=len(before) + len(item.text)
    )


_PLAIN = (
    "Dobrý den, potřebuji pomoct s objednávkou.", "Hello, is anyone there?",
    "Děkuji za rychlou odpověď!", "Kdy mi to přijde?", "Can I change my delivery address?",
    "To je všechno, díky 👍", "Nefunguje mi přihlášení do aplikace 😢", "ok", "super",
    "Mám dotaz ohledně reklamace.", "Where is my package?", "Ich habe eine Frage zur Rechnung.",
    "Bonjour, j'ai un problème avec ma commande.", "Hola, necesito ayuda.",
)  # fmt: skip


def _luhn_invalid_digits(rng: random.Random, length: int) -> str:
    while True:
        digits = str(rng.randint(1, 9)) + _digits(rng, length - 1)
        if _luhn_complete(digits[:-1]) != digits:
            return digits


def _date(rng: random.Random) -> str:
    y, m, d = rng.randint(1990, 2030), rng.randint(1, 12), rng.randint(1, 28)
    return rng.choice((
        f"{y}-{m:02d}-{d:02d}", f"{d:02d}.{m:02d}.{y}", f"{m:02d}/{d:02d}/{y}", f"{d}. {m}. {y}",
        f"{d}.{m}.{y}", f"{y}/{m:02d}/{d:02d}", f"{d:02d}-{m:02d}-{y}",
    ))  # fmt: skip


def make_negative(rng: random.Random) -> str:
    """A message full of numbers that are none of the kinds (the hard negatives)."""
    n = rng.randint
    h, mi = n(0, 23), n(0, 59)
    amount = n(1, 999_999)
    order = n(10_000_000, 99_999_999)
    templates: tuple[Callable[[], str], ...] = (
        lambda: f"Objednávka č. {n(100000, 99999999)} ze dne {_date(rng)}",
        lambda: f"order {order} placed on {_date(rng)} at {h}:{mi:02d}",
        lambda: f"My order number is {n(100_000_000, 9_999_999_999)}",
        lambda: f"invoice INV-{n(2019, 2026)}-{n(0, 999999):06d}",
        lambda: f"faktura {n(2019, 2026)}{n(0, 999999):06d} je po splatnosti",
        lambda: f"tracking 1Z{n(100, 999)}AA1{n(10**9, 10**10 - 1)}",
        lambda: f"DHL tracking {n(10**9, 10**10 - 1)}",
        lambda: f"zásilka {rng.choice(('Z', 'DR', 'CZ'))}{n(10**8, 10**9)}",
        lambda: f"Cena je {amount:,} Kč".replace(",", " "),
        lambda: f"Total: ${amount / 100:,.2f}",
        lambda: f"zaplatila jsem {amount // 100} {amount % 1000:03d},50 Kč",
        lambda: f"Je to {n(100, 999)} {n(100, 999)} {n(100, 999)} Kč",
        lambda: f"€ {n(1, 999)}.{n(0, 999):03d},{n(0, 99):02d}",
        lambda: f"server {n(1, 223)}.{n(0, 255)}.{n(0, 255)}.{n(1, 254)} nejede",
        lambda: f"verze {n(1, 20)}.{n(0, 9)}.{n(0, 99)}.{n(0, 9999)}",
        lambda: f"Windows v10.0.{n(10000, 22999)}",
        lambda: f"build {n(10000, 99999)}.{n(1000, 9999)}",
        lambda: f"voucher {_even_groups(_luhn_invalid_digits(rng, 16), 4, ' ')}",
        lambda: f"dárkový kód {_luhn_invalid_digits(rng, 16)}",
        lambda: f"Termín {_date(rng)} – {_date(rng)}, {h}:{mi:02d}–{(h + 1) % 24}:{mi:02d}",
        lambda: f"{_date(rng)} {h:02d}:{mi:02d}",
        lambda: f"PSČ {n(100, 799)} {n(0, 99):02d}, č.p. {n(1, 3000)}",
        lambda: f"ZIP {n(10000, 99999)}-{n(1000, 9999)}",
        lambda: f"účet {n(10**8, 10**10)}/{rng.choice(('0800', '0100', '0300', '2010'))}",
        lambda: f"IMEI {_luhn_complete('35' + _digits(rng, 12))}",
        lambda: f"EAN {_luhn_invalid_digits(rng, 13)}",
        lambda: f"ISBN 978-80-{n(1000, 9999)}-{n(100, 999)}-{n(0, 9)}",
        lambda: f"Případ #{n(100000, 999999)}, ticket {n(1000000, 9999999)}",
        lambda: f"sleva {n(5, 70)} %, platí do {_date(rng)}",
        lambda: f"Mám {n(2, 12)} ks, {n(2, 50)} kg, {n(1, 900)} km",
        lambda: f"rok {n(1990, 2026)}, {n(1, 31)}. den",
        lambda: f"kód {n(100000, 999999)}",
        lambda: f"SKU {n(10**6, 10**9)}",
        lambda: f"Ref: {n(10**8, 10**11)}",
        lambda: f"{n(1, 9)}x {n(100, 999)} Kč = {n(1000, 9999)} Kč",
        lambda: rng.choice(_PLAIN),
        lambda: rng.choice(_PLAIN) + f" ({h}:{mi:02d})",
        lambda: f"timestamp {n(1_500_000_000, 1_799_999_999)}",
        lambda: f"bydlím Vinohradská {n(1, 200)}/{n(1, 50)}, Praha {n(1, 10)}",
    )  # fmt: skip
    return rng.choice(templates)()


def chat_corpus(count: int, seed: int = 0, share_with_item: float = 0.15) -> list[LabelledMessage]:
    """``count`` chat messages; ``share_with_item`` of them carry exactly one item."""
    rng = random.Random(seed)
    kinds = sorted(_MAKERS)
    corpus: list[LabelledMessage] = []
    for index in range(count):
        if rng.random() < share_with_item:
            corpus.append(wrap_in_chat(rng, _MAKERS[kinds[index % len(kinds)]](rng)))
        elif rng.random() < 0.6:
            corpus.append(LabelledMessage(text=make_negative(rng)))
        else:
            corpus.append(LabelledMessage(text=rng.choice(_PLAIN)))
    return corpus


# --------------------------------------------------------------------------- public generators

FAKER_LOCALES: tuple[str, ...] = (
    "en_US", "en_GB", "en_IE", "en_AU", "en_CA", "en_IN", "en_NZ", "en_PH", "cs_CZ", "sk_SK",
    "de_DE", "de_AT", "de_CH", "fr_FR", "fr_CH", "fr_CA", "it_IT", "es_ES", "es_MX", "es_AR",
    "es_CO", "pt_PT", "pt_BR", "nl_NL", "nl_BE", "da_DK", "no_NO", "sv_SE", "fi_FI", "pl_PL",
    "hu_HU", "ro_RO", "bg_BG", "el_GR", "tr_TR", "ru_RU", "uk_UA", "lt_LT", "lv_LV", "et_EE",
    "hr_HR", "sl_SI", "he_IL", "ar_AE", "ar_SA", "fa_IR", "hi_IN", "bn_BD", "th_TH", "ja_JP",
    "zh_CN", "zh_TW", "ko_KR", "id_ID", "vi_VN", "az_AZ",
)  # fmt: skip
"""Locales of Faker that the public corpus draws from (Faker is a test-only dependency)."""

FAKER_CARD_TYPES: tuple[str, ...] = (
    "visa16", "visa13", "visa19", "mastercard", "amex", "discover", "diners", "jcb15", "jcb16",
    "maestro",
)  # fmt: skip

NATIONAL_FORM_REGIONS: tuple[str, ...] = (
    "US", "GB", "CZ", "SK", "DE", "FR", "PL", "ES", "IT", "IN", "AT", "BE", "CH", "DK", "FI",
    "NL", "NO", "PT", "SE", "IE", "AU", "BR", "RU", "UA", "TR", "RO", "HU", "GR", "LT", "LV",
    "EE", "JP", "CN", "MX", "CA", "ZA", "NZ", "IL",
)  # fmt: skip
"""Regions whose phone numbers are promised in their national layouts too (SPEC section 6)."""

_CARD_LAYOUTS: tuple[Callable[[str], str], ...] = (
    lambda digits: digits,
    lambda digits: _even_groups(digits, 4, " "),
    lambda digits: _even_groups(digits, 4, "-"),
    lambda digits: _even_groups(digits, 8, " "),
    lambda digits: digits[:6] + " " + digits[6:],
)


def public_items(seed: int = 0, per_generator: int = 3) -> list[Item]:
    """Items made by generators no one here wrote: Faker's cards, IBANs, e-mails, phones and
    SSNs in :data:`FAKER_LOCALES`; the ``phonenumbers`` example number of every region and
    type in international, E.164 and (for :data:`NATIONAL_FORM_REGIONS`) national form; and
    ``schwifty``'s random IBANs of every country it knows (ISO 13616 and the partial ones).

    Needs the test extra (``faker``, ``phonenumbers``, ``schwifty``).
    """
    import phonenumbers
    from faker import Faker
    from schwifty import IBAN

    rng = random.Random(seed)
    items: list[Item] = []
    Faker.seed(seed)
    for locale in FAKER_LOCALES:
        fake = Faker(locale)
        for _ in range(per_generator):
            card = fake.credit_card_number()
            items.append(Item(kind="card", text=rng.choice(_CARD_LAYOUTS)(card)))
            items.append(Item(kind="email", text=fake.email()))
            phone = _faker_value(fake, "phone_number")
            if phone:
                items.append(Item(kind="phone", text=phone))
            iban = _faker_value(fake, "iban")
            if iban[:2].upper() in IBAN_LENGTHS and len(iban) == IBAN_LENGTHS[iban[:2].upper()]:
                items.append(Item(kind="iban", text=rng.choice((iban, _even_groups(iban, 4, " ")))))
    us = Faker("en_US")
    for _ in range(per_generator * 10):
        items.append(Item(kind="ssn", text=us.ssn()))
    for card_type in FAKER_CARD_TYPES:
        for _ in range(per_generator * 5):
            card = us.credit_card_number(card_type)
            items.append(Item(kind="card", text=rng.choice(_CARD_LAYOUTS)(card)))
    formats = phonenumbers.PhoneNumberFormat
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for number_type in range(11):
            example = phonenumbers.example_number_for_type(region, number_type)
            if example is None:
                continue
            items.append(
                Item(kind="phone", text=phonenumbers.format_number(example, formats.INTERNATIONAL))
            )
            items.append(Item(kind="phone", text=phonenumbers.format_number(example, formats.E164)))
            if region in NATIONAL_FORM_REGIONS:
                items.append(
                    Item(kind="phone", text=phonenumbers.format_number(example, formats.NATIONAL))
                )
    for country in sorted(_schwifty_countries()):
        for _ in range(per_generator):
            try:
                iban = IBAN.random(country_code=country, random=rng, use_registry=False)
            except Exception:
                continue
            text = str(iban.compact) if rng.random() < 0.5 else iban.formatted
            items.append(Item(kind="iban", text=text))
    return items


def _faker_value(fake: Any, provider: str) -> str:
    """A value of one of Faker's providers, or ``""`` where the locale lacks it."""
    try:
        return str(getattr(fake, provider)())
    except AttributeError:
        return ""


def _schwifty_countries() -> set[str]:
    import json
    from importlib import resources

    countries: set[str] = set()
    for name in ("generated.json", "overwrite.json"):
        data = resources.files("schwifty").joinpath("iban_registry", name).read_text("utf-8")
        countries.update(json.loads(data))
    return countries


PUBLIC_SENTENCES: tuple[tuple[str, str], ...] = (
    ("Here it is: ", ", thanks."),
    ("Moje číslo je ", ", děkuji."),
    ("ok ", ""),
    ("", " - please check"),
    ("Účet: ", "\nDíky"),
    ("Card: ", " ok?"),
)


def public_messages(seed: int = 0, per_generator: int = 3) -> list[LabelledMessage]:
    """:func:`public_items`, each inside an English or a Czech sentence."""
    rng = random.Random(seed)
    messages = []
    for item in public_items(seed, per_generator):
        before, after = rng.choice(PUBLIC_SENTENCES)
        messages.append(
            LabelledMessage(
                text=before + item.text + after,
                kind=item.kind,
                start=len(before),
                end=len(before) + len(item.text),
            )
        )
    return messages
