"""The simulated shift: reproducible from its seed, and its report agrees with its events."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import attrs
import pytest

from livechat_core import (
    Event,
    InvalidArgument,
    MaskingPolicy,
    MemoryStore,
    SqliteStore,
    event_to_record,
    find_sensitive,
    replay,
)
from livechat_core import events as ev
from livechat_core._simulation import Distribution, ShiftConfig, ShiftReport, percentile, simulate

SHORT = ShiftConfig(seed=7, agents=6, minutes=20, arrival_rate=2.5)


def run(
    config: ShiftConfig = SHORT, store: MemoryStore | SqliteStore | None = None
) -> tuple[ShiftReport, list[Event]]:
    seen: list[Event] = []
    report = simulate(config, store=store, on_event=seen.append)
    return report, seen


@pytest.fixture(scope="module")
def shift() -> tuple[ShiftReport, list[Event]]:
    return run()


def test_same_seed_gives_the_same_report_and_events() -> None:
    first, first_events = run()
    second, second_events = run()
    assert first == second
    assert [event_to_record(e) for e in first_events] == [event_to_record(e) for e in second_events]


def test_the_store_does_not_change_the_shift(tmp_path: Path) -> None:
    in_memory, memory_events = run()
    with SqliteStore(tmp_path / "shift.db") as store:
        on_disk, disk_events = run(store=store)
        chats = sorted({e.aggregate_id for e in disk_events if isinstance(e, ev.ChatStarted)})
        stored = {chat: store.events(chat) for chat in chats}
    assert in_memory == on_disk
    assert memory_events == disk_events
    # what the desk kept is what it emitted
    for conversation_id, events in stored.items():
        emitted = [e for e in disk_events if e.aggregate_id == conversation_id]
        assert [event_to_record(e) for e in emitted] == [event_to_record(e) for e in events]


def test_another_seed_gives_another_shift() -> None:
    assert run()[0] != run(attrs.evolve(SHORT, seed=8))[0]


def test_reproducible_across_processes_with_different_hash_seeds(tmp_path: Path) -> None:
    code = (
        "from livechat_core._simulation import ShiftConfig, simulate;"
        "print(simulate(ShiftConfig(seed=3, minutes=10)).to_json())"
    )
    outputs = []
    for hash_seed in ("1", "2"):
        result = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            cwd=tmp_path,
            env={"PYTHONHASHSEED": hash_seed, "PATH": ""},
        )
        outputs.append(result.stdout)
    assert outputs[0] == outputs[1]
    assert json.loads(outputs[0])["config"]["seed"] == 3


def test_every_chat_is_accounted_for(shift: tuple[ShiftReport, list[Event]]) -> None:
    report, _ = shift
    assert report.chats_open == 0
    assert report.chats_started == report.chats_handled + report.chats_abandoned
    assert sum(report.outcomes.values()) == report.chats_started
    assert report.outcomes.get("abandoned", 0) == report.chats_abandoned
    assert report.queue_time.count == report.handling_time.count == report.chats_handled
    assert len(report.queue_times) == len(report.handling_times) == report.chats_handled
    assert sum(agent.chats for agent in report.agents) >= report.chats_handled


def test_counts_agree_with_the_events(shift: tuple[ShiftReport, list[Event]]) -> None:
    report, events = shift
    kinds = Counter(type(event) for event in events)
    assert report.events == len(events)
    assert report.ronas == kinds[ev.AgentRona] == sum(a.ronas for a in report.agents)
    assert report.declines == kinds[ev.OfferDeclined] == sum(a.declines for a in report.agents)
    assert report.offers == (
        kinds[ev.ChatOffered] + kinds[ev.TransferRequested] + kinds[ev.ConferenceRequested]
    )
    assert report.transfers_to_agent == kinds[ev.TransferRequested]
    assert report.transfers_to_queue == kinds[ev.TransferredToQueue]
    assert report.conferences_requested == kinds[ev.ConferenceRequested]
    assert report.transfers_accepted + report.transfers_cancelled == report.transfers_to_agent
    assert sum(report.wrap_up_reasons.values()) == kinds[ev.WrapUpSubmitted]
    automatic = [e for e in events if isinstance(e, ev.WrapUpSubmitted) and e.automatic]
    assert report.automatic_wrap_ups == len(automatic)
    roles = Counter(str(e.message.role) for e in events if isinstance(e, ev.MessagePosted))
    assert report.messages == {role: roles[role] for role in ("customer", "agent", "system")}
    # the shift ends with everyone logged out
    assert kinds[ev.AgentLoggedOut] == report.config.agents


def test_the_shift_exercises_the_article(shift: tuple[ShiftReport, list[Event]]) -> None:
    report, _ = shift
    busy, busy_events = run(
        attrs.evolve(
            SHORT, miss_probability=0.2, transfer_probability=0.3, conference_probability=0.3
        )
    )
    assert busy.ronas > 0
    assert busy.declines > 0
    assert busy.transfers_to_agent > 0
    assert busy.transfers_to_queue > 0
    assert busy.conferences_joined > 0
    assert "Transferred" in busy.wrap_up_reasons
    assert set(busy.outcomes) >= {"completed", "customer_ended"}
    # a RONA agent comes back only by a manual set_available
    rona_agents = {e.aggregate_id for e in busy_events if isinstance(e, ev.AgentRona)}
    for agent_id in rona_agents:
        states = [
            type(e).__name__
            for e in busy_events
            if e.aggregate_id == agent_id and isinstance(e, ev.AgentRona | ev.AgentAvailable)
        ]
        assert states[-1] == "AgentAvailable"
    assert report.chats_handled > 0


def test_distributions_are_ordered(shift: tuple[ShiftReport, list[Event]]) -> None:
    report, _ = shift
    for summary, values in (
        (report.queue_time, report.queue_times),
        (report.handling_time, report.handling_times),
    ):
        assert 0 <= summary.p50 <= summary.p90 <= summary.p99 <= summary.max
        assert summary.max == max(values)
        assert summary == Distribution.of(values)


def test_percentiles_interpolate() -> None:
    assert percentile([], 0.5) == 0.0
    assert percentile([4.0], 0.99) == 4.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert percentile([0.0, 10.0], 0.9) == 9.0
    assert Distribution.of([]) == Distribution(count=0, mean=0, p50=0, p90=0, p99=0, max=0)


def test_queue_length_is_sampled_every_thirty_seconds(
    shift: tuple[ShiftReport, list[Event]],
) -> None:
    report, _ = shift
    minutes = [minute for minute, _ in report.queue_length]
    assert minutes[0] == 0
    assert all(b - a == pytest.approx(0.5) for a, b in itertools.pairwise(minutes))
    assert minutes[-1] >= report.config.minutes
    assert all(waiting >= 0 for _, waiting in report.queue_length)
    assert report.queue_length[-1][1] == 0


def test_no_card_number_reaches_the_events_unmasked(
    shift: tuple[ShiftReport, list[Event]],
) -> None:
    report, events = shift
    assert report.sensitive_messages.get("card", 0) > 0
    cards = MaskingPolicy(kinds={"card"})
    texts = [e.message.text for e in events if isinstance(e, ev.MessagePosted)]
    assert any("****" in text for text in texts)
    assert [text for text in texts if find_sensitive(text, cards)] == []


def test_conversations_replay_from_their_events(tmp_path: Path) -> None:
    store = MemoryStore()
    _, events = run(store=store)
    conversation_ids = {e.aggregate_id for e in events if isinstance(e, ev.ChatStarted)}
    for conversation_id in sorted(conversation_ids)[:10]:
        with store.transaction(write=False) as txn:
            record = txn.conversation(conversation_id)
        assert record is not None
        # the stored record keeps its newest few messages; the transcript is in rows
        view = attrs.evolve(record, messages=tuple(store.transcript(conversation_id)))
        assert replay(store.events(conversation_id)) == view


def test_report_as_json_and_text(shift: tuple[ShiftReport, list[Event]]) -> None:
    report, _ = shift
    data = json.loads(report.to_json())
    assert data == report.to_dict()
    assert data["chats_started"] == report.chats_started
    assert data["queue_time"]["p90"] == report.queue_time.p90
    assert data["config"]["agents"] == 6
    text = report.format()
    for label in ("Chats", "Time in queue", "Handling time", "Offers", "Transfers", "Wrap-up"):
        assert label in text
    assert f"{report.chats_started} started" in text
    assert all(agent.name in text for agent in report.agents)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("agents", 0),
        ("agents", 1.5),
        ("minutes", -1),
        ("arrival_rate", float("nan")),
        ("miss_probability", 1.5),
        ("seed", "x"),
        ("wrap_up_timeout", 0),
    ],
)
def test_invalid_configurations_are_refused(field: str, value: object) -> None:
    with pytest.raises(InvalidArgument):
        ShiftConfig(**{field: value})  # type: ignore[arg-type]


def test_simulate_refuses_a_config_of_the_wrong_type() -> None:
    with pytest.raises(InvalidArgument):
        simulate({"seed": 1})  # type: ignore[arg-type]


def test_progress_is_reported_up_to_the_end() -> None:
    fractions: list[float] = []
    simulate(attrs.evolve(SHORT, minutes=5), progress=fractions.append)
    assert fractions[0] == 0
    assert fractions == sorted(fractions)
    assert fractions[-1] == 1.0


def test_plot_draws_both_charts(tmp_path: Path, shift: tuple[ShiftReport, list[Event]]) -> None:
    pytest.importorskip("matplotlib")
    report, _ = shift
    path = tmp_path / "shift.png"
    figure = report.plot(path)
    assert path.read_bytes().startswith(b"\x89PNG")
    assert figure.axes[0].get_title() == "Chats waiting for an agent"
    svg = tmp_path / "shift.svg"
    report.plot(svg)
    text = svg.read_text(encoding="utf-8")
    assert "Chats waiting for an agent" in text
    assert "Handling time" in text
