"""How cheap a desk could be with no layers: the lifecycle of ``bench_core.py`` written flat.

Run: ``.venv/bin/python benchmarks/bench_flat.py`` (``--quick`` for a smaller run,
``--instructions`` to count machine instructions too, with valgrind).

Issue 9 asks for a memory-store lifecycle at most 0.5x the naive ``transitions`` one. This
script measures what the lifecycle's own work costs when nothing else is done, so that the
distance between the desk and the target can be split into what the contract takes and
what the desk's layers take. The **flat** lifecycle does, per command, only the work the
contract requires, with the library's own pieces:

* the command's checks (the desk's own quick command builders: ids, names, composer rules);
* the at-rest masking filters of the desk (``scrub``, ``customer_text``);
* the frozen values the desk stores and publishes: the events, each conversation and agent
  record built once per command (the library's generated builders and updaters);
* the conversation table's look-up for the step;
* a store of dictionaries with optimistic version checks, and the memory store's own
  event packing into its log.

It does not do what the desk does beyond that: no decision layer, no transaction object or
lock, no routing index (the one agent is routable by construction), no time floor, no
outbox, no ``Changes``. It handles the happy path only and refuses nothing but a step the
table does not have. Before measuring, :func:`check_same_work` runs one lifecycle on a
real ``Desk`` and on the flat one with the same clock and ids and compares every event and
the final records: the flat one stores exactly what the desk stores.

It is not a baseline for the issue's ratio (that stays the naive lifecycle of
``bench_core.py``); it is the floor a desk with layers can only approach.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_core

from livechat_core import Desk
from livechat_core import _events as ev
from livechat_core._desk import (
    _ACCEPT,
    _END,
    _SEND_AGENT_MESSAGE,
    _SEND_CUSTOMER_MESSAGE,
    _START_CHAT,
    _SUBMIT_WRAP_UP,
)
from livechat_core._machines import CONVERSATION_MACHINE
from livechat_core._model import (
    Agent,
    Conversation,
    Leg,
    LegRole,
    Message,
    OfferKind,
    Outcome,
    Role,
    builder,
    initials,
    updater,
)
from livechat_core._pci import number_tail_start
from livechat_core._states import ConversationState, LegState
from livechat_core.adapters.memory import _PACKERS, unpack

_STARTED = builder(ev.ChatStarted)
_OFFERED = builder(ev.ChatOffered)
_ACCEPTED = builder(ev.OfferAccepted)
_POSTED = builder(ev.MessagePosted)
_ENDED = builder(ev.ChatEnded)
_WRAPPED = builder(ev.WrapUpSubmitted)
_CONVERSATION = builder(Conversation)
_LEG = builder(Leg)
_MESSAGE = builder(Message)
_ON_ACCEPT = updater(
    Conversation,
    *("state", "owner", "accepted_at", "first_accepted_at", "legs", "version", "last_event_at"),
)
_ON_POST = updater(Conversation, "messages", "message_count", "version", "last_event_at")
_ON_END = updater(Conversation, "state", "legs", "ended_at", "version", "last_event_at")
_ON_CLOSE = updater(
    Conversation, "state", "legs", "outcome", "closed_at", "version", "last_event_at"
)
_LEG_ACCEPTED = updater(Leg, "state", "deadline", "accepted_at")
_LEG_ENDED = updater(Leg, "state", "deadline", "ended_at")
_LEG_DONE = updater(Leg, "state", "deadline", "wrap_up_reason", "wrap_up_notes", "wrapped_up_at")
_OFFER_HELD = updater(Agent, "holding", "last_offer_at", "version")
_WRAPPING = updater(Agent, "holding", "wrapping", "version")
_FREED = updater(Agent, "wrapping", "version")

_C = ConversationState
# (state, input) -> next state, from the conversation machine's one table
_NEXT: dict[tuple[ConversationState, str], ConversationState] = {
    (state, input_): state if dest is None else dest
    for sources, input_, dest, _ in CONVERSATION_MACHINE.table
    for state in (sources if isinstance(sources, frozenset) else {sources})
}


class FlatDesk:
    """The six commands of the lifecycle, each one function: check, mask, build, store."""

    def __init__(self, desk: Desk) -> None:
        settings = desk._settings
        self.scrub = settings.scrub
        self.customer_text = settings.customer_text
        self.clock: Callable[[], float] = desk.clock
        self.new_id: Callable[[], str] = desk._new_id
        self.conversations: dict[str, Conversation] = {}
        self.versions: dict[str, int] = {}
        self.log: list[Any] = []
        with desk.store.transaction() as txn:
            agent = txn.agent("a0")
            queue = txn.queue("support")
        assert agent is not None
        assert queue is not None
        self.agents = {agent.id: agent}
        self.offer_timeout = queue.offer_timeout

    def _save(
        self, conversation: Conversation, events: tuple[Any, ...], agent: Agent | None = None
    ) -> None:
        if self.versions.get(conversation.id, 0) != conversation.version - len(events):
            raise RuntimeError("lost a race")
        for event in events:  # packed first: a packer that fails leaves nothing written
            self.log.append(_PACKERS[type(event)](event))
        self.versions[conversation.id] = conversation.version
        self.conversations[conversation.id] = conversation
        if agent is not None:
            self.agents[agent.id] = agent

    def start_chat(self, queue: str, customer_name: str, customer_contact: str) -> str:
        conversation_id = self.new_id()
        _START_CHAT(conversation_id, queue, customer_name, customer_contact, False, "livechat")
        now = self.clock()
        name, contact = self.scrub(customer_name), self.scrub(customer_contact)
        started = _STARTED(
            aggregate_id=conversation_id,
            sequence=1,
            at=now,
            queue=queue,
            customer_name=name,
            customer_contact=contact,
            proactive=False,
            asset="livechat",
        )
        agent = self.agents["a0"]
        if not agent.routable:
            raise RuntimeError("the flat desk routes to its one agent only")
        deadline = now + self.offer_timeout
        offered = _OFFERED(
            aggregate_id=conversation_id,
            sequence=2,
            at=now,
            agent_id=agent.id,
            agent_name=agent.name,
            deadline=deadline,
        )
        leg = _LEG(
            agent_id=agent.id,
            agent_name=agent.name,
            role=LegRole.OWNER,
            kind=OfferKind.CHAT,
            queue=queue,
            state=LegState.OFFERED,
            offered_at=now,
            deadline=deadline,
        )
        conversation = _CONVERSATION(
            id=conversation_id,
            queue=queue,
            asset="livechat",
            customer_name=name,
            customer_contact=contact,
            proactive=False,
            started_at=now,
            state=_NEXT[_C.QUEUED, "ChatOffered"],
            legs=(leg,),
            version=2,
            last_event_at=now,
        )
        held = _OFFER_HELD(agent, (*agent.holding, conversation_id), now, agent.version + 1)
        self._save(conversation, (started, offered), held)
        return conversation_id

    def accept(self, agent_id: str, conversation_id: str) -> None:
        _ACCEPT(agent_id, conversation_id)
        now = self.clock()
        conversation = self.conversations[conversation_id]
        state = _NEXT[conversation.state, "OfferAccepted"]
        (leg,) = conversation.legs
        if leg.agent_id != agent_id or leg.state is not LegState.OFFERED:
            raise RuntimeError("no offer to accept")
        version = conversation.version + 1
        event = _ACCEPTED(aggregate_id=conversation_id, sequence=version, at=now, agent_id=agent_id)
        legs = (_LEG_ACCEPTED(leg, LegState.ACTIVE, None, now),)
        self._save(
            _ON_ACCEPT(conversation, state, agent_id, now, now, legs, version, now), (event,)
        )

    def _post(
        self, conversation: Conversation, step: str, role: Role, author: str, text: str
    ) -> None:
        now = self.clock()
        _NEXT[conversation.state, step]  # (a message leaves the state as it is)
        count = conversation.message_count + 1
        message = _MESSAGE(
            id=f"{conversation.id}/{count}",
            role=role,
            author=author,
            text=text,
            at=now,
            initials=initials(author if role is Role.CUSTOMER else self.agents[author].name),
        )
        version = conversation.version + 1
        event = _POSTED(aggregate_id=conversation.id, sequence=version, at=now, message=message)
        kept = (message,) if role is Role.CUSTOMER and number_tail_start(text) != len(text) else ()
        self._save(_ON_POST(conversation, kept, count, version, now), (event,))

    def send_customer_message(self, conversation_id: str, text: str) -> None:
        _SEND_CUSTOMER_MESSAGE(conversation_id, text)
        conversation = self.conversations[conversation_id]
        masked, redactions = self.customer_text(conversation, text)
        if redactions:
            raise RuntimeError("the flat desk redacts nothing")
        name = conversation.customer_name
        self._post(conversation, "MessagePosted[customer]", Role.CUSTOMER, name, masked)

    def send_agent_message(self, agent_id: str, conversation_id: str, text: str) -> None:
        _SEND_AGENT_MESSAGE(agent_id, conversation_id, text)
        conversation = self.conversations[conversation_id]
        if conversation.owner != agent_id:
            raise RuntimeError("not the owner")
        self._post(conversation, "MessagePosted[owner]", Role.AGENT, agent_id, self.scrub(text))

    def end(self, agent_id: str, conversation_id: str) -> None:
        _END(agent_id, conversation_id)
        now = self.clock()
        conversation = self.conversations[conversation_id]
        state = _NEXT[conversation.state, "ChatEnded"]
        (leg,) = conversation.legs
        version = conversation.version + 1
        event = _ENDED(
            aggregate_id=conversation_id,
            sequence=version,
            at=now,
            agent_id=agent_id,
            wrap_up_deadline=None,
        )
        agent = self.agents[agent_id]
        holding = tuple(held for held in agent.holding if held != conversation_id)
        wrapping = _WRAPPING(agent, holding, (*agent.wrapping, conversation_id), agent.version + 1)
        legs = (_LEG_ENDED(leg, LegState.WRAPPING_UP, None, now),)
        self._save(_ON_END(conversation, state, legs, now, version, now), (event,), wrapping)

    def submit_wrap_up(self, agent_id: str, conversation_id: str, reason: str) -> None:
        _SUBMIT_WRAP_UP(agent_id, conversation_id, reason)
        now = self.clock()
        conversation = self.conversations[conversation_id]
        _NEXT[conversation.state, "WrapUpSubmitted"]
        # the table's state-triggered rule: the last leg's wrap-up closes the chat
        (leg,) = conversation.legs
        version = conversation.version + 1
        event = _WRAPPED(
            aggregate_id=conversation_id,
            sequence=version,
            at=now,
            agent_id=agent_id,
            reason=reason,
            notes="",
            automatic=False,
        )
        agent = self.agents[agent_id]
        wrapping = tuple(held for held in agent.wrapping if held != conversation_id)
        freed = _FREED(agent, wrapping, agent.version + 1)
        legs = (_LEG_DONE(leg, LegState.DONE, None, reason, "", now),)
        outcome = conversation.cause or Outcome.COMPLETED
        closed = _ON_CLOSE(conversation, _C.CLOSED, legs, outcome, now, version, now)
        self._save(closed, (event,), freed)


def check_same_work() -> None:
    """One lifecycle on a real desk and on the flat one, same clock and ids: the same events
    (as their neutral records) and the same final conversation and agent records."""

    def desk() -> Desk:
        made = Desk(clock=lambda: 1_000.0, new_id=lambda: "chat-1")  # one chat each
        made.add_queue("support", ["Resolved"])
        made.login("a0", "Agent 0", ["support"], capacity=1)
        made.set_available("a0")
        return made

    real = desk()
    flat = FlatDesk(desk())
    bench_core.desk_lifecycle(real, 0)
    bench_core.desk_lifecycle(flat, 0)  # type: ignore[arg-type]
    (conversation_id,) = flat.conversations
    expected = [ev.to_record(event) for event in real.store.events(conversation_id)]
    got = [ev.to_record(unpack(packed)) for packed in flat.log]
    if got != expected:
        raise SystemExit(f"the flat lifecycle differs from the desk's:\n{got}\n{expected}")
    with real.store.transaction() as txn:
        stored = txn.conversation(conversation_id)
        agent = txn.agent("a0")
    if stored != flat.conversations[conversation_id] or agent != flat.agents["a0"]:
        raise SystemExit(
            f"the flat records differ:\n{flat.conversations[conversation_id]}\n{stored}"
            f"\n{flat.agents['a0']}\n{agent}"
        )


def rounds(count: int, number: int) -> dict[str, Any]:
    """Alternating rounds of the naive, the flat and the desk's lifecycle; medians."""
    naive_us, flat_us, desk_us = [], [], []
    for _ in range(number):
        chats: dict[str, bench_core.NaiveChat] = {}
        naive_us.append(
            bench_core.timed(count, lambda i, chats=chats: bench_core.naive_lifecycle(chats, i))
            * 1e6
        )
        flat = FlatDesk(bench_core.make_desk())
        flat_us.append(
            bench_core.timed(count, lambda i, flat=flat: bench_core.desk_lifecycle(flat, i)) * 1e6  # type: ignore[arg-type]
        )
        desk = bench_core.make_desk()
        desk_us.append(
            bench_core.timed(count, lambda i, desk=desk: bench_core.desk_lifecycle(desk, i)) * 1e6
        )
    naive = statistics.median(naive_us)
    return {
        "naive_us": naive,
        "flat_us": statistics.median(flat_us),
        "desk_us": statistics.median(desk_us),
        "flat_ratio": statistics.median(f / n for f, n in zip(flat_us, naive_us, strict=True)),
        "desk_ratio": statistics.median(d / n for d, n in zip(desk_us, naive_us, strict=True)),
    }


