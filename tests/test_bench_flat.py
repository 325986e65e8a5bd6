"""The flat lifecycle of ``benchmarks/bench_flat.py`` stores what the desk stores.

The benchmark reports it as the floor of a desk with no layers (issue 9); the figure only
means something while the flat lifecycle does the desk's work, so a change to the records
or events the desk keeps must reach it too. Nothing here is timed.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
bench_flat: Any = importlib.import_module("bench_flat")  # (the benchmarks are not typed)


def test_the_flat_lifecycle_stores_exactly_what_the_desk_stores() -> None:
    bench_flat.check_same_work()  # raises SystemExit with both sides when they differ


def test_the_flat_lifecycle_runs_many_chats_on_one_desk() -> None:
    flat = bench_flat.FlatDesk(bench_flat.bench_core.make_desk())
    for i in range(50):
        bench_flat.bench_core.desk_lifecycle(flat, i)
    assert len(flat.conversations) == 50
    assert all(c.state == "closed" for c in flat.conversations.values())
    assert len(flat.log) == 50 * 9
