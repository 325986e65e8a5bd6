"""The core on demand: one chat's lifecycle, memory per active chat, and the GC pause.

Run: ``.venv/bin/python benchmarks/bench_core.py`` (``--quick`` for a smaller run).

Everything is measured against a baseline taken in the same run: the same lifecycle
written as a user naively would, with one ``transitions.Machine`` per conversation.
These machines are noisy, so only the ratios are meaningful.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from transitions import Machine

from livechat_core import Desk
from livechat_core._machines import CONVERSATION_TABLE, ConversationState

# The naive user declares the same conversation machine, once per conversation.
STATES = [state.value for state in ConversationState]
TRANSITIONS = [
    {
        "trigger": trigger,
        "source": [str(s) for s in ([sources] if isinstance(sources, str) else sources)],
        "dest": str(dest),
    }
    for trigger, sources, dest in CONVERSATION_TABLE
]


class NaiveChat:
    """What a user would write first: one Machine per conversation."""

    state: str

    def __init__(self, customer: str) -> None:
        self.customer = customer
        self.messages: list[tuple[str, str, float]] = []
        self.owner: str | None = None
        self.machine = Machine(
            model=self,
            states=STATES,
            transitions=TRANSITIONS,
            initial="queued",
            auto_transitions=False,
        )

    def say(self, who: str, text: str) -> None:
        if self.state != "active":
            raise RuntimeError("not active")
        self.messages.append((who, text, time.time()))


def naive_lifecycle(i: int) -> NaiveChat:
    chat = NaiveChat(f"Customer {i}")
    chat.offer()  # type: ignore[attr-defined]
    chat.owner = "a1"
    chat.accept()  # type: ignore[attr-defined]
    chat.say("customer", "Hello, I need help with my order")
    chat.say("agent", "Hello, how can I help?")
    chat.say("customer", "It has not arrived yet")
    chat.say("agent", "Let me check that for you")
    chat.end()  # type: ignore[attr-defined]
    chat.close()  # type: ignore[attr-defined]
    return chat


def make_desk(agents: int = 1, capacity: int = 1) -> Desk:
    desk = Desk()
    desk.add_queue("support", ["Resolved"])
    for n in range(agents):
        desk.login(f"a{n}", f"Agent {n}", ["support"], capacity=capacity)
        desk.set_available(f"a{n}")
    return desk


def desk_lifecycle(desk: Desk, i: int) -> None:
    conversation_id = desk.start_chat("support", f"Customer {i}", "customer@example.com")
    desk.accept("a0", conversation_id)
    desk.send_customer_message(conversation_id, "Hello, I need help with my order")
    desk.send_agent_message("a0", conversation_id, "Hello, how can I help?")
    desk.send_customer_message(conversation_id, "It has not arrived yet")
    desk.send_agent_message("a0", conversation_id, "Let me check that for you")
    desk.end("a0", conversation_id)
    desk.submit_wrap_up("a0", conversation_id, "Resolved")


def best_of(repeats: int, count: int, body: Callable[[int], Any]) -> float:
    """Best mean seconds per call over ``repeats`` runs of ``count`` calls."""
    results = []
    for _ in range(repeats):
        started = time.perf_counter()
        for i in range(count):
            body(i)
        results.append((time.perf_counter() - started) / count)
    return min(results)


def lifecycle(count: int) -> dict[str, float]:
    desk = make_desk()
    naive = best_of(5, count, naive_lifecycle)
    ours = best_of(5, count, lambda i: desk_lifecycle(desk, i))
    return {"naive_us": naive * 1e6, "desk_us": ours * 1e6, "ratio": ours / naive}


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
    naive_before = tracemalloc.start() or tracemalloc.take_snapshot()
    chats = []
    for i in range(count // 10):
        chat = NaiveChat(f"Customer {i}")
        chat.offer()  # type: ignore[attr-defined]
        chat.accept()  # type: ignore[attr-defined]
        chats.append(chat)
    naive_after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    naive = sum(s.size_diff for s in naive_after.compare_to(naive_before, "filename"))
    return {"desk_bytes": grown / count, "naive_bytes": naive / (count // 10)}


def gc_pause(count: int) -> dict[str, float]:
    """A full collection's pause with ``count`` live conversations (median of five)."""
    agents = 100
    desk = make_desk(agents=agents, capacity=count // agents + 1)
    for i in range(count):
        desk.start_chat("support", f"Customer {i}", f"c{i}@example.com")
    pauses = []
    for _ in range(5):
        started = time.perf_counter()
        gc.collect()
        pauses.append(time.perf_counter() - started)
    ours = statistics.median(pauses)
    naive_count = count // 20  # a Machine per chat is too heavy to hold 100,000 here
    chats = [NaiveChat(f"Customer {i}") for i in range(naive_count)]
    started = time.perf_counter()
    gc.collect()
    naive = (time.perf_counter() - started) * (count / naive_count)
    del chats
    return {"desk_ms": ours * 1e3, "naive_ms_extrapolated": naive * 1e3}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller counts")
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    life = lifecycle(2000 // scale)
    print(
        f"lifecycle: desk {life['desk_us']:.0f} us, naive Machine-per-chat "
        f"{life['naive_us']:.0f} us, ratio {life['ratio']:.2f} (target <= 0.50)"
    )
    memory = memory_per_active_chat(10_000 // scale)
    print(
        f"memory per active chat: desk {memory['desk_bytes']:.0f} B "
        f"(target <= 2048), naive {memory['naive_bytes']:.0f} B"
    )
    pause = gc_pause(100_000 // scale)
    print(
        f"full gc.collect() with {100_000 // scale} live chats: desk {pause['desk_ms']:.1f} ms "
        f"(target < 100), naive extrapolated {pause['naive_ms_extrapolated']:.0f} ms"
    )


if __name__ == "__main__":
    main()