FORMS = ("naive", "flat", "desk")


def run_lifecycles(form: str, count: int) -> None:
    """After a warm-up of 30 lifecycles, ``count`` more of ``form``: what
    :func:`instructions` counts."""
    if form == "naive":
        chats: dict[str, bench_core.NaiveChat] = {}
        for i in range(30 + count):
            bench_core.naive_lifecycle(chats, i)
        return
    desk = bench_core.make_desk()
    target: Any = desk if form == "desk" else FlatDesk(desk)
    for i in range(30 + count):
        bench_core.desk_lifecycle(target, i)


def instructions(count: int = 100) -> dict[str, float]:
    """Machine instructions per lifecycle of each form, counted by valgrind's cachegrind
    as ``bench_core.py --instructions`` counts them: the difference between ``count``
    lifecycles and none, divided."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise SystemExit("--instructions needs valgrind")

    def counted(form: str, lifecycles: int) -> int:
        done = subprocess.run(
            [
                *(valgrind, "--tool=cachegrind", "--cache-sim=no"),
                "--cachegrind-out-file=/dev/null",
                *(sys.executable, __file__, "--run", form, str(lifecycles)),
            ],
            check=True,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONHASHSEED": "0"},
        )
        found = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
        assert found is not None, done.stderr
        return int(found.group(1).replace(",", ""))

    counts = {form: (counted(form, count) - counted(form, 0)) / count for form in FORMS}
    return {
        **counts,
        "flat_ratio": counts["flat"] / counts["naive"],
        "desk_ratio": counts["desk"] / counts["naive"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer lifecycles and rounds")
    parser.add_argument(
        "--instructions", action="store_true", help="machine instructions too (valgrind)"
    )
    parser.add_argument("--run", nargs=2, metavar=("FORM", "COUNT"), help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.run:
        run_lifecycles(options.run[0], int(options.run[1]))
        return
    check_same_work()
    count, number = (2_000, 5) if options.quick else (10_000, 9)
    result = rounds(count, number)
    if options.instructions:
        result["instructions"] = instructions()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
