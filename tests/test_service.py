"""The reference service over a real HTTP server (uvicorn) and real WebSockets.

Every SPEC section 9 command and view has an endpoint; refusals come back as the error's
code and message with the right status; sockets are fed from the event log by position
and resume without a gap or a duplicate; deadlines fire with nobody calling ``tick``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

from livechat_core import Desk, SqliteStore
from livechat_core.ports import Store
from livechat_core.service import create_app, running, status_of
from livechat_core.service._serve import is_postgres, make_desk, open_store

Start = Callable[..., httpx.Client]


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Start]:
    """``start(**create_app options)``: the service on a fresh SQLite file with the queues
    ``support`` and ``billing``; returns an HTTP client on its URL."""
    stack: list[Any] = []

    def run(
        store: Callable[[], Store] | None = None,
        masking: bool = True,
        offer_timeout: float = 60.0,
        **options: Any,
    ) -> httpx.Client:
        def new_store() -> Store:
            return SqliteStore(str(tmp_path / "service.db")) if store is None else store()

        # commands on one connection, views and the log on another, as `serve` does
        desk = make_desk(new_store(), masking=masking)
        reader = make_desk(new_store(), masking=masking)

        async def queues() -> None:
            for name in ("support", "billing"):
                await desk.add_queue(
                    name, ["Resolved", "Not resolved"], offer_timeout=offer_timeout
                )

        async def close() -> None:
            for each in (desk, reader):
                if each is not None:
                    await each.aclose()
                    each.store.close()

        options.setdefault("tick_interval", 0.1)
        options.setdefault("poll_interval", 0.05)
        app = create_app(desk, reader=reader, on_startup=queues, on_shutdown=close, **options)
        context = running(app)
        url = context.__enter__()
        client = httpx.Client(base_url=url, timeout=10)
        stack.append((context, client))
        return client

    yield run
    for context, client in reversed(stack):
        client.close()
        context.__exit__(None, None, None)


def ok(response: httpx.Response) -> Any:
    assert response.status_code < 300, response.text
    return response.json()


def refusal(response: httpx.Response) -> tuple[int, str]:
    body = response.json()
    assert set(body["error"]) == {"code", "message", "aggregate_id", "state", "details"}
    assert body["error"]["message"]
    return response.status_code, body["error"]["code"]


def socket_url(client: httpx.Client, path: str) -> str:
    return str(client.base_url).replace("http://", "ws://") + path


def frames(ws: ClientConnection, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
    """The next ``count`` event frames (position-only heartbeats skipped)."""
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len(found) < count:
        frame = json.loads(ws.recv(timeout=max(0.01, deadline - time.monotonic())))
        if "type" in frame or frame.get("reset"):
            found.append(frame)
    return found


def quiet(ws: ClientConnection, seconds: float = 0.3) -> list[dict[str, Any]]:
    """Event frames arriving within ``seconds`` (none expected)."""
    found = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            frame = json.loads(ws.recv(timeout=left))
        except TimeoutError:
            break
        if "type" in frame:
            found.append(frame)
    return found


def login(client: httpx.Client, agent_id: str, name: str, *, available: bool = True) -> None:
    ok(
        client.post(
            "/api/agents",
            json={"agent_id": agent_id, "name": name, "queues": ["support", "billing"]},
        )
    )
    if available:
        ok(client.post(f"/api/agents/{agent_id}/available"))


def chat(
    client: httpx.Client,
    name: str = "Melissa Brown",
    contact: str = "melissa@gmail.com",
    **extra: Any,
) -> str:
    body = {"queue": "support", "customer_name": name, "customer_contact": contact, **extra}
    response = client.post("/api/chats", json=body)
    assert response.status_code == 201, response.text
    conversation_id: str = response.json()["id"]
    return conversation_id


def types(events: Any) -> list[str]:
    return [event["type"] for event in events["events"]]


# --- every command and view ------------------------------------------------------------------


def test_every_section_9_command_and_view_has_an_endpoint(start: Start) -> None:
    client = start()
    assert types(
        ok(
            client.post(
                "/api/queues",
                json={
                    "name": "sales",
                    "wrap_up_reasons": ["Sold", "Not interested"],
                    "offer_timeout": 20,
                    "wrap_up_timeout": 60,
                    "default_wrap_up_reason": "Sold",
                },
            )
        )
    ) == ["QueueConfigured"]
    assert [q["name"] for q in ok(client.get("/api/queues"))["queues"]] == [
        "billing",
        "sales",
        "support",
    ]
    assert [q["name"] for q in ok(client.get("/api/queues", params={"q": "SAL"}))["queues"]] == [
        "sales"
    ]

    login(client, "jana", "Jana Nováková")
    login(client, "petr", "Petr Svoboda", available=False)
    assert ok(client.get("/api/agents/jana"))["state"] == "available"
    assert types(ok(client.post("/api/agents/petr/idle", json={"reason": "lunch"}))) == [
        "AgentIdle"
    ]
    assert ok(client.get("/api/agents/petr"))["idle_reason"] == "lunch"
    assert [a["id"] for a in ok(client.get("/api/agents"))["agents"]] == ["jana", "petr"]

    conversation_id = chat(client, proactive=True)
    offers = ok(client.get("/api/agents/jana/offers"))["offers"]
    assert [(o["conversation_id"], o["kind"], o["proactive"], o["agent_name"]) for o in offers] == [
        (conversation_id, "chat", True, "Jana Nováková")
    ]
    assert types(
        ok(client.post(f"/api/conversations/{conversation_id}/decline", json={"agent_id": "jana"}))
    ) == [
        "OfferDeclined",
        "ChatOffered",  # the decliner is offered again: nobody else can take it
    ]
    ok(client.post(f"/api/conversations/{conversation_id}/accept", json={"agent_id": "jana"}))
    ok(client.post(f"/api/chats/{conversation_id}/messages", json={"text": "Hello"}))
    ok(
        client.post(
            f"/api/conversations/{conversation_id}/messages",
            json={"agent_id": "jana", "text": "Hi,\nhow can I help?"},
        )
    )
    view = ok(client.get(f"/api/conversations/{conversation_id}"))
    assert (view["state"], view["owner"], view["proactive"]) == ("active", "jana", True)
    assert [(m["role"], m["text"], m["initials"]) for m in view["messages"]] == [
        ("customer", "Hello", "MB"),
        ("agent", "Hi,\nhow can I help?", "JN"),
    ]
    assert view["elapsed"] >= 0
    chat_view = ok(client.get(f"/api/chats/{conversation_id}"))
    assert (chat_view["state"], chat_view["agent_name"], chat_view["ended"]) == (
        "active",
        "Jana Nováková",
        False,
    )

    ok(client.post("/api/agents/petr/available"))
    available = ok(
        client.get("/api/agents", params={"available": "true", "exclude": "jana", "q": "svob"})
    )
    assert [a["id"] for a in available["agents"]] == ["petr"]
    assert types(
        ok(
            client.post(
                f"/api/conversations/{conversation_id}/conference",
                json={"agent_id": "jana", "guest_agent_id": "petr"},
            )
        )
    ) == ["ConferenceRequested"]
    ok(client.post(f"/api/conversations/{conversation_id}/accept", json={"agent_id": "petr"}))
    assert ok(client.get(f"/api/conversations/{conversation_id}"))["state"] == "conferencing"
    ok(
        client.post(
            f"/api/conversations/{conversation_id}/end-conference", json={"agent_id": "jana"}
        )
    )
    ok(
        client.post(
            f"/api/conversations/{conversation_id}/wrap-up",
            json={"agent_id": "petr", "reason": "Resolved"},
        )
    )
    assert types(
        ok(
            client.post(
                f"/api/conversations/{conversation_id}/transfer",
                json={"agent_id": "jana", "target_agent_id": "petr"},
            )
        )
    ) == ["TransferRequested"]
    ok(client.post(f"/api/conversations/{conversation_id}/accept", json={"agent_id": "petr"}))
    ok(
        client.post(
            f"/api/conversations/{conversation_id}/wrap-up",
            json={"agent_id": "jana", "reason": "Resolved", "notes": "to Petr"},
        )
    )
    assert (
        types(
            ok(
                client.post(
                    f"/api/conversations/{conversation_id}/transfer",
                    json={"agent_id": "petr", "queue": "billing"},
                )
            )
        )[0]
        == "TransferredToQueue"
    )
    ok(
        client.post(
            f"/api/conversations/{conversation_id}/wrap-up",
            json={"agent_id": "petr", "reason": "Resolved"},
        )
    )
    # billing routes it to the longest-waiting agent: Jana
    ok(client.post(f"/api/conversations/{conversation_id}/accept", json={"agent_id": "jana"}))
    assert types(ok(client.post(f"/api/chats/{conversation_id}/end"))) == [
        "CustomerEnded",
        "MessagePosted",
    ]
    ok(client.post(f"/api/conversations/{conversation_id}/end", json={"agent_id": "jana"}))
    ok(
        client.post(
            f"/api/conversations/{conversation_id}/wrap-up",
            json={"agent_id": "jana", "reason": "Not resolved"},
        )
    )
    view = ok(client.get(f"/api/conversations/{conversation_id}"))
    assert (view["state"], view["outcome"], view["queue"]) == (
        "closed",
        "customer_ended",
        "billing",
    )
    surfaces = ok(client.get(f"/api/conversations/{conversation_id}/surfaces"))
    assert surfaces["contact_origin"] == "m******@gmail.com"
    assert len(surfaces) == 9

    # the asset, the clock, the log, logging out
    other = chat(client, asset="web")
    assert types(ok(client.delete("/api/assets/web")))[0] == "AssetDeletedEvent"
    assert ok(client.get(f"/api/conversations/{other}"))["outcome"] == "interrupted"
    assert types(ok(client.post("/api/tick", json={"now": time.time() + 3600}))) == []
    log = ok(client.get("/api/events", params={"after": 0, "limit": 5}))["events"]
    assert [event["position"] for event in log] == sorted(event["position"] for event in log)
    assert len(log) == 5
    assert log[0]["type"] == "QueueConfigured"
    later = ok(client.get("/api/events", params={"after": log[-1]["position"]}))["events"]
    assert later[0]["position"] > log[-1]["position"]
    assert types(ok(client.post("/api/agents/petr/logout"))) == ["AgentLoggedOut"]
    templates = ok(client.get("/api/templates", params={"lang": "cs"}))["templates"]
    assert templates[0]["parameters"] == ["name"]
    filled = ok(
        client.post(
            "/api/templates/fill",
            json={"template": "Hi <name>,\nbye", "parameters": {"name": "Jana"}},
        )
    )
    assert filled == {"text": "Hi Jana,\nbye"}


def test_refusals_carry_the_error_code_and_message_with_the_right_status(start: Start) -> None:
    client = start()
    login(client, "jana", "Jana Nováková")
    login(client, "petr", "Petr Svoboda", available=False)
    conversation_id = chat(client)
    path = f"/api/conversations/{conversation_id}"

    assert refusal(client.post("/api/conversations/nope/accept", json={"agent_id": "jana"})) == (
        404,
        "unknown_conversation",
    )
    assert refusal(client.get("/api/agents/nobody")) == (404, "unknown_agent")
    assert refusal(client.post("/api/chats", json={"queue": "nope", "customer_name": "A"})) == (
        404,
        "unknown_queue",
    )
    assert refusal(client.post(f"{path}/accept", json={"agent_id": "petr"})) == (
        409,
        "no_pending_offer",
    )
    assert refusal(
        client.post(f"{path}/transfer", json={"agent_id": "jana", "queue": "billing"})
    ) == (403, "not_owner")
    ok(client.post(f"{path}/accept", json={"agent_id": "jana"}))
    assert refusal(
        client.post(f"{path}/transfer", json={"agent_id": "jana", "target_agent_id": "petr"})
    ) == (409, "target_unavailable")
    assert refusal(client.post(f"{path}/messages", json={"agent_id": "petr", "text": "hi"})) == (
        403,
        "not_participant",
    )
    assert refusal(client.post("/api/agents/jana/logout")) == (409, "agent_busy")
    assert refusal(
        client.post(f"{path}/wrap-up", json={"agent_id": "jana", "reason": "Resolved"})
    ) == (409, "conversation_state")

    response = client.post(f"{path}/messages", json={"agent_id": "jana", "text": "a\nb <c>"})
    assert refusal(response) == (422, "reserved_character")
    error = response.json()["error"]
    assert (error["details"], error["state"], error["aggregate_id"]) == (
        {"position": 4, "character": "<"},
        "active",
        conversation_id,
    )
    assert error["message"] == "'<' at position 4 is reserved for template parameters"
    assert refusal(
        client.post(f"{path}/messages", json={"agent_id": "jana", "text": "x" * 1001})
    ) == (422, "message_too_long")
    assert refusal(client.post(f"{path}/messages", json={"agent_id": "jana", "text": " \n "})) == (
        422,
        "empty_message",
    )
    assert refusal(
        client.post("/api/templates/fill", json={"template": "<a> <b>", "parameters": {"a": 1}})
    ) == (422, "missing_template_parameter")
    assert refusal(
        client.post(
            "/api/agents", json={"agent_id": "x", "name": "X", "queues": ["support"], "capacity": 0}
        )
    ) == (422, "invalid_argument")
    ok(client.post(f"{path}/end", json={"agent_id": "jana"}))
    assert refusal(client.post(f"{path}/wrap-up", json={"agent_id": "jana", "reason": "Nope"})) == (
        422,
        "unknown_wrap_up_reason",
    )
    assert refusal(
        client.post(f"/api/chats/{conversation_id}/messages", json={"text": "late"})
    ) == (409, "conversation_state")

    # bodies that are not the JSON object an endpoint takes
    assert refusal(client.post(f"{path}/accept", content=b"{not json")) == (400, "invalid_argument")
    assert refusal(client.post(f"{path}/accept", json=["jana"])) == (400, "invalid_argument")
    assert refusal(client.post(f"{path}/accept", json={})) == (400, "invalid_argument")
    assert refusal(client.post(f"{path}/accept", json={"agent_id": 7})) == (400, "invalid_argument")
    assert refusal(client.get("/api/events", params={"after": "x"})) == (400, "invalid_argument")
    # nothing changed: the log still ends with the End command's events
    assert ok(client.get(f"/api/conversations/{conversation_id}"))["state"] == "wrap_up"


def test_status_mapping_covers_every_error_class() -> None:
    import livechat_core
    from livechat_core import LivechatError

    statuses = {}
    for name in livechat_core.__all__:
        cls = getattr(livechat_core, name)
        if isinstance(cls, type) and issubclass(cls, LivechatError) and cls is not LivechatError:
            statuses[cls.code] = status_of(cls.__new__(cls))
    assert statuses["unknown_conversation"] == 404
    assert statuses["not_owner"] == 403
    assert statuses["reserved_character"] == 422
    assert statuses["conversation_state"] == 409
    assert statuses["retries_exhausted"] == 503
    assert statuses["schema_error"] == 500
    assert all(400 <= status < 600 for status in statuses.values())


# --- sockets --------------------------------------------------------------------------------


def test_an_agent_socket_resumes_without_a_gap_or_a_duplicate(start: Start) -> None:
    client = start()
    login(client, "jana", "Jana Nováková")
    with connect(socket_url(client, "/ws/agents/jana?after=0")) as ws:
        first = frames(ws, 2)
    assert [f["type"] for f in first] == ["AgentLoggedIn", "AgentAvailable"]
    last = first[-1]["position"]

    # While the agent is away: a chat is offered to her, the customer writes, another
    # agent logs in (no frame for Jana).
    conversation_id = chat(client)
    ok(client.post(f"/api/chats/{conversation_id}/messages", json={"text": "are you there?"}))
    login(client, "petr", "Petr Svoboda", available=False)

    with connect(socket_url(client, f"/ws/agents/jana?after={last}")) as ws:
        missed = frames(ws, 2)
        assert quiet(ws) == []
        ok(client.post(f"/api/conversations/{conversation_id}/accept", json={"agent_id": "jana"}))
        live = frames(ws, 1)
    assert [f["type"] for f in missed] == ["ChatOffered", "MessagePosted"]
    assert [f["type"] for f in live] == ["OfferAccepted"]
    everything = [*first, *missed, *live]
    positions = [f["position"] for f in everything]
    assert positions == sorted(set(positions))  # in log order, none twice
    assert len({f["id"] for f in everything}) == len(everything)

    # The same events, from the log itself: what concerns Jana, nothing more or less.
    log = ok(client.get("/api/events", params={"after": 0}))["events"]
    concerning = [
        e["id"]
        for e in log
        if e["aggregate_id"] in ("jana", conversation_id) and e["type"] not in ("ChatStarted",)
    ]
    assert [f["id"] for f in everything] == concerning


def test_a_customer_socket_gets_its_conversation_only_and_resumes(start: Start) -> None:
    client = start(masking=True)
    login(client, "jana", "Jana Nováková")
    mine = chat(client)
    other = chat(client, "Somebody Else", "other@example.com")
    with connect(socket_url(client, f"/ws/chats/{mine}?after=0")) as ws:
        got = frames(ws, 2)
        assert [f["type"] for f in got] == ["ChatStarted", "ChatOffered"]
        ok(client.post(f"/api/chats/{other}/messages", json={"text": "not for you"}))
        ok(
            client.post(
                f"/api/chats/{mine}/messages", json={"text": "mail me at melissa@gmail.com"}
            )
        )
        message = frames(ws, 1)[0]
    # the customer sees their own text as written (their own data)
    assert message["message"]["text"] == "mail me at melissa@gmail.com"
    ok(client.post(f"/api/conversations/{mine}/accept", json={"agent_id": "jana"}))
    ok(
        client.post(
            f"/api/conversations/{mine}/messages", json={"agent_id": "jana", "text": "Hello"}
        )
    )
    with connect(socket_url(client, f"/ws/chats/{mine}?after={message['position']}")) as ws:
        resumed = frames(ws, 2)
        assert quiet(ws) == []
    assert [f["type"] for f in resumed] == ["OfferAccepted", "MessagePosted"]
    assert resumed[1]["message"]["author_name"] == "Jana Nováková"


def test_agent_frames_are_masked_by_the_desks_policy(start: Start) -> None:
    client = start()
    login(client, "jana", "Jana Nováková")
    conversation_id = chat(client, "+447966197542", "melissa@gmail.com")
    with connect(socket_url(client, "/ws/agents/jana")) as ws:
        ok(
            client.post(
                f"/api/chats/{conversation_id}/messages", json={"text": "call +447966197542"}
            )
        )
        frame = frames(ws, 1)[0]
    assert frame["message"]["text"] == "call *********7542"
    assert frame["message"]["author_name"] == "*********7542"
    raw = json.dumps(frame)
    assert "7966197542" not in raw
    assert "melissa" not in raw


def test_a_position_the_buffer_no_longer_holds_is_answered_with_reset(start: Start) -> None:
    client = start(buffer=4)
    login(client, "jana", "Jana Nováková")
    for _ in range(6):
        chat(client)
    head = ok(client.get("/api/agents/jana/desktop"))["position"]
    with connect(socket_url(client, "/ws/agents/jana?after=1")) as ws:
        reset = frames(ws, 1)[0]
    assert reset["reset"] is True
    assert reset["position"] >= head


def test_deadlines_fire_without_anyone_calling_tick(start: Start) -> None:
    client = start(offer_timeout=0.5)
    login(client, "jana", "Jana Nováková")
    with connect(socket_url(client, "/ws/agents/jana")) as ws:
        conversation_id = chat(client)
        got = frames(ws, 3, timeout=10)
    assert [f["type"] for f in got] == ["ChatOffered", "OfferTimedOut", "AgentRona"]
    assert ok(client.get("/api/agents/jana"))["state"] == "rona"
    assert ok(client.get(f"/api/conversations/{conversation_id}"))["state"] == "queued"


def test_a_bad_after_closes_the_socket_with_a_policy_error(start: Start) -> None:
    from websockets.exceptions import InvalidStatus

    client = start()
    with pytest.raises(InvalidStatus):
        connect(socket_url(client, "/ws/agents/jana?after=-1"))


# --- the command line -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_livechat_core_serve_runs_the_service_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    store = tmp_path / "served.db"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "livechat_core",
            "serve",
            "--port",
            str(port),
            "--store",
            str(store),
            "--demo",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                queues = httpx.get(f"http://127.0.0.1:{port}/api/queues", timeout=2).json()
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.1)
        assert [q["name"] for q in queues["queues"]] == ["billing", "support"]
        page = httpx.get(f"http://127.0.0.1:{port}/desk/", timeout=5)
        assert page.status_code == 200
        assert "Agent Desktop" in page.text
        assert "http" not in page.text.replace("http-equiv", "")  # nothing from a CDN
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert store.exists()
    # the store outlives the service: another desk reads what it wrote
    assert [q.name for q in Desk(store=SqliteStore(str(store))).queues()] == ["billing", "support"]


def test_store_settings_name_sqlite_or_postgresql(tmp_path: Path) -> None:
    assert is_postgres("postgresql://user@host/db")
    assert is_postgres("host=/tmp port=5432 dbname=x")
    assert not is_postgres(str(tmp_path / "desk.db"))
    assert not is_postgres("desk.db")
    assert isinstance(open_store(str(tmp_path / "desk.db")), SqliteStore)
    from livechat_core import InvalidArgument

    with pytest.raises(InvalidArgument):
        open_store("  ")


@pytest.mark.postgres
def test_the_service_runs_on_postgresql(start: Start, postgres_dsn: str) -> None:
    client = start(store=lambda: open_store(postgres_dsn))
    login(client, "jana", "Jana Nováková")
    with connect(socket_url(client, "/ws/agents/jana")) as ws:
        conversation_id = chat(client)
        ok(client.post(f"/api/conversations/{conversation_id}/accept", json={"agent_id": "jana"}))
        ok(client.post(f"/api/chats/{conversation_id}/messages", json={"text": "hello"}))
        got = frames(ws, 3)
    assert [f["type"] for f in got] == ["ChatOffered", "OfferAccepted", "MessagePosted"]


def test_static_files_are_served_from_the_package(start: Start) -> None:
    client = start()
    for path in (
        "/",
        "/desk/",
        "/desk/desk.js",
        "/desk/desk.css",
        "/desk/strings.js",
        "/widget/",
        "/widget/widget.js",
        "/common.js",
    ):
        response = client.get(path)
        assert response.status_code == 200, path
        assert "cdn" not in response.text.lower()
    assert os.path.basename(str(client.base_url))  # a real server answered


def test_serve_refuses_bad_options(capsys: pytest.CaptureFixture[str]) -> None:
    from livechat_core.__main__ import main

    assert main(["serve", "--port", "70000"]) == 2
    assert "a port is between 0 and 65535" in capsys.readouterr().err
    assert main(["serve", "--locale", "de"]) == 2
    assert main(["serve", "--tick-interval", "0"]) == 2


def test_commands_of_another_desk_on_the_same_store_reach_the_sockets(
    start: Start, tmp_path: Path
) -> None:
    # The service and a plain Desk (another process would do the same) share one file.
    client = start(store=lambda: SqliteStore(str(tmp_path / "shared.db")))
    login(client, "jana", "Jana Nováková")
    other = Desk(store=SqliteStore(str(tmp_path / "shared.db")))
    with connect(socket_url(client, "/ws/agents/jana")) as ws:
        conversation_id = other.start_chat("support", "Melissa Brown", "melissa@gmail.com")
        offered = frames(ws, 1)[0]
        other.send_customer_message(conversation_id, "hello from elsewhere")
        message = frames(ws, 1)[0]
    assert (offered["type"], offered["aggregate_id"]) == ("ChatOffered", conversation_id)
    assert message["message"]["text"] == "hello from elsewhere"


def replies(ws: ClientConnection, timeout: float = 5.0) -> dict[str, Any]:
    """The next command reply on a socket (event frames skipped)."""
    deadline = time.monotonic() + timeout
    while True:
        frame: dict[str, Any] = json.loads(ws.recv(timeout=max(0.01, deadline - time.monotonic())))
        if "reply" in frame:
            return frame


def test_commands_over_the_sockets(start: Start) -> None:
    client = start()
    login(client, "jana", "Jana Nováková", available=False)
    login(client, "petr", "Petr Svoboda", available=False)
    with (
        connect(socket_url(client, "/ws/agents/jana")) as jana,
        connect(socket_url(client, "/ws/agents/petr")) as petr,
    ):
        jana.send(json.dumps({"command": "set_available", "ref": 1}))
        assert replies(jana) == {
            "reply": 1,
            "events": [{"id": "agent:jana:2", "type": "AgentAvailable"}],
        }
        conversation_id = chat(client)
        with connect(socket_url(client, f"/ws/chats/{conversation_id}")) as customer:
            customer.send(json.dumps({"command": "send_message", "ref": "a", "text": "Hello?"}))
            assert [e["type"] for e in replies(customer)["events"]] == ["MessagePosted"]
            # the socket acts for its own agent only: Petr cannot take Jana's offer
            petr.send(
                json.dumps({"command": "accept", "ref": 2, "conversation_id": conversation_id})
            )
            assert replies(petr)["error"]["code"] == "no_pending_offer"
            jana.send(
                json.dumps({"command": "accept", "ref": 3, "conversation_id": conversation_id})
            )
            assert [e["type"] for e in replies(jana)["events"]] == ["OfferAccepted"]
            jana.send(
                json.dumps(
                    {
                        "command": "send_message",
                        "ref": 4,
                        "conversation_id": conversation_id,
                        "text": "a <b>",
                    }
                )
            )
            error = replies(jana)["error"]
            assert (error["code"], error["details"]["position"]) == ("reserved_character", 2)
            jana.send(
                json.dumps(
                    {
                        "command": "send_message",
                        "ref": 5,
                        "conversation_id": conversation_id,
                        "text": "Hi!",
                    }
                )
            )
            assert replies(jana)["reply"] == 5
            customer.send(json.dumps({"command": "end", "ref": "b"}))
            assert replies(customer)["events"][0]["type"] == "CustomerEnded"
            for bad, code in (
                ("not json", "invalid_argument"),
                ('{"command": "fly"}', "invalid_argument"),
                ("[1]", "invalid_argument"),
            ):
                customer.send(bad)
                assert replies(customer)["error"]["code"] == code
    view = ok(client.get(f"/api/conversations/{conversation_id}"))
    assert [m["text"] for m in view["messages"]] == [
        "Hello?",
        "Hi!",
        "Customer ended the conversation",
    ]
