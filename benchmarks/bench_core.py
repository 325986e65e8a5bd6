"""The core on demand: one chat's lifecycle, each command, memory per chat, the GC pause.

Run: ``.venv/bin/python benchmarks/bench_core.py`` (``--quick`` for a smaller run).

Everything is measured against baselines taken in the same run, in alternating rounds:

* **naive**: the lifecycle as a user would first write it (issue 9): one
  ``transitions.Machine`` per conversation with five states, an ``after_state_change``
  callback that appends ``(state, time.time())``, messages appended to a list, and the
  chat dropped once closed (no extra bookkeeping);
* **floor**: per command, a dict transition plus a tuple append: what no state machine in
  Python can undercut;
* **required masking**: the masking a lifecycle must do by the SPEC (section 6, PCI at
  rest: no card reaches a storage port unmasked), on its own: the desk's at-rest filters
  on every text the lifecycle stores (the customer's name and contact, two agent
  messages, and two customer messages with the split-card chain). Its ratio to the naive
  lifecycle is the part of the 0.5x budget the contract itself takes.

These machines are noisy (two shared cores, several processes each), so times are the
process's CPU time (``time.process_time``: a process waiting for a core is not charged),
every figure is the median of several rounds, and only the ratios are meant to travel.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from transitions import Machine

from livechat_core import Desk

# --- the naive form (issue 9) ---------------------------------------------------------------

NAIVE_STATES = ["queued", "offered", "active", "wrap_up", "closed"]
NAIVE_TRANSITIONS = [
    {"trigger": "offer", "source": "queued", "dest": "offered"},
    {"trigger": "accept", "source": "offered", "dest": "active"},
    {"trigger": "end", "source": "active", "dest": "wrap_up"},
    {"trigger": "close", "source": "wrap_up", "dest": "closed"},
]


class NaiveChat:
    """One ``Machine`` per conversation; every transition is recorded with its time."""

    state: str

    def __init__(self, conversation_id: str) -> None:
        self.id = conversation_id
        self.history: list[tuple[str, float]] = []
        self.messages: list[tuple[str, str, float]] = []
        Machine(
            model=self,
            states=NAIVE_STATES,
            transitions=NAIVE_TRANSITIONS,
            initial="queued",
            auto_transitions=False,
            after_state_change="record",
        )

    def record(self) -> None:
        self.history.append((self.state, time.time()))


def naive_lifecycle(chats: dict[str, NaiveChat], i: int) -> None:
    chat = NaiveChat(f"c{i}")
    chats[chat.id] = chat
    chat.offer()  # type: ignore[attr-defined]
    chat.accept()  # type: ignore[attr-defined]
    chat.messages.append(("customer", "Hello, I need help with my order", time.time()))
    chat.messages.append(("agent", "Hello, how can I help?", time.time()))
    chat.messages.append(("customer", "It has not arrived yet", time.time()))
    chat.messages.append(("agent", "Let me check that for you", time.time()))
    chat.end()  # type: ignore[attr-defined]
    chat.close()  # type: ignore[attr-defined]
    del chats[chat.id]  # not kept after closing


# --- the floor: a dict transition plus a tuple append ------------------------------------

FLOOR_TABLE = {
    ("queued", "offer"): "offered",
    ("offered", "accept"): "active",
    ("active", "message"): "active",
    ("active", "end"): "wrap_up",
    ("wrap_up", "close"): "closed",
}


def floor_command(history: list[tuple[str, float]], state: str, trigger: str) -> str:
    state = FLOOR_TABLE[(state, trigger)]
    history.append((state, time.time()))
    return state


# --- the desk -------------------------------------------------------------------------------


def make_desk(agents: int = 1, capacity: int = 1) -> Desk:
    desk = Desk()
    desk.add_queue("support", ["Resolved"])
    for n in range(agents):
        desk.login(f"a{n}", f"Agent {n}", ["support"], capacity=capacity)
        desk.set_available(f"a{n}")
    return desk


STEPS = (
    "start_chat (with routing)",
    "accept",
    "send_customer_message",
    "send_agent_message",
    "send_customer_message",
    "send_agent_message",
    "end",
    "submit_wrap_up",
)


def desk_lifecycle(desk: Desk, i: int, clock: Callable[[], float] | None = None) -> list[float]:
    """One chat's lifecycle; with ``clock``, the seconds each of its eight commands took."""
    tick = clock or (lambda: 0.0)
    marks = [tick()]
    conversation_id = desk.start_chat("support", f"Customer {i}", "customer@example.com")
    marks.append(tick())
    desk.accept("a0", conversation_id)
    marks.append(tick())
    desk.send_customer_message(conversation_id, "Hello, I need help with my order")
    marks.append(tick())
    desk.send_agent_message("a0", conversation_id, "Hello, how can I help?")
    marks.append(tick())
    desk.send_customer_message(conversation_id, "It has not arrived yet")
    marks.append(tick())
    desk.send_agent_message("a0", conversation_id, "Let me check that for you")
    marks.append(tick())
    desk.end("a0", conversation_id)
    marks.append(tick())
    desk.submit_wrap_up("a0", conversation_id, "Resolved")
    marks.append(tick())
    return [b - a for a, b in itertools.pairwise(marks)]


