"""The desk and the memory store on their own: a chat's lifecycle with the decision replayed.

Run: ``.venv/bin/python benchmarks/bench_desk_store.py`` (``--chats`` and ``--rounds`` to
change the counts).

``bench_core.py`` times the whole lifecycle and splits it with timers around ``decide``
and the store's save; the timers themselves cost a few microseconds per command, which
that split counts as the desk's. Here the decision is taken out instead of timed: one run
records what ``decide`` returned for every command of ``--chats`` lifecycles, and the
measured runs replay those results in order on a fresh desk with the same ids and clock,
so what is left is exactly the desk's and the store's work:

* **desk and store**: building the eight commands, ``Desk.handle`` (the clock, the time
  floor, the transaction, the retry loop), and the memory store's save;
* **desk only**: the same with the store's save replaced by nothing;
* **naive**: ``bench_core.py``'s naive lifecycle (one ``transitions.Machine`` per chat),
  in the same rounds, as the yardstick.

The store's save is the difference of the first two. CPU time of the process
(``time.process_time``), the best of ``--rounds`` alternating rounds (the machines are
shared: the best round is the one least disturbed).
"""

from __future__ import annotations

import argparse
import itertools
import time
from collections.abc import Callable, Iterator
from typing import Any

from bench_core import desk_lifecycle, naive_lifecycle

from livechat_core import Desk, _desk
from livechat_core.adapters import memory

CLOCK = time.process_time


def make_desk() -> Desk:
    """``bench_core.make_desk`` with counted ids and a clock that moves 1 ms a read, so
    that a replayed run names and times everything as the recorded one did."""
    ids = itertools.count()
    ticks = itertools.count()
    desk = Desk(new_id=lambda: f"c{next(ids)}", clock=lambda: 1.7e9 + next(ticks) * 0.001)
    desk.add_queue("support", ["Resolved"])
    desk.login("a0", "Agent 0", ["support"], capacity=1)
    desk.set_available("a0")
    return desk


SETUP_COMMANDS = 3  # add_queue, login, set_available: decided for real in every run


def record(chats: int) -> list[Any]:
    """What ``decide`` returned for each lifecycle command of ``chats`` chats."""
    real = _desk.decide
    recorded: list[Any] = []

    def recording(*args: Any) -> Any:
        changes = real(*args)
        recorded.append(changes)
        return changes

    _desk.decide = recording  # type: ignore[assignment]
    try:
        desk = make_desk()
        for i in range(chats):
            desk_lifecycle(desk, i)
    finally:
        _desk.decide = real
    return recorded[SETUP_COMMANDS:]


def replayed(recorded: list[Any], chats: int, *, save: bool) -> float:
    """CPU µs per lifecycle with ``decide`` replaced by the recording (and, without
    ``save``, the store's last save by nothing)."""
    desk = make_desk()
    results: Iterator[Any] = iter(recorded)
    real_decide = _desk.decide
    real_save = memory._MemoryTransaction.save_last
    _desk.decide = lambda *args: next(results)  # type: ignore[assignment]
    if not save:
        memory._MemoryTransaction.save_last = lambda self, changes: None  # type: ignore[method-assign]
    try:
        started = CLOCK()
        for i in range(chats):
            desk_lifecycle(desk, i)
        return (CLOCK() - started) / chats * 1e6
    finally:
        _desk.decide = real_decide
        memory._MemoryTransaction.save_last = real_save  # type: ignore[method-assign]


def naive(chats: int) -> float:
    """CPU µs per naive lifecycle."""
    kept: dict[str, Any] = {}
    started = CLOCK()
    for i in range(chats):
        naive_lifecycle(kept, i)
    return (CLOCK() - started) / chats * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chats", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=7)
    options = parser.parse_args()
    recorded = record(options.chats)
    runs: dict[str, list[float]] = {"desk and store": [], "desk only": [], "naive": []}
    measures: dict[str, Callable[[], float]] = {
        "desk and store": lambda: replayed(recorded, options.chats, save=True),
        "desk only": lambda: replayed(recorded, options.chats, save=False),
        "naive": lambda: naive(options.chats),
    }
    for _ in range(options.rounds):
        for name, measure in measures.items():
            runs[name].append(measure())
    best = {name: min(times) for name, times in runs.items()}
    print(
        f"per lifecycle (8 commands; decide replayed, best of {options.rounds} rounds "
        f"of {options.chats} chats, CPU µs):"
    )
    print(f"  desk and store      {best['desk and store']:6.1f}")
    print(f"  desk only           {best['desk only']:6.1f}  (commands built, Desk.handle)")
    print(f"  the store's save    {best['desk and store'] - best['desk only']:6.1f}")
    print(
        f"  naive lifecycle     {best['naive']:6.1f}  (desk and store / naive: "
        f"{best['desk and store'] / best['naive']:.2f})"
    )


if __name__ == "__main__":
    main()
