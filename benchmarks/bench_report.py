"""Benchmark: the cost of the contact-center figures against replaying the same events.

    .venv/bin/python benchmarks/bench_report.py [--minutes 240] [--rounds 5]

A seeded simulated shift (``simulate``) gives the events. The baseline is what any reader
of the history must do at least: rebuild every conversation from its events with the
model's own ``replay`` (the fold the desk itself runs). ``compute_report`` reads the same
events once more into the figures (overall, per queue, per agent, per 15 minutes). Both
run in the same process, alternating, ``--rounds`` times; the medians are reported, with
the ratio report ÷ replay and the cost per event. The desk's read of a SQLite file
(``desk.report()`` on the stored shift) is timed too, since that is what the command line
does.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from livechat_core import Desk, ShiftConfig, SqliteStore, compute_report, replay, simulate
from livechat_core.events import Event


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=240.0)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "shift.db"
        store = SqliteStore(str(path))
        events: list[Event] = []
        shift = simulate(
            ShiftConfig(seed=1, minutes=args.minutes, arrival_rate=2.0, agents=8),
            store=store,
            on_event=events.append,
        )
        by_chat: dict[str, list[Event]] = defaultdict(list)
        for event in events:
            if event.aggregate == "conversation":
                by_chat[event.aggregate_id].append(event)
        desk = Desk(store=store, clock=lambda: shift.ended_at + 3600)

        def replay_all() -> None:
            for history in by_chat.values():
                replay(history)

        def report_all() -> None:
            compute_report(events, now=shift.ended_at)

        replays, reports, stored = [], [], []
        for _ in range(args.rounds):
            replays.append(timed(replay_all))
            reports.append(timed(report_all))
            stored.append(timed(desk.report))
        store.close()

    replay_s, report_s, stored_s = (statistics.median(x) for x in (replays, reports, stored))
    print(f"shift: {args.minutes:g} min, {len(by_chat)} chats, {len(events)} events")
    print(f"replay every conversation (baseline): {replay_s * 1000:8.1f} ms median")
    print(
        f"compute_report over the events:       {report_s * 1000:8.1f} ms median "
        f"({report_s / replay_s:.2f}x replay, {report_s / len(events) * 1e6:.2f} µs/event)"
    )
    print(f"desk.report() on the SQLite file:     {stored_s * 1000:8.1f} ms median")


if __name__ == "__main__":
    main()