def required_masking(desk: Desk) -> Callable[[int], None]:
    """One lifecycle's masking at rest, as ``desk`` does it (its own filters: ``scrub`` on
    every stored text but customer messages, ``customer_text`` on those, each customer
    message against the conversation as it stood when it was sent), and nothing else."""
    settings = desk._settings
    scrub, customer_text = settings.scrub, settings.customer_text
    conversation_id = desk.start_chat("support", "Customer 0", "customer@example.com")
    desk.accept("a0", conversation_id)
    before_first = desk.conversation(conversation_id)
    desk.send_customer_message(conversation_id, "Hello, I need help with my order")
    desk.send_agent_message("a0", conversation_id, "Hello, how can I help?")
    before_second = desk.conversation(conversation_id)
    desk.end("a0", conversation_id)
    desk.submit_wrap_up("a0", conversation_id, "Resolved")

    def masking(i: int) -> None:
        scrub(f"Customer {i}")
        scrub("customer@example.com")
        customer_text(before_first, "Hello, I need help with my order")
        scrub("Hello, how can I help?")
        customer_text(before_second, "It has not arrived yet")
        scrub("Let me check that for you")

    return masking


CLOCK = time.process_time


def timed(count: int, body: Callable[[int], Any]) -> float:
    """Mean CPU seconds per call over ``count`` calls."""
    started = CLOCK()
    for i in range(count):
        body(i)
    return (CLOCK() - started) / count


def lifecycle_rounds(count: int, rounds: int) -> dict[str, Any]:
    """Alternating rounds of the naive lifecycle, the desk's and the floor; medians."""
    naive_us, desk_us, floor_us, masking_us = [], [], [], []
    for _ in range(rounds):
        chats: dict[str, NaiveChat] = {}
        naive_us.append(timed(count, lambda i, chats=chats: naive_lifecycle(chats, i)) * 1e6)
        desk = make_desk()
        desk_us.append(timed(count, lambda i, desk=desk: desk_lifecycle(desk, i)) * 1e6)
        masking_us.append(timed(count, required_masking(make_desk())) * 1e6)
        history: list[tuple[str, float]] = []

        def floor(i: int, history: list[tuple[str, float]] = history) -> None:
            history.clear()
            for state, trigger in FLOOR_TABLE:
                floor_command(history, state, trigger)

        floor_us.append(timed(count * 5, floor) * 1e6 / len(FLOOR_TABLE))
    desk = make_desk()
    per_step: list[list[float]] = [[] for _ in STEPS]
    for i in range(count):
        for step, seconds in enumerate(desk_lifecycle(desk, i, CLOCK)):
            per_step[step].append(seconds * 1e6)
    return {
        "naive_us": statistics.median(naive_us),
        "desk_us": statistics.median(desk_us),
        "floor_us": statistics.median(floor_us),
        "masking_us": statistics.median(masking_us),
        "ratios": [d / n for d, n in zip(desk_us, naive_us, strict=True)],
        "masking_ratios": [m / n for m, n in zip(masking_us, naive_us, strict=True)],
        "steps_us": [statistics.median(times) for times in per_step],
    }


