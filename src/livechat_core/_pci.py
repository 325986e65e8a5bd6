"""Masking at rest: customer messages are masked before they are stored (SPEC section 6).

A card typed whole in one message is masked in that message. A card split over consecutive
customer messages (four messages of four digits, or one digit per message, with short chat
lines such as "wait" between the parts) only becomes a card when its last part arrives; then
the earlier parts are redacted too, and the desk emits
:class:`~livechat_core.events.MessagesRedacted` so stores rewrite them and desktops repaint.

Which earlier messages can hold parts is decided by the conversation's *digit state*, not by
a fixed window of messages: walking back from the newest message, every customer message
that ends in digits contributes its trailing digits, short lines without digits (and agent or
system lines) are stepped over, and the walk stops once it holds as many digits as the longest
item has (a card has at most 19), at a message that does not end in digits, or at a long line
without any. Only the trailing digits of each earlier message take part, so the cost of a
send does not grow with the length of earlier messages or of the transcript.

The same walk serves the displays (:func:`mask_latest`): with masking at rest off, a preview
of the newest message still masks the part of a card whose beginning came earlier.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from typing import Final

import attrs

from ._errors import MessageTooLong
from ._masking import (
    _CARDS_ONLY,
    MaskingPolicy,
    _holds_no_card,
    digit_count,
    mask_across,
    mask_text,
    may_hold,
    number_head_end,
    number_tail_start,
)
from ._model import Conversation, Message, Role

__all__ = [
    "CARDS_ONLY",
    "MAX_CUSTOMER_MESSAGE_LENGTH",
    "CustomerTextScrubber",
    "mask_latest",
    "recent_window",
    "scrub_customer_text",
]

CARDS_ONLY: Final = _CARDS_ONLY
"""``MaskingPolicy(kinds=frozenset({"card"}))``: the policy masking at rest uses by default
(the very value :func:`~._masking.mask_text` screens fast)."""
MAX_CUSTOMER_MESSAGE_LENGTH: Final = 10_000
"""The default cap on a customer message, in code points after normalisation (SPEC section 6)."""

ITEM_DIGITS: Final = 34
"""Digits the walk collects at most: the longest IBAN (Saint Lucia, 32 characters) and any
card (19 digits) fit."""
SHORT_LINE: Final = 40
"""A customer line without digits up to this many code points ("wait", "sorry, again") may
stand between two parts of one number."""
MAX_GAP: Final = 4
"""How many such lines (or agent and system lines) in a row may stand between two parts."""


def _chain(messages: Sequence[Message]) -> tuple[list[tuple[Message, int]], int]:
    """The earlier messages (oldest first) whose trailing digits may continue into the next
    customer message, each with the index where its trailing number begins; and how many
    digits those trailing numbers hold."""
    chain, digits, _ = _walk(messages)
    return chain, digits


def _walk(messages: Sequence[Message]) -> tuple[list[tuple[Message, int]], int, bool]:
    """:func:`_chain`, and whether the chain continues a masked item: a message of stars only
    (the part of an earlier item that masking redacted whole) before a trailing number is a
    part of it, its stars counted as digits; so is a message of stars and the digits a mask
    kept; and stars may stand right before the oldest trailing number."""
    chain: list[tuple[Message, int]] = []
    digits = 0
    gap = 0
    masked = False
    for message in reversed(messages):
        text = message.text
        if message.role is not Role.CUSTOMER:
            gap += 1
            if gap > MAX_GAP:
                break
            continue
        start = number_tail_start(text)
        if start == len(text):
            stars = _masked_part(text) if chain else 0
            if stars:
                # a redacted part of an earlier item: the digits after it may continue it
                gap = 0
                masked = True
                chain.append((message, 0))
                digits += stars
                if digits >= ITEM_DIGITS:
                    break
                continue
            # no trailing number: a short line without digits is stepped over
            if len(text.strip()) > SHORT_LINE or digit_count(text) or gap >= MAX_GAP:
                break
            gap += 1
            continue
        gap = 0
        start = _with_country_code(text, start)
        stars = _masked_part(text[:start]) if start else 0
        if stars:
            # stars, then the digits a mask kept: a part of a masked item, read whole
            masked = True
            start = 0
        chain.append((message, start))
        digits += stars + digit_count(text[start:])
        if start > 0:
            masked = masked or text[:start].rstrip(_SEPARATORS).endswith("*")
            break
        if digits >= ITEM_DIGITS:
            break
    chain.reverse()
    return chain, digits, masked


def _with_country_code(text: str, start: int) -> int:
    """``start`` moved back over an IBAN's country code right before it (``DE46`` and the rest
    of the IBAN in the next message)."""
    if start < 2:
        return start
    code = text[start - 2 : start]
    if (
        code.isascii()
        and code.isalpha()
        and code.isupper()
        and (start == 2 or not text[start - 3].isalnum())
        and text[start : start + 2].isdigit()
    ):
        return start - 2
    return start


_SEPARATORS: Final = " \t\n\r\u00a0-./\u200b"
"""What may stand between a masked item's stars and digits that continue it."""


