"""A seeded contact-center shift, simulated on a :class:`~livechat_core.Desk`.

:func:`simulate` drives a desk through a shift the way the source article's desktop is
used: agents with capacities log in to queues and become available; customers arrive at
random (a Poisson process) and type while they wait; agents accept offers after a short
delay, sometimes miss one (the desk sends them to RONA and they recover by hand a while
later) or decline it; they reply, transfer to another agent or to a queue, invite a
colleague to a conference, end the chat and submit a wrap-up reason; customers share a
card number, phone or e-mail now and then, give up waiting, or end the chat themselves.

Everything runs on a simulated clock: the desk's deadlines fire through ``desk.tick(now)``
at the moment they expire, so an hour's shift takes a second or two. One
``random.Random(seed)`` makes every choice in a fixed order, and conversation ids come
from a counter, so the same configuration gives the same events and the same
:class:`ShiftReport`, on any store.

The simulated people only know what their desktop shows them: the events of the
commands they sent. A click that arrives too late (the offer was already withdrawn, the
customer already left) is refused by the desk like any other and counted in
:attr:`ShiftReport.refused`.
"""

from __future__ import annotations

import heapq
import itertools
import json
import math
import os
import random
import textwrap
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final

import attrs

from . import _commands as cmd
from . import _events as ev
from ._desk import Desk
from ._errors import InvalidArgument, LivechatError
from ._machines import ConversationState
from ._model import OfferKind
from ._pii_samples import card_number, iban_number
from ._report import Report, compute_report
from ._report_view import percent_text, seconds_text
from .ports import Store

__all__ = ["AgentSummary", "Distribution", "ShiftConfig", "ShiftReport", "simulate"]

SHIFT_START: Final = 1_767_258_000.0
"""Default start of the simulated shift: 2026-01-01 09:00 UTC."""

QUEUES: Final[dict[str, tuple[str, ...]]] = {
    "support": ("Resolved", "Escalated", "Callback promised", "Transferred"),
    "sales": ("Order placed", "Quote sent", "Not interested", "Transferred"),
    "billing": ("Refund issued", "Payment arranged", "Invoice explained", "Transferred"),
}
"""The simulated desk's queues and their wrap-up reasons."""

_QUEUE_WEIGHTS: Final = (0.5, 0.3, 0.2)
_TRANSFERRED: Final = "Transferred"

_AGENT_NAMES: Final = (
    "Jana Nováková",
    "Petr Svoboda",
    "Eva Dvořáková",
    "Tomáš Černý",
    "Lucie Procházková",
    "Martin Kučera",
    "Alice Brown",
    "David Smith",
    "Sofia Rossi",
    "Omar Haddad",
    "Mei Chen",
    "Lukas Weber",
    "Zuzana Veselá",
    "Jakub Horák",
    "Hana Marková",
    "Priya Patel",
)
_FIRST_NAMES: Final = (
    "Karel", "Marie", "Jiří", "Tereza", "Pavel", "Kateřina", "John", "Emma", "Olivia",
    "Noah", "Lena", "Jan", "Anna", "Ahmed", "Yuki", "Sara", "Michal", "Veronika",
)  # fmt: skip
_LAST_NAMES: Final = (
    "Novák", "Svobodová", "Dvořák", "Černá", "Procházka", "Kučerová", "Smith", "Jones",
    "Müller", "García", "Rossi", "Tanaka", "Horák", "Veselá", "Kim", "Wilson",
)  # fmt: skip
_OPENINGS: Final[dict[str, tuple[str, ...]]] = {
    "support": (
        "Hello, my parcel has not arrived yet.",
        "Hi, the app keeps logging me out.",
        "Good morning, I cannot reset my password.",
        "Dobrý den, nefunguje mi přihlášení.",
        "My order arrived damaged, what can I do?",
    ),
    "sales": (
        "Hi, do you ship to Slovakia?",
        "Is the blue model back in stock?",
        "Do you offer a discount for ten licences?",
        "Dobrý den, máte tento model i ve větší velikosti?",
    ),
    "billing": (
        "I was charged twice for my last order.",
        "Could you send me a copy of my invoice?",
        "My payment was declined but the money is gone.",
        "Dobrý den, chci vrátit peníze za objednávku.",
    ),
}
_FOLLOW_UPS: Final = (
    "Order 58213, placed last Tuesday.",
    "Yes, that's right.",
    "I already tried that, it did not help.",
    "OK, thank you.",
    "How long will it take?",
    "Can you check again please?",
    "Great, that works now!",
    "Ano, přesně tak.",
)
_HELLO_AGAIN: Final = ("Hello? Is anyone there?", "Still waiting…", "Haló?")
_AGENT_REPLIES: Final = (
    "Let me check that for you.",
    "Thank you, I can see your order now.",
    "I have updated it on our side, please try again.",
    "That should be sorted within two working days.",
    "I understand, sorry for the trouble.",
    "Could you confirm the e-mail address on the account?",
    "Rozumím, hned se na to podívám.",
)
_SENSITIVE: Final = (
    ("card", "My card number is {}, it was charged twice."),
    ("phone", "You can call me back on {}."),
    ("email", "Please send the confirmation to {}."),
    ("iban", "The refund should go to {}."),
)


