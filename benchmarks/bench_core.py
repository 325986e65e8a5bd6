"""The core on demand: one chat's lifecycle, memory per active chat, and the GC pause.

Run: ``.venv/bin/python benchmarks/bench_core.py`` (``--quick`` for a smaller run).

Everything is measured against a baseline taken in the same run: the same lifecycle
written as a user naively would, with one ``transitions.Machine`` per conversation.
These machines are noisy, so only the ratios are meaningful.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import subprocess
import sys
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
    """What a user would write first: one Machine per conversation, with a callback that
    records each transition as a timestamped event, as the Desk does."""

    state: str

    def __init__(self, conversation_id: str, customer: str, queue: str) -> None:
        self.id = conversation_id
        self.customer = customer
        self.queue = queue
        self.owner: str | None = None
        self.messages: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.wrap_up: dict[str, str] = {}
        self.machine = Machine(
            model=self,
            states=STATES,
            transitions=TRANSITIONS,
            initial="queued",
            auto_transitions=False,
            send_event=True,
            after_state_change="record",
        )

    def record(self, event: Any) -> None:
        self.events.append(
            {
                "sequence": len(self.events) + 1,
                "type": event.event.name,
                "state": self.state,
                "at": time.time(),
                **event.kwargs,
            }
        )


class NaiveDesk:
    """The same lifecycle's bookkeeping, written plainly: agents' load, routing to the
    first available agent with room, composer checks, wrap-up reasons."""

    def __init__(self) -> None:
        self.reasons = {"support": ["Resolved"]}
        self.agents = {"a0": {"state": "available", "load": 0, "capacity": 1}}
        self.chats: dict[str, NaiveChat] = {}

    def start_chat(self, i: int) -> str:
        chat = NaiveChat(f"c{i}", f"Customer {i}", "support")
        self.chats[chat.id] = chat
        for agent_id, agent in self.agents.items():
            if agent["state"] == "available" and agent["load"] < agent["capacity"]:
                agent["load"] += 1
                chat.offer(agent_id=agent_id)  # type: ignore[attr-defined]
                break
        return chat.id

    def accept(self, agent_id: str, chat_id: str) -> None:
        chat = self.chats[chat_id]
        chat.owner = agent_id
        chat.accept(agent_id=agent_id)  # type: ignore[attr-defined]

    def say(self, chat_id: str, role: str, text: str) -> None:
        chat = self.chats[chat_id]
        if chat.state != "active":
            raise RuntimeError("not active")
        if role == "agent" and (len(text) > 1000 or "<" in text or ">" in text):
            raise ValueError("composer rules")
        chat.messages.append({"role": role, "text": text, "at": time.time()})
        chat.record(_Note("message", {"text": text}))

    def end(self, agent_id: str, chat_id: str) -> None:
        chat = self.chats[chat_id]
        chat.end(agent_id=agent_id)  # type: ignore[attr-defined]
        self.agents[agent_id]["load"] -= 1

    def submit_wrap_up(self, agent_id: str, chat_id: str, reason: str) -> None:
        chat = self.chats[chat_id]
        if reason not in self.reasons[chat.queue]:
            raise ValueError("unknown reason")
        chat.wrap_up[agent_id] = reason
        chat.close(agent_id=agent_id, reason=reason)  # type: ignore[attr-defined]


class _Note:
    """Stands in for transitions' EventData when a message (no transition) is recorded."""

    def __init__(self, name: str, kwargs: dict[str, Any]) -> None:
        self.event = self
        self.name = name
        self.kwargs = kwargs


def naive_lifecycle(desk: NaiveDesk, i: int) -> None:
    chat_id = desk.start_chat(i)
    desk.accept("a0", chat_id)
    desk.say(chat_id, "customer", "Hello, I need help with my order")
    desk.say(chat_id, "agent", "Hello, how can I help?")
    desk.say(chat_id, "customer", "It has not arrived yet")
    desk.say(chat_id, "agent", "Let me check that for you")
    desk.end("a0", chat_id)
    desk.submit_wrap_up("a0", chat_id, "Resolved")


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


def lifecycle_desk(count: int) -> float:
    """Microseconds per lifecycle through a Desk; the desk keeps every chat's history."""
    desk = make_desk()
    return best_of(5, count, lambda i: desk_lifecycle(desk, i)) * 1e6


def lifecycle_naive(count: int) -> float:
    """Microseconds per lifecycle the naive way; it keeps every chat, as the Desk does."""
    naive_desk = NaiveDesk()
    return best_of(5, count, lambda i: naive_lifecycle(naive_desk, i)) * 1e6


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
    naive_desk = NaiveDesk()
    naive_desk.agents["a0"]["capacity"] = count
    for i in range(count // 10):
        naive_desk.accept("a0", naive_desk.start_chat(i))
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
    chats = [NaiveChat(f"c{i}", f"Customer {i}", "support") for i in range(naive_count)]
    started = time.perf_counter()
    gc.collect()
    naive = (time.perf_counter() - started) * (count / naive_count)
    del chats
    return {"desk_ms": ours * 1e3, "naive_ms_extrapolated": naive * 1e3}


MEASUREMENTS: dict[str, Callable[[int], Any]] = {
    "lifecycle_desk": lifecycle_desk,
    "lifecycle_naive": lifecycle_naive,
    "memory": memory_per_active_chat,
    "gc_pause": gc_pause,
}


def measure(name: str, count: int) -> Any:
    """Run one measurement in a fresh interpreter, so none inherits another's garbage."""
    done = subprocess.run(
        [sys.executable, __file__, "--only", name, "--count", str(count)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller counts")
    parser.add_argument("--only", choices=sorted(MEASUREMENTS), help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.only:
        print(json.dumps(MEASUREMENTS[args.only](args.count)))
        return
    scale = 10 if args.quick else 1
    desk_us = measure("lifecycle_desk", 2000 // scale)
    naive_us = measure("lifecycle_naive", 2000 // scale)
    print(
        f"lifecycle: desk {desk_us:.0f} us, naive Machine-per-chat {naive_us:.0f} us, "
        f"ratio {desk_us / naive_us:.2f} (target <= 0.50)"
    )
    memory = measure("memory", 10_000 // scale)
    print(
        f"memory per active chat: desk {memory['desk_bytes']:.0f} B "
        f"(target <= 2048), naive {memory['naive_bytes']:.0f} B"
    )
    pause = measure("gc_pause", 100_000 // scale)
    print(
        f"full gc.collect() with {100_000 // scale} live chats: desk {pause['desk_ms']:.1f} ms "
        f"(target < 100), naive extrapolated {pause['naive_ms_extrapolated']:.0f} ms"
    )


if __name__ == "__main__":
    main()