def _masked_part(text: str) -> int:
    """How many stars ``text`` holds when it is nothing but stars (and separators): the part
    of an item that masking redacted whole; 0 otherwise."""
    stripped = text.strip(_SEPARATORS)
    if not stripped or stripped.strip("*"):
        return 0
    return len(stripped)


def _continue_masked(parts: list[str], head_end: int) -> list[str]:
    """``parts`` (the trailing numbers of earlier messages, then the new message) with every
    digit but the last four of their number starred: the number continues a masked item, so
    the digits an earlier mask kept are no longer its last four. Only the first ``head_end``
    characters of the new message (its leading number) count."""
    positions = [
        (k, index)
        for k, part in enumerate(parts)
        for index in range(head_end if k == len(parts) - 1 else len(part))
        if unicodedata.decimal(part[index], None) is not None
    ]
    hidden: dict[int, list[int]] = {}
    for k, index in positions[:-4]:
        hidden.setdefault(k, []).append(index)
    out = list(parts)
    for k, indexes in hidden.items():
        chars = list(parts[k])
        for index in indexes:
            chars[index] = "*"
        out[k] = "".join(chars)
    return out


def recent_window(messages: Sequence[Message]) -> int:
    """How many of the newest ``messages`` the walk of the next customer message may read:
    from the oldest one whose trailing digits ``messages`` would chain to (0 when none).

    A conversation record keeps only these (the transcript is stored one row per
    message). The walk of a later message starts from a state at least as constrained as
    a fresh walk over ``messages`` (more digits held, a gap at least as long, or reset by
    a part of the same number), so it never reads further back than this one does.
    """
    chain = _chain(messages)[0]
    if not chain:
        return 0
    oldest = chain[0][0]
    for back in range(1, len(messages) + 1):
        if messages[-back] is oldest:
            return back
    return len(messages)  # pragma: no cover - the oldest part is one of ``messages``


def _mask_with_chain(
    messages: Sequence[Message], text: str, policy: MaskingPolicy
) -> tuple[str, tuple[tuple[str, str], ...]]:
    if not messages:  # (the usual case: the record keeps no earlier part)
        return mask_text(text, policy), ()
    chain, digits, continued = _walk(messages) if policy.enabled else ([], 0, False)
    if not chain:
        return mask_text(text, policy), ()
    continued = continued and number_head_end(text) > 0
    if not continued and not may_hold(text, policy, digits):
        # The earlier parts are digits and separators: with the new text's digits they are
        # too few for a card, so neither they nor the new text change (mask_across would
        # return them as they are).
        return text, ()
    masked = mask_across([m.text[start:] for m, start in chain] + [text], policy)
    if continued:
        # When in doubt, mask: digits sent right after a masked item continue it (the item
        # was found before its last digits came: a card whose first 14 digits pass Luhn)
        masked = _continue_masked(masked, number_head_end(masked[-1]))
    redactions = tuple(
        (message.id, message.text[:start] + new)
        for (message, start), new in zip(chain, masked, strict=False)
        if new != message.text[start:]
    )
    return masked[-1], redactions


def scrub_customer_text(
    conversation: Conversation, text: str, policy: MaskingPolicy = CARDS_ONLY
) -> tuple[str, tuple[tuple[str, str], ...]]:
    """The new message's text masked by ``policy``, and redactions of earlier fragments."""
    return _mask_with_chain(conversation.messages, text, policy)


@attrs.frozen(kw_only=True)
class CustomerTextScrubber:
    """What a desk does to a customer message before storing it: refuse one longer than
    ``max_length`` code points (:class:`MessageTooLong`), then mask it (and the earlier parts
    of an item it completes) by ``policy``; a disabled policy stores the text as sent."""

    policy: MaskingPolicy = CARDS_ONLY
    max_length: int = MAX_CUSTOMER_MESSAGE_LENGTH

    def __call__(
        self, conversation: Conversation, text: str
    ) -> tuple[str, tuple[tuple[str, str], ...]]:
        if len(text) > self.max_length:
            raise MessageTooLong(
                f"the message has {len(text)} characters; a customer message may have at most "
                f"{self.max_length}",
                length=len(text),
                limit=self.max_length,
            )
        policy = self.policy
        if not policy.enabled:
            return text, ()
        messages = conversation.messages
        if not messages and policy is _CARDS_ONLY and type(text) is str and _holds_no_card(text):
            return text, ()  # (_mask_with_chain's first case, and mask_text's screen, inline)
        return _mask_with_chain(messages, text, policy)


def mask_latest(messages: Sequence[Message], policy: MaskingPolicy) -> str:
    """The newest customer message of ``messages`` masked by ``policy`` for display, parts of
    items that began in earlier messages included; ``""`` when there is none."""
    for index in range(len(messages) - 1, -1, -1):
        if messages[index].role is Role.CUSTOMER:
            return _mask_with_chain(messages[:index], messages[index].text, policy)[0]
    return ""