def where_the_time_goes(count: int) -> dict[str, float]:
    """CPU microseconds per lifecycle: building the commands, deciding (``_core.decide``),
    the memory store's save, and the rest (``Desk.handle``, the transaction, ids)."""
    from livechat_core import _commands as cmd
    from livechat_core import _desk
    from livechat_core.adapters import memory

    spent = {"decide": 0.0, "save": 0.0}
    decide, save = _desk.decide, memory._MemoryTransaction.save_last

    def timed_decide(*args: Any) -> Any:
        started = CLOCK()
        try:
            return decide(*args)
        finally:
            spent["decide"] += CLOCK() - started

    def timed_save(self: Any, changes: Any) -> None:
        started = CLOCK()
        try:
            save(self, changes)
        finally:
            spent["save"] += CLOCK() - started

    _desk.decide = timed_decide  # type: ignore[assignment]
    memory._MemoryTransaction.save_last = timed_save  # type: ignore[method-assign]
    desk = make_desk()
    total = timed(count, lambda i: desk_lifecycle(desk, i)) * count

    def commands(i: int) -> None:
        cmd.StartChat(
            conversation_id="x",
            queue="support",
            customer_name=f"Customer {i}",
            customer_contact="customer@example.com",
        )
        cmd.Accept(agent_id="a0", conversation_id="x")
        cmd.SendCustomerMessage(conversation_id="x", text="Hello, I need help with my order")
        cmd.SendAgentMessage(agent_id="a0", conversation_id="x", text="Hello, how can I help?")
        cmd.SendCustomerMessage(conversation_id="x", text="It has not arrived yet")
        cmd.SendAgentMessage(agent_id="a0", conversation_id="x", text="Let me check that for you")
        cmd.End(agent_id="a0", conversation_id="x")
        cmd.SubmitWrapUp(agent_id="a0", conversation_id="x", reason="Resolved")

    built = timed(count, commands) * count
    rest = total - built - spent["decide"] - spent["save"]
    return {
        "total_us": total / count * 1e6,
        "commands_us": built / count * 1e6,
        "decide_us": spent["decide"] / count * 1e6,
        "save_us": spent["save"] / count * 1e6,
        "rest_us": rest / count * 1e6,
    }


