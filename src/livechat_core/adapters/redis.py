"""A Redis Streams transport (the ``redis`` extra: ``pip install livechat-core[redis]``).

Each event becomes one stream entry (``XADD <stream> * …``) whose fields are

* ``id``: the event id (``"conversation:<id>:<sequence>"``), for dropping duplicates;
* ``type``, ``aggregate``, ``aggregate_id``, ``sequence``: for routing without decoding;
* ``record``: the neutral event record (:func:`livechat_core.event_to_record`) as JSON.

A batch goes in one pipelined round trip, in the order given, so the stream holds each
conversation's events in order. Readers use plain ``XREAD`` or consumer groups
(``XGROUP CREATE``, ``XREADGROUP``, ``XACK``); :func:`decode_entry` turns an entry's
fields back into the event. If Redis fails, ``publish`` raises and the relay sends the
batch again later: entries already added then appear twice, under the same ``id``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import redis

from .._events import Event
from .._events import from_record as event_from_record
from .._events import to_record as event_to_record

DEFAULT_STREAM = "livechat:events"


def entry_fields(event: Event) -> dict[str, str | int]:
    """The stream entry fields of ``event``."""
    record = event_to_record(event)
    return {
        "id": event.id,
        "type": event.type,
        "aggregate": event.aggregate,
        "aggregate_id": event.aggregate_id,
        "sequence": event.sequence,
        "record": json.dumps(record, ensure_ascii=False, separators=(",", ":")),
    }


def decode_entry(fields: Mapping[Any, Any]) -> Event:
    """The event of a stream entry (field names and values as bytes or text)."""
    record = fields.get(b"record", fields.get("record"))
    if record is None:
        raise ValueError("not a livechat-core stream entry: it has no 'record' field")
    return event_from_record(json.loads(record))


class RedisStreamTransport:
    """Appends events to a Redis stream.

    Args:
        target: a ``redis://``, ``rediss://`` or ``unix://`` URL, or a ``redis.Redis``.
        stream: the stream key.
        maxlen: trim the stream to about this many entries (``MAXLEN ~``); ``None``
            keeps every entry (trim it yourself once consumers have read it).
    """

    def __init__(
        self,
        target: str | redis.Redis,
        *,
        stream: str = DEFAULT_STREAM,
        maxlen: int | None = None,
    ) -> None:
        self.client: redis.Redis = (
            redis.Redis.from_url(target, socket_timeout=10.0, socket_connect_timeout=10.0)
            if isinstance(target, str)
            else target
        )
        self.stream = stream
        self.maxlen = maxlen

    def __repr__(self) -> str:
        return f"RedisStreamTransport(stream={self.stream!r})"

    def publish(self, events: Sequence[Event]) -> None:
        """Add one entry per event, in order, in one round trip."""
        if not events:
            return
        pipeline = self.client.pipeline(transaction=False)
        for event in events:
            pipeline.xadd(
                self.stream,
                entry_fields(event),  # type: ignore[arg-type]
                maxlen=self.maxlen,
                approximate=True,
            )
        pipeline.execute()

    def close(self) -> None:
        """Close the client's connections."""
        self.client.close()
