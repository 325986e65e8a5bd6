"""Masking of what leaves the desk as records: events and archived transcripts (SPEC section 6).

An export (``simulate --events``, the record of an archived conversation,
:meth:`~livechat_core.ports.ArchivedConversation.to_record`) carries customer text masked by
the desk's policy unless its caller asks for the text as stored. The rules are those of the
agent's screen:

* message texts, contacts, notes and every other free text are masked by the policy; the
  customer messages of a transcript are masked together (:func:`mask_across`), so an item
  split over several messages is masked in every part;
* a customer's name, and the author of a customer message, that is nothing but a phone number
  is masked as a phone (conditional masking, :func:`display_name`);
* identifiers and the values the desk itself chose (ids, states, roles, queues, kinds, event
  types) are kept, so records still refer to each other.

Pure functions over JSON-ready values; the input is never changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from ._masking import MaskingPolicy, mask_across, mask_text
from ._surfaces import display_name

__all__ = ["mask_conversation_record", "mask_event_record", "mask_value"]

_KEPT: Final = frozenset(
    {
        "id",
        "type",
        "aggregate",
        "state",
        "role",
        "kind",
        "queue",
        "queues",
        "asset",
        "owner",
        "outcome",
        "cause",
        "declined_by",
        "handed_off_by",
        "initials",
        "at",
    }
)
"""Keys whose string values the desk chose: never masked."""
_NAMES: Final = frozenset({"customer_name", "author"})


def _kept(key: str) -> bool:
    return key in _KEPT or key.endswith(("_id", "_ids"))


def mask_value(value: Any, policy: MaskingPolicy, key: str = "") -> Any:
    """A JSON-ready value with its free text masked by ``policy`` (``key`` is the name the
    value stands under). Ids and the desk's own values are kept; a name or author that is a
    phone number is masked as one."""
    if not policy.enabled:
        return value
    if isinstance(value, str):
        if _kept(key):
            return value
        if key in _NAMES:
            return display_name(value, policy)
        return mask_text(value, policy)
    if isinstance(value, list):
        if key == "redactions":
            return [_redaction(item, policy) for item in value]
        return [mask_value(item, policy, key) for item in value]
    if isinstance(value, dict):
        return {name: mask_value(item, policy, name) for name, item in value.items()}
    return value


def _redaction(item: Any, policy: MaskingPolicy) -> Any:
    """``[message id, text]``: the id kept, the text masked."""
    if isinstance(item, list) and len(item) == 2 and isinstance(item[1], str):
        return [item[0], mask_text(item[1], policy)]
    return mask_value(item, policy)


def _message(message: Any, policy: MaskingPolicy, texts: Mapping[str, str]) -> Any:
    """A message record: its text as the transcript masked it (``texts``, by message id and
    original text) or masked on its own; a customer author by the customer-name rule."""
    if not isinstance(message, dict):
        return mask_value(message, policy, "message")
    masked = {}
    for name, item in message.items():
        if name == "text" and isinstance(item, str):
            masked[name] = texts.get(f"{message.get('id')}\x00{item}") or mask_text(item, policy)
        elif name == "author" and message.get("role") != "customer":
            masked[name] = item  # an agent's id, or the system
        else:
            masked[name] = mask_value(item, policy, name)
    return masked


def mask_conversation_record(
    record: Mapping[str, Any], policy: MaskingPolicy
) -> tuple[dict[str, Any], dict[str, str]]:
    """A conversation record (the store's JSON form) masked by ``policy``, and how its
    message texts were masked (``"<message id>\\x00<text>"`` → masked text) for the events
    that carry the same messages.

    The customer messages are masked together, oldest first: an item split over several of
    them (agent lines between its parts included) is masked in every part."""
    if not policy.enabled:
        return dict(record), {}
    messages = [m for m in record.get("messages") or () if isinstance(m, dict)]
    customer = [
        m for m in messages if m.get("role") == "customer" and isinstance(m.get("text"), str)
    ]
    texts: dict[str, str] = {}
    for message, masked in zip(
        customer, mask_across([m["text"] for m in customer], policy), strict=True
    ):
        texts[f"{message.get('id')}\x00{message['text']}"] = masked
    result: dict[str, Any] = {}
    for name, value in record.items():
        if name == "messages" and isinstance(value, list):
            result[name] = [_message(m, policy, texts) for m in value]
        else:
            result[name] = mask_value(value, policy, name)
    return result, texts


def mask_event_record(
    record: Mapping[str, Any], policy: MaskingPolicy, texts: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """An event record (:func:`~livechat_core.event_to_record`) with its ``data`` masked by
    ``policy``; ``texts`` are the masked texts of the conversation's messages
    (:func:`mask_conversation_record`), so a posted message reads as in the transcript."""
    result = dict(record)
    data = record.get("data")
    if not policy.enabled or not isinstance(data, dict):
        return result
    masked = {}
    for name, value in data.items():
        if name == "message":
            masked[name] = _message(value, policy, texts or {})
        else:
            masked[name] = mask_value(value, policy, name)
    result["data"] = masked
    return result
