"""Every masked surface of the agent desktop (SPEC section 6), as one pure projection.

The source lists where the desktop masks data when the administrator turned on "Mask
sensitive customer data": the task pane (title, message preview), notifications (the
desktop notification and the request popover), the interaction pane title, the digital
media pane (signatures of customer messages, the composer placeholder), the agent's
interaction history (task tile title) and the system CAD variable "Contact origin –
incoming". :func:`render_surfaces` renders all of them from a conversation and a policy.
A customer name that is a phone number is masked as one (conditional masking).
"""

from __future__ import annotations

import attrs

from ._errors import InvalidArgument
from ._masking import MaskingPolicy, looks_like_phone, mask_text
from ._model import Conversation
from ._pci import mask_latest

PREVIEW_LENGTH = 120


@attrs.frozen(kw_only=True)
class Surfaces:
    """The text of every masked surface; ``attrs.asdict`` lists them all, each a string."""

    task_title: str
    message_preview: str
    desktop_notification: str
    notification_popover: str
    interaction_title: str
    message_signature: str
    composer_placeholder: str
    history_title: str
    contact_origin: str


def display_name(name: str, policy: MaskingPolicy) -> str:
    """The customer's name as shown: masked when it is a phone number and masking is on."""
    if policy.enabled and "phone" in policy.kinds and looks_like_phone(name):
        return mask_text(name, MaskingPolicy(kinds=frozenset({"phone"})))
    return mask_text(name, policy)


def render_surfaces(conversation: Conversation, policy: MaskingPolicy) -> Surfaces:
    """Render every surface of ``conversation`` under ``policy``.

    The message preview masks the newest customer message together with the earlier
    customer messages an item may have started in, so a card split over messages shows
    no more than its last four digits whatever was stored.
    """
    if not isinstance(policy, MaskingPolicy):
        raise InvalidArgument(f"policy must be a MaskingPolicy, not {policy!r}")
    name = display_name(conversation.customer_name, policy)
    contact = mask_text(conversation.customer_contact, policy)
    who = f"{name} ({contact})" if contact and contact != name else name
    preview = mask_latest(conversation.messages, policy)
    if len(preview) > PREVIEW_LENGTH:
        preview = preview[: PREVIEW_LENGTH - 1] + "…"
    # the signature under each customer bubble: who wrote it
    signature = f"{name} · {contact}" if contact else name
    return Surfaces(
        task_title=who,
        message_preview=preview,
        desktop_notification=f"New chat from {who}" + (f": {preview}" if preview else ""),
        notification_popover=f"{who} · {conversation.queue}",
        interaction_title=who,
        message_signature=signature,
        composer_placeholder=f"Reply to {contact or name}",
        history_title=who,
        contact_origin=contact,
    )
