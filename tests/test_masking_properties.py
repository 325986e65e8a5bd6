"""Properties of masking (STYLE habit 8): total, idempotent, untouched outside findings, and no
generated item survives, whatever its format or evasion and whatever text surrounds it."""

from __future__ import annotations

import itertools
import unicodedata

import regex
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from livechat_core._masking import (
    Finding,
    MaskingPolicy,
    find_sensitive,
    mask_across,
    mask_text,
)
from livechat_core._pii_samples import Item, LabelledMessage, card_number
from livechat_core._pii_strategies import chat_texts, messages_with_item, pii_items

KINDS = ("card", "iban", "ssn", "email", "phone")
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

any_text = st.text(alphabet=st.characters(exclude_categories=()), max_size=200)
"""Any code points at all, lone surrogates included."""
numberish_text = st.text(alphabet="0123456789 -./+()@＠*aZ\u200b\u00a0\n٣７", max_size=80)
"""Text dense with digits, separators and stars: where the detector's edge cases live."""


def ascii_digits(text: str) -> str:
    return "".join(
        str(unicodedata.decimal(c)) for c in text if unicodedata.decimal(c, None) is not None
    )


def expected_mask(item: str, kind: str) -> str:
    """The source's rule, written independently of the implementation."""
    if kind == "email":
        at = max(item.rfind("@"), item.rfind("＠"))
        return item[0] + "*" * (at - 1) + item[at:]
    visible = regex.sub(r"[\s\p{Cf}]", "", item)
    kept = ascii_digits(visible)[-4:]  # fewer than four in an IBAN such as PK79 AAAA…
    return "*" * (len(visible) - len(kept)) + kept


def assert_masked_outside_untouched(text: str, findings: list[Finding], masked: str) -> None:
    rebuilt, position = [], 0
    for finding in findings:
        rebuilt.append(text[position : finding.start])
        rebuilt.append(expected_mask(text[finding.start : finding.end], finding.kind))
        position = finding.end
    rebuilt.append(text[position:])
    assert "".join(rebuilt) == masked


def survives(message: LabelledMessage, masked: str) -> bool:
    item = message.text[message.start : message.end]
    if message.kind == "email":
        return item[: max(item.rfind("@"), item.rfind("＠")) + 1] in masked
    if message.kind == "iban":
        item = item[2:]
    digits = ascii_digits(item)
    # Where the text around the item came through unchanged, only what stands between it is
    # the item's mask: digits of the text before it must not complete the item's digits
    # ("9, prosím: GI94XWAC…012" masked "9, prosím: ***…4012" keeps only "4012").
    before, after = message.text[: message.start], message.text[message.end :]
    if masked.startswith(before) and masked.endswith(after) and len(masked) >= len(before + after):
        masked = masked[len(before) : len(masked) - len(after)]
    # The mask keeps the last four digits: an item with no more than four (an IBAN whose
    # only digits are its check digits, such as BH76 AAAA…) survives only if left whole.
    return (len(digits) > 4 and digits in ascii_digits(masked)) or item in masked


@FAST
@example(
    message=LabelledMessage(
        text=", prosím: BH76AAAAAAAAAAAAAAAAAA díky, ", kind="iban", start=10, end=32
    )
)
@example(
    message=LabelledMessage(
        text="9, prosím: GI94XWACUDABMADAACAA012 díky, ", kind="iban", start=11, end=34
    )
)
@given(message=messages_with_item())
def test_no_generated_item_survives_mask_text(message: LabelledMessage) -> None:
    masked = mask_text(message.text)
    assert not survives(message, masked), masked


@FAST
@example(  # a line break after the area code's parenthesis is the evasion of a space
    message=LabelledMessage(
        text=", prosím: (030)\n0000\n0007 díky, ", kind="phone", start=10, end=25
    )
)
@given(message=messages_with_item())
def test_the_item_is_found_as_its_own_kind(message: LabelledMessage) -> None:
    findings = find_sensitive(message.text)
    assert any(
        f.kind == message.kind and f.start < message.end and message.start < f.end for f in findings
    ), findings


@FAST
@given(text=st.one_of(any_text, numberish_text, chat_texts()))
def test_mask_text_is_idempotent(text: str) -> None:
    once = mask_text(text)
    assert mask_text(once) == once
    assert find_sensitive(once) == []


@FAST
@given(text=st.one_of(any_text, numberish_text, chat_texts()))
def test_text_outside_findings_is_untouched(text: str) -> None:
    findings = find_sensitive(text)
    assert_masked_outside_untouched(text, findings, mask_text(text))


@FAST
@given(text=st.one_of(any_text, numberish_text, chat_texts()))
def test_findings_are_in_text_order_and_never_overlap(text: str) -> None:
    findings = find_sensitive(text)
    for earlier, later in itertools.pairwise(findings):
        assert earlier.end <= later.start
    for finding in findings:
        assert 0 <= finding.start < finding.end <= len(text)
        assert finding.kind in KINDS


@FAST
@given(
    text=st.one_of(any_text, numberish_text, chat_texts()),
    kinds=st.frozensets(st.sampled_from(KINDS)),
    enabled=st.booleans(),
    keep_card_bin=st.booleans(),
)
def test_any_policy_never_raises_and_finds_only_its_kinds(
    text: str, kinds: frozenset[str], enabled: bool, keep_card_bin: bool
) -> None:
    policy = MaskingPolicy(enabled=enabled, kinds=kinds, keep_card_bin=keep_card_bin)
    findings = find_sensitive(text, policy)
    assert all(f.kind in kinds for f in findings)
    masked = mask_text(text, policy)
    assert mask_text(masked, policy) == masked
    if not enabled:
        assert (findings, masked) == ([], text)


@FAST
@given(texts=st.lists(st.one_of(numberish_text, chat_texts()), max_size=5))
def test_mask_across_never_raises_and_masks_every_message(texts: list[str]) -> None:
    masked = mask_across(texts)
    assert len(masked) == len(texts)
    for original, result in zip(texts, masked, strict=True):
        for finding in find_sensitive(original):
            assert original[finding.start : finding.end] not in result or finding.kind == "email"


@FAST
@given(
    rng=st.randoms(use_true_random=False),
    parts=st.integers(min_value=2, max_value=5),
    separator=st.sampled_from(["", " ", "-"]),
)
def test_a_card_split_over_messages_is_masked_in_every_part(
    rng: st.SearchStrategy[object], parts: int, separator: str
) -> None:
    digits = card_number(rng)  # type: ignore[arg-type]
    cuts = sorted(rng.sample(range(1, len(digits)), parts - 1))  # type: ignore[attr-defined]
    pieces = [digits[a:b] for a, b in zip([0, *cuts], [*cuts, len(digits)], strict=True)]
    texts = [separator.join(piece) if separator else piece for piece in pieces]
    masked = mask_across(texts)
    shown = ascii_digits("".join(masked))
    assert shown == digits[-4:]


@FAST
@example(item=Item(kind="iban", text="PK79AAAAAAAAAAAAAAAAAAAA"))
@given(item=pii_items())
def test_an_item_alone_is_masked_exactly_by_the_rule(item: object) -> None:
    text = item.text  # type: ignore[attr-defined]
    findings = find_sensitive(text)
    assert findings
    assert_masked_outside_untouched(text, findings, mask_text(text))