def memory_per_active_chat(count: int) -> dict[str, float]:
    """Bytes each accepted chat without messages costs (records, indexes, event history)."""
    agents = 100
    desk = make_desk(agents=agents, capacity=count // agents + 1)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for i in range(count):
        conversation_id = desk.start_chat("support", f"Customer {i}", f"c{i}@example.com")
        agent = desk.conversation(conversation_id).legs[0].agent_id
        desk.accept(agent, conversation_id)
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    tracemalloc.start()
    naive_before = tracemalloc.take_snapshot()
    chats = {}
    for i in range(count // 10):
        chat = NaiveChat(f"c{i}")
        chat.offer()  # type: ignore[attr-defined]
        chat.accept()  # type: ignore[attr-defined]
        chats[chat.id] = chat
    naive_after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    naive = sum(s.size_diff for s in naive_after.compare_to(naive_before, "filename"))
    return {"desk_bytes": grown / count, "naive_bytes": naive / (count // 10)}


def gc_pause(count: int) -> dict[str, float]:
    """A full collection's pause with ``count`` live (accepted) chats, median of five."""
    agents = 100
    desk = make_desk(agents=agents, capacity=-(-count // agents))  # at most 1,000 each
    for i in range(count):
        conversation_id = desk.start_chat("support", f"Customer {i}", f"c{i}@example.com")
        agent = desk.conversation(conversation_id).legs[0].agent_id
        desk.accept(agent, conversation_id)
    pauses, walls = [], []
    for _ in range(5):
        started, wall = CLOCK(), time.perf_counter()
        gc.collect()
        pauses.append(CLOCK() - started)
        walls.append(time.perf_counter() - wall)
    tracked = len(gc.get_objects())
    del desk
    gc.collect()
    tracked_per_chat = (tracked - len(gc.get_objects())) / count
    naive_count = count // 20  # a Machine per chat is too heavy to hold 100,000 here
    chats = [NaiveChat(f"c{i}") for i in range(naive_count)]
    started = CLOCK()
    gc.collect()
    naive = (CLOCK() - started) * (count / naive_count)
    del chats
    return {
        "desk_ms": statistics.median(pauses) * 1e3,
        "desk_wall_ms": statistics.median(walls) * 1e3,
        "tracked_per_chat": tracked_per_chat,
        "naive_ms_extrapolated": naive * 1e3,
    }


def replay_decisions(desk: Desk, count: int, masking: bool) -> None:
    """``count`` times each decision of one lifecycle, on the committed state of its step
    (``decide`` alone: nothing saved); without ``masking``, with identity text filters."""
    from livechat_core import _commands as cmd
    from livechat_core import _core

    settings = desk._settings if masking else _core.Settings()
    steps = [
        cmd.StartChat(
            conversation_id="replayed",
            queue="support",
            customer_name="Customer 1",
            customer_contact="customer@example.com",
        ),
        cmd.Accept(agent_id="a0", conversation_id="replayed"),
        cmd.SendCustomerMessage(
            conversation_id="replayed", text="Hello, I need help with my order"
        ),
        cmd.SendAgentMessage(
            agent_id="a0", conversation_id="replayed", text="Hello, how can I help?"
        ),
        cmd.SendCustomerMessage(conversation_id="replayed", text="It has not arrived yet"),
        cmd.SendAgentMessage(
            agent_id="a0", conversation_id="replayed", text="Let me check that for you"
        ),
        cmd.End(agent_id="a0", conversation_id="replayed"),
        cmd.SubmitWrapUp(agent_id="a0", conversation_id="replayed", reason="Resolved"),
    ]
    for command in steps:
        with desk.store.transaction() as txn:
            for _ in range(count):
                _core.decide(txn, command, 2e9, settings)
        desk.handle(command)


def run_lifecycles(form: int, count: int) -> None:
    """After a warm-up of 30 lifecycles, ``count`` of the desk (``form`` 0), of the naive
    form (1), of the decisions alone (2, and 3 without masking), or of the masking a
    lifecycle requires (4): what :func:`instructions` counts."""
    if form == 1:
        chats: dict[str, NaiveChat] = {}
        for i in range(30 + count):
            naive_lifecycle(chats, i)
        return
    desk = make_desk()
    for i in range(30):
        desk_lifecycle(desk, i)
    if form == 4:
        masking = required_masking(desk)
        for i in range(30 + count):
            masking(i)
    elif form == 0:
        for i in range(30, 30 + count):
            desk_lifecycle(desk, i)
    else:
        replay_decisions(desk, count, masking=form == 2)


def instructions(count: int = 100) -> dict[str, float] | None:
    """Machine instructions per lifecycle, desk and naive, counted by valgrind's
    cachegrind (``None`` without valgrind): unlike time, the same on a loaded machine.
    Each form runs with 0 and with ``count`` lifecycles; the difference, divided, is what
    one lifecycle costs (start-up and warm-up cancel out)."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        return None

    def counted(form: int, lifecycles: int) -> int:
        done = subprocess.run(
            [
                *(valgrind, "--tool=cachegrind", "--cache-sim=no"),
                "--cachegrind-out-file=/dev/null",
                *(sys.executable, __file__, "--only", "run", "--args", str(form), str(lifecycles)),
            ],
            check=True,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONHASHSEED": "0"},  # the same dict layouts every run
        )
        found = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
        assert found is not None, done.stderr
        return int(found.group(1).replace(",", ""))

    desk, naive, decisions, unmasked, masking = (
        (counted(form, count) - counted(form, 0)) / count for form in (0, 1, 2, 3, 4)
    )
    return {
        "desk": desk,
        "naive": naive,
        "decide": decisions,
        "decide_unmasked": unmasked,
        "masking": masking,
    }


MEASUREMENTS: dict[str, Callable[..., Any]] = {
    "lifecycle": lifecycle_rounds,
    "split": where_the_time_goes,
    "memory": memory_per_active_chat,
    "gc_pause": gc_pause,
    "run": run_lifecycles,
}


def measure(name: str, *args: int) -> Any:
    """Run one measurement in a fresh interpreter, so none inherits another's garbage."""
    done = subprocess.run(
        [sys.executable, __file__, "--only", name, "--args", *map(str, args)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller counts")
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="also count machine instructions per lifecycle with valgrind (a few minutes)",
    )
    parser.add_argument("--only", choices=sorted(MEASUREMENTS), help=argparse.SUPPRESS)
    parser.add_argument("--args", type=int, nargs="*", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.only:
        print(json.dumps(MEASUREMENTS[options.only](*options.args)))
        return
    if options.instructions:
        counts = instructions()
        if counts is None:
            print("instructions: valgrind is not installed")
        else:
            print(
                f"instructions per lifecycle (cachegrind): desk {counts['desk'] / 1e6:.2f} M, "
                f"naive {counts['naive'] / 1e6:.2f} M, ratio {counts['desk'] / counts['naive']:.2f}"
            )
            print(
                f"  of which the eight decisions: {counts['decide'] / 1e6:.2f} M "
                f"({counts['decide_unmasked'] / 1e6:.2f} M without masking)"
            )
            print(
                f"  masking the SPEC requires at rest (section 6): "
                f"{counts['masking'] / 1e6:.3f} M, {counts['masking'] / counts['naive']:.3f}x "
                f"naive: {counts['masking'] / counts['naive'] / 0.5:.0%} of the 0.5x budget"
            )
    scale = 10 if options.quick else 1
    found = measure("lifecycle", 2000 // scale, 7)
    desk_us, naive_us, floor_us = found["desk_us"], found["naive_us"], found["floor_us"]
    ratios = ", ".join(f"{ratio:.2f}" for ratio in found["ratios"])
    print(
        f"lifecycle: desk {desk_us:.0f} us, naive Machine-per-chat {naive_us:.0f} us, "
        f"ratio {desk_us / naive_us:.2f} (rounds: {ratios}; target <= 0.50, aim 0.30)"
    )
    masking_us = found["masking_us"]
    masking_ratios = ", ".join(f"{ratio:.3f}" for ratio in found["masking_ratios"])
    print(
        f"masking the SPEC requires at rest (section 6; name, contact, 2 agent and 2 customer "
        f"messages): {masking_us:.1f} us, {masking_us / naive_us:.3f}x naive "
        f"(rounds: {masking_ratios}): {masking_us / naive_us / 0.5:.0%} of the 0.5x budget"
    )
    print(f"floor (a dict transition plus a tuple append): {floor_us:.2f} us per command")
    for step, micros in zip(STEPS, found["steps_us"], strict=True):
        print(f"  {step:<28} {micros:6.1f} us  {micros / floor_us:5.0f}x the floor")
    split = measure("split", 2000 // scale)
    print(
        f"where a lifecycle's {split['total_us']:.0f} us go: building the 8 commands "
        f"{split['commands_us']:.0f}, decide {split['decide_us']:.0f}, the memory store's "
        f"save {split['save_us']:.0f}, Desk.handle and the transaction {split['rest_us']:.0f}"
    )
    memory = measure("memory", 10_000 // scale)
    print(
        f"memory per active chat: desk {memory['desk_bytes']:.0f} B "
        f"(target <= 1536), naive {memory['naive_bytes']:.0f} B"
    )
    pause = measure("gc_pause", 100_000 // scale)
    print(
        f"full gc.collect() with {100_000 // scale} live chats: desk {pause['desk_ms']:.1f} ms "
        f"CPU ({pause['desk_wall_ms']:.1f} ms wall; target < 50), "
        f"{pause['tracked_per_chat']:.1f} objects tracked per chat, "
        f"naive extrapolated {pause['naive_ms_extrapolated']:.0f} ms"
    )


if __name__ == "__main__":
    main()
