"""A webhook transport: each event as an HTTP POST of its neutral record, signed.

Standard library only (``urllib``). The body is the event's record
(:func:`livechat_core.event_to_record`) as UTF-8 JSON; the request carries

* ``X-Livechat-Signature: sha256=<hex>``: HMAC-SHA256 of the exact body bytes under the
  shared secret (check it with :func:`verify_signature` before trusting the body);
* ``X-Livechat-Event-Id``: the event id, for dropping duplicates.

A failed delivery (no connection, a timeout, a 5xx, 408, 425 or 429 answer) is retried
with exponential backoff and jitter; after ``max_attempts`` failures, or at once for
any other 4xx answer (the endpoint refuses it), the event goes to the dead letter and
the next event is sent. Events are posted one at a time in the order given, so an
endpoint sees each conversation's events in order.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from .._events import Event
from .._events import to_record as event_to_record

_log: Final = logging.getLogger("livechat_core")

SIGNATURE_HEADER: Final = "X-Livechat-Signature"
EVENT_ID_HEADER: Final = "X-Livechat-Event-Id"
_RETRYABLE_CLIENT_ERRORS: Final = frozenset({408, 425, 429})

DeadLetter = Callable[[Mapping[str, Any], str], None]
"""Receives an undeliverable event's record and the reason (no customer text in it)."""


class DeliveryStopped(Exception):
    """The transport was closed while it waited to retry; the events were not all sent."""


def sign(secret: bytes, body: bytes) -> str:
    """The signature header value for ``body``: ``"sha256=" + hex HMAC-SHA256``."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify_signature(secret: bytes, body: bytes, header: str | None) -> bool:
    """Whether ``header`` is the signature of ``body`` under ``secret`` (constant time)."""
    return header is not None and hmac.compare_digest(sign(secret, body), header)


def encode(event: Event) -> bytes:
    """The request body of ``event``: its neutral record as compact UTF-8 JSON."""
    return json.dumps(
        event_to_record(event), ensure_ascii=False, separators=(",", ":"), sort_keys=True
    ).encode()


class WebhookTransport:
    """POSTs every event to ``url``; see the module docstring.

    Args:
        url: the endpoint (``http://`` or ``https://``).
        secret: the shared secret of the signature (bytes, or text encoded as UTF-8).
        max_attempts: deliveries tried per event before it goes to the dead letter.
        backoff: the first pause between attempts, in seconds; it doubles each time.
        max_backoff: the longest pause.
        timeout: seconds for one request.
        dead_letter: receives undeliverable events; ``None`` → logged (by id) and dropped.
        headers: extra request headers (an API key, say).
    """

    def __init__(
        self,
        url: str,
        secret: bytes | str,
        *,
        max_attempts: int = 8,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        timeout: float = 10.0,
        dead_letter: DeadLetter | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"a webhook URL must be http:// or https://, not {url!r}")
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, not {max_attempts!r}")
        self.url = url
        self._secret = secret.encode() if isinstance(secret, str) else bytes(secret)
        if not self._secret:
            raise ValueError("the webhook secret must not be empty")
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.timeout = timeout
        self.dead_letter = dead_letter
        self.headers = dict(headers or {})
        self.dead_lettered = 0
        self._closed = threading.Event()

    def __repr__(self) -> str:  # never the secret
        return f"WebhookTransport({self.url!r}, max_attempts={self.max_attempts})"

    def close(self) -> None:
        """Stop waiting for retries: a ``publish`` in progress raises
        :class:`DeliveryStopped` (its events are published again by the next relay)."""
        self._closed.set()

    def publish(self, events: Sequence[Event]) -> None:
        """POST each event in turn (retrying, then dead-lettering, as the module says)."""
        for event in events:
            self._deliver(event)

    def _deliver(self, event: Event) -> None:
        body = encode(event)
        request_headers = {
            **self.headers,
            "Content-Type": "application/json; charset=utf-8",
            SIGNATURE_HEADER: sign(self._secret, body),
            EVENT_ID_HEADER: event.id,
        }
        reason = ""
        for attempt in range(1, self.max_attempts + 1):
            if self._closed.is_set():
                raise DeliveryStopped("the webhook transport was closed")
            request = urllib.request.Request(
                self.url, data=body, headers=request_headers, method="POST"
            )
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    response.read()
                return
            except urllib.error.HTTPError as error:
                reason = f"HTTP {error.code}"
                if 400 <= error.code < 500 and error.code not in _RETRYABLE_CLIENT_ERRORS:
                    break  # the endpoint refuses this event: retrying will not help
            except (OSError, ValueError) as error:  # URLError, timeouts, resets
                reason = type(error).__name__
            if attempt < self.max_attempts:
                delay = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
                delay = random.uniform(delay / 2, delay)
                _log.info(
                    "webhook delivery of %s failed (%s), attempt %d; retrying in %.2f s",
                    event.id,
                    reason,
                    attempt,
                    delay,
                )
                if self._closed.wait(delay):
                    raise DeliveryStopped("the webhook transport was closed")
        self.dead_lettered += 1
        _log.error("webhook gave up on %s (%s); it goes to the dead letter", event.id, reason)
        if self.dead_letter is not None:
            self.dead_letter(event_to_record(event), reason)


def jsonl_dead_letter(path: str) -> DeadLetter:
    """A dead letter that appends ``{"record": …, "reason": …}`` lines to the file at
    ``path`` (created if missing). The records hold the events' data, customer text
    included: keep the file where transcripts may be kept."""
    lock = threading.Lock()

    def write(record: Mapping[str, Any], reason: str) -> None:
        line = json.dumps({"record": record, "reason": reason}, ensure_ascii=False)
        with lock, open(path, "a", encoding="utf-8") as file:
            file.write(line + "\n")

    return write
