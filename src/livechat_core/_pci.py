"""PCI at rest: card numbers in customer messages are masked before they are stored.

A card typed whole in one message is masked in that message. A card split over
consecutive customer messages (say four messages of four digits) only becomes a card
when its last part arrives; then the earlier parts are redacted too, and the desk emits
:class:`~livechat_core.events.MessagesRedacted` so stores rewrite them and desktops repaint.
"""

from __future__ import annotations

from typing import Final

from ._masking import MaskingPolicy, mask_across
from ._model import Conversation, Message, Role

CARDS_ONLY: Final = MaskingPolicy(kinds=frozenset({"card"}))
WINDOW: Final = 8
"""How many consecutive customer messages before the new one may hold parts of one card."""


def scrub_customer_text(
    conversation: Conversation, text: str
) -> tuple[str, tuple[tuple[str, str], ...]]:
    """The new message's text with cards masked, and redactions of earlier fragments."""
    earlier: list[Message] = []
    for message in reversed(conversation.messages):
        if message.role is not Role.CUSTOMER or len(earlier) == WINDOW:
            break
        earlier.append(message)
    earlier.reverse()
    masked = mask_across([m.text for m in earlier] + [text], CARDS_ONLY)
    redactions = tuple(
        (message.id, new)
        for message, new in zip(earlier, masked, strict=False)
        if new != message.text
    )
    return masked[-1], redactions
