"""Events and reports as pandas DataFrames, for analysts (the ``pandas`` extra).

pandas is imported when a function is called, never at import time: the library works
without it. Times are timezone-aware UTC timestamps (``at``, ``start``, ``end``); the
raw POSIX seconds stay in ``at_seconds`` for arithmetic.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import attrs

from ._events import Event, record_data
from ._inputs import check_items

if TYPE_CHECKING:
    from ._report import Report

EVENT_COLUMNS = ("id", "type", "aggregate", "aggregate_id", "sequence", "at", "at_seconds")


def _pandas() -> Any:
    try:
        import pandas
    except ImportError as error:
        raise ImportError("DataFrames need pandas: pip install 'livechat-core[pandas]'") from error
    return pandas


def events_frame(events: Iterable[Event]) -> Any:
    """One row per event: ``id``, ``type``, ``aggregate``, ``aggregate_id``, ``sequence``,
    ``at`` (UTC timestamp), ``at_seconds``, then one column per event field across all the
    types given (``agent_id``, ``queue``, ``reason``, …; missing where a type has none). A
    message becomes ``message_role``, ``message_author``, ``message_text`` (as stored:
    card numbers were masked before storing)."""
    pd = _pandas()
    rows = []
    for event in check_items(events, Event, "events"):
        row: dict[str, Any] = {
            "id": event.id,
            "type": event.type,
            "aggregate": event.aggregate,
            "aggregate_id": event.aggregate_id,
            "sequence": event.sequence,
            "at_seconds": event.at,
        }
        for name, value in record_data(event).items():
            if name == "message" and isinstance(value, dict):
                for key in ("id", "role", "author", "text"):
                    row[f"message_{key}"] = value.get(key)
            elif isinstance(value, list):
                row[name] = ", ".join(str(item) for item in value)
            else:
                row[name] = value
        rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=list(EVENT_COLUMNS))
    frame.insert(5, "at", pd.to_datetime(frame["at_seconds"], unit="s", utc=True))
    return frame


def intervals_frame(report: Report) -> Any:
    """One row per interval of the report: ``start``, ``end`` and every figure."""
    pd = _pandas()
    rows = [
        {"start": interval.start, "end": interval.end, **attrs.asdict(interval.figures)}
        for interval in report.intervals
    ]
    columns = ["start", "end", *(field.name for field in attrs.fields(type(report.figures)))]
    frame = pd.DataFrame(rows, columns=columns)
    for column in ("start", "end"):
        frame[column] = pd.to_datetime(frame[column], unit="s", utc=True)
    return frame.set_index("start")


def queues_frame(report: Report) -> Any:
    """One row per queue (index ``queue``), every figure a column."""
    pd = _pandas()
    rows = [{"queue": name, **attrs.asdict(f)} for name, f in report.by_queue.items()]
    columns = ["queue", *(field.name for field in attrs.fields(type(report.figures)))]
    return pd.DataFrame(rows, columns=columns).set_index("queue")


def agents_frame(report: Report) -> Any:
    """One row per agent (index ``agent_id``), every agent figure a column."""
    pd = _pandas()
    from ._report import AgentFigures

    rows = [attrs.asdict(agent) for agent in report.by_agent.values()]
    columns = [field.name for field in attrs.fields(AgentFigures)]
    return pd.DataFrame(rows, columns=columns).set_index("agent_id")