def _probability(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise InvalidArgument(f"{attribute.name} must be a probability from 0 to 1, not {value!r}")


def _positive(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidArgument(f"{attribute.name} must be a number, not {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise InvalidArgument(f"{attribute.name} must be positive and finite, not {value!r}")


def _agent_count(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 500:
        raise InvalidArgument(
            f"{attribute.name} must be a whole number from 1 to 500, not {value!r}"
        )


def _optional_positive(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None:
        _positive(instance, attribute, value)


@attrs.frozen(kw_only=True)
class ShiftConfig:
    """What to simulate. Every field has a default that gives a busy but healthy hour.

    Attributes:
        seed: seeds every random choice; the same config gives the same shift.
        agents: how many agents work the shift (1–500).
        minutes: how long customers keep arriving; the shift then runs until every chat
            is closed (at most two hours more).
        arrival_rate: customers per minute, on average (Poisson arrivals).
        offer_timeout: seconds an agent has to accept an offer before RONA.
        wrap_up_timeout: seconds after which the desk submits a default wrap-up reason.
        miss_probability: chance that an agent misses an offer (RONA).
        decline_probability: chance that an agent declines an offer.
        transfer_probability: chance that an owner transfers a chat (to an agent or a queue).
        conference_probability: chance that an owner invites a colleague.
        customer_end_probability: chance that the customer, not the agent, ends a chat.
        sensitive_probability: chance that a customer message carries a card number,
            IBAN, phone number or e-mail address.
        patience: mean seconds a customer waits for an agent before leaving.
        start: POSIX time the shift starts at.
    """

    seed: int = attrs.field(default=1)
    agents: int = attrs.field(default=8, validator=_agent_count)
    minutes: float = attrs.field(default=60.0, validator=_positive)
    arrival_rate: float = attrs.field(default=2.0, validator=_positive)
    offer_timeout: float = attrs.field(default=20.0, validator=_positive)
    wrap_up_timeout: float | None = attrs.field(default=120.0, validator=_optional_positive)
    miss_probability: float = attrs.field(default=0.05, validator=_probability)
    decline_probability: float = attrs.field(default=0.03, validator=_probability)
    transfer_probability: float = attrs.field(default=0.08, validator=_probability)
    conference_probability: float = attrs.field(default=0.06, validator=_probability)
    customer_end_probability: float = attrs.field(default=0.3, validator=_probability)
    sensitive_probability: float = attrs.field(default=0.12, validator=_probability)
    patience: float = attrs.field(default=240.0, validator=_positive)
    start: float = attrs.field(default=SHIFT_START, validator=_positive)

    @seed.validator
    def _check_seed(self, attribute: attrs.Attribute[int], value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidArgument(f"seed must be a whole number, not {value!r}")


def percentile(values: Sequence[float], fraction: float) -> float:
    """The ``fraction`` quantile of sorted ``values``, interpolated linearly (0 when empty)."""
    if not values:
        return 0.0
    position = (len(values) - 1) * fraction
    low = math.floor(position)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (position - low)


@attrs.frozen(kw_only=True)
class Distribution:
    """Summary of durations in seconds: count, mean, median, 90th and 99th percentile, max."""

    count: int
    mean: float
    p50: float
    p90: float
    p99: float
    max: float

    @classmethod
    def of(cls, values: Iterable[float]) -> Distribution:
        """Summarise ``values`` (all zeros when there are none)."""
        ordered = sorted(values)
        if not ordered:
            return cls(count=0, mean=0.0, p50=0.0, p90=0.0, p99=0.0, max=0.0)
        return cls(
            count=len(ordered),
            mean=round(sum(ordered) / len(ordered), 3),
            p50=round(percentile(ordered, 0.50), 3),
            p90=round(percentile(ordered, 0.90), 3),
            p99=round(percentile(ordered, 0.99), 3),
            max=round(ordered[-1], 3),
        )


@attrs.frozen(kw_only=True)
class AgentSummary:
    """One agent's shift: chats taken as owner, offers missed (RONA) and declined."""

    id: str
    name: str
    capacity: int
    queues: tuple[str, ...]
    chats: int
    ronas: int
    declines: int


@attrs.frozen(kw_only=True, repr=False)
class ShiftReport:
    """What happened during a simulated shift. Frozen; :meth:`to_dict` is JSON-ready.

    Durations are in seconds: ``queue_time`` from the customer's first message to the
    first acceptance (chats some agent accepted), ``handling_time`` from that acceptance
    to the last wrap-up. ``queue_length`` samples, every 30 simulated seconds, the
    minute of the shift and how many chats were waiting (queued or offered).
    """

    config: ShiftConfig
    ended_at: float
    chats_started: int
    chats_handled: int
    chats_abandoned: int
    chats_open: int
    outcomes: dict[str, int]
    queue_time: Distribution
    handling_time: Distribution
    offers: int
    ronas: int
    declines: int
    transfers_to_agent: int
    transfers_accepted: int
    transfers_cancelled: int
    transfers_to_queue: int
    conferences_requested: int
    conferences_joined: int
    wrap_up_reasons: dict[str, int]
    automatic_wrap_ups: int
    messages: dict[str, int]
    sensitive_messages: dict[str, int]
    refused: dict[str, int]
    commands: int
    events: int
    agents: tuple[AgentSummary, ...]
    queue_times: tuple[float, ...]
    handling_times: tuple[float, ...]
    queue_length: tuple[tuple[float, int], ...]
    figures: Report = attrs.field(factory=Report)
    """The contact-center figures of SPEC section 12 (``desk.report()`` of the shift)."""

    @property
    def duration(self) -> float:
        """Simulated seconds from the start of the shift to the last closed chat."""
        return self.ended_at - self.config.start

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON-ready values (tuples become lists)."""
        return json.loads(json.dumps(attrs.asdict(self)))  # type: ignore[no-any-return]

    def to_json(self, indent: int | None = 2) -> str:
        """The report as JSON text."""
        return json.dumps(attrs.asdict(self), indent=indent, ensure_ascii=False)

    def format(self, width: int = 100) -> str:
        """A plain-text summary for a terminal, wrapped at ``width`` columns."""
        return _format(self, width)

    def __repr__(self) -> str:
        # the raw durations and samples make the full value thousands of characters long
        figures = self.figures
        return (
            f"<ShiftReport seed={self.config.seed} agents={self.config.agents} "
            f"minutes={self.config.minutes:g}: {self.chats_started} chats, "
            f"{self.chats_handled} handled, {self.chats_abandoned} abandoned, service level "
            f"{percent_text(figures.service_level)}, ASA {seconds_text(figures.asa)}, "
            f"AHT {seconds_text(figures.aht)}>"
        )

    def _repr_html_(self) -> str:
        """The shift for notebooks: the summary, then the figures' tables and charts."""
        from ._report_view import shift_html

        return shift_html(self)

    def plot(self, path: str | os.PathLike[str] | None = None) -> Any:
        """Queue length over time and the handling-time histogram, as a matplotlib figure.

        Returns the ``Figure`` (a notebook displays it); with ``path``, also saves it there
        in the format the suffix names (``.png``, ``.svg``, ``.pdf``). Built without pyplot:
        the global backend and pyplot's open figures are left alone. Needs matplotlib
        (``pip install 'livechat-core[plots]'``).
        """
        try:
            from matplotlib.figure import Figure
        except ImportError as error:
            raise ImportError(
                "plots need matplotlib: pip install 'livechat-core[plots]'"
            ) from error
        figure = Figure(figsize=(8, 6.5), layout="constrained")
        top, bottom = figure.subplots(2, 1)
        minutes = [sample[0] for sample in self.queue_length]
        waiting = [sample[1] for sample in self.queue_length]
        top.step(minutes, waiting, where="post", color="#1f6feb")
        top.fill_between(minutes, waiting, step="post", alpha=0.2, color="#1f6feb")
        top.axvline(self.config.minutes, color="#888", linestyle="--", linewidth=1)
        top.annotate(
            "arrivals stop",
            (self.config.minutes, 1),
            xycoords=("data", "axes fraction"),
            xytext=(3, -12),
            textcoords="offset points",
            color="#666",
            fontsize=8,
        )
        top.set_title("Chats waiting for an agent")
        top.set_xlabel("minute of the shift")
        top.set_ylabel("queued or offered")
        top.set_xlim(left=0)
        top.set_ylim(bottom=0)
        handling = [seconds / 60 for seconds in self.handling_times]
        bottom.hist(handling, bins=min(30, max(5, len(handling) // 4)), color="#8250df")
        for value, label in ((self.handling_time.p50, "p50"), (self.handling_time.p90, "p90")):
            bottom.axvline(value / 60, color="#333", linestyle=":", linewidth=1)
            bottom.annotate(label, (value / 60, 0), xytext=(3, 3), textcoords="offset points")
        bottom.set_title(f"Handling time ({self.handling_time.count} chats)")
        bottom.set_xlabel("minutes from acceptance to the last wrap-up")
        bottom.set_ylabel("chats")
        figure.suptitle(
            f"Simulated shift · seed {self.config.seed} · {self.config.agents} agents · "
            f"{self.config.arrival_rate:g} chats/min"
        )
        if path is not None:
            figure.savefig(os.fspath(path))
        return figure


# --------------------------------------------------------------------------- the engine


@attrs.define
class _Chat:
    """What the simulated people know about one chat (from the events they saw)."""

    id: str
    queue: str
    first_name: str
    generation: int = 0  # bumped whenever the owner changes or the chat ends: stale steps stop
    owner: str | None = None
    guest: str | None = None
    accepted: bool = False
    customer_present: bool = True
    turns_left: int = 0
    plan: str = ""  # "transfer" / "conference" / ""
    plan_turn: int = -1
    offers: dict[str, OfferKind] = attrs.Factory(dict)
    leg_queue: dict[str, str] = attrs.Factory(dict)  # the queue each agent's leg came from
    transferred_out: dict[str, bool] = attrs.Factory(dict)
    wrapping: dict[str, bool] = attrs.Factory(dict)


@attrs.define
class _AgentTrack:
    id: str
    name: str
    capacity: int
    queues: tuple[str, ...]
    on_break: bool = False
    recovering: bool = False
    chats: int = 0
    ronas: int = 0
    declines: int = 0


def _slug(name: str) -> str:
    first = unicodedata.normalize("NFKD", name.split()[0])
    return "".join(c for c in first if c.isascii() and c.isalnum()).lower() or "agent"


class _Shift:
    def __init__(
        self,
        config: ShiftConfig,
        store: Store | None,
        on_event: Callable[[ev.Event], None] | None,
        progress: Callable[[float], None] | None,
    ) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.now = config.start
        self.end = config.start + config.minutes * 60
        self.hard_stop = self.end + 2 * 3600
        self.ids = itertools.count(1)
        self.desk = Desk(store=store, clock=lambda: self.now, new_id=self._new_id)
        self.on_event = on_event
        self.progress = progress
        self.heap: list[tuple[float, int, Callable[[], None]]] = []
        self.order = itertools.count()
        self.ticks: set[float] = set()
        self.chats: dict[str, _Chat] = {}
        self.open: dict[str, None] = {}
        self.agents: dict[str, _AgentTrack] = {}
        self.arrivals_open = True
        self.counts: Counter[str] = Counter()
        self.outcomes: Counter[str] = Counter()
        self.reasons: Counter[str] = Counter()
        self.messages: Counter[str] = Counter()
        self.sensitive: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()
        self.queue_length: list[tuple[float, int]] = []
        self.seen: list[ev.Event] = []
        self.handlers: dict[type[ev.Event], Callable[[Any], None]] = {
            ev.ChatOffered: self._on_offered,
            ev.TransferRequested: self._on_transfer_requested,
            ev.ConferenceRequested: self._on_conference_requested,
            ev.OfferAccepted: self._on_accepted,
            ev.OfferDeclined: self._on_declined,
            ev.OfferTimedOut: self._on_offer_closed,
            ev.OfferRescinded: self._on_offer_closed,
            ev.AgentRona: self._on_rona,
            ev.TransferredToQueue: self._on_transferred_to_queue,
            ev.GuestReleased: self._on_guest_released,
            ev.CustomerEnded: self._on_customer_ended,
            ev.ChatEnded: self._on_ended,
            ev.WrapUpSubmitted: self._on_wrap_up,
            ev.MessagePosted: self._on_message,
        }

    # --- plumbing --------------------------------------------------------------------------

    def _new_id(self) -> str:
        return f"chat-{next(self.ids):04d}"

    def at(self, when: float, action: Callable[[], None]) -> None:
        heapq.heappush(self.heap, (when, next(self.order), action))

    def after(self, low: float, high: float, action: Callable[[], None]) -> None:
        self.at(self.now + self.rng.uniform(low, high), action)

    def send(self, command: cmd.Command) -> list[ev.Event] | None:
        """Hand a command to the desk; a refusal is counted, as a desktop would show it."""
        try:
            events = self.desk.handle(command)
        except LivechatError as error:
            self.refused[error.code] += 1
            return None
        self.counts["commands"] += 1
        self.seen.extend(events)
        for event in events:
            self.counts["events"] += 1
            if self.on_event is not None:
                self.on_event(event)
            handler = self.handlers.get(type(event))
            if handler is not None:
                handler(event)
        return events

    def tick_at(self, deadline: float | None) -> None:
        if deadline is not None and deadline not in self.ticks:
            self.ticks.add(deadline)
            self.at(deadline, lambda: self._tick(deadline))

    def _tick(self, deadline: float) -> None:
        self.ticks.discard(deadline)
        self.send(cmd.Tick(now=deadline))

    # --- the shift -------------------------------------------------------------------------

    def run(self) -> ShiftReport:
        self._open_desk()
        self.at(self.now + self._interarrival(), self._arrive)
        self.at(self.end, self._close_doors)
        self.at(self.now, self._sample)
        while self.heap:
            when, _, action = heapq.heappop(self.heap)
            if when > self.hard_stop:
                break
            self.now = when
            action()
        for agent_id in self.agents:
            self.send(cmd.Logout(agent_id=agent_id))
        return self._report()

    def _open_desk(self) -> None:
        config = self.config
        for name, reasons in QUEUES.items():
            self.send(
                cmd.AddQueue(
                    name=name,
                    wrap_up_reasons=reasons,
                    offer_timeout=config.offer_timeout,
                    wrap_up_timeout=config.wrap_up_timeout,
                    default_wrap_up_reason=reasons[0],
                )
            )
        others = [name for name in QUEUES if name != "support"]
        taken: Counter[str] = Counter()
        for index in range(config.agents):
            name = _AGENT_NAMES[index % len(_AGENT_NAMES)]
            if index >= len(_AGENT_NAMES):
                name = f"{name} {index // len(_AGENT_NAMES) + 1}"
            slug = _slug(name)
            taken[slug] += 1
            agent_id = slug if taken[slug] == 1 else f"{slug}{taken[slug]}"
            # everyone serves support; the second queue rotates so each has people
            queues: tuple[str, ...] = ("support", others[index % len(others)])
            if self.rng.random() < 0.25:
                queues = ("support", *others)
            capacity = self.rng.choice((1, 2, 2, 3))
            self.agents[agent_id] = _AgentTrack(agent_id, name, capacity, queues)
            self.send(cmd.Login(agent_id=agent_id, name=name, queues=queues, capacity=capacity))
            # a staggered start: the first minute of the shift
            self.at(self.now + self.rng.uniform(0, 60), self._available(agent_id))
            if self.rng.random() < 0.4:
                start = self.now + self.rng.uniform(0.2, 0.8) * config.minutes * 60
                self.at(start, self._break(agent_id, self.rng.uniform(180, 600)))

    def _available(self, agent_id: str) -> Callable[[], None]:
        def act() -> None:
            agent = self.agents[agent_id]
            agent.on_break = agent.recovering = False
            self.send(cmd.SetAvailable(agent_id=agent_id))

        return act

    def _break(self, agent_id: str, length: float) -> Callable[[], None]:
        def act() -> None:
            self.agents[agent_id].on_break = True
            self.send(cmd.SetIdle(agent_id=agent_id, reason="break"))
            self.at(self.now + length, self._available(agent_id))

        return act

    def _interarrival(self) -> float:
        return self.rng.expovariate(self.config.arrival_rate / 60)

    def _close_doors(self) -> None:
        self.arrivals_open = False

    def _sample(self) -> None:
        waiting = 0
        for chat_id in list(self.open):
            state = self.desk.conversation(chat_id).state
            if state is ConversationState.CLOSED:
                del self.open[chat_id]
            elif state in (ConversationState.QUEUED, ConversationState.OFFERED):
                waiting += 1
        minute = round((self.now - self.config.start) / 60, 3)
        self.queue_length.append((minute, waiting))
        if self.progress is not None:
            self.progress(min(1.0, (self.now - self.config.start) / (self.end - self.config.start)))
        if self.arrivals_open or self.open:
            self.at(self.now + 30, self._sample)

    # --- customers -------------------------------------------------------------------------

    def _arrive(self) -> None:
        if not self.arrivals_open:
            return
        rng = self.rng
        queue = rng.choices(list(QUEUES), weights=_QUEUE_WEIGHTS)[0]
        first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
        phone = self._phone()
        email = f"{_slug(first)}.{_slug(last)}@example.com"
        contact = email if rng.random() < 0.6 else phone
        # conditional masking: some widgets put the phone number in the name field
        name = phone if rng.random() < 0.05 else f"{first} {last}"
        chat = _Chat(id=self._new_id(), queue=queue, first_name=first)
        self.chats[chat.id] = chat
        self.open[chat.id] = None
        self.counts["started"] += 1
        started = self.send(
            cmd.StartChat(
                conversation_id=chat.id,
                queue=queue,
                customer_name=name,
                customer_contact=contact,
                proactive=rng.random() < 0.1,
            )
        )
        if started is not None:
            self.send(
                cmd.SendCustomerMessage(conversation_id=chat.id, text=rng.choice(_OPENINGS[queue]))
            )
            self.at(self.now + rng.expovariate(1 / self.config.patience), self._give_up(chat))
            self.at(self.now + rng.uniform(45, 90), self._hello_again(chat))
        self.at(self.now + self._interarrival(), self._arrive)

    def _phone(self) -> str:
        rng = self.rng
        if rng.random() < 0.5:
            digits = f"{rng.choice('67')}{rng.randrange(10**8):08d}"
            return f"+420 {digits[:3]} {digits[3:6]} {digits[6:]}"
        return f"+44 7{rng.randrange(10**3):03d} {rng.randrange(10**6):06d}"

    def _give_up(self, chat: _Chat) -> Callable[[], None]:
        def act() -> None:
            if not chat.accepted and chat.customer_present:
                self.send(cmd.CustomerEnd(conversation_id=chat.id))

        return act

    def _hello_again(self, chat: _Chat) -> Callable[[], None]:
        def act() -> None:
            if not chat.accepted and chat.customer_present:
                text = self.rng.choice(_HELLO_AGAIN)
                self.send(cmd.SendCustomerMessage(conversation_id=chat.id, text=text))

        return act

    def _customer_text(self) -> str:
        rng = self.rng
        if rng.random() >= self.config.sensitive_probability:
            return rng.choice(_FOLLOW_UPS)
        kind, template = rng.choice(_SENSITIVE)
        self.sensitive[kind] += 1
        if kind == "card":
            digits = card_number(rng)
            item = " ".join(digits[i : i + 4] for i in range(0, len(digits), 4))
        elif kind == "iban":
            number = iban_number(rng, rng.choice(("CZ", "SK", "DE", "GB")))
            item = " ".join(number[i : i + 4] for i in range(0, len(number), 4))
        elif kind == "phone":
            item = self._phone()
        else:
            item = f"{_slug(rng.choice(_FIRST_NAMES))}{rng.randrange(100)}@example.org"
        return template.format(item)

    # --- the owner's side of a conversation -----------------------------------------------

    def _stale(self, chat: _Chat, generation: int) -> bool:
        return chat.generation != generation or not chat.customer_present or chat.owner is None

    def _start_owner(self, chat: _Chat, first_time: bool) -> None:
        rng = self.rng
        chat.turns_left = rng.randint(1, 5) if first_time else rng.randint(1, 3)
        chat.plan, chat.plan_turn = "", -1
        if first_time:
            draw = rng.random()
            if draw < self.config.transfer_probability:
                chat.plan = "transfer"
            elif draw < self.config.transfer_probability + self.config.conference_probability:
                chat.plan = "conference"
            chat.plan_turn = rng.randrange(chat.turns_left)
        generation = chat.generation
        self.after(3, 12, lambda: self._greet(chat, generation, first_time))

    def _greet(self, chat: _Chat, generation: int, first_time: bool) -> None:
        if self._stale(chat, generation):
            return
        assert chat.owner is not None
        name = self.agents[chat.owner].name.split()[0]
        if first_time:
            text = f"Hello {chat.first_name}, my name is {name}. How can I help?"
        else:
            text = f"Hi {chat.first_name}, {name} here, I have taken over your chat."
        self.send(cmd.SendAgentMessage(agent_id=chat.owner, conversation_id=chat.id, text=text))
        self.after(15, 90, lambda: self._customer_turn(chat, generation))

    def _customer_turn(self, chat: _Chat, generation: int) -> None:
        if self._stale(chat, generation):
            return
        if chat.turns_left <= 0:
            if self.rng.random() < self.config.customer_end_probability:
                self.send(cmd.CustomerEnd(conversation_id=chat.id))
            else:
                self.after(5, 30, lambda: self._close(chat, generation))
            return
        chat.turns_left -= 1
        text = self._customer_text()
        self.send(cmd.SendCustomerMessage(conversation_id=chat.id, text=text))
        self.after(10, 75, lambda: self._agent_turn(chat, generation))

    def _agent_turn(self, chat: _Chat, generation: int) -> None:
        if self._stale(chat, generation):
            return
        owner = chat.owner
        assert owner is not None
        text = self.rng.choice(_AGENT_REPLIES)
        self.send(cmd.SendAgentMessage(agent_id=owner, conversation_id=chat.id, text=text))
        if chat.plan and chat.turns_left == chat.plan_turn:
            plan, chat.plan = chat.plan, ""
            if plan == "transfer":
                self.after(5, 20, lambda: self._transfer(chat, generation))
                return
            self.after(5, 20, lambda: self._invite(chat, generation))
        self.after(15, 90, lambda: self._customer_turn(chat, generation))

    def _transfer(self, chat: _Chat, generation: int) -> None:
        if self._stale(chat, generation):
            return
        owner = chat.owner
        assert owner is not None
        targets = self.desk.available_agents(exclude=owner)
        if targets and self.rng.random() < 0.6:
            target = self.rng.choice(targets).id
            command: cmd.Command = cmd.TransferToAgent(
                agent_id=owner, conversation_id=chat.id, target_agent_id=target
            )
        else:
            queue = self.rng.choice([name for name in QUEUES if name != chat.queue])
            command = cmd.TransferToQueue(agent_id=owner, conversation_id=chat.id, queue=queue)
        if self.send(command) is None:
            self.after(15, 90, lambda: self._customer_turn(chat, generation))

    def _invite(self, chat: _Chat, generation: int) -> None:
        if self._stale(chat, generation):
            return
        owner = chat.owner
        assert owner is not None
        targets = self.desk.available_agents(exclude=owner)
        if targets:
            guest = self.rng.choice(targets).id
            self.send(
                cmd.RequestConference(agent_id=owner, conversation_id=chat.id, guest_agent_id=guest)
            )
        self.after(15, 90, lambda: self._customer_turn(chat, generation))

    def _close(self, chat: _Chat, generation: int) -> None:
        if self._stale(chat, generation):
            return
        assert chat.owner is not None
        text = "Is there anything else I can help with? Have a nice day!"
        self.send(cmd.SendAgentMessage(agent_id=chat.owner, conversation_id=chat.id, text=text))
        self.after(5, 20, lambda: self._end(chat, generation))

    def _end(self, chat: _Chat, generation: int) -> None:
        if chat.generation != generation or chat.owner is None:
            return
        self.send(cmd.End(agent_id=chat.owner, conversation_id=chat.id))

    def _guest_hello(self, chat: _Chat, guest: str) -> None:
        if chat.guest != guest or not chat.customer_present:
            return
        name = self.agents[guest].name.split()[0]
        text = f"Hi {chat.first_name}, {name} from {chat.queue} here, happy to help."
        self.send(cmd.SendAgentMessage(agent_id=guest, conversation_id=chat.id, text=text))

    def _end_conference(self, chat: _Chat, guest: str, generation: int) -> None:
        if chat.guest != guest or chat.generation != generation or chat.owner is None:
            return
        # now and then the guest leaves on their own instead
        by = guest if self.rng.random() < 0.3 else chat.owner
        self.send(cmd.EndConference(agent_id=by, conversation_id=chat.id))

    def _wrap_up_later(self, chat: _Chat, agent_id: str) -> None:
        chat.wrapping[agent_id] = True
        if self.rng.random() < 0.04:
            return  # forgotten: the queue's wrap-up timeout submits the default reason
        queue = chat.leg_queue.get(agent_id, chat.queue)
        if chat.transferred_out.pop(agent_id, False):
            reason = _TRANSFERRED
        else:
            reason = self.rng.choices(QUEUES[queue][:3], weights=(6, 2, 1))[0]
        notes = self.rng.choice(("", "", "customer satisfied", "follow up tomorrow"))

        def act() -> None:
            if chat.wrapping.get(agent_id):
                self.send(
                    cmd.SubmitWrapUp(
                        agent_id=agent_id, conversation_id=chat.id, reason=reason, notes=notes
                    )
                )

        self.after(5, 60, act)

    # --- what the desktops show: events ---------------------------------------------------

    def _offer(self, chat: _Chat, agent_id: str, kind: OfferKind, deadline: float) -> None:
        self.counts["offers"] += 1
        chat.offers[agent_id] = kind
        chat.leg_queue[agent_id] = chat.queue
        self.tick_at(deadline)
        config, rng = self.config, self.rng
        draw = rng.random()
        if draw < config.miss_probability:
            return  # the popover goes unnoticed: RONA at the deadline
        quick = min(12.0, 0.8 * config.offer_timeout)
        if draw < config.miss_probability + config.decline_probability:
            command: cmd.Command = cmd.Decline(agent_id=agent_id, conversation_id=chat.id)
        else:
            command = cmd.Accept(agent_id=agent_id, conversation_id=chat.id)

        def act() -> None:
            if chat.offers.get(agent_id) is kind:
                self.send(command)

        self.at(self.now + rng.uniform(0.1, 1.0) * quick, act)

    def _on_offered(self, event: ev.ChatOffered) -> None:
        self._offer(self.chats[event.aggregate_id], event.agent_id, OfferKind.CHAT, event.deadline)

    def _on_transfer_requested(self, event: ev.TransferRequested) -> None:
        chat = self.chats[event.aggregate_id]
        self.counts["transfers_to_agent"] += 1
        chat.generation += 1
        chat.owner = None
        chat.transferred_out[event.agent_id] = True
        self._wrap_up_later(chat, event.agent_id)
        self.tick_at(event.wrap_up_deadline)
        self._offer(chat, event.target_agent_id, OfferKind.TRANSFER, event.deadline)

    def _on_conference_requested(self, event: ev.ConferenceRequested) -> None:
        chat = self.chats[event.aggregate_id]
        self.counts["conferences_requested"] += 1
        self._offer(chat, event.guest_agent_id, OfferKind.CONFERENCE, event.deadline)

    def _on_accepted(self, event: ev.OfferAccepted) -> None:
        chat = self.chats[event.aggregate_id]
        kind = chat.offers.pop(event.agent_id, None)
        if kind is OfferKind.CONFERENCE:
            chat.guest = event.agent_id
            self.counts["conferences_joined"] += 1
            guest, generation = event.agent_id, chat.generation
            self.after(3, 10, lambda: self._guest_hello(chat, guest))
            self.after(40, 150, lambda: self._end_conference(chat, guest, generation))
            return
        if kind is OfferKind.TRANSFER:
            self.counts["transfers_accepted"] += 1
        first_time = not chat.accepted
        chat.accepted = True
        chat.owner = event.agent_id
        chat.generation += 1
        self.agents[event.agent_id].chats += 1
        self._start_owner(chat, first_time)

    def _on_declined(self, event: ev.OfferDeclined) -> None:
        chat = self.chats[event.aggregate_id]
        self.agents[event.agent_id].declines += 1
        self.counts["declines"] += 1
        if chat.offers.pop(event.agent_id, None) is OfferKind.TRANSFER:
            self.counts["transfers_cancelled"] += 1

    def _on_offer_closed(self, event: ev.OfferTimedOut | ev.OfferRescinded) -> None:
        chat = self.chats[event.aggregate_id]
        if chat.offers.pop(event.agent_id, None) is OfferKind.TRANSFER:
            self.counts["transfers_cancelled"] += 1

    def _on_rona(self, event: ev.AgentRona) -> None:
        agent = self.agents[event.aggregate_id]
        agent.ronas += 1
        self.counts["ronas"] += 1
        if not agent.on_break and not agent.recovering:
            # the agent notices after a while and switches back to Available by hand
            agent.recovering = True
            self.after(30, 150, self._available(agent.id))

    def _on_transferred_to_queue(self, event: ev.TransferredToQueue) -> None:
        chat = self.chats[event.aggregate_id]
        self.counts["transfers_to_queue"] += 1
        chat.generation += 1
        chat.owner = None
        chat.transferred_out[event.agent_id] = True
        self._wrap_up_later(chat, event.agent_id)
        chat.queue = event.queue
        self.tick_at(event.wrap_up_deadline)

    def _on_guest_released(self, event: ev.GuestReleased) -> None:
        chat = self.chats[event.aggregate_id]
        chat.guest = None
        self._wrap_up_later(chat, event.agent_id)
        self.tick_at(event.wrap_up_deadline)

    def _on_customer_ended(self, event: ev.CustomerEnded) -> None:
        chat = self.chats[event.aggregate_id]
        chat.customer_present = False
        if chat.owner is not None:
            generation = chat.generation
            self.after(5, 25, lambda: self._end(chat, generation))

    def _on_ended(self, event: ev.ChatEnded) -> None:
        chat = self.chats[event.aggregate_id]
        chat.generation += 1
        chat.owner = None
        self._wrap_up_later(chat, event.agent_id)
        if chat.guest is not None:
            self._wrap_up_later(chat, chat.guest)
            chat.guest = None
        self.tick_at(event.wrap_up_deadline)

    def _on_wrap_up(self, event: ev.WrapUpSubmitted) -> None:
        chat = self.chats[event.aggregate_id]
        chat.wrapping.pop(event.agent_id, None)
        self.reasons[event.reason] += 1
        if event.automatic:
            self.counts["automatic_wrap_ups"] += 1

    def _on_message(self, event: ev.MessagePosted) -> None:
        self.messages[str(event.message.role)] += 1

    # --- the report ------------------------------------------------------------------------

    def _report(self) -> ShiftReport:
        queue_times: list[float] = []
        handling_times: list[float] = []
        last = self.config.start
        still_open = 0
        for chat_id in self.chats:
            view = self.desk.conversation(chat_id)
            if view.outcome is not None:
                self.outcomes[str(view.outcome)] += 1
            if view.state is not ConversationState.CLOSED:
                still_open += 1
                continue
            assert view.closed_at is not None
            last = max(last, view.closed_at)
            if view.first_accepted_at is not None:
                queue_times.append(round(view.first_accepted_at - view.started_at, 3))
                handling_times.append(round(view.closed_at - view.first_accepted_at, 3))
        counts = self.counts
        return ShiftReport(
            config=self.config,
            ended_at=last,
            chats_started=counts["started"],
            chats_handled=sum(1 for chat in self.chats.values() if chat.accepted),
            chats_abandoned=self.outcomes["abandoned"],
            chats_open=still_open,
            outcomes=dict(sorted(self.outcomes.items())),
            queue_time=Distribution.of(queue_times),
            handling_time=Distribution.of(handling_times),
            offers=counts["offers"],
            ronas=counts["ronas"],
            declines=counts["declines"],
            transfers_to_agent=counts["transfers_to_agent"],
            transfers_accepted=counts["transfers_accepted"],
            transfers_cancelled=counts["transfers_cancelled"],
            transfers_to_queue=counts["transfers_to_queue"],
            conferences_requested=counts["conferences_requested"],
            conferences_joined=counts["conferences_joined"],
            wrap_up_reasons=dict(self.reasons.most_common()),
            automatic_wrap_ups=counts["automatic_wrap_ups"],
            messages={role: self.messages[role] for role in ("customer", "agent", "system")},
            sensitive_messages=dict(sorted(self.sensitive.items())),
            refused=dict(sorted(self.refused.items())),
            commands=counts["commands"],
            events=counts["events"],
            agents=tuple(
                AgentSummary(
                    id=agent.id,
                    name=agent.name,
                    capacity=agent.capacity,
                    queues=agent.queues,
                    chats=agent.chats,
                    ronas=agent.ronas,
                    declines=agent.declines,
                )
                for agent in self.agents.values()
            ),
            queue_times=tuple(queue_times),
            handling_times=tuple(handling_times),
            queue_length=tuple(self.queue_length),
            figures=compute_report(self.seen, now=self.now),
        )


def simulate(
    config: ShiftConfig | None = None,
    *,
    store: Store | None = None,
    on_event: Callable[[ev.Event], None] | None = None,
    progress: Callable[[float], None] | None = None,
) -> ShiftReport:
    """Simulate a shift on a desk over ``store`` and report what happened.

    Args:
        config: what to simulate; ``None`` → ``ShiftConfig()``.
        store: where the desk keeps its state; ``None`` → a fresh :class:`MemoryStore`.
            Give it an empty store: the shift logs in its own agents and queues.
        on_event: called with every event the desk emits, in order (e.g. to write them
            as JSON Lines with :func:`livechat_core.event_to_record`).
        progress: called now and then with the fraction of the shift done (0 to 1).

    Returns:
        A frozen :class:`ShiftReport`; the same config gives an equal report.
    """
    config = ShiftConfig() if config is None else config
    if not isinstance(config, ShiftConfig):
        raise InvalidArgument(f"config must be a ShiftConfig, not {config!r}")
    return _Shift(config, store, on_event, progress).run()


# --------------------------------------------------------------------------- text report


def clock_time(seconds: float) -> str:
    """``75.4`` → ``"1:15"``; an hour or more → ``"1:02:05"``."""
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _counts(mapping: dict[str, int]) -> str:
    return " · ".join(f"{name.replace('_', ' ')} {count}" for name, count in mapping.items())


def _wrap(text: str, width: int) -> list[str]:
    """Wrap at the `` · `` between items when possible, else between words."""
    lines: list[str] = []
    for item in text.split(" · "):
        if lines and len(lines[-1]) + 3 + len(item) <= width:
            lines[-1] += " · " + item
        else:
            if lines:
                lines[-1] += " ·"
            lines.extend(textwrap.wrap(item, width=width, break_on_hyphens=False) or [""])
    return lines


def _format(report: ShiftReport, width: int) -> str:
    config = report.config
    rows: list[tuple[str, str]] = []

    def row(label: str, text: str) -> None:
        rows.append((label, text))

    row(
        "Shift",
        f"{config.minutes:g} min of arrivals at {config.arrival_rate:g}/min, "
        f"{config.agents} agents, seed {config.seed}; last chat closed after "
        f"{clock_time(report.duration)}",
    )
    row(
        "Chats",
        f"{report.chats_started} started · {report.chats_handled} handled · "
        f"{report.chats_abandoned} abandoned"
        + (f" · {report.chats_open} still open" if report.chats_open else ""),
    )
    row("Outcomes", _counts(report.outcomes) or "none")

    def timing(distribution: Distribution) -> str:
        if not distribution.count:
            return "no chats"
        return (
            f"p50 {clock_time(distribution.p50)} · p90 {clock_time(distribution.p90)} · "
            f"p99 {clock_time(distribution.p99)} · max {clock_time(distribution.max)}"
        )

    figures = report.figures
    row(
        "Service level",
        f"{percent_text(figures.service_level)} answered within "
        f"{figures.service_level_threshold:g} s · ASA {seconds_text(figures.asa)} · "
        f"AHT {seconds_text(figures.aht)} · abandoned {percent_text(figures.abandon_rate)}",
    )
    row("Time in queue", timing(report.queue_time))
    row("Handling time", timing(report.handling_time))
    row(
        "Offers",
        f"{report.offers} made · {report.ronas} missed (RONA) · {report.declines} declined",
    )
    row(
        "Transfers",
        f"{report.transfers_to_agent} to an agent ({report.transfers_accepted} accepted, "
        f"{report.transfers_cancelled} cancelled) · {report.transfers_to_queue} to a queue",
    )
    row(
        "Conferences",
        f"{report.conferences_requested} requested · {report.conferences_joined} joined",
    )
    total = sum(report.messages.values())
    sensitive = sum(report.sensitive_messages.values())
    row(
        "Messages",
        f"{total}: " + ", ".join(f"{role} {count}" for role, count in report.messages.items()),
    )
    row(
        "Sensitive data",
        f"{sensitive} customer messages carried "
        + ", ".join(f"{kind} {count}" for kind, count in report.sensitive_messages.items())
        + " (masked on every surface; card numbers before they are stored)"
        if sensitive
        else "none in customer messages",
    )
    row(
        "Wrap-up",
        _counts(report.wrap_up_reasons)
        + (f" ({report.automatic_wrap_ups} by timeout)" if report.automatic_wrap_ups else ""),
    )
    if report.refused:
        row("Late clicks", _counts(report.refused) + " (refused by the desk, nothing changed)")
    row("Desk", f"{report.commands} commands · {report.events} events")
    label_width = max(len(label) for label, _ in rows)
    lines = []
    for label, text in rows:
        wrapped = _wrap(text, max(40, width - label_width - 2))
        lines.append(f"{label:<{label_width}}  {wrapped[0]}")
        lines.extend(" " * (label_width + 2) + more for more in wrapped[1:])
    lines.append("")
    lines.append("Agents")
    name_width = max((len(agent.name) for agent in report.agents), default=0)
    for agent in report.agents:
        found = report.figures.by_agent.get(agent.id)
        occupancy = percent_text(found.occupancy if found is not None else None)
        lines.append(
            f"  {agent.name:<{name_width}}  capacity {agent.capacity}  "
            f"{agent.chats:>3} chats  {agent.ronas} RONA  {agent.declines} declined  "
            f"occupancy {occupancy:>6}  ({', '.join(agent.queues)})"
        )
    return "\n".join(lines) + "\n"
