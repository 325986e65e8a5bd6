"""Finding and masking PCI and PII in chat text (SPEC section 6), as pure, total functions.

Theory of operation
-------------------
Detection never rewrites the text: it reads it where it stands, so every finding is a span of
the text as written, separators and invisible characters included.

* **Numbers** (cards, SSNs, phones) are read as *runs*: digit groups joined by short separator
  chunks of any kind and mix (spaces of every width, dashes, dots, slashes, parentheses, line
  breaks). Zero-width and other format characters (Unicode ``Cf``) inside a group are skipped, and
  every Unicode decimal digit counts as its ASCII value. Each run is then judged window by window
  (a window is a sequence of whole groups): a card needs a plausible issuer prefix, 13–19 digits
  and the Luhn check; a formatted SSN needs the ``AAA-GG-SSSS`` shape (a bare nine-digit one needs a
  keyword such as "SSN" before it) and the area/group/serial rules; a phone needs either a ``+`` or
  ``00`` country code with the number of digits that country uses, or a national shape of the
  supported countries that fills a whole run, is not glued to a word and is not a date, an IP
  address, an amount or an order/invoice/tracking number by its context.
* **IBANs** start at a two-letter country code of the ISO 13616 registry and two check digits;
  exactly as many letters and digits as that country's IBAN has are collected across separators;
  they must stand where the country's BBAN structure (:data:`IBAN_STRUCTURES`, ``4a,6n,8n``)
  has letters and digits, and the mod-97 check decides.
* **E-mail addresses** are matched by one pattern (Unicode letters, plus tags, sub-domains, IDN
  labels, full-width ``＠``).

When candidates overlap, the stronger proof wins: e-mail (when the policy masks e-mails), IBAN
(country, length and mod 97), card (issuer and Luhn), SSN, phone. Candidates of every number kind
take part in that contest even when the policy does not mask them, so a card-only policy never
masks digits that are really part of an IBAN.

Masking a number keeps only its last four digits (and, with ``keep_card_bin``, a card's first
six): whitespace and format characters are dropped, every other character becomes ``*``, the
stars come first and the kept digits, written in ASCII, last. The result of a mask therefore ends
in ``***`` followed by four ASCII digits; such a tail (and a six-digit head right before ``***``) is
never read again as part of a new number, which is what makes masking idempotent.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import hmac
import html
import itertools
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final, NamedTuple

import attrs
import regex

from ._errors import InvalidArgument

__all__ = [
    "ALL_KINDS",
    "MASK_STYLES",
    "Detector",
    "Finding",
    "MaskingPolicy",
    "digit_count",
    "find_sensitive",
    "looks_like_phone",
    "mask_across",
    "mask_text",
    "may_hold",
    "number_head_end",
    "number_tail_start",
    "redact_cards",
]

ALL_KINDS: Final = frozenset({"card", "iban", "ssn", "email", "phone"})


def _to_kinds(value: Iterable[str]) -> frozenset[str]:
    if isinstance(value, str | bytes):
        raise InvalidArgument(f"kinds must be a collection of kind names, not {value!r}")
    try:
        kinds = frozenset(value)
    except TypeError:
        raise InvalidArgument(f"kinds must be a collection of kind names, not {value!r}") from None
    if not all(isinstance(kind, str) for kind in kinds):
        raise InvalidArgument(f"kinds must be kind names (str), not {value!r}")
    return kinds


def _must_be_bool(instance: object, attribute: attrs.Attribute[bool], value: object) -> None:
    if not isinstance(value, bool):
        raise InvalidArgument(f"{attribute.name} must be a bool, not {value!r}")


Finder = Callable[[str], Iterable[tuple[int, int]]]
"""Finds items of one kind: given a text, yields ``(start, end)`` spans of it."""
Masker = Callable[[str], str]
"""Masks one item: given the item as written, returns what is shown instead."""

_KIND_NAME: Final = regex.compile(r"[a-z][a-z0-9_]{0,31}")


def _check_kind_name(instance: object, attribute: attrs.Attribute[str], value: object) -> None:
    if not isinstance(value, str) or not _KIND_NAME.fullmatch(value):
        raise InvalidArgument(f"a detector's kind must be a lower-case name, not {value!r}")
    if value in ALL_KINDS:
        raise InvalidArgument(f"{value!r} is a built-in kind; give your detector a name of its own")


def _check_callable(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and not callable(value):
        raise InvalidArgument(f"a detector's {attribute.name} must be callable, not {value!r}")


@attrs.frozen(kw_only=True)
class Detector:
    """A kind of sensitive item of your own (a passport or national id number, say).

    Attributes:
        kind: its name, as findings and labels report it (``"passport"`` → ``[PASSPORT]``).
        find: given a text, yields the ``(start, end)`` spans of the items in it; it must be
            total and linear like the built-in finders (no backtracking regular expression).
        mask: how an item is shown with the ``"stars"`` style; ``None`` → every character but
            the last four digits becomes ``*``, like a number.

    Add it to a policy: ``MaskingPolicy(detectors=(passports,))`` masks passports besides the
    policy's ``kinds``. When it overlaps a built-in finding, an e-mail, IBAN or card wins.
    """

    kind: str = attrs.field(validator=_check_kind_name)
    find: Finder = attrs.field(validator=_check_callable)
    mask: Masker | None = attrs.field(default=None, validator=_check_callable)


def _to_detectors(value: Iterable[Detector]) -> tuple[Detector, ...]:
    try:
        detectors = tuple(value)
    except TypeError:
        raise InvalidArgument(
            f"detectors must be a collection of Detector, not {value!r}"
        ) from None
    if not all(isinstance(d, Detector) for d in detectors):
        raise InvalidArgument(f"detectors must be Detector values, not {value!r}")
    return detectors


MASK_STYLES: Final = ("stars", "label", "token")


@attrs.frozen(kw_only=True)
class MaskingPolicy:
    """The administrator's "Mask sensitive customer data" setting, as a value.

    Attributes:
        enabled: the switch; with masking off every text passes through unchanged.
        kinds: which built-in kinds are masked (any iterable of ``"card"``, ``"iban"``,
            ``"ssn"``, ``"email"``, ``"phone"``; stored as a frozenset).
        keep_card_bin: also show a card's first six digits (PCI DSS allows at most the BIN and
            the last four); by default only the last four stay.
        detectors: kinds of your own (:class:`Detector`), masked besides ``kinds``.
        style: how an item is shown: ``"stars"`` (the source's rule, the default: all but the
            last four digits become ``*``), ``"label"`` (``[CARD]``, ``[EMAIL]``…) or
            ``"token"`` (``[CARD:hkfmbdlaopce]``: a keyed HMAC-SHA256 of the item, the same
            for the same item and key, so analytics can count repeats without seeing it).
        token_key: the secret key of the ``"token"`` style (bytes, at least 16); required
            by it and refused by the others.
    """

    enabled: bool = attrs.field(default=True, validator=_must_be_bool)
    kinds: frozenset[str] = attrs.field(default=ALL_KINDS, converter=_to_kinds)
    keep_card_bin: bool = attrs.field(default=False, validator=_must_be_bool)
    detectors: tuple[Detector, ...] = attrs.field(default=(), converter=_to_detectors)
    style: str = attrs.field(default="stars")
    token_key: bytes | None = attrs.field(default=None, repr=False)

    def __attrs_post_init__(self) -> None:
        own = {d.kind for d in self.detectors}
        if len(own) != len(self.detectors):
            raise InvalidArgument("two detectors of one kind")
        unknown = sorted(repr(kind) for kind in self.kinds if kind not in ALL_KINDS | own)
        if unknown:
            raise InvalidArgument(
                f"unknown masking kind(s) {', '.join(unknown)}; known: "
                f"{', '.join(sorted(ALL_KINDS | own))}"
            )
        if self.style not in MASK_STYLES:
            raise InvalidArgument(
                f"style must be one of {', '.join(MASK_STYLES)}, not {self.style!r}"
            )
        if self.style == "token":
            if not isinstance(self.token_key, bytes) or len(self.token_key) < 16:
                raise InvalidArgument("the token style needs token_key: bytes, at least 16")
        elif self.token_key is not None:
            raise InvalidArgument("token_key is used by the token style only")


@attrs.frozen(kw_only=True)
class Finding:
    """One sensitive item: ``text[start:end]`` is the item as written (separators included)."""

    kind: str
    start: int
    end: int


_DEFAULT_POLICY: Final = MaskingPolicy()

# --------------------------------------------------------------------------- character classes

_DIGIT: Final = regex.compile(r"\d")
"""What the number and IBAN finders need to find anything."""
_ASCII_DIGIT: Final = re.compile(r"[0-9]")
""":data:`_DIGIT` for ASCII text (the standard library's engine is faster at it)."""
_WORDS: Final = regex.compile(
    # zero|oh|one|two|three|four|five|six|seven|eight|nine|nula|jedn|dv|t[řr]i|[čc]ty|p[ěe]t|
    # [šs]est|sedm|osm|dev, as a tree of their first letters (the same words, read faster)
    r"(?i)[@＠]|\bat\b|zavin|\b(?:z(?:ero)|o(?:h|ne|sm)|t(?:wo|hree|[řr]i)|f(?:our|ive)|"
    r"s(?:ix|even|edm|est)|eight|n(?:ine|ula)|jedn|d(?:v|ev)|[čc]ty|p[ěe]t|šest)"
)
"""What the e-mail and spelled-digit finders need: an "@", "at" or a number word. Most chat
text has neither this nor a digit, and returns at once."""
_INVISIBLE_CLASS: Final = r"\s\p{Cf}"
_INVISIBLE: Final = regex.compile(rf"[{_INVISIBLE_CLASS}]+")
_CF: Final = regex.compile(r"\p{Cf}+")


def _drop_cf(text: str) -> str:
    r"""``text`` without format characters (``\p{Cf}``; ASCII has none)."""
    return text if text.isascii() else _CF.sub("", text)


def _drop_invisible(text: str) -> str:
    r"""``text`` without whitespace and format characters (``[\s\p{Cf}]``)."""
    return text.translate(_ASCII_WHITESPACE) if text.isascii() else _INVISIBLE.sub("", text)


# Separators between the digit groups of one number: every whitespace (NBSP, thin space, line
# breaks), format characters, dashes of every kind, dot, slash, backslash, middle dot,
# parentheses and underscore, in full-width forms too. Commas, colons and semicolons are not:
# they separate amounts, times and list items.
_SEPARATOR_CLASS: Final = (
    r"\s\p{Cf}\p{Pd}\u2212\u2043./\\\u00b7\u2022\u2027\u30fb\uff65()_\uff0e\uff0f\uff3c\uff08"
    r"\uff09\u3002\uff61\ue000"
)
# (the hyphen bullet, the hyphenation point and the katakana middle dots are dashes and dots
# too; the katakana prolonged sound mark "ー", a letter, is one next to a digit: see
# _normalise_plain)
_DASH_LIKE: Final = regex.compile(r"[\p{Pd}\u2212\u2043]")
_SEPARATOR_FOLD: Final = str.maketrans(
    "\u00b7\u2022\u2027\u30fb\uff65\uff0e\u3002\uff61\uff0f\uff3c\uff08\uff09",
    "......../\\()",
)


def _fold_separator(separator: str) -> str:
    """A separator with its dashes written ``-``, its dots ``.``, and its full-width slashes
    and parentheses in ASCII (the layouts below are written with those)."""
    if separator.isascii():
        return separator
    return _DASH_LIKE.sub("-", separator.translate(_SEPARATOR_FOLD))


_GROUP: Final = r"\d(?:\p{Cf}*\d)*"
_RUN: Final = regex.compile(
    rf"(?:\(?[+＋][{_INVISIBLE_CLASS}]{{0,3}}|\((?=\d))?"
    rf"(?P<group>{_GROUP})(?:[{_SEPARATOR_CLASS}]{{1,12}}(?P<group>{_GROUP}))*"
)
"""A run of digit groups; the match keeps every group (``starts``, ``ends``, ``captures``)."""
_SIMPLE_RUN: Final = re.compile(
    # the same for plain text (see _NOT_PLAIN), where the standard library's engine is faster:
    # there, a group is a run of [0-9] (no \p{Cf}) and the separators are these
    r"(?:\(?\+[\t\n\x0b\x0c\r ]{0,3}|\((?=[0-9]))?"
    r"[0-9]+(?:[\t\n\x0b\x0c\r ()\-./\\_\ue000]{1,12}[0-9]+)*"
)
_SIMPLE_GROUPS: Final = re.compile(r"([0-9]+)")
_NOT_PLAIN: Final = regex.compile(r"[^\x00-\x7f\ue000\p{L}]")
"""What makes a normalised text other than *plain*: plain text holds ASCII, letters and the weak
separator only, so its digits are ASCII, it has no format characters, and the separators of a
number and of an IBAN in it are ASCII or weak; the standard library's engine reads it faster."""
_LETTER_OR_DIGIT: Final = regex.compile(r"[\p{L}\p{N}]")
_STAR_NEIGHBOUR_BEFORE: Final = regex.compile(rf"\*[{_SEPARATOR_CLASS}+＋]{{0,6}}$")
_STAR_NEIGHBOUR_AFTER: Final = regex.compile(rf"[{_SEPARATOR_CLASS}]{{0,6}}\*")

_CONTEXT: Final = 40

_PHONE_WORDS: Final = regex.compile(
    r"(?i)(?<![\p{L}])(?:tel|tel\.|phone|telephone|mobile|mob|mobil|cell|cellphone|call|ring|"
    r"text\s+me|sms|whats\s*app|viber|signal|telegram|fax|hotline|reach\s+me|contact|kontakt|"
    r"telefon\w*|mobiln\w*|zavolej\w*|volejte|volat|handy|rufnummer|anrufen|téléphone|"
    r"portable|appel\w*|telefono|cellulare|chiama\w*|teléfono|móvil|movil|llam\w*|komórk\w*|"
    r"komork\w*|zadzwo\w*|"
    # "my number": a number someone calls their own is theirs (moje číslo, meine Nummer…)
    r"(?:my|moje|mé|me|mein\w*|mon|ma|mi|il\s+mio|o\s+meu|mój|moj)\s+"
    r"(?:number|no\.?|číslo|cislo|nummer|numéro|numero|número|numer))(?![\p{L}])"
)
_NOT_PHONE_WORDS: Final = regex.compile(
    r"(?i)(?<![\p{L}])(?:order|orders|invoice|inv|bill|tracking|track|trace|parcel|package|"
    r"shipment|consignment|awb|ticket|case|ref|reference|id|account|acct|customer\s+no|"
    r"objednávk\w*|objednavk\w*|faktur\w*|zásilk\w*|zasilk\w*|balík\w*|balik\w*|účt\w*|účet|"
    r"ucet|uctu|variabilní|variabilni|vs|psč|psc|zip|postcode|ičo|ico|dič|dic|pin|code|kód|"
    r"kod|serial|s/n|sn|imei|booking|reservation|rezervac\w*|contract|smlouv\w*|policy|claim|"
    r"transaction|txn|receipt|voucher|coupon|gift\s*card|iban|bic|swift|routing|sort\s+code|"
    r"bestellung|rechnung|sendung|kundennummer|commande|facture|colis|ordine|fattura|pedido|"
    r"factura|zamówieni\w*|faktura|przesyłk\w*|version|ver|build|release|ip|model|sku|ean|isbn|"
    r"upc|article|art|verze|verzi|version|versión|timestamp|unix|epoch|dhl|ups|fedex|gls|ppl|"
    r"dpd|usps|tnt|zásilkovna|zasilkovna|imei|iccid|meid|barcode|gtin)(?![\p{L}])"
)
_LABEL_GAP: Final = regex.compile(r"[^,;!?\n\ue000]{0,16}")
"""What may stand between a label ("order", "invoice no.") and the number it labels: no
comma, semicolon, question or exclamation mark or line break, in the text as written or as
normalised (where a comma, a pipe or an emoji is the weak separator U+E000)."""
_NOT_CARD_WORDS: Final = regex.compile(
    r"(?i)(?<![\p{L}])(?:imei|iccid|meid|ean|gtin|isbn|issn|upc|barcode|serial|s/n|sn|sku|"
    r"tracking|timestamp|unix|epoch)(?![\p{L}])"
)
_SSN_WORDS: Final = regex.compile(
    r"(?i)(?<![\p{L}])(?:ssn|ssns|ss\s*#|s\.s\.n\.?|social\s+security|soc\.?\s*sec\.?|"
    r"social\s+sec\.?)(?![\p{L}])"
)
_AMOUNT_BEFORE: Final = regex.compile(
    r"(?i)(?:[$€£¥₹₽¢]|kč|czk|eur|usd|gbp|pln|chf|huf|inr|rs\.?|zł)\s?$"
)
_AMOUNT_BEFORE_LAST: Final = frozenset("$€£¥₹₽¢čkrdpnfs.ł")
"""The last characters of what :data:`_AMOUNT_BEFORE` matches (before one space)."""
_AMOUNT_BEFORE_PAIRS: Final = frozenset({"zk", "ur", "nr", "sd", "bp", "ln", "hf", "uf", "rs"})
"""The last two letters (in ASCII) of the currencies :data:`_AMOUNT_BEFORE` matches."""
_AMOUNT_AFTER_FIRST: Final = frozenset("$€£¥₹₽%‰,.\ue000kceudgpzhfirmst")
"""The first characters of what :data:`_AMOUNT_AFTER` matches (after one space)."""
_AMOUNT_AFTER_PAIRS: Final = frozenset({
    "kc", "ko", "ks", "kg", "km", "kb", "cz", "ch", "eu", "us", "do", "gb", "pl", "pc", "px",
    "zl", "hu", "ft", "in", "rs", "ru", "mb", "ms", "tb",
})  # fmt: skip
"""The first two letters (in ASCII) of the currencies and units :data:`_AMOUNT_AFTER` matches."""
_AMOUNT_AFTER: Final = regex.compile(
    r"(?i)\s?(?:[$€£¥₹₽%‰]|[,\ue000]-|[.,\ue000]\d|kč|kc|czk|eur|euro|usd|dollars?|gbp|pln|zł|zl|chf|huf|ft|"
    r"inr|rs|rupees?|korun\w*|ks|pcs|kg|km|mb|gb|kb|tb|px|ms)(?![\p{L}])"
)

# --------------------------------------------------------------------------- reference data

IBAN_STRUCTURES: Final[dict[str, str]] = {
    # ISO 13616 IBAN registry (SWIFT, release of 2025): the BBAN of each country, after the
    # country code and the two check digits, written as the registry writes it: ``n``
    # digits, ``a`` upper-case letters, ``c`` letters or digits. Where published sources
    # differ (Brazil's bank code and account type), the looser class: when in doubt, mask.
    "AD": "4n,4n,12c", "AE": "3n,16n", "AL": "8n,16c", "AT": "5n,11n", "AZ": "4a,20c",
    "BA": "3n,3n,8n,2n", "BE": "3n,7n,2n", "BG": "4a,4n,2n,8c", "BH": "4a,14c",
    "BI": "5n,5n,11n,2n", "BR": "8c,5n,10n,1c,1c", "BY": "4c,4n,16c", "CH": "5n,12c",
    "CR": "4n,14n", "CY": "3n,5n,16c", "CZ": "4n,6n,10n", "DE": "8n,10n",
    "DJ": "5n,5n,11n,2n", "DK": "4n,9n,1n", "DO": "4c,20n", "EE": "2n,2n,11n,1n",
    "EG": "4n,4n,17n", "ES": "4n,4n,1n,1n,10n", "FI": "3n,11n", "FK": "2a,12n",
    "FO": "4n,9n,1n", "FR": "5n,5n,11c,2n", "GB": "4a,6n,8n", "GE": "2a,16n",
    "GI": "4a,15c", "GL": "4n,9n,1n", "GR": "3n,4n,16c", "GT": "4c,20c", "HN": "4a,20n",
    "HR": "7n,10n", "HU": "3n,4n,1n,15n,1n", "IE": "4a,6n,8n", "IL": "3n,3n,13n",
    "IQ": "4a,3n,12n", "IS": "4n,2n,6n,10n", "IT": "1a,5n,5n,12c", "JO": "4a,4n,18c",
    "KW": "4a,22c", "KZ": "3n,13c", "LB": "4n,20c", "LC": "4a,24c", "LI": "5n,12c",
    "LT": "5n,11n", "LU": "3n,13c", "LV": "4a,13c", "LY": "3n,3n,15n",
    "MC": "5n,5n,11c,2n", "MD": "2c,18c", "ME": "3n,13n,2n", "MK": "3n,10c,2n",
    "MN": "4n,12n", "MR": "5n,5n,11n,2n", "MT": "4a,5n,18c", "MU": "4a,2n,2n,12n,3n,3a",
    "NI": "4a,20n", "NL": "4a,10n", "NO": "4n,6n,1n", "OM": "3n,16c", "PK": "4a,16c",
    "PL": "8n,16n", "PS": "4a,21c", "PT": "4n,4n,11n,2n", "QA": "4a,21c", "RO": "4a,16c",
    "RS": "3n,13n,2n", "RU": "9n,5n,15c", "SA": "2n,18c", "SC": "4a,2n,2n,16n,3a",
    "SD": "2n,12n", "SE": "3n,16n,1n", "SI": "5n,8n,2n", "SK": "4n,6n,10n",
    "SM": "1a,5n,5n,12c", "SO": "4n,3n,12n", "ST": "4n,4n,11n,2n", "SV": "4a,20n",
    "TL": "3n,14n,2n", "TN": "2n,3n,13n,2n", "TR": "5n,1n,16c", "UA": "6n,19c",
    "VA": "3n,15n", "VG": "4a,16n", "XK": "4n,10n,2n", "YE": "4a,4n,18c",
    # territories that use their state's IBAN (Finland, France, the United Kingdom)
    "AX": "3n,11n", "BL": "5n,5n,11c,2n", "GF": "5n,5n,11c,2n", "GP": "5n,5n,11c,2n",
    "MF": "5n,5n,11c,2n", "MQ": "5n,5n,11c,2n", "NC": "5n,5n,11c,2n", "PF": "5n,5n,11c,2n",
    "PM": "5n,5n,11c,2n", "RE": "5n,5n,11c,2n", "TF": "5n,5n,11c,2n", "WF": "5n,5n,11c,2n",
    "YT": "5n,5n,11c,2n", "GG": "4a,6n,8n", "IM": "4a,6n,8n", "JE": "4a,6n,8n",
    # partial IBANs in common use, not (yet) in the registry: digits only, or a bank code
    # of two letters or digits first (the West African monetary union's)
    "AO": "21n", "BF": "2c,22n", "BJ": "2c,22n", "CF": "23n", "CG": "23n", "CI": "2c,22n",
    "CM": "23n", "CV": "21n", "DZ": "22n", "GA": "23n", "GQ": "23n", "GW": "2c,19n",
    "IR": "22n", "KM": "23n", "MA": "24n", "MG": "23n", "ML": "2c,22n", "MZ": "21n",
    "NE": "2c,22n", "SN": "2c,22n", "TD": "23n", "TG": "2c,22n",
}  # fmt: skip


IBAN_LENGTHS: Final[dict[str, int]] = {
    # country code -> IBAN length: the code, the check digits and the BBAN
    country: 4 + sum(int(part[:-1]) for part in structure.split(","))
    for country, structure in IBAN_STRUCTURES.items()
}


def _codes(*spans: tuple[int, int]) -> frozenset[str]:
    return frozenset(str(code) for first, last in spans for code in range(first, last + 1))


# Every country calling code of ITU-T E.164 (three-digit ones as ranges of assigned codes).
_THREE_DIGIT_COUNTRY_CODES: Final = _codes(
    (211, 212), (213, 213), (216, 216), (218, 258), (260, 269), (290, 291), (297, 299),
    (350, 359), (370, 389), (420, 421), (423, 423), (500, 509), (590, 599), (670, 670),
    (672, 683), (685, 692), (800, 800), (808, 808), (850, 850), (852, 853), (855, 856),
    (870, 870), (878, 878), (880, 883), (886, 886), (888, 888), (960, 968), (970, 977),
    (979, 979),
    (992, 998),
)  # fmt: skip
_ONE_DIGIT_COUNTRY_CODES: Final = frozenset({"1", "7"})
_TWO_DIGIT_COUNTRY_CODES: Final = frozenset({
    "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46",
    "47", "48", "49", "51", "52", "53", "54", "55", "56", "57", "58", "60", "61", "62", "63",
    "64", "65", "66", "81", "82", "84", "86", "90", "91", "92", "93", "94", "95", "98",
})  # fmt: skip
NATIONAL_NUMBER_LENGTHS: Final[dict[str, tuple[int, int]]] = {
    # Country calling code -> (shortest, longest) national significant number, per the ITU-T
    # E.164 national numbering plans; other codes accept 6-12 digits (15 in all at most).
    "1": (10, 10), "7": (10, 10), "20": (9, 10), "27": (9, 9), "30": (10, 10), "31": (9, 9),
    "32": (8, 9), "33": (9, 9), "34": (9, 9), "36": (8, 9), "39": (6, 11), "40": (9, 9),
    "41": (9, 9), "43": (4, 13), "44": (9, 10), "45": (8, 8), "46": (7, 10), "47": (8, 8),
    "48": (9, 9), "49": (6, 13), "52": (10, 10), "55": (10, 11), "61": (9, 9), "81": (9, 10),
    "86": (10, 11), "90": (10, 10), "91": (10, 10), "351": (9, 9), "353": (7, 9),
    "358": (5, 12), "380": (9, 9), "420": (9, 9), "421": (9, 9),
}  # fmt: skip
_COUNTRY_CODES_WITHOUT_PLUS: Final = ("420", "421", "44", "49", "33", "48", "34", "39", "91", "1")

# Card issuer prefixes: (first digits, allowed lengths). Visa, Mastercard (51-55, 2221-2720),
# Amex, Diners, JCB, Discover, UnionPay, Maestro, Mir, RuPay, Verve, Troy, UATP, Dankort...
_CARD_LENGTHS_BY_FIRST_DIGIT: Final[dict[str, frozenset[int]]] = {
    "1": frozenset({15}),  # UATP, legacy JCB 1800
    "3": frozenset(range(14, 20)),
    "4": frozenset(range(13, 20)),
    "5": frozenset(range(13, 20)),
    "6": frozenset(range(13, 20)),
    "8": frozenset(range(16, 20)),
}
# Maestro issues cards of 12 to 19 digits; these prefixes are the only 12-digit cards.
_CARD_MIN_DIGITS: Final = 12
"""The fewest digits a card has (a Maestro card); the finders look for no shorter one."""
_MAESTRO_PREFIXES: Final = (
    "5018", "5020", "5038", "5893", "56", "57", "58", "6304", "6759", "6761", "6762", "6763",
    "6390", "0604",
)  # fmt: skip


def _card_issuer_plausible(digits: str) -> bool:
    first = digits[0]
    if len(digits) >= _CARD_MIN_DIGITS and digits.startswith(_MAESTRO_PREFIXES):
        return True
    if len(digits) == _CARD_MIN_DIGITS:
        return False
    if first == "2":
        prefix = int(digits[:4])
        if prefix == 2131:
            return len(digits) == 15  # legacy JCB
        return len(digits) >= 16 and (2221 <= prefix <= 2720 or 2200 <= prefix <= 2204)
    if first == "8":
        return digits[:2] in ("81", "82") and len(digits) >= 16
    if first == "9":
        return len(digits) == 16  # Troy (9792), PROSTIR (9804) and other national schemes
    return len(digits) in _CARD_LENGTHS_BY_FIRST_DIGIT.get(first, frozenset())


_LUHN_DOUBLED: Final = str.maketrans("0123456789", "0246813579")


def _luhn_valid(digits: str) -> bool:
    """The Luhn check of ASCII ``digits``: every second digit from the right is doubled (its
    digit sum taken), the total must be a multiple of ten."""
    kept = digits[-1::-2] + digits[-2::-2].translate(_LUHN_DOUBLED)
    return sum(map(int, kept)) % 10 == 0


def _ssn_valid(digits: str) -> bool:
    area, group, serial = int(digits[:3]), digits[3:5], digits[5:]
    return area != 0 and area != 666 and area < 900 and group != "00" and serial != "0000"


_ASCII_NON_DIGITS: Final = str.maketrans({c: None for c in range(128) if not 48 <= c <= 57})
_ASCII_WHITESPACE: Final = str.maketrans(dict.fromkeys(map(ord, "\t\n\x0b\x0c\r "), None))
"""What ``[\\s\\p{Cf}]`` matches in ASCII."""


def _ascii_digits(text: str) -> str:
    """The decimal digits of ``text`` (of any script), in ASCII."""
    if text.isascii():
        return text.translate(_ASCII_NON_DIGITS)
    out = []
    for char in text:
        value = unicodedata.decimal(char, None)
        if value is not None:
            out.append(chr(48 + value))
    return "".join(out)


# --------------------------------------------------------------------------- normalisation

# Detection reads a *normalised* copy of the text, of exactly the same length, so every finding
# is also a span of the text as written: digits of every script (superscript, circled,
# mathematical, full-width…) become ASCII digits; pipes, commas, emoji and other symbols become
# one "weak separator" (cards may be grouped by them, phones may not); an HTML entity becomes
# the character it stands for followed by zero-width fillers (``&#52;`` → ``4````);
# ``O``/``o``/``l``/``I`` standing for digits inside a run of digits (``4O12``) become digits.
_WEAK: Final = "\ue000"
_FILL: Final = "\u200b"
_ENTITY: Final = regex.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
_LOOKALIKE_TOKEN: Final = regex.compile(
    r"(?<![\p{L}\p{N}])[OolI]*+[0-9][0-9OolI]*+(?![\p{L}\p{N}])"
)
_LOOKALIKE_HINT: Final = re.compile(r"[0-9][OolI]|[OolI][0-9]")  # ASCII: re is faster here
"""A token that reads differently with its look-alikes as digits has one next to a digit."""
_LOOKALIKES: Final = str.maketrans("OolI", "0011")
_NO_DIGIT_SYMBOLS: Final = frozenset("+<>=*#%&@$€£¥~^`")


class _NormalTable(dict[int, str | None]):
    """``str.translate`` table built as characters are met (each character is classified once)."""

    def __missing__(self, code: int) -> str | None:
        char = chr(code)
        value: str | None = char
        if char in "|,\u00a6\uff0c\u3001\uff5c":
            value = _WEAK
        elif code < 128:
            value = char
        elif (digit := unicodedata.digit(char, None)) is not None and digit <= 9:
            value = str(digit)
        elif char in "\ufe0e\ufe0f" or 0xE0020 <= code <= 0xE007F:
            value = _FILL  # variation selectors and emoji tags
        elif (
            unicodedata.category(char) in ("So", "Sk", "Sm")
            and char not in _NO_DIGIT_SYMBOLS
            and char != "\u2212"  # the minus sign: a dash, a separator of every number
        ):
            value = _WEAK
        self[code] = value
        return value


_TABLE: Final = _NormalTable()


def _entity(match: regex.Match[str]) -> str:
    decoded = html.unescape(match[0])
    if len(decoded) != 1:
        return match[0]
    return decoded + _FILL * (len(match[0]) - 1)


def _lookalike(match: regex.Match[str]) -> str:
    token = match[0]
    digits = sum(c.isdigit() for c in token)
    if digits < 2 or digits <= len(token) - digits or token.isdigit():
        return token
    return token.translate(_LOOKALIKES)


def _normalise(text: str) -> str:
    """The text detection reads: same length, same positions (see above)."""
    return _normalise_plain(text)[0]


def _normalise_plain(text: str) -> tuple[str, bool | None]:
    """:func:`_normalise` and whether the result is plain (see :data:`_NOT_PLAIN`; ``None``:
    not looked at)."""
    if "&" in text:
        text = _ENTITY.sub(_entity, text)
    if "\u30fc" in text or "\uff70" in text:
        text = _LONG_VOWEL_DASH.sub(_as_dashes, text)
    if text.isascii() or _NOT_ASCII_OR_LETTER.search(text) is None:
        # ASCII and letters stay what they are but the weak separators "|" and ","
        if "," in text:
            text = text.replace(",", _WEAK)
        if "|" in text:
            text = text.replace("|", _WEAK)
        return text, True
    return text.translate(_TABLE), None


_NOT_ASCII_OR_LETTER: Final = regex.compile(r"[^\x00-\x7f\p{L}]")
_LONG_VOWEL_DASH: Final = regex.compile(
    r"(?<=\d\p{Cf}*)[\u30fc\uff70]+|[\u30fc\uff70]+(?=\p{Cf}*\d)"
)
"""The katakana prolonged sound mark (a letter) next to a digit: a dash (``03ー1234ー5678``)."""


def _as_dashes(match: regex.Match[str]) -> str:
    return "-" * len(match[0])


# --------------------------------------------------------------------------- candidates

# Lower rank wins when two candidates overlap.
_RANK: Final = {"email": 0, "iban": 1, "card": 2, "ssn": 3, "phone": 5}
# (4: a Czech account number with its bank code, read as that rather than as a phone)


class _Candidate(NamedTuple):
    rank: int
    start: int
    end: int
    kind: str


class _Group(NamedTuple):
    start: int
    end: int
    digits: str  # ASCII
    poisoned: bool  # the kept tail or head of an earlier mask: never part of a new number


class _Run(NamedTuple):
    start: int  # with the "+" or "(" prefix
    end: int
    plus: bool
    paren: bool
    groups: list[_Group]
    separators: list[str]  # separators[k] lies between groups k-1 and k; separators[0] == ""


_new_group: Final = tuple.__new__
_new_run: Final = tuple.__new__


def _parse_run(text: str, match: regex.Match[str] | re.Match[str]) -> _Run:
    """The run ``match`` (of :data:`_RUN`, or of :data:`_SIMPLE_RUN` in plain text) found."""
    start, end = match.span()
    body = match[0]
    if body.isdigit() and body.isascii():  # one group of digits, the most common run
        groups = [_new_group(_Group, (start, end, body, False))]
        separators = [""]
        prefix = ""
    elif isinstance(match, re.Match):  # plain text: the groups are the runs of [0-9]
        # prefix, group, separator, group, ..., group, "" (the run ends with a group)
        parts = _SIMPLE_GROUPS.split(body)
        prefix = parts[0]
        separators = parts[2:-1:2]
        separators.insert(0, "")
        groups = []
        position = start + len(prefix)
        for k in range(1, len(parts), 2):
            group = parts[k]
            after = position + len(group)
            groups.append(_new_group(_Group, (position, after, group, False)))
            position = after + len(parts[k + 1])
    else:
        # the group named "group" (by number: faster), every capture of it
        captures = match.captures(1)
        starts = match.starts(1)
        ends = match.ends(1)
        joined = "".join(captures)
        if not (joined.isdigit() and joined.isascii()):  # zero-width characters inside
            captures = [g if g.isdigit() and g.isascii() else _ascii_digits(g) for g in captures]
        groups = [
            _new_group(_Group, (a, b, g, False))
            for a, b, g in zip(starts, ends, captures, strict=True)
        ]
        separators = [""]
        separators += [text[b:a] for b, a in zip(ends, starts[1:], strict=False)]
        prefix = text[start : starts[0]]
    # the kept tail (or head) of an earlier mask: "***" right before (after) the group
    first, last = groups[0], groups[-1]
    if (
        len(first.digits) == 4
        and not prefix
        and text[max(0, start - 3) : start] == "***"
        and text[first.start : first.end].isascii()
    ):
        groups[0] = first._replace(poisoned=True)
    if (
        len(last.digits) == 6
        and text.startswith("***", end)
        and text[last.start : last.end].isascii()
    ):
        groups[-1] = groups[-1]._replace(poisoned=True)
    if not prefix:
        return _new_run(_Run, (start, end, False, False, groups, separators))
    return _Run(start, end, "+" in prefix or "＋" in prefix, "(" in prefix, groups, separators)


def _letter_or_digit(char: str) -> bool:
    """Whether ``char`` (one character) is a letter or a digit (``[\\p{L}\\p{N}]``)."""
    if char < "\x80":
        return char.isalnum()
    return _LETTER_OR_DIGIT.match(char) is not None


def _glued_before(text: str, position: int) -> bool:
    """Whether a letter or digit (maybe then one ``-``, ``_``, ``#`` or line break) ends
    ``text[:position]``."""
    if position <= 0:
        return False
    previous = text[position - 1]
    if previous in "-_#\n":
        # a word and then "-", "_", "#" or one line break: "no-123…", "part no\n33471-90901"
        return position >= 2 and _letter_or_digit(text[position - 2])
    return _letter_or_digit(previous)


def _glued_after(text: str, position: int) -> bool:
    """Whether a letter or digit (maybe after one ``-`` or ``_``) starts ``text[position:]``;
    an ``x`` does not (a phone extension: 555-0147x12)."""
    if position >= len(text):
        return False
    following = text[position]
    if following in "xX":
        return False
    if following in "-_":
        return position + 1 < len(text) and _letter_or_digit(text[position + 1])
    return _letter_or_digit(following)


# Labels are found by case-insensitive patterns of many words, slow to run over every context;
# these patterns of the standard library find, in the lower-cased context, a part that each of
# those words has, much faster: where none is found, no label is either. (Lower-casing matches
# what the patterns' case-insensitivity does, but for two letters: "İ" and "ſ".)
_PHONE_WORD_PARTS: Final = re.compile(
    "tel|phone|mob|cell|call|ring|text|sms|whats|viber|signal|fax|hotline|reach|contact|"
    "kontakt|volej|volat|handy|rufnummer|anrufen|portable|appel|chiama|vil|llam|kom|zadzwo|"
    "no|num|slo|mero"
)
""":data:`_PHONE_WORDS`' parts (of "my number" in any language: the number's word)."""
_NOT_CARD_PARTS: Final = re.compile(
    "imei|iccid|meid|ean|gtin|isbn|issn|upc|barcode|serial|s/n|sn|sku|tracking|timestamp|unix|epoch"
)
""":data:`_NOT_CARD_WORDS`, as plain words."""


def _folds_oddly(text: str) -> bool:
    """Whether ``text`` has a letter that a case-insensitive pattern matches as ``i`` or ``s``
    but that lower-cases to something else: ``İ``, ``ſ``."""
    return "\u0130" in text or "\u017f" in text


def _phone_word_end(context: str) -> int:
    """Where the last phone word (:data:`_PHONE_WORDS`) in ``context`` ends, or -1."""
    if _PHONE_WORD_PARTS.search(context.lower()) is None and not _folds_oddly(context):
        return -1
    return _last_match_end(_PHONE_WORDS, context)


def _phone_word_near(text: str, start: int) -> bool:
    """Whether a phone word ("tel.", "call me on") stands right before ``start`` (at most a
    few words between them, no comma or line break)."""
    context_start = max(0, start - 24)
    end = _phone_word_end(text[context_start:start])
    return end >= 0 and _LABEL_GAP.fullmatch(text, context_start + end, start) is not None


def _last_match_end(pattern: regex.Pattern[str], text: str) -> int:
    """Where the last match of ``pattern`` in ``text`` ends, or -1."""
    last = -1
    for match in pattern.finditer(text):
        last = match.end()
    return last


def _group_sizes(groups: list[_Group], separators: list[str], joints: frozenset[int]) -> list[int]:
    """Digits per group, groups cut only by a message boundary counted as one (a card typed
    as 400000000000 and then 6 is grouped as one run of 13 digits)."""
    sizes = [len(groups[0].digits)]
    for group, previous, separator in zip(groups[1:], groups, separators[1:], strict=False):
        if separator == _JOINT and previous.end in joints:
            sizes[-1] += len(group.digits)
        else:
            sizes.append(len(group.digits))
    return sizes


def _standard_card_grouping(sizes: list[int]) -> bool:
    """One run of digits, fours, or the Amex/Diners 4-6-5 and 4-6-4 layouts."""
    return (
        len(sizes) == 1
        or all(size == 4 for size in sizes[:-1])
        or sizes in ([4, 6, 5], [4, 6, 4], [4, 4, 5], [4, 5, 6])
    )


def _evasive_card_grouping(sizes: list[int]) -> bool:
    """Evasive chunking is even (41 11 11 …) or small (4 1-1 11 …); a bank account
    (5590519535/0800) is neither."""
    return len(sizes) >= 3 and (len(set(sizes[:-1])) == 1 or max(sizes) <= 4)


_SERIAL_LENGTHS: Final[dict[str, frozenset[int]]] = {
    "imei": frozenset({15}),  # (an IMEISV has 16 digits but no check digit)
    "iccid": frozenset({19, 20}),
    "meid": frozenset({14, 18}),
    "ean": frozenset({8, 13}),
    "gtin": frozenset({8, 12, 13, 14}),
    "isbn": frozenset({10, 13}),
    "issn": frozenset({8}),
    "upc": frozenset({12}),
}
"""The lengths of the identifiers with a fixed format: after their label, a number of
another length is read as if no label stood there (a card after "IMEI" is still a card)."""


def _serial_label_before(text: str, start: int, digits: int) -> bool:
    """Whether a serial number's label (IMEI, EAN, ISBN, ...) stands right before ``start``
    and, for an identifier with a fixed format, a number of ``digits`` digits can be one."""
    context = text[max(0, start - 24) : start]
    if _NOT_CARD_PARTS.search(context.lower()) or _folds_oddly(context):
        for label in _NOT_CARD_WORDS.finditer(text, max(0, start - 24), start):
            if _LABEL_GAP.fullmatch(text, label.end(), start):
                lengths = _SERIAL_LENGTHS.get(label.group().casefold())
                if lengths is None or digits in lengths:
                    return True
    return False


def _crosses_joint(window: list[_Group], joints: frozenset[int]) -> bool:
    """Whether a message boundary (a joint of :func:`mask_across`) lies between two of the
    groups of ``window``."""
    return any(
        position in joints
        for before, after in itertools.pairwise(window)
        for position in range(before.end, after.start)
    )


def _card_candidates(text: str, run: _Run, found: list[_Candidate], joints: frozenset[int]) -> None:
    """Cards in a run of at least :data:`_CARD_MIN_DIGITS` digits: windows of whole groups
    with an issuer prefix, a length it issues, the Luhn check and a card's layout; the longest
    standard one wins."""
    groups = run.groups
    count = len(groups)
    scored: list[tuple[tuple[bool, bool, int], int, int]] = []
    remaining = sum([len(g.digits) for g in groups])  # digits from group i to the end
    for i in range(count):
        if i:
            remaining -= len(groups[i - 1].digits)
        if remaining < _CARD_MIN_DIGITS:
            break  # no window from here on has the digits a card needs
        if groups[i].poisoned or (i == 0 and run.plus):
            continue
        digits = ""
        for j in range(i, count):
            if groups[j].poisoned:
                break
            digits += groups[j].digits
            if len(digits) < _CARD_MIN_DIGITS:
                continue
            if len(digits) > 19:
                break
            if digits[0] == "0" and not digits.startswith("0604"):
                continue
            if not (_card_issuer_plausible(digits) and _luhn_valid(digits)):
                continue
            if len(digits) == _CARD_MIN_DIGITS and i != j and (i > 0 or j < count - 1):
                # a 12-digit Maestro is typed whole (an expiry date may follow it:
                # "501812306659 12/28") or is the whole run; never a part of a longer number
                continue
            window = groups[i : j + 1]
            separators = run.separators[i : j + 1]
            if joints and i != j and _crosses_joint(window, joints):
                # parts of one card sent as separate messages: however the customer cut and
                # grouped them, issuer, length and Luhn decide
                scored.append(((True, i == 0 and j == count - 1, len(digits)), i, j))
                continue
            if any(_WEAK in s for s in separators[1:]):
                sizes = [len(g.digits) for g in window]
                if (
                    len(set(sizes[:-1])) > 1
                    or sizes[-1] > sizes[0]
                    or any(_drop_invisible(s) != _WEAK for s in separators[1:])
                ):
                    continue  # pipes, commas, emoji group a card evenly: 4111|1111|1111|1111
            dotted = any("." in s or "/" in s for s in separators[1:])
            if dotted and len({len(g.digits) for g in window[:-1]}) > 1:
                continue  # 192.0.2.0/255.255.255.0, 2.11.92.0.12.3: not a card's layout
            groupings = [[len(g.digits) for g in window]]
            if joints:
                groupings.append(_group_sizes(window, separators, joints))
            standard = any(_standard_card_grouping(sizes) for sizes in groupings)
            if (
                not standard
                and j - i > 2
                and (
                    not any(_evasive_card_grouping(sizes) for sizes in groupings)
                    or _looks_like_date_or_address(window, separators, versions=False)
                )
            ):
                continue
            whole = i == 0 and j == count - 1
            scored.append(((standard, whole, len(digits)), i, j))
    if not scored:
        return
    if _NOT_CARD_PARTS.search(text[max(0, run.start - 24) : run.start].lower()) or _folds_oddly(
        text[max(0, run.start - 24) : run.start]
    ):
        # an IMEI, EAN or serial number (Luhn-valid by design) is not a card, where its
        # length can be one
        scored = [
            entry for entry in scored if not _serial_label_before(text, run.start, entry[0][2])
        ]
        if not scored:
            return
    scored.sort(reverse=True)
    taken = bytearray(count)  # windows span at most 19 groups: checking them is cheap
    for _, i, j in scored:
        if not any(taken[i : j + 1]):
            taken[i : j + 1] = b"\x01" * (j + 1 - i)
            found.append(_Candidate(_RANK["card"], groups[i].start, groups[j].end, "card"))


def _international_phone(text: str, run: _Run, first: int) -> _Candidate | None:
    """A number with a country code (``+420 …``, ``00420 …``) starting at group ``first``."""
    groups = run.groups
    if groups[first].poisoned:
        return None
    if first == 0 and run.plus:
        skip, start = 0, run.start
        if run.start > 0 and _LETTER_OR_DIGIT.match(text, run.start - 1):
            return None
    elif groups[first].digits.startswith("00") and (
        first > 0 or not _glued_before(text, run.start)
    ):
        skip, start = 2, groups[first].start
    else:
        return None
    digits_seen = ""
    ends = []
    for index in range(first, len(groups)):
        group = groups[index]
        if group.poisoned or (index > first and _WEAK in run.separators[index]):
            break  # (a phone never spans a comma, a pipe or an emoji)
        digits_seen += group.digits
        number = digits_seen[skip:]
        if len(number) > 16:
            break
        if _national_part(number) is not None or 7 <= len(number.lstrip("0")) <= 15:
            # (a country code that is not assigned, or zeros too many after "00": a number
            # dialled abroad all the same, as generators and typos write them)
            ends.append(group.end)
    for end in reversed(ends):
        if not (_DECIMAL_END.fullmatch(text, start, end) or _DECIMAL_AFTER.match(text, end)):
            return _Candidate(_RANK["phone"], start, _with_extension(text, end), "phone")
    return None  # +35236450.6 is a signed decimal


_DECIMAL_END: Final = regex.compile(r"[^.]*\.\d{1,2}")
_DECIMAL_AFTER: Final = regex.compile(r"[.,\ue000]\d")
_EXTENSION: Final = regex.compile(r"(?i)[ \t]?(?:x|ext\.?|ext\.? ?#)[ \t]?\d{1,6}(?!\d)")


def _with_extension(text: str, end: int) -> int:
    """Where a phone number ending at ``end`` ends with its extension (``x123``, ``ext. 45``)."""
    following = text[end : end + 2]
    if following[:1] in (" ", "\t"):
        following = following[1:]
    if following[:1] not in ("x", "X", "e", "E"):
        return end  # (also when nothing follows: "" is not in the tuple)
    extension = _EXTENSION.match(text, end)
    return end if extension is None else extension.end()


def _national_part(number: str) -> str | None:
    """The national significant number of ``number`` (country code first), if it has one.

    When in doubt, mask: any assigned country code followed by 4 to 14 digits is a phone,
    even where the length is wrong for that country (a mistyped number is still personal)."""
    if not number or number[0] == "0":
        return None
    if number[0] in _ONE_DIGIT_COUNTRY_CODES:
        code = number[0]
    elif number[:2] in _TWO_DIGIT_COUNTRY_CODES:
        code = number[:2]
    elif number[:3] in _THREE_DIGIT_COUNTRY_CODES:
        code = number[:3]
    else:
        return None
    national = number[len(code) :]
    if national.startswith("0") and code != "39":
        national = national[1:]  # the trunk prefix written by habit: +44 (0)20 ..., +49 0151 ...
    if 4 <= len(national) <= 14:
        return national
    return None


def _looks_like_date_or_address(
    groups: list[_Group], separators: list[str], *, versions: bool = True
) -> bool:
    if len(groups) <= 2:  # only a ZIP+4 code has two groups; nothing here has one
        return (
            len(groups) == 2
            and len(groups[0].digits) == 5
            and len(groups[1].digits) == 4
            and _fold_separator(_drop_cf(separators[1])).strip() == "-"
        )
    sizes = [len(g.digits) for g in groups]
    if 4 not in sizes and len(groups) != 4 and not versions:
        return False  # neither a year nor a dotted quad: the common case, kept cheap
    plain = [_fold_separator(_drop_cf(s)).strip() for s in separators]
    if len(groups) == 4 and all(p == "." for p in plain[1:]) and max(sizes) <= 3:
        return True  # an IPv4 address
    if (
        versions
        and len(groups) >= 3
        and all(p == "." for p in plain[1:])
        and sizes[0] <= 2
        and groups[0].digits[0] != "0"
    ):
        return True  # a version: 20.6.76.8240
    if sizes == [5, 4] and plain[1] == "-":
        return True  # a US ZIP+4 code
    for k in range(len(groups) - 2 if 4 in sizes else 0):
        sa, sb, sc = sizes[k : k + 3]
        if sb > 2 or not ((sc == 4 and sa <= 2) or (sa == 4 and sc <= 2)):
            continue  # neither d.m.yyyy nor yyyy-mm-dd by the sizes alone
        if plain[k + 1] not in (".", "/", "-") or plain[k + 2] not in (".", "/", "-"):
            continue
        a, b, c = int(groups[k].digits), int(groups[k + 1].digits), int(groups[k + 2].digits)
        if sc == 4 and 1900 <= c <= 2099 and sa <= 2 and sb <= 2 and 1 <= a <= 31 and 1 <= b <= 31:
            return True
        if sa == 4 and 1900 <= a <= 2099 and sb <= 2 and sc <= 2 and 1 <= b <= 12 and 1 <= c <= 31:
            return True
    return False


_PHONE_SEPARATORS: Final = frozenset({
    "", "-", ".", "/", "(", ")", ")-", "-(", ")/", ").", "–", "‐", "‑"
})  # fmt: skip
_YEAR: Final = regex.compile(r"19\d\d|20[0-4]\d")


def _phone_layout(
    groups: list[_Group], separators: list[str], sizes: list[int], *, paren: bool
) -> bool:
    """Whether the groups are written the way phone numbers are: spaces, dashes, dots,
    slashes and an area code in parentheses; dotted numbers only in groups of two or more
    digits (``204.313.5256``, not a version ``2.11.92.0.12``); not a range of years."""
    if len(groups) == 1:
        return not paren  # (every test below but the parenthesis' needs two groups)
    rest = separators[1:]
    plain = [_fold_separator(_drop_invisible(s)) for s in rest]
    if any(p not in _PHONE_SEPARATORS for p in plain):
        return False
    # (a separator of one character is strong only as a weak separator, refused just above,
    # or a line break: the test below needs separators of two characters or more)
    if len("".join(rest)) != len(rest) and any(
        _strong_separator(s) and s.lstrip(")\uff09") not in ("\n", "\r\n") for s in rest
    ):
        # columns of a table: 66.80  95.52  89.14 (one line break is an evasion, after an
        # area code's parenthesis too: "(030)\n1234\n5678")
        return False
    if "." in plain and (min(sizes) < 2 or any(p.lstrip(")") not in (".", "") for p in plain)):
        return False
    if paren and ")" not in "".join(plain[:2]):
        return False  # the parenthesis encloses the area code only: "(02) 1234 5678"
    if sizes == [4, 4] and _YEAR.fullmatch(groups[0].digits):
        return False  # 2001-2015, 2002 0814: years and dates
    if sizes == [4, 4] and groups[0].digits[-1] == groups[1].digits[-1] == "0":
        return False  # 1000-3000: a range
    if "/" in plain and (plain.count("/") > 1 or (groups[0].digits[0] != "0" and len(groups) < 3)):
        return False  # 2047/2243; a slash follows an area code: 06571/93804649, 36/553-5603
    if "." in plain and len(groups) < 3 and sizes != [4, 4]:
        return False  # 122.085589: a decimal
    if len(sizes) > 1 and sizes[-1] < 2:
        return False  # 20070907-1
    if (
        len(sizes) == 2
        and plain[0] in ("-", "–")
        and sizes[0] == sizes[1]
        and groups[0].digits[0] == groups[1].digits[0]
        and groups[0].digits < groups[1].digits
    ):
        return False  # 64010-64016, 2360-2363: a range
    # IEEE 854-1987
    return not (sizes == [3, 4] and _YEAR.fullmatch(groups[1].digits) and plain[0] != "")


_CODE_BEFORE: Final = frozenset("'\"/=-\\~^[_.,:#")


def _code_or_placeholder(text: str, start: int, end: int, digits: str, compact: bool) -> bool:
    """Whether a national-looking number is a literal in code or a URL (``'123456789'``,
    ``/346174906``, ``-999999999``), a decimal, or a placeholder (``123456789``,
    ``888888800``) rather than someone's phone."""
    if start > 0 and text[start - 1] in _CODE_BEFORE:
        return True
    following = text[end : end + 2]
    if following and (
        following[0] in "'\"/\\_"
        or (following[0] in ".,\ue000-" and following[1:].isdigit() and following[1:].isascii())
    ):
        return True
    if not compact:
        return False
    if digits in "01234567890123" or digits in "98765432109876":
        return True
    return max(map(digits.count, set(digits))) >= len(digits) - 2


def _amount(text: str, start: int, end: int) -> bool:
    """Whether the number ``text[start:end]`` is an amount (a currency or unit next to it);
    the patterns run only when the character next to the number could begin one."""
    before = text[max(0, start - 3) : start]
    before = before[:-1] if before[-1:].isspace() else before[-2:]
    last = before[-1:]
    if (
        last
        and (not last.isascii() or last.lower() in _AMOUNT_BEFORE_LAST)
        and (
            # an ASCII letter ends a currency of two letters or more: czk, eur, usd…
            not (last.isascii() and last.isalpha())
            or (
                len(before) == 2
                and (not before.isascii() or before.lower() in _AMOUNT_BEFORE_PAIRS)
            )
        )
        and _AMOUNT_BEFORE.search(text, max(0, start - 8), start)
    ):
        return True
    after = text[end : end + 3]
    after = after[1:] if after[:1].isspace() else after[:2]
    first = after[:1]
    if not first:
        return False
    if first.isascii():
        lowered = first.lower()
        if lowered not in _AMOUNT_AFTER_FIRST:
            return False
        if lowered.isalpha():  # a currency or unit of two letters or more
            second = after[1:]
            if not second or (
                second.isascii() and lowered + second.lower() not in _AMOUNT_AFTER_PAIRS
            ):
                return False
    return _AMOUNT_AFTER.match(text, end) is not None


def _national_shape(
    digits: str, sizes: list[int], separators: list[str], *, keyword: bool, paren: bool
) -> bool:
    """Whether ``digits`` (grouped as ``sizes``) is laid out as a national phone number.

    The layouts of national numbering plans: a trunk prefix (``0`` in most of Europe, Asia,
    Africa and Oceania, ``8`` in Russia and its neighbours, ``1`` in North America) or an area
    code in parentheses, then 6 to 12 digits; or a number of 7 or 8 digits written in groups
    of two to four (Nordic, Baltic and Benelux numbers, North American local numbers); or 9
    to 11 digits in any layout; or a country code written without ``+``, set apart; or 11 to
    15 digits written compact (an MSISDN: a country code and a subscriber number without
    ``+``, as E.164 allows up to 15 digits; when in doubt, mask)."""
    count = len(digits)
    grouped = len(sizes) > 1
    if count > 15 or count < 7 or (digits.startswith("00") and (grouped or count < 11)):
        return False  # (a compact 00 number too long for a national one: an MSISDN still)
    if keyword:
        return True
    if paren and grouped:
        return True  # (0-312) 34567, (11) 96123-4567, (022) 12345
    first = digits[0]
    if first == "0":
        return count >= 9 or (grouped and min(sizes) >= 2)  # 0800 1234, 016 312 34
    if count <= 8:
        # 32 12 34 56, 21 234 567, 5123 4567, 310-1234: groups of 2-4 digits, no date or time;
        # an area code of 1-3 digits, then the subscriber's 5-7: 22 345678, 200 12345,
        # 2 2123456, 9 435 1234 (never thousands: 1 234 567)
        return grouped and (
            (min(sizes) >= 2 and max(sizes) <= 4 and sizes[0] >= 2)
            or (len(sizes) == 2 and sizes[0] <= 3 and sizes[1] >= 5)
            or sizes == [1, 3, 4]
        )
    if first == "8" and count == 11 and grouped:
        return True  # 8 (912) 345-67-89: the Russian trunk prefix
    if count in (9, 10):
        # 1-800-123-456, 1300 123 456, 11-7777-4121; compact too (a Unix time is one only
        # after its label: see _whole_segment_candidates)
        return True
    if count == 11:
        if first == "1" and grouped:
            return digits[1] not in "01" or sizes == [1, 3, 3, 4]
        # 131 2345 6789; compact: 38288307541 (Italy), 89123456789 (Russia), 11987654321
        # (Brazil), 60123456789 (Malaysia, its country code first)
        return True
    if not grouped:
        return True  # an MSISDN: 4915123456789, 420603123456
    if count > 14:
        return False
    # a country code written without "+", set apart: 420 603 123 456, 57 300 014 19 62
    code = digits[: sizes[0]]
    if min(sizes[1:]) < 2:
        return False  # 978-80-7363-123-4: an ISBN, not a phone layout
    if code in _TWO_DIGIT_COUNTRY_CODES or code in _THREE_DIGIT_COUNTRY_CODES:
        return 7 <= count - len(code) <= 12
    return first == "1" and sizes[0] in (3, 4) and count <= 13  # 1861 123 456 789


def _strong_separator(separator: str) -> bool:
    """A separator between two numbers rather than inside one: a line break, a spaced slash,
    or a wide gap."""
    stripped = separator.strip()
    return (
        _WEAK in separator
        or "\n" in separator
        or ("/" in stripped and separator != stripped)
        or "  " in separator
    )


_MAX_PIECES: Final = 8


def _segments(run: _Run) -> list[tuple[int, int]]:
    """The ranges of groups a whole number may fill: the run, and (when strong separators cut
    it into pieces) every range of consecutive pieces, longest first."""
    count = len(run.groups)
    if count == 1:
        return [(0, 0)]
    joined = "".join(run.separators)
    if not (
        ")" in joined
        or "\n" in joined
        or _WEAK in joined
        or "/" in joined
        or "  " in joined
        or "\uff09" in joined
    ):
        return [(0, count - 1)]  # nothing that cuts a run: the common case, without a loop
    cuts = []
    open_parens = 1 if run.paren else 0
    for k in range(1, count):
        separator = run.separators[k]
        if len(separator) == 1:  # the common case, without counting
            closes = 1 if separator in ")\uff09" else 0
            strong = separator in "\n\ue000"
            opens = 1 if separator in "(\uff08" else 0
        else:
            closes = separator.count(")") + separator.count("\uff09")
            strong = _strong_separator(separator)
            opens = separator.count("(") + separator.count("\uff08")
        if strong or closes > open_parens:
            cuts.append(k)  # "1) 603 123 456": the list number is not part of the phone
        open_parens = max(0, open_parens - closes) + opens
    if not cuts:
        return [(0, count - 1)]
    bounds = [0, *cuts, count]
    pieces = [(bounds[k], bounds[k + 1] - 1) for k in range(len(bounds) - 1)]
    if len(pieces) > _MAX_PIECES:
        return [(0, count - 1), *pieces]
    ranges = [
        (pieces[a][0], pieces[b][1]) for a in range(len(pieces)) for b in range(a, len(pieces))
    ]
    ranges.sort(key=lambda r: r[0] - r[1])
    return ranges


def _whole_segment_candidates(
    text: str,
    run: _Run,
    segments: Sequence[tuple[int, int]],
    found: list[_Candidate],
    joints: frozenset[int] = frozenset(),
) -> None:
    """SSNs and national phone numbers: they must fill a run (or a piece of one) on their own.

    Every test below is a condition a segment must meet, so they run cheapest first and the
    labels before the run (a scan of its context) are read only when a test needs them."""
    context_start = max(0, run.start - _CONTEXT)
    phone_word = -2  # -2: not read yet
    all_groups = run.groups
    last_group = len(all_groups) - 1
    glued_before = glued_after = -1  # -1: not read yet; 0 or 1: whether the run is glued
    for i, j in segments:
        if i == 0 and run.plus:
            continue  # an international number (never an SSN): judged by its country code
        first, last = all_groups[i], all_groups[j]
        digits = first.digits if i == j else "".join([g.digits for g in all_groups[i : j + 1]])
        count = len(digits)
        ssn_shape = count == 9 and _ssn_valid(digits)
        if not ssn_shape and (
            count > 15
            or (digits.startswith("00") and (i != j or count < 11))
            or (count < 7 and (count < 5 or not _phone_word_near(text, run.start)))
        ):
            continue  # too short or too long for any national phone number
        if first.poisoned or last.poisoned:
            continue  # only the first and the last group of a run can be (see _parse_run)
        start, end = first.start, last.end
        if i == 0:
            if glued_before < 0:
                glued_before = (
                    _glued_before(text, run.start)
                    or (
                        text.find("*", max(0, run.start - 7), run.start) >= 0
                        and _STAR_NEIGHBOUR_BEFORE.search(text, max(0, run.start - 7), run.start)
                        is not None
                    )
                ) + 0
            if glued_before:
                continue
            if run.paren:
                start = run.start
        if j == last_group:
            if glued_after < 0:
                glued_after = (
                    _glued_after(text, run.end)
                    or (
                        text.find("*", run.end, run.end + 7) >= 0
                        and _STAR_NEIGHBOUR_AFTER.match(text, run.end) is not None
                    )
                ) + 0
            if glued_after:
                continue
        if i == j:
            groups, separators, sizes = [first], [""], [count]
        else:
            groups = all_groups[i : j + 1]
            separators = run.separators[i : j + 1]
            if joints:
                # parts of one number sent as separate messages: a message boundary is no
                # group boundary ("175337" then "7274743" is 1753377274743)
                groups, separators = _merge_joints(groups, separators, joints)
            sizes = [len(g.digits) for g in groups]
        if ssn_shape:
            # AAA-GG-SSSS with one kind of separator of any width and script (or zero-width
            # characters inside one group at those places)
            plain = {_fold_separator(_drop_cf(s)).strip() for s in separators[1:]}
            formatted = (
                sizes == [3, 2, 4] and len(plain) == 1 and plain.pop() in _SSN_SEPARATORS
            ) or (i == j and _cf_layout(text, first) == [3, 2, 4])
            if not formatted:
                before = text[context_start : run.start]
                ssn_word = _last_match_end(_SSN_WORDS, before)
                if ssn_word >= 0:
                    if phone_word == -2:
                        phone_word = _phone_word_end(before)
                    other_word = _last_match_end(_NOT_PHONE_WORDS, before)
                    if other_word >= 0 and not _LABEL_GAP.fullmatch(before, other_word):
                        other_word = -1  # "order" three clauses earlier does not label it
                    formatted = ssn_word > max(phone_word, other_word)
            if formatted:
                found.append(_Candidate(_RANK["ssn"], first.start, last.end, "ssn"))
                continue
        if (
            (count > 11 or (count == 10 and digits[0] == "1"))
            and len(groups) == 1
            and _serial_label_before(text, run.start, count)
        ):
            continue  # the compact number an IMEI, EAN or Unix time is, not an MSISDN
        # A label ("order", "účet", "SSN") may change which kind a number is read as, but
        # never cancels masking of a number that has a phone's shape: when in doubt, mask.
        paren = run.paren and i == 0
        if (
            not _national_shape(digits, sizes, separators, keyword=False, paren=paren)
            or (len(groups) >= 3 and groups[-1].digits == groups[-2].digits == "000")
            or _code_or_placeholder(text, start, end, digits, len(groups) == 1)
        ):
            # not a phone by its shape (or a round figure, a literal in code, a placeholder):
            # only a phone word before the number ("tel.", "call me") can still make it one
            if phone_word == -2:
                phone_word = _phone_word_end(text[context_start : run.start])
            if phone_word < 0:
                continue
        if _amount(text, start, end):
            continue
        if i == j:
            # one group is neither a date nor an address, and has a phone's layout unless it
            # has a parenthesis before it (the two tests below, for one group)
            if paren:
                continue
        elif _looks_like_date_or_address(groups, separators) or not (
            _phone_layout(groups, separators, sizes, paren=paren)
            or (
                # after "tel.", a phone's separators make a phone (326.01815 in Armenia)
                all(
                    _fold_separator(_drop_invisible(s)) in _PHONE_SEPARATORS for s in separators[1:]
                )
                and _phone_word_near(text, run.start)
            )
        ):
            continue
        found.append(_Candidate(_RANK["phone"], start, _with_extension(text, end), "phone"))


_SSN_SEPARATORS: Final = frozenset({"-", "", ".", "/", "\\", "_"})


def _cf_layout(text: str, group: _Group) -> list[int]:
    """The sizes of the digit groups that format (zero-width) characters cut ``group`` into."""
    written = text[group.start : group.end]
    if written.isascii():
        return [len(written)]
    return [len(part) for part in _CF.split(written)]


def _merge_joints(
    groups: list[_Group], separators: list[str], joints: frozenset[int]
) -> tuple[list[_Group], list[str]]:
    """``groups`` with those that only a message boundary (a joint) separates made one."""
    merged, kept = [groups[0]], [""]
    for group, separator in zip(groups[1:], separators[1:], strict=True):
        last = merged[-1]
        if separator == _JOINT and last.end in joints:
            merged[-1] = _Group(last.start, group.end, last.digits + group.digits, False)
        else:
            merged.append(group)
            kept.append(separator)
    return merged, kept


def _uncontested(others: list[_Candidate], ibans: list[_Candidate]) -> list[tuple[int, int]]:
    """The spans of the IBANs that overlap no other candidate: they are chosen whatever else
    is found, so a number inside one of them need not be read (it could only lose)."""
    if not ibans:
        return []
    spans = []
    for iban in ibans:
        if not any(
            other is not iban and other.start < iban.end and iban.start < other.end
            for other in (*others, *ibans)
        ):
            spans.append((iban.start, iban.end))
    return spans


def _number_candidates(
    text: str,
    found: list[_Candidate],
    joints: frozenset[int],
    covered: Sequence[tuple[int, int]] = (),
    plain: bool = False,
) -> None:
    """Cards, SSNs and phones in ``text`` (``plain``: see :data:`_NOT_PLAIN`)."""
    for match in (_SIMPLE_RUN if plain else _RUN).finditer(text):
        start, end = match.span()
        if end - start < 5:
            continue
        if covered and any(a <= start and end <= b for a, b in covered):
            continue  # inside an IBAN that wins over anything found here
        body = match[0]
        # the digits of the normalised text are ASCII: count them before parsing the run
        digits = len(body) - len(body.translate(_WITHOUT_ASCII_DIGITS))
        if digits < 5 or (
            digits < 7
            and "+" not in body
            and "＋" not in body
            and not _phone_word_near(text, start)
        ):
            continue  # 5 or 6 digits are a phone only with a "+" or a phone word before them
        run = _parse_run(text, match)
        if digits >= _CARD_MIN_DIGITS:
            _card_candidates(text, run, found, joints)
        segments = _segments(run) if len(run.groups) > 1 else _ONE_SEGMENT
        if run.plus or len(segments) > 1 or run.groups[0].digits.startswith("00"):
            # a "+" or "00" number may start the run or any piece of it
            for first in sorted({0, *(i for i, _ in segments)}):
                if (first == 0 and run.plus) or run.groups[first].digits.startswith("00"):
                    phone = _international_phone(text, run, first)
                    if phone is not None:
                        found.append(phone)
        _whole_segment_candidates(text, run, segments, found, joints)


_WITHOUT_ASCII_DIGITS: Final = str.maketrans("", "", "0123456789")
_ONE_SEGMENT: Final = ((0, 0),)


_IBAN_START: Final = regex.compile(
    # the country code, not glued to a word, and the check digits (only separators, zero-width
    # ones included, between them: so consecutive starts never overlap)
    rf"(?<![\p{{L}}\p{{N}}])([A-Za-zＡ-Ｚａ-ｚ])\p{{Cf}}*([A-Za-zＡ-Ｚａ-ｚ])"
    rf"[{_SEPARATOR_CLASS}]{{0,3}}(\d)\p{{Cf}}*(\d)"
)
_SIMPLE_IBAN_START: Final = re.compile(
    # the same for plain text (see _NOT_PLAIN), where the standard library's engine is twice as
    # fast: there, every character but ASCII ones that are no letter or digit and the weak
    # separator is a letter or digit, \d is [0-9], there is no \p{Cf}, and the separators are
    # these
    r"(?<![^\x00-/:-@\[-`{-\x7f\ue000])([A-Za-zＡ-Ｚａ-ｚ])([A-Za-zＡ-Ｚａ-ｚ])"
    r"[\t\n\x0b\x0c\r ()\-./\\_\ue000]{0,3}([0-9])([0-9])"
)
_IBAN_CHAR_CLASS: Final = r"A-Za-zＡ-Ｚａ-ｚ0-9"
_IBAN_SEPARATORS: Final = regex.compile(rf"[{_SEPARATOR_CLASS}]+")
_FULL_WIDTH_LETTERS: Final = str.maketrans(
    {code: code - 0xFEE0 for code in (*range(0xFF21, 0xFF3B), *range(0xFF41, 0xFF5B))}
)


@functools.cache
def _iban_rest(country: str) -> regex.Pattern[str]:
    """The rest of an IBAN of ``country`` after its check digits: as many letters and digits
    as its BBAN has, each of the class the registry's structure gives its place (digits,
    letters, either), separators of any kind and length between them."""
    classes = {"n": "0-9", "a": "A-Za-zＡ-Ｚａ-ｚ", "c": _IBAN_CHAR_CLASS}
    return regex.compile(
        "".join(
            rf"(?:[{_SEPARATOR_CLASS}]*+[{classes[part[-1]]}]){{{part[:-1]}}}"
            for part in IBAN_STRUCTURES[country].split(",")
        )
    )


def _iban_candidates(text: str, found: list[_Candidate], plain: bool = False) -> None:
    """IBANs in ``text`` (``plain``: see :data:`_NOT_PLAIN`)."""
    for match in (_SIMPLE_IBAN_START if plain else _IBAN_START).finditer(text):
        country = (match[1] + match[2]).translate(_FULL_WIDTH_LETTERS).upper()
        check = int(match[3] + match[4])
        if not 2 <= check <= 98:
            continue
        if country in IBAN_STRUCTURES:
            # the structure of that country's account numbers, and exactly as long
            rest = _iban_rest(country).match(text, match.end())
            if rest is not None:
                position = rest.end()
                # (longer than that country's IBAN: glued to more letters or digits)
                if position == len(text) or not _letter_or_digit(text[position]):
                    body = _IBAN_SEPARATORS.sub("", rest[0]).translate(_FULL_WIDTH_LETTERS)
                    if _mod_97(body.upper() + country + match[3] + match[4]) == 1:
                        found.append(_Candidate(_RANK["iban"], match.start(1), position, "iban"))
                    continue
        end = _loose_iban_end(text, match, country)
        if end > 0:
            found.append(_Candidate(_RANK["iban"], match.start(1), end, "iban"))


def _mod_97(rearranged: str) -> int:
    """ISO 7064 MOD 97-10 of an IBAN rearranged (upper-case ASCII letters are 10-35)."""
    return int(rearranged.translate(_IBAN_LETTER_VALUES)) % 97


_IBAN_LETTER_VALUES: Final = str.maketrans({chr(65 + k): str(10 + k) for k in range(26)})


_LOOSE_IBAN_COMPACT: Final = regex.compile(r"[A-Z0-9]{8,30}")
_LOOSE_IBAN_GROUP: Final = regex.compile(r"[ \u00a0\-]([A-Z0-9]{1,4})")


def _loose_iban_end(text: str, start: regex.Match[str] | re.Match[str], country: str) -> int:
    """Where an IBAN outside the registry's structures ends (0: none there).

    When in doubt, mask: an IBAN of a country the registry does not list (a partial one in
    local use), or of another length than its country's, is still an account number when it
    is written as IBANs are (upper case, compact or in groups of four), holds six digits or
    more and passes mod 97. (Where the length is the registry's, its structure decides.)"""
    head = start[0]
    if len(head) != 4 or not head.isascii() or not head[:2].isupper():
        return 0
    position = start.end()
    candidates: list[tuple[int, str]] = []
    compact = _LOOSE_IBAN_COMPACT.match(text, position)
    if compact is not None:
        candidates.append((compact.end(), compact[0]))
    else:
        body = ""
        while len(body) < 30:
            group = _LOOSE_IBAN_GROUP.match(text, position)
            if group is None:
                break
            body += group[1]
            position = group.end()
            candidates.append((position, body))
            if len(group[1]) != 4:
                break
    for end, body in reversed(candidates):
        if end < len(text) and _letter_or_digit(text[end]):
            continue  # glued to more letters or digits: a word or a longer code
        if not 8 <= len(body) <= 30 or len(body) + 4 == IBAN_LENGTHS.get(country):
            continue
        if sum(map(str.isdigit, body)) < 6:
            continue
        if _mod_97(body + country + head[2:]) == 1:
            return end
    return 0


# E-mail addresses are found from each "@" (or an obfuscated "at") outwards, with bounded
# patterns anchored there, so the cost is linear whatever the text ("x@" + "a." * k included).
_LOCAL_CHAR: Final = regex.compile(r"[\p{L}\p{M}\p{N}\p{Cf}_.+\-%*]")
_LOCAL_FIRST: Final = regex.compile(r"[\p{L}\p{N}_]")
_LOCAL_TAIL: Final = regex.compile(r"(?r)[\p{L}\p{M}\p{N}\p{Cf}_.+\-%*]*")
_LABEL: Final = r"[\p{L}\p{N}](?:[\p{L}\p{M}\p{N}\p{Cf}\-]{0,61}[\p{L}\p{M}\p{N}])?"
_DOT: Final = r"[.．。｡]"
_WORD_DOT: Final = r"(?:\s*[(\[{<]\s*(?:dot|tečka|tecka)\s*[)\]}>]\s*|\s+(?:dot|tečka|tecka)\s+)"
_TLD: Final = r"(?:\p{L}[\p{L}\p{M}]{1,62}|xn--[A-Za-z0-9\-]{2,59})"
_DOMAIN: Final = regex.compile(
    rf"\p{{Cf}}*((?:{_LABEL}\p{{Cf}}*(?:{_DOT}|{_WORD_DOT})\p{{Cf}}*){{1,8}}{_TLD})"
    rf"(?![\p{{L}}\p{{M}}\p{{N}}\-])",
    regex.IGNORECASE,
)
# "@" with spaces or zero-width characters around it, or "at" in brackets or as a word
_AT: Final = regex.compile(
    r"\s{0,3}[@＠]\s{0,3}|\s*[(\[{<]\s*(?:at|zavináč|zavinac)\s*[)\]}>]\s*"
    r"|\s+(?:at|zavináč|zavinac)\s+",
    regex.IGNORECASE,
)
_AT_HINT: Final = regex.compile(r"(?i)[@＠]|[(\[{<]\s*(?:at|zavin)|\s(?:at|zavináč|zavinac)\s")


# Generic top-level domains people give addresses under; every two-letter (country) domain
# and every IDN domain counts too. A systemd unit (user@1000.service) is not an address.
_GENERIC_TLDS: Final = frozenset({
    "com", "net", "org", "edu", "gov", "mil", "int", "info", "biz", "name", "pro", "mobi",
    "aero", "asia", "cat", "coop", "jobs", "museum", "tel", "travel", "app", "dev", "page",
    "io", "ai", "shop", "online", "site", "store", "tech", "blog", "cloud", "email", "mail",
    "xyz", "top", "club", "live", "life", "world", "news", "today", "network", "digital",
    "agency", "company", "solutions", "services", "studio", "design", "media", "group", "team",
    "work", "space", "website", "fun", "art", "bank", "insurance", "law", "health", "care",
    "family", "love", "moe", "eus", "gal", "bzh", "scot", "wales", "london", "berlin", "paris",
    "wien", "prague", "amsterdam", "tokyo", "nyc", "swiss", "gmbh", "ltd", "llc", "inc",
    "local", "lan", "home", "internal", "test", "example", "invalid", "localhost", "academy",
    "center", "zone", "run", "link", "click", "help", "support", "social", "one",
})  # fmt: skip


_DOMAIN_DOT: Final = regex.compile(rf"{_DOT}|{_WORD_DOT}", regex.IGNORECASE)
_SPELLED_DOT: Final = regex.compile(_WORD_DOT, regex.IGNORECASE)


# When in doubt, mask: the root zone holds well over a thousand top-level domains (.kiwi,
# .swiss, new ones every year) and people make up others; a name ending in one of these is a
# file or a systemd unit (user@1000.service, icon@2x.png), not an address.
_NOT_TLDS: Final = frozenset({
    "service", "socket", "target", "mount", "automount", "timer", "path", "slice", "scope",
    "device", "swap", "txt", "json", "yaml", "yml", "toml", "ini", "cfg", "conf", "log",
    "lock", "pid", "sock", "tmp", "bak", "png", "jpg", "jpeg", "gif", "svg", "webp", "ico",
    "bmp", "pdf", "doc", "docx", "xls", "xlsx", "ppt", "pptx", "csv", "zip", "tar", "tgz",
    "bz2", "rar", "exe", "dll", "dylib", "bat", "ps1", "java", "class", "jar", "cpp", "hpp",
    "css", "scss", "sass", "less", "vue", "jsx", "tsx", "php", "lua", "sql", "sqlite", "git",
    "iso", "img", "dmg", "deb", "rpm", "apk", "ipa", "mp3", "mp4", "wav", "avi", "mov", "mkv",
    "webm", "ttf", "otf", "woff", "woff2", "eot", "map", "min", "pem", "crt", "cer", "der",
    "csr", "html", "htm", "xml", "yarn", "npm", "lockb", "whl", "egg", "pyc", "gem", "nupkg",
})  # fmt: skip


def _plausible_domain(domain: str) -> bool:
    tld = _DOMAIN_DOT.split(_drop_cf(domain))[-1]
    return (
        len(tld) == 2
        or not tld.isascii()
        or tld.lower() in _GENERIC_TLDS
        or tld.lower().startswith("xn--")
        or (tld.isalpha() and tld.lower() not in _NOT_TLDS)
    )


def _local_start(text: str, at: int) -> int:
    """Where the local part that ends at ``at`` begins (``at`` when there is none)."""
    # the local characters right before "@", at most 64 of them (matched backwards)
    position = _LOCAL_TAIL.match(text, max(0, at - 64), at).start()  # type: ignore[union-attr]
    while position < at and not _LOCAL_FIRST.match(text, position):
        position += 1  # a local part starts with a letter, digit or underscore
    return position


def _email_candidates(text: str, found: list[_Candidate]) -> None:
    if not _AT_HINT.search(text):
        return
    for at in _AT.finditer(text):
        start = _local_start(text, at.start())
        if start == at.start():
            continue
        if start > 0 and _LOCAL_CHAR.match(text, start - 1):
            continue  # a local part longer than 64 characters: not an address
        domain = _DOMAIN.match(text, at.end())
        if domain is None or not _plausible_domain(domain[1]):
            continue
        written_at = at[0].strip()
        obfuscated = written_at not in ("@", "＠")
        # "at" as a plain word needs a spelled-out dot too: "jan at example dot com", never
        # "look at example.com"
        if (
            obfuscated
            and not written_at.startswith(("(", "[", "{", "<"))
            and not _SPELLED_DOT.search(domain[1])
        ):
            continue
        local = _drop_cf(text[start : at.start()])
        if len(local) > 1 and local[1:].strip("*") == "":
            continue  # already masked
        found.append(_Candidate(_RANK["email"], start, domain.end(), "email"))


# Digits spelled out, in English and Czech: seven or more number words in a row are a number.
_NUMBER_WORDS: Final[dict[str, str]] = {
    "zero": "0", "oh": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
    "six": "6", "seven": "7", "eight": "8", "nine": "9",
    "nula": "0", "jedna": "1", "jeden": "1", "jedno": "1", "dva": "2", "dvě": "2", "dve": "2",
    "tři": "3", "tri": "3", "čtyři": "4", "ctyri": "4", "pět": "5", "pet": "5", "šest": "6",
    "sest": "6", "sedm": "7", "osm": "8", "devět": "9", "devet": "9",
}  # fmt: skip
_NUMBER_WORD: Final = "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True))
_SPELLED: Final = regex.compile(
    rf"(?i)(?<![\p{{L}}])(?:{_NUMBER_WORD})(?:[\s,\-/.\p{{Cf}}]{{1,4}}(?:{_NUMBER_WORD})){{6,}}+"
    rf"(?![\p{{L}}])"
)
_SPELLED_WORD: Final = regex.compile(rf"(?i)(?<![\p{{L}}])(?:{_NUMBER_WORD})(?![\p{{L}}])")
_SPELLED_HINT: Final = regex.compile(
    r"(?i)\b(?:zero|one|two|three|four|five|six|seven|eight|nine|nula|jedn|dv|t[řr]i|"
    r"[čc]ty|p[ěe]t|[šs]est|sedm|osm|dev)"
)


def _spelled_digits(item: str) -> str:
    return "".join(_NUMBER_WORDS[w[0].lower()] for w in _SPELLED_WORD.finditer(item))


def _spelled_candidates(text: str, found: list[_Candidate]) -> None:
    if not _SPELLED_HINT.search(text):
        return
    for match in _SPELLED.finditer(text):
        digits = _spelled_digits(match[0])
        if (
            _CARD_MIN_DIGITS <= len(digits) <= 19
            and _card_issuer_plausible(digits)
            and _luhn_valid(digits)
        ):
            kind = "card"
        elif (
            len(digits) == 9
            and _ssn_valid(digits)
            and _SSN_WORDS.search(text, max(0, match.start() - _CONTEXT), match.start())
        ):
            kind = "ssn"
        else:
            kind = "phone"  # when in doubt, mask: seven digits spelled out are someone's number
        found.append(_Candidate(_RANK[kind], match.start(), match.end(), kind))


def _mask_spelled(item: str) -> str:
    """Spelled-out digits: every word but the last four becomes stars, those four digits."""
    words = list(_SPELLED_WORD.finditer(item))
    kept = "".join(_NUMBER_WORDS[w[0].lower()] for w in words[-4:])
    hidden = sum(len(w[0]) for w in words[:-4])
    return "*" * hidden + kept


# --------------------------------------------------------------------------- screening

# Most chat lines cannot hold an item of the kinds the at-rest policy masks (cards): they have
# too few digits and are too short to spell a card out. ``_may_hold`` says so without running
# the finders; it answers False only where the finders provably find nothing of the kinds, and
# True for every kind it does not screen. Its cost is linear (one count of digits, two searches).
_SCREENED_KINDS: Final = frozenset({"card", "email"})
_SPELLED_CARD_MIN_LENGTH: Final = _CARD_MIN_DIGITS * min(map(len, _NUMBER_WORDS)) + (
    _CARD_MIN_DIGITS - 1
)
"""The shortest text that can spell a card out: a number word per digit (the shortest word
has two letters, and case-insensitive matching folds letter by letter) and at least one
separator between two words."""
_CARDS: Final = frozenset({"card"})


def _may_hold_card(normal: str, digits_before: int = 0) -> bool:
    """Whether the finders could find a card in the normalised text ``normal`` when it follows
    parts of earlier messages holding ``digits_before`` digits and no letters (the chain of
    :mod:`._pci`).

    The digits a card is read from are the ASCII digits of the normalised text (every digit of
    any script is one there) after look-alikes inside numbers have become digits
    (:func:`_lookalike`); a card has at least :data:`_CARD_MIN_DIGITS` of them. A look-alike
    token has fewer look-alikes than digits, so ``n`` digits become at most ``2n - 1``, and no
    character becomes more than one. A card spelled out needs a number word
    (:data:`_SPELLED_HINT`) and :data:`_SPELLED_CARD_MIN_LENGTH` characters.
    """
    length = len(normal)
    if length + digits_before < _CARD_MIN_DIGITS:
        return False  # too short for the digits, and shorter still than a spelled card
    digits = len(_ASCII_DIGIT.findall(normal))
    if digits and _LOOKALIKE_HINT.search(normal) is not None:
        digits += digits - 1
    if digits_before + digits >= _CARD_MIN_DIGITS:
        return True
    return length >= _SPELLED_CARD_MIN_LENGTH and _SPELLED_HINT.search(normal) is not None


_ASCII_BUT_DIGITS_AND_AMPERSAND: Final = r"[\x00-\x25\x27-\x2f\x3a-\x7f]"
_FEW_DIGITS: Final = re.compile(
    rf"{_ASCII_BUT_DIGITS_AND_AMPERSAND}*+"
    rf"(?:[0-9]{_ASCII_BUT_DIGITS_AND_AMPERSAND}*+){{0,{_CARD_MIN_DIGITS // 2}}}+"
)
"""ASCII text without ``&`` holding at most half as many digits as a card has at least (one C
search; the standard library's engine)."""


def _holds_no_card(text: str) -> bool:
    """True only when :func:`_may_hold_card` answers False for the normalised ``text`` with
    nothing before it, found without normalising it: a text shorter than a card's digits, or
    one :data:`_FEW_DIGITS` matches whole. The latter is its own normalised copy but for the
    weak separators ``,`` and ``|`` (ASCII, and no ``&`` that could start an entity); its
    ``d`` ASCII digits become at most ``2d - 1`` with look-alikes, fewer than a card's; a
    card spelled out needs :data:`_SPELLED_CARD_MIN_LENGTH` characters and a number word."""
    length = len(text)
    if length < _CARD_MIN_DIGITS:
        return True
    if _FEW_DIGITS.fullmatch(text) is None:
        return False
    if length < _SPELLED_CARD_MIN_LENGTH:
        return True
    normal = text.replace(",", _WEAK).replace("|", _WEAK)  # (_normalise_plain, for this text)
    return _SPELLED_HINT.search(normal) is None


def _may_hold(normal: str, kinds: frozenset[str]) -> bool:
    """Whether the finders could find an item of ``kinds`` (built-in kinds) in the normalised
    text ``normal``: False only when every kind is screened and proven absent. An e-mail
    address needs what :data:`_AT_HINT` looks for (:func:`_email_candidates` finds none
    without it); a card, see :func:`_may_hold_card`. What other kinds find does not matter:
    only candidates of ``kinds`` are ever returned."""
    if not kinds <= _SCREENED_KINDS:
        return True
    if "card" in kinds and _may_hold_card(normal):
        return True
    return "email" in kinds and _AT_HINT.search(normal) is not None


def may_hold(text: str, policy: MaskingPolicy, digits_before: int = 0) -> bool:
    """Whether masking ``text`` by ``policy`` could change anything: False only when it is
    proven that the finders find no item of the policy's kinds in it (so ``mask_text`` would
    return it unchanged). With ``digits_before``, ``text`` follows earlier parts holding that
    many digits and no letters, as :func:`mask_across` reads them (the trailing numbers of
    earlier messages); that is screened for a cards-only policy, other policies answer True.
    """
    if not isinstance(text, str) or not isinstance(policy, MaskingPolicy):
        return True  # the full path raises the typed error
    if not policy.enabled or not (policy.kinds or policy.detectors):
        return False
    if policy.detectors:
        return True
    normal = _normalise_plain(text)[0]
    if digits_before:
        return policy.kinds != _CARDS or _may_hold_card(normal, digits_before)
    return _may_hold(normal, policy.kinds)


def _candidates(
    text: str,
    kinds: frozenset[str],
    joints: frozenset[int] = frozenset(),
    extra: Sequence[_Candidate] = (),
    digits: bool | None = None,
    words: bool | None = None,
    plain: bool | None = None,
) -> list[_Candidate]:
    """The chosen candidates of ``kinds``; ``joints`` are the positions of the spaces that
    stand for message boundaries (see :func:`mask_across`); ``extra`` are the candidates of
    the policy's own detectors; ``digits`` and ``words`` whether ``text`` has what
    :data:`_DIGIT` and :data:`_WORDS` look for, ``plain`` whether it is plain (see
    :data:`_NOT_PLAIN`) (``None``: not looked at yet)."""
    found: list[_Candidate] = list(extra)
    if words is None:
        words = _WORDS.search(text) is not None
    if digits is None:
        digits = _DIGIT.search(text) is not None
    if words and "email" in kinds:
        _email_candidates(text, found)
    if digits:  # numbers and IBANs have digits
        others = len(found)
        if plain is None:
            plain = text.isascii() or _NOT_PLAIN.search(text) is None
        _iban_candidates(text, found, plain)
        # (look-alikes become ASCII digits: the text stays as plain as it was)
        numbers = _LOOKALIKE_TOKEN.sub(_lookalike, text) if _LOOKALIKE_HINT.search(text) else text
        covered = _uncontested(found[:others], found[others:])
        _number_candidates(numbers, found, joints, covered, plain)
        if "iban" in kinds:
            _account_candidates(numbers, found)
    if words:
        _spelled_candidates(text, found)
    if len(found) < 2:  # nothing to choose between
        return [c for c in found if c.kind in kinds]
    # the stronger kind first; then the earlier, then the longer candidate
    found.sort(key=lambda c: (c.rank, c.start, -c.end))
    starts: list[int] = []  # of the chosen candidates, kept sorted
    by_start: dict[int, _Candidate] = {}
    for candidate in found:
        index = bisect.bisect_right(starts, candidate.start)
        if index and by_start[starts[index - 1]].end > candidate.start:
            continue
        if index < len(starts) and starts[index] < candidate.end:
            continue
        starts.insert(index, candidate.start)
        by_start[candidate.start] = candidate
    return [by_start[start] for start in starts if by_start[start].kind in kinds]


def _find_in(text: str, policy: MaskingPolicy | None) -> tuple[str, list[_Candidate]]:
    """The normalised text and the chosen candidates in it."""
    if not isinstance(text, str):
        raise InvalidArgument(f"text must be a str, not {type(text).__name__}")
    policy = _DEFAULT_POLICY if policy is None else policy
    if not isinstance(policy, MaskingPolicy):
        raise InvalidArgument(f"policy must be a MaskingPolicy, not {type(policy).__name__}")
    if not policy.enabled or not (policy.kinds or policy.detectors):
        return text, []
    normal, plain = _normalise_plain(text)
    if not policy.detectors and not _may_hold(normal, policy.kinds):
        return normal, []
    extra = _detector_candidates(text, policy.detectors) if policy.detectors else []
    # (the digits of plain text are ASCII)
    digits = (_ASCII_DIGIT if plain else _DIGIT).search(normal) is not None
    words = _WORDS.search(normal) is not None
    if not (extra or digits or words):
        return normal, []
    kinds = policy.kinds | {d.kind for d in policy.detectors} if policy.detectors else policy.kinds
    return normal, _candidates(normal, kinds, extra=extra, digits=digits, words=words, plain=plain)


_CUSTOM_RANK: Final = 3  # after e-mail, IBAN and card; before SSN and phone
_CZECH_ACCOUNT_RANK: Final = 4  # prefix-number/bank code: before a phone
_ACCOUNT_RANK: Final = 6  # a bank account number without its IBAN: after every other kind

# Bank account numbers without the IBAN around them (a BBAN). When in doubt, mask: they are
# what an IBAN carries, so they are found as the "iban" kind, where nothing else is found:
# four capital letters of a bank code glued to nine or more digits (GB, IE, NL and many
# others: NWBK60161331926819); a Czech or Slovak account, its prefix, number and bank code
# (19-2000145399/0800); or a number of 8 to 40 digits after an account label.
_BANK_CODE_ACCOUNT: Final = regex.compile(r"(?<![\p{L}\p{N}])[A-Z]{4}[0-9]{9,30}(?![\p{L}\p{N}])")
_CZECH_ACCOUNT: Final = regex.compile(
    r"(?<![\p{L}\p{N}/\-.])(?:[0-9]{1,6}-)?([0-9]{2,10})/[0-9]{4}(?![\p{L}\p{N}/\-])"
)
_LABELLED_ACCOUNT: Final = regex.compile(
    r"(?<![\p{L}])(?i:account|acct|a/c|acc|účet|účtu|ucet|uctu|konto|kontonummer|compte|"
    r"cuenta|conta|rekening|rachunek|rachunku|iban|bban|bank)(?![\p{L}])[^\d\n,;!?+＋]{0,16}?"
    # digits in groups, or one token of digits and capital letters (Q0810527620197218320518)
    r"(\d(?:[ \u00a0\-.]?\d){7,39}|[A-Z0-9]{0,30}\d[A-Z0-9]{0,30})(?![\p{L}\p{N}])"
)
_ACCOUNT_HINT: Final = re.compile(
    r"[A-Z]{4}[0-9]|[0-9]/[0-9]|(?i:acc|a/c|[úu]č|uc|kont|compt|cuent|conta|rek|rach|[bi]ban|bank)"
)


def _account_candidates(text: str, found: list[_Candidate]) -> None:
    """Bank account numbers without their IBAN (see above) in the normalised ``text``."""
    if _ACCOUNT_HINT.search(text) is None:
        return
    for match in _BANK_CODE_ACCOUNT.finditer(text):
        found.append(_Candidate(_ACCOUNT_RANK, match.start(), match.end(), "iban"))
    for match in _CZECH_ACCOUNT.finditer(text):
        digits = match[0].replace("-", "").replace("/", "")
        if len(digits) >= 10 and not _placeholder(match[1]):
            # (as sure as a label: before a phone, and whole with its bank code)
            found.append(_Candidate(_CZECH_ACCOUNT_RANK, match.start(), match.end(), "iban"))
    for match in _LABELLED_ACCOUNT.finditer(text):
        digits = _ascii_digits(match[1])
        if len(digits) >= 8 and not _placeholder(digits):
            found.append(_Candidate(_ACCOUNT_RANK, match.start(1), match.end(1), "iban"))


def _placeholder(digits: str) -> bool:
    """Whether ``digits`` are a placeholder (123456789, 000000) rather than someone's."""
    if digits in "01234567890123456789" or digits in "98765432109876543210":
        return True
    return max(map(digits.count, set(digits))) >= len(digits) - 2


def _detector_candidates(text: str, detectors: tuple[Detector, ...]) -> list[_Candidate]:
    found = []
    for detector in detectors:
        for start, end in detector.find(text):
            if 0 <= start < end <= len(text):
                found.append(_Candidate(_CUSTOM_RANK, start, end, detector.kind))
    return found


def _find(text: str, policy: MaskingPolicy | None) -> list[_Candidate]:
    return _find_in(text, policy)[1]


# --------------------------------------------------------------------------- masks


def _mask_number(item: str, keep_head: int) -> str:
    """Whitespace and format characters dropped, every character but the last four digits
    (and the first ``keep_head`` ones) a star; the kept digits in ASCII, stars first."""
    # in ASCII, no format characters and six whitespace characters: no pattern needed
    visible = item.translate(_ASCII_WHITESPACE) if item.isascii() else _INVISIBLE.sub("", item)
    digits = _ascii_digits(visible)
    tail = digits[-4:]
    head = digits[: min(keep_head, max(0, len(digits) - 4))]
    return head + "*" * (len(visible) - len(head) - len(tail)) + tail


def _mask_email(item: str) -> str:
    at = _AT.search(item)
    split = len(item) if at is None else at.start()
    local = _drop_cf(item[:split])
    return local[:1] + "*" * (len(local) - 1) + item[split:]


def _token(kind: str, item: str, key: bytes) -> str:
    """A keyed, letters-only token of an item: the same item (whatever its layout) and key
    give the same token; nothing of the item can be read from it."""
    if kind == "email":
        canonical = _CF.sub("", _INVISIBLE.sub("", item)).lower()
    else:
        digits = _ascii_digits(item)
        canonical = digits if kind != "iban" and digits else _INVISIBLE.sub("", item).upper()
    digest = hmac.new(key, f"{kind}:{canonical}".encode(), hashlib.sha256).hexdigest()[:12]
    return digest.translate(_HEX_AS_LETTERS)


_HEX_AS_LETTERS: Final = str.maketrans("0123456789abcdef", "abcdefghijklmnop")


def _mask(text: str, candidate: _Candidate, policy: MaskingPolicy) -> str:
    item = text[candidate.start : candidate.end].replace(_FILL, "")
    if policy.style == "label":
        return f"[{candidate.kind.upper()}]"
    if policy.style == "token":
        assert policy.token_key is not None
        return f"[{candidate.kind.upper()}:{_token(candidate.kind, item, policy.token_key)}]"
    if candidate.kind not in ALL_KINDS:
        detector = next(d for d in policy.detectors if d.kind == candidate.kind)
        if detector.mask is not None:
            return detector.mask(item)
        return _mask_number(item, 0)
    if candidate.kind == "email":
        return _mask_email(item)
    if candidate.kind != "iban" and item[:1].isalpha() and _SPELLED_WORD.match(item):
        return _mask_spelled(item)
    keep_head = 6 if candidate.kind == "card" and policy.keep_card_bin else 0
    return _mask_number(item, keep_head)


# --------------------------------------------------------------------------- public functions


def find_sensitive(text: str, policy: MaskingPolicy | None = None) -> list[Finding]:
    """Every item of the policy's kinds in ``text``, in text order, never overlapping.

    ``policy`` ``None`` means ``MaskingPolicy()``; a disabled policy finds nothing.
    """
    return [Finding(kind=c.kind, start=c.start, end=c.end) for c in _find(text, policy)]


def mask_text(text: str, policy: MaskingPolicy | None = None) -> str:
    """``text`` with every item of the policy's kinds masked; everything else unchanged.

    >>> mask_text("+447966197542")
    '*********7542'
    >>> mask_text("melissa@gmail.com")
    'm******@gmail.com'
    """
    if policy is _CARDS_ONLY and type(text) is str and _holds_no_card(text):
        return text  # (PCI at rest, the desk's default: most text is proven free of cards)
    normal, candidates = _find_in(text, policy)
    return _apply(text, normal, candidates, _DEFAULT_POLICY if policy is None else policy)


def _apply(text: str, normal: str, candidates: list[_Candidate], policy: MaskingPolicy) -> str:
    if not candidates:
        return text
    pieces: list[str] = []
    position = 0
    for candidate in candidates:
        pieces.append(text[position : candidate.start])
        pieces.append(_mask(normal, candidate, policy))
        position = candidate.end
    pieces.append(text[position:])
    return "".join(pieces)


_CARDS_ONLY: Final = MaskingPolicy(kinds=frozenset({"card"}))
_PHONES_ONLY: Final = MaskingPolicy(kinds=frozenset({"phone"}))


def redact_cards(text: str) -> str:
    """``text`` with card numbers masked (PCI at rest): ``mask_text(text, cards only)``."""
    return mask_text(text, _CARDS_ONLY)


def looks_like_phone(text: str) -> bool:
    """Whether ``text`` (a customer name, say) is nothing but a phone number."""
    stripped = text.strip()
    if not stripped:
        return False
    findings = _find(stripped, _PHONES_ONLY)
    return len(findings) == 1 and findings[0].start == 0 and findings[0].end == len(stripped)


_TAIL_DIGIT: Final = regex.compile(rf"\d[{_SEPARATOR_CLASS}]*$")
_HEAD_DIGIT: Final = regex.compile(rf"^[{_SEPARATOR_CLASS}]*\d")
_BARRIER: Final = "\n\x00\n"
_JOINT: Final = " "


_TAIL_LIMIT: Final = 400
_TAIL_CHAR: Final = regex.compile(rf"[\d{_SEPARATOR_CLASS}\u30fc\uff70]")
_NEVER_IN_TAIL: Final = frozenset(chr(c) for c in range(128) if not _TAIL_CHAR.match(chr(c)))
"""The ASCII characters that are neither a digit nor a separator: a text ending with one ends
with no number (a set look-up instead of a pattern's)."""


def digit_count(text: str) -> int:
    """How many decimal digits (of any script) ``text`` holds."""
    if text.isascii():  # the ASCII decimal digits are 0-9
        return len(_ASCII_DIGIT.findall(text))
    return sum(1 for char in text if unicodedata.decimal(char, None) is not None)


def number_tail_start(text: str) -> int:
    """Where the number that ``text`` ends with begins (its first digit, or the ``+`` before
    it); ``len(text)`` when ``text`` does not end with digits (separators aside). Looks at
    the last few hundred characters only."""
    position = len(text)
    if not position or text[-1] in _NEVER_IN_TAIL:
        return position  # (ends with a letter, "?" or "!": no number at its end)
    floor = max(0, len(text) - _TAIL_LIMIT)
    first_digit = len(text)
    while position > floor and _TAIL_CHAR.match(text[position - 1]):
        position -= 1
        if unicodedata.decimal(text[position], None) is not None:
            first_digit = position
    if first_digit < len(text) and first_digit > 0 and text[first_digit - 1] in "+＋":
        first_digit -= 1
    return first_digit


_HEAD_NUMBER: Final = regex.compile(
    rf"[{_SEPARATOR_CLASS}\u30fc\uff70*]*\d[\d{_SEPARATOR_CLASS}\u30fc\uff70*]*"
)


def number_head_end(text: str) -> int:
    """Where the number that ``text`` starts with (separators and the stars of a mask aside)
    ends: after its last digit; 0 when ``text`` does not start with one."""
    match = _HEAD_NUMBER.match(text)
    if match is None:
        return 0
    end = match.end()
    while unicodedata.decimal(text[end - 1], None) is None:
        end -= 1
    return end


def _joinable(earlier: str, later: str) -> bool:
    """Whether two consecutive messages may be parts of one number: the first ends with a digit
    group and the second starts with one (separators aside)."""
    return bool(_TAIL_DIGIT.search(earlier) and _HEAD_DIGIT.match(later))


def mask_across(texts: Sequence[str], policy: MaskingPolicy | None = None) -> list[str]:
    """Consecutive customer messages (oldest first), masked as one conversation.

    Every message is masked on its own, and an item split over consecutive messages (a card
    sent as four messages of four digits, an IBAN in two halves, a phone number in two) is
    masked in every part: each part's characters become ``*`` except the item's last four
    digits (and a card's first six with ``keep_card_bin``), wherever they fall. Messages are
    joined only where the earlier one ends with a digit group and the later one starts with
    one, so unrelated numbers in unrelated sentences never merge.
    """
    if isinstance(texts, str) or not isinstance(texts, Iterable):
        raise InvalidArgument(
            f"texts must be a sequence of str (the messages), not {type(texts).__name__}"
        )
    texts = list(texts)
    effective = _DEFAULT_POLICY if policy is None else policy
    found = [_find_in(text, effective) for text in texts]
    own = [candidates for _, candidates in found]
    masked = [
        _apply(text, normal, candidates, effective)
        for text, (normal, candidates) in zip(texts, found, strict=True)
    ]
    if len(texts) < 2 or not effective.enabled:
        return masked
    originals = texts
    texts = [normal for normal, _ in found]
    # Lay the messages out in one text: joinable neighbours with a space between them (a joint),
    # the others with a barrier no number crosses.
    offsets: list[int] = []
    pieces: list[str] = []
    joints: set[int] = set()
    position = 0
    for k, text in enumerate(texts):
        if k:
            joint = _JOINT if _joinable(texts[k - 1], text) else _BARRIER
            if joint == _JOINT:
                joints.add(position)
            pieces.append(joint)
            position += len(joint)
        offsets.append(position)
        pieces.append(text)
        position += len(text)
    if all(p != _JOINT for p in pieces[1::2]):
        return masked
    combined = "".join(pieces)
    spanning: dict[int, list[tuple[int, int, set[int], set[int]]]] = {}
    for candidate in _candidates(combined, effective.kinds, frozenset(joints)):
        first = _message_at(offsets, candidate.start)
        last = _message_at(offsets, candidate.end - 1)
        if first == last:
            continue
        head, tail = _kept_positions(combined, candidate, effective)
        for k in range(first, last + 1):
            begin = max(candidate.start, offsets[k]) - offsets[k]
            finish = min(candidate.end, offsets[k] + len(texts[k])) - offsets[k]
            if begin < finish:
                spanning.setdefault(k, []).append(
                    (
                        begin,
                        finish,
                        {p - offsets[k] for p in head},
                        {p - offsets[k] for p in tail},
                    )
                )
    for k, parts in spanning.items():
        masked[k] = _mask_parts(originals[k], texts[k], own[k], parts, effective)
    return masked


def _message_at(offsets: list[int], position: int) -> int:
    index = 0
    for k, offset in enumerate(offsets):
        if offset <= position:
            index = k
    return index


def _kept_positions(
    text: str, candidate: _Candidate, policy: MaskingPolicy
) -> tuple[set[int], set[int]]:
    """Where the digits an item's mask keeps are: the card's first six (with ``keep_card_bin``)
    and the last four."""
    digits = [
        k
        for k in range(candidate.start, candidate.end)
        if unicodedata.decimal(text[k], None) is not None
    ]
    tail = set(digits[-4:])
    head = set(digits[:6]) - tail if candidate.kind == "card" and policy.keep_card_bin else set()
    return head, tail


def _mask_parts(
    original: str,
    text: str,
    candidates: list[_Candidate],
    parts: list[tuple[int, int, set[int], set[int]]],
    policy: MaskingPolicy,
) -> str:
    """``original`` with the parts of spanning items masked, and its own items masked too
    (``text`` is its normalised copy, which detection and the masks read)."""
    own = [(c.start, c.end, _mask(text, c, policy)) for c in candidates]
    intervals: list[tuple[int, int, str]] = []
    for begin, finish, head, tail in parts:
        visible = [k for k in range(begin, finish) if not _INVISIBLE.match(text[k])]
        kept_head = [k for k in visible if k in head]
        kept_tail = [k for k in visible if k in tail]
        rendered = (
            _ascii_digits("".join(text[k] for k in kept_head))
            + "*" * (len(visible) - len(kept_head) - len(kept_tail))
            + _ascii_digits("".join(text[k] for k in kept_tail))
        )
        intervals.append((begin, finish, rendered))
    # A part of a spanning item wins over an item of the message it overlaps.
    for start, end, replacement in own:
        if all(end <= b or start >= f for b, f, _ in intervals):
            intervals.append((start, end, replacement))
    intervals.sort()
    pieces: list[str] = []
    position = 0
    for start, end, replacement in intervals:
        if start < position:
            continue
        pieces.append(original[position:start])
        pieces.append(replacement)
        position = end
    pieces.append(original[position:])
    return "".join(pieces)
