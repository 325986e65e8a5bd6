"""IBANs by each country's structure (issue 11 item 1).

Every country of the ISO 13616 registry, its territories and the partial IBANs in common use
has its BBAN structure (``4a,6n,8n``); a candidate is an IBAN only when its letters and digits
stand where that structure has them and mod 97 holds. Random valid IBANs made by ``schwifty``
(no one here wrote it) are all found; mod-97-valid strings that break their country's
structure are not.
"""

from __future__ import annotations

import random
import string

import pytest

from livechat_core import find_sensitive, mask_text
from livechat_core._masking import IBAN_LENGTHS, IBAN_STRUCTURES
from livechat_core._pii_samples import iban_number


def _with_check_digits(country: str, bban: str) -> str:
    """``country`` + the check digits that make ``bban`` pass mod 97 + ``bban``."""
    number = int("".join(str(int(c, 36)) for c in bban + country + "00"))
    return f"{country}{98 - number % 97:02d}{bban}"


def _found_as_iban(text: str, item: str) -> bool:
    start = text.index(item)
    return any(
        f.kind == "iban" and f.start <= start and f.end >= start + len(item)
        for f in find_sensitive(text)
    )


def test_every_structure_adds_up_to_its_country_length() -> None:
    assert set(IBAN_STRUCTURES) == set(IBAN_LENGTHS)
    assert len(IBAN_STRUCTURES) >= 127
    for country, structure in IBAN_STRUCTURES.items():
        parts = structure.split(",")
        assert all(p[:-1].isdigit() and p[-1] in "nac" for p in parts), country
        assert 15 <= IBAN_LENGTHS[country] <= 34, country
    # a few entries as the registry publishes them
    assert IBAN_STRUCTURES["GB"] == "4a,6n,8n"
    assert IBAN_STRUCTURES["AL"] == "8n,16c"
    assert IBAN_STRUCTURES["MT"] == "4a,5n,18c"
    assert IBAN_STRUCTURES["MU"] == "4a,2n,2n,12n,3n,3a"
    assert (IBAN_LENGTHS["NO"], IBAN_LENGTHS["LC"], IBAN_LENGTHS["RU"]) == (15, 32, 33)


def test_the_registrys_own_examples_are_found() -> None:
    examples = [
        "MT84MALT011000012345MTLCAST001S",
        "CH66 0885 3ZCK G25J YDYX I",
        "GB29 NWBK 6016 1331 9268 19",
        "AL47 2121 1009 0000 0002 3569 8741",
        "BR18 0036 0305 0000 1000 9795 493C 1",
        "MU17 BOMM 0101 1010 3030 0200 000M UR",
        "SC18 SSCB 1101 0000 0000 0000 1497 USD",
        "LC55 HEMM 0001 0001 0012 0012 0002 3015",
        "NO93 8601 1117 947",
    ]
    for example in examples:
        text = f"Účet: {example}, díky"
        assert _found_as_iban(text, example), example
        assert example not in mask_text(text)


@pytest.mark.parametrize("country", sorted(IBAN_STRUCTURES))
def test_random_valid_ibans_of_every_country_are_found(country: str) -> None:
    rng = random.Random(country)
    for _ in range(20):
        number = iban_number(rng, country)
        grouped = " ".join(number[k : k + 4] for k in range(0, len(number), 4))
        for item in (number, grouped, grouped.lower()):
            text = f"Here it is: {item}, thanks."
            assert _found_as_iban(text, item), item


def test_schwifty_ibans_of_every_country_it_knows_are_found() -> None:
    schwifty = pytest.importorskip("schwifty")
    from livechat_core._pii_samples import _schwifty_countries

    rng = random.Random(7)
    tried = 0
    for country in sorted(_schwifty_countries()):
        for _ in range(10):
            try:
                iban = schwifty.IBAN.random(country_code=country, random=rng, use_registry=False)
            except Exception:  # a country schwifty lists but cannot make: not ours to judge
                break
            tried += 1
            for item in (str(iban.compact), iban.formatted):
                text = f"Moje číslo je {item}, děkuji."
                assert _found_as_iban(text, item), item
    assert tried >= 1000


def _broken(country: str, rng: random.Random) -> str | None:
    """A BBAN of ``country`` with one character of the wrong class: a letter where the
    structure has a digit, or a digit where it has a letter (``None`` when the structure
    is ``c`` throughout, so nothing can be wrong)."""
    classes = "".join(part[-1] * int(part[:-1]) for part in IBAN_STRUCTURES[country].split(","))
    fixed = [k for k, c in enumerate(classes) if c != "c"]
    if not fixed:
        return None
    wrong = rng.choice(fixed)
    chars = []
    for k, c in enumerate(classes):
        letter = c == "a" or (c == "c" and rng.random() < 0.3)
        if k == wrong:
            letter = c == "n"
        chars.append(rng.choice(string.ascii_uppercase if letter else string.digits))
    return "".join(chars)


def test_mod_97_valid_strings_against_their_countrys_structure_are_not_ibans() -> None:
    rng = random.Random(11)
    checked = 0
    for country in sorted(IBAN_STRUCTURES):
        for _ in range(10):
            bban = _broken(country, rng)
            if bban is None:
                break
            item = _with_check_digits(country, bban)
            if not 2 <= int(item[2:4]) <= 98:
                continue
            checked += 1
            text = f"ref {item} ok"
            assert not any(f.kind == "iban" for f in find_sensitive(text)), item
    assert checked >= 1000


def test_letters_only_where_the_country_allows_them() -> None:
    # Germany's BBAN is digits only; Albania's account part may hold letters
    german = _with_check_digits("DE", "37040044053201300A")
    assert not any(f.kind == "iban" for f in find_sensitive(f"x {german} y"))
    albanian = _with_check_digits("AL", "21211009" + "0000000235698741")
    assert _found_as_iban(f"x {albanian} y", albanian)
    albanian_letters = _with_check_digits("AL", "21211009" + "ABCD000235698741")
    assert _found_as_iban(f"x {albanian_letters} y", albanian_letters)
    # letters in Albania's bank code (8n) are not an Albanian IBAN
    wrong = _with_check_digits("AL", "2121100X" + "0000000235698741")
    assert not any(f.kind == "iban" for f in find_sensitive(f"x {wrong} y"))
